"""The communicator's whole job in the browser, walked as a newcomer would.

login → 10/10 preset → render an infographic (from the composer) and a print PDF
→ import an SMS list from a CSV → compose one post with the infographic for the
Facebook, Zalo, SMS and loudspeaker accounts → submit → the reviewer approves
→ the calendar shows every delivery released (scheduled, not held).

Every ``click``, ``check`` and ``select_option`` is counted (typing and choosing
files are not); the path must take at most 40. It runs at desktop width and
again at 390 px (a phone).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.browser import background_jobs, chromium, serve
from tests.conftest import make_app
from tests.helpers import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAX_CLICKS = 40
CSV = "Số điện thoại,Họ và tên\r\n0912345678,Nguyễn Văn An\r\n0987654321,Trần Thị Bình\r\n0358123456,Lâm Văn Cường\r\n"
ITEM = "Làm thủ tục không cần đến cơ quan"  # the preset's Zalo article (needs a cover)


class Counter:
    """Playwright actions that a person performs with the mouse or a tap."""

    def __init__(self, page):
        self.page = page
        self.n = 0
        self.log: list[str] = []

    def click(self, locator, what: str = ""):
        self.n += 1
        self.log.append(f"click {what}")
        locator.click()

    def check(self, locator, what: str = ""):
        self.n += 1
        self.log.append(f"check {what}")
        locator.check()

    def select(self, locator, value=None, what: str = "", **by):
        self.n += 1
        self.log.append(f"select {what}")
        locator.select_option(value, **by)


def _accounts(app):
    from scheduler.models import ChannelAccount

    with app.app_context(), session_scope(app) as s:
        from core.models import OrgUnit

        commune = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        s.add(ChannelAccount(channel="facebook", name="Trang Sở VHTTDL", config={"page_id": "1234567890"}))
        s.add(ChannelAccount(channel="zalo", name="OA Sóc Trăng", config={"oa_id": "4321", "app_id": "999"}))
        s.add(ChannelAccount(channel="sms_partner", name="Tin nhắn qua nhà mạng", config={"sender": "SOCTRANG"}))
        s.add(ChannelAccount(channel="loudspeaker", name="Loa xã Lạc Hòa", config={"unit_code": "xa-lac-hoa"},
                             unit_id=commune.id))


def _walk(tmp_path: Path, viewport: dict, shots: Path | None = None) -> tuple[int, list[str], int]:
    from campaigns.models import Campaign
    from scheduler.models import Delivery

    app = make_app(f"sqlite:///{tmp_path / 'n.db'}", tmp_path)  # CSRF on, as in production
    comm = make_user(app, "communicator")
    rev = make_user(app, "reviewer")
    _accounts(app)
    csv_path = tmp_path / "danh-sach.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    with background_jobs(app):  # stands in for the scheduler process
        with serve(app) as base, chromium(viewport=viewport) as ctx:
            page = ctx.new_page()
            page.set_default_timeout(30_000)
            c = Counter(page)

            def shot(name):
                if shots is not None:
                    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            def log_in(user):
                page.goto(f"{base}/login")
                page.get_by_label("Email").fill(user.email)
                page.get_by_label("Mật khẩu").fill(PASSWORD)
                c.click(page.get_by_role("button", name="Đăng nhập"), "login")
                page.wait_for_url(f"{base}/")

            def nav(name):
                link = page.get_by_role("navigation", name="Điều hướng chính").get_by_role("link", name=name, exact=True)
                if not link.is_visible():  # a phone: the menu is folded
                    c.click(page.get_by_role("button", name="Menu"), "menu")
                c.click(link, name)
                page.wait_for_load_state()

            # 1. a campaign from the 10/10 preset
            log_in(comm)
            shot("01-home")
            c.click(page.get_by_role("link", name="Tạo chiến dịch").first, "new campaign")
            c.select(page.get_by_label("Mẫu kế hoạch"), "ngay-cds-10-10", "preset")
            c.click(page.get_by_role("button", name="Lưu"), "create")
            page.wait_for_selector("#campaign-status")
            campaign_url = page.url
            shot("02-campaign")

            # 2. the recipients of the SMS wave, imported from a CSV
            nav("Tin nhắn SMS")
            page.get_by_label("Tệp danh sách").set_input_files(str(csv_path))
            page.get_by_label("Tên danh sách").fill("Người dân xã Lạc Hòa")
            c.click(page.get_by_role("button", name="Nhập danh sách"), "import list")
            page.wait_for_selector("text=Người dân xã Lạc Hòa")

            # 3. the composer for the Zalo article; its cover rendered from a template
            page.goto(campaign_url)
            row = page.locator("tr", has_text=ITEM)
            c.click(row.get_by_role("link", name="Soạn và lên lịch"), "compose")
            c.click(page.get_by_text("Tạo ảnh từ mẫu"), "from template")
            c.click(page.get_by_role("link", name="Đồ họa thông tin dọc 4:5", exact=True), "infographic")
            c.click(page.get_by_role("button", name="Tạo tệp"), "render")
            back = page.get_by_role("link", name="Quay lại nội dung")
            page.wait_for_selector("#job-result:not([hidden])", timeout=120_000)
            c.click(back.first, "back to composer")
            page.wait_for_selector("#composer")
            item_id = int(page.url.split("/items/")[1].split("/")[0])
            assert page.locator("input[name=media]:checked").count() == 1  # attached by itself
            for name in ("Trang Sở VHTTDL", "OA Sóc Trăng", "Tin nhắn qua nhà mạng", "Loa xã Lạc Hòa"):
                box = page.locator("label.account-pick", has_text=name).locator("input[type=checkbox]")
                if not box.is_checked():
                    c.check(box, name)
            sms = page.locator(".account-row", has_text="Tin nhắn qua nhà mạng")
            lists = sms.locator("select")
            if lists.count():
                value = lists.first.locator("option", has_text="Người dân xã Lạc Hòa").get_attribute("value")
                c.select(lists.first, value, what="recipient list")
            shot("03-composer")
            c.click(page.get_by_role("button", name="Lưu và lên lịch"), "save")
            page.wait_for_load_state()
            assert not page.locator("#composer-problems").count(), page.inner_text("#composer-problems")
            shot("04-saved")

            # 4. a print PDF for the commune's one-stop office
            nav("Ấn phẩm")
            c.click(page.get_by_role("link", name="Áp phích A4", exact=True), "poster")
            c.select(page.get_by_label("Định dạng"), "pdf", "format")
            c.click(page.get_by_role("button", name="Tạo tệp"), "render pdf")
            page.wait_for_selector("#job-result:not([hidden])", timeout=120_000)

            # 5. submit, and the reviewer approves
            page.goto(campaign_url)
            c.click(page.get_by_role("button", name="Gửi duyệt"), "submit")
            page.wait_for_selector("text=Chờ duyệt")
            c.click(page.get_by_role("button", name="Đăng xuất"), "logout")
            log_in(rev)
            shot("05-reviewer-home")
            title = page.locator("#review-queue").get_by_role("link", name="Xem và duyệt").first
            c.click(title, "queue entry")
            c.click(page.get_by_role("button", name="Phê duyệt"), "approve")
            page.wait_for_selector("#campaign-status")
            assert "Đã duyệt" in page.inner_text("#campaign-status")

            # 6. the calendar shows the deliveries released
            nav("Lịch")
            shot("06-calendar")
            with app.app_context(), session_scope(app) as s:
                campaign = s.exec(select(Campaign).where(Campaign.preset == "ngay-cds-10-10")).one()
                rows = s.exec(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
                channels = {}
                for d in rows:
                    channels.setdefault(d.channel_account_id, []).append(d)
                assert len(channels) == 4, channels  # Facebook, Zalo, SMS and loudspeaker
                assert all(d.status == "scheduled" and not d.held for d in rows)
                from scheduler.models import ChannelAccount

                kinds = {a.id: a.channel for a in s.exec(select(ChannelAccount)).all()}
                composed = {kinds[d.channel_account_id]: d for d in rows if d.content_item_id == item_id}
                assert set(composed) == {"facebook", "zalo", "sms_partner", "loudspeaker"}, composed
                infographic = composed["zalo"].content["media_asset_ids"]
                assert len(infographic) == 1 and composed["facebook"].content["media_asset_ids"] == infographic
                assert composed["zalo"].content["media"][0]["mime"] == "image/png"  # the article's cover
                assert composed["sms_partner"].content["recipient_list_id"]
                from core.timeutil import to_local

                # "empty: the planned time" means the item's 08:00 in Vietnam, for every account
                assert {to_local(d.scheduled_at).strftime("%H:%M") for d in composed.values()} == {"08:00"}
                released = len(rows)
            first_day = min(d.scheduled_at for d in rows)
            page.goto(f"{base}/calendar?view=month&d={first_day.date().isoformat()}")
            assert page.locator(".entry.st-scheduled").count() >= 1
            assert page.locator(".entry.st-held").count() == 0
            shot("07-calendar-month")
            return c.n, c.log, released


def test_newcomer_path_desktop(tmp_path):
    # LANTOA_SHOTS=DIR keeps the screenshots (README's picture comes from there)
    shots = Path(os.environ.get("LANTOA_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    clicks, log, released = _walk(tmp_path, {"width": 1280, "height": 900}, shots)
    print(f"newcomer path: {clicks} clicks, {released} deliveries released; screenshots in {shots}")
    assert clicks <= MAX_CLICKS, "\n".join(log)


def test_newcomer_path_phone(tmp_path):
    clicks, log, released = _walk(tmp_path, {"width": 390, "height": 844})
    print(f"newcomer path at 390 px: {clicks} clicks, {released} deliveries released")
    assert clicks <= MAX_CLICKS, "\n".join(log)
