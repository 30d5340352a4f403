"""Generic webhook channel: POST each delivery as JSON to a URL.

Request: ``POST <url>`` with header ``Idempotency-Key: <key>`` and body
``{"delivery_id", "idempotency_key", "campaign_id", "text", "title", "media": [urls]}``.
An optional ``signing_secret`` adds ``X-Lantoa-Signature: sha256=<hex HMAC of the body>``.

Replies: 2xx -> sent (``external_id`` from a JSON ``id``), 409 -> duplicate,
429 -> rate limited, 408/5xx -> transient (Retry-After honoured), 401/403 ->
auth expired, other 4xx -> permanent. A connection error is transient; a read
timeout after the request went out is ambiguous unless the account says the
receiver de-duplicates by ``Idempotency-Key`` (config ``dedupe``), in which
case it is transient and the scheduler may resend.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from channels.base import (
    Adapter,
    ConfigError,
    ConfigField,
    CredentialStore,
    Message,
    SendResult,
    http_result,
    nfc,
)


class WebhookAdapter(Adapter):
    name = "webhook"
    title = "Webhook"
    #: No provider limit; keep bodies reasonable.
    max_text_length = 100_000
    media_kinds = frozenset({"image", "video", "audio", "document", "application", "text"})
    max_media_bytes = {}
    rate_per_second = 20.0
    burst = 20.0
    config_spec = (
        ConfigField("url", "Địa chỉ webhook (URL)", "Webhook URL", type="url", max_length=2000),
        ConfigField(
            "dedupe",
            "Bên nhận lọc trùng theo Idempotency-Key",
            "Receiver de-duplicates by Idempotency-Key",
            type="bool",
            required=False,
            default=False,
            help="Bật nếu hệ thống nhận bỏ qua yêu cầu trùng khóa; khi đó có thể gửi lại "
            "an toàn sau khi hết thời gian chờ phản hồi.",
        ),
        ConfigField(
            "max_per_second",
            "Số yêu cầu tối đa mỗi giây",
            "Requests per second at most",
            type="float",
            required=False,
            default=20.0,
        ),
        ConfigField(
            "signing_secret",
            "Khóa ký HMAC (tùy chọn)",
            "HMAC signing secret (optional)",
            secret=True,
            required=False,
        ),
    )

    def __init__(
        self,
        config: Mapping[str, Any],
        credentials: CredentialStore | Mapping[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(config, credentials, **kwargs)
        # The class default is False; an account whose receiver de-duplicates
        # makes a read timeout retryable.
        self.idempotent_receiver = bool(self.config.get("dedupe"))  # type: ignore[misc]
        configured = self.config.get("max_per_second")
        rate = 20.0 if configured is None else float(configured)
        if rate <= 0:
            raise ConfigError({"max_per_second": "Phải lớn hơn 0."})
        self.rate_per_second = rate  # type: ignore[misc]
        self.burst = max(1.0, rate)  # type: ignore[misc]

    def warnings(self, message: Message) -> list[str]:
        problems = []
        for m in message.media:
            if not m.url:
                problems.append(
                    f"Tệp {m.path.rsplit('/', 1)[-1]} chưa có địa chỉ công khai (URL): "
                    "webhook chỉ gửi được tệp có URL."
                )
        return problems

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "delivery_id": message.delivery_id,
            "idempotency_key": message.idempotency_key,
            "campaign_id": message.campaign_id,
            "text": nfc(message.text),
            "title": nfc(message.title) if message.title else None,
            "media": [m.url for m in message.media if m.url],
        }

    def _send(self, message: Message) -> SendResult:
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": "LanToa/1 (+webhook)",
        }
        secret = self.credentials.get("signing_secret")
        if secret:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Lantoa-Signature"] = "sha256=" + digest
        resp = self.session.post(
            self.config["url"], data=body, headers=headers, timeout=self.timeout
        )
        return http_result(resp)
