"""A fake Facebook Graph API (Pages publishing), following shared/CHANNELS.md §1.

Routes (any ``/vNN.N/`` prefix; a path without a version is rejected):
``GET /me``; ``POST /{page}/feed``; ``POST /{page}/photos``;
``POST /{page}/videos`` (resumable ``upload_phase`` start/transfer/finish, or
a one-shot ``source``/``file_url``); ``GET /{page}/published_posts|feed|
scheduled_posts|videos``; ``GET /{id}``; ``DELETE /{id}``.

Contract checks, each answered with Graph's own error envelope
``{"error": {"message", "type": "OAuthException", "code", "error_subcode"?,
"fbtrace_id"}}``: the token must be in the query, the form/JSON body or an
``Authorization: Bearer|OAuth`` header (else 2500); unknown tokens 190, expired
190/463, invalid 190/467, missing permission 200; unknown parameters 100;
booleans must be booleans; ``scheduled_publish_time`` must be an integer UNIX
time 10 minutes to ``max_schedule_days`` ahead and only with
``published=false`` (100); photos must be images (324) of at most 4 MB
(100/1366046); ``attached_media`` must name this Page's unpublished photos;
video chunks must arrive at the offsets the server asked for. The same
message posted twice answers 506. Every reply carries ``X-App-Usage`` and
``X-Business-Use-Case-Usage``; ids are strings (``"<page>_<n>"`` for posts).

Fault injection: ``fail_next(code, subcode, ...)`` (optionally with the side
effect of still creating the post, as code 2 can), ``hang_next()`` (read the
request, never answer), ``set_token()``, ``set_usage()``.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes import FakeServer, Received, Reply

PAGE_ID = "104857600123456"
PAGE_TOKEN = "EAAGfakePageToken0000000001"

FEED_PARAMS = {
    "message",
    "link",
    "published",
    "scheduled_publish_time",
    "access_token",
    "attached_media",
}
PHOTO_PARAMS = {
    "caption",
    "url",
    "published",
    "scheduled_publish_time",
    "temporary",
    "no_story",
    "unpublished_content_type",
    "access_token",
}
VIDEO_START = {"upload_phase", "file_size", "access_token"}
VIDEO_TRANSFER = {"upload_phase", "upload_session_id", "start_offset", "access_token"}
VIDEO_FINISH = {
    "upload_phase",
    "upload_session_id",
    "title",
    "description",
    "published",
    "scheduled_publish_time",
    "thumb",
    "access_token",
}
VIDEO_ONE_SHOT = {
    "file_url",
    "title",
    "description",
    "published",
    "scheduled_publish_time",
    "access_token",
}
READ_EDGES = {"feed", "published_posts", "scheduled_posts", "videos"}
IMAGE_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)


def http_status_for(code: int) -> int:
    if code in (1, 2):
        return 500
    if code in (4, 17, 32, 613) or 80000 <= code <= 80014:
        return 403
    return 400


@dataclass
class Fault:
    kind: str  # "error" | "hang" | "http"
    path: str | None  # suffix to match, None = any
    method: str | None
    code: int = 0
    subcode: int | None = None
    status: int | None = None
    message: str = ""
    side_effect: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class GraphError(Exception):
    def __init__(
        self, code: int, message: str, subcode: int | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.code, self.subcode, self.message = code, subcode, message
        self.status = status or http_status_for(code)


class FakeGraph(FakeServer):
    def __init__(
        self,
        *,
        page_id: str = PAGE_ID,
        page_name: str = "Sở Văn hóa, Thể thao và Du lịch Sóc Trăng",
        token: str = PAGE_TOKEN,
        max_schedule_days: int = 30,
        chunk_size: int = 64 * 1024,
        max_photo_bytes: int = 4 * 1024 * 1024,
        reject_duplicates: bool = True,
        require_temporary_for_scheduled: bool = False,
        hang_seconds: float = 30.0,
        clock=time.time,
    ):
        super().__init__()
        self.page_id, self.page_name = page_id, page_name
        self.tokens: dict[str, str] = {token: "ok"}  # token -> ok|expired|invalid|no_permission
        self.max_schedule_days = max_schedule_days
        self.chunk_size = chunk_size
        self.max_photo_bytes = max_photo_bytes
        self.reject_duplicates = reject_duplicates
        self.require_temporary_for_scheduled = require_temporary_for_scheduled
        self.hang_seconds = hang_seconds
        self.clock = clock
        self.posts: dict[str, dict[str, Any]] = {}
        self.photos: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.app_usage = {"call_count": 1, "total_time": 1, "total_cputime": 1}
        self.buc_usage = {
            "call_count": 1,
            "total_cputime": 1,
            "total_time": 1,
            "estimated_time_to_regain_access": 0,
        }
        self._ids = itertools.count(900000000001)

    # -- test controls -----------------------------------------------------------------

    def set_token(self, token: str, status: str = "ok") -> None:
        assert status in ("ok", "expired", "invalid", "no_permission")
        with self.lock:
            self.tokens[token] = status

    def set_usage(self, percent: int, regain_minutes: int = 0) -> None:
        with self.lock:
            self.app_usage = {"call_count": percent, "total_time": 1, "total_cputime": 1}
            self.buc_usage = {
                "call_count": percent,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": regain_minutes,
            }

    def fail_next(
        self,
        code: int,
        subcode: int | None = None,
        *,
        path: str | None = None,
        method: str | None = "POST",
        status: int | None = None,
        message: str = "",
        side_effect: bool = False,
        times: int = 1,
        is_transient: bool | None = None,
    ) -> None:
        with self.lock:
            self.faults.append(
                Fault(
                    "error",
                    path,
                    method,
                    code,
                    subcode,
                    status,
                    message or f"(#{code}) injected error",
                    side_effect,
                    {"is_transient": "1"} if is_transient else {},
                    times,
                )
            )

    def hang_next(
        self, *, path: str | None = None, method: str | None = "POST", side_effect: bool = True
    ) -> None:
        with self.lock:
            self.faults.append(Fault("hang", path, method, side_effect=side_effect))

    def http_error_next(
        self, status: int, *, path: str | None = None, method: str | None = "POST"
    ) -> None:
        with self.lock:
            self.faults.append(Fault("http", path, method, status=status))

    def published(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.posts.values() if p["state"] == "published"]

    def scheduled(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.posts.values() if p["state"] == "scheduled"]

    # -- helpers ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _headers(self) -> dict[str, str]:
        with self.lock:
            return {
                "X-App-Usage": json.dumps(self.app_usage),
                "X-Business-Use-Case-Usage": json.dumps(
                    {self.page_id: [{"type": "pages", **self.buc_usage}]}
                ),
                "X-FB-Trace-ID": "FAKE" + self._new_id()[-6:],
            }

    def _error(self, err: GraphError, extra: dict[str, str] | None = None) -> Reply:
        body: dict[str, Any] = {
            "message": err.message,
            "type": "OAuthException",
            "code": err.code,
            "fbtrace_id": "Afake" + self._new_id()[-8:],
        }
        if err.subcode is not None:
            body["error_subcode"] = err.subcode
        if extra and extra.get("is_transient"):
            body["is_transient"] = True
        return Reply(err.status, {"error": body}, headers=self._headers())

    def _take_fault(self, req: Received) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if (f.path is None or req.path.endswith(f.path)) and (
                    f.method in (None, req.method)
                ):
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    @staticmethod
    def _token(req: Received) -> str | None:
        auth = req.header("Authorization") or ""
        m = re.match(r"^(Bearer|OAuth)\s+(\S+)$", auth)
        if m:
            return m.group(2)
        params = req.params()
        tok = params.get("access_token")
        return str(tok) if tok else None

    def _check_token(self, req: Received) -> None:
        token = self._token(req)
        if not token:
            raise GraphError(
                2500,
                "An active access token must be used to query information about the current user.",
            )
        status = self.tokens.get(token)
        if status is None:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if status == "expired":
            raise GraphError(190, "Error validating access token: Session has expired.", 463)
        if status == "invalid":
            raise GraphError(190, "Error validating access token: The session is invalid.", 467)
        if status == "no_permission" and req.method != "GET":
            raise GraphError(
                200,
                "(#200) If posting to a page, requires both pages_read_engagement "
                "and pages_manage_posts as an admin with sufficient administrative permission",
            )

    @staticmethod
    def _check_params(
        params: dict[str, Any], allowed: set[str], pattern: str | None = None
    ) -> None:
        for name in params:
            if name in allowed or (pattern and re.fullmatch(pattern, name)):
                continue
            raise GraphError(100, f"(#100) Param {name} is not a valid parameter for this call")

    @staticmethod
    def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
        if name not in params:
            return default
        value = params[name]
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise GraphError(100, f"(#100) Param {name} must be a boolean")

    def _schedule(self, params: dict[str, Any]) -> int | None:
        published = self._bool(params, "published", True)
        raw = params.get("scheduled_publish_time")
        if raw is None:
            return None
        if published:
            raise GraphError(
                100, "(#100) You cannot specify a scheduled publish time on a published post"
            )
        if isinstance(raw, bool) or not re.fullmatch(r"\d{9,11}", str(raw)):
            raise GraphError(100, "(#100) Param scheduled_publish_time must be a UNIX timestamp")
        when = int(raw)
        now = self.clock()
        if not (now + 600 <= when <= now + self.max_schedule_days * 86400):
            raise GraphError(100, "(#100) The specified scheduled publish time is invalid.")
        return when

    def _created(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")

    def _add_post(
        self, kind: str, message: str | None, when: int | None, published: bool, **extra
    ) -> str:
        post_id = f"{self.page_id}_{self._new_id()}"
        state = "scheduled" if when else ("published" if published else "unpublished")
        with self.lock:
            self.posts[post_id] = {
                "id": post_id,
                "kind": kind,
                "message": message or "",
                "created_time": self._created(),
                "state": state,
                "scheduled_publish_time": when,
                **extra,
            }
        return post_id

    # -- routing ---------------------------------------------------------------------------

    def handle(self, req: Received) -> Reply:
        fault = self._take_fault(req)
        if fault is not None and fault.kind == "http":
            return Reply(
                fault.status or 500,
                "<html>Service Unavailable</html>",
                headers={"Content-Type": "text/html"},
            )
        try:
            m = re.fullmatch(r"/(v\d+\.\d+)/(.+)", req.path)
            if not m:
                raise GraphError(2500, f"Unknown path components: {req.path} (missing API version)")
            parts = m.group(2).strip("/").split("/")
            if req.body and req.content_type not in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "application/json",
            ):
                raise GraphError(100, "(#100) Unsupported request body type")
            if (
                req.content_type == "application/json"
                and req.body
                and not isinstance(req.json, dict)
            ):
                raise GraphError(100, "(#100) Invalid JSON body")
            self._check_token(req)
            if fault is not None and fault.kind == "error" and not fault.side_effect:
                raise GraphError(fault.code, fault.message, fault.subcode, fault.status)
            if fault is not None and fault.kind == "hang" and not fault.side_effect:
                return Reply(hang=True)
            body = self._route(req, parts)
        except GraphError as err:
            return self._error(err, fault.headers if fault else None)
        if fault is not None and fault.kind == "error":  # side effect done, then the error
            return self._error(
                GraphError(fault.code, fault.message, fault.subcode, fault.status), fault.headers
            )
        if fault is not None and fault.kind == "hang":
            return Reply(hang=True)
        return Reply(200, body, headers=self._headers())

    def _route(self, req: Received, parts: list[str]) -> dict[str, Any]:
        params = req.params()
        if req.method == "GET" and parts == ["me"]:
            return {"id": self.page_id, "name": self.page_name}
        if (
            len(parts) == 2
            and parts[0] != self.page_id
            and parts[1] in READ_EDGES | {"photos", "videos"}
        ):
            raise GraphError(200, "(#200) The token does not have permission to act on this Page")
        if req.method == "POST" and len(parts) == 2:
            edge = parts[1]
            if edge == "feed":
                return self._feed(params)
            if edge == "photos":
                return self._photo(req, params)
            if edge == "videos":
                return self._video(req, params)
        if req.method == "GET" and len(parts) == 2 and parts[1] in READ_EDGES:
            return self._read_edge(parts[1], params)
        if len(parts) == 1 and req.method in ("GET", "DELETE"):
            with self.lock:
                post = self.posts.get(parts[0])
                if post is None or post["state"] == "deleted":
                    raise GraphError(
                        100,
                        f"Unsupported {req.method.lower()} request. Object with ID "
                        f"'{parts[0]}' does not exist, cannot be loaded due to missing "
                        "permissions, or does not support this operation.",
                        33,
                    )
                if req.method == "DELETE":
                    post["state"] = "deleted"
                    return {"success": True}
                return {
                    "id": post["id"],
                    "message": post["message"],
                    "created_time": post["created_time"],
                }
        raise GraphError(2500, f"Unknown path components: /{'/'.join(parts)}")

    def _feed(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_params(params, FEED_PARAMS, r"attached_media\[\d+\]")
        when = self._schedule(params)
        published = self._bool(params, "published", True)
        message = params.get("message")
        attached: list[str] = []
        raw_items = [(k, v) for k, v in params.items() if k.startswith("attached_media")]
        items: list[Any] = []
        for key, value in sorted(raw_items, key=lambda kv: int(re.sub(r"\D", "", kv[0]) or 0)):
            try:
                decoded = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                raise GraphError(100, f"(#100) Param {key} must be JSON") from None
            items.extend(
                decoded if key == "attached_media" and isinstance(decoded, list) else [decoded]
            )
        for item in items:
            if not isinstance(item, dict) or set(item) != {"media_fbid"}:
                raise GraphError(
                    100, '(#100) attached_media entries must be {"media_fbid": "<id>"}'
                )
            fbid = str(item["media_fbid"])
            with self.lock:
                photo = self.photos.get(fbid)
            if photo is None or photo["published"] or photo.get("attached"):
                raise GraphError(100, f"(#100) Invalid media_fbid {fbid}")
            if when and self.require_temporary_for_scheduled and not photo["temporary"]:
                raise GraphError(
                    100, "(#100) Photos of a scheduled post must be uploaded with temporary=true"
                )
            attached.append(fbid)
        if not message and not params.get("link") and not attached:
            raise GraphError(100, "(#100) Missing message or attachment")
        if self.reject_duplicates and message:
            with self.lock:
                dup = any(
                    p["message"] == message
                    and p["state"] in ("published", "scheduled")
                    and p["kind"] == "feed"
                    for p in self.posts.values()
                )
            if dup:
                raise GraphError(506, "(#506) Duplicate status message")
        with self.lock:
            for fbid in attached:
                self.photos[fbid]["attached"] = True
        post_id = self._add_post(
            "feed", message, when, published, link=params.get("link"), attached_media=attached
        )
        return {"id": post_id}

    def _photo(self, req: Received, params: dict[str, Any]) -> dict[str, Any]:
        self._check_params(params, PHOTO_PARAMS)
        unknown_files = set(req.files) - {"source"}
        if unknown_files:
            raise GraphError(
                100,
                f"(#100) Param {sorted(unknown_files)[0]} is not a valid parameter for this call",
            )
        source = req.files.get("source")
        if (source is None) == (params.get("url") is None):
            raise GraphError(324, "(#324) Requires upload file: send either source or url")
        if source is not None:
            if not source.data.startswith(IMAGE_MAGIC):
                raise GraphError(324, "(#324) Missing or invalid image file")
            if len(source.data) > self.max_photo_bytes:
                raise GraphError(
                    100,
                    "Photos should be smaller than 4 MB and saved as JPG, PNG, GIF, "
                    "TIFF, HEIF or WebP files.",
                    1366046,
                )
        when = self._schedule(params)
        published = self._bool(params, "published", True)
        temporary = self._bool(params, "temporary", False)
        photo_id = self._new_id()
        with self.lock:
            self.photos[photo_id] = {
                "id": photo_id,
                "published": published or bool(when),
                "temporary": temporary,
                "caption": params.get("caption"),
                "bytes": len(source.data) if source else 0,
                "url": params.get("url"),
            }
        if published or when:
            post_id = self._add_post(
                "photo", params.get("caption"), when, published, photo_id=photo_id
            )
            return {"id": photo_id, "post_id": post_id}
        return {"id": photo_id}

    def _video(self, req: Received, params: dict[str, Any]) -> dict[str, Any]:
        phase = params.get("upload_phase")
        if phase is None:
            self._check_params(params, VIDEO_ONE_SHOT)
            if "source" not in req.files and not params.get("file_url"):
                raise GraphError(100, "(#100) Requires source or file_url")
            when = self._schedule(params)
            video_id = self._new_id()
            self._add_post(
                "video",
                params.get("description"),
                when,
                self._bool(params, "published", True),
                video_id=video_id,
            )
            return {"id": video_id}
        if phase == "start":
            self._check_params(params, VIDEO_START)
            size = str(params.get("file_size", ""))
            if not size.isdigit() or int(size) <= 0:
                raise GraphError(100, "(#100) Param file_size must be a positive integer")
            sid, vid = self._new_id(), self._new_id()
            with self.lock:
                self.sessions[sid] = {
                    "video_id": vid,
                    "size": int(size),
                    "data": bytearray(),
                    "done": False,
                }
            return {
                "upload_session_id": sid,
                "video_id": vid,
                "start_offset": "0",
                "end_offset": str(min(self.chunk_size, int(size))),
            }
        session = self.sessions.get(str(params.get("upload_session_id")))
        if session is None:
            raise GraphError(100, "(#100) Invalid upload_session_id")
        if phase == "transfer":
            self._check_params(params, VIDEO_TRANSFER)
            chunk = req.files.get("video_file_chunk")
            if chunk is None:
                raise GraphError(100, "(#100) Requires video_file_chunk")
            start = str(params.get("start_offset", ""))
            with self.lock:
                received = len(session["data"])
                if not start.isdigit() or int(start) != received:
                    raise GraphError(100, f"(#100) start_offset must be {received}")
                expected = min(self.chunk_size, session["size"] - received)
                if len(chunk.data) != expected:
                    raise GraphError(100, f"(#100) Chunk must be {expected} bytes")
                session["data"] += chunk.data
                lo = len(session["data"])
            return {
                "start_offset": str(lo),
                "end_offset": str(min(lo + self.chunk_size, session["size"])),
            }
        if phase == "finish":
            self._check_params(params, VIDEO_FINISH)
            if len(session["data"]) != session["size"]:
                raise GraphError(100, "(#100) Upload is incomplete")
            when = self._schedule(params)
            with self.lock:
                if session["done"]:
                    raise GraphError(100, "(#100) Upload session already finished")
                session["done"] = True
                post_id = session["video_id"]
                self.posts[post_id] = {
                    "id": post_id,
                    "kind": "video",
                    "message": params.get("description") or "",
                    "title": params.get("title"),
                    "created_time": self._created(),
                    "state": "scheduled"
                    if when
                    else ("published" if self._bool(params, "published", True) else "unpublished"),
                    "scheduled_publish_time": when,
                    "bytes": bytes(session["data"]),
                }
            return {"success": True}
        raise GraphError(100, f"(#100) Invalid upload_phase {phase}")

    def _read_edge(self, edge: str, params: dict[str, Any]) -> dict[str, Any]:
        fields = [f for f in str(params.get("fields", "id")).split(",") if f]
        limit = int(params.get("limit", 25))
        with self.lock:
            posts = list(self.posts.values())
        if edge == "scheduled_posts":
            chosen = [p for p in posts if p["state"] == "scheduled"]
        elif edge == "videos":
            chosen = [p for p in posts if p["kind"] == "video" and p["state"] != "deleted"]
        else:
            chosen = [p for p in posts if p["state"] == "published" and p["kind"] != "video"]
        chosen.reverse()  # newest first
        data = []
        for p in chosen[:limit]:
            item = {"id": p["id"]}
            for f in fields:
                if f == "description":
                    item[f] = p["message"]
                elif f in p and f != "id":
                    item[f] = p[f]
            data.append(item)
        return {"data": data, "paging": {}}


def start_graph(**kwargs: Any) -> FakeGraph:
    """Start a fake Graph API; ``.url`` (no version), ``.requests``, ``.stop()``."""
    return FakeGraph(**kwargs).start()  # type: ignore[return-value]
