"""Other parts add their API paths here (media renders, SMS, kits, KPIs)."""

EXTRA_PATHS: list = []
