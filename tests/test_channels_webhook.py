"""Webhook and loudspeaker adapters against the loopback receiver, plus the
shared parts of channels.base they exercise."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from channels import registry
from channels.base import (
    ConfigError,
    DictCredentials,
    MediaFile,
    Message,
    Outcome,
    TokenBucket,
    fit_image,
    http_result,
    parse_retry_after,
)
from channels.loudspeaker import LoudspeakerAdapter
from channels.webhook import WebhookAdapter
from tests.fakes.webhook import LOUDSPEAKER_KEYS, WebhookReceiver, start_webhook

FAST = (2.0, 1.0)  # connect, read timeouts for tests


@pytest.fixture
def receiver():
    r = WebhookReceiver(hang_seconds=3.0).start()
    yield r
    r.stop()


def msg(key="key-1", **kw) -> Message:
    base = dict(
        idempotency_key=key,
        text="Ngày Chuyển đổi số quốc gia 10/10: dùng dịch vụ công trực tuyến!",
        title="Chuyển đổi số",
        delivery_id=7,
        campaign_id=3,
        media=(
            MediaFile(path="/srv/a/poster.png", mime="image/png", url="https://x.vn/m/ab12.png"),
        ),
    )
    base.update(kw)
    return Message(**base)


def webhook(receiver, **config) -> WebhookAdapter:
    return WebhookAdapter(
        {"url": receiver.hook_url, **config}, {}, timeout=FAST, sleep=lambda s: None
    )


# -- table-driven harness: (config, fake behaviour, expected outcome) -----------------

CASES = [
    # id, config, scripted fault, outcome, retry_after
    ("ok", {}, "ok", Outcome.SENT, None),
    ("server-error", {}, "500", Outcome.TRANSIENT, None),
    ("rate-limited", {}, "429", Outcome.RATE_LIMITED, 1.0),
    ("dropped-before-read", {}, "drop", Outcome.TRANSIENT, None),
    ("read-then-silent", {}, "hang", Outcome.AMBIGUOUS, None),
    ("read-then-silent-dedupe", {"dedupe": True}, "hang", Outcome.TRANSIENT, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_webhook_outcomes(receiver, case):
    _, config, fault, expected, retry_after = case
    receiver.script(fault)
    result = webhook(receiver, **config).deliver(msg(key=f"k-{case[0]}"))
    assert result.outcome is expected, result
    if retry_after is not None:
        assert result.retry_after == retry_after
    if expected is Outcome.SENT:
        assert result.external_id and result.external_id.startswith("wh-")
    # dropped requests never reach the handler; every other one is read exactly once
    assert receiver.counts[f"k-{case[0]}"] == (0 if fault == "drop" else 1)


def test_webhook_exact_request(receiver):
    result = webhook(receiver).deliver(msg())
    assert result.outcome is Outcome.SENT
    (req,) = receiver.received("/hook")
    assert req.method == "POST"
    assert req.header("Idempotency-Key") == "key-1"
    assert req.content_type == "application/json"
    assert req.json == {
        "delivery_id": 7,
        "idempotency_key": "key-1",
        "campaign_id": 3,
        "text": "Ngày Chuyển đổi số quốc gia 10/10: dùng dịch vụ công trực tuyến!",
        "title": "Chuyển đổi số",
        "media": ["https://x.vn/m/ab12.png"],
    }


def test_webhook_text_is_sent_nfc(receiver):
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Dịch vụ công")
    webhook(receiver).deliver(msg(text=decomposed))
    assert receiver.requests[-1].json["text"] == unicodedata.normalize("NFC", "Dịch vụ công")


def test_webhook_signature(receiver):
    adapter = WebhookAdapter(
        {"url": receiver.hook_url}, {"signing_secret": "s3cret-value"}, timeout=FAST
    )
    adapter.deliver(msg())
    req = receiver.requests[-1]
    want = hmac.new(b"s3cret-value", req.body, hashlib.sha256).hexdigest()
    assert req.header("X-Lantoa-Signature") == "sha256=" + want


def test_webhook_resend_is_deduplicated_by_receiver(receiver):
    adapter = webhook(receiver, dedupe=True)
    first = adapter.deliver(msg())
    second = adapter.deliver(msg())
    assert first.external_id == second.external_id
    assert receiver.counts["key-1"] == 2 and receiver.tally["duplicate"] == 1


def test_webhook_retry_after_http_date(receiver):
    when = datetime.now(UTC) + timedelta(seconds=120)
    receiver.retry_after = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    receiver.script("429")
    result = webhook(receiver).deliver(msg())
    assert result.outcome is Outcome.RATE_LIMITED
    assert 100 < result.retry_after <= 120


def test_webhook_connection_refused_is_transient():
    r = start_webhook()
    url = r.hook_url
    r.stop()
    result = WebhookAdapter({"url": url}, timeout=FAST).deliver(msg())
    assert result.outcome is Outcome.TRANSIENT


@pytest.mark.parametrize(
    "status,expected",
    [
        (200, Outcome.SENT),
        (201, Outcome.SENT),
        (409, Outcome.DUPLICATE),
        (408, Outcome.TRANSIENT),
        (502, Outcome.TRANSIENT),
        (401, Outcome.AUTH_EXPIRED),
        (403, Outcome.AUTH_EXPIRED),
        (400, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (429, Outcome.RATE_LIMITED),
    ],
)
def test_http_result_table(status, expected):
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps({"id": 42}).encode()
    resp.headers["Retry-After"] = "3"
    result = http_result(resp)
    assert result.outcome is expected
    assert result.http_status == status
    if expected is Outcome.SENT:
        assert result.external_id == "42"


def test_deadline_passed_is_expired(receiver):
    past = datetime.now(UTC) - timedelta(minutes=1)
    result = webhook(receiver).deliver(msg(not_after=past))
    assert result.outcome is Outcome.EXPIRED
    assert receiver.requests == []


# -- the receiver rejects deviations from the webhook contract ----------------------


def test_receiver_rejects_missing_idempotency_header(receiver):
    body = WebhookAdapter({"url": receiver.hook_url}).payload(msg())
    resp = requests.post(receiver.hook_url, json=body, timeout=2)
    assert resp.status_code == 400 and "Idempotency-Key" in resp.json()["error"]


def test_receiver_rejects_key_mismatch_and_missing_fields(receiver):
    body = WebhookAdapter({"url": receiver.hook_url}).payload(msg())
    resp = requests.post(
        receiver.hook_url, json=body, headers={"Idempotency-Key": "other"}, timeout=2
    )
    assert resp.status_code == 400 and "differs" in resp.json()["error"]
    del body["media"]
    resp = requests.post(
        receiver.hook_url, json=body, headers={"Idempotency-Key": "key-1"}, timeout=2
    )
    assert resp.status_code == 400 and "media" in resp.json()["error"]
    resp = requests.post(
        receiver.hook_url, data="text=x", headers={"Idempotency-Key": "k"}, timeout=2
    )
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]
    assert receiver.tally["rejected"] == 3 and sum(receiver.counts.values()) == 0


def test_receiver_fault_rates_are_repeatable():
    counts = []
    for _ in range(2):
        r = WebhookReceiver(fail_rate=0.3, rate_limit_rate=0.2, seed=42)
        counts.append([r._draw() for _ in range(200)])
    assert counts[0] == counts[1]
    share_500 = counts[0].count("500") / 200
    assert 0.2 < share_500 < 0.4 and counts[0].count("429") > 20


def test_receiver_throughput():
    """The receiver keeps up with the scheduler's load tests (~1000 req/s wanted;
    the bench measures it; the threshold leaves room for a busy CI machine)."""
    r = start_webhook()
    try:
        n, clients = 600, 4
        adapters = [
            WebhookAdapter({"url": r.hook_url}, session=requests.Session()) for _ in range(clients)
        ]

        def work(c):
            for i in range(n // clients):
                adapters[c]._send(msg(key=f"t-{c}-{i}"))

        threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = n / (time.perf_counter() - t0)
    finally:
        r.stop()
    assert len(r.delivered) == n
    # ~850 req/s on a quiet 2-core machine; a Nagle/delayed-ACK regression gives < 100
    assert rate > 200, f"{rate:.0f} req/s"


# -- config, registry, base helpers ----------------------------------------------------


def test_webhook_config_validation():
    with pytest.raises(ConfigError) as err:
        WebhookAdapter({"url": "ftp://x"})
    assert "http" in err.value.fields["url"]
    with pytest.raises(ConfigError) as err:
        WebhookAdapter({"url": "https://x.vn/h", "dedupe": "yes", "colour": 1})
    assert set(err.value.fields) == {"dedupe", "colour"}
    assert WebhookAdapter({"url": "https://x.vn/h"}).idempotent_receiver is False
    assert WebhookAdapter({"url": "https://x.vn/h", "dedupe": True}).idempotent_receiver is True
    shown = WebhookAdapter.redacted({"url": "https://x.vn/h"}, {"signing_secret": "abcdefghijkl"})
    assert shown["signing_secret"] == "đã đặt" and "ijkl" not in str(shown)
    assert WebhookAdapter.redacted({"url": "https://x.vn/h"}, {})["signing_secret"] == "chưa đặt"


def test_webhook_pacing_is_configurable(receiver):
    sleeps: list[float] = []
    adapter = WebhookAdapter({"url": receiver.hook_url, "max_per_second": 2.0}, sleep=sleeps.append)
    assert adapter.rate_per_second == 2.0 and WebhookAdapter.rate_per_second == 20.0
    for i in range(4):
        adapter.deliver(msg(key=f"p{i}"))
    assert len(sleeps) >= 1 and max(sleeps) > 0.3  # the third and fourth wait their turn
    with pytest.raises(ConfigError):
        WebhookAdapter({"url": receiver.hook_url, "max_per_second": 0})


def test_registry_builds_my_adapters():
    assert registry.adapter_class("webhook") is WebhookAdapter
    assert registry.adapter_class("loudspeaker") is LoudspeakerAdapter
    assert registry.adapter_class("facebook").name == "facebook"
    assert registry.adapter_class("zalo").name == "zalo"
    with pytest.raises(registry.UnknownChannel):
        registry.adapter_class("telegram")


def test_number_fields_answer_in_vietnamese():
    from channels.base import ConfigField, validate_fields

    spec = (ConfigField("n", "n", type="int"), ConfigField("x", "x", type="float"))
    with pytest.raises(ConfigError) as err:
        validate_fields(spec, {"n": "mười", "x": "abc"}, allow_extra=False)
    assert err.value.fields == {"n": "Giá trị phải là số nguyên.", "x": "Giá trị phải là số."}
    with pytest.raises(ConfigError) as err:
        validate_fields(spec, {"n": 1.5, "x": "nan"}, allow_extra=False)
    assert set(err.value.fields) == {"n", "x"}
    assert validate_fields(spec, {"n": "30", "x": "2.5"}, allow_extra=False) == {"n": 30, "x": 2.5}


def test_options_list_and_json_types():
    from channels.base import ConfigField, validate_fields

    spec = (
        ConfigField("ids", "x", type="list", required=False),
        ConfigField("data", "y", type="json", required=False),
    )
    clean = validate_fields(spec, {"ids": "1, 2,3", "data": '{"a": 1}'}, allow_extra=False)
    assert clean == {"ids": ["1", "2", "3"], "data": {"a": 1}}
    with pytest.raises(ConfigError) as err:
        validate_fields(spec, {"ids": [True], "data": "[1]"}, allow_extra=False)
    assert set(err.value.fields) == {"ids", "data"}


def test_preview_escapes_and_warns(receiver):
    html_out = webhook(receiver).preview(
        msg(
            text="<script>alert(1)</script>\ndòng 2",
            media=(MediaFile(path="/srv/x.png", mime="image/png"),),
        )
    )
    assert "<script>" not in html_out and "&lt;script&gt;" in html_out
    assert 'class="preview preview-webhook"' in html_out
    assert "<br>dòng 2" in html_out
    assert 'class="warning"' in html_out and "URL" in html_out


def test_parse_retry_after_and_bucket():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("soon") is None
    clock = [0.0]
    bucket = TokenBucket(2.0, 2.0, clock=lambda: clock[0])
    assert bucket.reserve() == 0 and bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(0.5)


def test_fit_image_recompresses_under_limit(tmp_path):
    from PIL import Image

    noisy = Image.effect_noise((1600, 1200), 80).convert("RGB")
    src = tmp_path / "big.png"
    noisy.save(src, "PNG")
    assert src.stat().st_size > 1_000_000
    out = fit_image(str(src), 1_000_000, out_dir=str(tmp_path))
    assert out != str(src)
    with Image.open(out) as img:
        assert img.format == "JPEG"
    assert (tmp_path / out).stat().st_size <= 1_000_000
    small = tmp_path / "small.jpg"
    noisy.resize((200, 150)).save(small, "JPEG")
    assert fit_image(str(small), 1_000_000) == str(small)
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError):
        fit_image(str(bad), 1000)


# -- loudspeaker -----------------------------------------------------------------------


def speaker_msg(**kw):
    return msg(
        media=(
            MediaFile(path="/srv/a/ban-tin.mp3", mime="audio/mpeg", url="https://x.vn/m/9f.mp3"),
        ),
        **kw,
    )


def test_loudspeaker_without_system_goes_by_kit():
    adapter = LoudspeakerAdapter({"unit_code": "phuong-1"})
    result = adapter.deliver(speaker_msg())
    assert result.outcome is Outcome.SENT and result.external_id == "kit:phuong-1"
    override = adapter.deliver(speaker_msg(options={"unit_code": "xa-an-hiep"}))
    assert override.external_id == "kit:xa-an-hiep"


def test_loudspeaker_posts_to_ip_system():
    r = WebhookReceiver(required_keys=LOUDSPEAKER_KEYS, hang_seconds=3.0).start()
    try:
        adapter = LoudspeakerAdapter(
            {"unit_code": "xa-an-hiep", "webhook_url": r.hook_url}, timeout=FAST
        )
        result = adapter.deliver(speaker_msg())
        assert result.outcome is Outcome.SENT and result.external_id.startswith("wh-")
        (req,) = r.requests
        assert req.header("Idempotency-Key") == "key-1"
        assert req.json == {
            "unit_code": "xa-an-hiep",
            "title": "Chuyển đổi số",
            "text": "Ngày Chuyển đổi số quốc gia 10/10: dùng dịch vụ công trực tuyến!",
            "audio_url": "https://x.vn/m/9f.mp3",
            "delivery_id": 7,
        }
        r.script("500")
        assert adapter.deliver(speaker_msg(key="k2")).outcome is Outcome.TRANSIENT
        r.script("hang")
        assert adapter.deliver(speaker_msg(key="k3")).outcome is Outcome.AMBIGUOUS
    finally:
        r.stop()


def test_loudspeaker_check_and_preview():
    adapter = LoudspeakerAdapter({"unit_code": "phuong-1"})
    problems = adapter.check(msg(text=" ", media=(MediaFile(path="/a.png", mime="image/png"),)))
    assert any("image/png" in p for p in problems)
    assert any("kịch bản" in p for p in problems)
    out = adapter.preview(speaker_msg())
    assert '<audio class="preview-audio" src="https://x.vn/m/9f.mp3"' in out
    assert "phuong-1" in out
    with pytest.raises(ConfigError):
        LoudspeakerAdapter({"webhook_url": "http://x.vn"})


def test_check_passes_what_the_app_checks_before_it_has_urls(tmp_path):
    """The app refuses a delivery whose check() is not empty, and checks it before
    media have public URLs or the delivery has its time: such content must pass,
    with notes only in warnings()."""
    from PIL import Image

    from channels.facebook import FacebookPageAdapter
    from channels.zalo import ZaloOAAdapter

    img = tmp_path / "poster.png"
    Image.new("RGB", (64, 64), "red").save(img)
    media = (MediaFile(str(img), "image/png", size=img.stat().st_size),)
    audio = (MediaFile(str(tmp_path / "a.mp3"), "audio/mpeg"),)
    cases = [
        (WebhookAdapter({"url": "https://x.vn/h"}), {}, media),
        (
            LoudspeakerAdapter({"unit_code": "xa-1", "webhook_url": "https://loa.example"}),
            {},
            audio,
        ),
        (
            FacebookPageAdapter({"page_id": "1"}),
            {"native_schedule": True, "link": "https://x.vn"},
            media,
        ),
        (
            ZaloOAAdapter({"oa_id": "1", "app_id": "2"}),
            ZaloOAAdapter.validate_options({"kind": "article_broadcast", "author": "Sở"}),
            media,
        ),
    ]
    for adapter, options, files in cases:
        message = Message("check", "Nội dung", title="Tiêu đề", media=files, options=options)
        assert adapter.check(message) == [], adapter.name
        assert adapter.warnings(message), adapter.name  # but the preview has something to say
        assert 'class="warning"' in adapter.preview(message)


def test_credentials_store_persists_on_save():
    saved = []
    store = DictCredentials({"a": "1"}, on_save=saved.append)
    store.save({"b": "2"})
    assert saved == [{"a": "1", "b": "2"}] and store.get("b") == "2"
