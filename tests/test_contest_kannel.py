"""The contest's one-time code through a real Kannel (bearerbox + smsbox, fakesmsc
as the handset): the code arrives on the handset, its record is stored as sent,
and the code read there opens the entry. A wrong sendsms password gives the
entrant a clear message and a failed record. Debian: kannel, kannel-extras."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.contest_helpers import setup_contest
from tests.kannel import decode_handset, start_kannel

pytestmark = pytest.mark.kannel


@pytest.fixture
def gateway(tmp_path):
    gw = start_kannel(tmp_path / "kannel")
    yield gw
    gw.stop()


def _handset_code(gateway, phone_digits: str) -> str | None:
    for line in gateway.handset_messages():
        msg = decode_handset(line)
        if phone_digits in msg.receiver:
            m = re.search(r"\b(\d{6})\b", msg.text)
            if m:
                return m.group(1)
    return None


def test_code_through_kannel_opens_the_entry(app, client, gateway):
    from scheduler.sms.models import SmsMessage

    ids = setup_contest(app, channel="sms_kannel",
                        config={"url": gateway.sendsms_url, "username": gateway.username, "sender": "UBND",
                                "parts_per_second": 50.0},
                        secrets={"password": gateway.password})
    r = client.post(f"/thi/{ids['slug']}/ma", data={"phone": "0987111222"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert gateway.wait_for_handset(lambda _msgs: _handset_code(gateway, "987111222") is not None, 20), \
        gateway.logs()
    code = _handset_code(gateway, "987111222")
    with app.app_context(), session_scope(app) as s:
        rec = s.exec(select(SmsMessage).where(SmsMessage.phone == "+84987111222")).one()
        assert rec.status == "sent" and rec.batch_id is None and code in rec.text
    r = client.post(f"/thi/{ids['slug']}/vao-thi", data={"phone": "0987111222", "code": code,
                                                         "unit": ids["commune_id"]})
    assert r.status_code == 302 and "/bai/" in r.headers["Location"]


def test_wrong_kannel_password_is_a_clear_message(app, client, gateway):
    from scheduler.sms.models import SmsMessage

    ids = setup_contest(app, channel="sms_kannel",
                        config={"url": gateway.sendsms_url, "username": gateway.username, "sender": "UBND"},
                        secrets={"password": "not-the-password"})
    r = client.post(f"/thi/{ids['slug']}/ma", data={"phone": "0987111333"})
    assert r.status_code == 503
    assert "Chưa gửi được tin nhắn mã xác nhận" in r.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        rec = s.exec(select(SmsMessage).where(SmsMessage.phone == "+84987111333")).one()
        assert rec.status == "failed"
