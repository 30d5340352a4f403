"""End to end through a real Kannel (bearerbox + smsbox, fakesmsc as the
handsets): a refusal reply arrives as an MO message and lands on the opt-out
list; a wave created through the API goes out in one ``dispatch-due`` pass;
fakesmsc receives the Vietnamese text as UCS-2 (two concatenated parts); the
DLRs come back to the app's hook over HTTP and mark each record delivered.

Debian packages: kannel, kannel-extras (the test skips without them, and fails
in CI)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import text
from werkzeug.serving import make_server

from core.db import get_engine
from tests.fakes.sms_app import (
    create_wave,
    csv_bytes,
    dispatch_due_once,
    make_account,
    seed_campaign,
    upload,
)
from tests.helpers import api_headers
from tests.kannel import decode_handset, free_port, reassemble, start_kannel

pytestmark = pytest.mark.kannel

VI_TEXT = (
    "UBND tỉnh Sóc Trăng: Đăng ký dịch vụ công trực tuyến tại dichvucong.gov.vn, "
    "nhận kết quả tại nhà."
)


@pytest.fixture
def live_app(app):
    """The app served over HTTP on 127.0.0.1, so Kannel can call its hooks."""
    port = free_port()
    app.config["LANTOA_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def gateway(tmp_path):
    gw = start_kannel(
        tmp_path / "kannel", mo_messages=["0912345678 13013 text TC"], mo_interval=0.5
    )
    yield gw
    gw.stop()


def _statuses(app, delivery_id):
    with get_engine(app).connect() as conn:
        return dict(
            conn.execute(
                text("SELECT phone, status FROM sms_message WHERE delivery_id = :d"),
                {"d": delivery_id},
            ).all()
        )


def test_wave_through_real_kannel(live_app, client, gateway):
    app = live_app
    campaign_id = seed_campaign(app)
    writer = api_headers(app, "communicator")
    account_id, token = make_account(
        app,
        "sms_kannel",
        {
            "url": gateway.sendsms_url,
            "username": gateway.username,
            "sender": "UBND",
            "parts_per_second": 50.0,
        },
        {"password": gateway.password},
    )
    base = app.config["LANTOA_PUBLIC_BASE_URL"]

    # The refusal reply: fakesmsc -> bearerbox -> smsbox -> sms-service get-url.
    # The fixture's get-url points at its recorder; relay what Kannel sent, as is.
    assert gateway.receiver.wait_for(lambda reqs: any(r.path == "/mo" for r in reqs), 15), (
        gateway.logs()
    )
    mo = next(r for r in gateway.receiver.requests if r.path == "/mo")
    assert mo.query["text"] == "TC"
    relay = requests.get(
        f"{base}/hooks/kannel/{token}/mo",
        params={"from": mo.query["from"], "text": mo.query["text"]},
        timeout=10,
    )
    assert relay.status_code == 200
    opt_outs = client.get("/api/v1/opt-outs", headers=writer).get_json()["items"]
    assert [(o["phone"], o["source"]) for o in opt_outs] == [("+84912345678", "reply")]

    rows = [
        ("0981234567", "Nguyễn Văn An", ""),
        ("0912345678", "Trần Thị Bình", ""),
        ("0971112222", "Lê Văn Cường", ""),
    ]
    list_id = upload(client, writer, csv_bytes(rows), "ds.csv").get_json()["id"]
    wave = create_wave(client, writer, campaign_id, account_id, list_id, VI_TEXT)["id"]

    stats = dispatch_due_once(app)
    assert stats["claimed"] == 1, stats
    got = client.get(f"/api/v1/deliveries/{wave}", headers=writer).get_json()
    assert got["status"] == "sent", (got, gateway.logs())

    def handset_texts():
        msgs = [decode_handset(m) for m in gateway.handset_messages()]
        return [m for m in msgs if m.receiver in ("+84981234567", "+84971112222")]

    assert gateway.wait_for_handset(
        lambda _lines: len(reassemble(handset_texts())) >= 2, timeout=20
    ), gateway.logs()
    msgs = handset_texts()
    assert {m.kind for m in msgs} == {"udh"}  # two UCS-2 parts each, concatenated
    assert reassemble(msgs) == [VI_TEXT, VI_TEXT]
    assert not any(
        decode_handset(m).receiver == "+84912345678" for m in gateway.handset_messages()
    )  # the refusal is honoured

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses = _statuses(app, wave)
        if (
            statuses.get("+84981234567") == "delivered"
            and statuses.get("+84971112222") == "delivered"
        ):
            break
        time.sleep(0.2)
    assert _statuses(app, wave) == {
        "+84981234567": "delivered",
        "+84971112222": "delivered",
        "+84912345678": "suppressed",
    }, gateway.logs()
    counts = client.get(f"/api/v1/sms/waves/{wave}", headers=writer).get_json()
    assert counts["by_status"]["delivered"] == 2 and counts["progress"] == 1.0
