"""Telecom partner batches: a wave on an sms_partner account becomes one batch
per carrier; each partner lists, downloads, acknowledges and reports only its
own carrier's batches (another carrier's answers 404 on EVERY endpoint);
reports keep good rows; "not our subscriber" numbers are re-batched."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.db import get_engine, session_scope
from tests.fakes.sms_app import (
    create_wave,
    csv_bytes,
    dispatch_once,
    make_account,
    partner_headers,
    seed_campaign,
    upload,
)
from tests.helpers import api_headers

FORMULA = '=HYPERLINK("http://evil.example","bấm vào đây")'
ROWS = [
    ("0981234567", "Nguyễn Văn An", "Phường 1"),
    ("0971112222", "Trần Văn Bảo", FORMULA),
    ("0912345678", "Lê Thị Cúc", "Xã Đại Tâm"),
    ("0903123456", "Phạm Văn Dũng", "Phường 2"),
    ("0951234567", "Lâm Thị Én", "Xã Hòa Tú"),
]


@pytest.fixture
def wave(app, runner, client):
    """An approved campaign, a 5-number list, a partner wave dispatched once."""
    campaign_id = seed_campaign(app, runner)
    writer = api_headers(app, "communicator")
    report = upload(
        client, writer, csv_bytes(ROWS, header=("SĐT", "Họ tên", "Ghi chú")), "ds.csv"
    ).get_json()
    assert report["valid"] == 5
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    d = create_wave(
        client, writer, campaign_id, account_id, report["id"], "Kính gửi {{ name }}: {{ ghi_chu }}"
    )
    dispatch_once(app)
    got = client.get(f"/api/v1/deliveries/{d['id']}", headers=writer).get_json()
    assert got["status"] == "sent", got
    return {"delivery_id": d["id"], "writer": writer, "list_id": report["id"]}


def _batches(client, headers):
    resp = client.get("/api/v1/sms/batches", headers=headers)
    assert resp.status_code == 200
    return resp.get_json()["items"]


def test_one_batch_per_carrier_and_partners_see_only_their_own(app, client, wave):
    all_batches = _batches(client, wave["writer"])
    assert {b["carrier"]: b["message_count"] for b in all_batches} == {
        "viettel": 2,
        "vinaphone": 1,
        "mobifone": 1,
        "other": 1,
    }
    viettel = _batches(client, partner_headers(app, "viettel"))
    assert [b["carrier"] for b in viettel] == ["viettel"]
    assert [b["carrier"] for b in _batches(client, partner_headers(app, "vinaphone"))] == [
        "vinaphone"
    ]
    assert _batches(client, partner_headers(app, "gmobile")) == []
    # a partner user without a telecom unit sees nothing at all
    assert _batches(client, api_headers(app, "telecom_partner", "so-vhttdl")) == []
    assert (
        client.get("/api/v1/sms/batches", headers=api_headers(app, "unit_officer")).status_code
        == 403
    )


def test_every_batch_endpoint_answers_404_for_another_carrier(app, client, wave):
    mine = {b["carrier"]: b["id"] for b in _batches(client, wave["writer"])}
    other = mine["viettel"]
    vina = partner_headers(app, "vinaphone")
    report = json.dumps([{"message_id": 1, "status": "delivered"}])
    calls = [
        ("GET", f"/api/v1/sms/batches/{other}", {}),
        ("GET", f"/api/v1/sms/batches/{other}/file?format=csv", {}),
        ("GET", f"/api/v1/sms/batches/{other}/file?format=xlsx", {}),
        ("POST", f"/api/v1/sms/batches/{other}/ack", {}),
        (
            "POST",
            f"/api/v1/sms/batches/{other}/reports",
            {"data": report, "content_type": "application/json"},
        ),
        (
            "POST",
            f"/api/v1/sms/batches/{other}/reports",
            {
                "data": {"file": (io.BytesIO(b"message_id,status\n1,delivered\n"), "r.csv")},
                "content_type": "multipart/form-data",
            },
        ),
    ]
    for method, path, kwargs in calls:
        resp = client.open(path, method=method, headers=vina, **kwargs)
        assert resp.status_code == 404, (method, path, resp.status_code)
        body = resp.get_data(as_text=True)
        assert "+849" not in body and "Kính gửi" not in body and "viettel" not in body
    # the same calls are fine for the batch's own carrier
    viettel = partner_headers(app, "viettel")
    assert client.get(f"/api/v1/sms/batches/{other}", headers=viettel).status_code == 200
    with get_engine(app).connect() as conn:
        status = conn.execute(
            text("SELECT status FROM sms_batch WHERE id = :b"), {"b": other}
        ).scalar()
        untouched = conn.execute(
            text("SELECT COUNT(*) FROM sms_message WHERE batch_id = :b AND status = 'pending'"),
            {"b": other},
        ).scalar()
    assert status == "ready" and untouched == 2  # nothing the other carrier did stuck


def test_download_csv_and_xlsx_neutralised_and_logged(app, client, wave):
    from openpyxl import load_workbook

    from core.models import AuditLog

    batch = next(b for b in _batches(client, wave["writer"]) if b["carrier"] == "viettel")
    viettel = partner_headers(app, "viettel")
    resp = client.get(f"/api/v1/sms/batches/{batch['id']}/file?format=csv", headers=viettel)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["message_id", "phone", "text"]
    assert {r[1] for r in rows[1:]} == {"+84981234567", "+84971112222"}
    texts = {r[1]: r[2] for r in rows[1:]}
    assert texts["+84981234567"] == "Kính gửi Nguyễn Văn An: Phường 1"
    assert texts["+84971112222"] == "Kính gửi Trần Văn Bảo: " + FORMULA
    resp = client.get(f"/api/v1/sms/batches/{batch['id']}/file?format=xlsx", headers=viettel)
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.get_data()), read_only=True).active
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    assert cells[0] == ["message_id", "phone", "text"]
    assert {c[1] for c in cells[1:]} == {"+84981234567", "+84971112222"}
    bad = client.get(f"/api/v1/sms/batches/{batch['id']}/file?format=pdf", headers=viettel)
    assert bad.status_code == 422 and "format" in bad.get_json()["error"]["fields"]
    with app.app_context(), session_scope(app) as s:
        logs = s.exec(select(AuditLog).where(AuditLog.action == "sms_batch.download")).all()
        assert [(log.object_id, log.detail["format"]) for log in logs] == [
            (batch["id"], "csv"),
            (batch["id"], "xlsx"),
        ]
    got = client.get(f"/api/v1/sms/batches/{batch['id']}", headers=viettel).get_json()
    assert got["status"] == "downloaded" and got["downloaded_at"]


def test_formula_text_is_neutralised_in_files(app, runner, client):
    campaign_id = seed_campaign(app, runner)
    writer = api_headers(app, "communicator")
    report = upload(
        client,
        writer,
        csv_bytes([("0981234567", "An", FORMULA)], header=("SĐT", "Họ tên", "Ghi chú")),
        "f.csv",
    ).get_json()
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    create_wave(client, writer, campaign_id, account_id, report["id"], "{{ ghi_chu }}")
    dispatch_once(app)
    batch = _batches(client, writer)[0]
    viettel = partner_headers(app, "viettel")
    body = client.get(f"/api/v1/sms/batches/{batch['id']}/file?format=csv", headers=viettel)
    rows = list(csv.reader(io.StringIO(body.get_data().decode("utf-8-sig"))))
    assert rows[1][2] == "'" + FORMULA
    from openpyxl import load_workbook

    xlsx = client.get(f"/api/v1/sms/batches/{batch['id']}/file?format=xlsx", headers=viettel)
    ws = load_workbook(io.BytesIO(xlsx.get_data())).active
    # XLSX: a plain string cell, no apostrophe (a partner sends the cell as is)
    assert ws.cell(2, 3).value == FORMULA and ws.cell(2, 3).data_type == "s"


def test_ack_marks_messages_sent(app, client, wave):
    batch = next(b for b in _batches(client, wave["writer"]) if b["carrier"] == "vinaphone")
    vina = partner_headers(app, "vinaphone")
    resp = client.post(f"/api/v1/sms/batches/{batch['id']}/ack", headers=vina)
    assert resp.status_code == 200 and resp.get_json()["status"] == "acknowledged"
    counts = client.get(
        f"/api/v1/sms/waves/{wave['delivery_id']}", headers=wave["writer"]
    ).get_json()
    assert counts["by_carrier"]["vinaphone"]["sent"] == 1
    assert counts["by_carrier"]["viettel"]["pending"] == 2
    # communicators may look but not acknowledge for the partner
    assert (
        client.post(f"/api/v1/sms/batches/{batch['id']}/ack", headers=wave["writer"]).status_code
        == 403
    )


def _message_ids(app, batch_id):
    with get_engine(app).connect() as conn:
        return dict(
            conn.execute(
                text("SELECT phone, id FROM sms_message WHERE batch_id = :b"), {"b": batch_id}
            ).all()
        )


def test_reports_keep_good_rows_and_report_bad_ones(app, client, wave):
    batches = {b["carrier"]: b["id"] for b in _batches(client, wave["writer"])}
    viettel = partner_headers(app, "viettel")
    ids = _message_ids(app, batches["viettel"])
    foreign = next(iter(_message_ids(app, batches["vinaphone"]).values()))
    report = [
        {
            "message_id": ids["+84981234567"],
            "status": "delivered",
            "at": "2026-10-10T08:00:00+07:00",
        },
        {
            "message_id": ids["+84971112222"],
            "status": "not_our_subscriber",
            "reason": "chuyển mạng",
        },
        {"message_id": foreign, "status": "delivered"},  # another carrier's message
        {"message_id": "abc", "status": "delivered"},
        {"message_id": ids["+84981234567"], "status": "exploded"},
    ]
    resp = client.post(
        f"/api/v1/sms/batches/{batches['viettel']}/reports", headers=viettel, json=report
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["applied"] == 2
    assert sorted(e["line"] for e in body["errors"]) == [3, 4, 5]
    assert body["batch"]["status"] == "reported"
    counts = client.get(
        f"/api/v1/sms/waves/{wave['delivery_id']}", headers=wave["writer"]
    ).get_json()
    assert counts["by_carrier"]["viettel"]["delivered"] == 1
    assert counts["by_carrier"]["viettel"]["not_our_subscriber"] == 1
    assert counts["by_carrier"]["vinaphone"]["pending"] == 1  # the foreign row did nothing

    # a CSV upload, and a file where nothing is usable -> 422 with the rows' errors
    csv_report = f"message_id;status;at;reason\n{ids['+84981234567']};failed;;\n"
    resp = client.post(
        f"/api/v1/sms/batches/{batches['viettel']}/reports",
        headers=viettel,
        data={"file": (io.BytesIO(csv_report.encode()), "r.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422  # delivered -> failed is not allowed
    assert resp.get_json()["error"]["errors"][0]["line"] == 2
    resp = client.post(
        f"/api/v1/sms/batches/{batches['viettel']}/reports",
        headers=viettel,
        data=b"\x00\x01garbage",
        content_type="text/csv",
    )
    assert resp.status_code == 422 and "file" in resp.get_json()["error"]["fields"]
    resp = client.post(
        f"/api/v1/sms/batches/{batches['viettel']}/reports",
        headers=viettel,
        data=b"phone,result\n1,2\n",
        content_type="text/csv",
    )
    assert resp.status_code == 422 and "message_id" in resp.get_json()["error"]["message"]


def test_not_our_subscriber_numbers_are_rebatched(app, client, wave):
    batches = {b["carrier"]: b["id"] for b in _batches(client, wave["writer"])}
    viettel = partner_headers(app, "viettel")
    ids = _message_ids(app, batches["viettel"])
    client.post(
        f"/api/v1/sms/batches/{batches['viettel']}/reports",
        headers=viettel,
        json=[{"message_id": ids["+84971112222"], "status": "not_our_subscriber"}],
    )
    resp = client.post(
        f"/api/v1/sms/waves/{wave['delivery_id']}/rebatch",
        headers=wave["writer"],
        json={"carrier": "mobifone"},
    )
    assert resp.status_code == 200
    new = resp.get_json()["items"]
    assert [(b["carrier"], b["message_count"]) for b in new] == [("mobifone", 1)]
    mobi = partner_headers(app, "mobifone")
    mobi_batches = {b["id"] for b in _batches(client, mobi)}
    assert new[0]["id"] in mobi_batches
    body = client.get(f"/api/v1/sms/batches/{new[0]['id']}/file", headers=mobi).get_data(
        as_text=True
    )
    assert "+84971112222" in body
    # the ported number is gone from Viettel's batch file
    body = client.get(f"/api/v1/sms/batches/{batches['viettel']}/file", headers=viettel).get_data(
        as_text=True
    )
    assert "+84971112222" not in body and "+84981234567" in body
    bad = client.post(
        f"/api/v1/sms/waves/{wave['delivery_id']}/rebatch",
        headers=wave["writer"],
        json={"carrier": "sfone"},
    )
    assert bad.status_code == 422 and "carrier" in bad.get_json()["error"]["fields"]
    assert (
        client.post(
            f"/api/v1/sms/waves/{wave['delivery_id']}/rebatch", headers=viettel, json={}
        ).status_code
        == 403
    )


def test_opted_out_numbers_never_reach_a_batch(app, runner, client):
    campaign_id = seed_campaign(app, runner)
    writer = api_headers(app, "communicator")
    client.post(
        "/api/v1/opt-outs", headers=writer, json={"phones": ["0912345678"], "source": "dnc"}
    )
    report = upload(
        client, writer, csv_bytes(ROWS, header=("SĐT", "Họ tên", "Ghi chú")), "ds.csv"
    ).get_json()
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    d = create_wave(client, writer, campaign_id, account_id, report["id"], "Thông báo DVCTT")
    dispatch_once(app)
    carriers = {b["carrier"] for b in _batches(client, writer)}
    assert "vinaphone" not in carriers and "viettel" in carriers
    counts = client.get(f"/api/v1/sms/waves/{d['id']}", headers=writer).get_json()
    assert counts["by_status"]["suppressed"] == 1


def test_advertising_wave_needs_consent_and_gets_the_label(app, runner, client):
    campaign_id = seed_campaign(app, runner, sms_class="advertising")
    writer = api_headers(app, "communicator")
    no_consent = upload(client, writer, csv_bytes(ROWS[:1]), "a.csv").get_json()
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    refused = client.post("/api/v1/deliveries", headers=writer, json={
        "campaign_id": campaign_id, "channel_account_id": account_id, "scheduled_at": "2020-01-01T08:00:00",
        "content": {"text": "Ưu đãi DVCTT", "recipient_list_id": no_consent["id"]}})
    assert refused.status_code == 422  # refused when scheduled, not when sent
    assert "consent_source" in refused.get_json()["error"]["fields"]["content.recipient_list_id"]
    dispatch_once(app)
    assert _batches(client, writer) == []
    with_consent = upload(
        client, writer, csv_bytes(ROWS[:1]), "b.csv", consent_source="Phiếu đăng ký nhận tin"
    ).get_json()
    create_wave(client, writer, campaign_id, account_id, with_consent["id"], "Ưu đãi DVCTT")
    dispatch_once(app)
    batch = _batches(client, writer)[0]
    body = client.get(f"/api/v1/sms/batches/{batch['id']}/file", headers=writer).get_data(
        as_text=True
    )
    assert "[QC] Ưu đãi DVCTT" in body
