"""The SMS app on PostgreSQL: the import goes through COPY, the partner wave
and the Kannel wave (fake sendsms) work the same as on SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.db import get_engine
from tests.fakes.sms_app import (
    EXPECTED,
    create_wave,
    csv_bytes,
    dispatch_once,
    make_account,
    partner_headers,
    seed_campaign,
    upload,
    xlsx_bytes,
)
from tests.helpers import api_headers
from tests.kannel import Receiver

pytestmark = pytest.mark.postgres


def test_import_and_waves_on_postgres(pg_app):
    app = pg_app
    client = app.test_client()
    campaign_id = seed_campaign(app)
    writer = api_headers(app, "communicator")
    for data, name in (
        (csv_bytes(encoding="utf-16", delimiter="\t"), "a.txt"),
        (xlsx_bytes(), "b.xlsx"),
    ):
        report = upload(client, writer, data, name).get_json()
        for key in ("rows", "valid", "invalid", "duplicates", "converted", "by_carrier"):
            assert report[key] == EXPECTED[key], (name, key)
    with get_engine(app).connect() as conn:
        fields = conn.execute(
            text("SELECT fields->>'xa_phuong' FROM recipient WHERE list_id = :l AND phone = :p"),
            {"l": report["id"], "p": "+84912345678"},
        ).scalar()
    assert fields == "Xã Đại Tâm"
    bad = upload(client, writer, b"\x00garbage" * 50, "x.csv")
    assert bad.status_code == 422

    client.post("/api/v1/opt-outs", headers=writer, json={"phones": ["0903123456"]})
    partner_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    wave = create_wave(client, writer, campaign_id, partner_id, report["id"], "Kính gửi {{ name }}")
    dispatch_once(app)
    batches = client.get("/api/v1/sms/batches", headers=partner_headers(app, "viettel")).get_json()
    assert [(b["carrier"], b["message_count"]) for b in batches["items"]] == [("viettel", 2)]
    counts = client.get(f"/api/v1/sms/waves/{wave['id']}", headers=writer).get_json()
    assert counts["by_status"]["suppressed"] == 1 and counts["by_status"]["pending"] == 6

    recv = Receiver(lambda req: (202, "0: Accepted for delivery"))
    try:
        kannel_id, token = make_account(
            app,
            "sms_kannel",
            {
                "url": recv.base_url + "/cgi-bin/sendsms",
                "username": "pg-test",
                "sender": "UBND",
                "parts_per_second": 1000.0,
            },
            {"password": "x"},
        )
        wave = create_wave(client, writer, campaign_id, kannel_id, report["id"], "Thông báo DVCTT")
        dispatch_once(app)
        assert len(recv.requests) == 6
        with get_engine(app).connect() as conn:
            mid = conn.execute(
                text(
                    "SELECT id FROM sms_message WHERE delivery_id = :d "
                    "AND status = 'sent' ORDER BY id LIMIT 1"
                ),
                {"d": wave["id"]},
            ).scalar()
        assert client.get(f"/hooks/kannel/{token}/dlr?id={mid}&status=1").status_code == 200
        counts = client.get(f"/api/v1/sms/waves/{wave['id']}", headers=writer).get_json()
        assert counts["by_status"]["delivered"] == 1 and counts["by_status"]["sent"] == 5
    finally:
        recv.close()
