"""The team app on a 390 px phone: sign in, lose the server (stopped, so even the
service worker's fetches fail), record three visits offline, get the server back,
sync, see them on the server; a repeated sync (even one that re-sends visits whose
answer was lost) makes no duplicates."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.browser import chromium
from tests.conftest import make_app
from tests.helpers import PASSWORD, make_user, seed_units

pytestmark = pytest.mark.browser


class Server:
    """The app on a fixed loopback port that can be stopped and started again."""

    def __init__(self, app):
        self.app, self.port, self.server, self.thread = app, 0, None, None

    def start(self) -> str:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None


def _seed(app) -> str:
    from campaigns.models import Campaign, ContentItem
    from campaigns.teams import service as ts
    from core.models import OrgUnit

    seed_units(app)
    admin = make_user(app, "admin")
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        team = ts.create_team(s, admin, unit.id, "Tổ Âu Thọ", ["Ấp Âu Thọ A", "Ấp Âu Thọ B"])
        ts.add_member(s, admin, team, name="Lâm Văn Tổ", phone="0299 3861 234", role="leader",
                      email="to@test.local", password=PASSWORD)
        today = date.today()
        c = Campaign(title="Ngày Chuyển đổi số 10/10", starts_on=today - timedelta(days=1),
                     ends_on=today + timedelta(days=30), status="approved", created_at=datetime.now(UTC))
        s.add(c)
        s.flush()
        s.add(ContentItem(campaign_id=c.id, title="Kịch bản gõ cửa", channel="loudspeaker",
                          body="Chào bà con, tổ công nghệ số giúp cài VNeID miễn phí."))
    return "to@test.local"


def _server_visits(app) -> list:
    from campaigns.teams.models import TeamVisit

    with app.app_context(), session_scope(app) as s:
        return [(v.client_id, v.household_label) for v in s.exec(select(TeamVisit)).all()]


def test_three_visits_offline_then_sync_without_duplicates(tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # a loaded CI machine
    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)  # CSRF on, as in production
    email = _seed(app)
    server = Server(app)
    base = server.start()
    try:
        with chromium(viewport={"width": 390, "height": 844}) as ctx:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/login?next=/to-cong-nghe/")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Mật khẩu").fill(PASSWORD)
            page.get_by_role("button", name="Đăng nhập").click()
            page.wait_for_url(f"{base}/to-cong-nghe/")
            expect(page.locator("#who")).to_contain_text("Tổ Âu Thọ")
            expect(page.locator("#materials")).to_contain_text("Kịch bản gõ cửa")
            assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling

            server.stop()  # the server is gone: page and service-worker fetches fail alike
            page.reload()  # the shell comes from the service worker's cache
            expect(page.locator("#who")).to_contain_text("Tổ Âu Thọ")
            assert "Kịch bản gõ cửa" in page.inner_text("#materials")  # materials kept on the phone
            labels = ["nhà số 1", "nhà số 2", "nhà số 3"]
            for i, label in enumerate(labels):
                page.get_by_label("Ấp/khóm").select_option("Ấp Âu Thọ B")
                page.get_by_label("Nhãn hộ").fill(label)
                person = page.locator("#people fieldset").first
                person.get_by_label("Cài VNeID").check()
                if i == 2:
                    person.get_by_label("Nộp hồ sơ trực tuyến").check()
                page.get_by_role("button", name="Lưu lượt thăm").click()
                expect(page.locator("#queue-count")).to_have_text(f"{i + 1}")
            page.get_by_role("button", name="Đồng bộ").click()
            expect(page.locator("#sync-result")).to_contain_text("Chưa gửi được")
            assert page.inner_text("#queue-count") == "3"
            assert _server_visits(app) == []

            server.start()  # the server is back on the same address
            page.get_by_role("button", name="Đồng bộ").click()
            expect(page.locator("#queue-count")).to_have_text("0")
            # the three visits are on the server (the message may come from a sync the app
            # started itself a moment earlier, so the server is the proof, not the count shown)
            expect(page.locator("#sync-result")).to_contain_text("Đồng bộ xong")
            first = _server_visits(app)
            assert sorted(label for _, label in first) == labels

            page.get_by_role("button", name="Đồng bộ").click()  # again: nothing new
            expect(page.locator("#sync-result")).to_contain_text("đã gửi 0")
            # a sync whose answers were lost: the phone forgets it sent them and sends again
            page.evaluate("""() => new Promise(done => {
                const req = indexedDB.open('lantoa-teams');
                req.onsuccess = () => {
                  const t = req.result.transaction('visits', 'readwrite'), s = t.objectStore('visits');
                  s.getAll().onsuccess = e => e.target.result.forEach(v => { delete v.server_id; s.put(v); });
                  t.oncomplete = () => done(true);
                };
            })""")
            page.get_by_role("button", name="Đồng bộ").click()
            expect(page.locator("#sync-result")).to_contain_text("đã gửi 3")
            assert sorted(_server_visits(app)) == sorted(first)  # 200 with the same ids: no duplicates
            expect(page.locator("#queue-count")).to_have_text("0")
            assert not errors, errors
    finally:
        server.stop()
