"""Every CSV and XLSX the app serves follows core/tabular.py: CSVs start with a
UTF-8 BOM and end every record with CRLF; in XLSX, phone columns are text
cells and no cell is a formula (user text is a plain string, without the CSV's
apostrophe); control characters in user text never make an export answer 500;
exported times are Vietnam time. The walkers find the serving endpoints in
``app.url_map``, so a new CSV/XLSX endpoint must be added to the tables here."""

from __future__ import annotations

import csv
import inspect
import io
import re

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.fakes.sms_app import (
    create_wave,
    csv_bytes,
    dispatch_once,
    make_account,
    partner_headers,
    seed_campaign,
    upload,
)
from tests.helpers import api_headers, login, make_user

FORMULA = '=HYPERLINK("http://evil.example","bấm vào đây")'
ROWS = [
    ("0981234567", "Nguyễn Văn An", "Phường 1"),
    ("0971112222", "Trần Văn Bảo", FORMULA),
    ("0912345678", "Lê Thị Cúc", "Dòng 1\nDòng 2, có \"ngoặc\""),
    ("@0903", "Số sai", "x"),  # rejected: its value starts a formula
    ("09x1234567", "Chữ cái", "x"),  # rejected
]

#: GET endpoints whose view mentions CSV/XLSX only as an upload format
UPLOAD_ONLY = {"sms.lists", "units.reorganise_view", "contests.questions"}
#: endpoints that serve files which are not tables we write (archives, images,
#: documents, files people uploaded -- served as they are)
NOT_TABLES = {
    "kits.download",
    "kits_api.kits_download",
    "media.asset_file",
    "media_api.assets_file",
    "media.public_file",
    "measure.trend_chart",
    "measure.figure_attachment",
    "measure.outside_file",
    "measure.feedback_qr",
    "measure_api.report_yearly",
    "measure.report_download",
    "press.evidence",
    "design.submission_file",
    "kits.khmer_reading_audio",
    "webfonts.font",
}
#: tables whose BOM/CRLF or text-cell checks live beside the part that serves them
TABLES_TESTED_ELSEWHERE = {
    "teams.supervision_csv": "tests/test_teams.py",
    "training.attendance_csv": "tests/test_contest_training.py",
    "contests.winners_xlsx": "tests/test_contests.py",
    "awards.year_xlsx": "tests/test_contest_awards.py",
}
WORDS = ("csv", "xlsx", "spreadsheet", "send_download", "send_file")


def _endpoints(app) -> set[str]:
    """GET endpoints that serve files: their rule or view source names a table
    format or a file sender."""
    found = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.endswith("static"):
            continue
        try:
            src = inspect.getsource(app.view_functions[rule.endpoint]).lower()
        except (OSError, TypeError):
            src = ""
        if any(w in src for w in WORDS) or rule.rule.lower().endswith((".csv", ".xlsx")):
            found.add(rule.endpoint)
    return found - UPLOAD_ONLY


def test_every_file_endpoint_is_walked_or_known_not_to_serve_tables(app):
    known = (set(CSV_ENDPOINTS) | set(XLSX_ENDPOINTS) | {"measure.export_xlsx", "budget.budget_export"}
             | NOT_TABLES | set(TABLES_TESTED_ELSEWHERE))
    unknown = _endpoints(app) - known
    assert not unknown, f"serves a file: add it to CSV_/XLSX_ENDPOINTS or NOT_TABLES: {unknown}"


@pytest.fixture
def sms(app, runner, client):
    """A list with rejected rows and a partner wave whose texts are user fields
    (one a formula, one with a newline), dispatched into per-carrier batches."""
    campaign_id = seed_campaign(app, runner)
    writer = api_headers(app, "communicator")
    report = upload(
        client, writer, csv_bytes(ROWS, header=("SĐT", "Họ tên", "Ghi chú")), "ds.csv"
    ).get_json()
    assert report["valid"] == 3 and report["invalid"] == 2
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    create_wave(client, writer, campaign_id, account_id, report["id"], "{{ ghi_chu }}")
    dispatch_once(app)
    batches = client.get("/api/v1/sms/batches", headers=writer).get_json()["items"]
    viettel = next(b["id"] for b in batches if b["carrier"] == "viettel")
    return {"writer": writer, "list_id": report["id"], "viettel": viettel}


def _web(app, client, role: str, unit: str | None = "default"):
    client.get("/logout")
    login(client, make_user(app, role, unit))
    return {}


#: endpoint -> (role, unit, web?, url template)
CSV_ENDPOINTS = {
    "sms_api.lists_rejected": ("communicator", "default", False, "/api/v1/recipient-lists/{list_id}/rejected.csv"),
    "sms.list_rejected": ("communicator", "default", True, "/sms/lists/{list_id}/rejected.csv"),
    "sms_api.batches_file": ("telecom_partner", "viettel", False, "/api/v1/sms/batches/{viettel}/file?format=csv"),
    "sms.batch_file": ("telecom_partner", "viettel", True, "/sms/batches/{viettel}/file?format=csv"),
}
XLSX_ENDPOINTS = {
    "sms_api.batches_file": ("telecom_partner", "viettel", False, "/api/v1/sms/batches/{viettel}/file?format=xlsx"),
    "sms.batch_file": ("telecom_partner", "viettel", True, "/sms/batches/{viettel}/file?format=xlsx"),
    # measure.export_xlsx: test_measure_export_* below (it needs a plan)
}


def _get(app, client, spec, ctx):
    role, unit, web, url = spec
    url = url.format(**ctx)
    if web:
        _web(app, client, role, unit)
        return client.get(url)
    if role == "telecom_partner":
        return client.get(url, headers=partner_headers(app, unit))
    return client.get(url, headers=api_headers(app, role, unit))


def _unquoted(text: str) -> str:
    """The CSV text without its quoted fields (their newlines are data)."""
    return re.sub(r'"(?:[^"]|"")*"', '""', text)


def test_every_csv_endpoint_serves_bom_and_crlf(app, client, sms):
    for endpoint, spec in CSV_ENDPOINTS.items():
        resp = _get(app, client, spec, sms)
        assert resp.status_code == 200, endpoint
        assert resp.mimetype == "text/csv", endpoint
        data = resp.get_data()
        assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1, endpoint
        text = data.decode("utf-8")[1:]
        bare = _unquoted(text)
        assert bare.endswith("\r\n"), endpoint
        assert "\n" not in bare.replace("\r\n", "") and "\r" not in bare.replace("\r\n", ""), endpoint
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows), endpoint
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith("attachment; filename=") and disposition.count(".csv") >= 1
        cells = [c for r in rows[1:] for c in r]
        if endpoint.endswith("rejected"):
            assert rows[0] == ["line", "value", "reason"]
            assert "'@0903" in cells  # user text neutralised in CSV
        else:
            assert rows[0] == ["message_id", "phone", "text"]
            assert {r[1] for r in rows[1:]} == {"+84981234567", "+84971112222"}  # never prefixed
            assert "'" + FORMULA in cells and FORMULA not in cells


def test_rejected_csv_written_before_the_bom_rule_is_served_with_one(app, client, sms):
    from campaigns.sms.service import rejects_path

    with app.app_context():
        path = rejects_path(sms["list_id"])
    path.write_bytes(b"line,value,reason\r\n5,x,y\r\n")
    resp = client.get(f"/api/v1/recipient-lists/{sms['list_id']}/rejected.csv", headers=sms["writer"])
    assert resp.get_data() == b"\xef\xbb\xbfline,value,reason\r\n5,x,y\r\n"
    path.unlink()
    resp = client.get(f"/api/v1/recipient-lists/{sms['list_id']}/rejected.csv", headers=sms["writer"])
    assert resp.status_code == 200 and resp.get_data() == b"\xef\xbb\xbfline,value,reason\r\n"


def _check_workbook(data: bytes, where: str) -> list[list]:
    """No formula anywhere; a column headed like a phone holds only text cells.
    Returns every sheet's values."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    values = []
    for ws in wb.worksheets:
        phone_cols: set[int] = set()
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (where, ws.title, c.coordinate, c.value)
                if isinstance(c.value, str) and re.fullmatch(r"(phone|sđt|số điện thoại)", c.value.lower()):
                    phone_cols.add(c.column)
                if c.column in phone_cols and c.value is not None and c.row > 1:
                    assert c.data_type == "s" and not isinstance(c.value, int | float), (where, c.value)
            values.append([c.value for c in row])
    return values


def test_every_xlsx_endpoint_has_text_phones_and_no_formula(app, client, sms):
    for endpoint, spec in XLSX_ENDPOINTS.items():
        resp = _get(app, client, spec, sms)
        assert resp.status_code == 200, endpoint
        assert resp.mimetype.endswith("spreadsheetml.sheet"), endpoint
        rows = _check_workbook(resp.get_data(), endpoint)
        assert rows[0] == ["message_id", "phone", "text"]
        assert {r[1] for r in rows[1:]} == {"+84981234567", "+84971112222"}
        texts = {r[2] for r in rows[1:]}
        assert FORMULA in texts and "'" + FORMULA not in texts  # as the user wrote it, no apostrophe


# -- measure: the targets export and the unit's DOCX report ------------------------------


@pytest.fixture
def world(app, monkeypatch):
    from tests.measure_helpers import setup_world

    return setup_world(app, monkeypatch)


def _task(app, code: str = "IV.2b"):
    from campaigns.measure.models import Plan, PlanTask

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).order_by(Plan.year.desc())).first()
        task = s.exec(select(PlanTask).where(PlanTask.plan_id == plan.id, PlanTask.code == code)).one()
        return task.id, task.title


def _unit_name(app, code: str) -> str:
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.code == code)).one().name


def _task_rows(data: bytes, title: str, unit_name: str):
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(data))["Nhiệm vụ"]
    header = [c.value for c in ws[1]]
    rows = [row for row in ws.iter_rows(min_row=2) if row[1].value == title and row[2].value == unit_name]
    assert len(rows) == 1
    return {h: c for h, c in zip(header, rows[0], strict=True)}


def test_measure_export_formula_note_is_text_and_times_are_vietnam_time(app, client, world):
    from campaigns.measure.models import TaskProgress
    from core.timeutil import to_local

    task_id, title = _task(app)
    r = client.put(f"/api/v1/tasks/{task_id}/progress", json={"status": "done", "note": FORMULA},
                   headers=api_headers(app, "unit_officer", "tx-vinh-chau"))
    assert r.status_code == 200, r.get_json()
    with app.app_context(), session_scope(app) as s:
        stored = s.exec(select(TaskProgress).where(TaskProgress.task_id == task_id)).one().updated_at
    login(client, world["users"]["reviewer"])
    resp = client.get(f"/measure/export.xlsx?year={world['year']}")
    assert resp.status_code == 200
    assert 'filename="chi-tieu-' in resp.headers["Content-Disposition"]
    _check_workbook(resp.data, "measure.export_xlsx")
    row = _task_rows(resp.data, title, _unit_name(app, "tx-vinh-chau"))
    note, updated = row["Ghi chú"], row["Cập nhật"]
    assert note.value == FORMULA and note.data_type == "s"  # text, not a live formula, no apostrophe
    local = to_local(stored).replace(tzinfo=None)
    assert abs((updated.value - local).total_seconds()) < 1  # Vietnam time, as the UI shows it
    assert abs((updated.value - stored.replace(tzinfo=None)).total_seconds() - 7 * 3600) < 1
    assert updated.number_format == "DD/MM/YYYY HH:MM"


def test_control_characters_in_notes_do_not_break_xlsx_or_docx(app, client, world):
    """A note holding control characters (stored by an older version, an import or
    a paste) still exports: they are stripped, never an IllegalCharacterError 500."""
    from docx import Document

    from campaigns.measure.models import TaskProgress
    from core.timeutil import utcnow

    task_id, title = _task(app)
    with app.app_context(), session_scope(app) as s:
        s.add(TaskProgress(task_id=task_id, unit_id=world["units"]["ke-sach"], status="in_progress",
                           note="x\u0001 Đã phát\u0000 3 buổi\u000b/tuần\u0085", updated_at=utcnow()))
    login(client, world["users"]["other_district"])
    resp = client.get(f"/measure/export.xlsx?year={world['year']}")
    assert resp.status_code == 200
    _check_workbook(resp.data, "measure.export_xlsx (unit officer)")
    assert _task_rows(resp.data, title, _unit_name(app, "ke-sach"))["Ghi chú"].value == "x Đã phát 3 buổi/tuần"
    resp = client.get(f"/measure/report/download?year={world['year']}&unit=ke-sach&format=docx")
    assert resp.status_code == 200
    assert "filename*=UTF-8''" not in resp.headers["Content-Disposition"]  # an ASCII name
    doc = Document(io.BytesIO(resp.data))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "x Đã phát 3 buổi/tuần" in cells


# -- Content-Disposition ------------------------------------------------------------------


def test_kit_download_name_keeps_d_in_the_ascii_fallback(app, client, tmp_path):
    """"Ngày Chuyển đổi số" must not become "Ngay Chuyen oi so" for clients that
    only read the ASCII ``filename``; ``filename*`` keeps the Vietnamese name."""
    from urllib.parse import unquote

    from tests.fakes.kits import fake_kit, make_campaign

    cid = make_campaign(app, scope=("xa-lac-hoa",))
    kit_id = fake_kit(app, cid, "xa-lac-hoa", tmp_path)
    for url, headers in (
        (f"/api/v1/kits/{kit_id}/download", api_headers(app, "admin")),
        (f"/kits/{kit_id}/download", _web(app, client, "admin")),
    ):
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200 and resp.data[:2] == b"PK"
        value = resp.headers["Content-Disposition"]
        fallback = re.search(r'filename="([^"]*)"', value).group(1)
        real = unquote(re.search(r"filename\*=UTF-8''(\S+)", value).group(1))
        assert fallback.isascii() and "Chuyen doi so" in fallback and "Lac Hoa" in fallback
        assert "Chuyển đổi số" in real and real.endswith(".zip") and fallback.endswith(".zip")
        assert "  " not in fallback  # the dashes became "-", not gaps


def test_kit_script_docx_drops_control_characters():
    """A bulletin pasted with a control character still makes its DOCX (the kit
    would fail for the unit otherwise)."""
    from docx import Document

    from media_templates.scripts import get_script_template, render_script, script_to_docx

    data = get_script_template("loudspeaker_default").sample()
    data["key_message"] = "Bà con\u0001 nộp hồ sơ\u001f trực tuyến\u007f."
    script = render_script(data)
    doc = Document(io.BytesIO(script_to_docx(script, {"unit_name": "Xã\u0002 Lạc Hòa",
                                                      "campaign_title": "Chuyển đổi số\u0003"})))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Bà con nộp hồ sơ trực tuyến." in text
    facts = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert facts["Đơn vị"] == "Xã Lạc Hòa" and facts["Chiến dịch"] == "Chuyển đổi số"
    assert doc.core_properties.author == "Xã Lạc Hòa"


def test_budget_export_keeps_user_text_as_text(app, world):
    """budget.budget_export: a line's text that looks like a formula (with a control
    character) is a plain string cell, as typed, never a formula; no 500."""
    from openpyxl import load_workbook

    year = world["year"]
    commune = app.test_client()
    login(commune, world["users"]["commune"])
    r = commune.post(f"/budget/lines?year={year}&unit=xa-lac-hoa", data={
        "category": "other", "label": FORMULA + "\x07", "quantity": "1", "unit_price": "1000",
        "source": FORMULA})
    assert r.status_code == 302
    resp = commune.get(f"/budget/export.xlsx?year={year}")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(resp.get_data())).active
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert len(cells) == 2 and all(c.data_type == "s" for c in cells)
    assert {c.value for c in cells} == {FORMULA}
