"""SMS text rules: GSM-7 / UCS-2 detection, lengths and part counts, and the
no-diacritics variant. The implementation lives in ``channels.sms_kannel``
(channels import nothing outside ``channels``); this is the app-facing name."""

from channels.sms_kannel import (  # noqa: F401
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM7_MULTI,
    GSM7_SINGLE,
    MAX_PARTS,
    UCS2_MULTI,
    UCS2_SINGLE,
    SmsInfo,
    analyze,
    check_brandname,
    strip_diacritics,
)

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7_MULTI",
    "GSM7_SINGLE",
    "MAX_PARTS",
    "UCS2_MULTI",
    "UCS2_SINGLE",
    "SmsInfo",
    "analyze",
    "check_brandname",
    "strip_diacritics",
]
