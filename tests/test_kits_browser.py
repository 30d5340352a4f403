"""A commune officer, on a phone-sized browser, downloads the unit's kit and confirms a broadcast."""

from __future__ import annotations

import unicodedata
import zipfile

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.browser import chromium, serve, sign_in
from tests.conftest import make_app
from tests.fakes.kits import make_broadcast, make_campaign
from tests.helpers import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_commune_officer_downloads_kit_and_confirms_broadcast(tmp_path):
    from campaigns.kits.builder import KitConfig, build_campaign_kits
    from campaigns.models import Kit, KitDownload
    from scheduler.models import Delivery

    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)  # CSRF on, as in production
    cid = make_campaign(app, scope=("xa-lac-hoa", "xa-nhon-my"))
    with app.app_context(), session_scope(app) as s:
        summary = build_campaign_kits(s, cid, KitConfig.from_app(app), workers=1)
        assert summary["built"] == 2
    slot = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=-1, title="Bản tin sáng thứ Hai")
    other = make_broadcast(app, cid, "xa-nhon-my", hours_from_now=-1, title="Bản tin xã khác")
    officer = make_user(app, "unit_officer", "xa-lac-hoa")

    with (
        serve(app) as base,
        chromium(viewport={"width": 390, "height": 844}, accept_downloads=True) as ctx,
    ):
        page = ctx.new_page()
        sign_in(page, base, officer.email)

        page.goto(f"{base}/kits/")
        rows = page.locator("tbody tr")
        assert rows.count() == 1  # only the officer's own commune
        assert "Xã Lạc Hòa" in rows.first.inner_text() and "Xã Nhơn Mỹ" not in page.content()
        with page.expect_download() as info:
            page.get_by_role("link", name="Tải bộ tài liệu").click()
        download = info.value
        assert download.suggested_filename.endswith(".zip")
        assert "Xã Lạc Hòa" in unicodedata.normalize("NFC", download.suggested_filename)
        saved = tmp_path / "kit.zip"
        download.save_as(saved)
        names = zipfile.ZipFile(saved).namelist()
        assert "README.txt" in names and "1. Ấn phẩm in/Áp phích A3 – Xã Lạc Hòa.pdf" in names

        page.get_by_role("link", name="Buổi phát thanh").click()
        row = page.locator(f"#broadcast-{slot}")
        assert "Chưa xác nhận" in row.inner_text()
        assert page.locator(f"#broadcast-{other}").count() == 0
        row.get_by_role("button", name="Xác nhận đã phát").click()
        page.wait_for_selector("text=Đã xác nhận buổi phát")
        assert "Đã xác nhận phát" in page.locator(f"#broadcast-{slot}").inner_text()
        assert page.locator(f"#broadcast-{slot}").get_by_role("button").count() == 0
        page.screenshot(path=str(tmp_path / "broadcasts.png"), full_page=True)

    with app.app_context(), session_scope(app) as s:
        kit = s.exec(
            select(Kit).where(Kit.campaign_id == cid, Kit.unit_id == officer.unit_id)
        ).one()
        downloads = s.exec(select(KitDownload).where(KitDownload.kit_id == kit.id)).all()
        assert [d.user_id for d in downloads] == [officer.id]
        assert s.get(Delivery, slot).confirmed_by == officer.id
        assert s.get(Delivery, other).confirmed_at is None
