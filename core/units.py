"""The unit tree: subtree queries, import from CSV or JSON, and reorganisations.

Units change (the 2025 reorganisation abolished districts and merged communes):
a unit has a validity period, and a reorganisation ends old units on a date and
names their successors (``UnitSuccession``). Nothing is deleted or rewritten:
what happened in an old unit stays attached to it. Queries that scope by unit
(``subtree_ids``) include the history of the units they cover, so a commune
officer whose commune was merged keeps read access to the old commune's things,
and a campaign whose scope names an old unit covers its successor from the date
of the change (``with_successors``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date

from sqlmodel import Session, select

from core.models import OrgUnit, UnitKind, UnitReorganisation, UnitSuccession, User, audit

CODE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
UNIT_FIELDS = ("code", "name", "kind", "parent_code", "address", "phone", "office_hours", "portal_url")


def _successions(session: Session) -> list[tuple[int, int, date]]:
    return list(session.exec(select(UnitSuccession.old_unit_id, UnitSuccession.new_unit_id,
                                    UnitSuccession.effective_on)).all())


def subtree_ids(session: Session, unit_id: int, *, history: bool = True) -> set[int]:
    """The unit and everything below it; with ``history`` also the units it
    succeeded (and their subtrees), so their records stay visible."""
    rows = session.exec(select(OrgUnit.id, OrgUnit.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for uid, parent in rows:
        children.setdefault(parent, []).append(uid)
    predecessors: dict[int, list[int]] = {}
    if history:
        for old, new, _day in _successions(session):
            predecessors.setdefault(new, []).append(old)
    out, stack = set(), [unit_id]
    while stack:
        uid = stack.pop()
        if uid in out:
            continue
        out.add(uid)
        stack.extend(children.get(uid, []))
        stack.extend(predecessors.get(uid, []))
    return out


def predecessor_ids(session: Session, unit_id: int) -> set[int]:
    """Every unit this one succeeded, directly or through earlier reorganisations."""
    back: dict[int, list[int]] = {}
    for old, new, _day in _successions(session):
        back.setdefault(new, []).append(old)
    out: set[int] = set()
    stack = list(back.get(unit_id, []))
    while stack:
        uid = stack.pop()
        if uid not in out:
            out.add(uid)
            stack.extend(back.get(uid, []))
    return out


def with_successors(session: Session, unit_ids: Iterable[int], until: date | None = None) -> set[int]:
    """``unit_ids`` plus their successors (transitively) whose change takes effect on
    or before ``until`` (None: any date). A campaign's scope uses it."""
    forward: dict[int, list[tuple[int, date]]] = {}
    for old, new, day in _successions(session):
        forward.setdefault(old, []).append((new, day))
    out = set(unit_ids)
    stack = list(out)
    while stack:
        uid = stack.pop()
        for new, day in forward.get(uid, []):
            if (until is None or day <= until) and new not in out:
                out.add(new)
                stack.append(new)
    return out


def successor_map(session: Session) -> dict[int, list[tuple[int, date]]]:
    """old unit id -> [(new unit id, effective date)] in row order."""
    out: dict[int, list[tuple[int, date]]] = {}
    for row in session.exec(select(UnitSuccession).order_by(UnitSuccession.old_unit_id,
                                                            UnitSuccession.position)).all():
        out.setdefault(row.old_unit_id, []).append((row.new_unit_id, row.effective_on))
    return out


def units_valid_on(session: Session, day: date) -> list[OrgUnit]:
    """The units that exist on ``day``."""
    return [u for u in session.exec(select(OrgUnit)).all() if u.valid_on(day)]


def ancestor_ids(session: Session, unit_id: int) -> list[int]:
    parents = dict(session.exec(select(OrgUnit.id, OrgUnit.parent_id)).all())
    out, cur = [], parents.get(unit_id)
    while cur is not None and cur not in out:
        out.append(cur)
        cur = parents.get(cur)
    return out


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


class UnitImportError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_units(raw: bytes, filename: str) -> list[dict]:
    text = raw.decode("utf-8-sig")
    if filename.lower().endswith(".json"):
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("units", [])
        if not isinstance(data, list):
            raise UnitImportError(["Tệp JSON phải là một danh sách đơn vị."])
        return [dict(d) for d in data]
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return [dict(r) for r in csv.DictReader(io.StringIO(text), delimiter=delimiter)]


def import_units(session: Session, rows: Iterable[dict]) -> tuple[int, int]:
    """Create or update units; parents may come later in the file.

    All-or-nothing: any error raises UnitImportError listing every bad row and
    nothing is written. Returns (created, updated).
    """
    rows = list(rows)
    errors: list[str] = []
    existing = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    codes_in_file: set[str] = set()
    clean: list[dict] = []
    for n, row in enumerate(rows, start=1):
        row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        code = unicodedata.normalize("NFC", str(row.get("code") or ""))
        name = unicodedata.normalize("NFC", str(row.get("name") or ""))
        kind = str(row.get("kind") or "")
        parent = str(row.get("parent_code") or row.get("parent") or "") or None
        if not CODE_RE.match(code):
            errors.append(f"Dòng {n}: mã đơn vị '{code}' không hợp lệ (chỉ chữ thường, số và '-').")
            continue
        if code in codes_in_file:
            errors.append(f"Dòng {n}: mã '{code}' bị trùng trong tệp.")
            continue
        if not name:
            errors.append(f"Dòng {n}: thiếu tên đơn vị.")
        if kind not in UnitKind.__members__:
            errors.append(f"Dòng {n}: loại đơn vị '{kind}' không hợp lệ.")
        codes_in_file.add(code)
        clean.append({**row, "code": code, "name": name, "kind": kind, "parent_code": parent})
    for row in clean:
        parent = row["parent_code"]
        if parent and parent not in codes_in_file and parent not in existing:
            errors.append(f"Mã đơn vị cấp trên '{parent}' của '{row['code']}' không tồn tại.")
    if errors:
        raise UnitImportError(errors)
    created = updated = 0
    by_code = dict(existing)
    for row in clean:
        unit = by_code.get(row["code"])
        if unit is None:
            unit = OrgUnit(code=row["code"], name=row["name"], kind=UnitKind(row["kind"]))
            created += 1
        else:
            updated += 1
        unit.name = row["name"]
        unit.kind = UnitKind(row["kind"])
        for attr in ("address", "phone", "office_hours", "portal_url", "official_name", "symbol",
                     "superior_name", "place_name"):
            if row.get(attr):
                setattr(unit, attr, unicodedata.normalize("NFC", str(row[attr])))
        session.add(unit)
        by_code[row["code"]] = unit
    session.flush()
    for row in clean:
        parent = row["parent_code"]
        by_code[row["code"]].parent_id = by_code[parent].id if parent else None
    session.flush()
    # Reject cycles introduced by the file.
    parents = {u.id: u.parent_id for u in by_code.values()}
    for uid in parents:
        seen, cur = set(), uid
        while cur is not None:
            if cur in seen:
                session.rollback()
                raise UnitImportError(["Cây đơn vị có vòng lặp (đơn vị là cấp trên của chính nó)."])
            seen.add(cur)
            cur = parents.get(cur)
    return created, updated


# -- reorganisations ---------------------------------------------------------------------

REORG_FIELDS = ("old_code", "new_code", "new_name", "new_kind", "new_parent_code", "effective_on")

#: Callables ``(session, {old_unit_id: new_unit_id}) -> {label: count}`` that move the
#: objects of other parts (e.g. channel accounts) when a reorganisation takes effect.
#: Registered at start-up by the parts that own those tables (core imports none of them).
UNIT_MOVE_HOOKS: list[Callable[[Session, dict[int, int]], dict[str, int]]] = []


class ReorganisationError(ValueError):
    """Every problem of a reorganisation (Vietnamese, one line each); nothing was written."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def _parse_day(value) -> date | None:
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    for parse in (date.fromisoformat,
                  lambda t: date(int(t[6:10]), int(t[3:5]), int(t[0:2])) if len(t) == 10 and t[2] == "/" else None):
        try:
            day = parse(text)
        except ValueError:
            day = None
        if day is not None:
            return day
    return None


def parse_reorganisation_csv(raw: bytes) -> list[dict]:
    """Rows of a reorganisation CSV (``,`` or ``;``; UTF-8 with or without BOM)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReorganisationError(["Tệp phải là CSV mã hóa UTF-8."]) from None
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [f for f in ("old_code", "new_code", "effective_on") if f not in header]
    if missing:
        raise ReorganisationError([f"Thiếu cột: {', '.join(missing)} (cần: {', '.join(REORG_FIELDS)})."])
    return [{(k or "").strip(): v for k, v in row.items()} for row in reader]


def _clean_reorganisation(session: Session, rows: list[dict]) -> list[dict]:
    errors: list[str] = []
    units = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    if not rows:
        raise ReorganisationError(["Không có dòng nào để sắp xếp."])
    if len(rows) > 5000:
        raise ReorganisationError(["Tối đa 5.000 dòng cho một lần sắp xếp."])
    clean: list[dict] = []
    new_defs: dict[str, dict] = {}
    pairs: set[tuple[str, str]] = set()
    old_dates: dict[str, date] = {}
    for n, raw in enumerate(rows, start=1):
        if not isinstance(raw, dict):
            errors.append(f"Dòng {n}: phải là một đối tượng có các trường {', '.join(REORG_FIELDS)}.")
            continue
        row = {k: unicodedata.normalize("NFC", str(raw.get(k) or "")).strip() for k in REORG_FIELDS}
        where = f"Dòng {n}"
        old, new = row["old_code"], row["new_code"]
        day = _parse_day(raw.get("effective_on"))
        if day is None:
            errors.append(f"{where}: ngày hiệu lực '{row['effective_on']}' không hợp lệ (YYYY-MM-DD).")
        old_unit = units.get(old)
        if old_unit is None:
            errors.append(f"{where}: không có đơn vị mã '{old}'.")
        elif old_unit.valid_to is not None and old != new:
            errors.append(f"{where}: đơn vị '{old_unit.name}' đã kết thúc từ {old_unit.valid_to:%d/%m/%Y}.")
        if not new:  # abolished: the unit ends and nothing takes over from it
            if day is not None and old in old_dates and old_dates[old] != day:
                errors.append(f"{where}: đơn vị '{old}' có hai ngày hiệu lực khác nhau.")
            if day is not None:
                old_dates.setdefault(old, day)
            clean.append({**row, "effective_on": day, "line": n})
            continue
        if not CODE_RE.match(new):
            errors.append(f"{where}: mã mới '{new}' không hợp lệ (chỉ chữ thường, số và '-').")
            continue
        if (old, new) in pairs:
            errors.append(f"{where}: cặp '{old}' → '{new}' bị lặp.")
        pairs.add((old, new))
        if day is not None and old in old_dates and old_dates[old] != day and old != new:
            errors.append(f"{where}: đơn vị '{old}' có hai ngày hiệu lực khác nhau.")
        if day is not None and old != new:
            old_dates.setdefault(old, day)
        kind = row["new_kind"]
        if kind and kind not in UnitKind.__members__:
            errors.append(f"{where}: loại đơn vị '{kind}' không hợp lệ ({', '.join(UnitKind.__members__)}).")
        existing = units.get(new)
        if existing is None or old == new:
            if existing is None and not row["new_name"]:
                errors.append(f"{where}: đơn vị mới '{new}' cần tên (new_name).")
            if existing is None and not kind:
                errors.append(f"{where}: đơn vị mới '{new}' cần loại (new_kind).")
            definition = (row["new_name"], kind, row["new_parent_code"])
            if existing is None and new in new_defs and new_defs[new]["def"] != definition:
                errors.append(f"{where}: đơn vị mới '{new}' được khai báo khác nhau ở các dòng.")
            new_defs.setdefault(new, {"def": definition, "line": n})
        elif existing.valid_to is not None:
            errors.append(f"{where}: đơn vị nhận '{existing.name}' đã kết thúc từ {existing.valid_to:%d/%m/%Y}.")
        clean.append({**row, "effective_on": day, "line": n})
    # parents exist (in the database or created here), and no unit is both ended and created
    created = {c for c in new_defs if c not in units}
    ended = {r["old_code"] for r in clean if r["old_code"] != r["new_code"]}
    for row in clean:
        if not row["new_code"]:
            continue
        parent = row["new_parent_code"]
        if parent and parent not in units and parent not in created:
            errors.append(f"Dòng {row['line']}: không có đơn vị cấp trên '{parent}'.")
        if parent and parent in ended:
            errors.append(f"Dòng {row['line']}: đơn vị cấp trên '{parent}' kết thúc trong chính lần sắp xếp này.")
        if row["new_code"] in ended and row["new_code"] != row["old_code"]:
            errors.append(f"Dòng {row['line']}: '{row['new_code']}' vừa kết thúc vừa nhận đơn vị khác.")
    # an ended unit's children that go on must be reorganised in the same operation
    if not errors:
        moved = {r["old_code"] for r in clean}
        for code in ended:
            for child in units.values():
                if (child.parent_id == units[code].id and child.valid_to is None
                        and child.code not in moved):
                    errors.append(f"Đơn vị '{child.name}' ({child.code}) thuộc '{units[code].name}' vẫn còn "
                                  f"hiệu lực: hãy đưa nó vào cùng lần sắp xếp.")
    if errors:
        raise ReorganisationError(errors)
    return clean


def reorganise(session: Session, rows: list[dict], user_id: int | None = None,
               today: date | None = None) -> dict:
    """Apply a reorganisation, all or nothing; returns what was created and moved.

    Each row names an old unit, the unit that takes over from it (created when its
    code is new) and the date of the change. One new unit may take several old ones
    (a merger), one old unit may be split between several new ones (its users and
    channel accounts go to the first); an empty new code abolishes the old unit
    (its users keep read access to its history and nothing moves). A row whose new code equals the old code
    moves or renames a unit that goes on (e.g. a department under the new city).
    Old units end on the date (``valid_to``), never disappear; users and channel
    accounts move when the date has come (``apply_due_reorganisations``).
    """
    from core.timeutil import LOCAL_TZ, utcnow

    today = today or utcnow().astimezone(LOCAL_TZ).date()
    clean = _clean_reorganisation(session, rows)
    units = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    effective_on = min(r["effective_on"] for r in clean)
    reorg = UnitReorganisation(created_at=utcnow(), created_by=user_id, effective_on=effective_on,
                               rows=[{**{k: r[k] for k in REORG_FIELDS}, "effective_on": r["effective_on"].isoformat()}
                                     for r in clean])
    session.add(reorg)
    session.flush()
    created: list[OrgUnit] = []
    for row in clean:  # new units first (parents may be new too: linked below)
        code = row["new_code"]
        if code and code not in units:
            unit = OrgUnit(code=code, name=row["new_name"], kind=UnitKind(row["new_kind"]),
                           valid_from=row["effective_on"])
            session.add(unit)
            units[code] = unit
            created.append(unit)
    session.flush()
    continuing = []
    for row in clean:
        if not row["new_code"]:
            continue
        unit = units[row["new_code"]]
        if unit in created or row["old_code"] == row["new_code"]:
            if row["new_parent_code"]:
                unit.parent_id = units[row["new_parent_code"]].id
            if row["old_code"] == row["new_code"]:
                if row["new_name"]:
                    unit.name = row["new_name"]
                if row["new_kind"]:
                    unit.kind = UnitKind(row["new_kind"])
                continuing.append(unit.code)
            session.add(unit)
    positions: dict[str, int] = {}
    successions = []
    ended = []
    abolished = []
    for row in clean:
        if row["old_code"] == row["new_code"]:
            continue
        if not row["new_code"]:
            old = units[row["old_code"]]
            if old.valid_to is None:
                old.valid_to = row["effective_on"]
                session.add(old)
                ended.append(old.code)
                abolished.append(old.code)
            continue
        old, new = units[row["old_code"]], units[row["new_code"]]
        position = positions.get(old.code, 0)
        positions[old.code] = position + 1
        session.add(UnitSuccession(reorganisation_id=reorg.id, old_unit_id=old.id, new_unit_id=new.id,
                                   effective_on=row["effective_on"], position=position))
        successions.append({"old_code": old.code, "new_code": new.code,
                            "effective_on": row["effective_on"].isoformat()})
        if old.valid_to is None:
            old.valid_to = row["effective_on"]
            session.add(old)
            ended.append(old.code)
    session.flush()
    audit(session, user_id, "units.reorganise", "unit_reorganisation", reorg.id,
          rows=len(clean), created=[u.code for u in created], ended=ended)
    moved = apply_due_reorganisations(session, today) if effective_on <= today else {}
    return {
        "id": reorg.id,
        "effective_on": effective_on.isoformat(),
        "created": [{"code": u.code, "name": u.name, "kind": str(u.kind),
                     "parent": next((p.code for p in units.values() if p.id == u.parent_id), None)}
                    for u in created],
        "ended": ended,
        "abolished": abolished,
        "continuing": continuing,
        "successions": successions,
        "moved": moved,
        "applied": effective_on <= today,
    }


def apply_due_reorganisations(session: Session, today: date) -> dict[str, int]:
    """Move users (and, through ``UNIT_MOVE_HOOKS``, other parts' objects) of units
    ended on or before ``today`` to their first successor. Idempotent."""
    from core.timeutil import utcnow

    moved: dict[str, int] = {}
    due = session.exec(select(UnitReorganisation).where(UnitReorganisation.applied_at.is_(None),  # type: ignore[union-attr]
                                                        UnitReorganisation.effective_on <= today)).all()
    for reorg in due:
        rows = session.exec(select(UnitSuccession).where(UnitSuccession.reorganisation_id == reorg.id)
                            .order_by(UnitSuccession.old_unit_id, UnitSuccession.position)).all()
        mapping: dict[int, int] = {}
        for row in rows:
            if row.effective_on <= today:
                mapping.setdefault(row.old_unit_id, row.new_unit_id)
        if not mapping:
            continue
        users = session.exec(select(User).where(User.unit_id.in_(list(mapping)))).all()  # type: ignore[union-attr]
        for user in users:
            user.unit_id = mapping[user.unit_id]
            session.add(user)
        moved["users"] = moved.get("users", 0) + len(users)
        for hook in UNIT_MOVE_HOOKS:
            for label, count in hook(session, mapping).items():
                moved[label] = moved.get(label, 0) + count
        if all(r.effective_on <= today for r in rows):
            reorg.applied_at = utcnow()
            session.add(reorg)
    session.flush()
    return moved
