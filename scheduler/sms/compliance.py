"""Compliance rules applied at dispatch time (Decree 91/2020/NĐ-CP, SMS.md).

Every rule is a setting of ``SmsPolicy`` (per campaign, copied onto each
delivery when it is released): the defaults are the strict side. A message
outside the sending window waits (``next_allowed_time``); it is never dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.sms.encoding import strip_diacritics

MESSAGE_CLASSES = ("public_service", "advertising")
DEFAULT_REFUSAL_KEYWORDS = ("TC", "HUY", "STOP", "TU CHOI")


class PolicyError(ValueError):
    """Invalid policy settings; ``fields`` maps field -> Vietnamese message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class SmsPolicy:
    """Per-campaign SMS rules.

    ``require_consent`` and ``add_label`` default to the message class:
    ``advertising`` needs a consent source on the list and gets ``label``
    (``[QC]``) in front; ``public_service`` needs neither. Both can be forced
    either way. The window may wrap past midnight (start > end).
    """

    message_class: str = "public_service"
    window_start: time = time(7)
    window_end: time = time(22)
    tz: str = "Asia/Ho_Chi_Minh"
    max_per_24h: int | None = 3  # per number, rolling 24 h; None = no cap
    label: str = "[QC]"
    require_consent: bool | None = None
    add_label: bool | None = None
    honour_opt_out: bool = True  # opt-outs and DNC numbers are suppressed

    def __post_init__(self) -> None:
        errors: dict[str, str] = {}
        if self.message_class not in MESSAGE_CLASSES:
            errors["message_class"] = "Loại tin phải là public_service hoặc advertising."
        if not isinstance(self.window_start, time) or not isinstance(self.window_end, time):
            errors["window_start"] = "Giờ gửi phải có dạng HH:MM."
        elif self.window_start == self.window_end:
            errors["window_end"] = "Giờ kết thúc phải khác giờ bắt đầu."
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            errors["tz"] = f"Múi giờ '{self.tz}' không tồn tại."
        if self.max_per_24h is not None and (
            isinstance(self.max_per_24h, bool)
            or not isinstance(self.max_per_24h, int)
            or self.max_per_24h < 1
        ):
            errors["max_per_24h"] = "Số tin tối đa mỗi 24 giờ phải là số nguyên dương."
        if self.label and len(self.label) > 10:
            errors["label"] = "Nhãn quảng cáo tối đa 10 ký tự."
        if errors:
            raise PolicyError(errors)

    @property
    def needs_consent(self) -> bool:
        if self.require_consent is not None:
            return self.require_consent
        return self.message_class == "advertising"

    @property
    def labelled(self) -> bool:
        if self.add_label is not None:
            return self.add_label
        return self.message_class == "advertising"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for delivery compliance flags)."""
        d = asdict(self)
        d["window_start"] = self.window_start.strftime("%H:%M")
        d["window_end"] = self.window_end.strftime("%H:%M")
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SmsPolicy:
        """Build from JSON (as stored on a delivery); unknown keys are errors."""
        data = dict(data or {})
        names = set(cls.__dataclass_fields__)
        unknown = [k for k in data if k not in names]
        if unknown:
            raise PolicyError({k: "Trường không được hỗ trợ." for k in unknown})
        errors: dict[str, str] = {}
        for key in ("window_start", "window_end"):
            value = data.get(key)
            if isinstance(value, str):
                try:
                    data[key] = time.fromisoformat(value)
                except ValueError:
                    errors[key] = "Giờ phải có dạng HH:MM (ví dụ 07:00)."
        if errors:
            raise PolicyError(errors)
        return cls(**data)


def _in_window(local: time, start: time, end: time) -> bool:
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps past midnight


def next_allowed_time(now_utc: datetime, policy: SmsPolicy) -> datetime:
    """``now_utc`` if sending is allowed now, else the next window start (UTC)."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    zone = ZoneInfo(policy.tz)
    local = now_utc.astimezone(zone)
    if _in_window(local.timetz().replace(tzinfo=None), policy.window_start, policy.window_end):
        return now_utc
    start = datetime.combine(local.date(), policy.window_start, tzinfo=zone)
    if start <= local:
        start = datetime.combine(local.date() + timedelta(days=1), policy.window_start, tzinfo=zone)
    return start.astimezone(UTC)


def apply_label(text: str, policy: SmsPolicy) -> str:
    """Put the advertising label first when the policy asks for it (once)."""
    text = unicodedata.normalize("NFC", text or "")
    if not policy.labelled or not policy.label:
        return text
    stripped = text.lstrip()
    if stripped.upper().startswith(policy.label.upper()):
        return text
    return f"{policy.label} {stripped}"


def consent_problem(policy: SmsPolicy, consent_source: str | None) -> str | None:
    """Vietnamese problem when the list lacks the consent the policy needs."""
    if policy.needs_consent and not (consent_source or "").strip():
        return (
            "Tin quảng cáo chỉ được gửi tới danh sách có nguồn đồng ý nhận tin "
            "(consent_source), theo Nghị định 91/2020/NĐ-CP."
        )
    return None


def cap_reached(sent_last_24h: int, policy: SmsPolicy) -> bool:
    """True when one more message would exceed the per-number 24 h cap."""
    return policy.max_per_24h is not None and sent_last_24h >= policy.max_per_24h


def _refusal_form(text: str) -> str:
    s = strip_diacritics(unicodedata.normalize("NFKC", text or "")).upper()
    s = re.sub(r"[^A-Z0-9]+", " ", s)
    return " ".join(s.split())


def is_refusal(text: str, keywords: Iterable[str] = DEFAULT_REFUSAL_KEYWORDS) -> bool:
    """Whether an incoming reply refuses further messages: the whole reply, or
    its first words, equal a keyword -- compared without diacritics, case or
    punctuation ("Từ chối", "tc", "STOP." all match; "TCT" does not)."""
    msg = _refusal_form(text)
    if not msg:
        return False
    for kw in keywords:
        k = _refusal_form(kw)
        if k and (msg == k or msg.startswith(k + " ")):
            return True
    return False
