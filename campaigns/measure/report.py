"""The yearly report (due 15/12) as DOCX and PDF, per unit or consolidated.

Layout follows the usual Vietnamese administrative document: issuing body and
number on the left, the national motto and place/date on the right, then the
title and sections mirroring the plan: I. results per task, II. figures
against targets (with a chart), III. difficulties, IV. proposals; recipients
and the signature block last. Free-text sections come from ReportText rows.
"""

from __future__ import annotations

import io
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
from core.models import OrgUnit
from core.tabular import plain_text
from core.timeutil import utcnow
from core.units import subtree_ids

DEFAULT_TEXT = {
    "results": "(Đơn vị bổ sung đánh giá chung về kết quả thực hiện trong năm.)",
    "difficulties": "(Đơn vị nêu khó khăn, vướng mắc trong quá trình thực hiện.)",
    "proposals": "(Đơn vị nêu đề xuất, kiến nghị với Ủy ban nhân dân tỉnh và các cơ quan liên quan.)",
}


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

    @property
    def place(self) -> str:
        name = self.province.name if self.province else ""
        for prefix in ("Tỉnh ", "Thành phố "):
            if name.startswith(prefix):
                return name[len(prefix):]
        return name

    @property
    def issuer_name(self) -> str:
        if self.unit is not None:
            return self.unit.name
        return self.issuer.name if self.issuer else "Sở Khoa học và Công nghệ"

    @property
    def abbreviation(self) -> str:
        words = [w for w in self.issuer_name.replace(",", " ").split() if w]
        return "".join(w[0] for w in words).upper()[:10]

    @property
    def number_line(self) -> str:
        number = self.texts.get("number") or "      "
        return f"Số: {number}/BC-{self.abbreviation}"

    @property
    def date_line(self) -> str:
        d = self.day
        return f"{self.place}, ngày {d.day:02d} tháng {d.month:02d} năm {d.year}"

    @property
    def title(self) -> str:
        who = " (tổng hợp toàn tỉnh)" if self.unit is None else f" của {self.unit.name}"
        return f"Kết quả thực hiện {self.plan.title[0].lower()}{self.plan.title[1:]} năm {self.plan.year}{who}"


def build_report(session: Session, plan: Plan, unit: OrgUnit | None = None, *,
                 now: datetime | None = None) -> ReportData:
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
    return ReportData(plan=plan, unit=unit, issuer=report_to if unit is None else unit, parent=parent,
                      province=province, report_to=report_to, day=local_today(now), results=results,
                      tasks=rows, unit_summary=unit_summary, texts=texts)


def fmt_value(value: float | None) -> str:
    """64.5 -> "64,5%" (the report is Vietnamese: decimal comma)."""
    return "—" if value is None else f"{fmt_num(value)}%"


def verdict(r: TargetResult) -> str:
    """Đạt only when every unit that owes the figure reported ("Chưa đủ số liệu" otherwise)."""
    return r.verdict


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
    to = data.report_to.name if data.report_to else "Sở Khoa học và Công nghệ"
    return [f"{to} (để tổng hợp);", "Lưu: VT."]


# -- DOCX -------------------------------------------------------------------------


def to_docx(data: ReportData) -> bytes:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
    sec.top_margin, sec.bottom_margin = Cm(2), Cm(2)
    sec.left_margin, sec.right_margin = Cm(3), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)

    def para(cell_or_doc, text: str, *, bold=False, italic=False, size=None, align=None, underline=False):
        p = cell_or_doc.add_paragraph()
        run = p.add_run(plain_text(text))  # user text: no control characters (XML)
        run.bold, run.italic, run.underline = bold, italic, underline
        if size:
            run.font.size = Pt(size)
        if align is not None:
            p.alignment = align
        p.paragraph_format.space_after = Pt(2)
        return p

    center = WD_ALIGN_PARAGRAPH.CENTER
    head = doc.add_table(rows=1, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = head.rows[0].cells
    left.width, right.width = Cm(6.5), Cm(9.5)
    left.paragraphs[0].text = ""
    upper = data.parent.name.upper() if data.parent is not None else (
        "ỦY BAN NHÂN DÂN " + data.place.upper() if data.unit is None else "")
    if upper:
        para(left, upper, size=12, align=center)
    para(left, data.issuer_name.upper(), bold=True, size=12, align=center)
    para(left, data.number_line, size=13, align=center)
    para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, size=12, align=center)
    para(right, "Độc lập - Tự do - Hạnh phúc", bold=True, size=13, align=center, underline=True)
    para(right, data.date_line, italic=True, size=13, align=center)

    para(doc, "")
    para(doc, "BÁO CÁO", bold=True, size=14, align=center)
    para(doc, data.title, bold=True, size=13, align=center)
    if data.unit is not None and data.report_to is not None:
        para(doc, f"Kính gửi: {data.report_to.name}.", align=center)
    para(doc, f"Căn cứ {data.plan.basis}." if data.plan.basis else "")

    def heading(text: str):
        para(doc, text, bold=True, size=13)

    def table(header: list[str], rows: list[list[str]], widths: list[float]):
        t = doc.add_table(rows=1, cols=len(header))
        t.style = "Table Grid"
        for i, h in enumerate(header):
            cell = t.rows[0].cells[i]
            cell.text = ""
            cell.paragraphs[0].add_run(h).bold = True
        for r in rows:
            cells = t.add_row().cells
            for i, v in enumerate(r):
                cells[i].text = plain_text(v)
        for row in t.rows:
            for i, w in enumerate(widths):
                row.cells[i].width = Cm(w)
                for p in row.cells[i].paragraphs:
                    for run in p.runs:
                        run.font.size = Pt(11)
        return t

    heading("I. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ")
    for line in (data.texts.get("results") or DEFAULT_TEXT["results"]).splitlines():
        para(doc, line)
    if data.unit is None:
        table(["Đơn vị", "Hoàn thành", "Đang thực hiện", "Chưa bắt đầu", "Quá hạn"],
              [[u.name, str(c["done"]), str(c["in_progress"]), str(c["not_started"]), str(c["overdue"])]
               for u, c in data.unit_summary], [6.0, 2.5, 2.5, 2.5, 2.5])
    else:
        own = [r for r in data.tasks if r.unit.id == data.unit.id]
        table(["Mục", "Nhiệm vụ", "Thời hạn", "Tình trạng", "Ghi chú"],
              [[r.task.code, r.task.title, r.task.due.strftime("%d/%m/%Y"), TASK_STATUS_LABELS[r.status],
                r.note] for r in own], [1.5, 6.5, 2.2, 2.5, 3.3])

    heading("II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU")
    table(["Mã", "Chỉ tiêu", "Mục tiêu", "Kết quả", "Đánh giá", "Cơ sở số liệu"],
          [[r.target.code, r.target.title, f"{fmt_value(r.goal)} ({r.target.due_year})", fmt_value(r.value),
            verdict(r), r.detail] for r in data.results], [1.2, 6.5, 2.0, 1.8, 2.0, 2.5])
    para(doc, "")
    doc.add_picture(io.BytesIO(_chart(data)), width=Cm(16))
    para(doc, f"Biểu đồ: kết quả so với mục tiêu năm {data.plan.year} (số liệu đến ngày "
              f"{data.day.strftime('%d/%m/%Y')}).", italic=True, size=11, align=center)
    trends = _trend_charts(data)
    if trends:
        grid = doc.add_table(rows=(len(trends) + 1) // 2, cols=2)
        for i, png in enumerate(trends):
            cell = grid.rows[i // 2].cells[i % 2]
            cell.paragraphs[0].add_run().add_picture(io.BytesIO(png), width=Cm(7.8))
        para(doc, "Diễn biến theo tháng của các chỉ tiêu do hệ thống tự đo.", italic=True, size=11, align=center)

    heading("III. KHÓ KHĂN, VƯỚNG MẮC")
    for line in (data.texts.get("difficulties") or DEFAULT_TEXT["difficulties"]).splitlines():
        para(doc, line)
    heading("IV. ĐỀ XUẤT, KIẾN NGHỊ")
    for line in (data.texts.get("proposals") or DEFAULT_TEXT["proposals"]).splitlines():
        para(doc, line)

    sign = doc.add_table(rows=1, cols=2)
    left, right = sign.rows[0].cells
    left.paragraphs[0].text = ""
    para(left, "Nơi nhận:", bold=True, italic=True, size=12)
    for line in _recipients(data):
        para(left, f"- {line}", size=11)
    right.paragraphs[0].text = ""
    para(right, "THỦ TRƯỞNG ĐƠN VỊ" if data.unit is not None else "GIÁM ĐỐC", bold=True, align=center)
    para(right, "(Ký, ghi rõ họ tên, đóng dấu)", italic=True, size=11, align=center)
    para(right, "\n\n")
    para(right, data.texts.get("signer") or "", bold=True, align=center)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# -- PDF --------------------------------------------------------------------------


def to_pdf(data: ReportData) -> bytes:
    import logging

    import fontpkg_be_vietnam_pro as vn
    from fpdf import FPDF

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 18, 18)
    pdf.set_auto_page_break(True, 18)
    files = vn.ROOT / "files"
    pdf.add_font("BVP", "", str(files / "BeVietnamPro-Regular.ttf"))
    pdf.add_font("BVP", "B", str(files / "BeVietnamPro-SemiBold.ttf"))
    pdf.add_font("BVP", "I", str(files / "BeVietnamPro-Italic.ttf"))
    pdf.add_page()
    pdf.set_title(f"Báo cáo năm {data.plan.year}")
    width = pdf.w - pdf.l_margin - pdf.r_margin
    lw = width * 0.42
    y0 = pdf.get_y()
    upper = data.parent.name.upper() if data.parent is not None else (
        "ỦY BAN NHÂN DÂN " + data.place.upper() if data.unit is None else "")
    pdf.set_font("BVP", "", 9)
    if upper:
        pdf.multi_cell(lw, 5, upper, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("BVP", "B", 9)
    pdf.multi_cell(lw, 5, data.issuer_name.upper(), align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("BVP", "", 10)
    pdf.multi_cell(lw, 6, data.number_line, align="C", new_x="LEFT", new_y="NEXT")
    y_left = pdf.get_y()
    pdf.set_xy(pdf.l_margin + lw, y0)
    pdf.set_font("BVP", "B", 9)
    pdf.multi_cell(width - lw, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("BVP", "B", 10)
    pdf.multi_cell(width - lw, 5, "Độc lập - Tự do - Hạnh phúc", align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("BVP", "I", 10)
    pdf.multi_cell(width - lw, 7, data.date_line, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(y_left, pdf.get_y()) + 6)
    pdf.set_font("BVP", "B", 13)
    pdf.cell(width, 8, "BÁO CÁO", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("BVP", "B", 11)
    pdf.multi_cell(width, 6, data.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("BVP", "", 10)
    if data.unit is not None and data.report_to is not None:
        pdf.cell(width, 7, f"Kính gửi: {data.report_to.name}.", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    def heading(text: str):
        pdf.ln(2)
        pdf.set_font("BVP", "B", 11)
        pdf.multi_cell(width, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("BVP", "", 10)

    def text(body: str):
        pdf.set_font("BVP", "", 10)
        for line in body.splitlines() or [""]:
            pdf.multi_cell(width, 5.5, line, new_x="LMARGIN", new_y="NEXT")

    def table(header: list[str], rows: list[list[str]], widths: list[float]):
        pdf.set_font("BVP", "", 8.5)
        with pdf.table(col_widths=widths, headings_style=FontFace(emphasis="BOLD"), line_height=4.6,
                       width=width, text_align="LEFT") as t:
            t.row(header)
            for r in rows:
                t.row(r)
        pdf.set_font("BVP", "", 10)

    heading("I. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ")
    text(data.texts.get("results") or DEFAULT_TEXT["results"])
    if data.unit is None:
        table(["Đơn vị", "Hoàn thành", "Đang thực hiện", "Chưa bắt đầu", "Quá hạn"],
              [[u.name, str(c["done"]), str(c["in_progress"]), str(c["not_started"]), str(c["overdue"])]
               for u, c in data.unit_summary], [6, 2, 2, 2, 2])
    else:
        own = [r for r in data.tasks if r.unit.id == data.unit.id]
        table(["Mục", "Nhiệm vụ", "Thời hạn", "Tình trạng", "Ghi chú"],
              [[r.task.code, r.task.title, r.task.due.strftime("%d/%m/%Y"), TASK_STATUS_LABELS[r.status],
                r.note] for r in own], [1.3, 6, 2, 2.2, 3])
    heading("II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU")
    table(["Mã", "Chỉ tiêu", "Mục tiêu", "Kết quả", "Đánh giá", "Cơ sở số liệu"],
          [[r.target.code, r.target.title, f"{fmt_value(r.goal)} ({r.target.due_year})", fmt_value(r.value),
            verdict(r), r.detail] for r in data.results], [1.2, 6, 1.8, 1.6, 1.8, 2.4])
    pdf.ln(3)
    pdf.image(io.BytesIO(_chart(data)), w=width)
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
    heading("III. KHÓ KHĂN, VƯỚNG MẮC")
    text(data.texts.get("difficulties") or DEFAULT_TEXT["difficulties"])
    heading("IV. ĐỀ XUẤT, KIẾN NGHỊ")
    text(data.texts.get("proposals") or DEFAULT_TEXT["proposals"])
    pdf.ln(6)
    y0 = pdf.get_y()
    pdf.set_font("BVP", "B", 9)
    pdf.cell(lw, 5, "Nơi nhận:", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("BVP", "", 8.5)
    for line in _recipients(data):
        pdf.multi_cell(lw, 4.5, f"- {line}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(pdf.l_margin + lw, y0)
    pdf.set_font("BVP", "B", 10)
    pdf.multi_cell(width - lw, 5, "THỦ TRƯỞNG ĐƠN VỊ" if data.unit is not None else "GIÁM ĐỐC", align="C",
                   new_x="LEFT", new_y="NEXT")
    pdf.set_font("BVP", "I", 9)
    pdf.multi_cell(width - lw, 5, "(Ký, ghi rõ họ tên, đóng dấu)", align="C", new_x="LEFT", new_y="NEXT")
    pdf.ln(18)
    pdf.set_x(pdf.l_margin + lw)
    pdf.set_font("BVP", "B", 10)
    pdf.multi_cell(width - lw, 5, data.texts.get("signer") or "", align="C")
    return bytes(pdf.output())


def yearly_report(session: Session, plan: Plan, unit: OrgUnit | None, fmt: str = "docx", *,
                  now: datetime | None = None) -> bytes:
    data = build_report(session, plan, unit, now=now)
    return to_pdf(data) if fmt == "pdf" else to_docx(data)


__all__ = ["ReportData", "TaskStatus", "build_report", "to_docx", "to_pdf", "yearly_report"]
