"""Recipient lists and opt-outs through the API: the import report for the
shapes people really upload, bad files with clear errors, nothing lost."""

from __future__ import annotations

import csv
import io
import random

import pytest

from tests.fakes.sms_app import (
    EXPECTED,
    ROWS,
    corrupt_xlsx_bytes,
    csv_bytes,
    upload,
    xlsx_bytes,
)
from tests.helpers import api_headers


@pytest.fixture
def writer(app):
    return api_headers(app, "communicator")


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        pytest.param(
            csv_bytes(encoding="utf-16", delimiter="\t"), "excel-unicode.txt", id="utf16-excel-tab"
        ),
        pytest.param(
            csv_bytes(encoding="utf-16", delimiter=","), "excel-utf16.csv", id="utf16-comma"
        ),
        pytest.param(csv_bytes(delimiter=";", bom=True), "semicolon.csv", id="utf8-bom-semicolon"),
        pytest.param(csv_bytes(), "plain.csv", id="utf8-comma"),
        pytest.param(xlsx_bytes(), "danh-sach.xlsx", id="xlsx"),
    ],
)
def test_import_report(app, client, writer, data, filename):
    resp = upload(client, writer, data, filename, name="Phường 1 — đợt 1")
    assert resp.status_code == 201, resp.get_json()
    report = resp.get_json()
    assert set(report) == {
        "id",
        "rows",
        "valid",
        "invalid",
        "duplicates",
        "converted",
        "by_carrier",
        "errors",
    }
    for key in ("rows", "valid", "invalid", "duplicates", "converted", "by_carrier"):
        assert report[key] == EXPECTED[key], key
    assert report["rows"] == report["valid"] + report["invalid"] + report["duplicates"]
    lines = {e["line"]: e for e in report["errors"]}
    # line numbers are 1-based lines of the file, first data row = 2
    assert set(lines) == {10, 11, 12, 13, 14}
    assert "+1" in lines[10]["reason"]
    assert "cố định" in lines[11]["reason"]
    assert "chữ cái" in lines[12]["reason"]
    assert "công thức" in lines[13]["reason"]
    assert lines[14]["reason"] == "Thiếu số điện thoại."

    got = client.get(f"/api/v1/recipient-lists/{report['id']}", headers=writer).get_json()
    assert got["name"] == "Phường 1 — đợt 1"
    assert got["valid"] == 7 and got["status"] == "ready"
    assert "xa_phuong" in got["fields"]


def test_recipients_stored_as_e164_with_fields(app, client, writer):
    from sqlalchemy import text

    from core.db import get_engine

    report = upload(client, writer, csv_bytes(), "a.csv").get_json()
    with get_engine(app).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT phone, carrier, name, fields FROM recipient "
                "WHERE list_id = :l ORDER BY line"
            ),
            {"l": report["id"]},
        ).all()
    phones = [r[0] for r in rows]
    assert phones == [
        "+84981234567",
        "+84912345678",
        "+84903123456",
        "+84921234567",
        "+84993123456",
        "+84951234567",
        "+84321234567",
    ]
    assert rows[6][1] == "viettel" and rows[5][1] == "other"
    assert rows[1][2] == "Trần Thị Bình"
    fields = rows[1][3] if isinstance(rows[1][3], dict) else __import__("json").loads(rows[1][3])
    assert fields == {"xa_phuong": "Xã Đại Tâm"}


def test_rejected_csv_has_every_rejected_row_neutralised(app, client, writer):
    rows = [(f"0{n}x", "bad", "x") for n in range(150)] + list(ROWS)
    report = upload(client, writer, csv_bytes(rows), "many.csv").get_json()
    assert report["invalid"] == 155
    assert len(report["errors"]) < 155  # the report shows the first ones...
    resp = client.get(f"/api/v1/recipient-lists/{report['id']}/rejected.csv", headers=writer)
    assert resp.status_code == 200
    table = list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert table[0] == ["line", "value", "reason"]
    assert len(table) == 1 + 155  # ...the file has all of them
    formula = [r for r in table if "HYPERLINK" in r[1]]
    assert formula and formula[0][1].startswith("'=")


def test_column_mapping_step(app, client, writer):
    data = csv_bytes([("0981234567", "An"), ("0912345678", "Bình")], header=("Liên hệ", "Người"))
    resp = upload(client, writer, data, "x.csv")
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "validation_error"
    assert "phone_column" in err["fields"] and "'Liên hệ'" in err["fields"]["phone_column"]
    resp = upload(client, writer, data, "x.csv", phone_column="Liên hệ", name_column="Người")
    assert resp.status_code == 201
    assert resp.get_json()["valid"] == 2
    resp = upload(client, writer, data, "x.csv", phone_column="Không có")
    assert resp.status_code == 422
    assert "Không có cột 'Không có'" in resp.get_json()["error"]["fields"]["phone_column"]


@pytest.mark.parametrize(
    ("data", "filename", "needle"),
    [
        (b"", "empty.csv", "trống"),
        (b"\xef\xbb\xbf", "bom-only.csv", "trống"),
        (random.Random(7).randbytes(4096).replace(b"PK", b"xx"), "garbage.csv", "nhị phân"),
        (b"PK\x03\x04" + random.Random(8).randbytes(2000), "broken.xlsx", "Excel"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 600, "old.xls", ".xls"),
        (corrupt_xlsx_bytes(), "half.xlsx", "Tệp bị hỏng sau"),
        (
            "Phone,Tên\n0981234567,Ngô Ân Hà\n0912345678,Lê Yên\n".encode("cp1252"),
            "ansi.csv",
            "UTF-8",
        ),
    ],
)
def test_bad_files_get_clear_errors_and_lose_nothing(app, client, writer, data, filename, needle):
    good = upload(client, writer, csv_bytes(), "good.csv")
    assert good.status_code == 201
    resp = upload(client, writer, data, filename)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert needle in err["message"], err
    assert "file" in err["fields"] or "phone_column" in err["fields"]
    lists = client.get("/api/v1/recipient-lists", headers=writer).get_json()
    assert lists["total"] == 1 and lists["items"][0]["valid"] == EXPECTED["valid"]


def test_missing_file_field(client, writer):
    resp = client.post(
        "/api/v1/recipient-lists",
        data={"name": "x"},
        headers=writer,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "file" in resp.get_json()["error"]["fields"]


def test_upload_over_the_limit_is_413_with_the_limit_named(app, client, writer):
    app.config["LANTOA_SMS_MAX_UPLOAD_BYTES"] = "65536"
    assert upload(client, writer, csv_bytes(), "small.csv").status_code == 201
    big = csv_bytes([("0981234567", "Nguyễn Văn An " * 20, "x")] * 400)
    assert len(big) > 65536 * 2
    resp = upload(client, writer, big, "big.csv")
    assert resp.status_code == 413
    err = resp.get_json()["error"]
    assert err["code"] == "too_large"
    assert "64 KB" in err["message"] and "file" in err["fields"]
    # just over the limit, inside the multipart envelope allowance: the
    # importer's own byte count stops it
    edge = csv_bytes([("0981234567", "x" * 100, "y")] * 580)
    assert 65536 < len(edge) < 65536 + 64 * 1024
    resp = upload(client, writer, edge, "edge.csv")
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "too_large"
    assert client.get("/api/v1/recipient-lists", headers=writer).get_json()["total"] == 1


def test_two_gigabyte_declared_upload_is_refused_before_reading(app, client, writer):
    resp = client.post(
        "/api/v1/recipient-lists",
        headers={**writer, "Content-Type": "multipart/form-data; boundary=x"},
        input_stream=io.BytesIO(b"--x\r\n"),
        environ_overrides={"CONTENT_LENGTH": str(2 * 1024**3)},
    )
    assert resp.status_code == 413
    assert "200 MB" in resp.get_json()["error"]["message"]


def test_only_writers_import(app, client):
    for role in ("reviewer", "unit_officer", "telecom_partner"):
        resp = upload(client, api_headers(app, role), csv_bytes(), "a.csv")
        assert resp.status_code == 403, role
    assert upload(client, {}, csv_bytes(), "a.csv").status_code == 401


def test_consent_source_is_recorded(app, client, writer):
    report = upload(
        client, writer, csv_bytes(), "a.csv", consent_source="Đăng ký tại Bộ phận Một cửa, 2025"
    ).get_json()
    got = client.get(f"/api/v1/recipient-lists/{report['id']}", headers=writer).get_json()
    assert got["consent_source"] == "Đăng ký tại Bộ phận Một cửa, 2025"


def test_opt_out_import_file_and_json(app, client, writer):
    data = csv_bytes(
        [
            ("0981234567", "a", ""),
            ("0162 123 4567", "b", ""),
            ("12ab", "c", ""),
            ("0981234567", "dup", ""),
        ]
    )
    resp = client.post(
        "/api/v1/opt-outs",
        headers=writer,
        content_type="multipart/form-data",
        data={
            "file": (io.BytesIO(data), "dnc.csv"),
            "source": "dnc",
            "note": "Danh sách DNC tháng 10",
        },
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["added"], body["invalid"], body["rows"]) == (2, 1, 4)
    resp = client.post(
        "/api/v1/opt-outs",
        headers=writer,
        json={"phones": ["+84981234567", "0912345678", "not a number"]},
    )
    body = resp.get_json()
    assert (body["added"], body["already"], body["invalid"]) == (1, 1, 1)
    listed = client.get("/api/v1/opt-outs", headers=writer).get_json()
    assert {o["phone"]: o["source"] for o in listed["items"]} == {
        "+84981234567": "dnc",
        "+84321234567": "dnc",
        "+84912345678": "import",
    }
    bad = client.post("/api/v1/opt-outs", headers=writer, json={"phones": [], "source": "x"})
    assert bad.status_code == 422 and "source" in bad.get_json()["error"]["fields"]
    bad = client.post("/api/v1/opt-outs", headers=writer, json={"phones": "0981234567"})
    assert bad.status_code == 422 and "phones" in bad.get_json()["error"]["fields"]


def test_preview_counts_both_variants(app, client, writer):
    text = "UBND tỉnh Sóc Trăng: Đăng ký dịch vụ công trực tuyến tại dichvucong.gov.vn"
    body = client.post("/api/v1/sms/preview", headers=writer, json={"text": text}).get_json()
    assert body["original"]["encoding"] == "UCS-2" and body["original"]["parts"] == 2
    assert body["plain"]["encoding"] == "GSM-7" and body["plain"]["parts"] == 1
    assert body["plain"]["text"].startswith("UBND tinh Soc Trang: Dang ky dich vu cong")
    body = client.post(
        "/api/v1/sms/preview",
        headers=writer,
        json={"text": "Ưu đãi " * 80, "message_class": "advertising"},
    ).get_json()
    assert body["original"]["text"].startswith("[QC] ")
    assert "phần tin" in body["problems"]["text"]
    body = client.post(
        "/api/v1/sms/preview", headers=writer, json={"text": "x", "sender": "TEN-QUA-DAI-123"}
    ).get_json()
    assert "11" in body["problems"]["sender"]


def test_openapi_describes_the_sms_paths(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/recipient-lists",
        "/recipient-lists/{id}/rejected.csv",
        "/opt-outs",
        "/sms/batches",
        "/sms/batches/{id}/file",
        "/sms/batches/{id}/ack",
        "/sms/batches/{id}/reports",
        "/sms/waves/{id}/rebatch",
    ):
        assert path in paths, path
    assert "multipart/form-data" in paths["/recipient-lists"]["post"]["requestBody"]["content"]


def test_wave_problems_before_scheduling(app, client, writer):
    from campaigns.sms.compose import wave_problems
    from core.db import session_scope

    plain = upload(client, writer, csv_bytes(), "a.csv").get_json()["id"]
    consented = upload(client, writer, csv_bytes(), "b.csv", consent_source="Phiếu").get_json()[
        "id"
    ]
    with app.app_context(), session_scope(app) as s:
        assert wave_problems(s, {"text": "Chào {{ name }}", "recipient_list_id": plain}) == {}
        got = wave_problems(s, {"text": "Chào {{ ten_sai }}", "recipient_list_id": plain})
        assert "ten_sai" in got["content.text"]
        got = wave_problems(s, {"text": "Đăng ký. " * 60, "recipient_list_id": plain})
        assert "phần tin" in got["content.text"]
        got = wave_problems(s, {"text": "{% if %}", "recipient_list_id": plain})
        assert "Mẫu tin nhắn lỗi" in got["content.text"]
        got = wave_problems(s, {"text": "x", "recipient_list_id": 999})
        assert "999" in got["content.recipient_list_id"]
        got = wave_problems(s, {"text": "Ưu đãi", "recipient_list_id": plain}, "advertising")
        assert "consent_source" in got["content.recipient_list_id"]
        assert (
            wave_problems(s, {"text": "Ưu đãi", "recipient_list_id": consented}, "advertising")
            == {}
        )


def test_csv_broken_far_into_the_file_loses_nothing(any_app):
    """A CSV upload takes the importer's block path (whole blocks as COPY text on PostgreSQL):
    bytes that are not UTF-8 half a megabyte in, or a quote left open there, are still a clear
    error naming the file, and the list being imported is not kept."""
    client = any_app.test_client()
    writer = api_headers(any_app, "communicator")
    rows = "".join(f"09{i:08d},Người số {i}\n" for i in range(40_000))
    broken = [
        ("Số điện thoại,Tên\n" + rows).encode() + b"0981234567,\xff\xfe\n",
        ("Số điện thoại,Tên\n" + rows + '0981234567,"không đóng ngoặc\n' + rows[:2000]).encode(),
    ]
    for data in broken:
        resp = upload(client, writer, data, "danh-sach.csv")
        assert resp.status_code in (201, 422), resp.get_data(as_text=True)
        body = resp.get_json()
        if resp.status_code == 422:  # refused: a message in Vietnamese, nothing half-imported
            assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
        else:  # or read to the end, every line counted
            assert body["rows"] >= 40_001 and body["valid"] >= 40_000, body
    lists = client.get("/api/v1/recipient-lists", headers=writer).get_json()
    for item in lists["items"]:
        assert item["valid"] >= 40_000, item  # no list left half-imported
