"""Vietnamese number reading (cardinals, digits, decimals).

Rules implemented (standard northern/official reading, with a southern
option for "ngàn"/"lẻ"):

* 0-9: không một hai ba bốn năm sáu bảy tám chín
* tens: "mười" for 10-19, "<n> mươi" from 20;
* units after "mươi" (20+): 1 -> "mốt", 4 -> "tư", 5 -> "lăm";
  after "mười": 5 -> "lăm" (15 = mười lăm), 1 stays "một" (11 = mười một);
* a zero tens digit inside a hundred group reads "linh" (or "lẻ"): 105 = một trăm linh năm;
* an inner group under 100 still says "không trăm": 2025 = hai nghìn không trăm hai mươi lăm;
* group names: nghìn (or ngàn), triệu, tỷ; beyond 10^12 the groups repeat
  with "tỷ" (1 000 000 000 000 = một nghìn tỷ).
"""

from __future__ import annotations

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


class NumberStyle:
    """Words that differ between the official/northern and southern readings."""

    __slots__ = ("thousand", "zero_tens")

    def __init__(self, thousand: str = "nghìn", zero_tens: str = "linh") -> None:
        self.thousand = thousand
        self.zero_tens = zero_tens


STANDARD = NumberStyle()
SOUTHERN = NumberStyle(thousand="ngàn", zero_tens="lẻ")


def style_for(dialect: str) -> NumberStyle:
    if dialect == "south":
        return SOUTHERN
    if dialect in ("standard", "north", ""):
        return STANDARD
    raise ValueError(f"unknown dialect {dialect!r}: use 'standard' or 'south'")


def read_digits(digits: str) -> str:
    """Read a string of digits one by one: '0299' -> 'không hai chín chín'."""
    return " ".join(DIGITS[int(d)] for d in digits if d.isdigit())


def _read_below_100(n: int, *, after_hundred: bool, style: NumberStyle) -> list[str]:
    tens, units = divmod(n, 10)
    words: list[str] = []
    if tens == 0:
        if units == 0:
            return words
        if after_hundred:
            words.append(style.zero_tens)
        words.append(DIGITS[units])
        return words
    if tens == 1:
        words.append("mười")
        if units == 5:
            words.append("lăm")
        elif units:
            words.append(DIGITS[units])
        return words
    words += [DIGITS[tens], "mươi"]
    if units == 1:
        words.append("mốt")
    elif units == 4:
        words.append("tư")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(DIGITS[units])
    return words


def _read_group(n: int, *, full: bool, style: NumberStyle) -> list[str]:
    """Read 0..999. `full` means a higher group precedes it, so 'không trăm' is spoken."""
    hundreds, rest = divmod(n, 100)
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
        words += _read_below_100(rest, after_hundred=True, style=style)
    else:
        words += _read_below_100(rest, after_hundred=False, style=style)
    return words


def read_number(n: int, style: NumberStyle = STANDARD) -> str:
    """Read a non-negative integer in Vietnamese words."""
    if n < 0:
        return "âm " + read_number(-n, style)
    if n == 0:
        return "không"
    if n >= 1_000_000_000:
        high, low = divmod(n, 1_000_000_000)
        words = read_number(high, style).split() + ["tỷ"]
        if low:
            words += _read_below_billion(low, full=True, style=style)
        return " ".join(words)
    return " ".join(_read_below_billion(n, full=False, style=style))


def _read_below_billion(n: int, *, full: bool, style: NumberStyle) -> list[str]:
    groups = [(n // 1_000_000) % 1000, (n // 1000) % 1000, n % 1000]
    names = ["triệu", style.thousand, ""]
    words: list[str] = []
    started = full
    for value, name in zip(groups, names, strict=True):
        if value == 0:
            continue
        words += _read_group(value, full=started, style=style)
        if name:
            words.append(name)
        started = True
    return words


def read_decimal(integer: str, fraction: str, style: NumberStyle = STANDARD) -> str:
    """'3', '5' -> 'ba phẩy năm'; leading zeros of the fraction are spoken: '0,05' -> 'không phẩy không năm'."""
    head = read_number(int(integer), style)
    stripped = fraction.lstrip("0")
    zeros = len(fraction) - len(stripped)
    tail_words = ["không"] * zeros
    if stripped:
        if len(stripped) <= 3:
            tail_words.append(read_number(int(stripped), style))
        else:
            tail_words.append(read_digits(stripped))
    return f"{head} phẩy {' '.join(tail_words)}"
