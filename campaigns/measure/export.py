"""The dashboard as an XLSX workbook (targets with monthly values, tasks, units).

Text cells follow the one rule of ``core/tabular.py``: plain string cells (a
task note ``=HYPERLINK(…)`` stays text, never a formula, and gets no prefix),
control characters stripped; times are Vietnam time (``dd/mm/yyyy HH:MM``)."""

from __future__ import annotations

import io

from sqlmodel import Session

from campaigns.measure import compute
from campaigns.measure.models import TASK_STATUS_LABELS, Plan
from campaigns.measure.report import verdict
from core.models import OrgUnit
from core.tabular import XLSX_DATETIME_FORMAT, append_row, local_datetime
from core.units import subtree_ids


def dashboard_xlsx(session: Session, plan: Plan, unit: OrgUnit | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    results = compute.evaluate_plan(session, plan, unit_id=unit.id if unit else None)
    scope = subtree_ids(session, unit.id) if unit else None
    rows = compute.task_rows(session, plan, unit_ids=scope)
    wb = Workbook()
    ws = wb.active
    ws.title = "Chỉ tiêu"
    months = [m for m in range(1, 13)]
    append_row(ws, [f"Kết quả chỉ tiêu năm {plan.year}" + (f" — {unit.name}" if unit else " — toàn tỉnh")])
    ws["A1"].font = Font(bold=True, size=13)
    header = ["Mã", "Mục", "Chỉ tiêu", "Loại", "Mục tiêu (%)", "Năm đạt", "Kết quả (%)", "Đánh giá",
              "Cơ sở số liệu"] + [f"T{m}" for m in months]
    append_row(ws, header)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in results:
        trend = dict(r.trend)
        append_row(ws, [r.target.code, r.target.section, r.target.title,
                   "Tự đo" if r.target.kind == "measured" else "Đơn vị nhập", r.goal, r.target.due_year,
                   r.value, verdict(r), r.detail] + [trend.get(m) for m in months])
    ws.column_dimensions["C"].width = 60
    ws.column_dimensions["I"].width = 24
    for row in ws.iter_rows(min_row=3):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A3"

    ws2 = wb.create_sheet("Nhiệm vụ")
    append_row(ws2, ["Mã", "Nhiệm vụ", "Đơn vị", "Thời hạn", "Tình trạng", "Ghi chú", "Cập nhật"])
    for cell in ws2[1]:
        cell.font = Font(bold=True)
    for t in rows:
        append_row(ws2, [t.task.code, t.task.title, t.unit.name, t.task.due, TASK_STATUS_LABELS[t.status],
                         t.note, local_datetime(t.updated_at)])
    ws2.column_dimensions["B"].width = 60
    ws2.column_dimensions["C"].width = 32
    for row in ws2.iter_rows(min_row=2):
        row[3].number_format = "DD/MM/YYYY"
        row[6].number_format = XLSX_DATETIME_FORMAT

    ws3 = wb.create_sheet("Đơn vị")
    append_row(ws3, ["Đơn vị", "Hoàn thành", "Đang thực hiện", "Chưa bắt đầu", "Quá hạn"])
    for cell in ws3[1]:
        cell.font = Font(bold=True)
    names = {t.unit.id: t.unit.name for t in rows}
    for uid, c in compute.unit_task_summary(rows).items():
        append_row(ws3, [names[uid], c["done"], c["in_progress"], c["not_started"], c["overdue"]])
    ws3.column_dimensions["A"].width = 40
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
