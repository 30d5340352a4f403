"""SMS through a Kannel gateway (``sendsms`` HTTP interface of smsbox).

One recipient per ``deliver()``: the scheduler expands an SMS wave into one
durable record per recipient and hands each to this adapter as a ``Message``
with ``to`` = E.164 number and ``options`` = ``{"dlr_url": ..., "coding": ...}``.
Pacing is per account in *parts* per second (``parts_per_second``): a message
costs its segment count, as in RapidPro/courier.

This module also holds the SMS text rules (GSM-7 / UCS-2 segmentation and the
no-diacritics variant), because ``channels/`` imports nothing outside itself;
``scheduler.sms.encoding`` re-exports them for the rest of the app.
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from channels.base import (
    Adapter,
    ConfigError,
    ConfigField,
    Health,
    Message,
    Outcome,
    SendResult,
    parse_retry_after,
    short,
)

# ---------------------------------------------------------------------------
# Kannel sendsms replies (smsbox), classified. Kannel answers with a status
# code and a one-line body; the body prefix is the stable part.
#   202 "0: Accepted for delivery"        -> sent
#   202 "3: Queued for later delivery"    -> sent (store-and-forward in bearerbox)
#   503 "Temporal failure, try again later." -> transient
#   500 "Sending failed."                 -> transient: smsbox could not hand the
#        message to bearerbox (link down, queue refused); nothing was queued, so
#        retrying with backoff is safe and usually succeeds once bearerbox is back.
#   403 "Authorization failed for sendsms" -> permanent (wrong account config)
#   403 "Not routable. Do not try again." -> permanent
#   other 4xx (missing/invalid parameters) -> permanent
# ---------------------------------------------------------------------------
KANNEL_ACCEPTED_PREFIXES = ("0:", "3:")
KANNEL_NOT_ROUTABLE = "Not routable"
KANNEL_SENDING_FAILED = "Sending failed"

#: dlr-mask: 1 delivered to phone, 2 not delivered to phone, 4 queued on SMSC,
#: 8 delivered to SMSC, 16 not delivered to SMSC -> all of them.
DLR_MASK_ALL = 31
#: DLR status value -> our per-recipient status (scheduler.sms.models.SmsStatus).
DLR_STATUS = {1: "delivered", 2: "failed", 4: "sent", 8: "sent", 16: "failed"}

# ---------------------------------------------------------------------------
# SMS text: GSM 03.38 default alphabet and its extension table.
# ---------------------------------------------------------------------------
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑ\u00dc\u00a7¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(GSM7_BASIC) == 128
#: Characters reached through the escape code: each costs 2 septets.
GSM7_EXTENSION = "\f^{}\\[~]|€"
_GSM7_COST = {ch: 1 for ch in GSM7_BASIC if ch != "\x1b"}
_GSM7_COST.update({ch: 2 for ch in GSM7_EXTENSION})

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SmsInfo:
    """How a text goes over the air."""

    text: str  # NFC-normalised text that is counted and sent
    encoding: str  # "GSM-7" | "UCS-2"
    length: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int  # number of SMS segments (0 for an empty text)
    per_part: int  # capacity of one part for this message (160/153/70/67)
    remaining: int  # units still free in the last part
    non_gsm: tuple[str, ...] = ()  # distinct characters that forced UCS-2

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _segments(costs: list[int], single: int, multi: int) -> tuple[int, int, int]:
    """(parts, per_part, remaining) for units that must not be split across parts
    (an escape pair in GSM-7, a surrogate pair in UCS-2)."""
    total = sum(costs)
    if total == 0:
        return 0, single, single
    if total <= single:
        return 1, single, single - total
    parts, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            parts += 1
            used = 0
        used += cost
    return parts, multi, multi - used


def analyze(text: str) -> SmsInfo:
    """Encoding, length and part count of ``text`` after NFC normalisation."""
    text = unicodedata.normalize("NFC", text or "")
    non_gsm = sorted({ch for ch in text if ch not in _GSM7_COST})
    if not non_gsm:
        costs = [_GSM7_COST[ch] for ch in text]
        parts, per_part, remaining = _segments(costs, GSM7_SINGLE, GSM7_MULTI)
        return SmsInfo(text, "GSM-7", sum(costs), parts, per_part, remaining)
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    parts, per_part, remaining = _segments(costs, UCS2_SINGLE, UCS2_MULTI)
    return SmsInfo(text, "UCS-2", sum(costs), parts, per_part, remaining, tuple(non_gsm))


# đ/Đ have no decomposition; a few more letters appear in Vietnamese-adjacent
# text (names) and are mapped explicitly for the same reason.
_NO_DECOMPOSITION = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ø": "o", "Ø": "O"})


def strip_diacritics(text: str) -> str:
    """The "no diacritics" variant: NFC, then drop combining marks; đ→d, Đ→D.

    Letters that GSM-7 carries natively (é, à, Ä, ...) are stripped too, so the
    variant reads like ordinary unaccented Vietnamese.
    """
    text = unicodedata.normalize("NFC", text or "").translate(_NO_DECOMPOSITION)
    decomposed = unicodedata.normalize("NFD", text)
    out = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", out)


# ---------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------
_E164_VN = re.compile(r"^\+84\d{9}$")
_BRANDNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._&-]{0,10}$")

#: Longest message we send, in parts (Kannel's sendsms-user ``max-messages``
#: must be at least this; the e2e test config uses the same figure).
MAX_PARTS = 6


@dataclass(frozen=True)
class PartsMessage(Message):
    """A Message whose pacing cost is its number of SMS parts."""

    parts: int = 1

    def cost(self) -> float:
        return float(max(1, self.parts))


def sms_message(message: Message) -> PartsMessage:
    """``message`` as a PartsMessage with its part count filled in."""
    if isinstance(message, PartsMessage):
        return message
    info = analyze(_wire_text(message)[0])
    values = {f.name: getattr(message, f.name) for f in dataclasses.fields(Message)}
    return PartsMessage(**values, parts=max(1, info.parts))


CODINGS = {"auto": "auto", "gsm7": "gsm7", "0": "gsm7", "ucs2": "ucs2", "2": "ucs2"}


def _coding(message: Message) -> str | None:
    raw = message.options.get("coding")
    if raw is None or raw == "":
        return "auto"
    if isinstance(raw, bool):
        return None
    return CODINGS.get(str(raw).strip().lower())


def _wire_text(message: Message) -> tuple[str, str]:
    """(text, encoding) as it will be sent, honouring options["coding"]."""
    coding = _coding(message) or "auto"
    text = unicodedata.normalize("NFC", message.text or "")
    if coding == "gsm7" and analyze(text).encoding != "GSM-7":
        text = strip_diacritics(text)
    info = analyze(text)
    if coding == "ucs2":
        return text, "UCS-2"
    return text, info.encoding


def check_brandname(value: str) -> str | None:
    """Vietnamese problem with a brandname sender, or None."""
    if not value:
        return "Tên thương hiệu (brandname) là bắt buộc."
    if len(value) > 11:
        return (f"Tên thương hiệu (brandname) dài {len(value)} ký tự, tối đa 11 ký tự "
                "(không tự cắt bớt: nhập đúng tên đã đăng ký với nhà mạng).")
    if not _BRANDNAME.match(value):
        bad = "".join(dict.fromkeys(c for c in value if not re.match(r"[A-Za-z0-9 ._&-]", c)))
        return ("Tên thương hiệu (brandname) chỉ gồm chữ cái không dấu, chữ số, dấu cách và . _ & -, "
                "bắt đầu bằng chữ cái hoặc chữ số" + (f"; ký tự không dùng được: {bad}" if bad else "") + ".")
    return None


def sms_problems(message: Message, max_parts: int = MAX_PARTS) -> list[str]:
    """Problems with an SMS message (Vietnamese), shared by both SMS adapters."""
    problems: list[str] = []
    if _coding(message) is None:
        problems.append("coding: Mã hoá phải là auto, gsm7 (0) hoặc ucs2 (2).")
    if not (message.text or "").strip():
        problems.append("Nội dung tin nhắn trống.")
        return problems
    info = analyze(_wire_text(message)[0])
    if info.parts > max_parts:
        problems.append(
            f"Tin nhắn dài {info.length} ký tự ({info.encoding}), cần {info.parts} phần tin, "
            f"vượt giới hạn {max_parts} phần tin."
        )
    return problems


def sms_preview_html(message: Message, title: str, problems: list[str]) -> str:
    """Side-by-side preview: the text as typed and its no-diacritics variant."""
    original = analyze(message.text)
    plain = analyze(strip_diacritics(message.text))
    cells = []
    for label, info in (("Có dấu", original), ("Không dấu", plain)):
        cells.append(
            '<div class="sms-variant">'
            f"<h4>{html.escape(label)}</h4>"
            f"<p>{html.escape(info.text).replace(chr(10), '<br>')}</p>"
            f'<p class="sms-meta">{info.length} ký tự · {html.escape(info.encoding)} · '
            f"{info.parts} phần tin</p></div>"
        )
    out = [f'<div class="preview preview-sms" aria-label="{html.escape(title)}">', *cells]
    out += [f'<p class="warning">{html.escape(p)}</p>' for p in problems]
    out.append("</div>")
    return "".join(out)


class KannelAdapter(Adapter):
    """Sends one SMS per call through Kannel's smsbox ``/cgi-bin/sendsms``."""

    name: ClassVar[str] = "sms_kannel"
    title: ClassVar[str] = "SMS (Kannel)"
    # Length is checked in parts, not characters (see check()).
    max_text_length: ClassVar[int | None] = None
    media_kinds: ClassVar[frozenset[str]] = frozenset()
    # Overridden per instance from config["parts_per_second"].
    rate_per_second: ClassVar[float] = 10.0
    burst: ClassVar[float | None] = None
    # Kannel does not de-duplicate: a read timeout after sending is ambiguous.
    idempotent_receiver: ClassVar[bool] = False
    long_running: ClassVar[bool] = True
    max_parts: ClassVar[int] = MAX_PARTS

    config_spec: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "url",
            "Địa chỉ sendsms của smsbox",
            "smsbox sendsms URL",
            type="url",
            help="Ví dụ: http://127.0.0.1:13013/cgi-bin/sendsms",
        ),
        ConfigField("username", "Tên đăng nhập sendsms", "sendsms username", max_length=64),
        ConfigField("password", "Mật khẩu sendsms", "sendsms password", secret=True),
        ConfigField("sender", "Tên thương hiệu / số gửi", "Sender (brandname)", max_length=11),
        ConfigField(
            "parts_per_second",
            "Số phần tin mỗi giây",
            "Parts per second",
            type="float",
            required=False,
            default=10.0,
        ),
    )
    options_spec: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("dlr_url", "Địa chỉ nhận báo cáo (DLR)", "DLR URL", type="url", required=False),
        # "auto" | "gsm7" (send the no-diacritics variant) | "ucs2"; Kannel's own
        # numbers 0 and 2 are accepted too. Checked in check().
        ConfigField("coding", "Mã hoá", "Coding", type="coding", required=False),
    )

    def __init__(self, config: Mapping[str, Any], credentials: Any = None, **kwargs: Any):
        super().__init__(config, credentials, **kwargs)
        # per-account pacing from config (the class value is only the default)
        self.rate_per_second = float(self.config.get("parts_per_second") or 10.0)  # type: ignore[misc]

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        try:
            clean = super().validate_config(config)
        except ConfigError as exc:
            errors.update(exc.fields)
            clean = dict(config)
        pps = clean.get("parts_per_second")
        if "parts_per_second" not in errors and pps is not None:
            try:
                ok = 0 < float(pps) <= 1000
            except (TypeError, ValueError):
                ok = False
            if not ok:
                errors["parts_per_second"] = (
                    "Số phần tin mỗi giây phải lớn hơn 0 và không quá 1000."
                )
        sender = clean.get("sender")
        raw_sender = config.get("sender")
        if isinstance(raw_sender, str) and raw_sender.strip() and not raw_sender.strip().lstrip("+").isdigit():
            sender = unicodedata.normalize("NFC", raw_sender.strip())  # the brandname rule says more than "too long"
            errors.pop("sender", None)
        if (
            "sender" not in errors
            and isinstance(sender, str)
            and sender
            and not sender.lstrip("+").isdigit()
        ):
            problem = check_brandname(sender.strip())
            if problem:
                errors["sender"] = problem
        if errors:
            raise ConfigError(errors)
        return clean

    # -- contract -------------------------------------------------------------

    def check(self, message: Message) -> list[str]:
        problems = super().check(message)
        if not message.to or not _E164_VN.match(message.to):
            problems.append(
                f"Số nhận '{message.to or ''}' không phải số di động Việt Nam dạng +84…"
            )
        problems.extend(sms_problems(message, self.max_parts))
        return problems

    def preview(self, message: Message) -> str:
        return sms_preview_html(message, self.title, self.check(message))

    def deliver(self, message: Message) -> SendResult:
        # A message costs its parts in the account's token bucket.
        return super().deliver(sms_message(message))

    def _params(self, message: Message) -> dict[str, str]:
        text, encoding = _wire_text(message)
        params = {
            "username": self.config["username"],
            "password": self.credentials.get("password") or "",
            "from": self.config["sender"],
            "to": message.to or "",
            "text": text,
            "charset": "UTF-8",
            "coding": "2" if encoding == "UCS-2" else "0",
        }
        dlr_url = message.options.get("dlr_url")
        if dlr_url:
            if "%d" not in dlr_url:
                dlr_url += ("&" if "?" in dlr_url else "?") + "status=%d"
            params["dlr-mask"] = str(DLR_MASK_ALL)
            params["dlr-url"] = dlr_url
        return params

    def _send(self, message: Message) -> SendResult:
        problems = self.check(message)
        if problems:
            return SendResult(Outcome.PERMANENT, message="; ".join(problems))
        resp = self.session.get(
            self.config["url"], params=self._params(message), timeout=self.timeout
        )
        return classify_reply(resp.status_code, resp.text, resp.headers.get("Retry-After"))

    def test_connection(self) -> Health:
        """Call sendsms with the credentials but no recipient: Kannel checks the
        account first (403 if wrong), then rejects the missing number (4xx)."""
        params = {
            "username": self.config["username"],
            "password": self.credentials.get("password") or "",
        }
        try:
            resp = self.session.get(self.config["url"], params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            host = urlsplit(self.config["url"]).netloc
            return Health(
                False, f"Không kết nối được tới Kannel tại {host}.", {"error": short(str(exc))}
            )
        body = resp.text.strip()
        if resp.status_code == 403 and "Authorization" in body:
            return Health(
                False,
                "Kannel từ chối tên đăng nhập hoặc mật khẩu sendsms.",
                {"status": resp.status_code, "body": short(body)},
            )
        if resp.status_code >= 500:
            return Health(
                False,
                "Kannel đang lỗi, hãy thử lại sau.",
                {"status": resp.status_code, "body": short(body)},
            )
        return Health(
            True, "Kết nối Kannel hoạt động.", {"status": resp.status_code, "body": short(body)}
        )


def classify_reply(status: int, body: str, retry_after: str | None = None) -> SendResult:
    """Turn a sendsms reply into a SendResult (see the table at the top)."""
    text = (body or "").strip()
    if status == 202 and text.startswith(KANNEL_ACCEPTED_PREFIXES):
        return SendResult(
            Outcome.SENT, provider_code=text[:1], http_status=status, message=short(text)
        )
    if 200 <= status < 300:
        # A 2xx without Kannel's accept prefix: something answered but we cannot
        # tell whether the message was queued -> never resend blindly.
        return SendResult(
            Outcome.AMBIGUOUS,
            http_status=status,
            message=f"unexpected sendsms reply: {short(text)}",
        )
    if status == 503:
        return SendResult(
            Outcome.TRANSIENT,
            http_status=status,
            retry_after=parse_retry_after(retry_after),
            message=short(text),
        )
    if status == 500 and KANNEL_SENDING_FAILED in text:
        # smsbox could not pass the message to bearerbox: nothing was queued.
        return SendResult(Outcome.TRANSIENT, http_status=status, message=short(text))
    if KANNEL_NOT_ROUTABLE in text or 400 <= status < 500:
        return SendResult(
            Outcome.PERMANENT, http_status=status, provider_code=str(status), message=short(text)
        )
    return SendResult(Outcome.TRANSIENT, http_status=status, message=short(text))
