"""End to end (issue #5): register a Facebook Page and a Zalo OA through the
API, schedule a campaign's Page post and OA article broadcast, run one dispatch
pass, and find both marked sent with the ids the fake providers gave."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import make_app
from tests.fakes.graph import PAGE_ID, PAGE_TOKEN, FakeGraph
from tests.fakes.zalo import ACCESS_TOKEN, APP_ID, OA_ID, REFRESH_TOKEN, SECRET_KEY, FakeZalo
from tests.helpers import api_headers

DAY = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 10:00 in Sóc Trăng (no Zalo night ban)


@pytest.fixture
def fakes():
    graph = FakeGraph().start()
    zalo = FakeZalo(clock=lambda: DAY).start()
    yield graph, zalo
    graph.stop()
    zalo.stop()


@pytest.fixture
def app(tmp_path, fakes):
    graph, zalo = fakes
    app = make_app(
        f"sqlite:///{tmp_path / 'e2e.db'}",
        tmp_path,
        WTF_CSRF_ENABLED=False,
        LANTOA_FACEBOOK_GRAPH_URL=graph.url,
        LANTOA_FACEBOOK_GRAPH_VERSION="v25.0",
        LANTOA_ZALO_OA_URL=zalo.url,
        LANTOA_ZALO_OAUTH_URL=zalo.url,
        LANTOA_ZNS_URL=zalo.url,
        LANTOA_SEND_TIMEOUT="3,5",
    )
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def test_page_post_and_oa_broadcast_go_out_through_the_api(app, fakes):
    graph, zalo = fakes
    client = app.test_client()
    comm = api_headers(app, "communicator")
    rev = api_headers(app, "reviewer")

    fb = client.post(
        "/api/v1/channel-accounts",
        headers=comm,
        json={
            "channel": "facebook",
            "name": "Trang Sở VHTTDL",
            "config": {"page_id": PAGE_ID},
            "secrets": {"page_access_token": PAGE_TOKEN},
        },
    )
    assert fb.status_code == 201, fb.json
    oa = client.post(
        "/api/v1/channel-accounts",
        headers=comm,
        json={
            "channel": "zalo",
            "name": "Zalo OA Sở VHTTDL",
            # the adapter's clock is the real one: no night window for this test
            "config": {
                "oa_id": OA_ID,
                "app_id": APP_ID,
                "night_start_hour": 0,
                "night_end_hour": 0,
                "verify_interval": 0.1,
            },
            "secrets": {
                "access_token": ACCESS_TOKEN,
                "refresh_token": REFRESH_TOKEN,
                "secret_key": SECRET_KEY,
            },
        },
    )
    assert oa.status_code == 201, oa.json
    assert PAGE_TOKEN not in fb.get_data(as_text=True) and SECRET_KEY not in oa.get_data(
        as_text=True
    )
    # "test connection" reaches the fakes and reports the Government OA
    health = client.post(f"/api/v1/channel-accounts/{oa.json['id']}/test", headers=comm)
    assert health.status_code == 200, health.json
    assert zalo.received("/v2.0/oa/getoa")

    campaign = client.post(
        "/api/v1/campaigns",
        headers=comm,
        json={
            "title": "Ngày Chuyển đổi số 10/10",
            "starts_on": "2026-10-01",
            "ends_on": "2026-10-15",
        },
    ).json
    text = "Ngày 10/10: nộp hồ sơ trực tuyến tại dichvucong.gov.vn"
    now = datetime.now(UTC).isoformat()
    post = client.post(
        "/api/v1/deliveries",
        headers=comm,
        json={
            "campaign_id": campaign["id"],
            "channel_account_id": fb.json["id"],
            "scheduled_at": now,
            "content": {"text": text, "options": {"link": "https://dichvucong.gov.vn"}},
        },
    )
    assert post.status_code == 201, post.json
    article = client.post(
        "/api/v1/deliveries",
        headers=comm,
        json={
            "campaign_id": campaign["id"],
            "channel_account_id": oa.json["id"],
            "scheduled_at": now,
            "content": {
                "text": text,
                "title": "Chuyển đổi số vì người dân",
                "options": {
                    "kind": "article_broadcast",
                    "author": "Sở VHTTDL",
                    "cover_url": "https://lantoa.example/p/5d1e/cover.jpg",
                    "target": {"cities": 52},
                },
            },
        },
    )
    assert article.status_code == 201, article.json
    cid = campaign["id"]
    for to, who in (("in_review", comm), ("approved", rev)):
        r = client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": to}, headers=who)
        assert r.status_code == 200, r.json

    # one dispatcher pass (what `dispatch-due` does, minus the background jobs:
    # approving the campaign also queued its kit builds, which are not ours here)
    from scheduler.dispatcher import Dispatcher
    from scheduler.executors import make_executor
    from scheduler.runner import dispatch_pass

    dispatcher = Dispatcher(app)
    executor = make_executor(app, dispatcher)
    try:
        assert dispatch_pass(dispatcher, executor) == 2
        assert executor.wait_idle(60)
    finally:
        executor.shutdown(wait=True)

    fb_d = client.get(f"/api/v1/deliveries/{post.json['id']}", headers=comm).json
    oa_d = client.get(f"/api/v1/deliveries/{article.json['id']}", headers=comm).json
    assert fb_d["status"] == "sent", fb_d
    assert oa_d["status"] == "sent", oa_d
    # the Page post reached the fake with the documented parameters
    (feed,) = graph.received(f"/v25.0/{PAGE_ID}/feed")
    assert feed.form == {
        "message": text,
        "link": "https://dichvucong.gov.vn",
        "access_token": PAGE_TOKEN,
    }
    assert fb_d["external_id"] == graph.published()[0]["id"]
    # the article was created, verified and broadcast to the chosen followers
    (broadcast,) = zalo.received("/v2.0/oa/message")
    assert broadcast.json["recipient"] == {"target": {"cities": 52}}
    assert oa_d["external_id"] == zalo.sent[0]["message_id"]
    create = zalo.received("/v2.0/article/create")[0].json
    assert create["title"] == "Chuyển đổi số vì người dân" and create["author"] == "Sở VHTTDL"
