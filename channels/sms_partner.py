"""SMS through telecom partners: the app cuts a wave into one batch file per
carrier, and each partner downloads its own batch, acknowledges it and uploads
delivery reports (scheduler.sms.waves, the /api/v1/sms/batches endpoints).

So this adapter never sends per message: it offers the account config
(brandname sender), ``check()`` and ``preview()``, and ``deliver()`` answers
PERMANENT if anything ever calls it for one message.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, ClassVar

from channels.base import Adapter, ConfigError, ConfigField, Message, Outcome, SendResult
from channels.sms_kannel import MAX_PARTS, check_brandname, sms_preview_html, sms_problems


class PartnerBatchAdapter(Adapter):
    name: ClassVar[str] = "sms_partner"
    title: ClassVar[str] = "SMS qua nhà mạng (lô tin)"
    max_text_length: ClassVar[int | None] = None  # checked in parts
    media_kinds: ClassVar[frozenset[str]] = frozenset()
    long_running: ClassVar[bool] = True
    max_parts: ClassVar[int] = MAX_PARTS

    config_spec: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "sender",
            "Tên thương hiệu (brandname)",
            "Brandname sender",
            max_length=11,
            help="Tối đa 11 ký tự, chữ không dấu và chữ số, đã đăng ký với nhà mạng.",
        ),
    )

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        raw = config.get("sender") if isinstance(config, Mapping) else None
        try:
            clean = super().validate_config(config)
        except ConfigError as exc:
            if isinstance(raw, str) and raw.strip() and "sender" in exc.fields:
                # the brandname rule says more than "too long"
                exc.fields["sender"] = check_brandname(unicodedata.normalize("NFC", raw.strip())) or exc.fields["sender"]
            raise
        problem = check_brandname(clean.get("sender", ""))
        if problem:
            raise ConfigError({"sender": problem})
        return clean

    def check(self, message: Message) -> list[str]:
        return super().check(message) + sms_problems(message, self.max_parts)

    def preview(self, message: Message) -> str:
        return sms_preview_html(message, self.title, self.check(message))

    def _send(self, message: Message) -> SendResult:
        return SendResult(
            Outcome.PERMANENT,
            message="sms_partner does not send per message: dispatch the wave as "
            "per-carrier batches (scheduler.sms.waves.expand_wave(batches=True))",
        )
