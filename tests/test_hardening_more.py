"""Hardening, second part (issue 15): years out of range, a huge campaign scope,
ids past 2^63 in the public feedback form, secrets shown only as set / not set,
XLSX bombs refused before parsing."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import api_headers, login, make_user

# -- years ------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", ["-5", "10000", "1999", "2101", "99999999999999999999"])
def test_feedback_summary_year_out_of_range_is_refused(app, year):
    client = app.test_client()
    r = client.get(f"/y-kien/tong-hop?year={year}")
    assert r.status_code == 400
    assert "2000–2100" in r.text
    r = client.get(f"/api/v1/feedback/summary?year={year}", headers=api_headers(app, "admin"))
    assert r.status_code == 422, r.json
    assert "2000–2100" in r.json["error"]["fields"]["year"]


def test_feedback_summary_year_in_range_still_works(app):
    client = app.test_client()
    assert client.get("/y-kien/tong-hop?year=2026").status_code == 200
    r = client.get("/api/v1/feedback/summary?year=2100", headers=api_headers(app, "admin"))
    assert r.status_code == 200


def test_openapi_declares_the_year_bounds(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    params = doc["paths"]["/feedback/summary"]["get"]["parameters"]
    year = next(p for p in params if p["name"] == "year")
    assert year["schema"] == {"type": "integer", "minimum": 2000, "maximum": 2100}


# -- campaign scope ---------------------------------------------------------------------------


def _scope_campaign(app):
    client = app.test_client()
    h = api_headers(app, "communicator")
    codes = [f"don-vi-{i}" for i in range(70_000)]
    body = {"title": "Phạm vi rất lớn", "starts_on": "2026-10-01", "ends_on": "2026-10-15", "scope": codes}
    r = client.post("/api/v1/campaigns", json=body, headers=h)
    assert r.status_code == 422, r.json
    assert "2.000" in r.json["error"]["fields"]["scope"] and "70.000" in r.json["error"]["fields"]["scope"]
    ok = client.post("/api/v1/campaigns", json={**body, "scope": ["tx-vinh-chau", "tx-vinh-chau"]}, headers=h)
    assert ok.status_code == 201, ok.json
    assert ok.json["scope"] == ["tx-vinh-chau"]
    r = client.patch(f"/api/v1/campaigns/{ok.json['id']}", json={"scope": codes}, headers=h)
    assert r.status_code == 422 and "scope" in r.json["error"]["fields"]


def test_huge_scope_is_422_on_postgres(pg_app):
    _scope_campaign(pg_app)


def test_huge_scope_is_422_on_sqlite(app):
    _scope_campaign(app)


# -- public feedback form: campaign id out of range ------------------------------------------------


@pytest.mark.parametrize("campaign", [str(2**63 + 5), str(2**31), "-1", "9" * 40, "١٢"])
def test_feedback_form_with_out_of_range_campaign(any_app, campaign):
    from campaigns.demo import seed_units
    from campaigns.measure.models import Feedback

    with any_app.app_context(), session_scope(any_app) as s:
        seed_units(s)
    client = any_app.test_client()
    r = client.post("/y-kien", data={"service": "dvc", "satisfaction": "5", "comment": "Tốt",
                                      "unit": "tx-vinh-chau", "campaign": campaign})
    assert r.status_code in (303, 422), r.text[:500]
    with any_app.app_context(), session_scope(any_app) as s:
        rows = s.exec(select(Feedback)).all()
        assert all(f.campaign_id is None for f in rows)


# -- secrets: set / not set, never a part ------------------------------------------------------


def test_secrets_shown_as_set_or_not_set(app):
    client = app.test_client()
    h = api_headers(app, "communicator")
    secret = "s3cr3t-signing-key-W123"
    r = client.post("/api/v1/channel-accounts", json={
        "channel": "webhook", "name": "Hook", "config": {"url": "https://example.vn/hook"},
        "secrets": {"signing_secret": secret}}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["config"]["signing_secret"] == "đã đặt"
    shown = client.get(f"/api/v1/channel-accounts/{r.json['id']}", headers=h).text
    assert "W123" not in shown and secret not in shown
    r2 = client.post("/api/v1/channel-accounts", json={
        "channel": "webhook", "name": "Hook 2", "config": {"url": "https://example.vn/hook2"}}, headers=h)
    assert r2.status_code == 201 and r2.json["config"]["signing_secret"] == "chưa đặt"
    web = app.test_client()
    login(web, make_user(app, "communicator"))
    page = web.get(f"/accounts/{r.json['id']}").text
    assert "W123" not in page and "đã đặt" in page and "••••" not in page
    page = web.get(f"/accounts/{r2.json['id']}").text
    assert "chưa đặt" in page


def test_redact_is_a_constant_marker():
    from channels.base import SECRET_NOT_SET, SECRET_SET, redact

    assert redact("abcdefghijklmnop") == redact("x") == SECRET_SET
    assert redact(None) == redact("") == SECRET_NOT_SET


# -- XLSX bombs -------------------------------------------------------------------------------

_CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8"?>'
                  b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  b'<Default Extension="xml" ContentType="application/xml"/>'
                  b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                  b'officedocument.spreadsheetml.sheet.main+xml"/>'
                  b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
                  b'officedocument.spreadsheetml.worksheet+xml"/>'
                  b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                  b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
         b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
         b'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
             b'relationships"><sheets><sheet name="Danh sach" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                  b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                  b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                  b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                  b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = b"</sheetData></worksheet>"


def _repeated(head: bytes, unit: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + unit*times + tail without building it: after a full
    flush the compressor's output for the same input is the same bytes, so one
    compressed block is repeated. Returns (deflated, crc32, uncompressed size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)]
    block = comp.compress(unit) + comp.flush(zlib.Z_FULL_FLUSH)
    out.extend([block] * times)
    out.append(comp.compress(tail) + comp.flush())
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(tail, crc)
    return b"".join(out), crc, len(head) + len(unit) * times + len(tail)


def _zip(members: list[tuple[str, tuple[bytes, int, int]]]) -> bytes:
    """A ZIP of already deflated members (zipfile cannot take those)."""
    body, central = io.BytesIO(), io.BytesIO()
    for name, (data, crc, size) in members:
        raw = name.encode()
        offset = body.tell()
        body.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                               len(raw), 0) + raw + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data),
                                  size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    cd = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), body.tell(), 0)
    return body.getvalue() + cd + end


def _small(data: bytes) -> tuple[bytes, int, int]:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush(), zlib.crc32(data), len(data)


def _workbook(sheet: tuple[bytes, int, int], shared: tuple[bytes, int, int]) -> bytes:
    return _zip([("[Content_Types].xml", _small(_CONTENT_TYPES)), ("_rels/.rels", _small(_RELS)),
                 ("xl/workbook.xml", _small(_WORKBOOK)), ("xl/_rels/workbook.xml.rels", _small(_WORKBOOK_RELS)),
                 ("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", shared)])


_HEADER_ROW = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
_SST_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>')


@pytest.fixture(scope="module")
def string_bomb() -> bytes:
    """~1 MB; its one shared string expands to 1 GiB."""
    return _workbook(_small(_SHEET_HEAD + _HEADER_ROW + _SHEET_TAIL),
                     _repeated(_SST_HEAD, b"A" * (1 << 24), 64, b"</t></si></sst>"))


@pytest.fixture(scope="module")
def rows_bomb() -> bytes:
    """8 million empty rows (no dimension, no row numbers), under 200 KB."""
    return _workbook(_repeated(_SHEET_HEAD + _HEADER_ROW, b"<row/>" * 100_000, 80, _SHEET_TAIL),
                     _small(_SST_HEAD + b"S\xe1\xbb\x91 \xc4\x91i\xe1\xbb\x87n tho\xe1\xba\xa1i</t></si></sst>"))


def _refused_fast(data: bytes, **limits):
    """The refusal, its time (seconds) and its peak of Python memory (bytes)."""
    import openpyxl  # noqa: F401 - imported before the clock starts, as in a running server

    from scheduler.sms.importer import ImportError_, read_recipients

    started = time.perf_counter()
    with pytest.raises(ImportError_) as err:
        read_recipients(io.BytesIO(data), "bom.xlsx", **limits)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    try:
        with pytest.raises(ImportError_):
            read_recipients(io.BytesIO(data), "bom.xlsx", **limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return err.value, elapsed, peak


def test_shared_string_bomb_is_refused_before_parsing(string_bomb):
    assert len(string_bomb) < 1_200_000
    err, elapsed, peak = _refused_fast(string_bomb)
    assert err.code == "too_large_content" and "giải nén" in err.message and "(1,0 GB; tối đa 500 MB)" in err.message
    assert elapsed < 2.0, elapsed
    assert peak < 40 * 1024 * 1024, peak


def test_million_rows_bomb_is_refused_before_parsing(rows_bomb):
    assert len(rows_bomb) < 1_500_000
    err, elapsed, peak = _refused_fast(rows_bomb)
    assert err.code == "validation_error" and "2.000.000 dòng" in err.message
    assert elapsed < 2.0, elapsed
    assert peak < 40 * 1024 * 1024, peak


def test_row_numbers_past_the_limit_count_even_without_rows_between():
    """One row numbered 5,000: openpyxl would walk the gap; the check counts it."""
    sheet = _SHEET_HEAD + _HEADER_ROW + b'<row r="5000"><c r="A5000" t="s"><v>0</v></c></row>' + _SHEET_TAIL
    data = _workbook(_small(sheet), _small(_SST_HEAD + b"phone</t></si></sst>"))
    err, _, _ = _refused_fast(data, max_rows=1000)
    assert "1.000 dòng" in err.message
    from scheduler.sms.importer import check_xlsx

    assert check_xlsx(io.BytesIO(data), max_rows=10_000) == 5000


def test_a_normal_workbook_passes_the_check():
    from scheduler.sms.importer import check_xlsx, read_recipients
    from tests.fakes.sms_app import EXPECTED, xlsx_bytes

    data = xlsx_bytes()
    assert 0 < check_xlsx(io.BytesIO(data)) < 100
    reader = read_recipients(io.BytesIO(data), "danh-sach.xlsx")
    assert sum(1 for _ in reader) == EXPECTED["valid"]


def test_bombs_through_the_api_are_413_and_422(app, string_bomb, rows_bomb):
    from tests.fakes.sms_app import upload

    client = app.test_client()
    h = api_headers(app, "communicator")
    started = time.perf_counter()
    r = upload(client, h, string_bomb, "bom.xlsx")
    assert r.status_code == 413, r.json
    assert r.json["error"]["code"] == "too_large" and "giải nén" in r.json["error"]["fields"]["file"]
    r = upload(client, h, rows_bomb, "dong.xlsx")
    assert r.status_code == 422, r.json
    assert "2.000.000 dòng" in r.json["error"]["fields"]["file"]
    assert time.perf_counter() - started < 6
    app.config["LANTOA_IMPORT_MAX_ROWS"] = "3"
    from tests.fakes.sms_app import xlsx_bytes

    r = upload(client, h, xlsx_bytes(), "danh-sach.xlsx")
    assert r.status_code == 422 and "tối đa 3 dòng" in r.json["error"]["fields"]["file"]
    assert client.get("/api/v1/recipient-lists", headers=h).json["total"] == 0


# -- ids in JSON bodies and queries past the column (found by schemathesis on PostgreSQL) ------------


@pytest.mark.parametrize("big", [2**31, 2**63 + 1])
def test_ids_past_the_column_are_422_not_500(any_app, big):
    client = any_app.test_client()
    h = api_headers(any_app, "communicator")
    ok = {"campaign_id": 1, "channel_account_id": 1, "scheduled_at": "2026-10-10T06:00:00+07:00",
          "content": {"text": "Xin chào"}}
    for body, field in (({**ok, "campaign_id": big}, "campaign_id"),
                        ({**ok, "channel_account_id": big}, "channel_account_id"),
                        ({**ok, "content": {"text": "x", "recipient_list_id": big}}, "content.recipient_list_id"),
                        ({**ok, "content": {"text": "x", "media_asset_ids": [big]}}, "content.media_asset_ids")):
        r = client.post("/api/v1/deliveries", json=body, headers=h)
        assert r.status_code == 422 and field in r.json["error"]["fields"], (field, r.status_code, r.json)
    r = client.get(f"/api/v1/sms/batches?delivery_id={big}", headers=h)
    assert r.status_code == 422 and "delivery_id" in r.json["error"]["fields"]
    r = client.post("/api/v1/kits/build", json={"campaign_id": big}, headers=h)
    assert r.status_code == 422 and "campaign_id" in r.json["error"]["fields"]
    r = client.post("/api/v1/sms/preview", json={"text": "Xin chào", "recipient_list_id": big}, headers=h)
    assert r.status_code == 422 and "recipient_list_id" in r.json["error"]["fields"]


# -- the OpenAPI document ---------------------------------------------------------------------------


def test_openapi_document_is_valid_and_complete(app):
    import json

    from openapi_spec_validator import validate

    doc = app.test_client().get("/api/v1/openapi.json").json
    validate(json.loads(json.dumps(doc)))
    ops = {(m, p): op for p, item in doc["paths"].items() for m, op in item.items() if m != "parameters"}
    assert len(ops) > 50
    ids = {op["operationId"] for op in ops.values()}
    assert len(ids) == len(ops)  # one id each, unique
    for (method, path), op in ops.items():
        for code in ("401", "403", "404", "405", "422"):
            assert code in op["responses"], (method, path, code)
        if method in ("post", "put", "patch"):
            assert "413" in op["responses"], (method, path)
        for param in op.get("parameters", []) + doc["paths"][path].get("parameters", []):
            if param["name"] in ("id", "limit", "offset", "year", "campaign_id", "delivery_id"):
                schema = param["schema"]
                assert schema["type"] == "integer" and "minimum" in schema and "maximum" in schema, (path, param)
        for status, answer in op["responses"].items():
            for link in answer.get("links", {}).values():
                assert link["operationId"] in ids, (path, status, link)
    for key in (("post", "/campaigns"), ("post", "/channel-accounts"), ("post", "/deliveries"),
                ("post", "/campaigns/{id}/transitions")):
        assert ops[key]["requestBody"]["required"] is True
    for key in (("post", "/deliveries"), ("post", "/campaigns/{id}/transitions"), ("patch", "/campaigns/{id}"),
                ("post", "/deliveries/{id}/cancel"), ("post", "/kits/build")):
        assert "409" in ops[key]["responses"], key
    assert "202" in ops[("post", "/renders")]["responses"] and "202" in ops[("post", "/kits/build")]["responses"]
    links = ops[("post", "/campaigns")]["responses"]["201"]["links"]
    targets = {link["operationId"]: link for link in links.values()}
    for method, path in (("get", "/campaigns/{id}"), ("patch", "/campaigns/{id}"),
                         ("post", "/campaigns/{id}/transitions")):
        link = targets[ops[(method, path)]["operationId"]]
        assert link["parameters"] == {"id": "$response.body#/id"}
    campaign = doc["components"]["schemas"]["Campaign"]
    assert ops[("get", "/campaigns/{id}")]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Campaign"} and "id" in campaign["required"]
