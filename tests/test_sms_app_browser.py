"""The compose page's live counter in a real browser on a phone-sized screen:
characters, encoding and parts for the text and its no-diacritics variant,
the [QC] label for advertising campaigns, no CSP violations."""

from __future__ import annotations

import pytest

from tests.browser import chromium, serve, sign_in
from tests.conftest import make_app
from tests.fakes.sms_app import seed_campaign
from tests.helpers import make_user

pytestmark = pytest.mark.browser

TEXT = "UBND tỉnh Sóc Trăng: Đăng ký dịch vụ công trực tuyến tại dichvucong.gov.vn"


def test_live_counter_on_a_phone(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)  # CSRF on, as in production
    seed_campaign(app, sms_class="advertising")
    user = make_user(app, "communicator")
    with serve(app) as base, chromium(viewport={"width": 375, "height": 740}) as ctx:
        page = ctx.new_page()
        problems: list[str] = []
        # script errors and CSP violations (the favicon's 404 is not ours)
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if "/sms/" in r.url and r.status >= 400
                else None
            ),
        )
        sign_in(page, base, user.email)
        page.goto(f"{base}/sms/compose")

        def counts(variant: str) -> tuple[str, str, str]:
            return tuple(
                page.inner_text(f'[data-count="{variant}-{k}"]')
                for k in ("length", "encoding", "parts")
            )

        page.get_by_label("Nội dung tin nhắn").fill(TEXT)
        assert counts("original") == (str(len(TEXT)), "UCS-2", "2")
        assert counts("plain") == (str(len(TEXT)), "GSM-7", "1")
        assert page.inner_text('[data-variant="plain"]').startswith(
            "UBND tinh Soc Trang: Dang ky dich vu cong truc tuyen"
        )
        page.get_by_label("Nội dung tin nhắn").fill("Gia {} ~ 100€")  # extension chars cost 2
        assert counts("original") == ("17", "GSM-7", "1")
        page.get_by_label("Nội dung tin nhắn").fill("Ưu đãi")
        page.get_by_label("Chiến dịch").select_option(index=1)  # an advertising campaign
        assert page.inner_text('[data-variant="original"]') == "[QC] Ưu đãi"
        assert page.inner_text('[data-variant="plain"]') == "[QC] Uu dai"
        assert counts("plain") == ("13", "GSM-7", "1")  # [ and ] cost two septets each
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, f"page wider than the phone: {width}px"
        page.screenshot(path=str(tmp_path / "compose.png"), full_page=True)
        assert not problems, problems
