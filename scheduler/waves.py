"""Wave senders: channels whose send is a long wave (SMS to a recipient list).

A wave sender registered for a channel replaces ``adapter.deliver(message)``
in the dispatcher. It is called as ``fn(app, delivery, adapter, renew_lease)``
and returns a ``channels.SendResult`` that the dispatcher applies like any
other. ``renew_lease()`` extends the delivery's lease and returns False when
the lease was lost (the sender should then stop). The dispatcher also renews
the lease from a heartbeat thread while a wave runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

WaveSender = Callable[[Any, Any, Any, Callable[[], bool]], Any]

_senders: dict[str, WaveSender] = {}
_lock = threading.Lock()


def register_wave_sender(channel: str, fn: WaveSender) -> None:
    """Send deliveries of ``channel`` through ``fn`` (replaces any earlier one)."""
    if not channel or not callable(fn):
        raise ValueError("register_wave_sender needs a channel name and a callable")
    with _lock:
        _senders[channel] = fn


def unregister_wave_sender(channel: str) -> None:
    with _lock:
        _senders.pop(channel, None)


def wave_sender_for(channel: str) -> WaveSender | None:
    with _lock:
        return _senders.get(channel)
