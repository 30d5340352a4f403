"""The yearly report as a document a department can sign (Decree 30/2020/NĐ-CP):
page, margins, fonts, header block (province, department, commune), grid = cell
widths, page numbers, repeated table headers; LibreOffice's rendering; the app's
PDF with the embedded serif; the system's figures in the report."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from core.models import OrgUnit
from core.timeutil import utcnow
from tests._require import require_executable
from tests.helpers import login
from tests.measure_helpers import add_account, add_delivery, setup_world

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@pytest.fixture
def world(app, monkeypatch):
    return setup_world(app, monkeypatch)


def report(runner, tmp_path, year, unit=None, fmt="docx", day="2026-12-10"):
    out = tmp_path / f"r-{unit or 'all'}.{fmt}"
    args = ["report", "yearly", "--year", str(year), "--out", str(out), "--date", day]
    if unit:
        args += ["--unit", unit]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return out


def open_doc(path):
    from docx import Document

    return Document(path if isinstance(path, io.BytesIO) else str(path))


def header_cells(doc) -> tuple[list[str], list[str]]:
    left, right = doc.tables[0].rows[0].cells
    return [p.text for p in left.paragraphs if p.text], [p.text for p in right.paragraphs if p.text]


def all_text(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        for row in t.rows:
            for c in row.cells:
                parts += [p.text for p in c.paragraphs]
    return "\n".join(parts)


def twips(el, tag):
    return int(el.get(f"{W}{tag}"))


def test_docx_page_margins_fonts_grid_page_field_and_headers(app, runner, world, tmp_path):
    from docx.shared import Mm

    year = world["year"]
    province = open_doc(report(runner, tmp_path, year))
    sec = province.sections[0]
    # A4 and Decree 30 margins (top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm)
    assert abs(sec.page_width - Mm(210)) < Mm(0.5) and abs(sec.page_height - Mm(297)) < Mm(0.5)
    assert Mm(20) <= sec.top_margin <= Mm(25) and Mm(20) <= sec.bottom_margin <= Mm(25)
    assert Mm(30) <= sec.left_margin <= Mm(35) and Mm(15) <= sec.right_margin <= Mm(20)
    normal = province.styles["Normal"]
    assert normal.font.name == "Times New Roman" and 13 <= normal.font.size.pt <= 14
    rfonts = normal.element.rPr.rFonts
    assert rfonts.get(f"{W}hAnsi") == "Times New Roman" and rfonts.get(f"{W}cs") == "Times New Roman"
    # every table: fixed layout, each w:gridCol equal to the w:tcW of the cells of its column
    for table in province.tables:
        grid = [twips(c, "w") for c in table._tbl.tblGrid.findall(f"{W}gridCol")]
        for row in table.rows:
            widths = [twips(c._tc.tcPr.find(f"{W}tcW"), "w") for c in row.cells]
            assert widths == grid
        assert table._tbl.tblPr.find(f"{W}tblLayout").get(f"{W}type") == "fixed"
    head_grid = [twips(c, "w") for c in province.tables[0]._tbl.tblGrid.findall(f"{W}gridCol")]
    text_width = sec.page_width - sec.left_margin - sec.right_margin
    assert abs(sum(head_grid) - text_width / 635) < 30  # EMU -> twips
    # the page number: a PAGE field in the header, centred; the first page's header is different (empty)
    assert sec.different_first_page_header_footer
    header_xml = sec.header._element.xml
    assert "PAGE" in header_xml and "fldChar" in header_xml and 'w:val="center"' in header_xml
    assert "PAGE" not in sec.first_page_header._element.xml
    # table header rows repeat on the next page
    data_tables = [t for t in province.tables[1:] if t.style is not None and t.style.name == "Table Grid"]
    assert data_tables and all(t.rows[0]._tr.trPr.find(f"{W}tblHeader") is not None for t in data_tables)
    # consolidated: Sở KH&CN under the province's People's Committee, its symbol, its place
    left, right = header_cells(province)
    assert left[0] == "UBND TỈNH SÓC TRĂNG" and left[1] == "SỞ KHOA HỌC VÀ CÔNG NGHỆ"
    assert left[-1].startswith("Số:") and left[-1].endswith("/BC-SKHCN")
    assert right[0] == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and right[1] == "Độc lập - Tự do - Hạnh phúc"
    assert right[2] == "Sóc Trăng, ngày 10 tháng 12 năm 2026"
    # the rules: a bottom border under the agency name and under the Tiêu ngữ, never an underline
    cells = province.tables[0].rows[0].cells
    for cell, text in ((cells[0], "SỞ KHOA HỌC VÀ CÔNG NGHỆ"), (cells[1], "Độc lập - Tự do - Hạnh phúc")):
        paragraphs = cell.paragraphs
        i = next(n for n, p in enumerate(paragraphs) if p.text == text)
        rule = paragraphs[i + 1]  # an empty paragraph right under it with a bottom border, shorter than the cell
        assert not rule.text and rule._p.pPr.find(f"{W}pBdr/{W}bottom") is not None
        assert rule.paragraph_format.left_indent > 0 and rule.paragraph_format.right_indent > 0
        assert not any(r.underline for r in paragraphs[i].runs)
    place = next(p for p in cells[1].paragraphs if p.text.startswith("Sóc Trăng, ngày"))
    assert all(r.italic for r in place.runs)
    assert all(r.font.size.pt == 12 and r.bold for r in cells[1].paragraphs[0].runs)

    # a department: its own name and official abbreviation (SGDĐT, not initials of "và")
    dept = open_doc(report(runner, tmp_path, year, "so-gddt"))
    left, right = header_cells(dept)
    assert left[:2] == ["UBND TỈNH SÓC TRĂNG", "SỞ GIÁO DỤC VÀ ĐÀO TẠO"] and left[-1].endswith("/BC-SGDĐT")
    assert right[2].startswith("Sóc Trăng, ngày 10 tháng 12 năm 2026")
    assert "của Sở Giáo dục và Đào tạo" in all_text(dept)

    # a commune: its People's Committee, never its district; its own place; lower case mid-sentence
    commune = open_doc(report(runner, tmp_path, year, "xa-lac-hoa"))
    left, right = header_cells(commune)
    assert left[:2] == ["ỦY BAN NHÂN DÂN", "XÃ LẠC HÒA"] and left[-1].endswith("/BC-UBND")
    assert "THỊ XÃ VĨNH CHÂU" not in "\n".join(left)
    assert right[2] == "Lạc Hòa, ngày 10 tháng 12 năm 2026"
    text = all_text(commune)
    assert "của Ủy ban nhân dân xã Lạc Hòa" in text and "của Xã" not in text
    assert "Kỳ báo cáo: từ ngày 01/01/2026 đến ngày 10/12/2026" in text
    assert "TM. ỦY BAN NHÂN DÂN" in text and "CHỦ TỊCH" in text and "Nơi nhận:" in text
    for heading in ("V. KINH PHÍ THỰC HIỆN", "VI. PHƯƠNG HƯỚNG, NHIỆM VỤ NĂM 2027", "(hệ thống)"):
        assert heading in text


def test_unit_data_overrides_the_derived_names(app, runner, world, tmp_path):
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "so-vhttdl")).one()
        unit.symbol, unit.place_name = "SVHTTDL-X", "Phú Lợi"
        unit.superior_name = "ỦY BAN NHÂN DÂN TỈNH SÓC TRĂNG"
        s.add(unit)
    left, right = header_cells(open_doc(report(runner, tmp_path, world["year"], "so-vhttdl")))
    assert left[0] == "ỦY BAN NHÂN DÂN TỈNH SÓC TRĂNG" and left[-1].endswith("/BC-SVHTTDL-X")
    assert right[2].startswith("Phú Lợi, ngày")
    result = runner.invoke(args=["report", "yearly", "--year", str(world["year"]), "--date", "10/12/2026",
                                 "--out", str(tmp_path / "x.docx")])
    assert result.exit_code != 0 and not (tmp_path / "x.docx").exists()


def test_libreoffice_keeps_the_quoc_hieu_on_one_line_and_numbers_pages(app, runner, world, tmp_path):
    soffice = require_executable("soffice", "libreoffice-writer-nogui")
    require_executable("pdftotext", "poppler-utils")
    path = report(runner, tmp_path, world["year"], "xa-lac-hoa")
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(path)], check=True, capture_output=True, timeout=180)
    pdf = path.with_suffix(".pdf")
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                           text=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 2
    assert any("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in line for line in pages[0].splitlines())
    # page numbers at the top from page 2, none on page 1
    for n, page in enumerate(pages[1:], start=2):
        assert page.strip().splitlines()[0].strip() == str(n), page[:200]
    assert pages[0].strip().splitlines()[0].strip() != "1"


def test_app_pdf_embeds_the_serif_with_the_same_margins(app, runner, world, tmp_path):
    pdffonts = require_executable("pdffonts", "poppler-utils")
    require_executable("pdftotext", "poppler-utils")
    path = report(runner, tmp_path, world["year"], "xa-lac-hoa", fmt="pdf")
    fonts = subprocess.run([pdffonts, str(path)], check=True, capture_output=True, text=True).stdout
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all("NotoSerif" in line for line in rows), fonts
    assert all(re.search(r"\byes\s+yes\s+yes\b", line) for line in rows), fonts  # embedded, subset, unicode
    # the left edge of the text is the 30 mm margin, the number of page 2 is centred at the top
    bbox = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "2", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    pages = bbox.split("<page ")[1:]
    xs = [float(x) for x in re.findall(r'xMin="([\d.]+)"', pages[0])]
    assert abs(min(xs) * 25.4 / 72 - 30) < 1.5
    xmax = [float(x) for x in re.findall(r'xMax="([\d.]+)"', pages[0])]
    assert max(xmax) * 25.4 / 72 <= 210 - 15 + 0.5
    first = re.search(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>2</word>', pages[1])
    assert first is not None and float(first.group(2)) * 25.4 / 72 < 20
    centre = (float(first.group(1)) + float(first.group(3))) / 2 * 25.4 / 72
    assert abs(centre - (30 + (210 - 30 - 15) / 2)) < 2


def _activity(app, world):
    """Deliveries by channel and status, SMS by carrier, a confirmed broadcast, kit downloads,
    QR scans and feedback of the commune Lạc Hòa, plus noise in another district."""
    from campaigns.measure.models import Feedback, FeedbackStatus
    from campaigns.models import Campaign, Kit, KitDownload, LinkScan
    from scheduler.models import Delivery
    from scheduler.sms.models import SmsMessage, SmsWave
    from scheduler.states import Status

    fb = add_account(app, "facebook", "xa-lac-hoa")
    loud = add_account(app, "loudspeaker", "xa-lac-hoa")
    sms = add_account(app, "sms_partner", "xa-lac-hoa")
    other = add_account(app, "facebook", "ke-sach")
    posts = [add_delivery(app, fb, f"Bài {i}") for i in range(3)]
    casts = [add_delivery(app, loud, f"Bản tin {i}") for i in range(2)]
    wave = add_delivery(app, sms, "Tin nhắn")
    noise = [add_delivery(app, other, f"Khác {i}") for i in range(4)]
    now = utcnow()
    with app.app_context(), session_scope(app) as s:
        for did, status in zip(posts + casts + noise, [Status.sent, Status.sent, Status.failed, Status.sent,
                                                       Status.sent] + [Status.sent] * 4, strict=True):
            d = s.get(Delivery, did)
            d.status, d.sent_at = status, now
            s.add(d)
        d = s.get(Delivery, casts[0])
        d.confirmed_at = now
        s.add(d)
        d = s.get(Delivery, wave)
        d.status = Status.sent
        s.add(d)
        s.add(SmsWave(delivery_id=wave, text="Tin nhắn", segments=2))
        for n, (carrier, status) in enumerate([("viettel", "delivered"), ("viettel", "delivered"),
                                               ("viettel", "sent"), ("mobifone", "failed"),
                                               ("mobifone", "delivered"), ("mobifone", "suppressed")]):
            s.add(SmsMessage(delivery_id=wave, phone=f"09{n:08d}", carrier=carrier, status=status, segments=2))
        campaign = s.exec(select(Campaign)).first()
        unit_id = world["units"]["xa-lac-hoa"]
        kit = Kit(campaign_id=campaign.id, unit_id=unit_id, status="ready",
                  contents=[{"name": "1. Ấn phẩm in/Áp phích A3 – Xã Lạc Hòa.pdf", "kind": "print", "size": 1}])
        s.add(kit)
        s.flush()
        for _ in range(3):
            s.add(KitDownload(kit_id=kit.id, at=now))
        for _ in range(4):
            s.add(LinkScan(campaign_id=campaign.id, unit_id=unit_id, at=now))
        s.add(LinkScan(campaign_id=campaign.id, unit_id=world["units"]["ke-sach"], at=now))
        for i in range(3):
            s.add(Feedback(created_at=now - timedelta(hours=i), service="khac", satisfaction=4, unit_id=unit_id,
                           status=FeedbackStatus.handled if i == 0 else FeedbackStatus.new,
                           handled_at=now if i == 0 else None))
        return {"wave": wave, "campaign": campaign.id}


def test_report_has_the_systems_figures_of_its_scope(app, runner, world, tmp_path):
    from docx import Document

    _activity(app, world)
    year = world["year"]
    commune = Document(str(report(runner, tmp_path, year, "xa-lac-hoa")))
    text = all_text(commune)
    assert "Bài đăng đã gửi trên các kênh trực tuyến: 2 (hệ thống)." in text
    assert "Tin nhắn SMS đã gửi: 4, đã đến máy người nhận: 3 (hệ thống)." in text
    assert "Lượt phát trên loa truyền thanh đã xác nhận: 1 (hệ thống)." in text
    assert "Bộ tài liệu đã tải về: 1 bộ, 3 lượt tải (hệ thống)." in text
    assert "Lượt quét mã QR trên ấn phẩm: 4 (hệ thống)." in text
    assert "Ý kiến người dân đã nhận: 3, đã tiếp thu, xử lý: 1 (hệ thống)." in text
    rows = [[c.text for c in r.cells] for t in commune.tables for r in t.rows]
    assert ["Trang Facebook", "3", "2", "1", "0"] in rows
    assert ["Viettel", "3", "2", "0"] in rows and ["MobiFone", "1", "1", "1"] in rows
    # the budget in the report: SMS estimate = parts to send × price (5 recipients × 2 parts × 350)
    budget = {r[1]: r for r in rows if len(r) == 4 and r[0].isdigit()}
    assert budget["Tin nhắn SMS"][2] == "3.500" and budget["Tin nhắn SMS"][3] == "2.800"
    assert budget["In ấn phẩm"][2] == "120.000"  # 20 copies × 6.000 of the kit's A3 poster
    # the consolidated report counts the other district's posts too
    province = all_text(Document(str(report(runner, tmp_path, year))))
    assert "Bài đăng đã gửi trên các kênh trực tuyến: 6 (hệ thống)." in province
    assert "Lượt quét mã QR trên ấn phẩm: 5 (hệ thống)." in province


def test_report_page_edits_new_sections_and_downloads_with_a_chosen_date(app, world):
    year = world["year"]
    commune = app.test_client()
    login(commune, world["users"]["commune"])
    page = commune.get(f"/measure/report?year={year}")
    assert page.status_code == 200 and 'name="highlights"' in page.get_data(as_text=True)
    r = commune.post(f"/measure/report?year={year}", data={
        "highlights": "Tổ chức hội thi “Chuyển đổi số”.", "direction": "Mở rộng loa thông minh tới 100% ấp."})
    assert r.status_code == 302
    r = commune.get(f"/measure/report/download?year={year}&format=docx&date={year}-12-14")
    assert r.status_code == 200
    doc = open_doc(io.BytesIO(r.data))
    text = all_text(doc)
    assert "Tổ chức hội thi “Chuyển đổi số”." in text and "Mở rộng loa thông minh tới 100% ấp." in text
    assert f"Lạc Hòa, ngày 14 tháng 12 năm {year}" in text
    r = commune.get(f"/measure/report/download?year={year}&format=docx&date=14-12-{year}")
    assert r.status_code == 302  # a clear message on the report page, no 500
    r = commune.get(f"/measure/report/download?year={year}&format=pdf&date={year}-12-14")
    assert r.status_code == 200 and r.data.startswith(b"%PDF-")


def test_names_of_the_2025_structure(app, world):
    """After the 2025 reorganisation: a ward of Cần Thơ issues as its People's Committee at its
    own place; Sở KH&CN now answers to the city's People's Committee."""
    from campaigns.demo import seed_structure_2025
    from core import unit_names

    with app.app_context(), session_scope(app) as s:
        seed_structure_2025(s)
        units = {u.id: u for u in s.exec(select(OrgUnit)).all()}
        by_code = {u.code: u for u in units.values()}

        def parent_of(u):
            return units.get(u.parent_id)

        ward = by_code["phuong-ninh-kieu"]
        assert unit_names.issuer_lines(ward) == ["ỦY BAN NHÂN DÂN", "PHƯỜNG NINH KIỀU"]
        assert unit_names.symbol(ward) == "UBND" and unit_names.superior_name(ward, parent_of) == ""
        assert unit_names.place_name(ward, parent_of) == "Ninh Kiều"
        khcn = by_code["so-khcn"]
        assert unit_names.superior_name(khcn, parent_of) == "UBND THÀNH PHỐ CẦN THƠ"
        assert unit_names.place_name(khcn, parent_of) == "Cần Thơ" and unit_names.symbol(khcn) == "SKHCN"
        assert unit_names.official_name(ward) == "Ủy ban nhân dân phường Ninh Kiều"
