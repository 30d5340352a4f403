"""Each role's start page: login lands there, it lists what needs doing, and no nav link is a 403."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import api_headers, login, make_user

ROLES = ("admin", "communicator", "reviewer", "unit_officer", "telecom_partner")


def _campaign(app, title="Chiến dịch thử", **extra) -> int:
    body = {"title": title, "starts_on": "2026-01-01", "ends_on": "2026-12-31", "scope": ["soc-trang"], **extra}
    r = app.test_client().post("/api/v1/campaigns", json=body, headers=api_headers(app, "communicator"))
    assert r.status_code == 201, r.json
    return r.json["id"]


@pytest.mark.parametrize("role", ROLES)
def test_login_lands_on_the_home_page_and_it_answers(app, role):
    user = make_user(app, role)
    client = app.test_client()
    r = login(client, user)
    assert r.status_code == 302 and r.headers["Location"] in ("/", "http://localhost/")
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 200
    if role == "telecom_partner":
        assert page.request.path == "/partner"
    else:
        assert page.request.path == "/" and "Xin chào" in page.text


def test_login_still_honours_next(app):
    client = app.test_client()
    r = client.post("/login?next=/calendar", data={"email": make_user(app, "reviewer").email,
                                                   "password": "mat-khau-thu-nghiem"})
    assert r.headers["Location"].endswith("/calendar")


@pytest.mark.parametrize("role", ROLES)
def test_every_nav_link_opens_for_the_role(app, runner, role):
    runner.invoke(args=["seed-demo"])
    client = app.test_client()
    login(client, make_user(app, role))
    page = client.get("/", follow_redirects=True)
    nav = re.search(r'<nav aria-label="[^"]+">(.*?)</nav>', page.text, re.S).group(1)
    links = re.findall(r'href="([^"]+)"', nav)
    assert links
    for href in links:
        r = client.get(href, follow_redirects=True)
        assert r.status_code == 200, (role, href, r.status_code)


def test_communicator_sees_what_needs_action(app):
    from campaigns.models import Campaign, ContentItem, Kit
    from core.models import OrgUnit
    from scheduler import service as ss
    from scheduler.models import ChannelAccount
    from scheduler.states import Status

    comm, rev = app.test_client(), app.test_client()
    login(comm, make_user(app, "communicator"))
    login(rev, make_user(app, "reviewer"))
    back = _campaign(app, "Chiến dịch bị trả lại")
    comm.post(f"/campaigns/{back}/transition/in_review")
    rev.post(f"/campaigns/{back}/transition/draft", data={"comment": "Sửa lại khẩu hiệu cho ngắn"})
    now = datetime.now(UTC)
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "soc-trang")).one()
        s.add(ContentItem(campaign_id=back, title="Bài đăng trong tuần", channel="facebook", planned_at=now))
        broken = ChannelAccount(channel="webhook", name="Trang hỏng kết nối", config={"url": "http://127.0.0.1:9/x"},
                                status="needs_auth")
        fine = ChannelAccount(channel="webhook", name="Trang ổn định", config={"url": "http://127.0.0.1:9/y"},
                              health={"ok": True})
        s.add(broken)
        s.add(fine)
        s.flush()
        d = ss.create_delivery(s, account=fine, content={"text": "Tin lỗi"}, scheduled_at=now - timedelta(hours=2),
                               campaign_id=back)
        d.status = Status.failed
        s.add(d)
        old = ss.create_delivery(s, account=fine, content={"text": "Lỗi cũ"}, campaign_id=back,
                                 scheduled_at=now - timedelta(days=45))
        old.status = Status.failed  # history, not a to-do
        s.add(old)
        s.add(ChannelAccount(channel="webhook", name="Trang đã tắt", config={"url": "http://127.0.0.1:9/z"},
                             status="disabled", health={"ok": False}))
        s.add(Kit(campaign_id=back, unit_id=unit.id, status="failed"))
        s.flush()
        campaign = s.get(Campaign, back)
        assert campaign.review_comment
    page = comm.get("/").text
    sent_back = page[page.index('id="sent-back"'):]
    assert "Chiến dịch bị trả lại" in sent_back and "Sửa lại khẩu hiệu cho ngắn" in sent_back
    problems = page[page.index('id="problem-deliveries"'):]
    assert "Trang ổn định" in problems and "Thất bại" in problems
    accounts = page[page.index('id="accounts-reconnect"'):page.index('id="failed-kits"')]
    assert "Trang hỏng kết nối" in accounts and "Trang ổn định" not in accounts and "Trang đã tắt" not in accounts
    assert 'href="/deliveries?status=failed">Thất bại: 1<' in page  # the 45-day-old failure is not counted
    assert "Sóc Trăng" in page[page.index('id="failed-kits"'):]
    assert "Bài đăng trong tuần" in page[page.index('id="due-week"'):]
    # resubmitted: it leaves the list
    comm.post(f"/campaigns/{back}/transition/in_review")
    assert 'id="sent-back"' not in comm.get("/").text


def test_reviewer_sees_the_queue_with_what_changed(app):
    from campaigns.models import ContentItem

    comm, rev = app.test_client(), app.test_client()
    login(comm, make_user(app, "communicator"))
    login(rev, make_user(app, "reviewer"))
    cid = _campaign(app, "Chiến dịch cần so sánh")
    with app.app_context(), session_scope(app) as s:
        item = ContentItem(campaign_id=cid, title="Bài chính", channel="facebook",
                           body="Nộp hồ sơ trực tuyến tại Cổng dịch vụ công", planned_at=datetime(2026, 3, 1, tzinfo=UTC))
        s.add(item)
        s.flush()
        item_id = item.id
    comm.post(f"/campaigns/{cid}/transition/in_review")
    page = rev.get("/").text
    assert "Chiến dịch cần so sánh" in page and "Lần gửi duyệt đầu tiên" in page
    rev.post(f"/campaigns/{cid}/transition/draft", data={"comment": "Ghi rõ thời hạn"})
    with app.app_context(), session_scope(app) as s:
        item = s.get(ContentItem, item_id)
        item.body = "Nộp hồ sơ trực tuyến trước ngày 31/10 tại Cổng dịch vụ công"
        from scheduler.models import ChannelAccount

        account = ChannelAccount(channel="webhook", name="Cổng tỉnh", config={"url": "http://127.0.0.1:9/x"})
        s.add(account)
        s.flush()
        item.variants = {"texts": {"en": "Apply online before 31/10"},
                         "accounts": {str(account.id): {"title": "", "text": "Bản ngắn cho cổng tỉnh"}}}
        s.add(item)
        s.add(ContentItem(campaign_id=cid, title="Tin nhắn mới", channel="sms", body="Tin SMS",
                          planned_at=datetime(2026, 3, 2, tzinfo=UTC)))
    comm.post(f"/campaigns/{cid}/transition/in_review")
    page = rev.get("/").text
    block = page[page.index(f'id="review-{cid}"'):]
    assert "Ghi rõ thời hạn" in block
    assert "<ins>trước ngày 31/10</ins>" in block
    assert "Nội dung mới: Tin nhắn mới" in block
    assert "Tiếng Anh: Apply online before 31/10" in block and "Cổng tỉnh: Bản ngắn cho cổng tỉnh" in block
    assert "texts" not in block and "accounts" not in block  # no internal keys
    assert "Lần gửi duyệt đầu tiên" not in block
    # the communicator's home has no review queue
    assert 'id="review-queue"' not in comm.get("/").text
    # the campaign page shows the same comparison while it waits for review
    detail = rev.get(f"/campaigns/{cid}").text
    assert 'id="review-diff"' in detail and "<ins>trước ngày 31/10</ins>" in detail
    assert "tối đa 2.000 ký tự" in detail  # the send-back comment's limit
    rev.post(f"/campaigns/{cid}/transition/approved")
    assert 'id="review-diff"' not in rev.get(f"/campaigns/{cid}").text


def test_unit_officer_home_lists_kits_and_tasks(app, runner):
    runner.invoke(args=["seed-demo"])
    client = app.test_client()
    login(client, make_user(app, "unit_officer"))
    page = client.get("/").text
    assert 'id="owed"' in page and 'id="unit-kits"' in page
    assert 'id="due-week"' not in page and 'id="review-queue"' not in page


def test_admin_home_has_overview_and_both_queues(app):
    _campaign(app, "Chiến dịch của quản trị")
    client = app.test_client()
    login(client, make_user(app, "admin"))
    page = client.get("/").text
    assert 'id="overview"' in page and 'id="review-queue"' in page and 'id="needs-action"' in page
    assert "Bản nháp" in page[page.index('id="overview"'):]
    # the tests run without a public address: the admin is told
    assert 'id="h-warnings"' in page and "Chưa đặt địa chỉ công khai" in page
    app.config["LANTOA_PUBLIC_BASE_URL"] = "https://lantoa.soctrang.gov.vn"
    assert 'id="h-warnings"' not in client.get("/").text


def test_same_titles_are_told_apart(app):
    a = _campaign(app, "Tháng cao điểm", starts_on="2026-03-01", ends_on="2026-03-31")
    b = _campaign(app, "Tháng cao điểm", starts_on="2026-09-01", ends_on="2026-09-30")
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/campaigns").text
    assert "01/03/2026" in page and "01/09/2026" in page
    assert a != b


def test_favicon_is_served_and_linked(app, client):
    import io

    from PIL import Image

    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/vnd.microsoft.icon"
    icon = Image.open(io.BytesIO(r.data))
    assert {(16, 16), (32, 32)} <= set(icon.info["sizes"])
    page = client.get("/login").text
    assert re.search(r'<link rel="icon" href="[^"]+favicon\.svg"', page)
    svg = client.get("/static/core/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data
    # the committed ICO is what core/favicon.py draws
    from core.favicon import draw

    assert icon.size == (64, 64)
    assert icon.convert("RGBA").tobytes() == draw(64).tobytes()


@pytest.mark.browser
def test_home_pages_fit_a_phone(tmp_path):
    """Every role's start page, with lists filled (demo world, a campaign sent back with a
    long comment and one resubmitted with changes), is no wider than a 390 px screen."""
    from tests import demo_world
    from tests.browser import chromium, serve
    from tests.conftest import make_app
    from tests.helpers import PASSWORD

    app = make_app(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, WTF_CSRF_ENABLED=False)
    demo_world.build(app, tmp_path)
    comm, rev = app.test_client(), app.test_client()
    login(comm, demo_world.ROLE_USERS["communicator"][1])
    login(rev, demo_world.ROLE_USERS["reviewer"][1])
    back, twice = _campaign(app, "Chiến dịch trả lại " + "rất dài " * 8), _campaign(app, "Chiến dịch gửi lại")
    comm.post(f"/campaigns/{back}/transition/in_review")
    rev.post(f"/campaigns/{back}/transition/draft", data={"comment": "Khẩu_hiệu_quá_dài_" * 12})
    comm.post(f"/campaigns/{twice}/transition/in_review")
    rev.post(f"/campaigns/{twice}/transition/draft", data={"comment": "Sửa"})
    from campaigns.models import ContentItem

    with app.app_context(), session_scope(app) as s:  # changed between the two submissions
        s.add(ContentItem(campaign_id=twice, title="Bài mới " + "rất dài " * 10, channel="facebook",
                          body="Nội_dung_không_có_khoảng_trắng_" * 10, planned_at=datetime(2026, 5, 1, tzinfo=UTC)))
    comm.post(f"/campaigns/{twice}/transition/in_review")
    with serve(app) as base, chromium(viewport={"width": 390, "height": 844}) as ctx:
        for role, (_unit, email) in demo_world.ROLE_USERS.items():
            ctx.clear_cookies()  # a fresh session per role
            page = ctx.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/login")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Mật khẩu").fill(PASSWORD)
            page.get_by_role("button", name="Đăng nhập").click()
            page.wait_for_url(lambda url: "/login" not in url)
            page.goto(f"{base}/")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (role, width)
            if role == "reviewer":  # the side-by-side table is there and fits (it scrolls inside its box)
                assert page.locator(f"#review-{twice} table.diff").count() == 1
            page.close()


def test_first_steps_until_everything_is_set_up(app):
    from campaigns.models import Asset
    from scheduler.models import ChannelAccount
    from scheduler.sms.models import RecipientList

    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/").text
    steps = page[page.index('id="first-steps"'):]
    steps = steps[:steps.index("</section>")]
    assert steps.count("<li") == 4 and "Đã xong" not in steps
    assert 'href="/campaigns/new"' in steps and 'href="/accounts"' in steps
    _campaign(app, "Chiến dịch đầu tiên")
    steps = client.get("/").text
    steps = steps[steps.index('id="first-steps"'):]
    assert steps[:steps.index("</section>")].count("Đã xong") == 1
    with app.app_context(), session_scope(app) as s:
        s.add(ChannelAccount(channel="webhook", name="Cổng", config={"url": "http://127.0.0.1:9/x"}))
        s.add(Asset(kind="image", path="/tmp/x.png", filename="x.png", mime="image/png", sha256="0" * 64, size=1))
        s.add(RecipientList(name="Danh sách", status="ready"))
    assert 'id="first-steps"' not in client.get("/").text
