"""Zalo Official Account channel: articles broadcast to followers, consultation
messages, ZNS template messages by phone (facts and sources: shared/CHANNELS.md §2).

What a delivery does is chosen by ``options["kind"]``:

- ``article_broadcast`` (default): ``POST /v2.0/article/create`` (title,
  author, description, cover photo URL, body) -> token; ``POST
  /v2.0/article/verify`` polled with backoff while it answers -214 -> article
  id; ``POST /v2.0/oa/message`` with ``recipient.target`` (optional
  demographic filter) and the article as a ``media`` element. Blocked at night
  (22:00-06:00 Asia/Ho_Chi_Minh): DEFERRED to 06:00, checked before anything is
  created.
- ``cs_message``: ``POST /v3.0/oa/message/cs`` to each of ``user_ids`` (or
  ``Message.to``); an image goes up first through ``/v2.0/oa/upload/image``,
  recompressed here to JPEG/PNG of at most 1 MB. Only users who interacted in
  the last 7 days can receive it (-230/-232: permanent for that user).
- ``zns``: ``POST {zns_url}/message/template`` with ``phone`` (84 + 9 digits),
  ``template_id``, ``template_data`` and ``tracking_id`` (<= 48 characters,
  derived from the idempotency key).
- ``transaction`` / ``promotion``: the v3 UID messages Zalo announced it
  would stop on 01/03/2026; only with the account setting ``enable_v3_messages``.

Every call carries the OA token in an ``access_token`` header; errors come as
HTTP 200 with a negative ``error``. -216/-220 (OA) and -124 (ZNS) trigger one
refresh through OAuth v4 (``POST /v4/oa/access_token`` with the ``secret_key``
header); refresh tokens are single-use, so the new pair is saved to the
credential store before the request is retried. A refresh that fails leaves
AUTH_EXPIRED. Night bans (-234 OA, -133 ZNS) and daily quotas (-144, -147)
become DEFERRED with ``retry_at``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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
    media_src,
    nfc,
    preview_shell,
    preview_text,
    response_json,
    short,
)

OA_URL = "https://openapi.zalo.me"
OAUTH_URL = "https://oauth.zaloapp.com"
ZNS_URL = "https://business.openapi.zalo.me"

KINDS = ("article_broadcast", "cs_message", "zns", "transaction", "promotion")
NIGHT_BANNED_KINDS = frozenset({"article_broadcast", "transaction", "promotion"})
TARGET_KEYS = ("ages", "gender", "locations", "cities", "platform")

# -- error-code maps (CHANNELS.md §2.10) ---------------------------------------------
#: OA Open API (openapi.zalo.me): code -> (outcome, class)
OA_ERRORS: dict[int, tuple[Outcome, str]] = {
    -32: (Outcome.RATE_LIMITED, "rate_limit"),
    -100: (Outcome.TRANSIENT, "attachment_expired"),  # uploaded again on the next attempt
    -200: (Outcome.TRANSIENT, "send_failed"),  # UNVERIFIED class
    -201: (Outcome.PERMANENT, "invalid_parameter"),
    -204: (Outcome.PERMANENT, "oa_disabled"),
    -205: (Outcome.PERMANENT, "oa_not_found"),
    -209: (Outcome.PERMANENT, "api_not_supported"),
    -210: (Outcome.PERMANENT, "parameter_exceeds_limit"),
    -211: (Outcome.RATE_LIMITED, "out_of_quota"),
    -212: (Outcome.PERMANENT, "api_not_registered"),
    -213: (Outcome.PERMANENT, "not_follower"),
    -214: (Outcome.TRANSIENT, "article_processing"),
    -216: (Outcome.AUTH_EXPIRED, "token_invalid"),
    -217: (Outcome.PERMANENT, "user_blocked"),
    -218: (Outcome.PERMANENT, "user_quota"),
    -219: (Outcome.PERMANENT, "app_removed"),
    -220: (Outcome.AUTH_EXPIRED, "token_expired"),
    -221: (Outcome.PERMANENT, "oa_not_verified"),
    -223: (Outcome.PERMANENT, "not_authorized_or_article_quota"),
    -224: (Outcome.PERMANENT, "oa_tier"),
    -227: (Outcome.PERMANENT, "user_inactive"),
    -230: (Outcome.PERMANENT, "outside_interaction_window"),
    -232: (Outcome.PERMANENT, "outside_interaction_window"),
    -233: (Outcome.PERMANENT, "message_type_invalid"),
    -234: (Outcome.DEFERRED, "night_ban"),
    -235: (Outcome.PERMANENT, "oa_type_unsupported"),
    -240: (Outcome.PERMANENT, "message_v2_shut_down"),
    -242: (Outcome.PERMANENT, "appsecret_proof_invalid"),
    -244: (Outcome.PERMANENT, "user_restricted"),
    -248: (Outcome.PERMANENT, "policy_violation"),
    -249: (Outcome.PERMANENT, "template_not_by_uid"),
    -320: (Outcome.PERMANENT, "zalo_cloud_account_required"),
    -321: (Outcome.PERMANENT, "zalo_cloud_account_out_of_money"),
}
#: ZNS / ZBS template messages (business.openapi.zalo.me)
ZNS_ERRORS: dict[int, tuple[Outcome, str]] = {
    -100: (Outcome.TRANSIENT, "unknown"),
    **{c: (Outcome.PERMANENT, "app_config") for c in (-101, -102, -103, -104, -105, -106)},
    -107: (Outcome.PERMANENT, "message_id_invalid"),
    -108: (Outcome.PERMANENT, "phone_invalid"),
    -109: (Outcome.PERMANENT, "template_id_invalid"),
    -110: (Outcome.PERMANENT, "zalo_version"),
    -111: (Outcome.PERMANENT, "template_data_empty"),
    -112: (Outcome.PERMANENT, "template_data_invalid"),
    -1121: (Outcome.PERMANENT, "parameter_too_long"),
    -1122: (Outcome.PERMANENT, "parameter_missing"),
    -113: (Outcome.PERMANENT, "button_invalid"),
    -114: (Outcome.PERMANENT, "user_cannot_receive"),
    -115: (Outcome.PERMANENT, "out_of_quota_or_balance"),
    -116: (Outcome.PERMANENT, "text_invalid"),
    -117: (Outcome.PERMANENT, "template_not_permitted"),
    -118: (Outcome.PERMANENT, "no_zalo_account"),
    -119: (Outcome.PERMANENT, "account_cannot_receive"),
    -124: (Outcome.AUTH_EXPIRED, "token_invalid"),
    -1241: (Outcome.PERMANENT, "appsecret_proof_invalid"),
    -125: (Outcome.PERMANENT, "oa_id_invalid"),
    -126: (Outcome.PERMANENT, "development_quota"),
    -127: (Outcome.PERMANENT, "development_non_admin"),
    -131: (Outcome.PERMANENT, "template_not_approved"),
    -133: (Outcome.DEFERRED, "night_ban"),
    -135: (Outcome.PERMANENT, "no_zns_permission"),
    -136: (Outcome.PERMANENT, "zalo_cloud_account_required"),
    -137: (Outcome.PERMANENT, "charge_failed"),
    -139: (Outcome.PERMANENT, "user_refused"),
    -141: (Outcome.PERMANENT, "user_refused"),
    -144: (Outcome.DEFERRED, "daily_quota"),
    -1441: (Outcome.PERMANENT, "monthly_promotion_quota"),
    -146: (Outcome.PERMANENT, "template_disabled"),
    -147: (Outcome.DEFERRED, "template_daily_quota"),
}
OA_AUTH_CODES = frozenset({-216, -220})
ZNS_AUTH_CODES = frozenset({-124})
ARTICLE_PROCESSING = -214
RATE_LIMIT_WAIT = 60.0  # -32 is a per-minute limit
QUOTA_WAIT = 3600.0
MAX_IMAGE_BYTES = 1_000_000  # jpg/png <= 1 MB (upload and article images)
CS_MAX_TEXT = 2000

# One lock per OA for token refreshes inside this process (single-use refresh tokens).
_refresh_locks: dict[str, threading.Lock] = {}
_refresh_locks_guard = threading.Lock()


def normalize_phone(raw: str | None) -> str | None:
    """A Vietnamese mobile number as ZNS wants it (84 + 9 digits), or None."""
    if not raw:
        return None
    digits = re.sub(r"[\s.\-()]", "", str(raw))
    if digits.startswith("+"):
        digits = digits[1:]
    if re.fullmatch(r"0\d{9}", digits):
        digits = "84" + digits[1:]
    return digits if re.fullmatch(r"84\d{9}", digits) else None


def tracking_id_for(key: str) -> str:
    """ZNS ``tracking_id`` (<= 48 characters) from the delivery's idempotency key."""
    return key if len(key) <= 48 else hashlib.sha256(key.encode()).hexdigest()[:48]


def next_allowed_time(now: datetime, start_hour: int, end_hour: int) -> datetime | None:
    """None if ``now`` is outside the night window [start_hour, end_hour)
    (Vietnam time), else the UTC time the window ends."""
    local = now.astimezone(VN_TZ)
    if start_hour > end_hour:
        in_night = local.hour >= start_hour or local.hour < end_hour
    else:
        in_night = start_hour <= local.hour < end_hour
    if not in_night:
        return None
    day = local.date() if local.hour < end_hour else local.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, end_hour, tzinfo=VN_TZ).astimezone(UTC)


def next_midnight(now: datetime) -> datetime:
    local = now.astimezone(VN_TZ).date() + timedelta(days=1)
    return datetime(local.year, local.month, local.day, 0, 5, tzinfo=VN_TZ).astimezone(UTC)


def encode_target(target: Mapping[str, Any], encoding: str) -> dict[str, Any]:
    """Broadcast ``recipient.target`` with values as ints, int lists or
    comma strings (Zalo's samples disagree: CHANNELS.md §2.6)."""
    out: dict[str, Any] = {}
    for key, raw in target.items():
        if isinstance(raw, str):
            values = [int(x) for x in raw.split(",") if x.strip()]
        elif isinstance(raw, list | tuple):
            values = [int(x) for x in raw]
        else:
            values = [int(raw)]
        if encoding == "list":
            out[key] = values
        elif encoding == "csv":
            out[key] = ",".join(str(v) for v in values)
        else:
            if len(values) != 1:
                raise ValueError(f"target {key}: the 'int' encoding takes one value")
            out[key] = values[0]
    return out


class ZaloOAAdapter(Adapter):
    name = "zalo"
    title = "Zalo OA"
    max_text_length = None  # depends on the kind: see check()
    media_kinds = frozenset({"image"})
    max_media_bytes = {"image": 50 * 1024 * 1024}  # recompressed to 1 MB
    rate_per_second = 10.0
    burst = 10.0
    config_spec = (
        ConfigField("oa_id", "ID Zalo OA", "Zalo OA id", max_length=64),
        ConfigField("app_id", "ID ứng dụng (App ID)", "App id", max_length=64),
        ConfigField("access_token", "Access token", "Access token", secret=True),
        ConfigField("refresh_token", "Refresh token", "Refresh token", secret=True),
        ConfigField("secret_key", "Khóa bí mật ứng dụng", "App secret key", secret=True),
        ConfigField(
            "default_author",
            "Tác giả mặc định của bài viết",
            "Default article author",
            required=False,
            max_length=50,
        ),
        ConfigField(
            "target_encoding",
            "Cách mã hóa đối tượng nhận",
            "Broadcast target encoding",
            type="choice",
            choices=("int", "list", "csv"),
            required=False,
            default="int",
        ),
        ConfigField(
            "enable_v3_messages",
            "Bật tin Giao dịch/Truyền thông v3 (đã ngừng 01/03/2026)",
            "Enable v3 transaction/promotion messages",
            type="bool",
            required=False,
            default=False,
        ),
        ConfigField(
            "night_start_hour",
            "Giờ bắt đầu cấm gửi ban đêm",
            "Night ban start hour",
            type="int",
            required=False,
            default=22,
        ),
        ConfigField(
            "night_end_hour",
            "Giờ kết thúc cấm gửi ban đêm",
            "Night ban end hour",
            type="int",
            required=False,
            default=6,
        ),
        ConfigField(
            "verify_attempts",
            "Số lần kiểm tra bài viết",
            "Article verify attempts",
            type="int",
            required=False,
            default=8,
        ),
        ConfigField(
            "verify_interval",
            "Giãn cách kiểm tra bài viết (giây)",
            "Article verify interval (s)",
            type="float",
            required=False,
            default=2.0,
        ),
        ConfigField(
            "use_appsecret_proof",
            "Gửi appsecret_proof",
            "Send appsecret_proof",
            type="bool",
            required=False,
            default=False,
        ),
    )
    options_spec = (
        ConfigField(
            "kind",
            "Loại tin Zalo",
            "Zalo action",
            type="choice",
            choices=KINDS,
            required=False,
            default="article_broadcast",
        ),
        ConfigField("author", "Tác giả", "Author", required=False, max_length=50),
        ConfigField("description", "Mô tả ngắn", "Description", required=False, max_length=300),
        ConfigField("cover_url", "Ảnh bìa (URL)", "Cover URL", type="url", required=False),
        ConfigField("article_id", "ID bài viết có sẵn", "Existing article id", required=False),
        ConfigField("target", "Đối tượng nhận", "Broadcast target", type="json", required=False),
        ConfigField(
            "user_ids", "Người nhận (user_id)", "Recipients (user ids)", type="list", required=False
        ),
        ConfigField("phone", "Số điện thoại", "Phone", required=False),
        ConfigField("template_id", "Mã mẫu ZNS", "ZNS template id", required=False),
        ConfigField(
            "template_data", "Dữ liệu mẫu ZNS", "ZNS template data", type="json", required=False
        ),
        ConfigField(
            "transaction_type",
            "Loại tin giao dịch",
            "Transaction template type",
            required=False,
            default="transaction_event",
        ),
    )

    def __init__(self, config: Mapping[str, Any], credentials: Any = None, **kwargs: Any):
        super().__init__(config, credentials, **kwargs)
        self.oa_url = (self.endpoints.get("zalo_oa_url") or OA_URL).rstrip("/")
        self.oauth_url = (self.endpoints.get("zalo_oauth_url") or OAUTH_URL).rstrip("/")
        self.zns_url = (self.endpoints.get("zns_url") or ZNS_URL).rstrip("/")
        #: why the last token refresh failed (no secrets), for operators
        self.last_refresh_error: str | None = None

    def account_key(self) -> str:
        return f"{self.oa_url}|{self.config['app_id']}|{self.config['oa_id']}"

    def kind(self, message: Message) -> str:
        return str(message.options.get("kind") or "article_broadcast")

    # -- tokens ------------------------------------------------------------------------

    def _refresh_lock(self) -> threading.Lock:
        key = f"{self.oauth_url}|{self.account_key()}"
        with _refresh_locks_guard:
            return _refresh_locks.setdefault(key, threading.Lock())

    def refresh_credentials(self, *, force: bool = False) -> bool:
        """Refresh the OA token pair when it expires within the hour (or when
        forced). The new pair is saved before anything else happens."""
        if not force:
            expires = self.credentials.get("access_token_expires_at")
            if expires:
                try:
                    if datetime.fromisoformat(expires) - self.now() > timedelta(hours=1):
                        return False
                except ValueError:
                    pass
        return self._refresh(self.credentials.get("access_token"))

    def _refresh(self, stale_token: str | None) -> bool:
        with self._refresh_lock():
            current = self.credentials.get("access_token")
            if current and current != stale_token:
                return True  # another worker refreshed while we waited
            refresh_token = self.credentials.get("refresh_token")
            secret = self.credentials.get("secret_key")
            if not refresh_token or not secret:
                return False
            try:
                resp = self.session.post(
                    f"{self.oauth_url}/v4/oa/access_token",
                    data={
                        "refresh_token": refresh_token,
                        "app_id": self.config["app_id"],
                        "grant_type": "refresh_token",
                    },
                    headers={"secret_key": secret},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                # A read timeout may have spent the refresh token: a human must reconnect
                # if the next refresh is refused.
                self.last_refresh_error = f"refresh failed: {type(exc).__name__}"
                return False
            body = response_json(resp)
            if (
                not isinstance(body, Mapping)
                or not body.get("access_token")
                or not body.get("refresh_token")
            ):
                name = body.get("error_name") if isinstance(body, Mapping) else None
                code = body.get("error") if isinstance(body, Mapping) else None
                self.last_refresh_error = f"refresh refused: {code} {name or short(resp.text, 120)}"
                return False
            try:
                lifetime = int(str(body.get("expires_in") or "90000"))
            except ValueError:
                lifetime = 90000
            self.credentials.save(
                {
                    "access_token": str(body["access_token"]),
                    "refresh_token": str(body["refresh_token"]),
                    "access_token_expires_at": (
                        self.now() + timedelta(seconds=lifetime)
                    ).isoformat(),
                }
            )
            return True

    # -- HTTP ------------------------------------------------------------------------------

    def _classify(
        self, code: int, text: str, table: Mapping[int, tuple[Outcome, str]]
    ) -> SendResult:
        outcome, kind = table.get(code, (Outcome.PERMANENT, "unknown_error"))
        result = SendResult(
            outcome,
            provider_code=str(code),
            http_status=200,
            message=f"({code}) {short(text, 200)}",
            detail={"class": kind},
        )
        if outcome is Outcome.RATE_LIMITED:
            result.retry_after = RATE_LIMIT_WAIT if code == -32 else QUOTA_WAIT
        if outcome is Outcome.DEFERRED:
            if kind == "night_ban":
                at = next_allowed_time(self.now(), *self._night()) or self._after_night()
            else:
                at = next_midnight(self.now())
            result.retry_at = at
        return result

    def _night(self) -> tuple[int, int]:
        return int(self.config.get("night_start_hour", 22)), int(
            self.config.get("night_end_hour", 6)
        )

    def _after_night(self) -> datetime:
        """The next end of the night window (the provider said it is night)."""
        start, end = self._night()
        local = self.now().astimezone(VN_TZ)
        day = local.date() if local.hour < end else local.date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, end, tzinfo=VN_TZ).astimezone(UTC)

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        zns: bool = False,
        publishing: bool = True,
    ) -> dict[str, Any]:
        """One Zalo call; the reply's ``data`` envelope, or StepFailed.

        A missing or rejected token (-216/-220, ZNS -124) is refreshed once and
        the call retried once: the rejected request did nothing. A read timeout
        on a publishing call propagates (deliver() makes it AMBIGUOUS); on
        other calls it is TRANSIENT."""
        auth_codes = ZNS_AUTH_CODES if zns else OA_AUTH_CODES
        for attempt in (1, 2):
            token = self.credentials.get("access_token")
            if not token:
                if attempt == 1 and self._refresh(None):
                    continue
                raise StepFailed(SendResult(Outcome.AUTH_EXPIRED, message="no access token"))
            resp = self._request(method, url, token, body, params, files, publishing)
            data = response_json(resp)
            if not isinstance(data, Mapping):
                if resp.status_code < 300:  # accepted, unreadable: it may have gone out
                    outcome = Outcome.AMBIGUOUS if publishing else Outcome.TRANSIENT
                elif resp.status_code >= 500 or resp.status_code == 429:
                    outcome = Outcome.TRANSIENT
                else:
                    outcome = Outcome.PERMANENT
                raise StepFailed(
                    SendResult(
                        outcome,
                        http_status=resp.status_code,
                        message=f"HTTP {resp.status_code}: {short(resp.text, 200)}",
                    )
                )
            try:
                code = int(data.get("error", 0) or 0)
            except (TypeError, ValueError):
                code = -1
            if code == 0 and resp.status_code < 400:
                return dict(data)
            if code in auth_codes and attempt == 1 and self._refresh(token):
                continue
            if code == 0:  # HTTP error status with a zero code
                outcome = Outcome.TRANSIENT if resp.status_code >= 500 else Outcome.PERMANENT
                raise StepFailed(
                    SendResult(
                        outcome, http_status=resp.status_code, message=f"HTTP {resp.status_code}"
                    )
                )
            table = ZNS_ERRORS if zns else OA_ERRORS
            raise StepFailed(self._classify(code, str(data.get("message", "")), table))
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(
        self,
        method: str,
        url: str,
        token: str,
        body: Any,
        params: Mapping[str, str] | None,
        files: Mapping[str, Any] | None,
        publishing: bool,
    ) -> requests.Response:
        headers = {"access_token": token}
        if self.config.get("use_appsecret_proof"):
            secret = self.credentials.get("secret_key") or ""
            headers["appsecret_proof"] = hmac.new(
                secret.encode(), token.encode(), hashlib.sha256
            ).hexdigest()
        try:
            if files is not None:
                return self.session.post(url, files=files, headers=headers, timeout=self.timeout)
            if method == "POST":
                headers["Content-Type"] = "application/json"
                return self.session.post(
                    url,
                    data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                    headers=headers,
                    timeout=self.timeout,
                )
            return self.session.get(url, params=params, headers=headers, timeout=self.timeout)
        except requests.ReadTimeout as exc:
            if publishing:
                raise
            raise StepFailed(
                SendResult(Outcome.TRANSIENT, message=f"read timeout: {short(str(exc))}")
            ) from exc

    # -- contract ---------------------------------------------------------------------------

    def _cover(self, message: Message) -> str | None:
        if message.options.get("cover_url"):
            return str(message.options["cover_url"])
        img = next((m for m in message.media if media_kind(m) == "image" and m.url), None)
        return img.url if img else None

    def _recipients(self, message: Message) -> list[str]:
        ids = list(message.options.get("user_ids") or [])
        if not ids and message.to:
            ids = [message.to]
        return [str(i) for i in ids]

    def check(self, message: Message) -> list[str]:
        problems = super().check(message)
        kind = self.kind(message)
        text = nfc(message.text)
        if kind == "article_broadcast":
            if not message.options.get("article_id"):
                has_image = any(media_kind(m) == "image" for m in message.media)
                if not has_image and not message.options.get("cover_url"):
                    problems.append("Bài viết Zalo cần ảnh bìa: hãy đính kèm một ảnh.")
                if not (message.title or text).strip():
                    problems.append("Bài viết Zalo cần tiêu đề.")
            target = message.options.get("target") or {}
            bad = [k for k in target if k not in TARGET_KEYS]
            if bad:
                problems.append("Đối tượng nhận không hợp lệ: " + ", ".join(bad) + ".")
            else:
                try:
                    encode_target(target, str(self.config.get("target_encoding") or "int"))
                except (TypeError, ValueError):
                    problems.append("Đối tượng nhận phải là số nguyên (mỗi tiêu chí một giá trị).")
        elif kind == "cs_message":
            if not self._recipients(message):
                problems.append("Tin tư vấn cần người nhận (user_ids).")
            if len(text) > CS_MAX_TEXT:
                problems.append(f"Tin tư vấn Zalo tối đa {CS_MAX_TEXT} ký tự (hiện {len(text)}).")
        elif kind == "zns":
            if normalize_phone(message.options.get("phone") or message.to) is None:
                problems.append("Số điện thoại nhận ZNS không hợp lệ (cần dạng 84xxxxxxxxx).")
            if not message.options.get("template_id"):
                problems.append("Tin ZNS cần mã mẫu (template_id).")
            if not message.options.get("template_data"):
                problems.append("Tin ZNS cần dữ liệu mẫu (template_data).")
        elif kind in ("transaction", "promotion"):
            if not self.config.get("enable_v3_messages"):
                problems.append(
                    "Zalo đã ngừng tin Giao dịch/Truyền thông theo UID từ 01/03/2026; "
                    "cần bật cài đặt của tài khoản để dùng."
                )
            if not self._recipients(message):
                problems.append("Tin cần người nhận (user_ids).")
        return problems

    def warnings(self, message: Message) -> list[str]:
        notes: list[str] = []
        if self.kind(message) != "article_broadcast" or message.options.get("article_id"):
            return notes
        if message.title and len(nfc(message.title)) > 150:
            notes.append("Tiêu đề bài viết Zalo tối đa 150 ký tự (phần sau sẽ bị cắt).")
        if message.media and not self._cover(message):
            notes.append("Ảnh bìa chưa có địa chỉ công khai (URL); hệ thống sẽ dùng URL khi gửi.")
        for m in message.media:
            size = media_size(m)
            if media_kind(m) == "image" and size and size > MAX_IMAGE_BYTES:
                notes.append(
                    f"Ảnh {os.path.basename(m.path)} nặng hơn 1 MB: Zalo không nhận ảnh bài viết "
                    "quá 1 MB; hãy dùng bản nén."
                )
        if message.scheduled_at is not None and next_allowed_time(
            message.scheduled_at, *self._night()
        ):
            start, end = self._night()
            notes.append(
                f"Zalo không cho gửi tin truyền thông từ {start}:00 đến {end:02d}:00; "
                f"tin sẽ được gửi lúc {end:02d}:00."
            )
        return notes

    def preview(self, message: Message) -> str:
        kind = self.kind(message)
        text = nfc(message.text)
        if kind == "article_broadcast":
            cover = self._cover(message)
            title, description, _ = self._article_texts(message)
            body = '<div class="preview-article">'
            if cover:
                body += f'<img class="preview-cover" src="{html.escape(cover, quote=True)}" alt="">'
            body += f'<div class="preview-title">{html.escape(title)}</div>'
            body += f'<div class="preview-description">{html.escape(description)}</div>'
            body += '<span class="preview-action">Xem chi tiết</span></div>'
            body += preview_text(text)
            for m in message.media[1:]:
                if media_kind(m) == "image":
                    src = html.escape(media_src(m), quote=True)
                    body += f'<img class="preview-image" src="{src}" alt="" loading="lazy">'
        elif kind == "zns":
            rows = "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                for k, v in dict(message.options.get("template_data") or {}).items()
            )
            tid = html.escape(str(message.options.get("template_id") or ""))
            body = (
                f'<div class="preview-zns"><div class="preview-title">Mẫu ZNS {tid}</div>'
                f'<table class="preview-template-data">{rows}</table></div>'
            )
        else:
            text = text[:CS_MAX_TEXT]
            body = f'<div class="preview-bubble">{preview_text(text)}'
            img = next((m for m in message.media if media_kind(m) == "image"), None)
            if img is not None:
                body += f'<img class="preview-image" src="{html.escape(media_src(img), quote=True)}" alt="">'
            body += "</div>"
        return preview_shell(self.name, body, self.check(message) + self.warnings(message))

    def _send(self, message: Message) -> SendResult:
        kind = self.kind(message)
        try:
            if kind == "article_broadcast":
                return self._article_broadcast(message)
            if kind == "cs_message":
                return self._cs_message(message)
            if kind == "zns":
                return self._zns(message)
            if kind in ("transaction", "promotion"):
                return self._v3_message(message, kind)
        except StepFailed as failed:
            return failed.result
        return SendResult(Outcome.PERMANENT, message=f"unknown Zalo kind {kind}")

    # -- article broadcast -----------------------------------------------------------------------

    def _article_texts(self, message: Message) -> tuple[str, str, str]:
        text = nfc(message.text).strip()
        first_line = text.split("\n", 1)[0]
        title = nfc(message.title or first_line)[:150]
        description = nfc(str(message.options.get("description") or text))[:300]
        author = nfc(
            str(message.options.get("author") or self.config.get("default_author") or title)
        )[:50]
        return title, description, author

    def article_body(self, message: Message) -> dict[str, Any]:
        title, description, author = self._article_texts(message)
        paragraphs = [p for p in nfc(message.text).split("\n") if p.strip()]
        content = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        blocks: list[dict[str, Any]] = [{"type": "text", "content": content}]
        cover = self._cover(message)
        for m in message.media:
            if media_kind(m) == "image" and m.url and m.url != cover:
                blocks.append({"type": "image", "url": m.url, "caption": ""})
        return {
            "type": "normal",
            "title": title,
            "author": author,
            "description": description,
            "cover": {"cover_type": "photo", "photo_url": cover, "status": "show"},
            "body": blocks,
            "status": "show",
            "comment": "show",
        }

    def _verify_article(self, token: str, attempts: int) -> str | None:
        interval = float(self.config.get("verify_interval") or 0.0)
        for i in range(max(1, attempts)):
            try:
                reply = self._call(
                    "POST",
                    f"{self.oa_url}/v2.0/article/verify",
                    body={"token": token},
                    publishing=False,
                )
            except StepFailed as failed:
                if failed.result.provider_code != str(ARTICLE_PROCESSING):
                    raise
                if i + 1 < attempts:
                    self._sleep(interval * (1.5**i))
                continue
            data = reply.get("data") or {}
            article_id = data.get("id") or data.get("article_id")
            if article_id:
                return str(article_id)
        return None

    def _broadcast(self, message: Message, article_id: str) -> SendResult:
        target = encode_target(
            dict(message.options.get("target") or {}),
            str(self.config.get("target_encoding") or "int"),
        )
        body = {
            "recipient": {"target": target},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "media",
                        "elements": [{"media_type": "article", "attachment_id": article_id}],
                    },
                }
            },
        }
        try:
            reply = self._call("POST", f"{self.oa_url}/v2.0/oa/message", body=body)
        except StepFailed as failed:
            failed.result.detail["article_id"] = article_id
            raise
        message_id = (reply.get("data") or {}).get("message_id")
        return SendResult(
            Outcome.SENT,
            external_id=str(message_id) if message_id else article_id,
            detail={"article_id": article_id},
        )

    def _article_broadcast(self, message: Message) -> SendResult:
        at = next_allowed_time(self.now(), *self._night())
        if at is not None:
            return SendResult(
                Outcome.DEFERRED,
                retry_at=at,
                message="Zalo night ban: not before morning",
                detail={"class": "night_ban"},
            )
        try:
            target = dict(message.options.get("target") or {})
            encode_target(target, str(self.config.get("target_encoding") or "int"))
        except (TypeError, ValueError) as exc:
            return SendResult(Outcome.PERMANENT, message=f"bad target: {exc}")
        if message.options.get("article_id"):
            return self._broadcast(message, str(message.options["article_id"]))
        body = self.article_body(message)
        if not body["cover"]["photo_url"]:
            return SendResult(Outcome.PERMANENT, message="article needs a cover image URL")
        created = self._call(
            "POST", f"{self.oa_url}/v2.0/article/create", body=body, publishing=False
        )
        token = str((created.get("data") or {}).get("token") or "")
        if not token:
            return SendResult(
                Outcome.PERMANENT, message=f"article create gave no token: {short(created)}"
            )
        article_id = self._verify_article(token, int(self.config.get("verify_attempts") or 8))
        if article_id is None:
            # The article exists but is still processing: lookup() finishes the job.
            return SendResult(
                Outcome.AMBIGUOUS,
                message="article still processing (-214) after polling",
                detail={"stage": "verify", "article_token": token},
            )
        return self._broadcast(message, article_id)

    # -- consultation messages -------------------------------------------------------------------------

    def _upload_image(self, media: MediaFile) -> str:
        try:
            path = fit_image(media.path, MAX_IMAGE_BYTES, formats=("JPEG", "PNG"))
        except (ValueError, OSError) as exc:
            raise StepFailed(SendResult(Outcome.PERMANENT, message=str(exc))) from exc
        temp = path if path != media.path else None
        try:
            mime = "image/png" if path.lower().endswith(".png") and not temp else "image/jpeg"
            with open(path, "rb") as fh:
                data = fh.read()  # <= 1 MB; bytes survive a retry after a token refresh
            reply = self._call(
                "POST",
                f"{self.oa_url}/v2.0/oa/upload/image",
                files={"file": (os.path.basename(path), data, mime)},
                publishing=False,
            )
        finally:
            if temp:
                os.unlink(temp)
        attachment = (reply.get("data") or {}).get("attachment_id")
        if not attachment:
            raise StepFailed(SendResult(Outcome.TRANSIENT, message="upload gave no attachment_id"))
        return str(attachment)

    def _cs_message(self, message: Message) -> SendResult:
        recipients = self._recipients(message)
        if not recipients:
            return SendResult(Outcome.PERMANENT, message="no recipients (user_ids)")
        text = nfc(message.text)
        if len(text) > CS_MAX_TEXT:
            return SendResult(
                Outcome.PERMANENT, message=f"text longer than {CS_MAX_TEXT} characters"
            )
        msg: dict[str, Any] = {"text": text}
        img = next((m for m in message.media if media_kind(m) == "image"), None)
        if img is not None:
            if os.path.exists(img.path) or not img.url:
                element = {"media_type": "image", "attachment_id": self._upload_image(img)}
            else:  # no local file: Zalo also takes the image by URL
                element = {"media_type": "image", "url": img.url}
            msg["attachment"] = {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [element],
                },
            }
        sent: dict[str, str] = {}
        failed: dict[str, str] = {}
        first_failure: SendResult | None = None
        for user_id in recipients:
            try:
                reply = self._call(
                    "POST",
                    f"{self.oa_url}/v3.0/oa/message/cs",
                    body={"recipient": {"user_id": user_id}, "message": msg},
                )
            except StepFailed as err:
                if err.result.outcome is not Outcome.PERMANENT and not sent:
                    raise  # nothing went out yet: the whole delivery can be retried
                failed[user_id] = err.result.provider_code or err.result.outcome.value
                first_failure = first_failure or err.result
                if err.result.outcome is not Outcome.PERMANENT:
                    break  # stop; what was sent stays sent (no resend of the first ones)
                continue
            sent[user_id] = str((reply.get("data") or {}).get("message_id") or "")
        if not sent:
            assert first_failure is not None
            first_failure.detail.update({"failed": failed})
            return first_failure
        skipped = [u for u in recipients if u not in sent and u not in failed]
        return SendResult(
            Outcome.SENT,
            external_id=next(iter(sent.values())) or None,
            message=f"sent to {len(sent)} of {len(recipients)}",
            detail={"sent": sent, "failed": failed, "not_attempted": skipped},
        )

    # -- ZNS ----------------------------------------------------------------------------------------

    def _zns(self, message: Message) -> SendResult:
        phone = normalize_phone(message.options.get("phone") or message.to)
        if phone is None:
            return SendResult(Outcome.PERMANENT, message="phone is not 84 + 9 digits")
        template_id = message.options.get("template_id")
        data = message.options.get("template_data")
        if not template_id or not isinstance(data, Mapping) or not data:
            return SendResult(Outcome.PERMANENT, message="ZNS needs template_id and template_data")
        body = {
            "phone": phone,
            "template_id": str(template_id),
            "template_data": dict(data),
            "tracking_id": tracking_id_for(message.idempotency_key),
        }
        reply = self._call("POST", f"{self.zns_url}/message/template", body=body, zns=True)
        out = reply.get("data") or {}
        return SendResult(
            Outcome.SENT,
            external_id=str(out.get("msg_id") or "") or None,
            detail={"quota": out.get("quota"), "tracking_id": body["tracking_id"]},
        )

    # -- v3 transaction / promotion (discontinued) ------------------------------------------------

    def _v3_message(self, message: Message, kind: str) -> SendResult:
        if not self.config.get("enable_v3_messages"):
            return SendResult(
                Outcome.PERMANENT,
                message=f"{kind} messages are discontinued (01/03/2026) and disabled here",
            )
        at = next_allowed_time(self.now(), *self._night())
        if at is not None:
            return SendResult(
                Outcome.DEFERRED,
                retry_at=at,
                message="Zalo night ban",
                detail={"class": "night_ban"},
            )
        recipients = self._recipients(message)
        if len(recipients) != 1:
            return SendResult(Outcome.PERMANENT, message=f"{kind} goes to exactly one user_id")
        title, _, _ = self._article_texts(message)
        elements: list[dict[str, Any]] = []
        img = next((m for m in message.media if media_kind(m) == "image"), None)
        if img is not None and kind == "promotion":
            elements.append({"type": "banner", "attachment_id": self._upload_image(img)})
        elements.append({"type": "header", "content": title[:100], "align": "left"})
        elements.append({"type": "text", "content": nfc(message.text)[:1000], "align": "left"})
        template_type = (
            "promotion"
            if kind == "promotion"
            else str(message.options.get("transaction_type") or "transaction_event")
        )
        body = {
            "recipient": {"user_id": recipients[0]},
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": template_type,
                        "language": "VI",
                        "elements": elements,
                    },
                }
            },
        }
        reply = self._call("POST", f"{self.oa_url}/v3.0/oa/message/{kind}", body=body)
        message_id = (reply.get("data") or {}).get("message_id")
        return SendResult(Outcome.SENT, external_id=str(message_id) if message_id else None)

    # -- after the fact ------------------------------------------------------------------------------

    def lookup(self, message: Message, last: SendResult | None = None) -> SendResult | None:
        """Finish an article whose verification was still pending: verify it
        once more and, when it is ready, broadcast it. Other sends cannot be
        looked up (Zalo has no "did I send this" query): None."""
        token = (last.detail.get("article_token") if last is not None else None) or None
        if self.kind(message) != "article_broadcast" or not token:
            return None
        at = next_allowed_time(self.now(), *self._night())
        if at is not None:
            return SendResult(
                Outcome.DEFERRED,
                retry_at=at,
                message="Zalo night ban",
                detail={"article_token": token, "stage": "verify"},
            )
        try:
            article_id = self._verify_article(str(token), 1)
            if article_id is None:
                return None
            return self._broadcast(message, article_id)
        except StepFailed as failed:
            return failed.result if failed.result.outcome is not Outcome.TRANSIENT else None
        except requests.RequestException:
            return None

    def test_connection(self) -> Health:
        try:
            reply = self._call("GET", f"{self.oa_url}/v2.0/oa/getoa", publishing=False)
        except StepFailed as failed:
            return failure_health(
                failed.result,
                "Zalo",
                "Cần kết nối lại: access token của OA hết hạn và không làm mới được.",
            )
        except requests.RequestException as exc:
            return Health(False, "Không kết nối được tới Zalo.", {"error": short(str(exc))})
        data = reply.get("data") or {}
        oa_type = data.get("oa_type")
        government = str(oa_type) == "4"
        verified = bool(data.get("is_verified"))
        detail = {
            "oa_id": str(data.get("oa_id", "")),
            "name": data.get("name"),
            "oa_type": oa_type,
            "government": government,
            "verified": verified,
            "package_name": data.get("package_name"),
        }
        if detail["oa_id"] and detail["oa_id"] != str(self.config["oa_id"]):
            return Health(
                False,
                f"Token thuộc OA {detail['oa_id']}, không phải OA {self.config['oa_id']}.",
                detail,
            )
        kind = "OA Cơ quan Nhà nước" if government else "OA không phải Cơ quan Nhà nước"
        status = "đã xác thực" if verified else "chưa xác thực"
        return Health(True, f"Kết nối tốt với «{data.get('name', '')}» — {kind}, {status}.", detail)
