"""Defects found by fuzzing and by hand (issue "Hardening"), one test each.

Run on SQLite and PostgreSQL where the database matters (NUL bytes and integer
ranges behaved differently on each).
"""

from __future__ import annotations

import io
import logging
import os
import stat
import time

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import PASSWORD, api_headers, login, make_user

HUGE = str(2**64)


def test_sqlite_file_is_private(app, tmp_path):
    from sqlalchemy.engine import make_url

    path = make_url(app.config["LANTOA_DATABASE_URL"]).database
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_ids_out_of_range_are_not_found(any_app):
    client = any_app.test_client()
    h = api_headers(any_app, "communicator")
    for path in (f"/api/v1/campaigns/{HUGE}", f"/api/v1/campaigns/{2**31}", f"/api/v1/deliveries/{HUGE}"):
        assert client.get(path, headers=h).status_code == 404, path
    assert client.get(f"/r/{HUGE}/xa-lac-hoa").status_code == 404
    r = client.get(f"/api/v1/campaigns?offset={2**63}", headers=h)
    assert r.status_code == 422 and "offset" in r.get_json()["error"]["fields"]
    r = client.get(f"/api/v1/deliveries?campaign_id={HUGE}", headers=h)
    assert r.status_code == 422


def test_null_bytes_are_refused_not_500(any_app):
    client = any_app.test_client()
    h = api_headers(any_app, "communicator")
    assert client.get("/r/1/xa%00").status_code == 400
    r = client.get("/api/v1/deliveries?status=sent%00", headers=h)
    assert r.status_code == 422
    r = client.post("/api/v1/campaigns", headers=h, json={"title": "Chiến dịch\u0000", "starts_on": "2027-01-01",
                                                          "ends_on": "2027-01-02"})
    assert r.status_code == 422 and "title" in r.get_json()["error"]["fields"]
    r = client.get("/hooks/kannel/khong-co/mo?from=0912345678&text=a%00b")
    assert r.status_code == 422


def test_feedback_form_with_controls_keeps_the_text(any_app):
    from campaigns.measure.models import Feedback

    client = any_app.test_client()
    form = client.get("/y-kien").get_data(as_text=True)
    data = {"service": "ho-tich", "satisfaction": "4", "comment": "Rất\u0000 tốt\u000b nhé"}
    if 'name="csrf_token"' in form:
        data["csrf_token"] = form.split('name="csrf_token"')[1].split('value="')[1].split('"')[0]
    r = client.post("/y-kien", data=data)
    assert r.status_code < 500
    with any_app.app_context(), session_scope(any_app) as s:
        rows = s.exec(select(Feedback)).all()
        assert [f.comment for f in rows] == ["Rất tốt nhé"]


def test_deep_json_is_refused(app):
    client = app.test_client()
    body = ("[" * 100_000) + ("]" * 100_000)
    r = client.post("/api/v1/campaigns", data=body, content_type="application/json",
                    headers=api_headers(app, "communicator"))
    assert r.status_code == 422


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-05:00"])
def test_extreme_scheduled_at_is_a_validation_error(app, when):
    from core.timeutil import parse_iso_datetime

    with pytest.raises(ValueError):
        parse_iso_datetime(when)
    h = api_headers(app, "communicator")
    client = app.test_client()
    r = client.post("/api/v1/deliveries", headers=h, json={"campaign_id": 1, "channel_account_id": 1,
                                                           "scheduled_at": when, "content": {"text": "x"}})
    assert r.status_code in (404, 422)


def test_login_next_with_crlf_is_ignored(app):
    user = make_user(app, "communicator")
    client = app.test_client()
    r = client.post("/login?next=/campaigns%0d%0aSet-Cookie:%20x=1", data={"email": user.email,
                                                                            "password": PASSWORD})
    assert r.status_code == 302
    assert "Set-Cookie: x" not in r.headers["Location"] and "\n" not in r.headers["Location"]


def test_405_names_the_allowed_methods(app):
    r = app.test_client().delete("/login")
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    r = app.test_client().delete("/api/v1/units", headers=api_headers(app, "communicator"))
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def test_a_copied_cookie_stops_working_after_logout(app):
    user = make_user(app, "communicator")
    client = app.test_client()
    login(client, user)
    cookie = client.get_cookie("session").value
    assert client.get("/campaigns").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/campaigns").status_code == 200
    page = client.get("/campaigns").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    r = thief.get("/campaigns")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_password_and_role_changes_end_sessions(app, runner):
    user = make_user(app, "communicator")
    client = app.test_client()
    login(client, user)
    assert client.get("/campaigns").status_code == 200
    result = runner.invoke(args=["users", "set-password", user.email, "--password-stdin"], input="mat-khau-moi-123\n")
    assert result.exit_code == 0, result.output
    assert client.get("/campaigns").status_code == 302
    assert login(client, user.email, "mat-khau-moi-123").status_code == 302
    assert client.get("/campaigns").status_code == 200
    result = runner.invoke(args=["users", "set-role", user.email, "reviewer"])
    assert result.exit_code == 0, result.output
    assert client.get("/campaigns").status_code == 302


def test_secure_cookie_and_hsts_over_https(app):
    user = make_user(app, "communicator")
    plain = app.test_client()
    r = login(plain, user)
    assert "Secure" not in r.headers.get("Set-Cookie", "")
    assert "Strict-Transport-Security" not in r.headers
    tls = app.test_client()
    r = tls.post("/login", data={"email": user.email, "password": PASSWORD}, base_url="https://localhost")
    assert "Secure" in r.headers["Set-Cookie"]
    assert "max-age=" in r.headers["Strict-Transport-Security"]


def test_behind_proxy_trusts_one_hop(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, LANTOA_BEHIND_PROXY="1", WTF_CSRF_ENABLED=False)
    user = make_user(app, "communicator")

    @app.get("/_addr")
    def _addr():
        from flask import request

        return f"{request.remote_addr} {request.scheme}"

    r = app.test_client().get("/_addr", headers={"X-Forwarded-For": "203.113.1.5", "X-Forwarded-Proto": "https"})
    assert r.get_data(as_text=True) == "203.113.1.5 https"
    assert "Strict-Transport-Security" in r.headers
    r = app.test_client().post("/login", data={"email": user.email, "password": PASSWORD},
                               headers={"X-Forwarded-For": "203.113.1.5", "X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["Set-Cookie"]


def test_logs_carry_no_personal_data_or_secrets():
    from core.hardening import install_log_filter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_filter()
        log = logging.getLogger("lantoa.test")
        log.warning("insert failed [SQL: INSERT INTO measure_feedback (name, contact) VALUES (?, ?)]\n"
                    "[parameters: ('Nguyễn Văn A', '0912345678')]\n(Background on this error at: x)")
        log.warning("call with Authorization: Bearer abcdEFGH1234 and password=hunter22 for a@b.vn")
        log.warning("số điện thoại +84 912 345 678 và 0912.345.678")
        try:
            raise ValueError("secret_key=s3cr3t for 0987654321")
        except ValueError:
            log.exception("boom")
    finally:
        root.removeHandler(handler)
    out = stream.getvalue()
    for leaked in ("Nguyễn Văn A", "0912345678", "abcdEFGH1234", "hunter22", "a@b.vn", "912 345 678",
                   "0912.345.678", "s3cr3t", "0987654321"):
        assert leaked not in out, leaked
    assert "INSERT INTO measure_feedback" in out and "boom" in out


def test_a_failed_feedback_insert_logs_no_citizen_data(app, monkeypatch):
    """The feedback form's own failure path, with the app's log handlers."""
    from sqlalchemy.exc import IntegrityError

    from core.hardening import install_log_filter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    install_log_filter()
    try:
        from sqlmodel import Session

        real_commit = Session.commit

        def failing_commit(self):
            raise IntegrityError("INSERT INTO measure_feedback (name, contact) VALUES (?, ?)",
                                 ("Trần Thị B", "0901234567"), Exception("constraint"))

        monkeypatch.setattr(Session, "commit", failing_commit)
        client = app.test_client()
        r = client.post("/y-kien", data={"service": "ho-tich", "satisfaction": "5", "comment": "tốt",
                                         "name": "Trần Thị B", "contact": "0901234567", "consent": "y"})
        monkeypatch.setattr(Session, "commit", real_commit)
        assert r.status_code < 600
    finally:
        logging.getLogger().removeHandler(handler)
    out = stream.getvalue()
    assert "Trần Thị B" not in out and "0901234567" not in out


def test_bearer_reads_do_not_write_every_time(app):
    from core.models import ApiToken

    h = api_headers(app, "communicator")
    client = app.test_client()
    assert client.get("/api/v1/units", headers=h).status_code == 200
    with app.app_context(), session_scope(app) as s:
        first = s.exec(select(ApiToken)).one().last_used_at
    assert first is not None
    assert client.get("/api/v1/units", headers=h).status_code == 200
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(ApiToken)).one().last_used_at == first


def test_api_answers_while_sqlite_is_locked_by_a_writer(app):
    """A long import holds SQLite's write lock: reads still answer, quickly."""
    import sqlite3

    from sqlalchemy.engine import make_url

    h = api_headers(app, "communicator")
    client = app.test_client()
    client.get("/api/v1/units", headers=h)
    with app.app_context(), session_scope(app) as s:  # make the token's touch due again
        from core.models import ApiToken

        s.exec(select(ApiToken)).one().last_used_at = None
    writer = sqlite3.connect(make_url(app.config["LANTOA_DATABASE_URL"]).database, timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE org_unit SET name = name WHERE id = 1")
    try:
        started = time.monotonic()
        r = client.get("/api/v1/units", headers=h)
        assert r.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        writer.rollback()
        writer.close()


def test_huge_ids_in_web_forms_and_queries(any_app):
    """Ids read from forms and query strings are bounded like path ids: a number the
    database cannot hold is an unknown id, never a 500 (PostgreSQL refuses it)."""
    user = make_user(any_app, "communicator")
    client = any_app.test_client()
    login(client, user)
    for path in (f"/deliveries?campaign_id={HUGE}", f"/kits/?campaign_id={HUGE}",
                 f"/deliveries/progress?campaign_id={HUGE}", f"/media/new/social-square?item={HUGE}&campaign={HUGE}"):
        assert client.get(path).status_code < 500, path
    r = client.post("/sms/compose", data={"text": "Xin chào", "recipient_list_id": HUGE,
                                          "channel_account_id": HUGE, "campaign_id": HUGE})
    assert r.status_code < 500
    r = client.post("/kits/build", data={"campaign_id": HUGE})
    assert r.status_code < 500


def test_a_locked_sqlite_is_a_503_to_retry_not_a_500(app):
    """A write that waited past SQLite's busy timeout behind a long import: the user
    is told to retry (nothing was saved), never shown a 500."""
    from sqlalchemy.exc import OperationalError

    @app.post("/_locked")
    def _locked():
        raise OperationalError("INSERT INTO x", {}, Exception("database is locked"))

    @app.post("/api/v1/_locked")
    def _locked_api():
        raise OperationalError("INSERT INTO x", {}, Exception("database is locked"))

    r = app.test_client().post("/_locked")
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert "thử lại" in r.get_data(as_text=True) and "INSERT" not in r.get_data(as_text=True)
    r = app.test_client().post("/api/v1/_locked", headers=api_headers(app, "communicator"))
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "busy"
