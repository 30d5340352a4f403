"""Numbers, durations and sizes as a Vietnamese reader reads them; labels for the program's
codes; stored errors shown as sentences."""

from __future__ import annotations

import pytest

from core.formatting import fmt_duration, fmt_filesize, fmt_number


@pytest.mark.parametrize("value, vi, en", [
    (1234.5, "1.234,5", "1,234.5"),
    (1234567, "1.234.567", "1,234,567"),
    (62.651, "62,7", "62.7"),
    (3.0, "3", "3"),
    (0, "0", "0"),
    (None, "", ""),
])
def test_numbers(value, vi, en):
    assert fmt_number(value, locale="vi") == vi
    assert fmt_number(value, locale="en") == en


def test_fixed_decimals():
    assert fmt_number(2.5, 2, locale="vi") == "2,50"


@pytest.mark.parametrize("seconds, vi, en", [
    (62.651, "62,7 giây", "62.7 s"),  # not "62.651 s", read as sixty-two thousand seconds
    (7, "7 giây", "7 s"),
    (185, "3 phút 5 giây", "3 min 5 s"),
    (180, "3 phút", "3 min"),
    (3900, "1 giờ 5 phút", "1 h 5 min"),
])
def test_durations(seconds, vi, en):
    assert fmt_duration(seconds, locale="vi") == vi
    assert fmt_duration(seconds, locale="en") == en


@pytest.mark.parametrize("size, vi", [
    (512, "512 B"), (839_680, "820 KB"), (1_572_864, "1,5 MB"), (5 * 1024**3, "5,0 GB"),
])
def test_sizes(size, vi):
    assert fmt_filesize(size, locale="vi") == vi


def test_filters_render_in_templates(app):
    from tests.helpers import login, make_user

    client = app.test_client()
    login(client, make_user(app, "communicator"))
    with app.test_request_context():
        from flask import render_template_string

        assert render_template_string("{{ 62.651|duration }} · {{ 1572864|filesize }}") == "62,7 giây · 1,5 MB"


def test_stored_errors_become_sentences():
    from campaigns.labels import user_error
    from scheduler.dispatcher import REASONS

    raw = "PendingRollbackError: (sqlite3.IntegrityError) [SQL: INSERT INTO kit_version ...]"
    shown = user_error(raw)
    assert "SQL" not in shown and "Error" not in shown and "quản trị viên" in shown
    # a Vietnamese reason keeps its sentence, the exception detail after it is dropped
    reason = REASONS["permanent"] + " (ConnectError: [Errno 111] Connection refused)"
    assert user_error(reason) == REASONS["permanent"]
    assert user_error("Công việc nền thất bại: ValueError: boom").startswith("Công việc nền thất bại. ")
    # plain Vietnamese passes untouched
    assert user_error("Mã truy cập đã hết hạn.") == "Mã truy cập đã hết hạn."


def test_labels_for_codes(app):
    from campaigns.labels import account_channel_label, config_label, job_state_label, outcome_label

    with app.test_request_context():
        assert account_channel_label("sms_partner") == "SMS qua nhà mạng (lô tin)"
        assert config_label("page_id", "facebook") == "ID Trang Facebook"
        assert config_label("high_usage_pause", "facebook") != "high_usage_pause"
        assert job_state_label("running") == "Đang chạy"
        assert outcome_label("rate_limited") == "Bị giới hạn tốc độ"


def test_account_page_shows_config_labels_in_each_language(tmp_path):
    from babel.messages.pofile import read_po

    from tests.helpers import api_headers, login, make_app_with_catalogue, make_user
    from tests.test_i18n_catalogue import PO_FILE

    with open(PO_FILE, "rb") as f:
        app = make_app_with_catalogue(tmp_path, read_po(f, locale="en"))
    aid = app.test_client().post("/api/v1/channel-accounts", json={
        "channel": "facebook", "name": "Trang Sở", "config": {"page_id": "123"},
        "secrets": {"page_access_token": "t"}}, headers=api_headers(app, "communicator")).json["id"]
    vi = app.test_client()
    login(vi, make_user(app, "communicator"))
    page = vi.get(f"/accounts/{aid}").get_data(as_text=True)
    assert "ID Trang Facebook" in page and ">page_id<" not in page and "Trang Facebook ·" in page
    en = app.test_client()
    login(en, make_user(app, "communicator", email="en@test.local"))
    en.post("/language/en", data={"next": "/"})
    page = en.get(f"/accounts/{aid}").get_data(as_text=True)
    assert "Facebook Page ID" in page and "Facebook Page ·" in page and "ID Trang Facebook" not in page
