"""Vietnamese numbers: E.164, 2018 conversion, carriers, reasons; the fast
path gives exactly the answers of the phonenumbers reference."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from scheduler.sms.phones import (
    CARRIER_CODES,
    OLD_PREFIXES,
    R_BLANK,
    R_FIXED,
    R_FORMULA,
    R_INVALID,
    R_LETTERS,
    R_NOT_MOBILE,
    R_OLD_UNKNOWN,
    PhoneNormalizer,
    normalize_phone,
)

VALID = [
    ("0912345678", "+84912345678", "vinaphone"),
    ("0912 345 678", "+84912345678", "vinaphone"),
    ("0912.345.678", "+84912345678", "vinaphone"),
    ("0912-345-678", "+84912345678", "vinaphone"),
    ("+84 912 345 678", "+84912345678", "vinaphone"),
    ("84912345678", "+84912345678", "vinaphone"),
    ("912345678", "+84912345678", "vinaphone"),  # Excel dropped the leading 0
    ("(+84) 912-345-678", "+84912345678", "vinaphone"),
    ("+84 (0) 912 345 678", "+84912345678", "vinaphone"),
    ("０９１２３４５６７８", "+84912345678", "vinaphone"),  # full-width digits
    (912345678, "+84912345678", "vinaphone"),  # an XLSX number cell
    (912345678.0, "+84912345678", "vinaphone"),
    ("0961234567", "+84961234567", "viettel"),
    ("0861234567", "+84861234567", "viettel"),
    ("0321234567", "+84321234567", "viettel"),
    ("0901234567", "+84901234567", "mobifone"),
    ("0701234567", "+84701234567", "mobifone"),
    ("0896123456", "+84896123456", "mobifone"),
    ("0921234567", "+84921234567", "vietnamobile"),
    ("0561234567", "+84561234567", "vietnamobile"),
    ("0591234567", "+84591234567", "gmobile"),
    ("0993123456", "+84993123456", "gmobile"),
    ("0991234567", "+84991234567", "gmobile"),  # phonenumbers names none: SMS.md table
    ("0998123456", "+84998123456", "other"),  # valid, carrier not a telecom partner
    ("0871234567", "+84871234567", "vinaphone"),  # iTel rides on VinaPhone
]


@pytest.mark.parametrize(("raw", "e164", "carrier"), VALID)
def test_valid_numbers(raw, e164, carrier):
    r = normalize_phone(raw)
    assert (r.e164, r.carrier, r.converted, r.reason) == (e164, carrier, False, None)
    assert r.ok and carrier in CARRIER_CODES


@pytest.mark.parametrize(
    ("old", "new", "carrier"),
    [
        ("0120 123 4567", "+84701234567", "mobifone"),
        ("01211234567", "+84791234567", "mobifone"),
        ("01221234567", "+84771234567", "mobifone"),
        ("01261234567", "+84761234567", "mobifone"),
        ("01281234567", "+84781234567", "mobifone"),
        ("01231234567", "+84831234567", "vinaphone"),
        ("01241234567", "+84841234567", "vinaphone"),
        ("01251234567", "+84851234567", "vinaphone"),
        ("01271234567", "+84811234567", "vinaphone"),
        ("01291234567", "+84821234567", "vinaphone"),
        ("01621234567", "+84321234567", "viettel"),
        ("+84 169 123 4567", "+84391234567", "viettel"),
        ("841861234567", "+84561234567", "vietnamobile"),
        ("01881234567", "+84581234567", "vietnamobile"),
        ("01991234567", "+84591234567", "gmobile"),
    ],
)
def test_old_eleven_digit_numbers_are_converted(old, new, carrier):
    r = normalize_phone(old)
    assert (r.e164, r.carrier, r.converted) == (new, carrier, True)


def test_conversion_table_is_complete():
    assert len(OLD_PREFIXES) == 5 + 5 + 8 + 2 + 1
    for old, new in OLD_PREFIXES.items():
        assert normalize_phone(f"0{old}1234567").e164 == f"+84{new}1234567"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, R_BLANK),
        ("", R_BLANK),
        ("   ", R_BLANK),
        ('=HYPERLINK("http://x","0912345678")', R_FORMULA),
        ("@SUM(A1)", R_FORMULA),
        ("0912abc678", R_LETTERS),
        ("0912345678 ext 12", R_LETTERS),
        ("0891234567", R_INVALID),  # phonenumbers: only 0896-0899 in 089
        ("0551234567", R_INVALID),
        ("091234567", R_INVALID),  # too short
        ("09123456789", R_INVALID),  # too long
        ("02993 123 456", R_FIXED),  # Sóc Trăng landline
        ("1800 1234", R_NOT_MOBILE),  # toll-free
        ("01111234567", R_OLD_UNKNOWN),
    ],
)
def test_invalid_numbers_have_reasons(raw, reason):
    r = normalize_phone(raw)
    assert r.e164 is None and r.carrier is None and not r.ok
    assert r.reason == reason


def test_foreign_numbers_name_the_country_code():
    r = normalize_phone("+1 415 555 2671")
    assert r.e164 is None and "+1" in r.reason
    assert "+855" in normalize_phone("+855 12 345 678").reason


def test_prefix_verdicts_are_constant_within_four_digits():
    """The fast path caches phonenumbers' verdict per 4-digit national prefix;
    that is sound only if no VN pattern or carrier prefix looks beyond the
    first 4 digits of a 9-digit national number. Check it on the installed
    metadata: every 4-digit prefix, each possible 5th digit, random tails."""
    rng = random.Random(4)
    for prefix in range(1000, 10000):
        expected = normalize_phone(f"+84{prefix}00000")
        expected = (expected.carrier, expected.reason)
        for fifth in "0123456789":
            r = normalize_phone(f"+84{prefix}{fifth}{rng.randrange(10000):04d}")
            assert (r.carrier, r.reason) == expected, (prefix, fifth, r)


def _random_inputs(n: int, seed: int = 6):
    rng = random.Random(seed)
    firsts = "1234567899"
    seps = ["", " ", ".", "-", "  ", "\t"]

    def digits(k):
        return "".join(rng.choice("0123456789") for _ in range(k))

    def spaced(s):
        sep = rng.choice(seps)
        if not sep:
            return s
        cut = sorted(rng.sample(range(1, len(s)), k=min(3, len(s) - 1)))
        out, last = [], 0
        for c in cut:
            out.append(s[last:c])
            last = c
        out.append(s[last:])
        return sep.join(out)

    old = list(OLD_PREFIXES)
    for _ in range(n):
        kind = rng.random()
        if kind < 0.55:  # 9-digit national numbers, every prefix
            nat = rng.choice(firsts) + digits(8)
        elif kind < 0.65:  # old 11-digit numbers (known and unknown prefixes)
            nat = (rng.choice(old) if rng.random() < 0.8 else "1" + digits(2)) + digits(7)
        else:  # odd lengths and leading zeros
            nat = digits(rng.randint(1, 13))
        form = rng.random()
        if form < 0.4:
            raw = "0" + nat
        elif form < 0.55:
            raw = "+84" + nat
        elif form < 0.7:
            raw = "84" + nat
        elif form < 0.8:
            raw = nat
        elif form < 0.85:
            raw = "+84 0" + nat
        elif form < 0.88:
            raw = "(+84) " + nat
        elif form < 0.9:
            raw = "+" + rng.choice(["1", "855", "86", "8"]) + nat
        elif form < 0.92:
            raw = "0" + nat[:4] + rng.choice("abcxX") + nat[4:]
        elif form < 0.94:
            raw = "00" + nat
        elif form < 0.96:
            raw = rng.choice(["=", "@", "'", "#", "*"]) + "0" + nat
        else:
            raw = "0" + nat + rng.choice([".", " ", "-", ";0912345678", "/1"])
        yield spaced(raw) if rng.random() < 0.5 else raw


def test_fast_path_is_identical_to_reference_on_a_large_sample():
    fast = PhoneNormalizer()
    n = 0
    for raw in _random_inputs(40_000):
        assert fast(raw) == normalize_phone(raw), raw
        n += 1
    # the common spellings really take the fast path
    assert fast.fast > n * 0.4, (fast.fast, fast.slow)
    assert fast.slow > 1000


def test_fast_path_edge_cases():
    fast = PhoneNormalizer()
    edge = [
        "0912345678",
        " 0912345678 ",
        "+840912345678",
        "840912345678",
        "849123456",
        "84 912 345 678",
        "8491234567",
        "841213456789",
        "1213456789",
        "0121 345 6789",
        "+84121345678",
        "+841213456",
        "0",
        "+",
        "+84",
        "84",
        "-0912345678",
        "0912345678.",
        "091 234 5678 9",
        "0140123456",
        "0160123456",
        "0121012345",
        "0180012345",
        "0672123456",
        "0912\u00a0345\u00a0678",
        "٠٩١٢٣٤٥٦٧٨",
        "0299 3 123 456",
        "+84 299 3123456",
        "0912345",
        "+84 912345",
        "02993123456",
        "0299312345",
        "1800 1234",
        "0 1800 1234",
        "+84 1900 1234",
    ]
    for raw in edge:
        assert fast(raw) == normalize_phone(raw), raw
    assert phonenumbers.__version__  # the full package, not phonenumberslite
    assert phonenumbers.carrier.name_for_number(phonenumbers.parse("+84912345678"), "en")


def test_common_spellings_take_the_fast_path():
    fast = PhoneNormalizer()
    for raw in (
        "0912345678",
        "+84 987 654 321",
        "84901234567",
        "0162 123 4567",
        "912345678",
        "0912.345.678",
    ):
        assert fast(raw).ok
    assert (fast.fast, fast.slow) == (6, 0)
    assert fast("(+84) 912345678").ok  # valid, through the slow path
    assert fast.slow == 1
