"""A citizen fills in the public feedback form on a phone-sized screen (Chromium)."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from core.db import session_scope
from tests._require import require_executable

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
def live_app(tmp_path, monkeypatch):
    """The app with CSRF on, served by werkzeug on a free port in a thread."""
    from werkzeug.serving import make_server

    from tests.conftest import make_app
    from tests.measure_helpers import setup_world

    app = make_app(f"sqlite:///{tmp_path / 'live.db'}", tmp_path, LANTOA_FEEDBACK_RATE_LIMIT="100 per minute")
    setup_world(app, monkeypatch)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    from core.db import get_engine

    get_engine(app).dispose()


def test_phone_user_sends_feedback(live_app, tmp_path):
    require_executable(CHROMIUM, "chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    app, base = live_app
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True, locale="vi-VN")
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/y-kien?u=xa-lac-hoa")
            # fits the phone: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            assert page.get_by_label("Nơi bạn thực hiện thủ tục (không bắt buộc)").input_value() == "xa-lac-hoa"
            # the honeypot sits off screen, out of people's way (bots still fill it in)
            box = page.locator("#website").bounding_box()
            assert box is None or box["x"] + box["width"] <= 0
            # submitting without a rating shows a clear message and keeps the comment
            page.get_by_label("Bạn đã sử dụng dịch vụ nào?").select_option("ho-tich")
            page.get_by_label("Góp ý của bạn (không bắt buộc)").fill("Cán bộ xã hướng dẫn tận tình <b>cảm ơn</b>")
            page.get_by_role("button", name="Gửi góp ý").click()
            page.wait_for_selector("#form-errors")
            assert "Vui lòng chọn mức độ hài lòng" in page.content()
            assert page.get_by_label("Góp ý của bạn (không bắt buộc)").input_value() == \
                "Cán bộ xã hướng dẫn tận tình <b>cảm ơn</b>"
            # pick 4 stars by tapping its label, give a contact with consent, send
            page.locator("label[for=sat-4]").tap()
            page.get_by_label("Số điện thoại hoặc email").fill("0912345678")
            page.get_by_label("Tôi đồng ý cho cơ quan dùng thông tin trên để phản hồi ý kiến của tôi.").check()
            page.get_by_role("button", name="Gửi góp ý").click()
            page.wait_for_selector("#thanks")
            assert "Cảm ơn bạn đã góp ý!" in page.content()
            page.screenshot(path=str(tmp_path / "feedback-phone.png"), full_page=True)
            # the public summary counts it
            page.goto(f"{base}/y-kien/tong-hop")
            assert page.locator("#total").inner_text() == "1"
            assert not [e for e in errors if "Content Security Policy" in e]
        finally:
            browser.close()
    from campaigns.measure.models import Feedback
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        rows = s.exec(select(Feedback)).all()
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        assert [(f.service, f.satisfaction, f.unit_id, f.contact, f.consent) for f in rows] == [
            ("ho-tich", 4, unit.id, "0912345678", True)]
        assert rows[0].comment == "Cán bộ xã hướng dẫn tận tình <b>cảm ơn</b>"


def _login(page, base, user):
    from tests.helpers import PASSWORD

    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_load_state()


def test_admin_rolls_a_plan_over_and_a_district_records_an_outside_post(live_app, tmp_path):
    """Next year has no plan: the admin makes it from this year's in two clicks and publishes
    it; a district officer records a portal post made outside Lan Tỏa from its unit page."""
    require_executable(CHROMIUM, "chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    from core.models import User
    from tests.measure_helpers import this_year

    app, base = live_app
    year, source = this_year() + 1, this_year()
    with app.app_context(), session_scope(app) as s:
        admin = s.exec(select(User).where(User.role == "admin")).first()
        district = s.exec(select(User).where(User.email.like("unit_officer.tx-vinh-chau%"))).first()
        s.expunge_all()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(locale="vi-VN")
            _login(page, base, admin)
            page.goto(f"{base}/measure?year={year}")
            assert f"Chưa có kế hoạch năm {year}" in page.content()
            page.get_by_role("button", name=f"Tạo kế hoạch năm {year} từ {source}").click()
            page.wait_for_load_state()
            assert f"Đã tạo bản nháp kế hoạch năm {year}" in page.content()
            page.get_by_role("button", name=f"Ban hành kế hoạch năm {year}").click()
            page.wait_for_load_state()
            assert f"Tiến độ thực hiện kế hoạch năm {year}" in page.content()
            assert page.locator("#t-T10 .verdict").inner_text() == "Chưa có số liệu"

            other = browser.new_page(locale="vi-VN")
            _login(other, base, district)
            other.goto(f"{base}/measure/units/tx-vinh-chau?year={source}")
            other.get_by_text("Ghi nhận bài đăng ngoài Lan Tỏa").click()
            other.get_by_label("Tiêu đề").fill("Hướng dẫn nộp hồ sơ trực tuyến trên cổng thị xã")
            other.get_by_label("Đường dẫn").fill("https://vinhchau.example.gov.vn/dvctt")
            other.get_by_role("button", name="Ghi nhận", exact=True).click()
            other.wait_for_load_state()
            assert "Đã ghi nhận: Hướng dẫn nộp hồ sơ trực tuyến trên cổng thị xã" in other.content()
            other.screenshot(path=str(tmp_path / "unit-outside.png"), full_page=True)
            page.goto(f"{base}/measure?year={source}")
            assert "1 chỉ ngoài Lan Tỏa" in page.locator("#t-T03").inner_text()
        finally:
            browser.close()
