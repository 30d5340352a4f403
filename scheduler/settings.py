"""Scheduler settings that ``core/config.py`` does not list (yet).

``app.config`` wins; otherwise the ``LANTOA_*`` environment variable; otherwise
the default. (``core.config.from_env`` only copies the keys it knows.)
"""

from __future__ import annotations

import os
from typing import Any

#: key -> default
EXTRA = {
    "LANTOA_SEND_TIMEOUT": "5,30",
    "LANTOA_JOB_THREADS": "2",
    "LANTOA_CELERY_QUEUE": "lantoa",
    "LANTOA_CELERY_INFLIGHT": "2000",
    "LANTOA_CELERY_ACCOUNT_INFLIGHT": "64",
}


def setting(app, key: str, default: Any = None) -> Any:
    value = app.config.get(key)
    if value in (None, ""):
        value = os.environ.get(key)
    if value in (None, ""):
        value = EXTRA.get(key, default) if default is None else default
    return value
