"""Channel accounts in the UI: the form follows the adapter's spec; secrets never shown again."""

from __future__ import annotations

import re

from tests.helpers import login, make_user


def test_account_form_validation_redaction_and_preview(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    assert "Webhook" in client.get("/accounts").text or "webhook" in client.get("/accounts").text
    r = client.post("/accounts/new/webhook", data={"name": "", "url": "ftp://x"})
    assert r.status_code == 422 and "Vui lòng đặt tên tài khoản." in r.text and "http://" in r.text
    r = client.post("/accounts/new/webhook", data={"name": "Cổng nhận tin", "url": "http://127.0.0.1:9/hook",
                                                   "form_once": _once(client, "webhook")})
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    assert "Cổng nhận tin" in page.text and "Chưa kiểm tra" in page.text
    preview = client.get(r.headers["Location"] + "?text=<b>Xin chào</b>")
    assert "&lt;b&gt;Xin chào&lt;/b&gt;" in preview.text
    assert client.get("/accounts/new/pigeon").status_code == 404


def _once(client, channel: str) -> str:
    page = client.get(f"/accounts/new/{channel}").text
    return re.search(r'name="form_once" value="([^"]+)"', page).group(1)


def test_facebook_secret_is_redacted(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    token = "EAAB" + "x" * 40 + "WXYZ"
    r = client.post("/accounts/new/facebook", data={"name": "Trang Sở", "page_id": "1234567890",
                                                    "page_access_token": token, "form_once": _once(client, "facebook")})
    assert r.status_code == 302, r.text
    page = client.get(r.headers["Location"]).text
    assert token not in page and "WXYZ" not in page and "đã đặt" in page  # set / not set, never a part
    reviewer = app.test_client()
    login(reviewer, make_user(app, "reviewer"))
    assert reviewer.post("/accounts/new/facebook", data={}).status_code == 403
    assert token not in reviewer.get(r.headers["Location"]).text


def test_account_form_keeps_input_and_refuses_a_second_submission(app):
    from sqlmodel import select

    from core.db import session_scope
    from scheduler.models import ChannelAccount

    client = app.test_client()
    login(client, make_user(app, "communicator"))
    form = client.get("/accounts/new/sms_partner").text
    assert 'maxlength="11"' not in form  # never cut silently in the browser
    assert "Tối đa 11 ký tự" in form  # the limit is stated
    once = _once(client, "sms_partner")
    r = client.post("/accounts/new/sms_partner", data={"name": "Lô tin Sở", "sender": "SoTTTT-SocTrang",
                                                       "unit": "so-vhttdl", "form_once": once})
    assert r.status_code == 422
    assert "dài 15 ký tự, tối đa 11 ký tự" in r.text and "không tự cắt bớt" in r.text
    assert 'value="Lô tin Sở"' in r.text and 'value="SoTTTT-SocTrang"' in r.text  # what was typed is kept
    assert re.search(r'<option value="so-vhttdl" selected>', r.text)
    r = client.post("/accounts/new/sms_partner", data={"name": "Lô tin Sở", "sender": "Sở TTTT",
                                                       "form_once": _once(client, "sms_partner")})
    assert r.status_code == 422 and "ký tự không dùng được: ở" in r.text
    once = _once(client, "sms_partner")
    data = {"name": "Lô tin Sở", "sender": "STTTT", "form_once": once}
    assert client.post("/accounts/new/sms_partner", data=data).status_code == 302
    again = client.post("/accounts/new/sms_partner", data=data)  # the back button, then "Lưu" again
    assert again.status_code == 302 and again.headers["Location"].endswith("/accounts")
    with app.app_context(), session_scope(app) as s:
        assert len(s.exec(select(ChannelAccount).where(ChannelAccount.name == "Lô tin Sở")).all()) == 1
