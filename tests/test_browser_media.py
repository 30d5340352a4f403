"""A communicator fills a template, sees the preview, renders with progress and downloads."""

from __future__ import annotations

import pytest

from tests.browser import background_jobs, chromium, serve, sign_in
from tests.conftest import make_app
from tests.helpers import make_user

pytestmark = pytest.mark.browser


def test_fill_preview_render_download(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)
    comm = make_user(app, "communicator")
    with background_jobs(app):  # stands in for the scheduler process
        with serve(app) as base, chromium(accept_downloads=True) as ctx:
            page = ctx.new_page()
            sign_in(page, base, comm.email)
            page.get_by_role("link", name="Ấn phẩm", exact=True).click()
            page.get_by_role("link", name="Ảnh vuông mạng xã hội", exact=True).click()
            page.wait_for_selector("#preview-img[data-ready='1']")
            page.get_by_label("Tiêu đề").fill("Hướng dẫn nộp hồ sơ trực tuyến")
            page.wait_for_timeout(900)  # the preview refreshes after typing stops
            page.wait_for_selector("#preview-img[data-ready='1']")
            page.screenshot(path=str(tmp_path / "preview.png"))
            page.get_by_role("button", name="Tạo tệp").click()
            page.wait_for_selector("#job-result:not([hidden])", timeout=60_000)
            page.click("#job-result")
            with page.expect_download() as info:
                page.click("#download")
            path = info.value.path()
            from PIL import Image

            assert Image.open(path).size == (1080, 1080)
