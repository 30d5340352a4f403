"""Portal channel (issue #21): an article with two images goes to a unit's
WordPress site through the REST API (media first, then the post), with an
application password; failures are classified like the other adapters; and
the dispatcher ends the delivery ``sent`` with the post's id and link."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import requests
from PIL import Image

from channels.base import MediaFile, Message, Outcome
from channels.portal_wordpress import WordPressPortalAdapter, post_link
from tests.fakes.wordpress import APP_PASSWORD, USERNAME, FakeWordPress


@pytest.fixture
def wp():
    site = FakeWordPress().start()
    yield site
    site.stop()


def images(tmp_path, n=2):
    out = []
    for i in range(n):
        path = tmp_path / f"Ảnh {i + 1}.png"
        Image.new("RGB", (40 + i, 30), (200, 30 * i, 40)).save(path)
        out.append(MediaFile(path=str(path), mime="image/png", size=path.stat().st_size))
    return tuple(out)


def adapter(site, password=APP_PASSWORD, **kw):
    return WordPressPortalAdapter(
        {"site_url": site.url, "username": USERNAME},
        {"application_password": password},
        timeout=kw.pop("timeout", (3, 5)),
        session=requests.Session(),
        sleep=lambda s: None,
        **kw,
    )


def article(tmp_path, key="k-1"):
    return Message(
        idempotency_key=key,
        title="Đồng loạt nộp hồ sơ trực tuyến",
        text="Người dân phường 1 nộp hồ sơ tại dichvucong.gov.vn.\n\nHỗ trợ tại bộ phận một cửa.",
        media=images(tmp_path),
        options={"summary": "Ngày Chuyển đổi số 10/10", "tags": ["chuyển đổi số", "dịch vụ công"]},
    )


def test_article_with_two_images_media_first_then_post(wp, tmp_path):
    result = adapter(wp).deliver(article(tmp_path))
    assert result.outcome is Outcome.SENT, result.message
    # media first (two uploads with a filename), then the post that uses them
    order = [r.path.rsplit("/", 1)[-1] for r in wp.requests if r.method == "POST"]
    assert order[:2] == ["media", "media"] and order[-1] == "posts", order
    uploads = wp.received("/wp/v2/media", "POST")
    for up, m in zip(uploads, article(tmp_path).media, strict=True):
        assert 'filename="anh-' in up.header("Content-Disposition")
        assert up.content_type == "image/png"
        with open(m.path, "rb") as fh:
            assert up.body == fh.read()
    # every call carries the application password (HTTP Basic)
    expected = (
        "Basic " + base64.b64encode(f"{USERNAME}:{APP_PASSWORD.replace(' ', '')}".encode()).decode()
    )
    assert all(r.header("Authorization") == expected for r in wp.requests)
    (post_req,) = wp.received("/wp/v2/posts", "POST")
    body = post_req.json
    media_ids = sorted(wp.media)
    assert body["featured_media"] == media_ids[0] and body["status"] == "publish"
    for mid in media_ids:
        assert wp.media[mid]["source_url"] in body["content"]
    assert body["title"] == "Đồng loạt nộp hồ sơ trực tuyến"
    assert body["excerpt"] == "Ngày Chuyển đổi số 10/10"
    assert sorted(body["tags"]) == sorted(wp.tags.values()) and len(body["tags"]) == 2
    assert "<p>Hỗ trợ tại bộ phận một cửa.</p>" in body["content"]
    (post,) = wp.posts.values()
    assert result.external_id == str(post["id"])
    assert result.detail["link"] == post["link"]
    # ?p=<id> leads to the permalink
    r = requests.get(post_link(wp.url, result.external_id), timeout=5, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == post["link"]


def test_existing_tag_is_reused(wp, tmp_path):
    wp.tags["chuyển đổi số"] = 55
    result = adapter(wp).deliver(article(tmp_path))
    assert result.outcome is Outcome.SENT
    assert 55 in wp.received("/wp/v2/posts", "POST")[0].json["tags"]


@pytest.mark.parametrize(
    ("fault", "outcome", "retry_after"),
    [
        ("401", Outcome.AUTH_EXPIRED, None),
        ("403", Outcome.PERMANENT, None),
        ("429", Outcome.RATE_LIMITED, 7.0),
        ("500", Outcome.TRANSIENT, None),
    ],
)
@pytest.mark.parametrize("on", ["media", "posts"])
def test_failures_are_classified(wp, tmp_path, fault, outcome, retry_after, on):
    wp.fault_on = on
    wp.script(fault)
    result = adapter(wp).deliver(article(tmp_path))
    assert result.outcome is outcome, result.message
    assert result.retry_after == retry_after
    assert not wp.posts
    if on == "media":  # nothing after a failed upload
        assert not wp.received("/wp/v2/posts")


def test_wrong_application_password_is_auth_expired(wp, tmp_path):
    result = adapter(wp, password="wrong pass word xxxx").deliver(article(tmp_path))
    assert result.outcome is Outcome.AUTH_EXPIRED and result.http_status == 401
    assert result.provider_code == "incorrect_password"
    health = adapter(wp, password="nope").test_connection()
    assert not health.ok and "Mật khẩu ứng dụng" in health.message
    assert adapter(wp).test_connection().ok


def test_timeout_on_the_post_is_ambiguous_and_lookup_finds_it(wp, tmp_path):
    a = adapter(wp, timeout=(3, 1))
    wp.fault_on = "posts"
    wp.script("hang")
    msg = article(tmp_path, key="amb-1")
    result = a.deliver(msg)
    assert result.outcome is Outcome.AMBIGUOUS
    # the fake did not create it: lookup says resend
    assert a.lookup(msg).outcome is Outcome.TRANSIENT
    # once it is there (a retry went through), lookup finds it by its slug
    assert a.deliver(msg).outcome is Outcome.SENT
    found = a.lookup(msg)
    (post,) = [p for p in wp.posts.values()]
    assert found.outcome is Outcome.SENT and found.external_id == str(post["id"])
    assert found.detail["link"] == post["link"]


def test_check_needs_a_title_and_images_only(wp, tmp_path):
    a = adapter(wp)
    assert a.check(Message("x", "nội dung")) == ["Bài đăng cổng thông tin cần có tiêu đề."]
    pdf = MediaFile(path=str(tmp_path / "a.pdf"), mime="application/pdf")
    assert any("không nhận tệp" in p for p in a.check(Message("x", "a", title="t", media=(pdf,))))


# -- end to end through the API and the dispatcher ------------------------------------------

DAY = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path, wp):
    from tests.conftest import make_app

    app = make_app(
        f"sqlite:///{tmp_path / 'portal.db'}",
        tmp_path,
        WTF_CSRF_ENABLED=False,
        LANTOA_SEND_TIMEOUT="3,5",
    )
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def add_assets(app, tmp_path) -> list[int]:
    from campaigns.models import Asset
    from core.db import session_scope

    ids = []
    with app.app_context(), session_scope(app) as s:
        for i, m in enumerate(images(tmp_path)):
            a = Asset(
                kind="image",
                path=m.path,
                filename=f"anh-{i}.png",
                mime="image/png",
                sha256=str(i) * 64,
                size=m.size,
                title=f"Ảnh {i}",
            )
            s.add(a)
            s.flush()
            ids.append(a.id)
    return ids


def publish_through_dispatcher(app, wp, tmp_path, unit: str | None = None):
    """Register the portal account, schedule the article, approve, dispatch."""
    from tests.helpers import api_headers

    client = app.test_client()
    comm = api_headers(app, "communicator")
    rev = api_headers(app, "reviewer")
    acc = client.post(
        "/api/v1/channel-accounts",
        headers=comm,
        json={
            "channel": "portal_wordpress",
            "name": "Cổng TTĐT Phường 1",
            "config": {"site_url": wp.url, "username": USERNAME},
            "secrets": {"application_password": APP_PASSWORD},
            **({"unit": unit} if unit else {}),
        },
    )
    assert acc.status_code == 201, acc.json
    assert APP_PASSWORD not in acc.get_data(as_text=True)
    campaign = client.post(
        "/api/v1/campaigns",
        headers=comm,
        json={
            "title": "Ngày Chuyển đổi số 10/10",
            "starts_on": "2026-10-01",
            "ends_on": "2026-10-15",
        },
    ).json
    d = client.post(
        "/api/v1/deliveries",
        headers=comm,
        json={
            "campaign_id": campaign["id"],
            "channel_account_id": acc.json["id"],
            "scheduled_at": datetime.now(UTC).isoformat(),
            "content": {
                "title": "Đồng loạt nộp hồ sơ trực tuyến",
                "text": "Người dân nộp hồ sơ trực tuyến.",
                "media_asset_ids": add_assets(app, tmp_path),
                "options": {"summary": "Tóm tắt", "tags": ["chuyển đổi số"]},
            },
        },
    )
    assert d.status_code == 201, d.json
    for to, who in (("in_review", comm), ("approved", rev)):
        r = client.post(
            f"/api/v1/campaigns/{campaign['id']}/transitions", json={"to": to}, headers=who
        )
        assert r.status_code == 200, r.json

    from scheduler.dispatcher import Dispatcher
    from scheduler.executors import make_executor
    from scheduler.runner import dispatch_pass

    dispatcher = Dispatcher(app)
    executor = make_executor(app, dispatcher)
    try:
        assert dispatch_pass(dispatcher, executor) == 1
        assert executor.wait_idle(60)
    finally:
        executor.shutdown(wait=True)
    return client.get(f"/api/v1/deliveries/{d.json['id']}", headers=comm).json, campaign


def test_dispatcher_ends_the_portal_delivery_sent_with_id_and_link(app, wp, tmp_path):
    delivery, _ = publish_through_dispatcher(app, wp, tmp_path)
    assert delivery["status"] == "sent", delivery
    (post,) = wp.posts.values()
    assert delivery["external_id"] == str(post["id"])
    assert len(wp.media) == 2 and post["featured_media"] in wp.media
    r = requests.get(post_link(wp.url, delivery["external_id"]), timeout=5, allow_redirects=False)
    assert r.headers["Location"] == post["link"]
    # the delivery's page links the communicator to the published article
    from tests.helpers import login, make_user

    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get(f"/deliveries/{delivery['id']}").get_data(as_text=True)
    assert f'href="{post_link(wp.url, delivery["external_id"])}"' in page and "Xem bài đã đăng" in page


def test_accounts_page_names_the_portal_channel(app):
    from tests.helpers import login, make_user

    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/accounts").get_data(as_text=True)
    assert "Cổng thông tin (WordPress)" in page
    form = client.get("/accounts/new/portal_wordpress").get_data(as_text=True)
    assert "Mật khẩu ứng dụng (Application Password)" in form and "Địa chỉ cổng thông tin" in form
