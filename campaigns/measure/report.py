"""The yearly report (due 15/12) as DOCX and PDF, per unit or consolidated.

The layout follows Decree 30/2020/NĐ-CP (administrative documents): A4, margins
20/20 mm top/bottom, 30 mm left, 15 mm right; Times New Roman 13 pt in the DOCX
(Noto Serif, embedded, in the app's PDF); the header block (agency above and
issuing agency with a rule under it, "Số: …/BC-<symbol>"; Quốc hiệu, Tiêu ngữ with
its rule, "<place>, ngày … tháng … năm …" in italics) in a two-column table whose
grid and cell widths are the same; page numbers centred at the top from page 2;
table header rows repeated on each page; "Nơi nhận:" and the signature block.

Names come from the unit's data (core/unit_names.py). Sections: I. tasks and
activities by channel with the system's figures, highlights; II. targets with
coverage; III. difficulties; IV. proposals; V. budget (estimate vs actual);
VI. next year's direction. Free-text sections come from ReportText rows.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, select

from campaigns.measure import charts
from campaigns.measure.compute import (
    TargetResult,
    TaskRow,
    evaluate_plan,
    fmt_num,
    local_today,
    task_rows,
    unit_task_summary,
)
from campaigns.measure.entries import report_texts
from campaigns.measure.models import TASK_STATUS_LABELS, Plan, TaskStatus
from core import unit_names
from core.models import OrgUnit
from core.tabular import plain_text
from core.timeutil import utcnow
from core.units import subtree_ids

DEFAULT_TEXT = {
    "results": "(Đơn vị bổ sung đánh giá chung về kết quả thực hiện trong năm.)",
    "highlights": "(Đơn vị nêu các hoạt động nổi bật, cách làm hay trong năm.)",
    "difficulties": "(Đơn vị nêu khó khăn, vướng mắc trong quá trình thực hiện.)",
    "proposals": "(Đơn vị nêu đề xuất, kiến nghị với Ủy ban nhân dân tỉnh và các cơ quan liên quan.)",
    "direction": "(Đơn vị nêu phương hướng, nhiệm vụ trọng tâm của năm sau.)",
}

#: the report is always Vietnamese (a document for Sở KH&CN), whatever the page language
CHANNEL_NAMES = {
    "facebook": "Trang Facebook",
    "zalo": "Zalo OA",
    "sms_kannel": "SMS (cổng tin nhắn)",
    "sms_partner": "SMS qua nhà mạng",
    "loudspeaker": "Loa truyền thanh",
    "webhook": "Cổng thông tin, hệ thống khác",
}
CARRIER_NAMES = {"viettel": "Viettel", "vinaphone": "VinaPhone", "mobifone": "MobiFone",
                 "vietnamobile": "Vietnamobile", "gmobile": "Gmobile", "other": "Mạng khác"}
SYSTEM_NOTE = ("Các số liệu có ghi chú “(hệ thống)” được lấy tự động từ hệ thống Lan Tỏa: bài đăng và tin nhắn "
               "đã gửi theo kênh, tin nhắn SMS theo nhà mạng, lượt phát loa đã xác nhận, bộ tài liệu đã tải, "
               "lượt quét mã QR, ý kiến người dân và kết quả các chỉ tiêu tự đo; các chỉ tiêu do đơn vị "
               "nhập ghi rõ số đơn vị đã báo cáo.")

# Decree 30 page geometry (mm) and sizes (pt)
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = 20.0, 20.0, 30.0, 15.0
BODY_PT = 13
TEXT_W = PAGE_W - MARGIN_LEFT - MARGIN_RIGHT  # 165 mm
#: header block: agency column / Quốc hiệu column (mm), together the text width
HEAD_LEFT, HEAD_RIGHT = 62.0, 103.0
PDF_FONT = "Noto Serif"


@dataclass
class Activity:
    """The system's figures for the report's scope and year."""

    #: channel -> {"total", "sent", "failed", "other"}
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)
    #: carrier -> {"sent", "delivered", "failed"} (recipients)
    sms: dict[str, dict[str, int]] = field(default_factory=dict)
    broadcasts_confirmed: int = 0
    kits: int = 0
    kits_downloaded: int = 0
    kit_downloads: int = 0
    qr_scans: int = 0
    feedback_received: int = 0
    feedback_handled: int = 0


@dataclass
class ReportData:
    plan: Plan
    unit: OrgUnit | None
    issuer: OrgUnit | None
    parent: OrgUnit | None
    province: OrgUnit | None
    report_to: OrgUnit | None
    day: date
    results: list[TargetResult]
    tasks: list[TaskRow]
    unit_summary: list[tuple[OrgUnit, dict[str, int]]]
    texts: dict[str, str] = field(default_factory=dict)
    activity: Activity = field(default_factory=Activity)
    budget: list = field(default_factory=list)
    #: the day the system's figures were read
    as_of: date | None = None
    units: dict[int, OrgUnit] = field(default_factory=dict)

    def _parent_of(self, unit: OrgUnit) -> OrgUnit | None:
        return self.units.get(unit.parent_id) if unit.parent_id else None

    @property
    def place(self) -> str:
        if self.issuer is not None:
            return unit_names.place_name(self.issuer, self._parent_of)
        return unit_names.bare_name(self.province.name) if self.province else ""

    @property
    def issuer_name(self) -> str:
        return unit_names.official_name(self.issuer) if self.issuer else "Sở Khoa học và Công nghệ"

    @property
    def issuer_lines(self) -> list[str]:
        return unit_names.issuer_lines(self.issuer) if self.issuer else ["SỞ KHOA HỌC VÀ CÔNG NGHỆ"]

    @property
    def superior(self) -> str:
        if self.issuer is None:
            return f"UBND {self.province.name.upper()}" if self.province else ""
        return unit_names.superior_name(self.issuer, self._parent_of)

    @property
    def abbreviation(self) -> str:
        return unit_names.symbol(self.issuer) if self.issuer else "SKHCN"

    @property
    def number_line(self) -> str:
        number = self.texts.get("number") or "      "
        return f"Số: {number}/BC-{self.abbreviation}"

    @property
    def date_line(self) -> str:
        d = self.day
        return f"{self.place}, ngày {d.day:02d} tháng {d.month:02d} năm {d.year}"

    @property
    def period_line(self) -> str:
        end = min(self.day, date(self.plan.year, 12, 31))
        start = date(self.plan.year, 1, 1)
        as_of = (self.as_of or self.day).strftime("%d/%m/%Y")
        if end < start:
            end = start
        return (f"Kỳ báo cáo: từ ngày {start.strftime('%d/%m/%Y')} đến ngày {end.strftime('%d/%m/%Y')} "
                f"(số liệu từ hệ thống tính đến ngày {as_of}).")

    @property
    def who(self) -> str:
        """ "của Ủy ban nhân dân xã Lạc Hòa" (mid-sentence form) or the consolidated note."""
        if self.unit is None:
            return " (tổng hợp toàn tỉnh)"
        return f" của {unit_names.official_name(self.unit)}"

    @property
    def title(self) -> str:
        return f"Kết quả thực hiện {self.plan.title[0].lower()}{self.plan.title[1:]} năm {self.plan.year}{self.who}"

    @property
    def signer_lines(self) -> list[str]:
        """Authority and position above the signature."""
        if self.issuer is not None and unit_names.symbol(self.issuer) == "UBND":
            return ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
        if self.issuer is not None and self.issuer_name.startswith("Sở "):
            return ["GIÁM ĐỐC"]
        return ["THỦ TRƯỞNG ĐƠN VỊ"]


def activity_figures(session: Session, year: int, scope: set[int] | None) -> Activity:
    """Deliveries by channel and status, SMS by carrier, broadcasts confirmed, kits
    downloaded, QR scans and feedback of the year, for the units in ``scope`` (None: all)."""
    from sqlalchemy import func

    from campaigns.measure.budget import year_bounds
    from campaigns.measure.models import Feedback, FeedbackStatus
    from campaigns.models import Kit, KitDownload, LinkScan
    from scheduler.models import ChannelAccount, Delivery
    from scheduler.states import Status

    start, end = year_bounds(year)
    act = Activity()

    def inside(unit_id: int | None) -> bool:
        return scope is None or unit_id in scope

    for channel, d_unit, a_unit, status, confirmed, n in session.exec(
        select(ChannelAccount.channel, Delivery.unit_id, ChannelAccount.unit_id, Delivery.status,
               Delivery.confirmed_at.is_not(None), func.count(Delivery.id))  # type: ignore[union-attr]
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(Delivery.scheduled_at >= start, Delivery.scheduled_at < end)  # type: ignore[operator]
        .group_by(ChannelAccount.channel, Delivery.unit_id, ChannelAccount.unit_id, Delivery.status,
                  Delivery.confirmed_at.is_not(None))  # type: ignore[union-attr]
    ).all():
        if not inside(d_unit or a_unit):
            continue
        row = act.deliveries.setdefault(channel, {"total": 0, "sent": 0, "failed": 0, "other": 0})
        row["total"] += n
        key = "sent" if status == Status.sent else "failed" if status == Status.failed else "other"
        row[key] += n
        if channel == "loudspeaker" and confirmed:
            act.broadcasts_confirmed += n
    try:
        from scheduler.sms.models import SmsMessage

        for carrier, status, d_unit, a_unit, n in session.exec(
            select(SmsMessage.carrier, SmsMessage.status, Delivery.unit_id, ChannelAccount.unit_id,
                   func.count(SmsMessage.id))
            .join(Delivery, Delivery.id == SmsMessage.delivery_id)
            .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
            .where(Delivery.scheduled_at >= start, Delivery.scheduled_at < end)  # type: ignore[operator]
            .group_by(SmsMessage.carrier, SmsMessage.status, Delivery.unit_id, ChannelAccount.unit_id)
        ).all():
            if not inside(d_unit or a_unit):
                continue
            row = act.sms.setdefault(carrier, {"sent": 0, "delivered": 0, "failed": 0})
            if status in ("sent", "delivered"):
                row["sent"] += n
            if status == "delivered":
                row["delivered"] += n
            if status == "failed":
                row["failed"] += n
    except ImportError:  # pragma: no cover - SMS part absent
        pass
    downloaded: set[int] = set()
    for kit_id, unit_id in session.exec(
        select(KitDownload.kit_id, Kit.unit_id).join(Kit, Kit.id == KitDownload.kit_id)
        .where(KitDownload.at >= start, KitDownload.at < end)  # type: ignore[operator]
    ).all():
        if inside(unit_id):
            act.kit_downloads += 1
            downloaded.add(kit_id)
    act.kits_downloaded = len(downloaded)
    for unit_id, n in session.exec(
        select(LinkScan.unit_id, func.count(LinkScan.id))
        .where(LinkScan.at >= start, LinkScan.at < end).group_by(LinkScan.unit_id)  # type: ignore[operator]
    ).all():
        if inside(unit_id):
            act.qr_scans += n
    for unit_id, status, n in session.exec(
        select(Feedback.unit_id, Feedback.status, func.count(Feedback.id))
        .where(Feedback.created_at >= start, Feedback.created_at < end)  # type: ignore[operator]
        .group_by(Feedback.unit_id, Feedback.status)
    ).all():
        if inside(unit_id):
            act.feedback_received += n
            if status == FeedbackStatus.handled:
                act.feedback_handled += n
    return act


def build_report(session: Session, plan: Plan, unit: OrgUnit | None = None, *,
                 now: datetime | None = None, day: date | None = None) -> ReportData:
    """``day``: the date the report is issued (the user's choice; default today)."""
    from campaigns.measure.budget import budget_lines

    now = now or utcnow()
    province = session.exec(select(OrgUnit).where(OrgUnit.code == plan.province_code)).first()
    report_to = session.exec(select(OrgUnit).where(OrgUnit.code == plan.report_to)).first() if plan.report_to else None
    parent = session.get(OrgUnit, unit.parent_id) if unit is not None and unit.parent_id else None
    results = evaluate_plan(session, plan, unit_id=unit.id if unit else None, now=now)
    scope = subtree_ids(session, unit.id) if unit is not None else None
    rows = task_rows(session, plan, unit_ids=scope, today=local_today(now))
    summary = unit_task_summary(rows)
    units = {r.unit.id: r.unit for r in rows}
    unit_summary = [(units[uid], counts) for uid, counts in summary.items()]
    texts = report_texts(session, plan.year, unit.id if unit else None)
    all_units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    return ReportData(plan=plan, unit=unit, issuer=report_to if unit is None else unit, parent=parent,
                      province=province, report_to=report_to, day=day or local_today(now), results=results,
                      tasks=rows, unit_summary=unit_summary, texts=texts,
                      activity=activity_figures(session, plan.year, scope),
                      budget=budget_lines(session, plan.year, scope), as_of=local_today(now), units=all_units)


def fmt_value(value: float | None) -> str:
    """64.5 -> "64,5%" (the report is Vietnamese: decimal comma)."""
    return "—" if value is None else f"{fmt_num(value)}%"


def fmt_int(value: int | float | None) -> str:
    """1234 -> "1.234"."""
    return "—" if value is None else f"{round(value):,}".replace(",", ".")


def verdict(r: TargetResult) -> str:
    """Đạt only when every unit that owes the figure reported ("Chưa đủ số liệu" otherwise)."""
    return r.verdict


def _basis(r: TargetResult) -> str:
    """The figure's basis with its coverage ("12/15 đơn vị đã báo cáo") or "(hệ thống)"."""
    parts = [r.detail] if r.detail else []
    if r.coverage:
        parts.append(r.coverage)
    elif r.target.kind == "measured":
        parts.append("(hệ thống)")
    return "; ".join(parts)


def _chart(data: ReportData, scale: float = 2.0) -> bytes:
    rows = [(f"{r.target.code} {r.target.title}", r.value, r.goal) for r in data.results
            if r.target.due_year == data.plan.year]
    return charts.targets_png(rows, scale=scale)


def _trend_charts(data: ReportData) -> list[bytes]:
    """Month-by-month charts of the measured targets due this year."""
    return [charts.trend_png(f"{r.target.code}: {r.target.title}", r.trend, r.goal, scale=2.0)
            for r in data.results if r.target.kind == "measured" and r.target.due_year == data.plan.year]


def _recipients(data: ReportData) -> list[str]:
    if data.unit is None:
        return ["UBND tỉnh (để báo cáo);", "Các sở, ban, ngành; UBND các huyện, thị xã, thành phố;",
                "Lưu: VT."]
    to = unit_names.official_name(data.report_to) if data.report_to else "Sở Khoa học và Công nghệ"
    return [f"{to} (để tổng hợp);", "Lưu: VT."]


# -- content shared by DOCX and PDF -----------------------------------------------------------


def _tasks_table(data: ReportData) -> tuple[list[str], list[list[str]], list[float]]:
    if data.unit is None:
        return (["Đơn vị", "Hoàn thành", "Đang thực hiện", "Chưa bắt đầu", "Quá hạn"],
                [[u.name, str(c["done"]), str(c["in_progress"]), str(c["not_started"]), str(c["overdue"])]
                 for u, c in data.unit_summary], [61, 26, 26, 26, 26])
    own = [r for r in data.tasks if r.unit.id == data.unit.id]
    return (["Mục", "Nhiệm vụ", "Thời hạn", "Tình trạng", "Ghi chú"],
            [[r.task.code, r.task.title, r.task.due.strftime("%d/%m/%Y"), TASK_STATUS_LABELS[r.status], r.note]
             for r in own], [14, 62, 27, 27, 35])


def _channel_table(data: ReportData) -> tuple[list[str], list[list[str]], list[float]]:
    rows = []
    for channel, c in sorted(data.activity.deliveries.items(), key=lambda kv: CHANNEL_NAMES.get(kv[0], kv[0])):
        rows.append([CHANNEL_NAMES.get(channel, "Kênh khác"), fmt_int(c["total"]), fmt_int(c["sent"]),
                     fmt_int(c["failed"]), fmt_int(c["other"])])
    return (["Kênh", "Lượt gửi theo kế hoạch", "Đã gửi", "Không gửi được", "Chưa gửi, đã hủy"],
            rows or [["(chưa có lượt gửi nào trong năm)", "0", "0", "0", "0"]], [55, 30, 25, 27, 28])


def _sms_table(data: ReportData) -> tuple[list[str], list[list[str]], list[float]]:
    rows = [[CARRIER_NAMES.get(k, "Mạng khác"), fmt_int(v["sent"]), fmt_int(v["delivered"]), fmt_int(v["failed"])]
            for k, v in sorted(data.activity.sms.items())]
    return ["Nhà mạng", "Tin đã gửi", "Tin đã đến máy", "Tin lỗi"], rows, [55, 37, 37, 36]


def _figure_lines(data: ReportData) -> list[str]:
    a = data.activity
    posts = sum(v["sent"] for k, v in a.deliveries.items() if k not in ("loudspeaker", "sms_kannel", "sms_partner"))
    sms_sent = sum(v["sent"] for v in a.sms.values())
    sms_delivered = sum(v["delivered"] for v in a.sms.values())
    return [
        f"- Bài đăng đã gửi trên các kênh trực tuyến: {fmt_int(posts)} (hệ thống).",
        f"- Tin nhắn SMS đã gửi: {fmt_int(sms_sent)}, đã đến máy người nhận: {fmt_int(sms_delivered)} (hệ thống).",
        f"- Lượt phát trên loa truyền thanh đã xác nhận: {fmt_int(a.broadcasts_confirmed)} (hệ thống).",
        f"- Bộ tài liệu đã tải về: {fmt_int(a.kits_downloaded)} bộ, {fmt_int(a.kit_downloads)} lượt tải (hệ thống).",
        f"- Lượt quét mã QR trên ấn phẩm: {fmt_int(a.qr_scans)} (hệ thống).",
        f"- Ý kiến người dân đã nhận: {fmt_int(a.feedback_received)}, đã tiếp thu, xử lý: "
        f"{fmt_int(a.feedback_handled)} (hệ thống).",
    ]


def _budget_table(data: ReportData) -> tuple[list[str], list[list[str]], list[float]]:
    from campaigns.measure.budget import CATEGORIES, totals

    tot = totals(data.budget)
    rows = [[str(n), CATEGORIES[c], fmt_int(tot[c][0]), fmt_int(tot[c][1])]
            for n, c in enumerate(CATEGORIES, start=1)]
    rows.append(["", "Tổng cộng", fmt_int(tot["total"][0]), fmt_int(tot["total"][1])])
    return ["STT", "Khoản mục", "Dự toán (đồng)", "Thực hiện (đồng)"], rows, [14, 71, 40, 40]


def _budget_note(data: ReportData) -> str:
    return ("Tin nhắn SMS tính theo số phần tin thực tế của từng đợt nhân đơn giá của nhà mạng; in ấn tính theo "
            "ấn phẩm trong bộ tài liệu của đơn vị nhân số bản in và đơn giá; các khoản khác do đơn vị nhập. "
            "Dự toán chi tiết xuất tệp Excel từ hệ thống.")


def _sections(data: ReportData) -> list[tuple]:
    """The body as a list of ("heading"|"text"|"table"|"chart"|"trends"|"italic", payload)."""
    next_year = data.plan.year + 1
    out: list[tuple] = [
        ("heading", "I. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ"),
        ("text", data.texts.get("results") or DEFAULT_TEXT["results"]),
        ("subheading", "1. Tình hình thực hiện nhiệm vụ"),
        ("table", _tasks_table(data)),
        ("subheading", "2. Hoạt động truyền thông theo kênh"),
        ("table", _channel_table(data)),
    ]
    header, rows, widths = _sms_table(data)
    if rows:
        out += [("text", "Tin nhắn SMS theo nhà mạng:"), ("table", (header, rows, widths))]
    out += [("text", "\n".join(_figure_lines(data))),
            ("subheading", "3. Hoạt động nổi bật"),
            ("text", data.texts.get("highlights") or DEFAULT_TEXT["highlights"]),
            ("heading", "II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU"),
            ("table", (["Mã", "Chỉ tiêu", "Mục tiêu", "Kết quả", "Đánh giá", "Cơ sở số liệu"],
                       [[r.target.code, r.target.title, f"{fmt_value(r.goal)} ({r.target.due_year})",
                         fmt_value(r.value), verdict(r), _basis(r)] for r in data.results],
                       [12, 58, 22, 18, 20, 35])),
            ("chart", None),
            ("trends", None),
            ("heading", "III. KHÓ KHĂN, VƯỚNG MẮC"),
            ("text", data.texts.get("difficulties") or DEFAULT_TEXT["difficulties"]),
            ("heading", "IV. ĐỀ XUẤT, KIẾN NGHỊ"),
            ("text", data.texts.get("proposals") or DEFAULT_TEXT["proposals"]),
            ("heading", "V. KINH PHÍ THỰC HIỆN"),
            ("table", _budget_table(data)),
            ("text", _budget_note(data)),
            ("heading", f"VI. PHƯƠNG HƯỚNG, NHIỆM VỤ NĂM {next_year}"),
            ("text", data.texts.get("direction") or DEFAULT_TEXT["direction"]),
            ("italic", SYSTEM_NOTE)]
    return out


# -- DOCX -------------------------------------------------------------------------


def _set_widths(table, widths_mm: list[float]) -> None:
    """Fixed layout; tblW = sum; every w:gridCol and every w:tcW the same width (twips)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm

    table.autofit = False
    tbl = table._tbl
    tblPr = tbl.tblPr
    layout = tblPr.find(qn("w:tblLayout"))
    if layout is None:
        layout = OxmlElement("w:tblLayout")
        tblPr.append(layout)
    layout.set(qn("w:type"), "fixed")
    twips = [int(round(Mm(w).twips)) for w in widths_mm]
    tblW = tblPr.find(qn("w:tblW"))
    if tblW is None:
        tblW = OxmlElement("w:tblW")
        tblPr.append(tblW)
    tblW.set(qn("w:w"), str(sum(twips)))
    tblW.set(qn("w:type"), "dxa")
    for col, tw in zip(tbl.tblGrid.findall(qn("w:gridCol")), twips, strict=True):
        col.set(qn("w:w"), str(tw))
    for row in table.rows:
        for cell, tw in zip(row.cells, twips, strict=True):
            tcW = cell._tc.get_or_add_tcPr().get_or_add_tcW()
            tcW.set(qn("w:w"), str(tw))
            tcW.set(qn("w:type"), "dxa")


def _bottom_rule(paragraph, indent_mm: float = 0) -> None:
    """A rule under the paragraph (bottom border), shortened by equal left/right indents."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm

    pPr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    borders.append(bottom)
    pPr.append(borders)
    if indent_mm:
        paragraph.paragraph_format.left_indent = Mm(indent_mm)
        paragraph.paragraph_format.right_indent = Mm(indent_mm)


def _page_field(paragraph) -> None:
    """PAGE field (complex field: begin, instruction, separate, result, end)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def fld(kind: str):
        run = paragraph.add_run()
        el = OxmlElement("w:fldChar")
        el.set(qn("w:fldCharType"), kind)
        run._r.append(el)
        return run

    fld("begin")
    instr = paragraph.add_run()
    el = OxmlElement("w:instrText")
    el.set(qn("xml:space"), "preserve")
    el.text = " PAGE "
    instr._r.append(el)
    fld("separate")
    paragraph.add_run("2")
    fld("end")


def _repeat_header(row) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    trPr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    trPr.append(el)


def to_docx(data: ReportData) -> bytes:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt, Twips

    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(PAGE_W), Mm(PAGE_H)
    def margin(mm: float):  # whole twips, never under the minimum
        return Twips(math.ceil(mm * 1440 / 25.4))

    sec.top_margin, sec.bottom_margin = margin(MARGIN_TOP), margin(MARGIN_BOTTOM)
    sec.left_margin, sec.right_margin = margin(MARGIN_LEFT), margin(MARGIN_RIGHT)
    sec.header_distance = Mm(10)
    sec.different_first_page_header_footer = True
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(BODY_PT)
    rfonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        rfonts.set(qn(attr), "Times New Roman")
    style.paragraph_format.space_after = Pt(0)
    # page numbers: centred in the top margin from page 2 (first page: its own, empty header)
    number = sec.header.paragraphs[0]
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_field(number)
    sec.first_page_header.paragraphs[0].text = ""

    center, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY

    def para(where, text: str, *, bold=False, italic=False, size=None, align=None, indent=False, after=3):
        p = where.add_paragraph()
        run = p.add_run(plain_text(text))  # user text: no control characters (XML)
        run.bold, run.italic = bold, italic
        run.font.size = Pt(size or BODY_PT)
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Mm(10)
        p.paragraph_format.space_after = Pt(after)
        return p

    def first(cell):
        """Drop the cell's initial empty paragraph once the cell has content."""
        p = cell.paragraphs[0]
        if not p.text and len(cell.paragraphs) > 1:
            p._p.getparent().remove(p._p)

    # header block (Decree 30, Appendix I): agency | Quốc hiệu and Tiêu ngữ
    head = doc.add_table(rows=1, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    _set_widths(head, [HEAD_LEFT, HEAD_RIGHT])
    left, right = head.rows[0].cells
    if data.superior:
        para(left, data.superior, size=12, align=center, after=0)
    lines = data.issuer_lines
    for line in lines:
        para(left, line, bold=True, size=12, align=center, after=0)
    _bottom_rule(para(left, "", size=2, after=0), indent_mm=HEAD_LEFT * 0.3)  # the rule, 1/3 of the column
    para(left, "", size=6, after=0)
    para(left, data.number_line, size=13, align=center)
    first(left)
    para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, size=12, align=center, after=0)
    para(right, "Độc lập - Tự do - Hạnh phúc", bold=True, size=13, align=center, after=0)
    _bottom_rule(para(right, "", size=2, after=0), indent_mm=(HEAD_RIGHT - 61) / 2)  # as long as the motto
    para(right, "", size=6, after=0)
    para(right, data.date_line, italic=True, size=13, align=center)
    first(right)

    para(doc, "")
    para(doc, "BÁO CÁO", bold=True, size=14, align=center, after=0)
    para(doc, data.title, bold=True, size=14, align=center)
    if data.unit is not None and data.report_to is not None:
        para(doc, f"Kính gửi: {unit_names.official_name(data.report_to)}.", align=center, after=6)
    if data.plan.basis:
        para(doc, f"Căn cứ {data.plan.basis}.", align=justify, indent=True)
    para(doc, data.period_line, italic=True, align=justify, indent=True)

    def table(header: list[str], rows: list[list[str]], widths: list[float]):
        t = doc.add_table(rows=1, cols=len(header))
        t.style = "Table Grid"
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        for i, h in enumerate(header):
            cell = t.rows[0].cells[i]
            cell.text = ""
            run = cell.paragraphs[0].add_run(h)
            run.bold, run.font.size = True, Pt(12)
            cell.paragraphs[0].alignment = center
        _repeat_header(t.rows[0])
        for r in rows:
            cells = t.add_row().cells
            for i, v in enumerate(r):
                cells[i].text = ""
                run = cells[i].paragraphs[0].add_run(plain_text(v))
                run.font.size = Pt(12)
        scale = TEXT_W / sum(widths)
        _set_widths(t, [w * scale for w in widths])
        para(doc, "", size=6, after=0)
        return t

    for kind, payload in _sections(data):
        if kind == "heading":
            para(doc, payload, bold=True, size=BODY_PT, after=3).paragraph_format.space_before = Pt(6)
        elif kind == "subheading":
            para(doc, payload, bold=True, italic=True, size=BODY_PT, indent=True)
        elif kind == "text":
            for line in payload.splitlines() or [""]:
                para(doc, line, align=justify, indent=True)
        elif kind == "italic":
            para(doc, payload, italic=True, size=12, align=justify, indent=True)
        elif kind == "table":
            table(*payload)
        elif kind == "chart":
            doc.add_picture(io.BytesIO(_chart(data)), width=Mm(160))
            para(doc, f"Biểu đồ: kết quả so với mục tiêu năm {data.plan.year} (số liệu đến ngày "
                      f"{(data.as_of or data.day).strftime('%d/%m/%Y')}).", italic=True, size=12, align=center)
        elif kind == "trends":
            trends = _trend_charts(data)
            if trends:
                grid = doc.add_table(rows=(len(trends) + 1) // 2, cols=2)
                _set_widths(grid, [TEXT_W / 2, TEXT_W / 2])
                for i, png in enumerate(trends):
                    cell = grid.rows[i // 2].cells[i % 2]
                    cell.paragraphs[0].add_run().add_picture(io.BytesIO(png), width=Mm(78))
                para(doc, "Diễn biến theo tháng của các chỉ tiêu do hệ thống tự đo.", italic=True, size=12,
                     align=center)

    para(doc, "")
    sign = doc.add_table(rows=1, cols=2)
    _set_widths(sign, [TEXT_W * 0.5, TEXT_W * 0.5])
    left, right = sign.rows[0].cells
    p = left.paragraphs[0]
    run = p.add_run("Nơi nhận:")
    run.bold, run.italic, run.font.size = True, True, Pt(12)
    for line in _recipients(data):
        para(left, f"- {line}", size=11, after=0)
    for i, line in enumerate(data.signer_lines):
        if i == 0:
            right.paragraphs[0].alignment = center
            r = right.paragraphs[0].add_run(line)
            r.bold, r.font.size = True, Pt(13)
        else:
            para(right, line, bold=True, size=13, align=center, after=0)
    for _ in range(4):
        para(right, "", after=0)
    para(right, data.texts.get("signer") or "", bold=True, size=14, align=center)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# -- PDF --------------------------------------------------------------------------


def _font_cache_dir():
    import os
    import tempfile
    from pathlib import Path

    base = os.environ.get("LANTOA_FONT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "lantoa", "fonts")
    for folder in (Path(base), Path(tempfile.gettempdir()) / "lantoa-fonts"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise OSError("no writable font cache folder")


_FONT_FILES: dict[str, str] = {}


def pdf_font_files() -> dict[str, str]:
    """Noto Serif (pip package fontpkg-noto-serif, a variable font) as four static
    instances (regular, bold, italic, bold italic). Instancing takes seconds per style,
    so the files are made once and kept in a cache folder (LANTOA_FONT_CACHE, else
    ~/.cache/lantoa/fonts), named after the package version, written atomically."""
    import importlib.metadata
    import os
    import uuid

    if _FONT_FILES:
        return dict(_FONT_FILES)
    import fontpkg_noto_serif as ns

    files = ns.ROOT / "files"
    version = importlib.metadata.version("fontpkg-noto-serif")
    upright, italic = files / "NotoSerif[wdth,wght].ttf", files / "NotoSerif-Italic[wdth,wght].ttf"
    styles = {"": (upright, 400), "B": (upright, 700), "I": (italic, 400), "BI": (italic, 700)}
    cache = _font_cache_dir()
    out = {}
    for style, (source, weight) in styles.items():
        target = cache / f"NotoSerif-{version}-{style or 'R'}.ttf"
        if not target.exists():
            from fontTools.ttLib import TTFont
            from fontTools.varLib import instancer

            font = instancer.instantiateVariableFont(TTFont(str(source)), {"wght": weight, "wdth": 100})
            part = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            font.save(str(part))
            os.replace(part, target)
        out[style] = str(target)
    _FONT_FILES.update(out)
    return out


def to_pdf(data: ReportData) -> bytes:
    import logging

    from fpdf import FPDF
    from fpdf.fonts import FontFace

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter

    class Doc(FPDF):
        def header(self):  # page numbers centred at the top from page 2
            if self.page_no() > 1:
                self.set_y(10)
                self.set_font(PDF_FONT, "", 13)
                self.cell(0, 6, str(self.page_no()), align="C")
                self.set_y(MARGIN_TOP)

    pdf = Doc(format="A4", unit="mm")
    pdf.set_margins(MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT)
    pdf.set_auto_page_break(True, MARGIN_BOTTOM)
    for style, path in pdf_font_files().items():
        pdf.add_font(PDF_FONT, style, path)
    pdf.set_title(f"Báo cáo năm {data.plan.year}")
    pdf.set_subject(f"Phông chữ: {PDF_FONT} (có dấu tiếng Việt đầy đủ), nhúng trong tệp")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    lw, rw = HEAD_LEFT, HEAD_RIGHT
    lh = 5.6
    y0 = pdf.get_y()
    if data.superior:
        pdf.set_font(PDF_FONT, "", 11.5)
        pdf.multi_cell(lw, lh, data.superior, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(PDF_FONT, "B", 11.5)
    for line in data.issuer_lines:
        pdf.multi_cell(lw, lh, line, align="C", new_x="LEFT", new_y="NEXT")
    y = pdf.get_y() + 0.6
    pdf.line(pdf.l_margin + lw * 0.3, y, pdf.l_margin + lw * 0.7, y)
    pdf.set_y(y + 2)
    pdf.set_font(PDF_FONT, "", 12.5)
    pdf.multi_cell(lw, 6.5, data.number_line, align="C", new_x="LEFT", new_y="NEXT")
    y_left = pdf.get_y()
    x_right = pdf.l_margin + lw
    pdf.set_xy(x_right, y0)
    size = 11.5
    pdf.set_font(PDF_FONT, "B", size)
    while pdf.get_string_width("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM") > rw - 2 and size > 9:
        size -= 0.5
        pdf.set_font(PDF_FONT, "B", size)
    pdf.cell(rw, lh, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(PDF_FONT, "B", 12.5)
    motto = "Độc lập - Tự do - Hạnh phúc"
    pdf.cell(rw, lh + 0.5, motto, align="C", new_x="LEFT", new_y="NEXT")
    mw = pdf.get_string_width(motto)
    y = pdf.get_y() + 0.6
    pdf.line(x_right + (rw - mw) / 2, y, x_right + (rw + mw) / 2, y)
    pdf.set_xy(x_right, y + 2)
    pdf.set_font(PDF_FONT, "I", 12.5)
    pdf.multi_cell(rw, 6.5, data.date_line, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(y_left, pdf.get_y()) + 6)
    pdf.set_font(PDF_FONT, "B", 13.5)
    pdf.cell(width, 7, "BÁO CÁO", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width, 6.5, data.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(PDF_FONT, "", BODY_PT)
    if data.unit is not None and data.report_to is not None:
        pdf.multi_cell(width, 7, f"Kính gửi: {unit_names.official_name(data.report_to)}.", align="C",
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    def text(body: str, style: str = "", size: float = BODY_PT):
        pdf.set_font(PDF_FONT, style, size)
        for line in body.splitlines() or [""]:
            pdf.set_x(pdf.l_margin)
            pdf.multi_cell(width, 6.2, ("       " + line) if line else "", align="J", new_x="LMARGIN",
                           new_y="NEXT")
        pdf.ln(1)

    if data.plan.basis:
        text(f"Căn cứ {data.plan.basis}.")
    text(data.period_line, "I")

    def table(header: list[str], rows: list[list[str]], widths: list[float]):
        pdf.set_font(PDF_FONT, "", 11)
        with pdf.table(col_widths=widths, headings_style=FontFace(emphasis="BOLD"), line_height=5.2,
                       width=width, align="LEFT", text_align="LEFT", repeat_headings=1) as t:
            t.row(header)
            for r in rows:
                t.row([plain_text(v) for v in r])
        pdf.ln(2)
        pdf.set_font(PDF_FONT, "", BODY_PT)

    for kind, payload in _sections(data):
        if kind == "heading":
            pdf.ln(2)
            pdf.set_font(PDF_FONT, "B", BODY_PT)
            pdf.multi_cell(width, 6.5, payload, new_x="LMARGIN", new_y="NEXT")
        elif kind == "subheading":
            text(payload, "BI")
        elif kind == "text":
            text(payload)
        elif kind == "italic":
            text(payload, "I", 12)
        elif kind == "table":
            table(*payload)
        elif kind == "chart":
            pdf.image(io.BytesIO(_chart(data)), w=width)
        elif kind == "trends":
            trends = _trend_charts(data)
            half = (width - 4) / 2
            for i, png in enumerate(trends):
                if i % 2 == 0:
                    if pdf.get_y() + half * 300 / 640 > pdf.h - pdf.b_margin:
                        pdf.add_page()
                    y = pdf.get_y()
                pdf.image(io.BytesIO(png), x=pdf.l_margin + (i % 2) * (half + 4), y=y, w=half)
                if i % 2 == 1 or i == len(trends) - 1:
                    pdf.set_y(y + half * 300 / 640 + 2)
    pdf.ln(6)
    if pdf.get_y() > pdf.h - pdf.b_margin - 50:
        pdf.add_page()
    y0 = pdf.get_y()
    half = width / 2
    pdf.set_font(PDF_FONT, "BI", 12)
    pdf.cell(half, 6, "Nơi nhận:", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(PDF_FONT, "", 11)
    for line in _recipients(data):
        pdf.multi_cell(half, 5, f"- {line}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(pdf.l_margin + half, y0)
    pdf.set_font(PDF_FONT, "B", 13)
    for line in data.signer_lines:
        pdf.cell(half, 6.5, line, align="C", new_x="LEFT", new_y="NEXT")
    pdf.ln(22)
    pdf.set_x(pdf.l_margin + half)
    pdf.set_font(PDF_FONT, "B", 13.5)
    pdf.multi_cell(half, 6.5, data.texts.get("signer") or "", align="C")
    return bytes(pdf.output())


def yearly_report(session: Session, plan: Plan, unit: OrgUnit | None, fmt: str = "docx", *,
                  now: datetime | None = None, day: date | None = None) -> bytes:
    data = build_report(session, plan, unit, now=now, day=day)
    return to_pdf(data) if fmt == "pdf" else to_docx(data)


__all__ = ["Activity", "ReportData", "TaskStatus", "activity_figures", "build_report", "to_docx", "to_pdf",
           "yearly_report"]
