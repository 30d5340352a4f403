"""Demo data: Sóc Trăng's units as in the plan, one user per role, the 10/10 campaign."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from core.models import OrgUnit, Role, User
from core.security import generate_password, hash_password
from core.timeutil import utcnow
from core.unit_names import bare_name
from core.units import import_units

PORTAL = "https://dichvucong.soctrang.gov.vn"

DISTRICTS = [
    ("tp-soc-trang", "Thành phố Sóc Trăng"),
    ("tx-vinh-chau", "Thị xã Vĩnh Châu"),
    ("tx-nga-nam", "Thị xã Ngã Năm"),
    ("chau-thanh", "Huyện Châu Thành"),
    ("ke-sach", "Huyện Kế Sách"),
    ("my-tu", "Huyện Mỹ Tú"),
    ("cu-lao-dung", "Huyện Cù Lao Dung"),
    ("long-phu", "Huyện Long Phú"),
    ("my-xuyen", "Huyện Mỹ Xuyên"),
    ("thanh-tri", "Huyện Thạnh Trị"),
    ("tran-de", "Huyện Trần Đề"),
]
DEPARTMENTS = [
    ("so-khcn", "Sở Khoa học và Công nghệ"),
    ("so-vhttdl", "Sở Văn hóa, Thể thao và Du lịch"),
    ("so-gddt", "Sở Giáo dục và Đào tạo"),
    ("so-tai-chinh", "Sở Tài chính"),
    ("so-noi-vu", "Sở Nội vụ"),
    ("cong-an-tinh", "Công an tỉnh"),
]
PRESS = [("bao-soc-trang", "Báo Sóc Trăng"), ("dai-ptth-soc-trang", "Đài Phát thanh và Truyền hình Sóc Trăng")]
TELECOM = [
    ("viettel", "Viettel Sóc Trăng"),
    ("vinaphone", "VNPT VinaPhone Sóc Trăng"),
    ("mobifone", "MobiFone Sóc Trăng"),
    ("vietnamobile", "Vietnamobile"),
    ("gmobile", "Gmobile"),
]
COMMUNES = [
    ("p-vinh-phuoc", "Phường Vĩnh Phước", "tx-vinh-chau", "Số 1 Nguyễn Huệ, Phường 1, Vĩnh Châu"),
    ("xa-lac-hoa", "Xã Lạc Hòa", "tx-vinh-chau", "Ấp Âu Thọ B, xã Lạc Hòa, Vĩnh Châu"),
    ("xa-vinh-hai", "Xã Vĩnh Hải", "tx-vinh-chau", None),
    ("tt-ke-sach", "Thị trấn Kế Sách", "ke-sach", "Ấp An Thành, thị trấn Kế Sách"),
    ("xa-an-lac-tay", "Xã An Lạc Tây", "ke-sach", "Ấp An Thạnh, xã An Lạc Tây, Kế Sách"),
    ("xa-nhon-my", "Xã Nhơn Mỹ", "ke-sach", "Ấp Mỹ Huề, xã Nhơn Mỹ, Kế Sách"),
]

#: names on administrative documents (Decree 30): the official abbreviations
DOCUMENT_NAMES = {
    "so-khcn": {"symbol": "SKHCN"},
    "so-vhttdl": {"symbol": "SVHTTDL"},
    "so-gddt": {"symbol": "SGDĐT"},
    "so-tai-chinh": {"symbol": "STC"},
    "so-noi-vu": {"symbol": "SNV"},
    "cong-an-tinh": {"symbol": "CAT", "superior_name": "BỘ CÔNG AN"},
}

DEMO_USERS = [
    ("admin@lantoa.local", Role.admin, None, "Quản trị viên"),
    ("truyenthong@lantoa.local", Role.communicator, "so-vhttdl", "Nguyễn Thị Lan"),
    ("lanhdao@lantoa.local", Role.reviewer, "so-khcn", "Trần Văn Duyệt"),
    ("huyen@lantoa.local", Role.unit_officer, "tx-vinh-chau", "Lâm Thị Sương"),
    ("xa@lantoa.local", Role.unit_officer, "xa-lac-hoa", "Thạch Sô Phi"),
    ("viettel@lantoa.local", Role.telecom_partner, "viettel", "Đối tác Viettel"),
]


#: units where the plan's Khmer communication applies (``OrgUnit.uses_khmer``): the Vĩnh Châu
#: communes, where Khmer people are a large part of the population. Demo data: no share is
#: set (the statistics office's figure goes in ``khmer_share`` on /units).
KHMER_UNITS = ("p-vinh-phuoc", "xa-lac-hoa", "xa-vinh-hai")
#: the same for the 2025 structure: the former Sóc Trăng communes with large Khmer
#: communities (Vĩnh Châu, Trần Đề/Mỹ Xuyên, Châu Thành, Mỹ Tú, Thạnh Trị areas)
KHMER_UNITS_2025 = (
    "phuong-vinh-phuoc", "phuong-vinh-chau", "phuong-khanh-hoa", "xa-vinh-hai-2025",
    "xa-hoa-tu", "xa-gia-hoa", "xa-nhu-gia", "xa-ngoc-to", "xa-phu-tam", "xa-an-ninh",
    "xa-thuan-hoa", "xa-ho-dac-kien", "xa-my-huong", "xa-long-hung", "xa-phu-loc", "xa-vinh-loi",
)


def mark_khmer_units(session: Session, codes) -> None:
    """``uses_khmer`` on the named units (the share is left as it is)."""
    for unit in session.exec(select(OrgUnit).where(OrgUnit.code.in_(list(codes)))).all():
        if not unit.uses_khmer:
            unit.uses_khmer = True
            session.add(unit)
    session.flush()


def unit_rows() -> list[dict]:
    rows = [{"code": "soc-trang", "name": "Tỉnh Sóc Trăng", "kind": "province", "portal_url": PORTAL,
             "address": "Số 1 Châu Văn Tiếp, Phường 2, TP Sóc Trăng", "phone": "0299 3822 222",
             "office_hours": "Thứ Hai – Thứ Sáu, 7:00–11:00 và 13:00–17:00"}]
    rows[0].update(official_name="Ủy ban nhân dân tỉnh Sóc Trăng", symbol="UBND", place_name="Sóc Trăng")
    rows += [{"code": c, "name": n, "kind": "department", "parent_code": "soc-trang",
              "superior_name": "UBND TỈNH SÓC TRĂNG", "place_name": "Sóc Trăng", **DOCUMENT_NAMES.get(c, {})}
             for c, n in DEPARTMENTS]
    rows += [{"code": c, "name": n, "kind": "district", "parent_code": "soc-trang", "portal_url": PORTAL,
              "office_hours": "Thứ Hai – Thứ Sáu, 7:00–11:00 và 13:00–17:00"} for c, n in DISTRICTS]
    rows += [{"code": c, "name": n, "kind": "press", "parent_code": "soc-trang"} for c, n in PRESS]
    rows += [{"code": c, "name": n, "kind": "telecom", "parent_code": "soc-trang"} for c, n in TELECOM]
    rows += [{"code": c, "name": n, "kind": "commune", "parent_code": p, "address": a or "",
              "symbol": "UBND", "place_name": bare_name(n),
              "office_hours": "Thứ Hai – Thứ Sáu, 7:00–11:00 và 13:00–17:00; sáng thứ Bảy",
              "phone": "0299 3861 234"} for c, n, p, a in COMMUNES]
    return rows


def seed_units(session: Session) -> None:
    import_units(session, unit_rows())


def seed_demo(session: Session) -> tuple[list[tuple[str, str, str]], int | None]:
    """Create units, users (returns their one-time passwords) and the 10/10 campaign."""
    from campaigns.models import Campaign
    from campaigns.presets import apply_preset

    seed_units(session)
    mark_khmer_units(session, KHMER_UNITS)
    units = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    created = []
    for email, role, unit_code, name in DEMO_USERS:
        if session.exec(select(User).where(User.email == email)).first():
            continue
        password = generate_password()
        session.add(User(email=email, name=name, password_hash=hash_password(password), role=role,
                         unit_id=units[unit_code].id if unit_code else None, created_at=utcnow()))
        created.append((email, role.value, password))
    session.flush()
    campaign_id = None
    existing = session.exec(select(Campaign).where(Campaign.preset == "ngay-cds-10-10")).first()
    if existing is None:
        author = session.exec(select(User).where(User.email == "truyenthong@lantoa.local")).first()
        campaign_id = apply_preset(session, "ngay-cds-10-10", author).id
    else:
        campaign_id = existing.id
    return created, campaign_id


# -- the 2025 structure (two-tier government, after the merger into Cần Thơ) -----------

DATA = Path(__file__).parent / "demo_data"
#: Cần Thơ city's 103 commune-level units (Resolution 1668/NQ-UBTVQH15); the ``source``
#: column marks the names that could not be sourced as placeholders ("GIẢ ĐỊNH").
COMMUNES_2025 = DATA / "can-tho-2025-communes.csv"
#: The reorganisation of the Sóc Trăng demo's units on 1/7/2025; ``basis`` says where
#: each row comes from, and marks guessed mappings ("GIẢ ĐỊNH").
REORGANISATION_2025 = DATA / "soc-trang-to-can-tho-2025.csv"


def seed_structure_2025(session: Session) -> dict:
    """After ``seed_demo``: reorganise the Sóc Trăng demo into Cần Thơ city (effective
    1/7/2025) and load the city's 103 commune-level units. Idempotent."""
    import csv
    from datetime import date

    from core.units import parse_reorganisation_csv, reorganise

    if session.exec(select(OrgUnit).where(OrgUnit.code == "can-tho")).first() is not None:
        mark_khmer_units(session, KHMER_UNITS_2025)
        return {"created": [], "ended": []}
    rows = [{k: v for k, v in r.items() if k != "basis"}
            for r in parse_reorganisation_csv(REORGANISATION_2025.read_bytes())]
    result = reorganise(session, rows)
    with COMMUNES_2025.open(encoding="utf-8") as f:
        communes = [{k: v for k, v in r.items() if k != "source"} for r in csv.DictReader(f)]
    import_units(session, communes)
    day = date(2025, 7, 1)
    codes = {r["code"] for r in communes}
    for unit in session.exec(select(OrgUnit).where(OrgUnit.code.in_(codes))).all():
        unit.valid_from = day
        unit.office_hours = unit.office_hours or "Thứ Hai – Thứ Sáu, 7:00–11:00 và 13:00–17:00"
        unit.symbol, unit.place_name = unit.symbol or "UBND", unit.place_name or bare_name(unit.name)
        session.add(unit)
    mark_khmer_units(session, KHMER_UNITS_2025)
    # the departments carried over now answer to the city's People's Committee
    for unit in session.exec(select(OrgUnit).where(OrgUnit.kind == "department")).all():
        if unit.superior_name == "UBND TỈNH SÓC TRĂNG" and unit.valid_to is None:
            unit.superior_name, unit.place_name = "UBND THÀNH PHỐ CẦN THƠ", "Cần Thơ"
            session.add(unit)
    session.flush()
    return result
