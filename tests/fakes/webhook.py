"""A configurable loopback webhook receiver (for the webhook and loudspeaker
adapters and for the scheduler's fault tests).

It speaks the contract of ``channels.webhook``: ``POST`` a JSON object with
``delivery_id``, ``idempotency_key``, ``campaign_id``, ``text``, ``title`` and
``media`` (list of URLs), header ``Idempotency-Key`` equal to the body's
``idempotency_key``. It counts requests per idempotency key, de-duplicates
them (the same key answers the first id again), and injects faults:

- ``fail_rate``: that share of requests answers HTTP 500 (after reading them);
- ``drop_rate``: that share has its connection closed before the request is
  read (the client sees a connection error; nothing was processed);
- ``rate_limit_rate``: that share answers 429 with ``Retry-After``;
- ``hang_rate``: that share is read and counted, then never answered.

Faults can also be scripted: ``receiver.script("drop", "500", "ok")`` applies
to the next requests in order before the random rates. ``seed`` makes the
random draws repeatable.

Run ``python -m tests.fakes.webhook`` for a throughput benchmark.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from tests.fakes import FakeServer, Received, Reply

FAULTS = ("ok", "500", "drop", "429", "hang")
REQUIRED_KEYS = ("delivery_id", "idempotency_key", "campaign_id", "text", "title", "media")
LOUDSPEAKER_KEYS = ("unit_code", "title", "text", "audio_url", "delivery_id")


class WebhookReceiver(FakeServer):
    def __init__(
        self,
        *,
        fail_rate: float = 0.0,
        drop_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        hang_rate: float = 0.0,
        retry_after: str = "1",
        seed: int | None = 0,
        dedupe: bool = True,
        hang_seconds: float = 30.0,
        path: str = "/hook",
        strict: bool = True,
        required_keys: tuple[str, ...] = REQUIRED_KEYS,
    ):
        super().__init__()
        self.fail_rate = fail_rate
        self.drop_rate = drop_rate
        self.rate_limit_rate = rate_limit_rate
        self.hang_rate = hang_rate
        self.retry_after = retry_after
        self.dedupe = dedupe
        self.hang_seconds = hang_seconds
        self.path = path
        self.strict = strict
        self.required_keys = required_keys
        self._rng = random.Random(seed)
        self._script: deque[str] = deque()
        self._local = threading.local()
        #: requests read, per idempotency key (dropped ones are not read)
        self.counts: Counter[str] = Counter()
        #: idempotency key -> the id answered with its first 2xx
        self.delivered: dict[str, str] = {}
        #: how many answers of each kind were given (ok, duplicate, 500, 429, hang, drop, rejected)
        self.tally: Counter[str] = Counter()
        self._next_id = 0

    @property
    def hook_url(self) -> str:
        return self.url + self.path

    def script(self, *faults: str) -> None:
        for f in faults:
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; one of {FAULTS}")
        with self.lock:
            self._script.extend(faults)

    def _draw(self) -> str:
        with self.lock:
            if self._script:
                return self._script.popleft()
            x = self._rng.random()
        for fault, rate in (
            ("drop", self.drop_rate),
            ("500", self.fail_rate),
            ("429", self.rate_limit_rate),
            ("hang", self.hang_rate),
        ):
            if x < rate:
                return fault
            x -= rate
        return "ok"

    def before_read(self, handler: Any) -> str | None:
        fault = self._draw()
        self._local.fault = fault
        if fault == "drop":
            with self.lock:
                self.tally["drop"] += 1
            return "drop"
        return None

    def _reject(self, message: str) -> Reply:
        with self.lock:
            self.tally["rejected"] += 1
        return Reply(400, {"error": message})

    def handle(self, request: Received) -> Reply:
        fault = getattr(self._local, "fault", "ok")
        if request.method != "POST" or request.path != self.path:
            return self._reject(f"expected POST {self.path}")
        body = request.json
        if not isinstance(body, Mapping):
            return self._reject("body must be a JSON object (Content-Type: application/json)")
        key = request.header("Idempotency-Key")
        if not key:
            return self._reject("missing Idempotency-Key header")
        if self.strict:
            missing = [k for k in self.required_keys if k not in body]
            if missing:
                return self._reject(f"missing keys: {', '.join(missing)}")
            if "idempotency_key" in self.required_keys and body.get("idempotency_key") != key:
                return self._reject("Idempotency-Key header differs from body idempotency_key")
            media = body.get("media", []) if "media" in self.required_keys else []
            if not isinstance(media, list) or not all(isinstance(u, str) for u in media):
                return self._reject("media must be a list of URLs")
        with self.lock:
            self.counts[key] += 1
        if fault == "hang":
            with self.lock:
                self.tally["hang"] += 1
            return Reply(hang=True)
        if fault == "500":
            with self.lock:
                self.tally["500"] += 1
            return Reply(500, {"error": "injected failure"})
        if fault == "429":
            with self.lock:
                self.tally["429"] += 1
            return Reply(429, {"error": "slow down"}, headers={"Retry-After": self.retry_after})
        with self.lock:
            if self.dedupe and key in self.delivered:
                self.tally["duplicate"] += 1
                return Reply(200, {"id": self.delivered[key], "duplicate": True})
            self._next_id += 1
            ext = f"wh-{self._next_id}"
            self.delivered.setdefault(key, ext)
            self.tally["ok"] += 1
        return Reply(200, {"id": ext, "duplicate": False})


def start_webhook(**kwargs: Any) -> WebhookReceiver:
    """Start a receiver; ``.hook_url`` is where to POST, ``.stop()`` ends it."""
    return WebhookReceiver(**kwargs).start()  # type: ignore[return-value]


# -- benchmark -----------------------------------------------------------------------


def _bench(n: int = 4000, clients: int = 8) -> tuple[float, float]:
    """Throughput of the receiver (ThreadingHTTPServer) against a baseline
    that serves one connection at a time (plain HTTPServer), same handler."""
    import http.client
    import json
    import time
    from http.server import HTTPServer

    from tests.fakes import _Handler

    def run(receiver: WebhookReceiver) -> float:
        per = n // clients
        body_tpl = {
            "delivery_id": 1,
            "campaign_id": 1,
            "text": "Dịch vụ công trực tuyến",
            "title": "10/10",
            "media": [],
        }

        def client(c: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
            for i in range(per):
                key = f"k-{c}-{i}"
                data = json.dumps({**body_tpl, "idempotency_key": key}).encode()
                conn.request(
                    "POST",
                    "/hook",
                    data,
                    {"Content-Type": "application/json", "Idempotency-Key": key},
                )
                resp = conn.getresponse()
                resp.read()
            conn.close()

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        assert sum(receiver.counts.values()) == per * clients
        return per * clients / elapsed

    class _Serial(HTTPServer):
        request_queue_size = 1024

    threaded = start_webhook()
    try:
        rate_threaded = run(threaded)
    finally:
        threaded.stop()

    baseline = WebhookReceiver()
    baseline._httpd = _Serial(("127.0.0.1", 0), _Handler)  # type: ignore[assignment]
    baseline._httpd.fake = baseline  # type: ignore[union-attr]
    baseline._thread = threading.Thread(target=baseline._httpd.serve_forever, daemon=True)
    baseline._thread.start()
    try:
        # one connection at a time: the clients are served one after another
        rate_serial = run(baseline)
    finally:
        baseline.stop()
    rate_adapter, rate_raw = _bench_adapter(n // 2, clients // 2 or 1)
    print(f"requests per run: {n}, keep-alive clients: {clients}")
    print(f"baseline HTTPServer (serial, {clients} clients): {rate_serial:8.0f} req/s")
    print(f"WebhookReceiver (threading, {clients} clients): {rate_threaded:8.0f} req/s")
    print(f"raw requests.Session POST ({clients // 2 or 1} threads):   {rate_raw:8.0f} req/s")
    print(f"WebhookAdapter.deliver ({clients // 2 or 1} threads):       {rate_adapter:8.0f} req/s")
    print(
        f"webhook: receiver {rate_threaded:.0f} req/s (serial baseline {rate_serial:.0f}); "
        f"adapter {rate_adapter:.0f} req/s vs raw requests {rate_raw:.0f} req/s "
        f"({rate_adapter / rate_raw:.2f}x)"
    )
    return rate_threaded, rate_serial


def _bench_adapter(n: int, threads: int) -> tuple[float, float]:
    """WebhookAdapter.deliver() against bare requests.Session.post, same receiver."""
    import json
    import time

    import requests

    from channels.base import Message
    from channels.webhook import WebhookAdapter

    receiver = start_webhook()
    try:

        def timed(work) -> float:
            ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return n / (time.perf_counter() - t0)

        def raw(t: int) -> None:
            session = requests.Session()
            for i in range(n // threads):
                key = f"raw-{t}-{i}-{time.perf_counter_ns()}"
                body = {
                    "delivery_id": i,
                    "idempotency_key": key,
                    "campaign_id": 1,
                    "text": "Dịch vụ công",
                    "title": None,
                    "media": [],
                }
                session.post(
                    receiver.hook_url,
                    data=json.dumps(body).encode(),
                    timeout=(5, 30),
                    headers={"Content-Type": "application/json", "Idempotency-Key": key},
                )

        def adapter(t: int) -> None:
            a = WebhookAdapter(
                {"url": receiver.hook_url, "max_per_second": 1e6}, session=requests.Session()
            )
            for i in range(n // threads):
                key = f"ad-{t}-{i}-{time.perf_counter_ns()}"
                result = a.deliver(Message(key, "Dịch vụ công", delivery_id=i, campaign_id=1))
                assert result.external_id

        # interleaved rounds, best of three: the machine is shared
        rate_raw = rate_adapter = 0.0
        for _ in range(3):
            rate_raw = max(rate_raw, timed(raw))
            rate_adapter = max(rate_adapter, timed(adapter))
    finally:
        receiver.stop()
    return rate_adapter, rate_raw


if __name__ == "__main__":
    _bench()
