"""Labels that reach pages through dicts, forms, error handlers and Flask-Login are
translated on English pages, stay Vietnamese by default, and never change what the
JSON API returns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from babel.messages.pofile import read_po
from flask_babel import LazyString

from core.db import session_scope
from core.timeutil import utcnow
from tests.helpers import api_headers, login, make_app_with_catalogue, make_user
from tests.test_i18n_catalogue import PO_FILE


@pytest.fixture
def app(tmp_path):
    """The app reading a .mo compiled from the checked-in messages.po."""
    with open(PO_FILE, "rb") as f:
        catalogue = read_po(f, locale="en")
    app = make_app_with_catalogue(tmp_path, catalogue)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def english(client):
    assert client.post("/language/en", data={"next": "/"}).status_code == 302


def both(app):
    """(English client, Vietnamese client), each logged in as a communicator (the language
    choice is also saved on the user, hence two users)."""
    en, vi = app.test_client(), app.test_client()
    login(en, make_user(app, "communicator", email="en.communicator@test.local"))
    login(vi, make_user(app, "communicator", email="vi.communicator@test.local"))
    english(en)
    return en, vi


def new_campaign(app) -> int:
    return app.test_client().post("/api/v1/campaigns", json={
        "title": "Ngày Chuyển đổi số", "starts_on": "2026-10-01", "ends_on": "2026-10-31"},
        headers=api_headers(app, "communicator")).json["id"]


def test_display_dicts_are_lazy_and_exported_dicts_stay_plain():
    from campaigns.kits import broadcasts
    from campaigns.kits.access import KIT_STATUS_LABELS
    from campaigns.kits.views import ENTRY_LABELS, JOB_LABELS
    from campaigns.measure.feedback import SATISFACTION_LABELS, SERVICES
    from campaigns.measure.models import FEEDBACK_STATUS_LABELS, TASK_STATUS_LABELS
    from campaigns.sms.views import BATCH_STATUS_LABELS, SMS_STATUS_LABELS
    from core.models import ROLE_LABELS
    from core.web import ERROR_MESSAGES
    from scheduler.states import STATUS_LABELS

    for labels in (ROLE_LABELS, STATUS_LABELS, SMS_STATUS_LABELS, BATCH_STATUS_LABELS,
                   FEEDBACK_STATUS_LABELS, SATISFACTION_LABELS, KIT_STATUS_LABELS, ENTRY_LABELS,
                   JOB_LABELS):
        assert all(isinstance(v, LazyString) for v in labels.values()), labels
    # written into reports, kit files and API responses: must stay plain Vietnamese strings
    for labels in (TASK_STATUS_LABELS, broadcasts.WEEKDAY_LABELS, broadcasts.STATE_LABELS,
                   SERVICES, ERROR_MESSAGES):
        assert all(type(v) is str for v in labels.values()), labels
    # outside a request (CLI, workers) a lazy label is the Vietnamese text
    assert str(ROLE_LABELS["communicator"]) == "Cán bộ truyền thông"


def test_header_role_and_delivery_statuses(app):
    en, vi = both(app)
    cid = new_campaign(app)
    aid = app.test_client().post("/api/v1/channel-accounts", json={
        "channel": "webhook", "name": "Hook", "config": {"url": "http://127.0.0.1:9/h"}},
        headers=api_headers(app, "communicator")).json["id"]
    from scheduler.models import Delivery

    with app.app_context(), session_scope(app) as s:
        s.add(Delivery(campaign_id=cid, channel_account_id=aid, content={"text": "x"},
                       status="needs_review", scheduled_at=utcnow() - timedelta(hours=1),
                       idempotency_key="i18n-labels-1"))

    page = en.get(f"/deliveries?campaign_id={cid}").get_data(as_text=True)
    assert "Communications officer" in page and "Cán bộ truyền thông" not in page
    assert ">Needs review</span>" in page and "Needs review: 1" in page
    assert "Cần kiểm tra" not in page

    page = vi.get(f"/deliveries?campaign_id={cid}").get_data(as_text=True)
    assert "Cán bộ truyền thông" in page and ">Cần kiểm tra</span>" in page
    assert "Communications officer" not in page and "Needs review" not in page

    # the API keeps returning status codes, never labels
    body = app.test_client().get(f"/api/v1/deliveries?campaign_id={cid}",
                                 headers=api_headers(app, "communicator")).json
    assert body["items"][0]["status"] == "needs_review"


def test_status_changed_flash_names_the_status_in_english(app):
    en, vi = both(app)
    cid = new_campaign(app)
    page = en.post(f"/campaigns/{cid}/transition/in_review", data={"comment": ""},
                   follow_redirects=True).get_data(as_text=True)
    assert "Status changed: In review." in page and "Chờ duyệt" not in page
    page = vi.post(f"/campaigns/{cid}/transition/draft", data={"comment": ""},
                   follow_redirects=True).get_data(as_text=True)
    assert "Đã chuyển trạng thái: Bản nháp." in page


def test_campaign_form_labels_and_validation_messages(app):
    en, vi = both(app)
    page = en.get("/campaigns/new").get_data(as_text=True)
    for text in ("Campaign name", "Start date", "QR code target link", "— No template —",
                 "Public service information (no [QC] tag)"):
        assert text in page
    for text in ("Tên chiến dịch", "Ngày bắt đầu", "Không dùng mẫu", "Thông tin dịch vụ công"):
        assert text not in page
    data = {"title": "", "starts_on": "2026-10-10", "ends_on": "2026-10-01", "preset": "",
            "target_url": "", "sms_class": "public_service", "grace_hours": "99", "owner_unit": ""}
    r = en.post("/campaigns/new", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    for text in ("Please enter the campaign name.", "The end date must be on or after the start date.",
                 "Please enter a link.", "From 0 to 72 hours."):
        assert text in page
    assert "Vui lòng nhập" not in page and "Từ 0 đến 72 giờ." not in page

    page = vi.post("/campaigns/new", data=data).get_data(as_text=True)
    assert "Vui lòng nhập tên chiến dịch." in page and "Từ 0 đến 72 giờ." in page
    assert "Tên chiến dịch" in page and "Please enter" not in page


def test_kits_page_statuses(app):
    en, vi = both(app)
    cid = new_campaign(app)
    from sqlmodel import select

    from campaigns.models import Kit
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "tx-vinh-chau")).one()
        s.add(Kit(campaign_id=cid, unit_id=unit.id, status="building"))
    page = en.get("/kits/").get_data(as_text=True)
    assert ">Building</span>" in page and "Đang tạo" not in page
    page = vi.get("/kits/").get_data(as_text=True)
    assert ">Đang tạo</span>" in page and "Building" not in page


def test_error_page_translated_but_api_error_unchanged(app):
    en, vi = both(app)
    r = en.get("/khong-co-trang-nay")
    assert r.status_code == 404
    assert "Not found." in r.get_data(as_text=True)
    assert "Không tìm thấy." not in r.get_data(as_text=True)
    r = vi.get("/khong-co-trang-nay")
    assert r.status_code == 404 and "Không tìm thấy." in r.get_data(as_text=True)

    r = en.get("/api/v1/khong-co")
    assert r.status_code == 404
    assert r.json["error"] == {"code": "not_found", "message": "Không tìm thấy.", "fields": {}}


def test_login_required_message(app):
    en = app.test_client()
    english(en)
    r = en.get("/campaigns", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "/login" in r.request.path
    assert "Please log in to continue." in page and "Vui lòng đăng nhập" not in page
    assert "Password" in page and "Mật khẩu" not in page

    vi = app.test_client()
    page = vi.get("/campaigns", follow_redirects=True).get_data(as_text=True)
    assert "Vui lòng đăng nhập để tiếp tục." in page and "Mật khẩu" in page
    assert "Please log in" not in page


def test_public_feedback_form_choices(app):
    en = app.test_client()
    english(en)
    page = en.get("/y-kien").get_data(as_text=True)
    assert "Very satisfied" in page and "Civil status (birth, death, marriage...)" in page
    assert "Rất hài lòng" not in page and "Hộ tịch" not in page
    page = app.test_client().get("/y-kien").get_data(as_text=True)
    assert "Rất hài lòng" in page and "Hộ tịch (khai sinh, khai tử, kết hôn...)" in page
    assert "Very satisfied" not in page


def test_task_statuses_on_unit_page(app, monkeypatch):
    from tests.measure_helpers import setup_world

    world = setup_world(app, monkeypatch)
    client = app.test_client()
    login(client, world["users"]["district"])
    url = f"/measure/units/tx-vinh-chau?year={world['year']}"
    page = client.get(url).get_data(as_text=True)
    assert "Chưa bắt đầu" in page and "Not started" not in page
    english(client)
    page = client.get(url).get_data(as_text=True)
    assert "Not started" in page and "In progress" in page
    assert "Chưa bắt đầu" not in page and "Đang thực hiện" not in page
