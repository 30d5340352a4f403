"""A fake WordPress site speaking the REST API (``/wp-json/wp/v2``) the portal
adapter uses: media uploads, tags, posts, ``users/me``, and ``/?p=<id>``
redirects to a post's permalink.

It follows WordPress core's contract: HTTP Basic with a user's *application
password* (spaces ignored; a wrong one answers ``401 incorrect_password``, no
credentials ``401 rest_cannot_create``); ``POST /media`` takes the raw file
with ``Content-Disposition: attachment; filename=...`` (missing ->
``400 rest_upload_no_content_disposition``) and answers ``201`` with ``id`` and
``source_url``; ``POST /tags`` answers ``201`` or ``400 term_exists`` with
``data.term_id``; ``POST /posts`` checks that ``featured_media`` exists and
answers ``201`` with ``id`` and ``link``; ``GET /posts?slug=`` finds posts;
errors are ``{"code", "message", "data": {"status"}}``.

Faults: ``script("401", "403", "429", "500", "hang")`` applies to the next
requests in order (any path); ``fault_on = "posts"`` limits the script to
requests whose path ends so.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from typing import Any

from tests.fakes import FakeServer, Received, Reply

USERNAME = "bientap"
APP_PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"
API = "/wp-json/wp/v2"


def error(status: int, code: str, message: str, **data: Any) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status, **data}})


class FakeWordPress(FakeServer):
    def __init__(self, *, username: str = USERNAME, password: str = APP_PASSWORD):
        super().__init__()
        self.username = username
        self.password = password.replace(" ", "")
        self.media: dict[int, dict[str, Any]] = {}
        self.media_bytes: dict[int, bytes] = {}
        self.tags: dict[str, int] = {}
        self.posts: dict[int, dict[str, Any]] = {}
        self.retry_after = "7"
        self.fault_on: str | None = None
        self._script: deque[str] = deque()
        self._next = 100

    def script(self, *faults: str) -> None:
        with self.lock:
            self._script.extend(faults)

    def _id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next

    def _fault(self, request: Received) -> Reply | None:
        with self.lock:
            if not self._script or (self.fault_on and not request.path.endswith(self.fault_on)):
                return None
            fault = self._script.popleft()
        if fault == "401":
            return error(
                401,
                "incorrect_password",
                "The provided password is an invalid application password.",
            )
        if fault == "403":
            return error(
                403,
                "rest_cannot_create",
                "Sorry, you are not allowed to create posts as this user.",
            )
        if fault == "429":
            return Reply(
                429,
                {"code": "too_many_requests", "message": "Slow down"},
                headers={"Retry-After": self.retry_after},
            )
        if fault == "500":
            return error(
                500, "internal_server_error", "There has been a critical error on this website."
            )
        if fault == "hang":
            return Reply(hang=True)
        raise ValueError(f"unknown fault {fault}")

    def _authorised(self, request: Received) -> Reply | None:
        header = request.header("Authorization") or ""
        if not header.startswith("Basic "):
            return error(401, "rest_cannot_create", "Sorry, you are not allowed to do that.")
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return error(401, "incorrect_password", "Bad credentials.")
        if user != self.username:
            return error(401, "invalid_username", "Unknown username.")
        if pw.replace(" ", "") != self.password:
            return error(
                401,
                "incorrect_password",
                "The provided password is an invalid application password.",
            )
        return None

    def handle(self, request: Received) -> Reply:
        if request.method == "GET" and request.path in ("/", "") and "p" in request.query:
            post = self.posts.get(int(request.query["p"]))
            if post is None:
                return Reply(404, "not found")
            return Reply(301, "", headers={"Location": post["link"]})
        if request.method == "GET" and request.path.startswith("/bai-viet/"):
            slug = request.path.rsplit("/", 2)[-2]
            for post in self.posts.values():
                if post["slug"] == slug:
                    return Reply(200, f"<html><h1>{post['title']['rendered']}</h1></html>")
            return Reply(404, "not found")
        if request.method == "GET" and request.path.startswith("/wp-content/uploads/"):
            media_id = int(request.path.rsplit("/", 1)[-1].split("-", 1)[0])
            return Reply(200, self.media_bytes.get(media_id, b""))
        if not request.path.startswith(API):
            return error(
                404, "rest_no_route", "No route was found matching the URL and request method."
            )
        fault = self._fault(request)
        if fault is not None:
            return fault
        denied = self._authorised(request)
        if denied is not None:
            return denied
        route = request.path[len(API) :]
        if route == "/users/me" and request.method == "GET":
            return Reply(200, {"id": 1, "name": "Biên tập viên", "slug": self.username})
        if route == "/media" and request.method == "POST":
            return self._media(request)
        if route == "/tags" and request.method == "POST":
            name = (request.json or {}).get("name") if isinstance(request.json, dict) else None
            if not name:
                return error(400, "rest_missing_callback_param", "Missing parameter(s): name")
            with self.lock:
                if name in self.tags:
                    return error(
                        400,
                        "term_exists",
                        "A term with the name provided already exists.",
                        term_id=self.tags[name],
                    )
                self.tags[name] = self._id()
                return Reply(201, {"id": self.tags[name], "name": name})
        if route == "/posts" and request.method == "POST":
            return self._create_post(request)
        if route == "/posts" and request.method == "GET":
            slug = request.query.get("slug")
            found = [p for p in self.posts.values() if slug is None or p["slug"] == slug]
            return Reply(200, found)
        m = re.fullmatch(r"/posts/(\d+)", route)
        if m and request.method == "DELETE":
            post = self.posts.get(int(m.group(1)))
            if post is None:
                return error(404, "rest_post_invalid_id", "Invalid post ID.")
            post["status"] = "trash"
            return Reply(200, post)
        return error(
            404, "rest_no_route", "No route was found matching the URL and request method."
        )

    def _media(self, request: Received) -> Reply:
        disposition = request.header("Content-Disposition") or ""
        m = re.search(r'filename="?([^";]+)"?', disposition)
        if not m:
            return error(
                400, "rest_upload_no_content_disposition", "No Content-Disposition supplied."
            )
        if not request.body:
            return error(400, "rest_upload_no_data", "No data supplied.")
        ctype = request.content_type
        if not ctype.startswith("image/"):
            return error(
                400,
                "rest_upload_sideload_error",
                "Sorry, you are not allowed to upload this file type.",
            )
        media_id = self._id()
        filename = m.group(1)
        item = {
            "id": media_id,
            "media_type": "image",
            "mime_type": ctype,
            "source_url": f"{self.url}/wp-content/uploads/2026/12/{media_id}-{filename}",
            "title": {"rendered": filename},
        }
        with self.lock:
            self.media[media_id] = item
            self.media_bytes[media_id] = request.body
        return Reply(201, item)

    def _create_post(self, request: Received) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return error(400, "rest_invalid_json", "Invalid JSON body passed.")
        featured = body.get("featured_media")
        if featured and int(featured) not in self.media:
            return error(400, "rest_invalid_featured_media", "Invalid featured media ID.")
        for tag in body.get("tags") or []:
            if tag not in self.tags.values():
                return error(400, "rest_invalid_param", "Invalid parameter(s): tags")
        post_id = self._id()
        slug = body.get("slug") or f"post-{post_id}"
        post = {
            "id": post_id,
            "slug": slug,
            "status": body.get("status", "draft"),
            "link": f"{self.url}/bai-viet/{slug}/",
            "title": {"rendered": body.get("title", "")},
            "content": {"rendered": body.get("content", "")},
            "excerpt": {"rendered": body.get("excerpt", "")},
            "featured_media": featured or 0,
            "tags": body.get("tags") or [],
        }
        with self.lock:
            self.posts[post_id] = post
        return Reply(201, post)
