"""Vietnamese mobile numbers: normalise to E.164, convert old 11-digit numbers
(2018 table), reject what is not a Vietnamese mobile number (reason in
Vietnamese), and mark the original carrier as a hint (numbers are portable).

``normalize_phone`` is the reference: the full ``phonenumbers`` package
(region VN) decides validity and the carrier. ``PhoneNormalizer`` gives the
same answers faster for the common spellings (``09xx…``, ``+84 9xx…``,
``84 9xx…``, ``9xx…`` with spaces, dots or dashes): it computes the national
number itself and caches ``phonenumbers``' verdict per 4-digit national prefix.
That is sound because every Vietnamese pattern in phonenumbers' metadata
(mobile, fixed line, toll-free, VoIP, ...) and every carrier prefix fixes at
most the first 4 digits of a 9-digit national number and leaves the rest free
(``tests/test_sms_phones.py`` checks this against the installed metadata and
compares both paths on a large random sample).
"""

from __future__ import annotations

import unicodedata
from typing import Any, NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import carrier as pn_carrier

#: Carrier codes = the telecom units' codes (seed-demo), plus "other".
CARRIER_CODES = ("viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile", "other")

#: 2018 conversion of 11-digit numbers: old national prefix (without 0) -> new
#: prefix (without 0); the last 7 digits are kept.
OLD_PREFIXES: dict[str, str] = {
    # MobiFone
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    # VinaPhone
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    # Viettel 0162…0169 -> 032…039
    **{f"16{d}": f"3{d}" for d in range(2, 10)},
    # Vietnamobile
    "186": "56",
    "188": "58",
    # Gmobile
    "199": "59",
}

#: phonenumbers' English carrier names -> our codes. iTel (087) is carried on
#: VinaPhone's network and phonenumbers names it Vinaphone; we keep that.
_CARRIER_NAMES = {
    "viettel": "viettel",
    "vinaphone": "vinaphone",
    "mobifone": "mobifone",
    "vietnamobile": "vietnamobile",
    "g-mobile": "gmobile",
    "gmobile": "gmobile",
}

#: Reviewed fallback where phonenumbers knows the number is valid but names no
#: carrier (e.g. 0990-0992): prefixes from SMS.md, 2-digit national prefix.
_PREFIX_CARRIERS = {
    **{
        p: "viettel"
        for p in ("86", "96", "97", "98", "32", "33", "34", "35", "36", "37", "38", "39")
    },
    **{p: "vinaphone" for p in ("88", "91", "94", "81", "82", "83", "84", "85")},
    **{p: "mobifone" for p in ("89", "90", "93", "70", "76", "77", "78", "79")},
    **{p: "vietnamobile" for p in ("92", "56", "58", "52")},
    **{p: "gmobile" for p in ("99", "59")},
}

# Reasons (Vietnamese, shown in the import report).
R_BLANK = "Thiếu số điện thoại."
R_FORMULA = "Ô số điện thoại chứa công thức, không phải số."
R_LETTERS = "Số điện thoại chứa chữ cái."
R_TOO_LONG = "Số điện thoại quá dài."
R_UNREADABLE = "Không đọc được số điện thoại."
R_FOREIGN = "Không phải số Việt Nam (mã quốc gia +{cc})."
R_OLD_UNKNOWN = "Số 11 chữ số có đầu số cũ không nằm trong bảng chuyển đổi năm 2018."
R_INVALID = "Số không hợp lệ theo kế hoạch đánh số của Việt Nam."
R_FIXED = "Số máy cố định, không nhận được tin nhắn SMS."
R_NOT_MOBILE = "Không phải số di động (đầu số dịch vụ hoặc đặc biệt)."

_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


class PhoneResult(NamedTuple):
    e164: str | None  # "+849…" when valid
    carrier: str | None  # one of CARRIER_CODES when valid
    converted: bool  # an old 11-digit number converted by the 2018 table
    reason: str | None  # Vietnamese reason when invalid

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def _carrier_code(number: phonenumbers.PhoneNumber, nat: str) -> str:
    name = pn_carrier.name_for_number(number, "en").strip().lower()
    code = _CARRIER_NAMES.get(name)
    if code:
        return code
    if not name:
        return _PREFIX_CARRIERS.get(nat[:2], "other")
    return "other"


def _invalid(reason: str) -> PhoneResult:
    return PhoneResult(None, None, False, reason)


def normalize_phone(raw: Any) -> PhoneResult:
    """Normalise one raw value (as typed in a spreadsheet) to E.164.

    Never raises: invalid input gives ``e164=None`` and a Vietnamese reason.
    """
    if raw is None:
        return _invalid(R_BLANK)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    s = unicodedata.normalize("NFKC", str(raw)).strip()
    if not s:
        return _invalid(R_BLANK)
    if s[0] in "=@":
        return _invalid(R_FORMULA)
    if any(ch.isalpha() for ch in s):
        return _invalid(R_LETTERS)
    if len(s) > 32:
        return _invalid(R_TOO_LONG)
    try:
        number = phonenumbers.parse(s, "VN")
    except phonenumbers.NumberParseException:
        return _invalid(R_UNREADABLE)
    if number.country_code != 84:
        return _invalid(R_FOREIGN.format(cc=number.country_code))
    nat = str(number.national_number)
    converted = False
    if len(nat) == 10 and nat[0] == "1":
        new = OLD_PREFIXES.get(nat[:3])
        if new is None:
            return _invalid(R_OLD_UNKNOWN)
        nat = new + nat[3:]
        number = phonenumbers.parse("+84" + nat, None)
        converted = True
    if not phonenumbers.is_valid_number(number):
        return _invalid(R_INVALID)
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.FIXED_LINE:
        return _invalid(R_FIXED)
    if kind not in _MOBILE_TYPES:
        return _invalid(R_NOT_MOBILE)
    return PhoneResult("+84" + nat, _carrier_code(number, nat), converted, None)


_DIGITS = frozenset("0123456789")
#: First digits of a 9-digit national number that phonenumbers' general
#: pattern accepts, i.e. where "84" + 9 digits is read as country code + number.
_CC_STRIP_FIRST = frozenset("1356789")


class PhoneNormalizer:
    """``normalize_phone`` with a fast path for the common spellings.

    Results are identical to ``normalize_phone``; anything unusual (brackets,
    letters, foreign numbers, odd lengths) goes to ``normalize_phone`` itself.
    Not thread-safe to share across threads without care (the cache is a dict:
    concurrent use is safe in CPython but may compute an entry twice).
    """

    __slots__ = ("_by_prefix", "_by_shape", "fast", "slow")

    def __init__(self) -> None:
        self._by_prefix: dict[str, tuple[str | None, str | None]] = {}
        #: (spelling, length, first 4 digits) -> reason, for national numbers
        #: that cannot be valid (wrong length: landlines, truncated numbers).
        self._by_shape: dict[tuple[str, int, str], str | None] = {}
        self.fast = 0
        self.slow = 0

    def __call__(self, raw: Any) -> PhoneResult:
        return PhoneResult(*self.parts(raw))

    def parts(self, raw: Any) -> tuple[str | None, str | None, bool, str | None]:
        """``__call__``'s answer as a plain tuple (e164, carrier, converted,
        reason): what the importer unpacks a million times."""
        if type(raw) is str:
            # the commonest spelling, "0" + 9 digits, straight to the verdict
            if len(raw) == 10 and raw[0] == "0" and raw[1] != "0" and raw.isascii():
                if raw.isdigit():
                    verdict = self._by_prefix.get(raw[1:5])
                    if verdict is not None:
                        self.fast += 1
                        if verdict[1] is None:
                            return ("+84" + raw[1:], verdict[0], False, None)
                        return (None, None, False, verdict[1])
            s = raw.strip()
            if 4 <= len(s) <= 20:
                result = self._fast(s, raw)
                if result is not None:
                    self.fast += 1
                    return result
        self.slow += 1
        return tuple(normalize_phone(raw))  # type: ignore[return-value]

    def _fast(self, s: str, raw: str) -> tuple[str | None, str | None, bool, str | None] | None:
        digits = s.replace(" ", "").replace(".", "").replace("-", "")
        first = digits[:1]
        if first == "+":
            if digits[1:3] != "84":
                return None
            form, nat = "+", digits[3:]
        elif first == "0":
            form, nat = "0", digits[1:]
        elif digits[:2] == "84":
            form, nat = "84", digits[2:]
            if len(nat) != 9 or nat[0] not in _CC_STRIP_FIRST:
                return None
        else:
            form, nat = "", digits
        if not nat or nat[0] == "0" or not _DIGITS.issuperset(nat):
            return None
        length = len(nat)
        converted = False
        if length == 10 and nat[0] == "1" and nat[:3] in OLD_PREFIXES:
            nat = OLD_PREFIXES[nat[:3]] + nat[3:]
            converted = True
        elif length != 9:
            # Not a mobile length: phonenumbers' verdict (always invalid) depends
            # only on the spelling, the length and the first digits.
            if form not in ("0", "+"):
                return None
            key = (form, length, nat[:4])
            if key in self._by_shape:
                reason = self._by_shape[key]
            else:
                ref = normalize_phone(raw)
                reason = self._by_shape[key] = ref.reason if ref.e164 is None else None
            if reason is None:
                return None  # not cacheable after all: the reference decides
            return (None, None, False, reason)
        verdict = self._by_prefix.get(nat[:4])
        if verdict is None:
            ref = normalize_phone("+84" + nat)
            verdict = self._by_prefix[nat[:4]] = (ref.carrier, ref.reason)
        carrier, reason = verdict
        if reason is None:
            return ("+84" + nat, carrier, converted, None)
        return (None, None, False, reason)
