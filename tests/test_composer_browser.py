"""The composer in a real browser: live previews without pressing a button, save, and the
phone width (390 px) without sideways scrolling."""

from __future__ import annotations

import pytest

from tests.browser import chromium, serve, sign_in
from tests.conftest import make_app
from tests.fakes.sms_app import csv_bytes, make_account, seed_campaign, upload
from tests.helpers import api_headers, make_user
from tests.test_composer import _image

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 390])
def test_live_previews_and_save(tmp_path, width):
    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)
    cid = seed_campaign(app, status="draft")
    comm = make_user(app, "communicator")
    upload(app.test_client(), api_headers(app, "communicator"), csv_bytes(), "ds.csv")
    make_account(app, "facebook", {"page_id": "123", "page_name": "Sở VHTTDL"}, {"page_access_token": "t"})
    make_account(app, "zalo", {"oa_id": "1", "app_id": "2"},
                 {"access_token": "a", "refresh_token": "r", "secret_key": "k"})
    make_account(app, "sms_partner", {"sender": "UBND ST"})
    make_account(app, "loudspeaker", {"unit_code": "xa-lac-hoa"})
    _image(app, tmp_path, "anh-bia", cid)
    with serve(app) as base, chromium(viewport={"width": width, "height": 900}) as ctx:
        page = ctx.new_page()
        sign_in(page, base, comm.email)
        page.goto(f"{base}/campaigns/{cid}/items/new")
        page.get_by_label("Tiêu đề", exact=True).fill("Ngày Chuyển đổi số 10/10")
        page.get_by_label("Nội dung tiếng Việt (viết một lần, dùng cho mọi kênh)").fill(
            "Hôm nay 10/10 mời bà con dùng dịch vụ công trực tuyến.")
        page.get_by_label("anh-bia").check()
        for name in ("Facebook «facebook test»", "Zalo OA «zalo test»", "SMS qua nhà mạng «sms_partner test»",
                     "Loa truyền thanh «loudspeaker test»"):
            page.get_by_label(name).check()
            # no "Xem trước" press: the previews follow the form
        page.wait_for_selector("#previews .preview-zalo .preview-cover")
        page.wait_for_selector("#previews .preview-sms")
        assert "Thời lượng ước tính" in page.locator("#previews").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.get_by_role("button", name="Lưu và lên lịch").click()
        page.wait_for_url(f"{base}/campaigns/{cid}#item-*")
        text = page.locator("main").inner_text()
        assert "Đã lên lịch 4 lượt gửi mới" in text
        assert text.count("chờ duyệt") >= 4
        assert page.evaluate("document.documentElement.scrollWidth") <= width
