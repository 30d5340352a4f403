"""A citizen enters a contest round on a 390 px phone (Debian Chromium): phone number,
the SMS code read from the sms_partner batch, the answers, the score; a second
attempt in the same round is refused; the per-unit results list their commune."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.browser import chromium, serve
from tests.contest_helpers import code_from_batch, setup_contest

pytestmark = pytest.mark.browser


def test_phone_user_enters_a_round(tmp_path):
    pytest.importorskip("playwright.sync_api")
    from campaigns.contests.models import ContestEntry, ContestQuestion
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'live.db'}", tmp_path)  # CSRF on, as in production
    ids = setup_contest(app, n_questions=12, per_attempt=4)
    with serve(app) as base, chromium(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                     is_mobile=True, has_touch=True) as context:
        page = context.new_page()
        page.goto(f"{base}/thi/{ids['slug']}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_label("Số điện thoại di động của bạn").fill("0987 654 321")
        page.get_by_role("button", name="Nhận mã xác nhận").click()
        page.get_by_label("Mã xác nhận (6 chữ số)").fill(code_from_batch(app, "+84987654321"))
        page.get_by_label("Họ và tên").fill("Trần Thị Bình")
        page.get_by_label("Xã/phường nơi bạn sinh sống").select_option(str(ids["commune_id"]))
        page.get_by_role("button", name="Vào thi").click()
        page.get_by_role("button", name="Nộp bài").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        with app.app_context(), session_scope(app) as s:
            entry = s.exec(select(ContestEntry)).one()
            questions = {q.id: q for q in s.exec(select(ContestQuestion)).all()}
            drawn = [questions[i] for i in entry.question_ids]
        assert len(drawn) == 4
        for q in drawn:
            for i in q.correct:
                page.locator(f"#q{q.id}-{i}").check()
        page.get_by_label("Câu dự đoán: theo bạn, có bao nhiêu người dự thi vòng này?").fill("250")
        page.get_by_role("button", name="Nộp bài").click()
        assert page.locator("#score").inner_text() == "Bạn trả lời đúng 4/4 câu"
        page.screenshot(path=str(tmp_path / "contest-score.png"))
        # a second attempt in the same round
        page.goto(f"{base}/thi/{ids['slug']}")
        page.get_by_label("Số điện thoại di động của bạn").fill("+84987654321")
        page.get_by_role("button", name="Nhận mã xác nhận").click()
        assert "đã dự thi vòng này" in page.locator("#contest-error").inner_text()
        # per-unit results
        page.get_by_role("link", name="Xem kết quả các vòng thi").click()
        assert ids["commune_name"] in page.locator("#per-unit").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    from core.db import get_engine

    get_engine(app).dispose()
