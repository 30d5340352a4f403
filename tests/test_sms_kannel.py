"""KannelAdapter: reply classification against a fake sendsms (table-driven),
pacing by parts, and end-to-end against a real Kannel with fakesmsc handsets."""

from __future__ import annotations

import itertools
import signal
import time
import unicodedata
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import create_engine, text

from channels.base import ConfigError, Message, Outcome
from channels.sms_kannel import KannelAdapter, classify_reply
from channels.sms_partner import PartnerBatchAdapter
from tests.kannel import Receiver, decode_handset, free_port, reassemble, start_kannel

_ids = itertools.count(1)
VI_TEXT = "UBND tỉnh Sóc Trăng: Đăng ký dịch vụ công trực tuyến tại dichvucong.gov.vn"
VI_SHORT = "UBND Sóc Trăng: Đăng ký dịch vụ công trực tuyến"  # one UCS-2 part


def make_adapter(
    url: str, *, password: str = "foobar", username: str | None = None, pps: float = 1000.0, **kw
) -> KannelAdapter:
    # A distinct username per adapter keeps the process-wide token buckets apart.
    return KannelAdapter(
        {
            "url": url,
            "username": username or f"tester{next(_ids)}",
            "sender": "UBND",
            "parts_per_second": pps,
        },
        {"password": password},
        **kw,
    )


def msg(to: str = "+84912345678", body: str = "Xin chao", **options) -> Message:
    return Message(idempotency_key=f"k{next(_ids)}", text=body, to=to, options=options)


# -- against a fake sendsms that follows Kannel's documented replies -----------

REPLIES = [
    (202, "0: Accepted for delivery", Outcome.SENT),
    (202, "3: Queued for later delivery", Outcome.SENT),
    (503, "Temporal failure, try again later.", Outcome.TRANSIENT),
    (500, "Sending failed.", Outcome.TRANSIENT),
    (403, "Authorization failed for sendsms", Outcome.PERMANENT),
    (403, "Not routable. Do not try again.", Outcome.PERMANENT),
    (400, "Missing receiver number, rejected", Outcome.PERMANENT),
    (200, "OK maybe", Outcome.AMBIGUOUS),
]


@pytest.fixture
def fake_sendsms():
    state = {"reply": (202, "0: Accepted for delivery"), "delay": 0.0}

    def reply(req):
        time.sleep(state["delay"])
        return state["reply"]

    recv = Receiver(reply)
    recv.state = state
    yield recv
    recv.close()


@pytest.mark.parametrize(("status", "body", "outcome"), REPLIES)
def test_reply_classification(fake_sendsms, status, body, outcome):
    fake_sendsms.state["reply"] = (status, body)
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms")
    result = adapter.deliver(msg())
    assert result.outcome == outcome, result
    assert result.http_status == status
    assert len(fake_sendsms.requests) == 1


def test_classify_reply_retry_after():
    result = classify_reply(503, "Temporal failure, try again later.", "7")
    assert result.outcome == Outcome.TRANSIENT and result.retry_after == 7.0


def test_request_parameters_vietnamese_and_dlr(fake_sendsms):
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms")
    decomposed = unicodedata.normalize("NFD", VI_TEXT)
    result = adapter.deliver(msg(body=decomposed, dlr_url="http://app.local/hooks/kannel/dlr?m=5"))
    assert result.outcome == Outcome.SENT
    q = fake_sendsms.requests[0].query
    assert q["text"] == VI_TEXT  # sent as NFC
    assert q["coding"] == "2" and q["charset"] == "UTF-8"
    assert q["to"] == "+84912345678" and q["from"] == "UBND"
    assert q["dlr-mask"] == "31"
    assert q["dlr-url"] == "http://app.local/hooks/kannel/dlr?m=5&status=%d"


def test_gsm_text_and_forced_no_diacritics(fake_sendsms):
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms")
    adapter.deliver(msg(body="Hello {QC}", dlr_url="http://a/dlr?s=%d"))
    adapter.deliver(msg(body="Đăng ký dịch vụ", coding="gsm7"))
    first, second = (r.query for r in fake_sendsms.requests)
    assert first["coding"] == "0" and first["dlr-url"] == "http://a/dlr?s=%d"
    assert second["coding"] == "0" and second["text"] == "Dang ky dich vu"


def test_coding_option_values(fake_sendsms):
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms")
    for value, expected in ((2, "2"), ("0", "0"), ("UCS2", "2"), ("auto", "0")):
        assert adapter.deliver(msg(body="Hello", coding=value)).outcome == Outcome.SENT
        assert fake_sendsms.requests[-1].query["coding"] == expected
    result = adapter.deliver(msg(body="Hello", coding="utf8"))
    assert result.outcome == Outcome.PERMANENT and "coding" in result.message
    assert len(fake_sendsms.requests) == 4


def test_too_many_parts_is_permanent_and_not_sent(fake_sendsms):
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms")
    result = adapter.deliver(msg(body="ê" * 500))
    assert result.outcome == Outcome.PERMANENT
    assert "8 phần tin" in result.message
    assert fake_sendsms.requests == []


def test_bad_recipient_is_permanent(fake_sendsms):
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms")
    assert adapter.deliver(msg(to="0912345678")).outcome == Outcome.PERMANENT
    assert fake_sendsms.requests == []


def test_read_timeout_is_ambiguous(fake_sendsms):
    fake_sendsms.state["delay"] = 0.6
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms", timeout=(1.0, 0.2))
    assert adapter.deliver(msg()).outcome == Outcome.AMBIGUOUS


def test_connection_refused_is_transient():
    adapter = make_adapter(f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms")
    assert adapter.deliver(msg()).outcome == Outcome.TRANSIENT


def test_pacing_counts_parts(fake_sendsms):
    sleeps: list[float] = []
    adapter = make_adapter(fake_sendsms.base_url + "/cgi-bin/sendsms", pps=2.0, sleep=sleeps.append)
    three_parts = "ê" * 150  # UCS-2: 67 + 67 + 16
    adapter.deliver(msg(body=three_parts))
    adapter.deliver(msg(body=three_parts))
    # burst 2 parts, rate 2/s: the 1st message owes 1 part (0.5 s), the 2nd 3 more.
    assert len(sleeps) == 2
    assert sleeps[0] == pytest.approx(0.5, abs=0.05)
    assert sleeps[1] == pytest.approx(2.0, abs=0.1)


def test_config_validation():
    with pytest.raises(ConfigError) as exc:
        KannelAdapter(
            {"url": "ftp://x", "username": "u", "sender": "A" * 12, "parts_per_second": 0}
        )
    assert set(exc.value.fields) == {"url", "sender", "parts_per_second"}
    with pytest.raises(ConfigError) as exc:
        KannelAdapter({"url": "http://x/", "username": "u", "sender": "Sở TT"})
    assert "brandname" in exc.value.fields["sender"]
    adapter = KannelAdapter({"url": "http://x/", "username": "u", "sender": "8190"})
    assert adapter.rate_per_second == 10.0
    assert (
        KannelAdapter.redacted({"url": "x"}, {"password": "supersecret1"})["password"] == "đã đặt"
    )


def test_preview_shows_both_variants():
    adapter = KannelAdapter({"url": "http://x/", "username": "u", "sender": "UBND"})
    html = adapter.preview(msg(body="Đăng ký <b>ngay</b>"))
    assert "Dang ky" in html and "Đăng ký" in html
    assert "&lt;b&gt;" in html and "<b>ngay" not in html
    assert "UCS-2" in html and "GSM-7" in html


def test_partner_adapter_never_sends_per_message():
    adapter = PartnerBatchAdapter({"sender": "SocTrang"})
    result = adapter.deliver(msg())
    assert result.outcome == Outcome.PERMANENT and "batches" in result.message
    assert adapter.check(msg(body="ê" * 500))
    assert adapter.check(msg(body="Xin chào")) == []
    with pytest.raises(ConfigError):
        PartnerBatchAdapter({"sender": "TenQuaDaiHon11"})
    with pytest.raises(ConfigError):
        PartnerBatchAdapter({})


# -- a real Kannel: bearerbox + smsbox + fakesmsc --------------------------------


@pytest.fixture
def sms_db():
    from scheduler.sms.models import sms_metadata

    engine = create_engine("sqlite://")
    sms_metadata(delivery_stub=True).create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO delivery (id) VALUES (1)"))
    yield engine
    engine.dispose()


def _new_record(engine, body: str) -> int:
    with engine.begin() as conn:
        return conn.execute(
            text(
                "INSERT INTO sms_message (delivery_id, phone, carrier, text, segments, encoding, "
                "status, attempts, updated_at) VALUES (1, :p, 'vinaphone', :t, 1, 'UCS-2', "
                "'pending', 0, '2026-01-01') RETURNING id"
            ),
            {"p": f"+8491{next(_ids):07d}", "t": body},
        ).scalar_one()


def _dlrs(gw, message_id: int) -> list[str]:
    return [
        r.query["status"]
        for r in gw.receiver.requests
        if r.path == "/dlr" and r.query["id"] == str(message_id)
    ]


@pytest.mark.kannel
def test_kannel_end_to_end_ucs2_and_dlrs(tmp_path, sms_db):
    from scheduler.sms import waves

    gw = start_kannel(tmp_path / "kannel")
    try:
        adapter = make_adapter(gw.sendsms_url, username=gw.username, password=gw.password)
        short_id, long_id = _new_record(sms_db, VI_SHORT), _new_record(sms_db, VI_TEXT)
        result = adapter.deliver(msg(body=VI_SHORT, dlr_url=gw.dlr_url(str(short_id))))
        assert result.outcome == Outcome.SENT, (result, gw.logs())

        # What the handset (fakesmsc) received, decoded: the Vietnamese text, UCS-2.
        assert gw.wait_for_handset(lambda m: len(m) >= 1), gw.logs()
        first = decode_handset(gw.handset_messages()[0])
        assert (first.sender, first.receiver, first.kind) == ("UBND", "+84912345678", "ucs-2")
        assert first.text == VI_SHORT
        # DLRs: 8 (reached the SMSC) and 1 (delivered to the phone). smsbox calls
        # dlr-url from parallel HTTP clients, so their arrival order is a race.
        assert gw.receiver.wait_for(lambda reqs: sorted(_dlrs(gw, short_id)) == ["1", "8"]), (
            gw.receiver.requests,
            gw.logs(),
        )

        # 74 characters: two concatenated UCS-2 parts that reassemble to the text.
        result = adapter.deliver(msg(body=VI_TEXT, dlr_url=gw.dlr_url(str(long_id))))
        assert result.outcome == Outcome.SENT
        assert gw.wait_for_handset(lambda m: len(m) >= 3), gw.logs()
        parts = [decode_handset(m) for m in gw.handset_messages()[1:]]
        assert [p.kind for p in parts] == ["udh", "udh"]
        assert reassemble(parts) == [VI_TEXT]
        # Kannel merges the parts' DLRs into one 8 and one 1 for the message.
        assert gw.receiver.wait_for(lambda reqs: sorted(_dlrs(gw, long_id)) == ["1", "8"])

        with sms_db.begin() as conn:
            for req in list(gw.receiver.requests):
                waves.apply_dlr(conn, int(req.query["id"]), int(req.query["status"]))
            statuses = conn.execute(text("SELECT status FROM sms_message ORDER BY id")).scalars()
            # whatever the arrival order, a late 8 never downgrades "delivered"
            assert list(statuses) == ["delivered", "delivered"]
    finally:
        gw.stop()


@pytest.mark.kannel
def test_kannel_single_ucs2_gsm_and_errors(tmp_path):
    gw = start_kannel(tmp_path / "kannel")
    try:
        adapter = make_adapter(gw.sendsms_url, username=gw.username, password=gw.password)
        assert adapter.test_connection().ok
        assert adapter.deliver(msg(body="Xin chào Sóc Trăng")).outcome == Outcome.SENT
        assert adapter.deliver(msg(body="Hello [QC] 10/10")).outcome == Outcome.SENT
        assert gw.wait_for_handset(lambda m: len(m) >= 2), gw.logs()
        first, second = (decode_handset(m) for m in gw.handset_messages()[:2])
        assert (first.kind, first.text) == ("ucs-2", "Xin chào Sóc Trăng")
        assert (second.kind, second.text) == ("text", "Hello [QC] 10/10")

        # A wrong password: Kannel answers 403 -> permanent, nothing reaches a handset.
        bad = make_adapter(gw.sendsms_url, username=gw.username, password="wrong")
        result = bad.deliver(msg(body="x"))
        assert (result.outcome, result.http_status) == (Outcome.PERMANENT, 403)
        assert "Authorization" in result.message
        assert not bad.test_connection().ok

        # The SMSC is stopped: "Not routable" -> permanent.
        requests.get(
            f"http://127.0.0.1:{gw.admin_port}/stop-smsc",
            params={"password": "changeme", "smsc": "FAKE"},
            timeout=5,
        )
        time.sleep(0.3)
        result = adapter.deliver(msg(body="x"))
        assert result.outcome == Outcome.PERMANENT and "Not routable" in result.message

        # The gateway goes away (bearerbox stopped, smsbox follows) -> transient.
        gw.procs["bearerbox"].send_signal(signal.SIGTERM)
        gw.procs["bearerbox"].wait(timeout=10)
        gw.procs["smsbox"].wait(timeout=10)
        assert adapter.deliver(msg(body="x")).outcome == Outcome.TRANSIENT
        assert len(gw.handset_messages()) == 2
    finally:
        gw.stop()


@pytest.mark.kannel
def test_kannel_mo_refusal_reaches_opt_out(tmp_path, sms_db):
    from scheduler.sms import waves

    gw = start_kannel(
        tmp_path / "kannel", mo_messages=["0912345678 13013 text Huy"], mo_interval=0.2
    )
    try:
        assert gw.receiver.wait_for(lambda reqs: any(r.path == "/mo" for r in reqs)), gw.logs()
        mo = next(r for r in gw.receiver.requests if r.path == "/mo")
        assert mo.query == {"from": "0912345678", "to": "13013", "text": "Huy"}
        with sms_db.begin() as conn:
            assert waves.record_reply(
                conn, mo.query["from"], mo.query["text"], now=datetime.now(UTC)
            )
            row = conn.execute(text("SELECT phone, source FROM opt_out")).one()
        assert tuple(row) == ("+84912345678", "reply")
    finally:
        gw.stop()
