"""Channel accounts in the UI: the form follows the adapter's spec; secrets never shown again."""

from __future__ import annotations

from tests.helpers import login, make_user


def test_account_form_validation_redaction_and_preview(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    assert "Webhook" in client.get("/accounts").text or "webhook" in client.get("/accounts").text
    r = client.post("/accounts/new/webhook", data={"name": "", "url": "ftp://x"})
    assert r.status_code == 422 and "Vui lòng đặt tên tài khoản." in r.text and "http://" in r.text
    r = client.post("/accounts/new/webhook", data={"name": "Cổng nhận tin", "url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    assert "Cổng nhận tin" in page.text and "Chưa kiểm tra" in page.text
    preview = client.get(r.headers["Location"] + "?text=<b>Xin chào</b>")
    assert "&lt;b&gt;Xin chào&lt;/b&gt;" in preview.text
    assert client.get("/accounts/new/pigeon").status_code == 404


def test_facebook_secret_is_redacted(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    token = "EAAB" + "x" * 40 + "WXYZ"
    r = client.post("/accounts/new/facebook", data={"name": "Trang Sở", "page_id": "1234567890",
                                                    "page_access_token": token})
    assert r.status_code == 302, r.text
    page = client.get(r.headers["Location"]).text
    assert token not in page and "WXYZ" in page
    reviewer = app.test_client()
    login(reviewer, make_user(app, "reviewer"))
    assert reviewer.post("/accounts/new/facebook", data={}).status_code == 403
    assert token not in reviewer.get(r.headers["Location"]).text
