"""Loudspeaker (commune public-address system) channel.

The audio is rendered before sending (``media_templates`` does speech); the
adapter only hands it on. With a ``webhook_url`` (an IP-loudspeaker
management system), ``_send`` POSTs ``{"unit_code", "title", "text",
"audio_url", "delivery_id"}`` with header ``Idempotency-Key``; replies are
classified like the webhook channel's. Without one, the broadcast goes out
through the unit's radio kit (the app publishes it), so the send is recorded
as SENT with ``external_id = "kit:<unit_code>"``.
"""

from __future__ import annotations

import html
import json

from channels.base import (
    Adapter,
    ConfigField,
    Message,
    Outcome,
    SendResult,
    http_result,
    media_kind,
    media_src,
    nfc,
    preview_shell,
    preview_text,
)


class LoudspeakerAdapter(Adapter):
    name = "loudspeaker"
    title = "Loa truyền thanh"
    #: A script read aloud: no provider limit.
    max_text_length = None
    media_kinds = frozenset({"audio"})
    max_media_bytes = {"audio": 200 * 1024 * 1024}
    rate_per_second = 5.0
    config_spec = (
        ConfigField("unit_code", "Mã đơn vị", "Unit code", max_length=64),
        ConfigField(
            "webhook_url",
            "Địa chỉ hệ thống loa IP (tùy chọn)",
            "IP-loudspeaker system URL (optional)",
            type="url",
            required=False,
        ),
    )
    options_spec = (
        ConfigField("unit_code", "Mã đơn vị phát", "Broadcasting unit code", required=False),
    )

    def unit_code(self, message: Message) -> str:
        return str(message.options.get("unit_code") or self.config["unit_code"])

    def audio(self, message: Message):
        return next((m for m in message.media if media_kind(m) == "audio"), None)

    def check(self, message: Message) -> list[str]:
        problems = super().check(message)
        if self.audio(message) is None and not nfc(message.text).strip():
            problems.append("Cần có kịch bản hoặc tệp âm thanh để phát.")
        return problems

    def warnings(self, message: Message) -> list[str]:
        audio = self.audio(message)
        if self.config.get("webhook_url") and audio is not None and not audio.url:
            return ["Tệp âm thanh chưa có địa chỉ công khai (URL) cho hệ thống loa IP."]
        return []

    def preview(self, message: Message) -> str:
        body = (
            f'<div class="preview-unit">Đơn vị phát: {html.escape(self.unit_code(message))}</div>'
        )
        if message.title:
            body += f'<div class="preview-title">{html.escape(nfc(message.title))}</div>'
        audio = self.audio(message)
        if audio is not None:
            src = html.escape(media_src(audio), quote=True)
            body += f'<audio class="preview-audio" src="{src}" controls preload="none"></audio>'
        body += preview_text(message.text)
        return preview_shell(self.name, body, self.check(message) + self.warnings(message))

    def _send(self, message: Message) -> SendResult:
        unit = self.unit_code(message)
        url = self.config.get("webhook_url")
        if not url:
            return SendResult(
                Outcome.SENT, external_id=f"kit:{unit}", message="published via radio kit"
            )
        audio = self.audio(message)
        payload = {
            "unit_code": unit,
            "title": nfc(message.title) if message.title else None,
            "text": nfc(message.text),
            "audio_url": audio.url if audio is not None else None,
            "delivery_id": message.delivery_id,
        }
        resp = self.session.post(
            url,
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": message.idempotency_key,
            },
            timeout=self.timeout,
        )
        return http_result(resp)
