"""The yearly report: DOCX (python-docx opens it) and PDF, per unit and consolidated,
from the CLI, the web and the API; every target with its value; editable texts."""

from __future__ import annotations

import io

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login
from tests.measure_helpers import figure_form, headers, setup_world, target_id


@pytest.fixture
def world(app, monkeypatch):
    return setup_world(app, monkeypatch)


def doc_text(data: bytes) -> tuple[str, list[list[str]], object]:
    from docx import Document

    doc = Document(io.BytesIO(data))
    paragraphs = [p.text for p in doc.paragraphs]
    rows = []
    for table in doc.tables:
        for row in table.rows:
            cells = [c.text for c in row.cells]
            rows.append(cells)
            for c in row.cells:
                paragraphs += [p.text for p in c.paragraphs]
    return "\n".join(paragraphs), rows, doc


def targets(app, year):
    from campaigns.measure.models import Plan, PlanTarget

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).one()
        return s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all()


def test_cli_consolidated_docx_has_every_target_with_its_value(app, client, runner, world, tmp_path):
    year = world["year"]
    r = client.post("/api/v1/kpi-values", json={"target": "T14", "numerator": 645, "denominator": 1000,
                                                "evidence_url": "https://sogddt.example/bc"},
                    headers=headers(app, "admin"))
    assert r.status_code == 422 and "unit" in r.get_json()["error"]["fields"]  # admin must name a unit
    r = client.post("/api/v1/kpi-values", json={"target": "T14", "unit": "so-gddt", "numerator": 645, "denominator": 1000,
                                                "evidence_url": "https://sogddt.example/bc"},
                    headers=headers(app, "admin"))
    assert r.status_code == 201
    out = tmp_path / "bao-cao.docx"
    result = runner.invoke(args=["report", "yearly", "--year", str(year), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text, rows, doc = doc_text(out.read_bytes())
    # administrative layout
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Độc lập - Tự do - Hạnh phúc" in text
    assert "SỞ KHOA HỌC VÀ CÔNG NGHỆ" in text and "/BC-" in text
    assert "Sóc Trăng, ngày" in text and f"năm {year}" in text
    assert "BÁO CÁO" in text
    for heading in ("I. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ", "II. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU",
                    "III. KHÓ KHĂN, VƯỚNG MẮC", "IV. ĐỀ XUẤT, KIẾN NGHỊ", "Nơi nhận:"):
        assert heading in text
    by_code = {r[0]: r for r in rows if len(r) == 6}
    for t in targets(app, year):
        assert t.code in by_code, t.code
        assert by_code[t.code][1] == t.title
        assert by_code[t.code][2].startswith(f"{t.goal:g}%".replace(".", ","))
    assert by_code["T14"][3] == "64,5%" and by_code["T14"][4] == "Chưa đạt"
    assert by_code["T10"][3] == "—" and by_code["T10"][4] == "Chưa có số liệu"
    assert by_code["T03"][3] == "0%"
    # the bar chart and one monthly trend chart per measured target, embedded as images
    measured = [t for t in targets(app, year) if t.kind == "measured" and t.due_year == year]
    assert len(doc.inline_shapes) == 1 + len(measured) == 6
    # per-unit summary of tasks for the consolidated report
    assert any(r[0] == "Sở Giáo dục và Đào tạo" for r in rows)


def test_unit_report_with_edited_texts_docx_and_pdf(app, client, runner, world, tmp_path):
    year = world["year"]
    district = app.test_client()
    login(district, world["users"]["district"])
    t10 = target_id(app, year, "T10")
    district.post(f"/measure/units/tx-vinh-chau/figures/{t10}", data=figure_form("88", evidence_url="https://a.vn/x"))
    texts = {"number": "125", "results": "Đã tổ chức 12 buổi tuyên truyền.",
             "difficulties": "Thiếu loa ở ấp <Âu Thọ B> & cần thêm kinh phí.",
             "proposals": "Đề nghị hỗ trợ 20 cụm loa.", "signer": "Lâm Thị Sương"}
    r = district.post(f"/measure/report?year={year}", data=texts)
    assert r.status_code == 302
    other = app.test_client()
    login(other, world["users"]["other_district"])
    assert other.post(f"/measure/report?year={year}&unit=tx-vinh-chau", data=texts).status_code == 404
    r = district.get(f"/measure/report/download?year={year}&format=docx")
    assert r.status_code == 200 and r.mimetype.endswith("wordprocessingml.document")
    text, rows, _doc = doc_text(r.data)
    # a district's report is headed by its People's Committee (Decree 30), dated at its own place
    assert "ỦY BAN NHÂN DÂN\nTHỊ XÃ VĨNH CHÂU" in text and "Vĩnh Châu, ngày" in text
    assert "Số: 125/BC-UBND" in text and "Kính gửi: Sở Khoa học và Công nghệ." in text
    assert "Thiếu loa ở ấp <Âu Thọ B> & cần thêm kinh phí." in text  # text, not markup
    assert "Đề nghị hỗ trợ 20 cụm loa." in text and "Lâm Thị Sương" in text
    by_code = {r[0]: r for r in rows if len(r) == 6}
    assert by_code["T10"][3] == "88%" and by_code["T10"][4] == "Đạt"
    tasks = [r for r in rows if len(r) == 5 and r[0].startswith(("IV.", "VI."))]
    assert any(r[0] == "IV.2b" for r in tasks)  # the district's own tasks
    r = district.get(f"/measure/report/download?year={year}&format=pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF-") and len(r.data) > 10_000
    out = tmp_path / "vinh-chau.pdf"
    result = runner.invoke(args=["report", "yearly", "--year", str(year), "--unit", "tx-vinh-chau",
                                 "--out", str(out)])
    assert result.exit_code == 0 and out.read_bytes().startswith(b"%PDF-")


def test_report_text_limits_and_cli_errors(app, runner, world, tmp_path):
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    r = admin.post(f"/measure/report?year={world['year']}", data={"proposals": "x" * 20001})
    assert r.status_code == 422 and "20000" in r.get_data(as_text=True)
    result = runner.invoke(args=["report", "yearly", "--year", "1999", "--out", str(tmp_path / "x.docx")])
    assert result.exit_code != 0 and "Không có kế hoạch cho năm 1999" in result.output
    result = runner.invoke(args=["report", "yearly", "--year", str(world["year"]), "--unit", "khong-co",
                                 "--out", str(tmp_path / "x.docx")])
    assert result.exit_code != 0 and "khong-co" in result.output
    assert not (tmp_path / "x.docx").exists()
    # the consolidated report is for the province's monitors, not other communicators
    comm = app.test_client()
    login(comm, world["users"]["communicator"])
    assert comm.post(f"/measure/report?year={world['year']}", data={"proposals": "x"}).status_code == 403
