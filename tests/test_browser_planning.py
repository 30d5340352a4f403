"""A communicator and a reviewer use the planning UI in a real browser."""

from __future__ import annotations

import pytest

from tests.browser import chromium, serve, sign_in
from tests.conftest import make_app
from tests.helpers import make_user

pytestmark = pytest.mark.browser


def test_preset_campaign_submitted_approved_and_on_calendar(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)  # CSRF on, as in production
    comm = make_user(app, "communicator")
    rev = make_user(app, "reviewer")
    with serve(app) as base, chromium() as ctx:
        page = ctx.new_page()

        def log_in(user):
            sign_in(page, base, user.email)

        log_in(comm)
        page.get_by_role("link", name="Tạo chiến dịch").click()
        page.get_by_label("Mẫu kế hoạch").select_option("ngay-cds-10-10")
        page.get_by_role("button", name="Lưu").click()
        page.wait_for_selector("#campaign-status")
        assert "Bản nháp" in page.inner_text("#campaign-status")
        title = page.inner_text("h1")
        assert "Ngày Chuyển đổi số quốc gia 10/10" in title
        detail_url = page.url
        page.get_by_role("button", name="Gửi duyệt").click()
        page.wait_for_selector("text=Chờ duyệt")
        page.get_by_role("button", name="Đăng xuất").click()

        log_in(rev)
        page.goto(detail_url)
        page.get_by_role("button", name="Phê duyệt").click()
        page.wait_for_selector("#campaign-status")
        assert "Đã duyệt" in page.inner_text("#campaign-status")

        year = title.rsplit("/", 1)[-1].strip()[:4]
        page.goto(f"{base}/calendar?view=week&d={year}-10-10")
        entry = page.get_by_role("link", name="Hưởng ứng Ngày Chuyển đổi số quốc gia 10/10").first
        entry.wait_for()
        shot = tmp_path / "calendar.png"
        page.set_viewport_size({"width": 1280, "height": 900})
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        entry.click()
        page.wait_for_selector("#campaign-status")
        assert page.url.split("#")[0] == detail_url.split("#")[0]
