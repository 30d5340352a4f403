"""Kannel waves against a fake sendsms that answers as Kannel documents it
(202/503/403), and the Kannel callbacks (DLR, MO): compliance at dispatch time
(window, 24 h cap, opt-out/DNC), per-recipient records, retries that never
double-send, and hooks that never 500 on garbage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update

from core.db import get_engine
from scheduler.models import Delivery
from tests.fakes.sms_app import (
    create_wave,
    csv_bytes,
    dispatch_once,
    make_account,
    seed_campaign,
    upload,
)
from tests.helpers import api_headers
from tests.kannel import Receiver

A, B, C, D = "0981234567", "0912345678", "0903123456", "0971112222"
VI = "UBND tỉnh Sóc Trăng: Đăng ký dịch vụ công trực tuyến"


@pytest.fixture
def sendsms():
    state = {"reply": (202, "0: Accepted for delivery")}
    recv = Receiver(lambda req: state["reply"])
    recv.state = state
    yield recv
    recv.close()


@pytest.fixture
def setup(app, client, sendsms):
    app.config["LANTOA_PUBLIC_BASE_URL"] = "https://lantoa.example.gov.vn"
    campaign_id = seed_campaign(app)
    writer = api_headers(app, "communicator")
    account_id, token = make_account(
        app,
        "sms_kannel",
        {
            "url": sendsms.base_url + "/cgi-bin/sendsms",
            "username": f"u{time.monotonic_ns()}",
            "sender": "UBND",
            "parts_per_second": 1000.0,
        },
        {"password": "foobar"},
    )
    return {"campaign_id": campaign_id, "writer": writer, "account_id": account_id, "token": token}


def _list(client, writer, numbers, **form):
    rows = [(n, f"Người {i}", "") for i, n in enumerate(numbers)]
    report = upload(client, writer, csv_bytes(rows), "l.csv", **form).get_json()
    assert report["valid"] == len(numbers), report
    return report["id"]


def _set_compliance(app, delivery_id, **sms):
    with get_engine(app).begin() as conn:
        current = conn.execute(
            text("SELECT compliance FROM delivery WHERE id = :d"), {"d": delivery_id}
        ).scalar()
        import json

        current = json.loads(current) if isinstance(current, str) else dict(current or {})
        current["sms"] = sms
        conn.execute(
            update(Delivery.__table__)
            .where(Delivery.__table__.c.id == delivery_id)
            .values(compliance=current)
        )


def _records(app, delivery_id):
    with get_engine(app).connect() as conn:
        return {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute(
                text("SELECT phone, status, reason, id FROM sms_message WHERE delivery_id = :d"),
                {"d": delivery_id},
            )
        }


def _wave(client, s, list_id, body=VI):
    return create_wave(client, s["writer"], s["campaign_id"], s["account_id"], list_id, body)["id"]


def _delivery(client, s, delivery_id):
    return client.get(f"/api/v1/deliveries/{delivery_id}", headers=s["writer"]).get_json()


def test_wave_sends_each_recipient_with_dlr_url_and_compliance(app, client, sendsms, setup):
    s = setup
    client.post("/api/v1/opt-outs", headers=s["writer"], json={"phones": [B], "source": "dnc"})
    first = _wave(client, s, _list(client, s["writer"], [C]), "Tin thứ nhất")
    _set_compliance(app, first, max_per_24h=1)
    dispatch_once(app)
    assert _delivery(client, s, first)["status"] == "sent"
    sendsms.requests.clear()

    wave = _wave(client, s, _list(client, s["writer"], [A, B, C, D]))
    _set_compliance(app, wave, max_per_24h=1)
    dispatch_once(app)
    d = _delivery(client, s, wave)
    assert d["status"] == "sent", d
    sent_to = sorted(r.query["to"] for r in sendsms.requests)
    assert sent_to == ["+84971112222", "+84981234567"]  # B opted out (DNC), C over the cap
    records = _records(app, wave)
    assert records["+84912345678"][:2] == ("suppressed", "opt_out:dnc")
    assert records["+84903123456"][:2] == ("suppressed", "cap_24h")
    req = next(r for r in sendsms.requests if r.query["to"] == "+84981234567")
    assert req.query["coding"] == "2" and req.query["charset"] == "UTF-8"
    assert req.query["text"] == VI and req.query["from"] == "UBND"
    assert req.query["dlr-mask"] == "31"
    mid = records["+84981234567"][2]
    assert req.query["dlr-url"] == (
        f"https://lantoa.example.gov.vn/hooks/kannel/{s['token']}/dlr?id={mid}&status=%d"
    )
    # DLRs: 8 (reached the SMSC) then 1 (delivered); a late 8 never downgrades
    for status in (8, 1, 8):
        resp = client.get(f"/hooks/kannel/{s['token']}/dlr?id={mid}&status={status}")
        assert resp.status_code == 200
    assert _records(app, wave)["+84981234567"][0] == "delivered"
    other = _records(app, wave)["+84971112222"][2]
    client.get(f"/hooks/kannel/{s['token']}/dlr?id={other}&status=16&answer=NACK%2F0x0000000b")
    assert _records(app, wave)["+84971112222"][:2] == ("failed", "NACK/0x0000000b")
    counts = client.get(f"/api/v1/sms/waves/{wave}", headers=s["writer"]).get_json()
    assert counts["by_status"] == {
        "pending": 0,
        "suppressed": 2,
        "sent": 0,
        "delivered": 1,
        "failed": 1,
        "not_our_subscriber": 0,
    }
    assert counts["progress"] == 1.0


def test_outside_the_window_the_wave_waits(app, client, sendsms, setup):
    s = setup
    wave = _wave(client, s, _list(client, s["writer"], [A]))
    local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    start = (local + timedelta(hours=2)).strftime("%H:00")
    end = (local + timedelta(hours=3)).strftime("%H:00")
    _set_compliance(app, wave, window_start=start, window_end=end)
    dispatch_once(app)
    d = _delivery(client, s, wave)
    assert d["status"] == "scheduled" and d["attempts"] == 0, d
    assert sendsms.requests == []
    with get_engine(app).connect() as conn:
        nxt = conn.execute(
            text("SELECT next_attempt_at FROM delivery WHERE id = :d"), {"d": wave}
        ).scalar()
    if isinstance(nxt, str):
        nxt = datetime.fromisoformat(nxt)
    nxt_local = nxt.replace(tzinfo=nxt.tzinfo or UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert nxt_local.strftime("%H:%M") == start


def test_503_retries_later_and_never_double_sends(app, client, sendsms, setup):
    s = setup
    sendsms.state["reply"] = (503, "Temporal failure, try again later.")
    wave = _wave(client, s, _list(client, s["writer"], [A, B, C, D]))
    dispatch_once(app)
    d = _delivery(client, s, wave)
    assert d["status"] == "retry_wait", d
    assert {v[0] for v in _records(app, wave).values()} == {"pending"}
    failed_calls = len(sendsms.requests)
    assert failed_calls == 3  # stops after 3 transient answers in a row
    sendsms.state["reply"] = (202, "0: Accepted for delivery")
    deadline = time.monotonic() + 10
    while _delivery(client, s, wave)["status"] != "sent" and time.monotonic() < deadline:
        time.sleep(0.2)
        dispatch_once(app)
    assert _delivery(client, s, wave)["status"] == "sent"
    accepted = [r.query["to"] for r in sendsms.requests[failed_calls:]]
    assert sorted(accepted) == sorted(
        ["+84981234567", "+84912345678", "+84903123456", "+84971112222"]
    )
    assert {v[0] for v in _records(app, wave).values()} == {"sent"}


def test_records_in_flight_at_a_crash_are_not_resent(app, client, sendsms, setup):
    from scheduler.sms.compliance import SmsPolicy
    from scheduler.sms.waves import expand_wave

    s = setup
    list_id = _list(client, s["writer"], [A, B])
    wave = _wave(client, s, list_id)
    with get_engine(app).begin() as conn:  # a pass that crashed mid-send
        expand_wave(conn, delivery_id=wave, list_id=list_id, text_=VI, policy=SmsPolicy())
        conn.execute(
            text(
                "UPDATE sms_message SET reason = 'sending', attempts = 1 "
                "WHERE delivery_id = :d AND phone = '+84981234567'"
            ),
            {"d": wave},
        )
    dispatch_once(app)
    assert [r.query["to"] for r in sendsms.requests] == ["+84912345678"]
    records = _records(app, wave)
    assert records["+84981234567"][0] == "failed" and "ambiguous" in records["+84981234567"][1]
    # a late DLR still settles it
    client.get(f"/hooks/kannel/{s['token']}/dlr?id={records['+84981234567'][2]}&status=1")
    assert _records(app, wave)["+84981234567"][0] == "delivered"


def test_wrong_credentials_stop_the_wave_without_failing_recipients(app, client, sendsms, setup):
    s = setup
    sendsms.state["reply"] = (403, "Authorization failed for sendsms")
    wave = _wave(client, s, _list(client, s["writer"], [A, B, C]))
    dispatch_once(app)
    d = _delivery(client, s, wave)
    assert d["status"] == "failed" and "Authorization" in d["last_error"]
    assert len(sendsms.requests) == 1
    assert {v[0] for v in _records(app, wave).values()} == {"pending"}


def test_message_over_the_part_limit_is_refused_when_scheduled(app, client, sendsms, setup):
    s = setup
    list_id = _list(client, s["writer"], [A])
    resp = client.post(
        "/api/v1/deliveries",
        headers=s["writer"],
        json={
            "campaign_id": s["campaign_id"],
            "channel_account_id": s["account_id"],
            "scheduled_at": "2020-01-01T08:00:00",
            "content": {"text": "Đăng ký dịch vụ công. " * 30, "recipient_list_id": list_id},
        },
    )
    assert resp.status_code == 422
    assert "phần tin" in resp.get_json()["error"]["fields"]["content.text"]
    dispatch_once(app)
    assert sendsms.requests == []


def test_dlr_hook_rejects_garbage_and_foreign_messages(app, client, sendsms, setup):
    s = setup
    wave = _wave(client, s, _list(client, s["writer"], [A]))
    dispatch_once(app)
    mid = _records(app, wave)["+84981234567"][2]
    other_id, other_token = make_account(
        app, "sms_kannel", {"url": "http://127.0.0.1:9/x", "username": "x", "sender": "UBND"}
    )
    base = f"/hooks/kannel/{s['token']}/dlr"
    cases = [
        (f"/hooks/kannel/not-a-token/dlr?id={mid}&status=1", 404),
        (f"/hooks/kannel/{other_token}/dlr?id={mid}&status=1", 404),  # not this account's wave
        (f"{base}?id={mid}&status=banana", 400),
        (f"{base}?id=%00%ff&status=1", 422),  # refused before the hook: no field holds a NUL
        (f"{base}?id={mid}&status=3", 400),
        (f"{base}?id=99999999999999999999999&status=1", 400),
        (f"{base}?status=1", 400),
        (f"{base}?id=424242&status=1", 404),
        (f"/hooks/kannel/{'x' * 500}/dlr?id=1&status=1", 404),
    ]
    for path, expected in cases:
        resp = client.get(path)
        assert resp.status_code == expected, (path, resp.status_code)
    assert client.post(f"{base}?id={mid}&status=1", data=b"\xff\x00garbage").status_code == 200
    assert _records(app, wave)["+84981234567"][0] == "delivered"


def test_mo_refusal_adds_to_opt_out_at_once(app, client, sendsms, setup):
    s = setup
    sendsms.state["reply"] = (503, "Temporal failure, try again later.")
    wave = _wave(client, s, _list(client, s["writer"], [A, B]))
    dispatch_once(app)  # the wave waits for the gateway; records are pending
    base = f"/hooks/kannel/{s['token']}/mo"
    assert client.get(f"{base}?from=%2B84981234567&text=C%E1%BA%A3m+%C6%A1n").status_code == 200
    assert client.get(f"{base}?from=%2B84981234567&text=T%E1%BB%AB+ch%E1%BB%91i").status_code == 200
    assert client.get(f"{base}?from=0912345678&text=huy.").status_code == 200
    assert client.get(f"{base}?text=STOP").status_code == 400
    assert client.get(f"{base}?from=abc&text=STOP").status_code == 200  # not a number: ignored
    assert client.get("/hooks/kannel/nope/mo?from=0981234567&text=STOP").status_code == 404
    listed = client.get("/api/v1/opt-outs", headers=s["writer"]).get_json()["items"]
    assert {o["phone"]: o["source"] for o in listed} == {
        "+84981234567": "reply",
        "+84912345678": "reply",
    }
    records = _records(app, wave)
    assert {v[:2] for v in records.values()} == {("suppressed", "opt_out:reply")}


def test_custom_refusal_keywords(app, client, sendsms, setup):
    s = setup
    app.config["LANTOA_SMS_REFUSAL_KEYWORDS"] = "KHONG NHAN, NGUNG"
    base = f"/hooks/kannel/{s['token']}/mo"
    client.get(f"{base}?from=0981234567&text=Kh%C3%B4ng+nh%E1%BA%ADn")
    client.get(f"{base}?from=0912345678&text=STOP")
    listed = client.get("/api/v1/opt-outs", headers=s["writer"]).get_json()["items"]
    assert [o["phone"] for o in listed] == ["+84981234567"]


def test_hooks_and_batch_endpoints_never_500_on_garbage(app, client, sendsms, setup):
    import random
    from urllib.parse import quote_from_bytes

    s = setup
    rng = random.Random(1588)
    partner = api_headers(app, "telecom_partner")  # Viettel's
    partner_account, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    create_wave(
        client,
        s["writer"],
        s["campaign_id"],
        partner_account,
        _list(client, s["writer"], [A]),
        "Thông báo",
    )
    dispatch_once(app)
    batch_id = client.get("/api/v1/sms/batches", headers=partner).get_json()["items"][0]["id"]
    for _ in range(60):
        junk = quote_from_bytes(rng.randbytes(rng.randint(0, 40)))
        for path in (
            f"/hooks/kannel/{s['token']}/dlr?id={junk}&status={junk}",
            f"/hooks/kannel/{s['token']}/mo?from={junk}&text={junk}",
            f"/hooks/kannel/{junk or 'x'}/dlr?id=1&status=1",
            f"/api/v1/sms/batches?limit={junk}&offset={junk}&delivery_id={junk}",
        ):
            resp = client.get(path, headers=partner)
            assert resp.status_code < 500, (path, resp.status_code)
        body = rng.randbytes(rng.randint(0, 200))
        for ctype in ("application/json", "text/csv"):
            resp = client.post(
                f"/api/v1/sms/batches/{batch_id}/reports",
                data=body,
                content_type=ctype,
                headers=partner,
            )
            assert resp.status_code in (200, 413, 422), resp.status_code
        resp = client.post(
            "/api/v1/recipient-lists",
            headers=s["writer"],
            data=body,
            content_type="multipart/form-data; boundary=zz",
        )
        assert resp.status_code < 500
