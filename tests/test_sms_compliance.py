"""Compliance: sending window, labels, consent, 24 h cap, refusal keywords."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from scheduler.sms.compliance import (
    PolicyError,
    SmsPolicy,
    apply_label,
    cap_reached,
    consent_problem,
    is_refusal,
    next_allowed_time,
)

VN = timezone(timedelta(hours=7))


def vn(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=VN).astimezone(UTC)


@pytest.mark.parametrize(
    ("local_now", "expected_local"),
    [
        ((2026, 10, 10, 7, 0), (2026, 10, 10, 7, 0)),  # window opens: now
        ((2026, 10, 10, 12, 30), (2026, 10, 10, 12, 30)),
        ((2026, 10, 10, 21, 59), (2026, 10, 10, 21, 59)),
        ((2026, 10, 10, 22, 0), (2026, 10, 11, 7, 0)),  # window closed: tomorrow 07:00
        ((2026, 10, 10, 23, 45), (2026, 10, 11, 7, 0)),
        ((2026, 10, 11, 0, 5), (2026, 10, 11, 7, 0)),  # after midnight: today 07:00
        ((2026, 10, 11, 6, 59), (2026, 10, 11, 7, 0)),
        ((2026, 12, 31, 22, 30), (2027, 1, 1, 7, 0)),  # across the year
    ],
)
def test_next_allowed_time_default_window(local_now, expected_local):
    now = vn(*local_now)
    got = next_allowed_time(now, SmsPolicy())
    assert got == vn(*expected_local)
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_window_wrapping_midnight_and_other_zone():
    night = SmsPolicy(window_start=time(20), window_end=time(2))
    assert next_allowed_time(vn(2026, 1, 1, 23), night) == vn(2026, 1, 1, 23)
    assert next_allowed_time(vn(2026, 1, 2, 1), night) == vn(2026, 1, 2, 1)
    assert next_allowed_time(vn(2026, 1, 2, 3), night) == vn(2026, 1, 2, 20)
    utc_policy = SmsPolicy(tz="UTC")
    assert next_allowed_time(datetime(2026, 1, 1, 23, tzinfo=UTC), utc_policy) == datetime(
        2026, 1, 2, 7, tzinfo=UTC
    )


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        next_allowed_time(datetime(2026, 1, 1, 12), SmsPolicy())


def test_public_service_defaults():
    p = SmsPolicy()
    assert p.message_class == "public_service" and p.max_per_24h == 3
    assert not p.needs_consent and not p.labelled
    assert apply_label("Thông báo", p) == "Thông báo"
    assert consent_problem(p, None) is None


def test_advertising_label_and_consent():
    ad = SmsPolicy(message_class="advertising")
    assert ad.needs_consent and ad.labelled
    assert apply_label("Khuyến mãi", ad) == "[QC] Khuyến mãi"
    assert apply_label("[qc] Khuyến mãi", ad) == "[qc] Khuyến mãi"  # once only
    assert "consent_source" in consent_problem(ad, "  ")
    assert consent_problem(ad, "Đăng ký tại bộ phận một cửa 01/2026") is None
    forced = SmsPolicy(add_label=True, label="[AD]", require_consent=True)
    assert apply_label("Hi", forced) == "[AD] Hi" and forced.needs_consent


def test_cap():
    p = SmsPolicy()
    assert not cap_reached(2, p) and cap_reached(3, p)
    assert not cap_reached(100, SmsPolicy(max_per_24h=None))


def test_policy_round_trip_and_errors():
    p = SmsPolicy(message_class="advertising", window_start=time(8), max_per_24h=1)
    d = p.to_dict()
    assert d["window_start"] == "08:00" and d["window_end"] == "22:00"
    assert SmsPolicy.from_dict(d) == p
    with pytest.raises(PolicyError) as exc:
        SmsPolicy.from_dict({"message_class": "spam", "window_start": "7h", "foo": 1})
    assert "foo" in exc.value.fields
    with pytest.raises(PolicyError) as exc:
        SmsPolicy.from_dict({"message_class": "spam", "window_start": "7h"})
    assert "window_start" in exc.value.fields
    with pytest.raises(PolicyError) as exc:
        SmsPolicy(message_class="spam", tz="Mars/Base", max_per_24h=0)
    assert set(exc.value.fields) == {"message_class", "tz", "max_per_24h"}
    with pytest.raises(PolicyError):
        SmsPolicy(window_start=time(7), window_end=time(7))


@pytest.mark.parametrize(
    ("reply", "refused"),
    [
        ("TC", True),
        ("tc", True),
        (" Tc. ", True),
        ("HUY", True),
        ("Hủy", True),
        ("huỷ", True),
        ("HUY DK", True),
        ("STOP", True),
        ("stop!", True),
        ("Từ chối", True),
        ("TU CHOI nhan tin", True),
        ("từ-chối", True),
        ("TCT", False),
        ("Cảm ơn", False),
        ("", False),
        ("Toi khong muon TC", False),
        ("HUYEN", False),
    ],
)
def test_is_refusal(reply, refused):
    assert is_refusal(reply) is refused


def test_is_refusal_custom_keywords():
    assert is_refusal("Dừng lại", keywords=("DUNG",))
    assert not is_refusal("TC", keywords=("DUNG",))
