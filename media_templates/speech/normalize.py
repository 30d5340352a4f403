"""Reading normaliser: turn a written Vietnamese script into what is spoken.

Used for announcers' reading copies and as the input of speech synthesis.
The pipeline runs stage by stage; each stage replaces what it recognises
with a placeholder (a private-use character), so later stages never
re-read spoken words. Placeholders are restored at the end.

Stages: web addresses and e-mails, phone numbers (digit by digit), dates,
times, percentages, ranges ("7h30 - 11h30" -> "... đến ..."), ordinals after
"thứ"/"tháng", numbers with units, Roman numerals, abbreviations from the
maintained table, symbols. Remaining ALL-CAPS tokens that are not plausible
Vietnamese syllables are reported as ``unknown_tokens`` (kept, not expanded).

Only ASCII digits are numbers here: Khmer digits and Khmer text pass through
unchanged.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AbbreviationCycleError, SpeechError
from .numbers import NumberStyle, read_decimal, read_digits, read_number, style_for

DEFAULT_TABLE = Path(__file__).with_name("reading_table.yaml")

_PUA_BASE = 0xE000
_BMP_SLOTS = 0xF900 - 0xE000
_PH = "\ue000-\uf8ff\U000f0000-\U000ffffd"  # placeholder characters (private use)
_PUA_RE = re.compile(f"[{_PH}]")
_D = "0-9"  # ASCII digits only: \d would also match Khmer digits


@dataclass(frozen=True)
class ReadingResult:
    """Normalised reading text and the ALL-CAPS tokens nobody could expand."""

    text: str
    unknown_tokens: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class ReadingTable:
    abbreviations: dict[str, str]
    domain_words: dict[str, str]
    units: dict[str, str]


def _nfc(value: object) -> str:
    return unicodedata.normalize("NFC", str(value))


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpeechError(f"Không tìm thấy bảng viết tắt: {path}", field="abbreviations") from exc
    except yaml.YAMLError as exc:
        raise SpeechError(
            f"Bảng viết tắt {path.name} không đúng định dạng YAML: {exc}", field="abbreviations"
        ) from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpeechError(
            f"Bảng viết tắt {path.name} phải là một bảng (khóa: giá trị).", field="abbreviations"
        )
    return raw


def _string_map(raw: object, section: str, source: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpeechError(
            f"Mục '{section}' trong {source} phải là một bảng (khóa: giá trị).",
            field="abbreviations",
        )
    result: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            value = ""
        if not isinstance(key, str | int) or not isinstance(value, str | int | float):
            raise SpeechError(
                f"Mục '{key}' trong '{section}' của {source} phải là chữ.", field="abbreviations"
            )
        k = _nfc(key).strip()
        if not k:
            raise SpeechError(
                f"Có khóa rỗng trong '{section}' của {source}.", field="abbreviations"
            )
        result[k] = _nfc(value).strip()
    return result


def _abbreviation_pattern(keys: list[str]) -> re.Pattern[str] | None:
    if not keys:
        return None
    ordered = sorted(keys, key=len, reverse=True)
    parts = []
    for key in ordered:
        esc = re.escape(key)
        tail = "" if not key[-1].isalnum() else r"(?![\w&])"
        head = "" if not key[0].isalnum() else r"(?<![\w&])"
        parts.append(f"{head}{esc}{tail}")
    return re.compile("|".join(parts))


def find_abbreviation_cycle(abbreviations: dict[str, str]) -> list[str] | None:
    """Return one loop as [A, B, ..., A] if an expansion leads back to itself."""
    pattern = _abbreviation_pattern(list(abbreviations))
    if pattern is None:
        return None
    edges = {k: [m.group(0) for m in pattern.finditer(v)] for k, v in abbreviations.items()}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(abbreviations, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in edges.get(node, []):
            if nxt not in colour:
                continue
            if colour[nxt] == grey:
                return stack[stack.index(nxt) :] + [nxt]
            if colour[nxt] == white:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = black
        return None

    for key in abbreviations:
        if colour[key] == white:
            found = visit(key)
            if found:
                return found
    return None


def check_abbreviations(abbreviations: dict[str, str]) -> dict[str, str]:
    """NFC-normalise a table and refuse loops (AbbreviationCycleError, a ValueError)."""
    table = _string_map(abbreviations, "abbreviations", "bảng viết tắt")
    cycle = find_abbreviation_cycle(table)
    if cycle:
        raise AbbreviationCycleError(cycle)
    return table


def load_reading_table(path: Path | None = None) -> ReadingTable:
    source = Path(path) if path is not None else DEFAULT_TABLE
    raw = _read_yaml(source)
    if "abbreviations" not in raw and not ({"domain_words", "units"} & set(raw)):
        # A flat file of abbreviations only.
        abbreviations = _string_map(raw, "abbreviations", source.name)
        raw = {}
    else:
        abbreviations = _string_map(raw.get("abbreviations"), "abbreviations", source.name)
    cycle = find_abbreviation_cycle(abbreviations)
    if cycle:
        raise AbbreviationCycleError(cycle)
    if source != DEFAULT_TABLE:
        default = _default_table()
        domain = {
            **default.domain_words,
            **_string_map(raw.get("domain_words"), "domain_words", source.name),
        }
        units = {**default.units, **_string_map(raw.get("units"), "units", source.name)}
    else:
        domain = _string_map(raw.get("domain_words"), "domain_words", source.name)
        units = _string_map(raw.get("units"), "units", source.name)
    return ReadingTable(abbreviations, {k.lower(): v for k, v in domain.items()}, units)


@functools.lru_cache(maxsize=1)
def _default_table() -> ReadingTable:
    return load_reading_table(DEFAULT_TABLE)


def load_abbreviations(path: Path | None = None) -> dict[str, str]:
    """Load the maintained abbreviation table (YAML).

    The file has an ``abbreviations`` mapping (plus ``domain_words`` and
    ``units``), or is a flat mapping of abbreviations. A loop raises
    :class:`AbbreviationCycleError` (a ``ValueError``) naming it.
    """
    if path is None:
        return dict(_default_table().abbreviations)
    return dict(load_reading_table(Path(path)).abbreviations)


# ------------------------------------------------------------ the pipeline


class _Normaliser:
    def __init__(self, table: ReadingTable, style: NumberStyle) -> None:
        self.table = table
        self.style = style
        self.slots: list[str] = []

    # Placeholders -------------------------------------------------------
    def hold(self, spoken: str) -> str:
        self.slots.append(spoken)
        i = len(self.slots) - 1
        if i < _BMP_SLOTS:
            return chr(_PUA_BASE + i)
        if i - _BMP_SLOTS < 0xFFFE:
            return chr(0xF0000 + i - _BMP_SLOTS)
        raise SpeechError("Văn bản quá dài để chuẩn hóa một lần; hãy chia nhỏ.", field="text")

    @staticmethod
    def _slot(ch: str) -> int:
        code = ord(ch)
        return code - _PUA_BASE if code < 0xF0000 else _BMP_SLOTS + code - 0xF0000

    def restore(self, text: str) -> str:
        # Slots may nest (a range holds two held dates), so repeat until stable.
        for _ in range(5):
            new = _PUA_RE.sub(lambda m: self.slots[self._slot(m.group(0))], text)
            if new == text:
                break
            text = new
        return text

    def num(self, digits: str) -> str:
        return read_number(int(digits), self.style)

    # Stages ---------------------------------------------------------------
    def run(self, text: str) -> ReadingResult:
        text = _nfc(text).replace("\r\n", "\n").replace("\r", "\n")
        text = _PUA_RE.sub("", text)  # never trust input placeholders
        text = re.sub("[\u200b\u200c\u200d\ufeff]", "", text) if not _has_khmer(text) else text
        text = self.urls(text)
        text = self.phones(text)
        text = self.dates(text)
        text = self.times(text)
        text = self.percents(text)
        text = self.ranges(text)
        text = self.ordinals(text)
        text = self.numbers(text)
        text = self.romans(text)
        text = self.abbreviations(text)
        text = self.symbols(text)
        unknown = _unknown_tokens(text, self.table.abbreviations)
        text = self.restore(text)
        text = _tidy(text)
        return ReadingResult(text=text, unknown_tokens=unknown)

    # Web addresses and e-mails -----------------------------------------------
    _TLD = r"(?:vn|com|net|org|gov|edu|info|io|int|biz)"
    _HOST = rf"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+{_TLD}(?![A-Za-z0-9-])"
    _URL_RE = re.compile(
        rf"(?:(?:https?://)?{_HOST}(?:/[A-Za-z0-9._~%/?#=&+-]*[A-Za-z0-9_~%/=&+-])?/?)",
        re.IGNORECASE,
    )
    _EMAIL_RE = re.compile(rf"[A-Za-z0-9._%+-]+@{_HOST}", re.IGNORECASE)

    def _label(self, label: str) -> str:
        if not label:
            return ""
        if label.isdigit():
            return read_digits(label)
        spoken = self.table.domain_words.get(label.lower())
        if spoken is not None:
            return spoken
        parts = re.split(r"([-_])", label)
        if len(parts) > 1:
            names = {"-": "gạch ngang", "_": "gạch dưới"}
            return " ".join(names[p] if p in names else self._label(p) for p in parts if p)
        return label

    def _host(self, host: str) -> str:
        return " chấm ".join(filter(None, (self._label(p) for p in host.split("."))))

    def _url(self, match: re.Match[str]) -> str:
        url = match.group(0)
        url = re.sub(r"^https?://", "", url, flags=re.IGNORECASE).rstrip("/")
        host, _, path = url.partition("/")
        words = [self._host(host)]
        if path:
            for segment in re.split(r"[/?#=&]+", path):
                if segment:
                    words.append("gạch chéo")
                    words.append(" chấm ".join(self._label(s) for s in segment.split(".") if s))
        return self.hold(" ".join(w for w in words if w))

    def _email(self, match: re.Match[str]) -> str:
        local, _, host = match.group(0).partition("@")
        local_words = " chấm ".join(self._label(p) for p in local.split(".") if p)
        return self.hold(f"{local_words} a còng {self._host(host)}")

    def urls(self, text: str) -> str:
        text = self._EMAIL_RE.sub(self._email, text)
        return self._URL_RE.sub(self._url, text)

    # Phone numbers ------------------------------------------------------
    _PHONE_START = re.compile(rf"(?<![{_D}A-Za-z.,/+])(\+84[ .]?|0)(?=[{_D}])")
    _GROUP = re.compile(rf"[ .\-]([{_D}]{{2,4}})(?![{_D}])")
    _HOTLINE = re.compile(rf"(?<![{_D}.,/])(1800|1900)[ .]?([{_D}]{{3,6}})(?![{_D}])")
    _CONTEXT = re.compile(
        rf"((?:điện thoại|đường dây nóng|tổng đài|hotline|SĐT|ĐT|gọi(?: số)?|số máy)\s*:?\s*)"
        rf"([{_D}]{{3,5}})(?![{_D}]|[.,:/][{_D}])",
        re.IGNORECASE,
    )

    def phones(self, text: str) -> str:
        out: list[str] = []
        pos = 0
        for start in self._PHONE_START.finditer(text):
            if start.start() < pos:
                continue
            prefix = start.group(1).strip(" .")
            cursor = start.end()
            groups: list[tuple[int, str]] = []  # (end offset, digits)
            first = re.match(rf"[{_D}]{{1,11}}(?![{_D}])", text[cursor:])
            if not first:
                continue
            cursor += first.end()
            groups.append((cursor, first.group(0)))
            while True:
                g = self._GROUP.match(text, cursor)
                if not g:
                    break
                cursor = g.end()
                groups.append((cursor, g.group(1)))
            best = None
            total = 1 if prefix == "0" else 1  # '+84' stands for the leading 0
            for i, (end, digits) in enumerate(groups):
                total += len(digits)
                nxt = text[end : end + 1]
                if 9 <= total <= 11 and not nxt.isdigit():
                    best = i
            if best is None:
                continue
            end = groups[best][0]
            spoken_groups = [read_digits(d) for _, d in groups[: best + 1]]
            if prefix == "+84":
                spoken_groups.insert(0, "cộng tám bốn")
            else:
                spoken_groups[0] = "không " + spoken_groups[0]
            if len(groups) == 1 or best == 0:
                spoken = " ".join(spoken_groups)
            else:
                spoken = ", ".join(spoken_groups)
            out.append(text[pos : start.start()])
            out.append(self.hold(spoken))
            pos = end
        out.append(text[pos:])
        text = "".join(out)
        text = self._HOTLINE.sub(
            lambda m: self.hold(f"{read_digits(m.group(1))}, {read_digits(m.group(2))}"), text
        )
        return self._CONTEXT.sub(lambda m: m.group(1) + self.hold(read_digits(m.group(2))), text)

    # Dates ------------------------------------------------------------------
    _DMY = re.compile(
        rf"(?<![{_D}/.\-])((?:[Nn]gày|[Mm]ùng|[Mm]ồng)\s+)?([{_D}]{{1,2}})([/.\-])([{_D}]{{1,2}})\3([{_D}]{{4}})(?![{_D}/])"
    )
    _DM = re.compile(
        rf"(?<![{_D}/.,])((?:[Nn]gày|[Mm]ùng|[Mm]ồng)\s+)?([{_D}]{{1,2}})/([{_D}]{{1,2}})(?![{_D}/])"
    )
    _MY = re.compile(rf"(?<![{_D}/.,])([Tt]háng\s+)?([{_D}]{{1,2}})/([{_D}]{{4}})(?![{_D}/])")

    def month_word(self, month: int) -> str:
        return "tư" if month == 4 else read_number(month, self.style)

    _EVENT_NAME = re.compile(r"Ngày\s+(\S)[^,.;:!?\n]{0,60}\s$")
    _HOUSE_NUMBER = re.compile(r"(?:^|\s)(?:[Ss]ố|[Hh]ẻm|[Nn]gõ|[Kk]iệt|[Nn]hà|[Ll]ô)\s+$")
    _ROUND_THE_CLOCK = re.compile(rf"(?<![{_D}/])24/(7|24)(?![{_D}/])")

    def _day_prefix(self, text: str, start: int, given: str | None) -> str:
        """'ngày' before a date, unless the text already says it or the date
        closes an event name ("Ngày Chuyển đổi số quốc gia 10/10")."""
        if given:
            return given.strip() + " "
        before = text[max(0, start - 80) : start]
        event = self._EVENT_NAME.search(before)
        if event and event.group(1).isupper():
            return ""
        return "ngày "

    def dates(self, text: str) -> str:
        def dmy(m: re.Match[str]) -> str:
            day, month, year = int(m.group(2)), int(m.group(4)), int(m.group(5))
            if not (1 <= day <= 31 and 1 <= month <= 12):
                return m.group(0)
            prefix = self._day_prefix(m.string, m.start(), m.group(1))
            return self.hold(
                f"{prefix}{self.num(str(day))} tháng {self.month_word(month)}"
                f" năm {self.num(str(year))}"
            )

        def dm(m: re.Match[str]) -> str:
            day, month = int(m.group(2)), int(m.group(3))
            before = m.string[max(0, m.start() - 12) : m.start()]
            if not m.group(1) and self._HOUSE_NUMBER.search(before):
                # an address: "số 19/5 đường ..." reads "mười chín trên năm"
                return self.hold(f"{self.num(m.group(2))} trên {self.num(m.group(3))}")
            if not (1 <= day <= 31 and 1 <= month <= 12):
                return m.group(0)
            prefix = self._day_prefix(m.string, m.start(), m.group(1))
            return self.hold(f"{prefix}{self.num(str(day))} tháng {self.month_word(month)}")

        def my(m: re.Match[str]) -> str:
            month, year = int(m.group(2)), int(m.group(3))
            if not 1 <= month <= 12:
                return m.group(0)
            word = m.group(1).strip() if m.group(1) else "tháng"
            return self.hold(f"{word} {self.month_word(month)} năm {self.num(str(year))}")

        text = self._ROUND_THE_CLOCK.sub(
            lambda m: self.hold(f"hai mươi tư trên {self.num(m.group(1))}"), text
        )
        text = self._DMY.sub(dmy, text)
        text = self._MY.sub(my, text)
        return self._DM.sub(dm, text)

    # Times ------------------------------------------------------------------
    _HHMM = re.compile(
        rf"(?<![{_D}:])([01]?[{_D}]|2[0-3]):([0-5][{_D}])(?::([0-5][{_D}]))?(?![{_D}:])"
    )
    _HMARK = re.compile(
        rf"(?<![{_D}A-Za-z])([01]?[{_D}]|2[0-3])(?:\s?h|g)([0-5][{_D}])?(?:'|p(?:h)?)?(?![\w])"
    )

    def _time(self, hours: str, minutes: str | None, seconds: str | None = None) -> str:
        words = f"{self.num(hours)} giờ"
        if minutes and int(minutes):
            words += f" {self.num(minutes)} phút"
        if seconds and int(seconds):
            words += f" {self.num(seconds)} giây"
        return self.hold(words)

    def times(self, text: str) -> str:
        text = self._HHMM.sub(lambda m: self._time(m.group(1), m.group(2), m.group(3)), text)
        return self._HMARK.sub(lambda m: self._time(m.group(1), m.group(2)), text)

    # Percentages ------------------------------------------------------------
    _PERCENT = re.compile(rf"(?<![{_D}.,])([{_D}]+(?:[.,][{_D}]+)*)\s?%")

    def percents(self, text: str) -> str:
        return self._PERCENT.sub(lambda m: self.hold(f"{self._number(m.group(1))} phần trăm"), text)

    # Ranges -----------------------------------------------------------------
    _RANGE = re.compile(
        rf"(?<=[{_D}{_PH}])\s*[–—-]\s*(?=(?:(?:[Tt]hứ|[Nn]gày|[Tt]háng|[Nn]ăm)\s+)?[{_D}{_PH}])"
    )

    def ranges(self, text: str) -> str:
        return self._RANGE.sub(" đến ", text)

    # Ordinals -----------------------------------------------------------------
    _THU = re.compile(rf"(?<!\w)([Tt]hứ)\s+([{_D}]{{1,2}})(?![{_D}]|[.,/:][{_D}])")
    _THANG = re.compile(rf"(?<!\w)([Tt]háng)\s+([{_D}]{{1,2}})(?![{_D}]|[.,/:][{_D}])")

    def ordinals(self, text: str) -> str:
        def thu(m: re.Match[str]) -> str:
            n = int(m.group(2))
            word = {1: "nhất", 4: "tư"}.get(n) or read_number(n, self.style)
            return f"{m.group(1)} {self.hold(word)}"

        def thang(m: re.Match[str]) -> str:
            n = int(m.group(2))
            if not 1 <= n <= 12:
                return m.group(0)
            return f"{m.group(1)} {self.hold(self.month_word(n))}"

        text = self._THU.sub(thu, text)
        return self._THANG.sub(thang, text)

    # Numbers ------------------------------------------------------------------
    def _number(self, raw: str) -> str:
        if re.fullmatch(rf"[{_D}]{{1,3}}(?:\.[{_D}]{{3}})+(?:,[{_D}]+)?", raw):
            integer, _, fraction = raw.replace(".", "").partition(",")
            if fraction:
                return read_decimal(integer, fraction, self.style)
            return read_number(int(integer), self.style)
        if re.fullmatch(rf"[{_D}]+,[{_D}]+", raw):
            integer, fraction = raw.split(",")
            return read_decimal(integer, fraction, self.style)
        if re.fullmatch(rf"[{_D}]+\.[{_D}]{{1,2}}", raw):
            integer, fraction = raw.split(".")
            return f"{read_number(int(integer), self.style)} chấm {self._plain(fraction)}"
        if re.fullmatch(rf"[{_D}]+", raw):
            return self._plain(raw)
        return " ".join(self._number(p) if p[:1].isdigit() else p for p in re.split(r"([.,])", raw))

    def _plain(self, digits: str) -> str:
        if len(digits) > 15 or (digits.startswith("0") and len(digits) >= 3):
            return read_digits(digits)
        return read_number(int(digits), self.style)

    @functools.cached_property
    def _number_re(self) -> re.Pattern[str]:
        units = sorted(self.table.units, key=len, reverse=True)
        unit_alt = "|".join(re.escape(u) for u in units) or "(?!)"
        return re.compile(
            rf"(?<![{_D}\w])([{_D}]{{1,3}}(?:\.[{_D}]{{3}})+(?:,[{_D}]+)?|[{_D}]+,[{_D}]+|[{_D}]+\.[{_D}]{{1,2}}(?![{_D}])|[{_D}]+)"
            rf"(?:\s?({unit_alt})(?![\w&]))?"
        )

    def numbers(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            spoken = self._number(m.group(1))
            if m.group(2):
                spoken += " " + self.table.units[m.group(2)]
            return self.hold(spoken)

        text = re.sub(rf"(?<=[{_D}])/(?=[A-ZĐ])", " ", text)  # 1588/QĐ-TTg
        return self._number_re.sub(repl, text)

    # Roman numerals -------------------------------------------------------------
    _ROMAN_RE = re.compile(r"(?<![\w&])([IVX]{2,6})(?![\w&])")

    def romans(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            token = m.group(1)
            if token in self.table.abbreviations:
                return token
            value = _roman_value(token)
            return self.hold(read_number(value, self.style)) if value else token

        return self._ROMAN_RE.sub(repl, text)

    # Abbreviations ------------------------------------------------------------
    def abbreviations(self, text: str) -> str:
        table = self.table.abbreviations
        pattern = _abbreviation_pattern(list(table))
        if pattern is None:
            return text

        def expand(value: str, depth: int) -> str:
            if depth > len(table):  # cannot happen after the cycle check; belt and braces
                return value
            return pattern.sub(lambda m: expand(table[m.group(0)], depth + 1), value)

        return pattern.sub(lambda m: self.hold(expand(table[m.group(0)], 1)), text)

    # Symbols --------------------------------------------------------------------
    def symbols(self, text: str) -> str:
        text = re.sub(r"(?m)^[ \t]*[-•*+–—▪►●][ \t]+", "", text)  # bullets
        text = text.replace("…", "...")
        text = re.sub(r"[“”\"«»„]", "", text)
        text = re.sub(r"\s*&\s*", " và ", text)
        text = re.sub(r"(?<=\w)\s*\+\s*(?=\w)", " cộng ", text)
        text = re.sub(r"(?<=\w)\s*=\s*(?=\w)", " bằng ", text)
        text = re.sub(rf"(?<=[\w{_PH}])\s*/\s*(?=[\w{_PH}])", " trên ", text)
        text = re.sub(rf"(?<=[^\W\d_]|[{_PH}])-(?=[^\W\d_]|[{_PH}])", " ", text)
        return text


_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}


def _roman_value(token: str) -> int | None:
    total, prev = 0, 0
    for ch in reversed(token):
        v = _ROMAN_VALUES[ch]
        total = total - v if v < prev else total + v
        prev = max(prev, v)
    # accept only canonical spellings (II, IV, XIV ...), not 'IIV' or 'VX'
    return total if 0 < total < 40 and _to_roman(total) == token else None


def _to_roman(n: int) -> str:
    out = ""
    for value, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out += letters
            n -= value
    return out


def _has_khmer(text: str) -> bool:
    return any("\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff" for ch in text)


# A plausible Vietnamese syllable (tone marks removed): onset, vowel nucleus, coda.
_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
    r"[aăâeêioôơuưy]{1,3}"
    r"(?:ng|nh|ch|[cmnpt])?"
)
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def _strip_tones(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))


def is_vietnamese_syllable(word: str) -> bool:
    return bool(_SYLLABLE.fullmatch(_strip_tones(word.lower())))


_TOKEN = re.compile(r"[^\W\d_]+")


def _unknown_tokens(text: str, table: dict[str, str]) -> list[str]:
    seen: list[str] = []
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if len(token) < 2 or token in table or token in seen or _has_khmer(token):
            continue
        uppers = sum(1 for c in token if c.isupper())
        if uppers < 2 or uppers * 2 < len(token):
            continue
        if token.isupper() and is_vietnamese_syllable(token):
            continue
        seen.append(token)
    return seen


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?=[^\s\d])", r"\1 ", text)
    text = re.sub(r",\s*,", ",", text)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def normalize_for_reading(
    text: str,
    *,
    abbreviations: dict[str, str] | None = None,
    dialect: str = "standard",
) -> ReadingResult:
    """Write out numbers, dates, times, percentages, phone numbers, abbreviations
    and web addresses as they are spoken.

    ``abbreviations`` adds to (and overrides entries of) the maintained
    table, e.g. a unit's local abbreviations; a table with a loop raises
    :class:`AbbreviationCycleError`. ``dialect="south"`` reads "ngàn"/"lẻ"
    instead of "nghìn"/"linh". Unknown ALL-CAPS tokens are kept and listed in
    ``unknown_tokens``.
    """
    if not isinstance(text, str):
        raise SpeechError("Nội dung cần đọc phải là văn bản.", field="text")
    try:
        style = style_for(dialect)
    except ValueError as exc:
        raise SpeechError(
            f"Phương ngữ không hợp lệ: {dialect!r} (dùng 'standard' hoặc 'south').", field="dialect"
        ) from exc
    table = _default_table()
    if abbreviations is not None:
        merged = {**table.abbreviations, **check_abbreviations(abbreviations)}
        table = ReadingTable(check_abbreviations(merged), table.domain_words, table.units)
    return _Normaliser(table, style).run(text)
