"""A fake Zalo OA Open API + OAuth v4 + ZNS server, following shared/CHANNELS.md §2.

One server answers all three hosts' paths (point ``zalo_oa_url``,
``zalo_oauth_url`` and ``zns_url`` at ``.url``):

- OA: ``GET /v2.0/oa/getoa``; ``POST /v2.0/oa/upload/image`` (multipart
  ``file``, jpg/png <= 1 MB); ``POST /v2.0/article/create|verify|remove``,
  ``GET /v2.0/article/getdetail``; ``POST /v2.0/oa/message`` (broadcast to a
  ``recipient.target``); ``POST /v3.0/oa/message/cs|transaction|promotion``.
- OAuth: ``POST /v4/oa/access_token`` (form body, ``secret_key`` header,
  rotating single-use refresh tokens, ``expires_in`` as a string).
- ZNS: ``POST /message/template``.

Like Zalo, application errors come as HTTP 200 with a negative ``error`` and a
``message`` (no ``data``): missing/unknown token -216 (ZNS -124), expired -220,
JSON expected -201, unknown or oversized fields -201/-210, v2 user messages
-240, not a follower -213, outside the 7-day window -230, night ban -234
(ZNS -133 when enabled), phone not ``84`` + 9 digits -108, ``tracking_id``
missing -1122 / too long -1121, unknown template -109, quota -144. Every OA
reply carries ``X-RateLimit-Limit`` / ``X-RateLimit-Remain``. An article
answers ``verify`` with -214 ``verify_after`` times before it is ready.
An ``appsecret_proof`` header, when sent, must be the hex HMAC-SHA256 of the
token keyed by the app secret (-242, ZNS -1241).
Fault injection: ``fail_next()``, ``hang_next()``, ``http_error_next()``,
``expire_access_token()``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.fakes import FakeServer, Received, Reply

VN = timezone(timedelta(hours=7))
OA_ID = "2491302944280861639"
APP_ID = "3012740923014125600"
SECRET_KEY = "fakeAppSecretKey0001"
ACCESS_TOKEN = "oa-access-token-0001"
REFRESH_TOKEN = "oa-refresh-token-0001"
JPEG_PNG_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
ARTICLE_KEYS = {
    "type",
    "title",
    "author",
    "description",
    "cover",
    "body",
    "related_medias",
    "tracking_link",
    "status",
    "comment",
    "video_id",
    "avatar",
}
TARGET_KEYS = {"ages", "gender", "locations", "cities", "platform"}
ZNS_KEYS = {"phone", "template_id", "template_data", "tracking_id", "mode", "sending_mode"}


@dataclass
class Fault:
    kind: str  # error | hang | http
    path: str | None
    error: int = 0
    message: str = ""
    status: int = 500
    side_effect: bool = False
    times: int = 1


class ZaloError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class FakeZalo(FakeServer):
    def __init__(
        self,
        *,
        oa_id: str = OA_ID,
        app_id: str = APP_ID,
        secret_key: str = SECRET_KEY,
        access_token: str = ACCESS_TOKEN,
        refresh_token: str = REFRESH_TOKEN,
        oa_name: str = "Sở Văn hóa, Thể thao và Du lịch tỉnh Sóc Trăng",
        oa_type: int = 4,
        verified: bool = True,
        verify_after: int = 2,
        verify_id_field: str = "id",
        refresh_error_code: int = -14014,  # UNVERIFIED: Zalo's code for a used refresh token
        refresh_error_http: int = 200,
        v3_discontinued: bool = True,
        v3_discontinued_error: int = -209,  # UNVERIFIED: what a stopped endpoint answers
        zns_night_ban: bool = False,
        zns_daily_quota: int = 500,
        max_upload_bytes: int = 1_000_000,
        rate_limit: int = 4000,
        hang_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        super().__init__()
        self.oa_id, self.app_id, self.secret_key = oa_id, app_id, secret_key
        self.oa_name, self.oa_type, self.verified = oa_name, oa_type, verified
        self.verify_after, self.verify_id_field = verify_after, verify_id_field
        self.refresh_error_code, self.refresh_error_http = refresh_error_code, refresh_error_http
        self.v3_discontinued, self.v3_discontinued_error = v3_discontinued, v3_discontinued_error
        self.zns_night_ban, self.zns_daily_quota = zns_night_ban, zns_daily_quota
        self.max_upload_bytes = max_upload_bytes
        self.rate_limit = rate_limit
        self.hang_seconds = hang_seconds
        self.clock = clock
        self.access_tokens: dict[str, datetime] = {access_token: clock() + timedelta(hours=25)}
        self.refresh_tokens: dict[str, str] = {refresh_token: "valid"}  # valid | used
        self.articles: dict[str, dict[str, Any]] = {}  # by token
        self.articles_by_id: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.followers: dict[str, datetime] = {}  # user_id -> last interaction
        self.sent: list[dict[str, Any]] = []  # broadcasts, cs, zns, v3 accepted
        self.templates: dict[str, set[str]] = {"229875": {"ten", "ma_ho_so", "ngay_hen"}}
        self.faults: list[Fault] = []
        self.calls_this_minute = 0
        self._ids = itertools.count(7300000000000000001)
        self._token_lock = threading.Lock()

    # -- controls -------------------------------------------------------------------------

    def add_follower(self, user_id: str, interacted_days_ago: float = 1.0) -> None:
        self.followers[user_id] = self.clock() - timedelta(days=interacted_days_ago)

    def expire_access_token(self, token: str | None = None) -> None:
        with self.lock:
            for t in [token] if token else list(self.access_tokens):
                self.access_tokens[t] = self.clock() - timedelta(seconds=1)

    def current_refresh_token(self) -> str:
        return next(t for t, s in self.refresh_tokens.items() if s == "valid")

    def fail_next(
        self,
        path: str | None,
        error: int,
        message: str = "",
        *,
        times: int = 1,
        side_effect: bool = False,
    ) -> None:
        with self.lock:
            self.faults.append(
                Fault(
                    "error",
                    path,
                    error,
                    message or f"injected {error}",
                    side_effect=side_effect,
                    times=times,
                )
            )

    def hang_next(self, path: str | None, *, side_effect: bool = True) -> None:
        with self.lock:
            self.faults.append(Fault("hang", path, side_effect=side_effect))

    def http_error_next(self, path: str | None, status: int = 502) -> None:
        with self.lock:
            self.faults.append(Fault("http", path, status=status))

    def is_night(self) -> bool:
        hour = self.clock().astimezone(VN).hour
        return hour >= 22 or hour < 6

    # -- plumbing ---------------------------------------------------------------------------

    def _id(self) -> str:
        return str(next(self._ids))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.path is None or path.endswith(f.path):
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def _rate_headers(self) -> dict[str, str]:
        with self.lock:
            self.calls_this_minute += 1
            remain = max(0, self.rate_limit - self.calls_this_minute)
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remain": str(remain)}

    @staticmethod
    def ok(data: dict[str, Any]) -> dict[str, Any]:
        return {"error": 0, "message": "Success", "data": data}

    def handle(self, req: Received) -> Reply:
        if req.path == "/v4/oa/access_token":
            return self._oauth(req)
        fault = self._take_fault(req.path)
        if fault is not None and fault.kind == "http":
            return Reply(
                fault.status, "<html>Bad Gateway</html>", headers={"Content-Type": "text/html"}
            )
        zns = req.path.startswith("/message/")
        headers = self._rate_headers() if not zns else {}
        try:
            self._check_token(req, zns)
            if self.calls_this_minute > self.rate_limit:
                raise ZaloError(-32, "Your application reached limit call api")
            if fault is not None and fault.kind == "error" and not fault.side_effect:
                raise ZaloError(fault.error, fault.message)
            if fault is not None and fault.kind == "hang" and not fault.side_effect:
                return Reply(hang=True)
            data = self._route(req)
        except ZaloError as err:
            return Reply(200, {"error": err.code, "message": err.message}, headers=headers)
        if fault is not None and fault.kind == "error":
            return Reply(200, {"error": fault.error, "message": fault.message}, headers=headers)
        if fault is not None and fault.kind == "hang":
            return Reply(hang=True)
        return Reply(200, self.ok(data), headers=headers)

    def _check_token(self, req: Received, zns: bool) -> None:
        invalid = -124 if zns else -216
        token = req.header("access_token")
        if not token:
            # a token in the query string (legacy) or an Authorization header is the wrong place
            raise ZaloError(invalid, "Access token is invalid")
        with self.lock:
            expires = self.access_tokens.get(token)
        if expires is None:
            raise ZaloError(invalid, "Access token is invalid")
        if expires <= self.clock():
            raise ZaloError(-124 if zns else -220, "access_token is expired or removed")
        proof = req.header("appsecret_proof")
        if proof is not None:
            want = hmac.new(self.secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, want):
                raise ZaloError(-1241 if zns else -242, "Invalid appsecret_proof")

    def _json(self, req: Received) -> dict[str, Any]:
        if req.method != "POST":
            raise ZaloError(-201, "method is invalid!")
        if req.content_type != "application/json" or not isinstance(req.json, dict):
            raise ZaloError(-201, "body is invalid! (expected application/json)")
        return req.json

    def _route(self, req: Received) -> dict[str, Any]:
        p = req.path
        if p == "/v2.0/oa/getoa" and req.method == "GET":
            return {
                "oa_id": self.oa_id,
                "name": self.oa_name,
                "description": "Trang chính thức",
                "oa_type": self.oa_type,
                "is_verified": self.verified,
                "package_name": "Gói Cơ quan Nhà nước",
                "num_follower": len(self.followers),
                "avatar": "https://s160-ava-talk.zadn.vn/x.jpg",
            }
        if p == "/v2.0/oa/upload/image":
            return self._upload(req)
        if p == "/v2.0/article/create":
            return self._article_create(self._json(req))
        if p == "/v2.0/article/verify":
            return self._article_verify(self._json(req))
        if p == "/v2.0/article/getdetail" and req.method == "GET":
            art = self.articles_by_id.get(req.query.get("id", ""))
            if art is None:
                raise ZaloError(-201, "id is invalid!")
            return art
        if p == "/v2.0/article/remove":
            body = self._json(req)
            if self.articles_by_id.pop(str(body.get("id")), None) is None:
                raise ZaloError(-201, "id is invalid!")
            return {}
        if p == "/v2.0/oa/message":
            return self._broadcast(self._json(req))
        if p == "/v3.0/oa/message/cs":
            return self._cs(self._json(req))
        if p in ("/v3.0/oa/message/transaction", "/v3.0/oa/message/promotion"):
            body = self._json(req)
            if self.v3_discontinued:
                raise ZaloError(self.v3_discontinued_error, "Not supported this api")
            if self.is_night():
                raise ZaloError(-234, "Cannot be sent at night (10:00PM-6:00AM)")
            return self._record(p.rsplit("/", 1)[-1], body)
        if p == "/message/template":
            return self._zns(self._json(req))
        raise ZaloError(-201, f"api {p} is invalid!")

    def _record(self, kind: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        message_id = self._id()
        with self.lock:
            self.sent.append({"kind": kind, "message_id": message_id, "body": body, **extra})
        return {"message_id": message_id}

    # -- endpoints ------------------------------------------------------------------------------

    def _upload(self, req: Received) -> dict[str, Any]:
        if req.content_type != "multipart/form-data" or set(req.files) != {"file"}:
            raise ZaloError(-201, "file is invalid!")
        data = req.files["file"].data
        if not data.startswith(JPEG_PNG_MAGIC):
            raise ZaloError(-201, "file is invalid! (jpg/png only)")
        if len(data) > self.max_upload_bytes:
            raise ZaloError(-210, "Parameter exceeds allowable limit")
        attachment_id = "att" + self._id()
        with self.lock:
            self.uploads[attachment_id] = data
        return {"attachment_id": attachment_id}

    def _article_create(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in body:
            if key not in ARTICLE_KEYS:
                raise ZaloError(-201, f"{key} is invalid!")
        if body.get("type") != "normal":
            raise ZaloError(-201, "type is invalid!")
        for key, limit in (("title", 150), ("author", 50), ("description", 300)):
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ZaloError(-201, f"{key} is invalid!")
            if len(value) > limit:
                raise ZaloError(-210, f"{key} exceeds allowable limit")
        cover = body.get("cover")
        if (
            not isinstance(cover, dict)
            or cover.get("cover_type") != "photo"
            or not re.match(r"^https?://", str(cover.get("photo_url") or ""))
            or cover.get("status") not in ("show", "hide")
        ):
            raise ZaloError(-201, "cover is invalid!")
        blocks = body.get("body")
        if not isinstance(blocks, list) or not blocks:
            raise ZaloError(-201, "body is invalid!")
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("content"), str):
                continue
            if kind == "image" and re.match(r"^https?://", str(block.get("url") or "")):
                continue
            if kind == "video" and block.get("url"):
                continue
            raise ZaloError(-201, "body is invalid!")
        for key in ("status", "comment"):
            if key in body and body[key] not in ("show", "hide"):
                raise ZaloError(-201, f"{key} is invalid!")
        token = "tok" + self._id()
        with self.lock:
            self.articles[token] = {"verifies": 0, "id": None, "body": body}
        return {"token": token}

    def _article_verify(self, body: dict[str, Any]) -> dict[str, Any]:
        if set(body) != {"token"}:
            raise ZaloError(-201, "token is invalid!")
        with self.lock:
            art = self.articles.get(str(body["token"]))
            if art is None:
                raise ZaloError(-201, "token is invalid!")
            art["verifies"] += 1
            if art["verifies"] <= self.verify_after:
                raise ZaloError(-214, "Article is being processed")
            if art["id"] is None:
                art["id"] = self._id()
                self.articles_by_id[art["id"]] = {"id": art["id"], **art["body"]}
            return {self.verify_id_field: art["id"]}

    @staticmethod
    def _target_ok(value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, list):
            return all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return isinstance(value, str) and re.fullmatch(r"\d+(,\d+)*", value) is not None

    def _broadcast(self, body: dict[str, Any]) -> dict[str, Any]:
        recipient = body.get("recipient")
        if not isinstance(recipient, dict):
            raise ZaloError(-201, "recipient is invalid!")
        if "user_id" in recipient:
            raise ZaloError(-240, "MessageV2 API has been shut down, please switch to MessageV3")
        target = recipient.get("target")
        if not isinstance(target, dict) or set(recipient) != {"target"}:
            raise ZaloError(-201, "recipient is invalid!")
        for key, value in target.items():
            if key not in TARGET_KEYS or not self._target_ok(value):
                raise ZaloError(-201, f"target.{key} is invalid!")
        try:
            attachment = body["message"]["attachment"]
            payload = attachment["payload"]
            elements = payload["elements"]
            assert attachment["type"] == "template" and payload["template_type"] == "media"
            assert isinstance(elements, list) and 1 <= len(elements) <= 5
        except (KeyError, TypeError, AssertionError):
            raise ZaloError(-201, "message is invalid!") from None
        for el in elements:
            if (
                el.get("media_type") != "article"
                or str(el.get("attachment_id")) not in self.articles_by_id
            ):
                raise ZaloError(-201, "attachment_id is invalid!")
        if self.is_night():
            raise ZaloError(-234, "Cannot be sent at night (10:00PM-6:00AM)")
        return self._record("broadcast", body, target=target)

    def _cs(self, body: dict[str, Any]) -> dict[str, Any]:
        recipient = body.get("recipient")
        message = body.get("message")
        if not isinstance(recipient, dict) or set(recipient) != {"user_id"}:
            raise ZaloError(-201, "recipient is invalid!")
        if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
            raise ZaloError(-201, "message is invalid!")
        if len(str(message.get("text", ""))) > 2000:
            raise ZaloError(-210, "Parameter exceeds allowable limit")
        attachment = message.get("attachment")
        if attachment is not None:
            try:
                elements = attachment["payload"]["elements"]
                ok = (
                    attachment["type"] == "template"
                    and len(elements) == 1
                    and all(
                        e["media_type"] == "image"
                        and (
                            e.get("attachment_id") in self.uploads
                            or re.match(r"^https?://", str(e.get("url") or ""))
                        )
                        for e in elements
                    )
                )
            except (KeyError, TypeError):
                ok = False
            if not ok:
                raise ZaloError(-201, "attachment is invalid!")
        user_id = str(recipient["user_id"])
        last = self.followers.get(user_id)
        if last is None:
            raise ZaloError(-213, "User has not followed OA")
        if self.clock() - last > timedelta(days=7):
            raise ZaloError(-230, "User has not interacted with the OA in the past 7 days")
        data = self._record("cs", body, user_id=user_id)
        return {
            **data,
            "user_id": user_id,
            "sent_time": str(int(self.clock().timestamp() * 1000)),
            "quota": {"quota_type": "reply", "remain": "8", "total": "8"},
        }

    def _zns(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in body:
            if key not in ZNS_KEYS:
                raise ZaloError(-1122, f"{key} is not a parameter")
        for key in ("phone", "template_id", "template_data", "tracking_id"):
            if key not in body:
                raise ZaloError(-1122, f"Missing parameter {key}")
        if not re.fullmatch(r"84\d{9}", str(body["phone"])):
            raise ZaloError(-108, "Phone number invalid")
        fields = self.templates.get(str(body["template_id"]))
        if fields is None:
            raise ZaloError(-109, "Template ID invalid")
        data = body["template_data"]
        if not isinstance(data, dict) or not data:
            raise ZaloError(-111, "Template data empty")
        if set(data) - fields:
            raise ZaloError(-112, "Template data invalid")
        if len(str(body["tracking_id"])) > 48:
            raise ZaloError(-1121, "tracking_id exceeds 48 characters")
        if self.zns_night_ban and self.is_night():
            raise ZaloError(-133, "Cannot send message at night")
        with self.lock:
            used = sum(1 for s in self.sent if s["kind"] == "zns")
        if used >= self.zns_daily_quota:
            raise ZaloError(-144, "OA has exceeded the daily quota")
        rec = self._record("zns", body)
        return {
            "msg_id": rec["message_id"],
            "sent_time": str(int(self.clock().timestamp() * 1000)),
            "sending_mode": "1",
            "quota": {
                "dailyQuota": str(self.zns_daily_quota),
                "remainingQuota": str(self.zns_daily_quota - used - 1),
            },
        }

    def _oauth_error(self, name: str, reason: str) -> Reply:
        return Reply(
            self.refresh_error_http,
            {
                "error": self.refresh_error_code,
                "error_name": name,
                "error_reason": reason,
                "ref_doc": "https://developers.zalo.me/docs/api/official-account-api/phu-luc/ma-loi",
                "error_description": reason,
            },
        )

    def _oauth(self, req: Received) -> Reply:
        if req.method != "POST" or req.content_type != "application/x-www-form-urlencoded":
            return self._oauth_error("Invalid request", "form body expected")
        if req.header("secret_key") != self.secret_key:
            return self._oauth_error("Invalid secret key", "secret_key header missing or wrong")
        form = req.form
        if form.get("app_id") != self.app_id:
            return Reply(
                200,
                {
                    "error": -14002,
                    "error_name": "Invalid appId",
                    "error_reason": "app is not active or does not exist",
                },
            )
        if form.get("grant_type") != "refresh_token" or set(form) != {
            "refresh_token",
            "app_id",
            "grant_type",
        }:
            return self._oauth_error(
                "Invalid grant", "grant_type=refresh_token with refresh_token, app_id"
            )
        with self._token_lock:
            state = self.refresh_tokens.get(form.get("refresh_token", ""))
            if state != "valid":
                return self._oauth_error(
                    "Invalid refresh token", "refresh token is used, expired or invalid"
                )
            self.refresh_tokens[form["refresh_token"]] = "used"
            access = "oa-access-" + self._id()
            refresh = "oa-refresh-" + self._id()
            self.access_tokens[access] = self.clock() + timedelta(seconds=90000)
            self.refresh_tokens[refresh] = "valid"
        return Reply(200, {"access_token": access, "refresh_token": refresh, "expires_in": "90000"})


def start_zalo(**kwargs: Any) -> FakeZalo:
    """Start a fake Zalo server; ``.url`` serves OA, OAuth and ZNS paths; ``.stop()``."""
    return FakeZalo(**kwargs).start()  # type: ignore[return-value]
