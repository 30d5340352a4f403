"""The retry policy: a frozen, validated value built from ``LANTOA_RETRY_*``.

Backoff for attempt ``n`` (1-based, the attempt that just failed) is
``min(max, base * 2**(n-1))`` spread by +/- ``jitter`` (a fraction), and never
shorter than the provider's Retry-After when it gave one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass


class PolicyError(ValueError):
    """Invalid retry settings; ``fields`` maps config key -> Vietnamese message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base: float = 30.0
    max: float = 3600.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        errors: dict[str, str] = {}
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or not (
            1 <= self.max_attempts <= 100
        ):
            errors["LANTOA_RETRY_MAX_ATTEMPTS"] = "Số lần gửi tối đa phải là số nguyên từ 1 đến 100."
        if not _finite(self.base) or self.base <= 0:
            errors["LANTOA_RETRY_BASE_SECONDS"] = "Thời gian chờ cơ sở phải là số dương (giây)."
        if not _finite(self.max) or self.max <= 0:
            errors["LANTOA_RETRY_MAX_SECONDS"] = "Thời gian chờ tối đa phải là số dương (giây)."
        elif _finite(self.base) and self.base > 0 and self.max < self.base:
            errors["LANTOA_RETRY_MAX_SECONDS"] = (
                "Thời gian chờ tối đa không được nhỏ hơn thời gian chờ cơ sở."
            )
        if not _finite(self.jitter) or not (0.0 <= self.jitter < 1.0):
            errors["LANTOA_RETRY_JITTER"] = "Độ dao động phải là số từ 0 đến dưới 1."
        if errors:
            raise PolicyError(errors)

    @classmethod
    def from_config(cls, config: Mapping) -> RetryPolicy:
        """Build from app.config (values are strings from the environment)."""
        errors: dict[str, str] = {}

        def read(key: str, conv, default):
            raw = config.get(key, default)
            try:
                if isinstance(raw, bool):
                    raise ValueError
                return conv(str(raw).strip())
            except (TypeError, ValueError):
                errors[key] = f"Giá trị '{raw}' không hợp lệ."
                return default

        max_attempts = read("LANTOA_RETRY_MAX_ATTEMPTS", int, cls.max_attempts)
        base = read("LANTOA_RETRY_BASE_SECONDS", float, cls.base)
        maximum = read("LANTOA_RETRY_MAX_SECONDS", float, cls.max)
        jitter = read("LANTOA_RETRY_JITTER", float, cls.jitter)
        if errors:
            raise PolicyError(errors)
        return cls(max_attempts=max_attempts, base=base, max=maximum, jitter=jitter)

    def backoff(self, attempt: int, retry_after: float | None = None,
                rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        attempt = max(1, int(attempt))
        raw = min(self.max, self.base * (2.0 ** min(attempt - 1, 60)))
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        delay = raw * (1.0 + spread)
        if retry_after is not None and retry_after > delay:
            delay = float(retry_after)
        return delay

    def exhausted(self, attempts: int, max_attempts: int | None = None) -> bool:
        """True when ``attempts`` spent attempts leave no retry."""
        return attempts >= (max_attempts or self.max_attempts)


def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x == x and abs(x) != float("inf")
