"""Facebook Page channel (Graph API; facts and sources in shared/CHANNELS.md §1).

What it publishes, as the Page (Page access token):
- text / link post: ``POST /{page-id}/feed`` (``message``, ``link``);
- one photo: ``POST /{page-id}/photos`` (multipart ``source``, ``caption``);
- several photos: each ``POST /{page-id}/photos`` with ``published=false``
  (``temporary=true`` when natively scheduled), then ``POST /{page-id}/feed``
  with ``attached_media[i]={"media_fbid": id}``;
- one video: resumable upload on ``/{page-id}/videos`` (``upload_phase``
  start / transfer with ``video_file_chunk`` / finish with ``description``);
- native scheduling (option ``native_schedule``): ``published=false`` plus an
  integer UNIX ``scheduled_publish_time`` between 10 minutes and 30 days ahead
  (the stricter of Meta's two statements; ``schedule_max_days`` widens it).
  Beyond the horizon the send is refused; a post handed over less than 10
  minutes before its time (the scheduler sent it when due) is published at once.

POSTs carry ``access_token`` as a form field; GET/DELETE send it in an
``Authorization: Bearer`` header so it never appears in a URL.

Errors are classified by ``code``/``error_subcode`` (map below). Code 2 on the
call that publishes may still have created the post, so it is AMBIGUOUS and
``lookup()`` reads the Page's recent posts before anything is resent; the same
code on an intermediate call (an unpublished photo, a video chunk) is only
TRANSIENT. ``X-App-Usage`` / ``X-Business-Use-Case-Usage`` are read on every
reply: above 90 % the adapter pauses between calls, at 100 % (or while Meta
reports time to regain access) it returns RATE_LIMITED without calling.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import requests

from channels.base import (
    VN_TZ,
    Adapter,
    ConfigField,
    Health,
    MediaFile,
    Message,
    Outcome,
    SendResult,
    StepFailed,
    failure_health,
    fit_image,
    media_kind,
    media_size,
    nfc,
    preview_media,
    preview_shell,
    response_json,
    short,
)

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VIDEO_URL = "https://graph-video.facebook.com"
GRAPH_VERSION = "v25.0"

# -- Graph API error-code map (CHANNELS.md §1.9) -------------------------------------
#: Throttling: app (4), user (17), Page with user token (32), custom (613),
#: app limit (341), business use case (80000-80014: 80001 = Page token).
RATE_LIMIT_CODES = frozenset(
    {4, 17, 32, 341, 613, 80000, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80009, 80014}
)
#: Posting too fast (subcode seen with code 368 and others).
RATE_LIMIT_SUBCODES = frozenset({1390008})
#: Temporarily blocked for policy reasons: retry much later.
POLICY_BLOCK_CODES = frozenset({368})
#: Token expired / invalid / missing (190 with subcodes 458-467, 492), API session (102).
AUTH_CODES = frozenset({190, 102, 2500})
AUTH_SUBCODES = {
    458: "app not installed",
    459: "user checkpointed",
    460: "password changed",
    463: "token expired",
    464: "unconfirmed user",
    467: "invalid token",
    492: "invalid session (no role on the Page)",
}
#: Missing permission or capability: 3, 10, 200-299. Not retryable; an admin
#: must grant pages_manage_posts / pages_read_engagement and reconnect.
PERMISSION_CODES = frozenset({3, 10} | set(range(200, 300)))
#: The Page already has this (506 duplicate status; 1366051 photos already posted).
DUPLICATE_CODES = frozenset({506})
DUPLICATE_SUBCODES = frozenset({1366051})
#: Unknown API error (1) and service unavailable subcodes: retry.
TRANSIENT_CODES = frozenset({1})
TRANSIENT_SUBCODES = frozenset({1363047, 1609010})
#: API service error: it may still have created the post (koala#699).
AMBIGUOUS_CODES = frozenset({2})

#: Seconds to wait after a throttling error when Meta gives no estimate.
DEFAULT_RATE_LIMIT_WAIT = 300.0
POLICY_BLOCK_WAIT = 3600.0
#: Longest photo Meta takes without complaint (subcode 1366046: "smaller than 4 MB").
MAX_PHOTO_BYTES = 4 * 1024 * 1024
MAX_PHOTOS = 10
SCHEDULE_MIN_SECONDS = 600
#: Usage above this share of any limit slows us down.
USAGE_SLOWDOWN_PERCENT = 90.0

# Process-wide usage readings per Page: page key -> (monotonic time, percent, regain until)
_usage: dict[str, tuple[float, float, float]] = {}
_usage_lock = threading.Lock()
USAGE_MEMORY_SECONDS = 900.0


def classify_graph_error(
    status: int, body: Any, headers: Mapping[str, str] | None = None, *, publishing: bool = True
) -> SendResult:
    """Turn a Graph error reply into a SendResult (see the code map above)."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(err, Mapping):
        if status == 429 or status >= 500:
            return SendResult(
                Outcome.TRANSIENT, http_status=status, message=f"HTTP {status} without Graph error"
            )
        return SendResult(
            Outcome.PERMANENT, http_status=status, message=f"HTTP {status}: {short(body)}"
        )
    try:
        code = int(err.get("code") or 0)
    except (TypeError, ValueError):
        code = 0
    try:
        sub = int(err.get("error_subcode") or 0)
    except (TypeError, ValueError):
        sub = 0
    text = short(str(err.get("message", "")), 200)
    pcode = f"{code}/{sub}" if sub else str(code)

    def result(outcome: Outcome, kind: str, retry_after: float | None = None) -> SendResult:
        return SendResult(
            outcome,
            provider_code=pcode,
            http_status=status,
            retry_after=retry_after,
            message=f"({pcode}) {text}",
            detail={"class": kind, "fbtrace_id": err.get("fbtrace_id")},
        )

    if code in AUTH_CODES:
        return result(Outcome.AUTH_EXPIRED, AUTH_SUBCODES.get(sub, "token"))
    if code in RATE_LIMIT_CODES or sub in RATE_LIMIT_SUBCODES:
        wait = regain_seconds(headers or {}) or DEFAULT_RATE_LIMIT_WAIT
        return result(Outcome.RATE_LIMITED, "rate_limit", wait)
    if code in DUPLICATE_CODES or sub in DUPLICATE_SUBCODES:
        return result(Outcome.DUPLICATE, "duplicate")
    if code in POLICY_BLOCK_CODES:
        return result(Outcome.RATE_LIMITED, "temporarily_blocked", POLICY_BLOCK_WAIT)
    if code in PERMISSION_CODES:
        return result(Outcome.PERMANENT, "permission")
    if code in AMBIGUOUS_CODES:
        return result(Outcome.AMBIGUOUS if publishing else Outcome.TRANSIENT, "service")
    if code in TRANSIENT_CODES or sub in TRANSIENT_SUBCODES or err.get("is_transient") is True:
        return result(Outcome.TRANSIENT, "transient")
    return result(Outcome.PERMANENT, "invalid_request")


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def usage_percent(headers: Mapping[str, str]) -> float | None:
    """Highest usage percentage in X-App-Usage / X-Page-Usage / X-Business-Use-Case-Usage."""
    values: list[float] = []
    for name in ("X-App-Usage", "X-Page-Usage"):
        data = _json_header(headers, name)
        if isinstance(data, Mapping):
            values += [float(v) for k, v in data.items() if isinstance(v, int | float)]
    buc = _json_header(headers, "X-Business-Use-Case-Usage")
    if isinstance(buc, Mapping):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, Mapping):
                    for key in ("call_count", "total_cputime", "total_time"):
                        if isinstance(entry.get(key), int | float):
                            values.append(float(entry[key]))
    return max(values) if values else None


def regain_seconds(headers: Mapping[str, str]) -> float | None:
    """``estimated_time_to_regain_access`` (minutes in the header) as seconds."""
    buc = _json_header(headers, "X-Business-Use-Case-Usage")
    best = 0.0
    if isinstance(buc, Mapping):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, Mapping):
                    minutes = entry.get("estimated_time_to_regain_access")
                    if isinstance(minutes, int | float):
                        best = max(best, float(minutes) * 60.0)
    return best or None


def _parse_fb_time(value: Any) -> datetime | None:
    """Graph times: ``2026-11-30T06:00:00+0000`` (or UNIX seconds)."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


class FacebookPageAdapter(Adapter):
    name = "facebook"
    title = "Trang Facebook"
    #: Longest message (Postiz's limit; not in Meta's docs).
    max_text_length = 63_206
    media_kinds = frozenset({"image", "video"})
    max_media_bytes = {
        # Photos above 4 MB are recompressed by the adapter before upload.
        "image": 50 * 1024 * 1024,
        "video": 10 * 1024 * 1024 * 1024,
    }
    rate_per_second = 1.0
    burst = 3.0
    supports_native_schedule = True
    long_running = True
    config_spec = (
        ConfigField("page_id", "ID Trang Facebook", "Facebook Page ID", max_length=64),
        ConfigField("page_access_token", "Mã truy cập Trang", "Page access token", secret=True),
        ConfigField("page_name", "Tên Trang (để xem trước)", "Page name (preview)", required=False),
        ConfigField(
            "schedule_max_days",
            "Hẹn giờ trên Facebook tối đa (ngày)",
            "Native scheduling horizon (days)",
            type="int",
            required=False,
            default=30,
        ),
        ConfigField(
            "temporary_for_scheduled",
            "Ảnh tạm cho bài nhiều ảnh hẹn giờ",
            "temporary=true on photos of scheduled multi-photo posts",
            type="bool",
            required=False,
            default=True,
        ),
        ConfigField(
            "high_usage_pause",
            "Giãn cách khi gần hạn mức (giây)",
            "Pause between calls above 90% usage (seconds)",
            type="float",
            required=False,
            default=10.0,
        ),
    )
    options_spec = (
        ConfigField("link", "Liên kết", "Link", type="url", required=False),
        ConfigField(
            "native_schedule",
            "Hẹn giờ đăng trên Facebook",
            "Schedule on Facebook",
            type="bool",
            required=False,
            default=False,
        ),
    )

    def __init__(self, config: Mapping[str, Any], credentials: Any = None, **kwargs: Any):
        super().__init__(config, credentials, **kwargs)
        base = (self.endpoints.get("graph_url") or GRAPH_URL).rstrip("/")
        self.graph_url = base
        self.graph_version = (self.endpoints.get("graph_version") or GRAPH_VERSION).strip("/")
        video = self.endpoints.get("graph_video_url")
        # The documented video host only applies to the real Graph API; a
        # configured base URL (a fake, a proxy) takes videos too.
        self.graph_video_url = (video or (GRAPH_VIDEO_URL if base == GRAPH_URL else base)).rstrip(
            "/"
        )

    @property
    def page_id(self) -> str:
        return str(self.config["page_id"])

    def account_key(self) -> str:
        return f"{self.graph_url}|{self.page_id}"

    # -- HTTP --------------------------------------------------------------------

    def _url(self, path: str, *, video: bool = False) -> str:
        base = self.graph_video_url if video else self.graph_url
        return f"{base}/{self.graph_version}/{path.lstrip('/')}"

    def _token(self) -> str:
        token = self.credentials.get("page_access_token")
        if not token:
            raise StepFailed(
                SendResult(Outcome.AUTH_EXPIRED, message="no page access token stored")
            )
        return token

    def _record_usage(self, resp: requests.Response) -> None:
        pct = usage_percent(resp.headers)
        regain = regain_seconds(resp.headers) or 0.0
        if pct is None and not regain:
            return
        now = time.monotonic()
        with _usage_lock:
            _usage[self._usage_key()] = (now, pct or 0.0, now + regain if regain else 0.0)

    def _usage_key(self) -> str:
        return self.account_key()

    def _usage_gate(self) -> SendResult | None:
        """Before a call: refuse at 100 % or while Meta asks us to wait; pause above 90 %."""
        with _usage_lock:
            reading = _usage.get(self._usage_key())
        if reading is None:
            return None
        seen, pct, regain_until = reading
        now = time.monotonic()
        if now - seen > USAGE_MEMORY_SECONDS:
            return None
        if regain_until > now:
            return SendResult(
                Outcome.RATE_LIMITED,
                retry_after=regain_until - now,
                message="Graph usage: waiting for estimated_time_to_regain_access",
            )
        if pct >= 100.0:
            return SendResult(
                Outcome.RATE_LIMITED,
                retry_after=DEFAULT_RATE_LIMIT_WAIT,
                message=f"Graph usage at {pct:.0f}%",
            )
        if pct > USAGE_SLOWDOWN_PERCENT:
            pause = float(self.config.get("high_usage_pause") or 0.0)
            self._sleep(pause * (pct - USAGE_SLOWDOWN_PERCENT) / (100.0 - USAGE_SLOWDOWN_PERCENT))
        return None

    def _call(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        video: bool = False,
        publishing: bool = False,
    ) -> dict[str, Any]:
        """One Graph call; returns the JSON object or raises StepFailed.

        A read timeout on a non-publishing call is TRANSIENT (nothing visible
        was created); on a publishing call it propagates to deliver(), which
        makes it AMBIGUOUS."""
        gate = self._usage_gate()
        if gate is not None:
            raise StepFailed(gate)
        token = self._token()
        url = self._url(path, video=video)
        try:
            if method == "POST":
                body = {k: v for k, v in (data or {}).items() if v is not None}
                body["access_token"] = token
                resp = self.session.post(url, data=body, files=files, timeout=self.timeout)
            else:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self.timeout,
                )
        except requests.ReadTimeout as exc:
            if publishing:
                raise
            raise StepFailed(
                SendResult(Outcome.TRANSIENT, message=f"read timeout on {path}: {short(str(exc))}")
            ) from exc
        self._record_usage(resp)
        body_json = response_json(resp)
        if resp.status_code < 300 and not isinstance(body_json, dict):
            # Accepted, but we cannot read what was created.
            raise StepFailed(
                SendResult(
                    Outcome.AMBIGUOUS if publishing else Outcome.TRANSIENT,
                    http_status=resp.status_code,
                    message=f"unreadable reply from {path}: {short(resp.text, 120)}",
                )
            )
        if resp.status_code >= 400 or not isinstance(body_json, dict) or "error" in body_json:
            raise StepFailed(
                classify_graph_error(
                    resp.status_code, body_json, resp.headers, publishing=publishing
                )
            )
        return body_json

    # -- scheduling ---------------------------------------------------------------

    def _schedule_problem(self, message: Message) -> str | None:
        """Why a natively scheduled post cannot be handed to Facebook, if so."""
        if not message.options.get("native_schedule"):
            return None
        if message.scheduled_at is None:
            return "Cần có giờ đăng để hẹn giờ trên Facebook."
        delta = (message.scheduled_at - self.now()).total_seconds()
        max_days = int(self.config.get("schedule_max_days") or 30)
        if delta > max_days * 86400:
            return f"Facebook chỉ cho hẹn giờ trước tối đa {max_days} ngày."
        return None

    def natively_scheduled(self, message: Message) -> bool:
        """True when the post goes to Facebook as a scheduled post: the option is
        set and its time is at least 10 minutes away. A post handed over later
        (its time is near or past: our scheduler sent it when due) is
        published at once instead, which is what its time asked for."""
        if not message.options.get("native_schedule") or message.scheduled_at is None:
            return False
        return (message.scheduled_at - self.now()).total_seconds() >= SCHEDULE_MIN_SECONDS

    def _publish_params(self, message: Message) -> dict[str, str]:
        if not self.natively_scheduled(message):
            return {}
        assert message.scheduled_at is not None
        return {
            "published": "false",
            "scheduled_publish_time": str(int(message.scheduled_at.timestamp())),
        }

    # -- contract -----------------------------------------------------------------------

    def check(self, message: Message) -> list[str]:
        problems = super().check(message)
        images = [m for m in message.media if media_kind(m) == "image"]
        videos = [m for m in message.media if media_kind(m) == "video"]
        if len(images) > MAX_PHOTOS:
            problems.append(f"Một bài Facebook chỉ nên có tối đa {MAX_PHOTOS} ảnh.")
        if videos and (images or len(videos) > 1):
            problems.append("Bài có video chỉ được kèm đúng một video, không kèm ảnh.")
        if not nfc(message.text).strip() and not message.media and not message.options.get("link"):
            problems.append("Bài đăng cần có nội dung, liên kết hoặc ảnh/video.")
        if message.scheduled_at is not None:  # unknown until the delivery has its time
            problem = self._schedule_problem(message)
            if problem:
                problems.append(problem)
        return problems

    def warnings(self, message: Message) -> list[str]:
        notes = []
        if message.options.get("link") and message.media:
            notes.append("Facebook không hiển thị thẻ liên kết khi bài có ảnh hoặc video.")
        if (
            message.options.get("native_schedule")
            and message.scheduled_at is not None
            and not self.natively_scheduled(message)
        ):
            notes.append("Giờ hẹn còn chưa tới 10 phút: bài sẽ được đăng ngay khi gửi.")
        if message.options.get("native_schedule") and message.scheduled_at is None:
            notes.append(
                "Bài hẹn giờ trên Facebook sẽ dùng giờ đăng của lượt gửi (10 phút đến "
                f"{int(self.config.get('schedule_max_days') or 30)} ngày sau khi gửi)."
            )
        for m in message.media:
            if m.path and not os.path.exists(m.path) and not (media_kind(m) == "image" and m.url):
                notes.append(f"Không tìm thấy tệp {os.path.basename(m.path)}.")
        if len(nfc(message.text)) > 480:
            notes.append(
                "Bài dài: Facebook chỉ hiện khoảng 480 ký tự đầu, phần sau nằm sau «Xem thêm»."
            )
        return notes

    def preview(self, message: Message) -> str:
        text = nfc(message.text)
        if self.max_text_length and len(text) > self.max_text_length:
            text = text[: self.max_text_length]
        page = html.escape(str(self.config.get("page_name") or "Trang Facebook"))
        if self.natively_scheduled(message) and message.scheduled_at:
            when = message.scheduled_at.astimezone(VN_TZ).strftime("Hẹn đăng %d/%m/%Y %H:%M")
        else:
            when = "Đăng ngay khi đến giờ"
        body = (
            '<div class="preview-header"><span class="preview-avatar"></span>'
            f'<span class="preview-page">{page}</span>'
            f'<span class="preview-time">{html.escape(when)}</span></div>'
        )
        fold = 480  # Facebook folds long posts behind "Xem thêm" in the feed
        visible, rest = text[:fold], text[fold:]
        paragraphs = "<br>".join(html.escape(p) for p in visible.split("\n"))
        more = '<span class="preview-more">… Xem thêm</span>' if rest else ""
        body += f'<div class="preview-text">{paragraphs}{more}</div>'
        link = message.options.get("link")
        if link and not message.media:
            host = urlparse(str(link)).netloc
            body += (
                f'<a class="preview-link" href="{html.escape(str(link), quote=True)}">'
                f"{html.escape(host)}</a>"
            )
        body += preview_media(message.media[:MAX_PHOTOS])
        return preview_shell(self.name, body, self.check(message) + self.warnings(message))

    def _send(self, message: Message) -> SendResult:
        problem = self._schedule_problem(message)
        if problem:
            return SendResult(Outcome.PERMANENT, message=f"native schedule: {problem}")
        images = [m for m in message.media if media_kind(m) == "image"]
        videos = [m for m in message.media if media_kind(m) == "video"]
        scheduled = self.natively_scheduled(message)
        try:
            if videos:
                if images or len(videos) > 1:
                    return SendResult(
                        Outcome.PERMANENT, message="a video post carries exactly one video"
                    )
                external = self._post_video(message, videos[0])
            elif len(images) > MAX_PHOTOS:
                return SendResult(Outcome.PERMANENT, message=f"more than {MAX_PHOTOS} photos")
            elif len(images) == 1:
                external = self._post_photo(message, images[0])
            elif images:
                external = self._post_multi_photo(message, images)
            else:
                external = self._post_feed(message, [])
        except StepFailed as failed:
            return failed.result
        return SendResult(
            Outcome.SCHEDULED if scheduled else Outcome.SENT,
            external_id=external,
            detail={"page_id": self.page_id},
        )

    # -- publishing steps ---------------------------------------------------------------

    def _post_feed(self, message: Message, media_fbids: list[str]) -> str:
        data: dict[str, Any] = {
            "message": nfc(message.text) or None,
            **self._publish_params(message),
        }
        if message.options.get("link") and not media_fbids:
            data["link"] = message.options["link"]
        for i, fbid in enumerate(media_fbids):
            data[f"attached_media[{i}]"] = json.dumps({"media_fbid": fbid})
        reply = self._call("POST", f"{self.page_id}/feed", data=data, publishing=True)
        return str(reply["id"])

    def _photo_file(self, media: MediaFile) -> tuple[str | None, str | None]:
        """(path to upload, temp copy to delete) — recompressed above 4 MB."""
        if not os.path.exists(media.path):
            return None, None
        size = media_size(media) or 0
        if size <= MAX_PHOTO_BYTES:
            return media.path, None
        try:
            fitted = fit_image(
                media.path,
                MAX_PHOTO_BYTES,
                formats=("JPEG", "PNG", "GIF", "BMP", "TIFF"),
                max_side=4096,
            )
        except ValueError as exc:
            raise StepFailed(SendResult(Outcome.PERMANENT, message=str(exc))) from exc
        return fitted, (fitted if fitted != media.path else None)

    def _upload_photo(
        self, media: MediaFile, data: dict[str, Any], *, publishing: bool
    ) -> dict[str, Any]:
        path, temp = self._photo_file(media)
        try:
            if path is None:
                if not media.url:
                    raise StepFailed(
                        SendResult(Outcome.PERMANENT, message=f"missing file {media.path}")
                    )
                return self._call(
                    "POST",
                    f"{self.page_id}/photos",
                    data={**data, "url": media.url},
                    publishing=publishing,
                )
            mime = "image/jpeg" if temp else media.mime
            with open(path, "rb") as fh:
                files = {"source": (os.path.basename(path), fh, mime)}
                return self._call(
                    "POST", f"{self.page_id}/photos", data=data, files=files, publishing=publishing
                )
        finally:
            if temp:
                os.unlink(temp)

    def _post_photo(self, message: Message, media: MediaFile) -> str:
        data = {"caption": nfc(message.text) or None, **self._publish_params(message)}
        reply = self._upload_photo(media, data, publishing=True)
        return str(reply.get("post_id") or reply["id"])

    def _post_multi_photo(self, message: Message, images: list[MediaFile]) -> str:
        scheduled = self.natively_scheduled(message)
        extra = (
            {"temporary": "true"}
            if scheduled and self.config.get("temporary_for_scheduled")
            else {}
        )
        fbids = []
        for media in images:
            reply = self._upload_photo(media, {"published": "false", **extra}, publishing=False)
            fbids.append(str(reply["id"]))
        return self._post_feed(message, fbids)

    def _post_video(self, message: Message, media: MediaFile) -> str:
        if not os.path.exists(media.path):
            raise StepFailed(SendResult(Outcome.PERMANENT, message=f"missing file {media.path}"))
        size = os.path.getsize(media.path)
        path = f"{self.page_id}/videos"
        start = self._call(
            "POST", path, data={"upload_phase": "start", "file_size": str(size)}, video=True
        )
        session_id = str(start["upload_session_id"])
        video_id = str(start["video_id"])
        lo, hi = int(start["start_offset"]), int(start["end_offset"])
        with open(media.path, "rb") as fh:
            for _ in range(100_000):
                if lo >= hi:
                    break
                fh.seek(lo)
                chunk = fh.read(hi - lo)
                reply = self._call(
                    "POST",
                    path,
                    data={
                        "upload_phase": "transfer",
                        "upload_session_id": session_id,
                        "start_offset": str(lo),
                    },
                    files={"video_file_chunk": ("chunk", chunk, "application/octet-stream")},
                    video=True,
                )
                lo, hi = int(reply["start_offset"]), int(reply["end_offset"])
        data = {
            "upload_phase": "finish",
            "upload_session_id": session_id,
            "title": nfc(message.title) if message.title else None,
            "description": nfc(message.text) or None,
            **self._publish_params(message),
        }
        reply = self._call("POST", path, data=data, video=True, publishing=True)
        if reply.get("success") is not True:
            raise StepFailed(SendResult(Outcome.AMBIGUOUS, message="video finish not confirmed"))
        return video_id

    # -- after the fact -------------------------------------------------------------------

    def lookup(self, message: Message, last: SendResult | None = None) -> SendResult | None:
        """Look for the post on the Page: SENT/SCHEDULED if it is there,
        TRANSIENT (safe to resend) if the recent posts surely lack it, None if
        the Page could not be read."""
        scheduled = self.natively_scheduled(message)
        found_outcome = Outcome.SCHEDULED if scheduled else Outcome.SENT
        try:
            if last is not None and last.external_id:
                self._call("GET", last.external_id, params={"fields": "id"})
                return SendResult(
                    found_outcome, external_id=last.external_id, message="found by id"
                )
            videos = any(media_kind(m) == "video" for m in message.media)
            if videos:
                edge, text_field = "videos", "description"
            elif scheduled:
                edge, text_field = "scheduled_posts", "message"
            else:
                edge, text_field = "published_posts", "message"
            reply = self._call(
                "GET",
                f"{self.page_id}/{edge}",
                params={"fields": f"id,{text_field},created_time", "limit": "25"},
            )
        except StepFailed:
            return None
        except requests.RequestException:
            return None
        want = nfc(message.text).strip()
        if scheduled or message.scheduled_at is None:
            since = self.now() - timedelta(hours=24)
        else:  # an immediate post cannot predate its slot (minus clock skew)
            since = min(message.scheduled_at, self.now()) - timedelta(minutes=10)
        for item in reply.get("data", []):
            if not isinstance(item, Mapping):
                continue
            if nfc(str(item.get(text_field) or "")).strip() != want:
                continue
            created = _parse_fb_time(item.get("created_time"))
            if created is not None and created < since:
                continue
            return SendResult(
                found_outcome, external_id=str(item["id"]), message=f"found on /{edge}"
            )
        return SendResult(
            Outcome.TRANSIENT, message=f"not among the Page's recent {edge}: safe to resend"
        )

    def cancel(self, external_id: str) -> SendResult:
        """Delete a post (or a provider-scheduled post) by id."""
        try:
            reply = self._call("DELETE", external_id)
        except StepFailed as failed:
            return failed.result
        except requests.RequestException as exc:
            return SendResult(Outcome.TRANSIENT, message=f"delete failed: {short(str(exc))}")
        if reply.get("success") is True:
            return SendResult(Outcome.SENT, external_id=external_id, message="deleted")
        return SendResult(Outcome.PERMANENT, message=f"unexpected reply {short(reply)}")

    def test_connection(self) -> Health:
        try:
            reply = self._call("GET", "me", params={"fields": "id,name"})
        except StepFailed as failed:
            return failure_health(
                failed.result,
                "Facebook",
                "Cần kết nối lại: mã truy cập Trang đã hết hạn hoặc không hợp lệ.",
            )
        except requests.RequestException as exc:
            return Health(False, "Không kết nối được tới Facebook.", {"error": short(str(exc))})
        if str(reply.get("id")) != self.page_id:
            return Health(
                False,
                f"Mã truy cập thuộc về {reply.get('name') or reply.get('id')}, "
                f"không phải Trang {self.page_id}.",
                {"id": reply.get("id")},
            )
        return Health(
            True,
            f"Kết nối tốt với Trang «{reply.get('name', '')}».",
            {"id": reply.get("id"), "name": reply.get("name")},
        )
