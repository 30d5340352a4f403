"""Portal channel: publish an article to a unit's WordPress site (REST API).

Many commune, ward and school portals run WordPress; its REST API (``/wp-json/wp/v2``,
core since 4.7) with an *application password* (core since 5.6; HTTP Basic
``username:application-password``) is the standard contract used here.

One article = one delivery:

1. each image: ``POST /wp-json/wp/v2/media`` with the raw file as body,
   ``Content-Type: <mime>`` and ``Content-Disposition: attachment; filename="…"``
   -> ``201 {"id", "source_url", ...}``;
2. each tag (option ``tags``, names): ``POST /wp-json/wp/v2/tags {"name"}`` ->
   ``201 {"id"}``, or ``400 {"code": "term_exists", "data": {"term_id"}}`` for a
   tag the site already has;
3. the post: ``POST /wp-json/wp/v2/posts`` (JSON) with ``title``, ``excerpt``
   (option ``summary``), ``content`` (the text as paragraphs, then every image
   as ``<img src="source_url">``), ``tags`` (ids), ``featured_media`` (the first
   image), ``status: publish`` and a ``slug`` that carries the idempotency key
   -> ``201 {"id", "link", ...}``.

Errors come as ``{"code", "message", "data": {"status"}}``. Map:
401 (``incorrect_password``, ``rest_not_logged_in``, ``invalid_username``) ->
AUTH_EXPIRED (the application password was revoked or mistyped: re-enter it);
403 (``rest_cannot_create``, ``rest_upload_*`` permissions) -> PERMANENT (the
user's role cannot publish or upload: an administrator must grant it; a new
password would not help); 429 -> RATE_LIMITED with ``Retry-After`` (security
plugins and proxies throttle); 408/5xx -> TRANSIENT; other 4xx -> PERMANENT.
A read timeout on the post itself is AMBIGUOUS (it may exist): ``lookup()``
searches ``GET /wp-json/wp/v2/posts?slug=<slug>&status=publish,future,draft``
(authenticated) and answers SENT with its id and link when found. A timeout
on an image upload is only TRANSIENT: an orphan image publishes nothing.

``SendResult.external_id`` is the post id; ``detail`` has ``link`` (the
permalink) and ``media_ids``. ``post_link(site_url, id)`` gives
``<site>/?p=<id>``, which every WordPress redirects to the permalink.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import unicodedata
from typing import Any

import requests

from channels.base import (
    Adapter,
    ConfigField,
    Health,
    Message,
    Outcome,
    SendResult,
    StepFailed,
    failure_health,
    media_kind,
    nfc,
    parse_retry_after,
    response_json,
    short,
)

API = "/wp-json/wp/v2"

# -- WordPress REST error map ---------------------------------------------------------
#: 401 codes: the credentials are wrong or revoked.
AUTH_CODES = frozenset(
    {"incorrect_password", "invalid_username", "rest_not_logged_in", "invalid_email"}
)
#: Most images a single article carries.
MAX_IMAGES = 20


def post_link(site_url: str, post_id: str | int) -> str:
    """A link to a post that works on any WordPress: ``?p=<id>`` redirects
    to the permalink."""
    return f"{site_url.rstrip('/')}/?p={post_id}"


def slugify(text: str, limit: int = 60) -> str:
    """An ASCII slug of Vietnamese text (đ -> d, marks dropped)."""
    text = nfc(text).replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].strip("-")


def classify(resp: requests.Response, step: str) -> SendResult:
    """The outcome of a failed WordPress REST reply."""
    status = resp.status_code
    body = response_json(resp)
    code = str(body.get("code")) if isinstance(body, dict) and body.get("code") else None
    text = f"{step}: HTTP {status} {code or ''} {short(resp.text, 200)}".strip()
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    if status == 401 or (code in AUTH_CODES):
        return SendResult(
            Outcome.AUTH_EXPIRED, provider_code=code, http_status=status, message=text
        )
    if status == 429:
        return SendResult(
            Outcome.RATE_LIMITED,
            provider_code=code,
            http_status=status,
            retry_after=retry_after,
            message=text,
        )
    if status == 408 or status >= 500:
        return SendResult(
            Outcome.TRANSIENT,
            provider_code=code,
            http_status=status,
            retry_after=retry_after,
            message=text,
        )
    return SendResult(Outcome.PERMANENT, provider_code=code, http_status=status, message=text)


class WordPressPortalAdapter(Adapter):
    name = "portal_wordpress"
    title = "Cổng thông tin (WordPress)"
    #: WordPress has no practical limit on a post body.
    max_text_length = 200_000
    media_kinds = frozenset({"image"})
    #: WordPress's default upload_max_filesize on many hosts.
    max_media_bytes = {"image": 8 * 1024 * 1024}
    rate_per_second = 1.0
    burst = 2.0
    config_spec = (
        ConfigField(
            "site_url",
            "Địa chỉ cổng thông tin",
            "Portal address",
            type="url",
            max_length=500,
            help="Ví dụ: https://phuong1.soctrang.gov.vn",
        ),
        ConfigField("username", "Tên đăng nhập WordPress", "WordPress username", max_length=120),
        ConfigField(
            "application_password",
            "Mật khẩu ứng dụng (Application Password)",
            "Application password",
            secret=True,
            help="Tạo trong Hồ sơ người dùng › Mật khẩu ứng dụng của trang WordPress.",
        ),
    )
    options_spec = (
        ConfigField("summary", "Tóm tắt", "Summary", required=False, max_length=1000),
        ConfigField("tags", "Thẻ", "Tags", type="list", required=False, max_length=20),
    )

    # -- helpers --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.config["site_url"].rstrip("/") + API + path

    def _auth(self) -> tuple[str, str]:
        password = self.credentials.get("application_password") or ""
        # WordPress shows application passwords in groups of four; spaces are ignored
        return (self.config["username"], password.replace(" ", ""))

    def slug(self, message: Message) -> str:
        """The post's slug: the title's words and a short hash of the
        idempotency key, so a lookup finds exactly this article."""
        tail = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:10]
        head = slugify(message.title or message.text[:80])
        return f"{head}-lt{tail}" if head else f"lt{tail}"

    def check(self, message: Message) -> list[str]:
        problems = super().check(message)
        if not nfc(message.title).strip():
            problems.append("Bài đăng cổng thông tin cần có tiêu đề.")
        if len(message.media) > MAX_IMAGES:
            problems.append(f"Một bài đăng có tối đa {MAX_IMAGES} ảnh.")
        for m in message.media:
            if not m.path or not os.path.exists(m.path):
                problems.append(
                    f"Không tìm thấy tệp ảnh {os.path.basename(m.path) or '(không tên)'}."
                )
        return problems

    def content_html(self, message: Message, images: list[dict[str, Any]]) -> str:
        parts = []
        for para in nfc(message.text).split("\n\n"):
            para = para.strip()
            if para:
                parts.append("<p>" + html.escape(para).replace("\n", "<br>") + "</p>")
        for img in images:
            src = html.escape(str(img.get("source_url") or ""), quote=True)
            parts.append(
                f'<figure class="wp-block-image"><img src="{src}" '
                f'class="wp-image-{int(img["id"])}" alt=""></figure>'
            )
        return "\n".join(parts)

    def _post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self._url(path), auth=self._auth(), timeout=self.timeout, **kwargs)

    def _upload(self, media) -> dict[str, Any]:
        filename = os.path.basename(media.path) or "anh.jpg"
        ascii_name = slugify(os.path.splitext(filename)[0]) or "anh"
        ext = os.path.splitext(filename)[1].lower() or ".jpg"
        with open(media.path, "rb") as fh:
            data = fh.read()
        try:
            resp = self._post(
                "/media",
                data=data,
                headers={
                    "Content-Type": media.mime,
                    "Content-Disposition": f'attachment; filename="{ascii_name}{ext}"',
                },
            )
        except requests.ReadTimeout as exc:  # an orphan upload publishes nothing
            raise StepFailed(
                SendResult(Outcome.TRANSIENT, message=f"media upload timed out: {short(str(exc))}")
            ) from exc
        if resp.status_code not in (200, 201):
            raise StepFailed(classify(resp, "media"))
        body = response_json(resp)
        if not isinstance(body, dict) or "id" not in body:
            raise StepFailed(
                SendResult(Outcome.TRANSIENT, message=f"media: unexpected reply {short(resp.text)}")
            )
        return body

    def _tag_ids(self, names: list[str]) -> list[int]:
        ids = []
        for name in names:
            try:
                resp = self._post("/tags", json={"name": name})
            except requests.ReadTimeout as exc:  # creating a tag twice is harmless
                raise StepFailed(
                    SendResult(Outcome.TRANSIENT, message=f"tag timed out: {short(str(exc))}")
                ) from exc
            body = response_json(resp)
            if resp.status_code in (200, 201) and isinstance(body, dict) and "id" in body:
                ids.append(int(body["id"]))
            elif (
                resp.status_code == 400
                and isinstance(body, dict)
                and body.get("code") == "term_exists"
                and isinstance(body.get("data"), dict)
            ):
                ids.append(int(body["data"]["term_id"]))
            else:
                raise StepFailed(classify(resp, "tags"))
        return ids

    # -- contract -------------------------------------------------------------------

    def _send(self, message: Message) -> SendResult:
        try:
            images = [self._upload(m) for m in message.media if media_kind(m) == "image"]
            tags = self._tag_ids(list(message.options.get("tags") or []))
        except StepFailed as failed:
            return failed.result
        payload: dict[str, Any] = {
            "title": nfc(message.title),
            "content": self.content_html(message, images),
            "status": "publish",
            "slug": self.slug(message),
        }
        if message.options.get("summary"):
            payload["excerpt"] = nfc(message.options["summary"])
        if tags:
            payload["tags"] = tags
        if images:
            payload["featured_media"] = int(images[0]["id"])
        # a read timeout here propagates: deliver() makes it AMBIGUOUS
        resp = self._post("/posts", json=payload)
        if resp.status_code not in (200, 201):
            return classify(resp, "post")
        body = response_json(resp)
        if not isinstance(body, dict) or "id" not in body:
            return SendResult(
                Outcome.AMBIGUOUS, message=f"post: unexpected reply {short(resp.text)}"
            )
        return SendResult(
            Outcome.SENT,
            external_id=str(body["id"]),
            http_status=resp.status_code,
            detail={
                "link": body.get("link") or post_link(self.config["site_url"], body["id"]),
                "media_ids": [int(i["id"]) for i in images],
            },
        )

    def lookup(self, message: Message, last: SendResult | None = None) -> SendResult | None:
        try:
            resp = self.session.get(
                self._url("/posts"),
                params={"slug": self.slug(message), "status": "publish,future,draft"},
                auth=self._auth(),
                timeout=self.timeout,
            )
        except requests.RequestException:
            return None
        if resp.status_code != 200:
            return None
        body = response_json(resp)
        if not isinstance(body, list):
            return None
        if not body:
            return SendResult(Outcome.TRANSIENT, message="post not found on the portal: resend")
        post = body[0]
        return SendResult(
            Outcome.SENT,
            external_id=str(post["id"]),
            detail={"link": post.get("link") or post_link(self.config["site_url"], post["id"])},
        )

    def cancel(self, external_id: str) -> SendResult:
        try:
            resp = self.session.delete(
                self._url(f"/posts/{int(external_id)}"), auth=self._auth(), timeout=self.timeout
            )
        except (ValueError, requests.RequestException) as exc:
            return SendResult(Outcome.TRANSIENT, message=short(str(exc)))
        if resp.status_code == 200:
            return SendResult(Outcome.SENT, external_id=external_id)
        return classify(resp, "delete")

    def test_connection(self) -> Health:
        try:
            resp = self.session.get(
                self._url("/users/me"),
                params={"context": "edit"},
                auth=self._auth(),
                timeout=self.timeout,
            )
        except requests.RequestException:
            return Health(False, "Không kết nối được tới cổng thông tin. Hãy kiểm tra địa chỉ.")
        if resp.status_code == 200:
            body = response_json(resp)
            name = body.get("name") if isinstance(body, dict) else None
            return Health(
                True,
                f"Kết nối được với cổng thông tin (tài khoản {name or self.config['username']}).",
            )
        return failure_health(
            classify(resp, "users/me"),
            "Cổng thông tin",
            "Mật khẩu ứng dụng không còn hiệu lực: hãy tạo mật khẩu mới trên trang WordPress và nhập lại.",
        )
