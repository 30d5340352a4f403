"""Facebook Page adapter against the fake Graph API (tests/fakes/graph.py)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
import requests

from channels.base import MediaFile, Message, Outcome
from channels.facebook import FacebookPageAdapter, classify_graph_error, usage_percent
from tests.fakes.graph import PAGE_ID, PAGE_TOKEN, FakeGraph, start_graph

TIMEOUT = (3.0, 1.5)


@pytest.fixture
def graph():
    g = FakeGraph(hang_seconds=3.0).start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("fb-media")
    paths = {}
    for i, colour in enumerate(("red", "green", "blue")):
        p = d / f"poster-{i}.png"
        Image.new("RGB", (320, 240), colour).save(p, "PNG")
        paths[f"img{i}"] = str(p)
    big = d / "big.png"
    Image.effect_noise((1800, 1200), 90).convert("RGB").save(big, "PNG")
    assert big.stat().st_size > 4 * 1024 * 1024
    paths["big"] = str(big)
    video = d / "clip.mp4"
    video.write_bytes(os.urandom(150_000))
    paths["video"] = str(video)
    return paths


def make(graph, sleeps=None, token=PAGE_TOKEN, **config) -> FacebookPageAdapter:
    return FacebookPageAdapter(
        {"page_id": graph.page_id, **config},
        {"page_access_token": token},
        endpoints={"graph_url": graph.url, "graph_version": "v25.0"},
        timeout=TIMEOUT,
        sleep=(sleeps.append if sleeps is not None else (lambda s: None)),
    )


def image(path, mime="image/png"):
    return MediaFile(
        path=path, mime=mime, size=os.path.getsize(path), url="https://lantoa.example/m/x.png"
    )


def message(files, kind="text", key="fb-1", **kw) -> Message:
    media: tuple[MediaFile, ...] = ()
    if kind == "photo":
        media = (image(files["img0"]),)
    elif kind == "multi":
        media = tuple(image(files[f"img{i}"]) for i in range(3))
    elif kind == "video":
        media = (MediaFile(path=files["video"], mime="video/mp4"),)
    options = dict(kw.pop("options", {}))
    if kind == "link":
        options["link"] = "https://dichvucong.gov.vn"
    return Message(
        idempotency_key=key,
        text=kw.pop("text", "Ngày 10/10 — hãy dùng dịch vụ công trực tuyến mức độ toàn trình!"),
        title="Chuyển đổi số",
        media=media,
        options=options,
        **kw,
    )


def in_an_hour():
    return datetime.now(UTC) + timedelta(hours=1)


# -- table-driven harness ----------------------------------------------------------------
# (id, message kind, message kwargs, fake set-up, expected outcome, expected provider code)

CASES = [
    ("text", "text", {}, None, Outcome.SENT, None),
    ("link", "link", {}, None, Outcome.SENT, None),
    ("photo", "photo", {}, None, Outcome.SENT, None),
    ("multi-photo", "multi", {}, None, Outcome.SENT, None),
    ("video", "video", {}, None, Outcome.SENT, None),
    ("native-schedule", "text", {"native": True}, None, Outcome.SCHEDULED, None),
    ("native-schedule-multi", "multi", {"native": True}, None, Outcome.SCHEDULED, None),
    ("native-schedule-video", "video", {"native": True}, None, Outcome.SCHEDULED, None),
    (
        "app-throttle-4",
        "text",
        {},
        lambda g: g.fail_next(4, is_transient=True),
        Outcome.RATE_LIMITED,
        "4",
    ),
    ("user-throttle-17", "text", {}, lambda g: g.fail_next(17), Outcome.RATE_LIMITED, "17"),
    ("page-throttle-32", "text", {}, lambda g: g.fail_next(32), Outcome.RATE_LIMITED, "32"),
    ("custom-613", "photo", {}, lambda g: g.fail_next(613, 1996), Outcome.RATE_LIMITED, "613/1996"),
    ("buc-80001", "text", {}, lambda g: g.fail_next(80001), Outcome.RATE_LIMITED, "80001"),
    ("policy-368", "text", {}, lambda g: g.fail_next(368), Outcome.RATE_LIMITED, "368"),
    (
        "token-expired",
        "text",
        {},
        lambda g: g.set_token(PAGE_TOKEN, "expired"),
        Outcome.AUTH_EXPIRED,
        "190/463",
    ),
    (
        "token-invalid",
        "photo",
        {},
        lambda g: g.set_token(PAGE_TOKEN, "invalid"),
        Outcome.AUTH_EXPIRED,
        "190/467",
    ),
    ("token-unknown", "text", {"token": "EAAGnotissued"}, None, Outcome.AUTH_EXPIRED, "190"),
    (
        "no-permission",
        "text",
        {},
        lambda g: g.set_token(PAGE_TOKEN, "no_permission"),
        Outcome.PERMANENT,
        "200",
    ),
    ("permission-10", "text", {}, lambda g: g.fail_next(10), Outcome.PERMANENT, "10"),
    (
        "duplicate-506",
        "text",
        {},
        lambda g: g._add_post("feed", DUP_TEXT, None, True),
        Outcome.DUPLICATE,
        "506",
    ),
    (
        "duplicate-photo",
        "photo",
        {},
        lambda g: g.fail_next(100, 1366051),
        Outcome.DUPLICATE,
        "100/1366051",
    ),
    ("unknown-1", "text", {}, lambda g: g.fail_next(1), Outcome.TRANSIENT, "1"),
    (
        "service-2-publish",
        "text",
        {},
        lambda g: g.fail_next(2, side_effect=True),
        Outcome.AMBIGUOUS,
        "2",
    ),
    (
        "service-2-unpublished-photo",
        "multi",
        {},
        lambda g: g.fail_next(2, path="/photos"),
        Outcome.TRANSIENT,
        "2",
    ),
    (
        "service-2-video-chunk",
        "video",
        {},
        lambda g: g.fail_next(2, path="/videos", times=1),
        Outcome.TRANSIENT,
        "2",
    ),
    ("invalid-100", "text", {}, lambda g: g.fail_next(100), Outcome.PERMANENT, "100"),
    ("bare-503", "text", {}, lambda g: g.http_error_next(503), Outcome.TRANSIENT, None),
    (
        "unreadable-200-publish",
        "text",
        {},
        lambda g: g.http_error_next(200),
        Outcome.AMBIGUOUS,
        None,
    ),
    (
        "unreadable-200-upload",
        "multi",
        {},
        lambda g: g.http_error_next(200, path="/photos"),
        Outcome.TRANSIENT,
        None,
    ),
    (
        "read-timeout-publish",
        "text",
        {},
        lambda g: g.hang_next(path="/feed"),
        Outcome.AMBIGUOUS,
        None,
    ),
    (
        "read-timeout-unpublished-photo",
        "multi",
        {},
        lambda g: g.hang_next(path="/photos", side_effect=True),
        Outcome.TRANSIENT,
        None,
    ),
]
DUP_TEXT = "Ngày 10/10 — hãy dùng dịch vụ công trực tuyến mức độ toàn trình!"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_facebook_outcomes(graph, files, case):
    _, kind, opts, setup, expected, code = case
    if setup:
        setup(graph)
    kw = {}
    if opts.get("native"):
        kw = {"options": {"native_schedule": True}, "scheduled_at": in_an_hour()}
    adapter = make(graph, token=opts.get("token", PAGE_TOKEN))
    result = adapter.deliver(message(files, kind, **kw))
    assert result.outcome is expected, result
    assert result.provider_code == code
    if expected in (Outcome.SENT, Outcome.SCHEDULED):
        assert isinstance(result.external_id, str) and result.external_id
        assert result.external_id in graph.posts
        state = graph.posts[result.external_id]["state"]
        assert state == ("scheduled" if expected is Outcome.SCHEDULED else "published")
    if expected is Outcome.RATE_LIMITED:
        assert result.retry_after and result.retry_after > 0


# -- exact requests ------------------------------------------------------------------------


def test_text_post_exact_request(graph, files):
    result = make(graph).deliver(message(files, "link"))
    (req,) = graph.received("/feed")
    assert req.path == f"/v25.0/{PAGE_ID}/feed"
    assert req.content_type == "application/x-www-form-urlencoded"
    assert req.form == {
        "message": DUP_TEXT,
        "link": "https://dichvucong.gov.vn",
        "access_token": PAGE_TOKEN,
    }
    assert req.query == {}
    assert result.external_id.startswith(PAGE_ID + "_")


def test_native_schedule_exact_request(graph, files):
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    result = make(graph).deliver(
        message(files, "text", options={"native_schedule": True}, scheduled_at=when)
    )
    assert result.outcome is Outcome.SCHEDULED
    req = graph.received("/feed")[0]
    assert req.form["published"] == "false"
    assert req.form["scheduled_publish_time"] == str(int(when.timestamp()))
    assert graph.posts[result.external_id]["scheduled_publish_time"] == int(when.timestamp())


def test_multi_photo_exact_requests(graph, files):
    when = in_an_hour()
    make(graph).deliver(
        message(files, "multi", options={"native_schedule": True}, scheduled_at=when)
    )
    uploads = graph.received("/photos")
    assert len(uploads) == 3
    for up in uploads:
        assert up.content_type == "multipart/form-data"
        assert up.form == {"published": "false", "temporary": "true", "access_token": PAGE_TOKEN}
        assert set(up.files) == {"source"} and up.files["source"].data.startswith(b"\x89PNG")
    feed = graph.received("/feed")[0]
    ids = [json.loads(feed.form[f"attached_media[{i}]"]) for i in range(3)]
    assert [i["media_fbid"] for i in ids] == list(graph.photos)
    assert feed.form["message"] == DUP_TEXT and feed.form["published"] == "false"


def test_single_photo_exact_request(graph, files):
    result = make(graph).deliver(message(files, "photo"))
    (req,) = graph.received("/photos")
    assert req.form == {"caption": DUP_TEXT, "access_token": PAGE_TOKEN}
    assert req.files["source"].filename == "poster-0.png"
    assert req.files["source"].content_type == "image/png"
    assert result.external_id == graph.posts[result.external_id]["id"]


def test_big_photo_is_recompressed_under_4mb(graph, files):
    result = make(graph).deliver(Message("fb-big", "Ảnh lớn", media=(image(files["big"]),)))
    assert result.outcome is Outcome.SENT
    up = graph.received("/photos")[0]
    assert (
        up.files["source"].data.startswith(b"\xff\xd8")
        and len(up.files["source"].data) <= 4 * 1024 * 1024
    )


def test_video_resumable_upload_exact_requests(graph, files):
    result = make(graph).deliver(message(files, "video"))
    reqs = graph.received("/videos")
    phases = [r.form["upload_phase"] for r in reqs]
    assert phases == ["start", "transfer", "transfer", "transfer", "finish"]
    assert reqs[0].form == {
        "upload_phase": "start",
        "file_size": "150000",
        "access_token": PAGE_TOKEN,
    }
    assert [r.form["start_offset"] for r in reqs[1:4]] == ["0", "65536", "131072"]
    assert reqs[4].form["description"] == DUP_TEXT and reqs[4].form["title"] == "Chuyển đổi số"
    with open(files["video"], "rb") as fh:
        assert graph.posts[result.external_id]["bytes"] == fh.read()


def test_get_calls_keep_the_token_out_of_the_url(graph):
    health = make(graph).test_connection()
    assert health.ok and "Sở Văn hóa" in health.message
    (req,) = graph.received("/me")
    assert req.header("Authorization") == f"Bearer {PAGE_TOKEN}"
    assert "access_token" not in req.query


# -- ambiguity and lookup --------------------------------------------------------------------


def test_code_2_that_created_the_post_is_found_by_lookup(graph, files):
    adapter = make(graph)
    msg = message(files, "text", scheduled_at=datetime.now(UTC))
    graph.fail_next(2, side_effect=True)
    first = adapter.deliver(msg)
    assert first.outcome is Outcome.AMBIGUOUS
    found = adapter.lookup(msg, first)
    assert found.outcome is Outcome.SENT and found.external_id in graph.posts
    assert len(graph.published()) == 1  # nothing was resent


def test_lookup_says_resend_is_safe_when_the_post_is_missing(graph, files):
    adapter = make(graph)
    msg = message(files, "text")
    graph.fail_next(2)  # failed without creating anything
    assert adapter.deliver(msg).outcome is Outcome.AMBIGUOUS
    assert adapter.lookup(msg).outcome is Outcome.TRANSIENT
    assert adapter.deliver(msg).outcome is Outcome.SENT


def test_lookup_after_read_timeout_and_scheduled_post(graph, files):
    adapter = make(graph)
    msg = message(files, "text", options={"native_schedule": True}, scheduled_at=in_an_hour())
    graph.hang_next(path="/feed", side_effect=True)
    assert adapter.deliver(msg).outcome is Outcome.AMBIGUOUS
    found = adapter.lookup(msg)
    assert (
        found.outcome is Outcome.SCHEDULED
        and graph.posts[found.external_id]["state"] == "scheduled"
    )


def test_lookup_ignores_an_old_post_with_the_same_text(graph, files):
    graph._add_post("feed", DUP_TEXT, None, True)
    graph.posts[next(iter(graph.posts))]["created_time"] = "2020-01-01T00:00:00+0000"
    msg = message(files, "text", scheduled_at=datetime.now(UTC))
    assert make(graph).lookup(msg).outcome is Outcome.TRANSIENT


def test_lookup_of_a_video_and_by_known_id(graph, files):
    adapter = make(graph)
    msg = message(files, "video")
    graph.hang_next(
        path="/videos", side_effect=True, method="POST"
    )  # the start call hangs: no post
    assert adapter.deliver(msg).outcome is Outcome.TRANSIENT
    sent = adapter.deliver(msg)
    assert adapter.lookup(msg).external_id == sent.external_id
    assert adapter.lookup(msg, sent).outcome is Outcome.SENT
    graph.set_token(PAGE_TOKEN, "expired")
    assert adapter.lookup(msg) is None  # cannot tell


def test_cancel_deletes_the_post(graph, files):
    adapter = make(graph)
    sent = adapter.deliver(
        message(files, "text", options={"native_schedule": True}, scheduled_at=in_an_hour())
    )
    assert adapter.cancel(sent.external_id).outcome is Outcome.SENT
    assert graph.posts[sent.external_id]["state"] == "deleted"
    (req,) = graph.received(sent.external_id, method="DELETE")
    assert req.header("Authorization") == f"Bearer {PAGE_TOKEN}"
    again = adapter.cancel(sent.external_id)
    assert again.outcome is Outcome.PERMANENT and again.provider_code == "100/33"


# -- pacing by usage headers -------------------------------------------------------------------


def test_high_usage_slows_down_and_full_usage_stops(graph, files):
    sleeps: list[float] = []
    adapter = make(graph, sleeps=sleeps, high_usage_pause=8.0)
    graph.set_usage(95)
    assert adapter.deliver(message(files, "text", key="a", text="một")).outcome is Outcome.SENT
    assert adapter.deliver(message(files, "text", key="b", text="hai")).outcome is Outcome.SENT
    assert sleeps and sleeps[-1] == pytest.approx(4.0)  # 8 s * (95-90)/10
    graph.set_usage(100)
    adapter.deliver(message(files, "text", key="c", text="ba"))
    n = len(graph.requests)
    blocked = adapter.deliver(message(files, "text", key="d", text="bốn"))
    assert blocked.outcome is Outcome.RATE_LIMITED and len(graph.requests) == n


def test_regain_time_from_buc_header(graph, files):
    graph.set_usage(100, regain_minutes=7)
    graph.fail_next(80001)
    result = make(graph).deliver(message(files, "text"))
    assert result.outcome is Outcome.RATE_LIMITED and result.retry_after == 420
    again = make(graph).deliver(message(files, "text"))
    assert again.outcome is Outcome.RATE_LIMITED and 400 < again.retry_after <= 420


def test_usage_header_parsing():
    headers = {
        "X-App-Usage": json.dumps({"call_count": 12, "total_time": 40, "total_cputime": 3}),
        "X-Business-Use-Case-Usage": json.dumps(
            {"1": [{"type": "pages", "call_count": 91, "total_cputime": 2, "total_time": 2}]}
        ),
    }
    assert usage_percent(headers) == 91
    assert usage_percent({"X-App-Usage": "not json"}) is None


def test_classification_without_envelope():
    assert classify_graph_error(502, None).outcome is Outcome.TRANSIENT
    assert classify_graph_error(400, "bad").outcome is Outcome.PERMANENT
    body = {"error": {"code": 190, "error_subcode": 460, "message": "password changed"}}
    r = classify_graph_error(400, body)
    assert r.outcome is Outcome.AUTH_EXPIRED and r.detail["class"] == "password changed"


# -- schedule window, config, preview, health -----------------------------------------------------


@pytest.mark.parametrize("delta", [timedelta(days=31), None])
def test_native_schedule_window_is_enforced_before_calling(graph, files, delta):
    when = None if delta is None else datetime.now(UTC) + delta
    adapter = make(graph)
    msg = message(files, "text", options={"native_schedule": True}, scheduled_at=when)
    # the UI hears about it first: a refusal when the time is known, a note when it is not
    assert adapter.check(msg) if when else (not adapter.check(msg) and adapter.warnings(msg))
    assert adapter.deliver(msg).outcome is Outcome.PERMANENT
    assert graph.requests == []


@pytest.mark.parametrize("delta", [timedelta(minutes=5), timedelta(minutes=-3)])
def test_native_schedule_handed_over_late_publishes_now(graph, files, delta):
    adapter = make(graph)
    msg = message(
        files, "multi", options={"native_schedule": True}, scheduled_at=datetime.now(UTC) + delta
    )
    assert adapter.check(msg) == [] and any("đăng ngay" in w for w in adapter.warnings(msg))
    result = adapter.deliver(msg)
    assert (
        result.outcome is Outcome.SENT and graph.posts[result.external_id]["state"] == "published"
    )
    feed = graph.received("/feed")[0]
    assert "published" not in feed.form and "scheduled_publish_time" not in feed.form
    assert all("temporary" not in r.form for r in graph.received("/photos"))


def test_schedule_horizon_is_configurable(files):
    g = FakeGraph(max_schedule_days=75).start()
    try:
        when = datetime.now(UTC) + timedelta(days=60)
        msg = message(files, "text", options={"native_schedule": True}, scheduled_at=when)
        assert make(g).deliver(msg).outcome is Outcome.PERMANENT
        assert make(g, schedule_max_days=75).deliver(msg).outcome is Outcome.SCHEDULED
    finally:
        g.stop()


def test_preview_looks_like_a_post(graph, files):
    adapter = make(graph, page_name="UBND xã <An Hiệp>")
    long_text = "Dòng đầu\n" + "x" * 600
    html_out = adapter.preview(
        message(
            files,
            "multi",
            text=long_text,
            options={"native_schedule": True},
            scheduled_at=in_an_hour(),
        )
    )
    assert 'class="preview preview-facebook"' in html_out
    assert "UBND xã &lt;An Hiệp&gt;" in html_out
    assert "Dòng đầu<br>" in html_out and "Xem thêm" in html_out and "x" * 600 not in html_out
    assert html_out.count('class="preview-image"') == 3 and "Hẹn đăng" in html_out
    warn = adapter.preview(
        message(
            files,
            "link",
            options={"link": "https://x.vn", "native_schedule": True},
            scheduled_at=datetime.now(UTC),
        )
    )
    assert "10 phút" in warn and 'class="preview-link"' in warn


def test_check_flags_bad_combinations(graph, files):
    adapter = make(graph)
    mixed = Message("m", "x", media=(image(files["img0"]), MediaFile(files["video"], "video/mp4")))
    assert any("video" in p for p in adapter.check(mixed))
    assert adapter.deliver(mixed).outcome is Outcome.PERMANENT
    eleven = Message("m", "x", media=tuple(image(files["img0"]) for _ in range(11)))
    assert any("10 ảnh" in p for p in adapter.check(eleven))


def test_test_connection_reports_expired_token_and_wrong_page(graph):
    graph.set_token(PAGE_TOKEN, "expired")
    health = make(graph).test_connection()
    assert not health.ok and "kết nối lại" in health.message and health.detail["code"] == "190/463"
    graph.set_token(PAGE_TOKEN, "ok")
    other = FacebookPageAdapter(
        {"page_id": "999"},
        {"page_access_token": PAGE_TOKEN},
        endpoints={"graph_url": graph.url},
        timeout=TIMEOUT,
    )
    assert not other.test_connection().ok


def test_missing_token_is_auth_expired_without_calling(graph, files):
    adapter = FacebookPageAdapter({"page_id": PAGE_ID}, {}, endpoints={"graph_url": graph.url})
    assert adapter.deliver(message(files)).outcome is Outcome.AUTH_EXPIRED
    assert graph.requests == []


def test_endpoints_default_to_the_real_graph():
    adapter = FacebookPageAdapter({"page_id": PAGE_ID}, {"page_access_token": "t"})
    assert adapter._url("x/feed") == "https://graph.facebook.com/v25.0/x/feed"
    assert adapter._url("x/videos", video=True) == "https://graph-video.facebook.com/v25.0/x/videos"


def test_start_graph_helper():
    g = start_graph()
    try:
        resp = requests.get(f"{g.url}/v25.0/me", params={"access_token": PAGE_TOKEN}, timeout=2)
        assert resp.json() == {"id": PAGE_ID, "name": g.page_name}
        assert len(g.requests) == 1
    finally:
        g.stop()


# -- the fake rejects deviations from the contract ----------------------------------------------


def post(graph, path, data=None, **kw):
    return requests.post(f"{graph.url}{path}", data=data, timeout=2, **kw)


def error_of(resp):
    err = resp.json()["error"]
    assert err["type"] == "OAuthException" and "fbtrace_id" in err
    return err["code"], err.get("error_subcode")


def test_fake_rejects_deviations(graph):
    feed = f"/v25.0/{PAGE_ID}/feed"
    ok = {"access_token": PAGE_TOKEN}
    soon = str(int(datetime.now(UTC).timestamp()) + 3600)
    cases = [
        # no API version in the path
        (post(graph, f"/{PAGE_ID}/feed", {**ok, "message": "a"}), 400, (2500, None)),
        # the token in the wrong place (a Zalo-style header)
        (
            post(graph, feed, {"message": "a"}, headers={"access_token": PAGE_TOKEN}),
            400,
            (2500, None),
        ),
        # a wrong parameter name
        (post(graph, feed, {**ok, "text": "a"}), 400, (100, None)),
        # scheduled_publish_time: not numeric / out of window / on a published post
        (
            post(
                graph,
                feed,
                {
                    **ok,
                    "message": "a",
                    "published": "false",
                    "scheduled_publish_time": "2026-12-01T10:00:00+07:00",
                },
            ),
            400,
            (100, None),
        ),
        (
            post(
                graph,
                feed,
                {
                    **ok,
                    "message": "a",
                    "published": "false",
                    "scheduled_publish_time": str(int(datetime.now(UTC).timestamp()) + 60),
                },
            ),
            400,
            (100, None),
        ),
        (
            post(graph, feed, {**ok, "message": "a", "scheduled_publish_time": soon}),
            400,
            (100, None),
        ),
        (post(graph, feed, {**ok, "message": "a", "published": "maybe"}), 400, (100, None)),
        # attached_media must be this Page's unpublished photos
        (
            post(graph, feed, {**ok, "attached_media[0]": json.dumps({"media_fbid": "123"})}),
            400,
            (100, None),
        ),
        (
            post(graph, feed, {**ok, "attached_media[0]": json.dumps({"id": "123"})}),
            400,
            (100, None),
        ),
        # nothing to post
        (post(graph, feed, ok), 400, (100, None)),
        # photos: over 4 MB / not an image / file under a wrong field name
        (
            post(
                graph,
                f"/v25.0/{PAGE_ID}/photos",
                ok,
                files={
                    "source": (
                        "a.png",
                        b"\x89PNG\r\n\x1a\n" + b"0" * (4 * 1024 * 1024),
                        "image/png",
                    )
                },
            ),
            400,
            (100, 1366046),
        ),
        (
            post(
                graph,
                f"/v25.0/{PAGE_ID}/photos",
                ok,
                files={"source": ("a.png", b"hello", "image/png")},
            ),
            400,
            (324, None),
        ),
        (
            post(
                graph,
                f"/v25.0/{PAGE_ID}/photos",
                ok,
                files={"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")},
            ),
            400,
            (100, None),
        ),
        # unknown token, another Page
        (post(graph, feed, {"access_token": "EAAGwrong", "message": "a"}), 400, (190, None)),
        (post(graph, "/v25.0/111/feed", {**ok, "message": "a"}), 400, (200, None)),
    ]
    for i, (resp, status, code) in enumerate(cases):
        assert resp.status_code == status, (i, resp.text)
        assert error_of(resp) == code, (i, resp.text)
    assert graph.posts == {}
    # usage headers on every reply, errors included
    assert all(
        "X-App-Usage" in r.headers and "X-Business-Use-Case-Usage" in r.headers for r, _, _ in cases
    )


def test_fake_rejects_video_chunks_at_the_wrong_offset(graph):
    path = f"/v25.0/{PAGE_ID}/videos"
    start = post(
        graph, path, {"access_token": PAGE_TOKEN, "upload_phase": "start", "file_size": "100"}
    ).json()
    assert (
        start["start_offset"] == "0"
        and start["end_offset"] == "100"
        and isinstance(start["video_id"], str)
    )
    bad = post(
        graph,
        path,
        {
            "access_token": PAGE_TOKEN,
            "upload_phase": "transfer",
            "upload_session_id": start["upload_session_id"],
            "start_offset": "10",
        },
        files={"video_file_chunk": ("c", b"x" * 90, "application/octet-stream")},
    )
    assert error_of(bad) == (100, None)
    early = post(
        graph,
        path,
        {
            "access_token": PAGE_TOKEN,
            "upload_phase": "finish",
            "upload_session_id": start["upload_session_id"],
        },
    )
    assert error_of(early) == (100, None) and "incomplete" in early.json()["error"]["message"]


def test_fake_duplicate_and_side_effect(graph):
    feed = f"/v25.0/{PAGE_ID}/feed"
    first = post(graph, feed, {"access_token": PAGE_TOKEN, "message": "giống"})
    assert first.status_code == 200 and first.json()["id"].startswith(PAGE_ID + "_")
    second = post(graph, feed, {"access_token": PAGE_TOKEN, "message": "giống"})
    assert error_of(second) == (506, None)
    graph.fail_next(2, side_effect=True)
    third = post(graph, feed, {"access_token": PAGE_TOKEN, "message": "khác"})
    assert third.status_code == 500 and error_of(third) == (2, None)
    assert len(graph.published()) == 2
