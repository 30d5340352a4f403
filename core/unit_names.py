"""Names of a unit on administrative documents (Decree 30/2020/NĐ-CP).

Each value comes from the unit's own data (``official_name``, ``symbol``,
``superior_name``, ``place_name``) and, when empty, is derived:

- local government units (province, district, commune level) issue documents
  as their People's Committee: "ỦY BAN NHÂN DÂN" / "XÃ LẠC HÒA", symbol UBND,
  no agency above, place = the unit's own name without its kind ("Lạc Hòa");
- other units (departments, press, telecom) are headed by the People's Committee
  above them ("UBND TỈNH SÓC TRĂNG"), their symbol is the official abbreviation
  (initials of the words, "và" and punctuation left out: Sở Khoa học và Công nghệ
  -> SKHCN, Sở Giáo dục và Đào tạo -> SGDĐT) and their place is the province's.
"""

from __future__ import annotations

from collections.abc import Callable

from core.models import OrgUnit, UnitKind

LOCAL_GOVERNMENT = (UnitKind.province, UnitKind.district, UnitKind.commune, UnitKind.ward,
                    UnitKind.special_zone)
#: kind prefixes of unit names, longest first
PREFIXES = ("Thành phố ", "Thị trấn ", "Thị xã ", "Đặc khu ", "Phường ", "Huyện ", "Quận ", "Tỉnh ", "Xã ")
_SMALL_WORDS = {"và", "các", "của"}


def _kind_of(unit: OrgUnit) -> str:
    return str(unit.kind.value if hasattr(unit.kind, "value") else unit.kind)


def is_local_government(unit: OrgUnit) -> bool:
    return _kind_of(unit) in {k.value for k in LOCAL_GOVERNMENT}


def bare_name(name: str) -> str:
    """ "Xã Lạc Hòa" -> "Lạc Hòa"; "Tỉnh Sóc Trăng" -> "Sóc Trăng"."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def lower_first(name: str) -> str:
    """Mid-sentence form of a unit name: "Xã Lạc Hòa" -> "xã Lạc Hòa" (kind words only)."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return prefix.lower() + name[len(prefix):]
    return name


def abbreviation(name: str) -> str:
    """Official abbreviation: initials of the words, without "và"/"các"/"của" and punctuation."""
    words = [w.strip(",.;()") for w in name.split()]
    return "".join(w[0] for w in words if w and w.lower() not in _SMALL_WORDS).upper()


def official_name(unit: OrgUnit) -> str:
    """ "Ủy ban nhân dân xã Lạc Hòa", "Sở Khoa học và Công nghệ"."""
    if unit.official_name:
        return unit.official_name
    if is_local_government(unit):
        return f"Ủy ban nhân dân {lower_first(unit.name)}"
    return unit.name


def issuer_lines(unit: OrgUnit) -> list[str]:
    """The issuing agency in upper case, as it is written in the header."""
    name = official_name(unit)
    if name.startswith("Ủy ban nhân dân "):
        return ["ỦY BAN NHÂN DÂN", name[len("Ủy ban nhân dân "):].upper()]
    return [name.upper()]


def symbol(unit: OrgUnit) -> str:
    if unit.symbol:
        return unit.symbol
    if is_local_government(unit) or official_name(unit).startswith("Ủy ban nhân dân"):
        return "UBND"
    return abbreviation(official_name(unit))


def superior_name(unit: OrgUnit, parent_of: Callable[[OrgUnit], OrgUnit | None]) -> str:
    """The agency above, upper case ("UBND TỈNH SÓC TRĂNG"); "" for local government."""
    if unit.superior_name:
        return unit.superior_name
    if is_local_government(unit):
        return ""
    parent = parent_of(unit)
    while parent is not None and not is_local_government(parent):
        parent = parent_of(parent)
    return f"UBND {parent.name.upper()}" if parent is not None else ""


def place_name(unit: OrgUnit, parent_of: Callable[[OrgUnit], OrgUnit | None]) -> str:
    """The place of the date line: the unit's own place, else the local government above it."""
    if unit.place_name:
        return unit.place_name
    if is_local_government(unit):
        return bare_name(unit.name)
    parent = parent_of(unit)
    while parent is not None and not is_local_government(parent):
        parent = parent_of(parent)
    return place_name(parent, parent_of) if parent is not None else bare_name(unit.name)


__all__ = ["abbreviation", "bare_name", "is_local_government", "issuer_lines", "lower_first", "official_name",
           "place_name", "superior_name", "symbol"]
