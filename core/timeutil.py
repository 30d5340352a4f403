"""Times are stored in UTC and shown in Asia/Ho_Chi_Minh (UTC+7, no DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as local (Asia/Ho_Chi_Minh)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(UTC)


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ)


def fmt_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime("%d/%m/%Y")


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return to_local(value).strftime("%d/%m/%Y %H:%M")


def parse_iso_datetime(text: str) -> datetime:
    """ISO 8601; a time without offset means Asia/Ho_Chi_Minh. Raises ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty")
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if not 1970 <= value.year <= 2200:  # also keeps the offset arithmetic in range
        raise ValueError("year out of range")
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("out of range") from None


def parse_local_date(text: str) -> date:
    """A date as typed by a person: dd/mm/yyyy or YYYY-MM-DD. Raises ValueError."""
    text = (text or "").strip()
    if "/" in text:
        return datetime.strptime(text, "%d/%m/%Y").date()
    return date.fromisoformat(text)
