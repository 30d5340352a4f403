"""Zalo OA / ZNS adapter against the fake Zalo server (tests/fakes/zalo.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from channels.base import DictCredentials, MediaFile, Message, Outcome
from channels.zalo import (
    ZaloOAAdapter,
    encode_target,
    next_allowed_time,
    normalize_phone,
    tracking_id_for,
)
from tests.fakes.zalo import (
    ACCESS_TOKEN,
    APP_ID,
    OA_ID,
    REFRESH_TOKEN,
    SECRET_KEY,
    FakeZalo,
    start_zalo,
)

DAY = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 10:00 in Sóc Trăng
NIGHT = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 23:00 in Sóc Trăng
MORNING = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 06:00 on 01/12 in Sóc Trăng
TIMEOUT = (3.0, 1.5)
COVER = "https://lantoa.example/p/7f3a9c/cover.jpg"


class Clock:
    def __init__(self, now=DAY):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def zalo(clock):
    z = FakeZalo(clock=clock, hang_seconds=3.0).start()
    z.add_follower("5512340001", interacted_days_ago=1)
    z.add_follower("5512340002", interacted_days_ago=10)
    yield z
    z.stop()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("zalo-media")
    small = d / "cover.png"
    Image.new("RGB", (640, 360), "navy").save(small, "PNG")
    big = d / "poster.png"
    Image.effect_noise((1400, 1000), 90).convert("RGB").save(big, "PNG")
    assert big.stat().st_size > 1_000_000
    return {"small": str(small), "big": str(big)}


def creds(**over):
    values = {
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "secret_key": SECRET_KEY,
    }
    values.update(over)
    return DictCredentials(values)


def make(zalo, clock, store=None, sleeps=None, **config) -> ZaloOAAdapter:
    return ZaloOAAdapter(
        {
            "oa_id": OA_ID,
            "app_id": APP_ID,
            "default_author": "Sở VHTTDL",
            "verify_interval": 0.5,
            **config,
        },
        store if store is not None else creds(),
        endpoints={"zalo_oa_url": zalo.url, "zalo_oauth_url": zalo.url, "zns_url": zalo.url},
        timeout=TIMEOUT,
        clock=clock,
        sleep=(sleeps.append if sleeps is not None else (lambda s: None)),
    )


TEXT = "Từ 01/12, người dân nộp hồ sơ trực tuyến được giảm 50% lệ phí.\nXem hướng dẫn tại Cổng DVC."


def article(images, key="za-1", **options) -> Message:
    return Message(
        idempotency_key=key,
        text=TEXT,
        title="Giảm lệ phí khi nộp hồ sơ trực tuyến",
        media=(MediaFile(images["small"], "image/png", url=COVER),),
        options={"kind": "article_broadcast", **options},
    )


def cs(images=None, key="za-cs", user_ids=("5512340001",), **kw) -> Message:
    media = (MediaFile(images["big"], "image/png"),) if images else ()
    return Message(
        key,
        kw.pop("text", "Hồ sơ của bạn đã được tiếp nhận."),
        media=media,
        options={"kind": "cs_message", "user_ids": list(user_ids)},
        **kw,
    )


def zns(key="za-zns", phone="0912345678", template_id="229875", **kw) -> Message:
    return Message(
        key,
        "",
        options={
            "kind": "zns",
            "phone": phone,
            "template_id": template_id,
            "template_data": {
                "ten": "Nguyễn Văn A",
                "ma_ho_so": "H57.1-2611",
                "ngay_hen": "02/12/2026",
            },
        },
        **kw,
    )


# -- table-driven harness ------------------------------------------------------------------------
# (id, message builder, fake set-up, adapter config, expected outcome, provider code)

CASES = [
    ("article-broadcast", "article", None, {}, Outcome.SENT, None),
    ("article-with-target", "article-target", None, {}, Outcome.SENT, None),
    (
        "article-verify-article_id",
        "article",
        lambda z, c: setattr(z, "verify_id_field", "article_id"),
        {},
        Outcome.SENT,
        None,
    ),
    ("cs-text", "cs", None, {}, Outcome.SENT, None),
    ("cs-image", "cs-image", None, {}, Outcome.SENT, None),
    ("cs-not-follower", "cs-stranger", None, {}, Outcome.PERMANENT, "-213"),
    ("cs-outside-7-days", "cs-old", None, {}, Outcome.PERMANENT, "-230"),
    ("zns", "zns", None, {}, Outcome.SENT, None),
    ("zns-unknown-template", "zns-bad-template", None, {}, Outcome.PERMANENT, "-109"),
    (
        "zns-daily-quota",
        "zns",
        lambda z, c: setattr(z, "zns_daily_quota", 0),
        {},
        Outcome.DEFERRED,
        "-144",
    ),
    (
        "zns-night",
        "zns",
        lambda z, c: (setattr(z, "zns_night_ban", True), setattr(c, "now", NIGHT)),
        {},
        Outcome.DEFERRED,
        "-133",
    ),
    ("zns-token-refreshed", "zns", lambda z, c: z.expire_access_token(), {}, Outcome.SENT, None),
    (
        "rate-limit",
        "cs",
        lambda z, c: z.fail_next("/message/cs", -32),
        {},
        Outcome.RATE_LIMITED,
        "-32",
    ),
    (
        "token-expired-refreshed",
        "article",
        lambda z, c: z.expire_access_token(),
        {},
        Outcome.SENT,
        None,
    ),
    (
        "token-invalid-refresh-refused",
        "article",
        lambda z, c: (
            z.fail_next("/article/create", -216),
            z.refresh_tokens.update({REFRESH_TOKEN: "used"}),
        ),
        {},
        Outcome.AUTH_EXPIRED,
        "-216",
    ),
    (
        "night-ban-local",
        "article",
        lambda z, c: setattr(c, "now", NIGHT),
        {},
        Outcome.DEFERRED,
        None,
    ),
    (
        "night-ban-provider",
        "article",
        lambda z, c: z.fail_next("/oa/message", -234),
        {},
        Outcome.DEFERRED,
        "-234",
    ),
    (
        "article-still-processing",
        "article",
        lambda z, c: setattr(z, "verify_after", 100),
        {"verify_attempts": 3},
        Outcome.AMBIGUOUS,
        None,
    ),
    (
        "broadcast-read-timeout",
        "article",
        lambda z, c: z.hang_next("/oa/message"),
        {},
        Outcome.AMBIGUOUS,
        None,
    ),
    (
        "create-read-timeout",
        "article",
        lambda z, c: z.hang_next("/article/create"),
        {},
        Outcome.TRANSIENT,
        None,
    ),
    (
        "bad-gateway",
        "cs",
        lambda z, c: z.http_error_next("/message/cs", 502),
        {},
        Outcome.TRANSIENT,
        None,
    ),
    (
        "unreadable-200-broadcast",
        "article",
        lambda z, c: z.http_error_next("/oa/message", 200),
        {},
        Outcome.AMBIGUOUS,
        None,
    ),
    (
        "unreadable-200-create",
        "article",
        lambda z, c: z.http_error_next("/article/create", 200),
        {},
        Outcome.TRANSIENT,
        None,
    ),
    (
        "invalid-param",
        "article",
        lambda z, c: z.fail_next("/article/create", -201, "title is invalid!"),
        {},
        Outcome.PERMANENT,
        "-201",
    ),
    ("v3-disabled", "promotion", None, {}, Outcome.PERMANENT, None),
    ("v3-discontinued", "promotion", None, {"enable_v3_messages": True}, Outcome.PERMANENT, "-209"),
    (
        "v3-still-open",
        "transaction",
        lambda z, c: setattr(z, "v3_discontinued", False),
        {"enable_v3_messages": True},
        Outcome.SENT,
        None,
    ),
]


def build(kind, images):
    return {
        "article": lambda: article(images),
        "article-target": lambda: article(images, target={"cities": 52, "gender": 0}),
        "cs": lambda: cs(),
        "cs-image": lambda: cs(images),
        "cs-stranger": lambda: cs(user_ids=("999",)),
        "cs-old": lambda: cs(user_ids=("5512340002",)),
        "zns": lambda: zns(),
        "zns-bad-template": lambda: zns(template_id="000"),
        "promotion": lambda: Message(
            "p",
            "Khuyến mại",
            title="Tin",
            options={"kind": "promotion", "user_ids": ["5512340001"]},
        ),
        "transaction": lambda: Message(
            "t",
            "Hồ sơ đã xong",
            title="Thông báo",
            options={"kind": "transaction", "user_ids": ["5512340001"]},
        ),
    }[kind]()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_zalo_outcomes(zalo, clock, images, case):
    _, kind, setup, config, expected, code = case
    if setup:
        setup(zalo, clock)
    result = make(zalo, clock, **config).deliver(build(kind, images))
    assert result.outcome is expected, result
    assert result.provider_code == code
    if expected is Outcome.SENT:
        assert result.external_id and result.external_id in {s["message_id"] for s in zalo.sent}
    if expected is Outcome.DEFERRED:
        # night bans wait for 06:00 (Sóc Trăng time); daily quotas for just after midnight
        midnight = datetime(2026, 11, 30, 17, 5, tzinfo=UTC)  # 00:05 on 01/12
        assert result.retry_at == (midnight if code == "-144" else MORNING)
        assert not zalo.sent
    if expected is Outcome.RATE_LIMITED:
        assert result.retry_after == 60


# -- exact requests ------------------------------------------------------------------------------


def test_article_broadcast_exact_requests(zalo, clock, images):
    result = make(zalo, clock).deliver(article(images, target={"cities": [52]}))
    assert result.outcome is Outcome.SENT and result.detail["article_id"]
    create = zalo.received("/v2.0/article/create")[0]
    assert (
        create.header("access_token") == ACCESS_TOKEN and create.content_type == "application/json"
    )
    assert create.json == {
        "type": "normal",
        "title": "Giảm lệ phí khi nộp hồ sơ trực tuyến",
        "author": "Sở VHTTDL",
        "description": TEXT,
        "cover": {"cover_type": "photo", "photo_url": COVER, "status": "show"},
        "body": [
            {
                "type": "text",
                "content": "<p>Từ 01/12, người dân nộp hồ sơ trực tuyến được giảm 50% "
                "lệ phí.</p><p>Xem hướng dẫn tại Cổng DVC.</p>",
            }
        ],
        "status": "show",
        "comment": "show",
    }
    verifies = zalo.received("/v2.0/article/verify")
    assert len(verifies) == 3 and all(
        v.json == {"token": verifies[0].json["token"]} for v in verifies
    )
    (broadcast,) = zalo.received("/v2.0/oa/message")
    assert broadcast.json == {
        "recipient": {"target": {"cities": 52}},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [
                        {"media_type": "article", "attachment_id": result.detail["article_id"]}
                    ],
                },
            }
        },
    }


@pytest.mark.parametrize("encoding,expected", [("int", 3), ("list", [3]), ("csv", "3")])
def test_target_encoding_is_configurable(zalo, clock, images, encoding, expected):
    result = make(zalo, clock, target_encoding=encoding).deliver(
        article(images, target={"ages": 3})
    )
    assert result.outcome is Outcome.SENT
    assert zalo.received("/v2.0/oa/message")[0].json["recipient"]["target"] == {"ages": expected}


def test_verify_polls_with_backoff(zalo, clock, images):
    sleeps: list[float] = []
    make(zalo, clock, sleeps=sleeps).deliver(article(images))
    assert sleeps == [0.5, 0.75]


def test_cs_image_is_uploaded_under_1mb(zalo, clock, images):
    result = make(zalo, clock).deliver(cs(images))
    assert result.outcome is Outcome.SENT
    (upload,) = zalo.received("/v2.0/oa/upload/image")
    assert upload.content_type == "multipart/form-data" and set(upload.files) == {"file"}
    data = upload.files["file"].data
    assert data.startswith(b"\xff\xd8") and len(data) <= 1_000_000
    (sent,) = zalo.received("/v3.0/oa/message/cs")
    attachment_id = next(iter(zalo.uploads))
    assert sent.json == {
        "recipient": {"user_id": "5512340001"},
        "message": {
            "text": "Hồ sơ của bạn đã được tiếp nhận.",
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "attachment_id": attachment_id}],
                },
            },
        },
    }


def test_cs_image_without_local_file_goes_by_url(zalo, clock):
    msg = Message(
        "u",
        "Ảnh",
        media=(MediaFile("", "image/jpeg", url=COVER),),
        options={"kind": "cs_message", "user_ids": ["5512340001"]},
    )
    assert make(zalo, clock).deliver(msg).outcome is Outcome.SENT
    assert zalo.received("/upload/image") == []
    element = zalo.received("/message/cs")[0].json["message"]["attachment"]["payload"]["elements"][
        0
    ]
    assert element == {"media_type": "image", "url": COVER}


def test_cs_to_several_users_reports_each(zalo, clock):
    result = make(zalo, clock).deliver(cs(user_ids=("5512340001", "5512340002", "999")))
    assert result.outcome is Outcome.SENT
    assert list(result.detail["sent"]) == ["5512340001"]
    assert result.detail["failed"] == {"5512340002": "-230", "999": "-213"}


def test_cs_stops_after_a_transient_error_once_something_went_out(zalo, clock):
    zalo.add_follower("5512340003")
    original = zalo._cs
    calls = []

    def flaky(body):
        calls.append(body)
        if len(calls) == 2:
            from tests.fakes.zalo import ZaloError

            raise ZaloError(-32, "Your OA reached limit call api")
        return original(body)

    zalo._cs = flaky
    result = make(zalo, clock).deliver(cs(user_ids=("5512340001", "5512340002", "5512340003")))
    assert result.outcome is Outcome.SENT and result.detail["not_attempted"] == ["5512340003"]
    assert result.detail["failed"] == {"5512340002": "-32"}


def test_zns_exact_request(zalo, clock):
    result = make(zalo, clock).deliver(zns(key="x" * 60))
    assert result.outcome is Outcome.SENT and result.detail["quota"]["remainingQuota"] == "499"
    (req,) = zalo.received("/message/template")
    assert req.header("access_token") == ACCESS_TOKEN
    assert req.json == {
        "phone": "84912345678",
        "template_id": "229875",
        "template_data": {
            "ten": "Nguyễn Văn A",
            "ma_ho_so": "H57.1-2611",
            "ngay_hen": "02/12/2026",
        },
        "tracking_id": tracking_id_for("x" * 60),
    }
    assert len(req.json["tracking_id"]) == 48


def test_zns_bad_phone_is_refused_before_calling(zalo, clock):
    adapter = make(zalo, clock)
    msg = zns(phone="02993822xxx")
    assert any("Số điện thoại" in p for p in adapter.check(msg))
    assert adapter.deliver(msg).outcome is Outcome.PERMANENT and zalo.requests == []


# -- tokens ------------------------------------------------------------------------------------------


def test_refresh_saves_the_new_pair_before_retrying(zalo, clock, images):
    seen_at_save: list[int] = []
    saved: list[dict] = []

    def on_save(values):
        seen_at_save.append(len(zalo.requests))
        saved.append(values)

    store = DictCredentials(
        {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "secret_key": SECRET_KEY},
        on_save=on_save,
    )
    zalo.expire_access_token()
    result = make(zalo, clock, store=store).deliver(cs())
    assert result.outcome is Outcome.SENT
    paths = [r.path for r in zalo.requests]
    assert paths == ["/v3.0/oa/message/cs", "/v4/oa/access_token", "/v3.0/oa/message/cs"]
    assert seen_at_save == [2]  # saved after the refresh answered, before the retry went out
    oauth = zalo.requests[1]
    assert oauth.content_type == "application/x-www-form-urlencoded"
    assert oauth.header("secret_key") == SECRET_KEY
    assert oauth.form == {
        "refresh_token": REFRESH_TOKEN,
        "app_id": APP_ID,
        "grant_type": "refresh_token",
    }
    new_pair = saved[0]
    assert new_pair["refresh_token"] == zalo.current_refresh_token() != REFRESH_TOKEN
    assert zalo.requests[2].header("access_token") == new_pair["access_token"]
    assert datetime.fromisoformat(new_pair["access_token_expires_at"]) == DAY + timedelta(
        seconds=90000
    )


def test_old_refresh_token_cannot_be_reused(zalo, clock):
    adapter = make(zalo, clock)
    assert adapter.refresh_credentials(force=True)
    stale = make(zalo, clock, store=creds(access_token="gone"))  # still holds REFRESH_TOKEN
    assert stale.refresh_credentials(force=True) is False
    assert "Invalid refresh token" in stale.last_refresh_error


def test_refresh_credentials_only_when_expiring(zalo, clock):
    store = creds(access_token_expires_at=(DAY + timedelta(hours=20)).isoformat())
    assert make(zalo, clock, store=store).refresh_credentials() is False
    assert zalo.requests == []
    store.save({"access_token_expires_at": (DAY + timedelta(minutes=30)).isoformat()})
    assert make(zalo, clock, store=store).refresh_credentials() is True
    assert store.get("refresh_token") != REFRESH_TOKEN


def test_concurrent_workers_refresh_once(zalo, clock):
    store = creds()
    zalo.expire_access_token()
    results = []
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        results.append(make(zalo, clock, store=store).deliver(cs(key=f"c{i}")).outcome)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [Outcome.SENT] * 4
    assert len(zalo.received("/v4/oa/access_token")) == 1


def test_upload_is_resent_whole_after_a_token_refresh(zalo, clock, images):
    zalo.expire_access_token()
    result = make(zalo, clock).deliver(cs(images))
    assert result.outcome is Outcome.SENT
    first, second = zalo.received("/v2.0/oa/upload/image")
    assert (
        first.files["file"].data == second.files["file"].data
        and len(second.files["file"].data) > 1000
    )


def test_appsecret_proof(zalo, clock):
    assert make(zalo, clock, use_appsecret_proof=True).deliver(cs()).outcome is Outcome.SENT
    proof = zalo.requests[-1].header("appsecret_proof")
    assert proof and len(proof) == 64
    wrong = make(zalo, clock, store=creds(secret_key="other"), use_appsecret_proof=True).deliver(
        cs(key="w")
    )
    assert wrong.outcome is Outcome.PERMANENT and wrong.provider_code == "-242"


def test_missing_access_token_refreshes_first(zalo, clock):
    result = make(zalo, clock, store=creds(access_token="")).deliver(cs())
    assert result.outcome is Outcome.SENT
    assert [r.path for r in zalo.requests] == ["/v4/oa/access_token", "/v3.0/oa/message/cs"]


# -- lookup, health, preview, helpers ------------------------------------------------------------------


def test_lookup_finishes_a_pending_article(zalo, clock, images):
    zalo.verify_after = 100
    adapter = make(zalo, clock, verify_attempts=2)
    msg = article(images)
    first = adapter.deliver(msg)
    assert first.outcome is Outcome.AMBIGUOUS and first.detail["article_token"]
    assert adapter.lookup(msg, first) is None  # still processing
    zalo.verify_after = 0
    done = adapter.lookup(msg, first)
    assert done.outcome is Outcome.SENT and len(zalo.received("/v2.0/article/create")) == 1
    assert len(zalo.received("/v2.0/oa/message")) == 1
    assert adapter.lookup(cs(), first) is None


def test_test_connection_reports_government_oa(zalo, clock):
    health = make(zalo, clock).test_connection()
    assert (
        health.ok and health.detail["government"] is True and "Cơ quan Nhà nước" in health.message
    )
    zalo.oa_type = 2
    health = make(zalo, clock).test_connection()
    assert health.ok and health.detail["government"] is False
    zalo.expire_access_token()
    zalo.refresh_tokens[REFRESH_TOKEN] = "used"
    broken = make(zalo, clock).test_connection()
    assert not broken.ok and "kết nối lại" in broken.message


def test_preview_per_kind(zalo, clock, images):
    adapter = make(zalo, clock)
    out = adapter.preview(article(images))
    assert 'class="preview preview-zalo"' in out and 'class="preview-cover"' in out
    assert "Giảm lệ phí" in out and "Xem chi tiết" in out
    night = adapter.preview(
        Message("n", "<b>x</b>", options={"kind": "article_broadcast"}, scheduled_at=NIGHT)
    )
    assert "&lt;b&gt;" in night and "ảnh bìa" in night and "06:00" in night
    z = adapter.preview(zns())
    assert "Nguyễn Văn A" in z and 'class="preview-template-data"' in z
    long_cs = adapter.preview(cs(text="a" * 2100))
    assert "2000 ký tự" in long_cs


def test_helpers():
    assert normalize_phone("0912 345 678") == "84912345678"
    assert normalize_phone("+84912345678") == "84912345678"
    assert normalize_phone("84912") is None
    assert next_allowed_time(DAY, 22, 6) is None
    assert next_allowed_time(NIGHT, 22, 6) == MORNING
    early = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)  # 04:30 on 01/12
    assert next_allowed_time(early, 22, 6) == MORNING
    assert encode_target({"cities": "1,2"}, "list") == {"cities": [1, 2]}
    with pytest.raises(ValueError):
        encode_target({"cities": [1, 2]}, "int")


def test_endpoint_defaults():
    a = ZaloOAAdapter({"oa_id": OA_ID, "app_id": APP_ID}, creds())
    assert (a.oa_url, a.oauth_url, a.zns_url) == (
        "https://openapi.zalo.me",
        "https://oauth.zaloapp.com",
        "https://business.openapi.zalo.me",
    )


# -- the fake rejects deviations from the contract -------------------------------------------------------


def call(z, path, *, json=None, data=None, files=None, headers=None, method="POST", params=None):
    h = {"access_token": ACCESS_TOKEN} if headers is None else headers
    resp = requests.request(
        method, z.url + path, json=json, data=data, files=files, headers=h, params=params, timeout=2
    )
    assert resp.status_code == 200  # Zalo reports application errors with HTTP 200
    return resp.json()


def test_fake_rejects_deviations(zalo):
    jpeg_2mb = b"\xff\xd8\xff" + b"0" * 2_000_000
    good_article = {
        "type": "normal",
        "title": "T",
        "author": "A",
        "description": "D",
        "cover": {"cover_type": "photo", "photo_url": COVER, "status": "show"},
        "body": [{"type": "text", "content": "<p>x</p>"}],
    }
    zns_body = {
        "phone": "84912345678",
        "template_id": "229875",
        "template_data": {"ten": "A"},
        "tracking_id": "t-1",
    }
    cases = [
        # token in the wrong place (query string, Authorization header)
        (
            call(
                zalo,
                "/v2.0/oa/getoa",
                method="GET",
                headers={},
                params={"access_token": ACCESS_TOKEN},
            ),
            -216,
        ),
        (
            call(
                zalo,
                "/v2.0/oa/getoa",
                method="GET",
                headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
            ),
            -216,
        ),
        # JSON expected, not a form
        (call(zalo, "/v2.0/article/create", data={"type": "normal"}), -201),
        # a wrong field name, a title over 150 characters, a cover without a URL
        (call(zalo, "/v2.0/article/create", json={**good_article, "name": "x"}), -201),
        (call(zalo, "/v2.0/article/create", json={**good_article, "title": "t" * 151}), -210),
        (
            call(
                zalo,
                "/v2.0/article/create",
                json={**good_article, "cover": {"cover_type": "photo", "status": "show"}},
            ),
            -201,
        ),
        # uploads: over 1 MB, not jpg/png, wrong field name
        (
            call(zalo, "/v2.0/oa/upload/image", files={"file": ("a.jpg", jpeg_2mb, "image/jpeg")}),
            -210,
        ),
        (
            call(
                zalo, "/v2.0/oa/upload/image", files={"file": ("a.gif", b"GIF89a...", "image/gif")}
            ),
            -201,
        ),
        (
            call(
                zalo,
                "/v2.0/oa/upload/image",
                files={"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")},
            ),
            -201,
        ),
        # broadcast to a user id (v2 messages are gone), a bad target key or value, an unknown article
        (
            call(
                zalo,
                "/v2.0/oa/message",
                json={"recipient": {"user_id": "1"}, "message": {"text": "x"}},
            ),
            -240,
        ),
        (
            call(
                zalo,
                "/v2.0/oa/message",
                json={"recipient": {"target": {"province": 1}}, "message": {}},
            ),
            -201,
        ),
        (
            call(
                zalo,
                "/v2.0/oa/message",
                json={"recipient": {"target": {"ages": "a,b"}}, "message": {}},
            ),
            -201,
        ),
        (
            call(
                zalo,
                "/v2.0/oa/message",
                json={
                    "recipient": {"target": {}},
                    "message": {
                        "attachment": {
                            "type": "template",
                            "payload": {
                                "template_type": "media",
                                "elements": [{"media_type": "article", "attachment_id": "nope"}],
                            },
                        }
                    },
                },
            ),
            -201,
        ),
        # ZNS: phone format, tracking_id length / presence, token
        (call(zalo, "/message/template", json={**zns_body, "phone": "0912345678"}), -108),
        (call(zalo, "/message/template", json={**zns_body, "tracking_id": "t" * 49}), -1121),
        (
            call(
                zalo,
                "/message/template",
                json={k: v for k, v in zns_body.items() if k != "tracking_id"},
            ),
            -1122,
        ),
        (call(zalo, "/message/template", json=zns_body, headers={"access_token": "nope"}), -124),
        # CS text over 2,000 characters
        (
            call(
                zalo,
                "/v3.0/oa/message/cs",
                json={"recipient": {"user_id": "5512340001"}, "message": {"text": "x" * 2001}},
            ),
            -210,
        ),
    ]
    for i, (body, code) in enumerate(cases):
        assert body["error"] == code, (i, body)
        assert "data" not in body and isinstance(body["message"], str)
    assert zalo.sent == [] and zalo.uploads == {}


def test_fake_article_verify_delay_and_headers(zalo):
    good = {
        "type": "normal",
        "title": "T",
        "author": "A",
        "description": "D",
        "cover": {"cover_type": "photo", "photo_url": COVER, "status": "show"},
        "body": [{"type": "text", "content": "<p>x</p>"}],
    }
    token = call(zalo, "/v2.0/article/create", json=good)["data"]["token"]
    assert [
        call(zalo, "/v2.0/article/verify", json={"token": token})["error"] for _ in range(3)
    ] == [-214, -214, 0]
    resp = requests.get(
        zalo.url + "/v2.0/oa/getoa", headers={"access_token": ACCESS_TOKEN}, timeout=2
    )
    assert (
        resp.headers["X-RateLimit-Limit"] == "4000"
        and int(resp.headers["X-RateLimit-Remain"]) < 4000
    )


def test_fake_oauth_rejections(zalo):
    url = zalo.url + "/v4/oa/access_token"
    form = {"refresh_token": REFRESH_TOKEN, "app_id": APP_ID, "grant_type": "refresh_token"}
    # secret in the form instead of the header
    bad = requests.post(url, data={**form, "secret_key": SECRET_KEY}, timeout=2).json()
    assert bad["error"] == -14014 and bad["error_name"] == "Invalid secret key"
    # JSON instead of a form
    assert (
        requests.post(url, json=form, headers={"secret_key": SECRET_KEY}, timeout=2).json()["error"]
        < 0
    )
    # wrong app
    wrong = requests.post(
        url, data={**form, "app_id": "1"}, headers={"secret_key": SECRET_KEY}, timeout=2
    ).json()
    assert wrong["error"] == -14002
    ok = requests.post(url, data=form, headers={"secret_key": SECRET_KEY}, timeout=2).json()
    assert (
        set(ok) == {"access_token", "refresh_token", "expires_in"} and ok["expires_in"] == "90000"
    )
    reused = requests.post(url, data=form, headers={"secret_key": SECRET_KEY}, timeout=2).json()
    assert reused["error"] == -14014 and "error_reason" in reused and "access_token" not in reused


def test_start_zalo_helper():
    z = start_zalo()
    try:
        body = requests.get(
            z.url + "/v2.0/oa/getoa", headers={"access_token": ACCESS_TOKEN}, timeout=2
        ).json()
        assert body["error"] == 0 and body["data"]["oa_type"] == 4 and len(z.requests) == 1
    finally:
        z.stop()
