"""Secrets in citizens' messages: detect and mask passwords, OTPs and codes before storing.

The assistant never asks for them; when a message carries one (a 4-8 digit code next to
"otp", "mã xác thực", "mã kích hoạt", "passcode", or text after "mật khẩu là"), the answer is a
warning and what is stored has the secret replaced by ``******``. ID card numbers (12 digits)
and phone numbers are masked as well (personal data the assistant does not need).
"""

from __future__ import annotations

import re

from campaigns.assistant.retrieval import fold

OTP_WARNING = ("Không cung cấp mã OTP cho bất kỳ ai, kể cả người xưng là cán bộ, công an hay nhân viên ngân "
               "hàng. Tin nhắn của bạn có chứa mã hoặc mật khẩu: chúng tôi đã không lưu mã đó. Nếu đã lỡ đưa mã "
               "cho người khác, hãy đổi mật khẩu ngay và báo Công an xã, phường.")
MASK = "******"

# context words, on the folded text (no diacritics)
_CONTEXT = r"(?:otp|ma\s*xac\s*(?:thuc|nhan)|ma\s*kich\s*hoat|passcode|ma\s*bao\s*ve|ma\s*pin|pin|ma\s*code|code)"
_CODE_NEAR = re.compile(_CONTEXT + r"\W{0,3}(?:\w+\W+){0,3}?(?:la|:|=)?\W*(\d{4,8})\b")
_CODE_BEFORE = re.compile(r"\b(\d{4,8})\b\W{0,3}(?:\w+\W+){0,2}?" + _CONTEXT)
_PASSWORD = re.compile(r"(?:mat\s*khau|\bmk\b|\bpass(?:word)?\b)\s*(?:cua\s*\w+\s*)?(?:la|:|=)\s*(\S+)")
_ID_NUMBER = re.compile(r"(?<!\d)\d{12}(?!\d)")
_PHONE = re.compile(r"(?<![\d+])(?:\+?84|0)(?:[\s.\-]?\d){9,10}(?!\d)")


def _spans(text: str) -> tuple[list[tuple[int, int]], bool]:
    """Spans (on ``text``) of secrets and personal numbers; whether a secret was found."""
    folded = fold(text)  # same length as text for Vietnamese (one code point per letter after NFC)
    if len(folded) != len(text):
        folded = text.lower()
    spans: list[tuple[int, int]] = []
    secret = False
    for rx in (_CODE_NEAR, _CODE_BEFORE, _PASSWORD):
        for m in rx.finditer(folded):
            spans.append(m.span(1))
            secret = True
    for rx in (_ID_NUMBER, _PHONE):
        for m in rx.finditer(folded):
            spans.append(m.span())
    return spans, secret


def has_secret(text: str) -> bool:
    return _spans(text)[1]


def mask(text: str) -> str:
    """The text with secrets and personal numbers replaced by ``******``."""
    spans, _ = _spans(text)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + MASK + text[end:]
    return text
