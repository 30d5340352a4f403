"""The budget of the plan (section V): estimated and actual costs per campaign and per
unit-year, prices an admin maintains, and the XLSX a finance department expects.

Lines come from two places:

- the system: SMS = message parts (the wave's real segment counts per recipient)
  × the carrier's price per part, estimate over every record that was to be sent,
  actual over records sent or delivered; printing = copies × unit price for each
  print product in the unit's kit (copies: the price row's default print run);
- the unit: lines it enters (video/production, loudspeaker, events and prizes,
  other, or a correction), with an estimate (quantity × unit price) and the
  amount actually spent.

Prices are rows of ``budget_price`` (seeded with ``DEFAULT_PRICES`` when empty,
edited on /budget/prices). Amounts are whole đồng.
"""

from __future__ import annotations

import io
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

from sqlalchemy import Column, Index, Integer, String, func
from sqlmodel import Field, Session, SQLModel, select

from core.models import OrgUnit, utc_column
from core.timeutil import utcnow

CATEGORIES = {
    "sms": "Tin nhắn SMS",
    "printing": "In ấn phẩm",
    "video": "Sản xuất video, nội dung",
    "loudspeaker": "Phát thanh loa truyền thanh",
    "events": "Sự kiện, giải thưởng",
    "other": "Chi khác",
}
DEFAULT_SOURCE = "Ngân sách nhà nước (sự nghiệp KH&CN)"
CARRIER_LABELS = {"viettel": "Viettel", "vinaphone": "VinaPhone", "mobifone": "MobiFone",
                  "vietnamobile": "Vietnamobile", "gmobile": "Gmobile", "other": "mạng khác"}

#: key, category, label, unit label, price (đồng), default quantity (print run per kit)
DEFAULT_PRICES = [
    ("sms:viettel", "sms", "Tin nhắn qua Viettel", "tin (phần)", 350, None),
    ("sms:vinaphone", "sms", "Tin nhắn qua VinaPhone", "tin (phần)", 350, None),
    ("sms:mobifone", "sms", "Tin nhắn qua MobiFone", "tin (phần)", 350, None),
    ("sms:vietnamobile", "sms", "Tin nhắn qua Vietnamobile", "tin (phần)", 300, None),
    ("sms:gmobile", "sms", "Tin nhắn qua Gmobile", "tin (phần)", 300, None),
    ("sms:other", "sms", "Tin nhắn qua mạng khác", "tin (phần)", 350, None),
    ("print:poster-a3", "printing", "Áp phích A3", "tờ", 6000, 20),
    ("print:poster-a4", "printing", "Áp phích A4", "tờ", 3000, 20),
    ("print:leaflet-a5", "printing", "Tờ rơi A5", "tờ", 800, 200),
    ("print:standee", "printing", "Standee", "cái", 450000, 1),
    ("video", "video", "Sản xuất video ngắn", "video", 5000000, None),
    ("loudspeaker", "loudspeaker", "Phát thanh trên loa", "lượt", 50000, None),
    ("events", "events", "Sự kiện, giải thưởng", "đợt", 10000000, None),
]


class BudgetPrice(SQLModel, table=True):
    """A price an admin maintains (SMS per carrier, print product, …)."""

    __tablename__ = "budget_price"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    category: str = Field(max_length=16)
    label: str = Field(max_length=200)
    unit_label: str = Field(max_length=40)
    price: int = Field(sa_column=Column(Integer, nullable=False))
    #: print products: copies per kit (the default print run)
    quantity: int | None = None
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime | None = utc_column()


class BudgetLine(SQLModel, table=True):
    """A line a unit enters for one year (optionally for one campaign)."""

    __tablename__ = "budget_line"
    __table_args__ = (Index("ix_budget_line_year_unit", "year", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    unit_id: int = Field(foreign_key="org_unit.id")
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    category: str = Field(max_length=16)
    label: str = Field(max_length=200)
    unit_label: str = Field(default="", max_length=40)
    quantity: float = 0
    unit_price: int = 0
    #: the amount spent (None: not known yet)
    actual: int | None = None
    source: str = Field(default=DEFAULT_SOURCE, max_length=100)
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime | None = utc_column()


@dataclass
class Line:
    category: str
    label: str
    unit_label: str
    quantity: float
    unit_price: int
    actual: int | None
    source: str
    unit: OrgUnit | None = None
    campaign: str = ""
    #: True when the figures come from the system (SMS records, kits)
    from_system: bool = False
    line_id: int | None = None

    @property
    def estimate(self) -> int:
        return round(self.quantity * self.unit_price)


class BudgetError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def ensure_prices(session: Session) -> dict[str, BudgetPrice]:
    """The price table, seeded with DEFAULT_PRICES for missing keys."""
    rows = {p.key: p for p in session.exec(select(BudgetPrice)).all()}
    for key, cat, label, unit_label, price, qty in DEFAULT_PRICES:
        if key not in rows:
            row = BudgetPrice(key=key, category=cat, label=label, unit_label=unit_label, price=price,
                              quantity=qty, updated_at=utcnow())
            session.add(row)
            rows[key] = row
    session.flush()
    return rows


def year_bounds(year: int) -> tuple[datetime, datetime]:
    from core.timeutil import LOCAL_TZ

    start = datetime(year, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, end


def sms_parts(session: Session, delivery_ids: list[int] | None = None, *, year: int | None = None
              ) -> list[tuple[int, int | None, int | None, str, int, int]]:
    """[(delivery_id, campaign_id, unit_id, carrier, parts to send, parts sent)] from the SMS records."""
    from scheduler.models import ChannelAccount, Delivery
    from scheduler.sms.models import SmsMessage, SmsWave

    to_send = func.sum(SmsMessage.segments).filter(SmsMessage.status != "suppressed")
    sent = func.sum(SmsMessage.segments).filter(SmsMessage.status.in_(("sent", "delivered")))  # type: ignore[attr-defined]
    q = (select(SmsMessage.delivery_id, Delivery.campaign_id, Delivery.unit_id, ChannelAccount.unit_id,
                SmsMessage.carrier, to_send, sent)
         .join(Delivery, Delivery.id == SmsMessage.delivery_id)
         .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
         .group_by(SmsMessage.delivery_id, Delivery.campaign_id, Delivery.unit_id, ChannelAccount.unit_id,
                   SmsMessage.carrier))
    if delivery_ids is not None:
        q = q.where(SmsMessage.delivery_id.in_(delivery_ids or [-1]))  # type: ignore[attr-defined]
    if year is not None:
        start, end = year_bounds(year)
        q = q.join(SmsWave, SmsWave.delivery_id == SmsMessage.delivery_id).where(
            SmsWave.created_at >= start, SmsWave.created_at < end)  # type: ignore[operator]
    return [(d, c, du or au, carrier, int(a or 0), int(b or 0))
            for d, c, du, au, carrier, a, b in session.exec(q).all()]


def wave_cost(session: Session, delivery_id: int) -> tuple[int, int]:
    """(estimate, actual) of one SMS wave in đồng: parts × the carrier's price."""
    prices = ensure_prices(session)
    est = act = 0
    for _d, _c, _u, carrier, to_send, sent in sms_parts(session, [delivery_id]):
        price = (prices.get(f"sms:{carrier}") or prices["sms:other"]).price
        est += to_send * price
        act += sent * price
    return est, act


@lru_cache(maxsize=1)
def _print_labels() -> tuple[str, tuple[tuple[str, str, str], ...]]:
    """(the print folder, (key, label as a file name, label)) computed once, not per kit."""
    from campaigns.kits.builder import PRINT_DIR, PRINT_PRODUCTS
    from campaigns.kits.zipsafe import safe_part

    return PRINT_DIR, tuple((prefix, safe_part(label), label) for prefix, label, _kind in PRINT_PRODUCTS)


def _print_products(contents: list) -> list[str]:
    """Keys of the print products in a kit's contents ("print:poster-a3", …)."""
    print_dir, labels = _print_labels()
    out = []
    for entry in contents or []:
        if entry.get("kind") != "print":
            continue
        name = str(entry.get("name", "")).removeprefix(f"{print_dir}/")
        for prefix, safe_label, label in labels:
            if name.startswith(safe_label) or name.startswith(label):
                out.append(f"print:{prefix}")
                break
    return out


def budget_lines(session: Session, year: int, unit_ids: set[int] | None = None) -> list[Line]:
    """Every line of the year for the units (None: all), system lines first."""
    from campaigns.models import Campaign, Kit

    prices = ensure_prices(session)
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    titles = dict(session.exec(select(Campaign.id, Campaign.title)).all())
    lines: list[Line] = []
    # SMS: parts per (campaign, unit, carrier)
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for _d, campaign_id, unit_id, carrier, to_send, sent in sms_parts(session, year=year):
        if unit_ids is not None and unit_id not in unit_ids:
            continue
        key = (campaign_id, unit_id, carrier if f"sms:{carrier}" in prices else "other")
        sums[key][0] += to_send
        sums[key][1] += sent
    for (campaign_id, unit_id, carrier), (to_send, sent) in sorted(
            sums.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]), kv[0][2])):
        price = prices[f"sms:{carrier}"]
        lines.append(Line("sms", f"Tin nhắn SMS qua {CARRIER_LABELS.get(carrier, carrier)}", price.unit_label,
                          to_send, price.price, sent * price.price, DEFAULT_SOURCE, units.get(unit_id),
                          titles.get(campaign_id, ""), True))
    # printing: the print products of each kit built for a campaign of the year
    q = select(Kit.unit_id, Kit.campaign_id, Kit.contents, Campaign.starts_on).join(
        Campaign, Campaign.id == Kit.campaign_id).where(
        Campaign.starts_on >= date(year, 1, 1), Campaign.starts_on <= date(year, 12, 31))  # type: ignore[operator]
    for unit_id, campaign_id, contents, starts_on in session.exec(q).all():
        if starts_on is None or starts_on.year != year or (unit_ids is not None and unit_id not in unit_ids):
            continue
        for key in _print_products(contents):
            price = prices.get(key)
            if price is None:
                continue
            lines.append(Line("printing", f"In {price.label.lower()}", price.unit_label, price.quantity or 0,
                              price.price, None, DEFAULT_SOURCE, units.get(unit_id), titles.get(campaign_id, ""),
                              True))
    q = select(BudgetLine).where(BudgetLine.year == year)
    if unit_ids is not None:
        q = q.where(BudgetLine.unit_id.in_(unit_ids or {-1}))  # type: ignore[attr-defined]
    for row in session.exec(q.order_by(BudgetLine.id)).all():
        lines.append(Line(row.category, row.label, row.unit_label, row.quantity, row.unit_price, row.actual,
                          row.source, units.get(row.unit_id), titles.get(row.campaign_id, ""), False, row.id))
    return lines


def totals(lines: list[Line]) -> dict[str, tuple[int, int]]:
    """category -> (estimate, actual) in CATEGORIES order, plus "total"."""
    out: dict[str, list[int]] = {c: [0, 0] for c in CATEGORIES}
    for line in lines:
        out.setdefault(line.category, [0, 0])
        out[line.category][0] += line.estimate
        out[line.category][1] += line.actual or 0
    out["total"] = [sum(v[0] for v in out.values()), sum(v[1] for v in out.values())]
    return {k: (v[0], v[1]) for k, v in out.items()}


def _number(raw, field_name: str, errors: dict, *, integer: bool = False, required: bool = True):
    text = str(raw or "").strip().replace(" ", "")
    if not text:
        if required:
            errors[field_name] = "Vui lòng nhập số."
        return None
    text = text.replace(".", "") if integer else text.replace(".", "").replace(",", ".")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        errors[field_name] = "Không phải là số hợp lệ."
        return None
    if value < 0 or value > 1e12:
        errors[field_name] = "Số không hợp lệ (từ 0 đến 1.000.000.000.000)."
        return None
    return value


def add_line(session: Session, user_id: int | None, year: int, unit: OrgUnit, form: dict) -> BudgetLine:
    """Validate and store a line a unit enters; raises BudgetError with Vietnamese messages."""
    errors: dict[str, str] = {}
    category = str(form.get("category") or "")
    if category not in CATEGORIES:
        errors["category"] = "Chọn một khoản mục."
    from core.tabular import plain_text

    label = plain_text(unicodedata.normalize("NFC", str(form.get("label") or ""))).strip()
    if not label or len(label) > 200:
        errors["label"] = "Nhập nội dung khoản chi (tối đa 200 ký tự)."
    quantity = _number(form.get("quantity"), "quantity", errors)
    unit_price = _number(form.get("unit_price"), "unit_price", errors, integer=True)
    actual = _number(form.get("actual"), "actual", errors, integer=True, required=False)
    source = plain_text(unicodedata.normalize("NFC", str(form.get("source") or ""))).strip() or DEFAULT_SOURCE
    if len(source) > 100:
        errors["source"] = "Tối đa 100 ký tự."
    unit_label = plain_text(unicodedata.normalize("NFC", str(form.get("unit_label") or ""))).strip()[:40]
    campaign_id = None
    if str(form.get("campaign") or "").strip():
        from campaigns.models import Campaign

        raw = str(form.get("campaign")).strip()
        campaign = session.get(Campaign, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        if campaign is None or campaign.starts_on.year != year:
            errors["campaign"] = "Chọn một chiến dịch của năm này."
        else:
            campaign_id = campaign.id
    if errors:
        raise BudgetError(errors)
    row = BudgetLine(year=year, unit_id=unit.id, campaign_id=campaign_id, category=category, label=label, unit_label=unit_label,
                     quantity=float(quantity or 0), unit_price=int(unit_price or 0),
                     actual=int(actual) if actual is not None else None, source=source, updated_by=user_id,
                     updated_at=utcnow())
    session.add(row)
    session.flush()
    return row


def save_prices(session: Session, user_id: int | None, form: dict) -> None:
    errors: dict[str, str] = {}
    rows = ensure_prices(session)
    for key, row in rows.items():
        if f"price-{key}" in form:
            value = _number(form.get(f"price-{key}"), key, errors, integer=True)
            if value is not None:
                row.price, row.updated_by, row.updated_at = int(value), user_id, utcnow()
        if f"quantity-{key}" in form and str(form.get(f"quantity-{key}") or "").strip():
            value = _number(form.get(f"quantity-{key}"), key, errors, integer=True)
            if value is not None:
                row.quantity = int(value)
    if errors:
        raise BudgetError(errors)
    for row in rows.values():
        session.add(row)
    session.flush()


def fmt_money(value: int | float | None) -> str:
    """1234567 -> "1.234.567" (Vietnamese grouping)."""
    if value is None:
        return "—"
    return f"{round(value):,}".replace(",", ".")


def fmt_qty(value: float) -> str:
    return fmt_money(value) if float(value).is_integer() else f"{value:,.2f}".replace(",", " ").replace(
        ".", ",").replace(" ", ".")


def year_campaigns(session: Session, year: int) -> list:
    """Campaigns that start in the year (a line may belong to one)."""
    from campaigns.models import Campaign

    return [c for c in session.exec(select(Campaign).order_by(Campaign.starts_on)).all()
            if c.starts_on and c.starts_on.year == year]


def budget_xlsx(session: Session, year: int, unit: OrgUnit | None = None) -> bytes:
    """The estimate in finance shape: line, quantity, unit price, amount, source of funds (+ actual)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from core.tabular import append_row
    from core.units import subtree_ids

    scope = subtree_ids(session, unit.id) if unit is not None else None
    lines = budget_lines(session, year, scope)
    wb = Workbook()
    ws = wb.active
    ws.title = f"Dự toán {year}"
    who = unit.name if unit is not None else "toàn tỉnh (tổng hợp)"
    append_row(ws, [f"DỰ TOÁN KINH PHÍ TRUYỀN THÔNG NĂM {year} — {who}"])
    ws["A1"].font = Font(bold=True, size=13)
    append_row(ws, ["Đơn vị tính: đồng. Dòng có dấu * lấy số liệu từ hệ thống Lan Tỏa "
                    "(SMS theo số phần tin thực tế; in ấn theo ấn phẩm trong bộ tài liệu)."])
    header = ["STT", "Khoản mục", "Nội dung chi", "Đơn vị", "Chiến dịch", "Đơn vị tính", "Số lượng",
              "Đơn giá", "Thành tiền (dự toán)", "Thực chi", "Nguồn kinh phí"]
    append_row(ws, header)
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for n, line in enumerate(lines, start=1):
        append_row(ws, [n, CATEGORIES.get(line.category, line.category),
                   ("* " if line.from_system else "") + line.label, line.unit.name if line.unit else "",
                   line.campaign, line.unit_label, line.quantity, line.unit_price, line.estimate, line.actual,
                   line.source])
    total = totals(lines)["total"]
    append_row(ws, ["", "Tổng cộng", "", "", "", "", None, None, total[0], total[1], ""])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in ws.iter_rows(min_row=4, min_col=7, max_col=10):
        for cell in row:
            cell.number_format = "#,##0"
    for col, width in zip("ABCDEFGHIJK", (5, 22, 40, 26, 30, 12, 12, 12, 18, 16, 34), strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def today() -> date:
    from core.timeutil import to_local

    return to_local(utcnow()).date()  # type: ignore[union-attr]


__all__ = ["CATEGORIES", "BudgetLine", "BudgetPrice", "Line", "add_line", "budget_lines", "budget_xlsx",
           "ensure_prices", "fmt_money", "save_prices", "totals", "wave_cost"]
