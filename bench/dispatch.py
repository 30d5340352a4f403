"""Dispatch benchmark: throughput and schedule lag of the scheduler.

(a) Throughput: N deliveries (default 10,000) all due at once, sent to a
    loopback webhook receiver running in its own process, for inline/SQLite,
    inline/PostgreSQL and celery (2 workers, Redis, PostgreSQL), beside a
    baseline in the same run: the same N POSTs from a plain thread pool with
    ``requests`` (the receiver's limit).
(b) Schedule lag: N deliveries due at an offered rate of 400/s, sent by the
    scheduler process's tickers (inline/PostgreSQL); lag = arrival at the
    receiver - due time, p50/p99.

Goals on a 2-core machine: inline/PostgreSQL >= 500/s and >= 50 % of the
baseline; p99 lag <= 2 s at 400/s.

Run: ``.venv/bin/python bench/dispatch.py [--n 10000] [--skip-celery]``.
Needs PostgreSQL (and Redis for celery) on 127.0.0.1. The webhook channel
paces 20 messages/s per account, so the deliveries are spread over 100
accounts (one receiver; distinct URLs).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LANTOA_SECRET_KEY", "bench-secret-key-not-for-production")

ACCOUNTS = 100
THREADS = 16


# -- the receiver, in its own process -----------------------------------------------------


def serve(port_file: str, out_file: str) -> None:
    from tests.fakes import Received, Reply
    from tests.fakes.webhook import WebhookReceiver

    class Recording(WebhookReceiver):
        def __init__(self):
            super().__init__()
            self.first: dict[str, float] = {}

        def handle(self, request: Received) -> Reply:
            t = time.time()
            reply = super().handle(request)
            key = request.header("Idempotency-Key") or ""
            with self.lock:
                self.first.setdefault(key, t)
            return reply

        def dump(self) -> dict:
            with self.lock:
                return {"first": dict(self.first), "counts": dict(self.counts)}

    r = Recording().start()
    done = threading.Event()

    def on_term(*_a):
        done.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, lambda *_a: Path(out_file).write_text(json.dumps(r.dump())))
    Path(port_file).write_text(str(r.port))
    done.wait()
    Path(out_file).write_text(json.dumps(r.dump()))
    r.stop()


class ReceiverProcess:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.port_file = tmp / f"port-{uuid.uuid4().hex[:6]}"
        self.out_file = tmp / f"recv-{uuid.uuid4().hex[:6]}.json"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port_file),
                                      str(self.out_file)], cwd=ROOT)
        for _ in range(200):
            if self.port_file.exists() and self.port_file.read_text():
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(self.port_file.read_text())}/hook"

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        return json.loads(self.out_file.read_text())


# -- set-up helpers ---------------------------------------------------------------------------


def pg_database() -> tuple[str, callable]:
    from tests.conftest import create_pg_database

    return create_pg_database()


def fresh_app(db_url: str, tmp: Path, **extra):
    from tests.conftest import make_app

    inst = tmp / uuid.uuid4().hex[:6]
    inst.mkdir()
    return make_app(db_url, inst, LANTOA_SEND_THREADS=str(THREADS), **extra)


def seed(app, url: str, n: int, *, start: datetime, spacing: float = 0.0) -> None:
    from tests.scheduler_helpers import bulk_deliveries, make_accounts

    accounts = make_accounts(app, url, ACCOUNTS)
    bulk_deliveries(app, accounts, n, scheduled_at=start, spacing=spacing, tag=uuid.uuid4().hex)


def check(app, n: int, recv: dict) -> str:
    from tests.scheduler_helpers import status_counts

    counts = status_counts(app)
    dups = sum(1 for c in recv["counts"].values() if c > 1)
    ok = counts.get("sent", 0) == n and dups == 0
    return ("ok" if ok else f"PROBLEM {dict(counts)}") + f", duplicates {dups}"


# -- (a) throughput -------------------------------------------------------------------------------


def baseline(n: int, tmp: Path) -> float:
    import requests

    recv = ReceiverProcess(tmp)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=64, max_retries=0)
    session.mount("http://", adapter)

    def post(i: int) -> None:
        key = f"baseline-{i}"
        body = {"delivery_id": i, "idempotency_key": key, "campaign_id": None,
                "text": f"Dịch vụ công trực tuyến #{i}", "title": None, "media": []}
        r = session.post(recv.url, data=json.dumps(body, ensure_ascii=False).encode(),
                         headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key},
                         timeout=(5, 30))
        r.raise_for_status()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(post, range(n)))
    elapsed = time.perf_counter() - t0
    recv.stop()
    return n / elapsed


def inline_throughput(db_url: str, n: int, tmp: Path) -> tuple[float, str]:
    from scheduler.runner import dispatch_due

    recv = ReceiverProcess(tmp)
    app = fresh_app(db_url, tmp)
    seed(app, recv.url, n, start=datetime.now(UTC) - timedelta(seconds=1))
    t0 = time.perf_counter()
    dispatch_due(app)
    elapsed = time.perf_counter() - t0
    result = check(app, n, recv.stop())
    from core.db import get_engine

    get_engine(app).dispose()
    return n / elapsed, result


def celery_throughput(pg_url: str, n: int, tmp: Path, workers: int = 2) -> tuple[float, str]:
    from scheduler.runner import dispatch_due
    from tests.scheduler_helpers import celery_cmd, flask_env, spawn, stop, wait_until

    queue = f"lantoa-bench-{uuid.uuid4().hex[:8]}"
    broker = "redis://127.0.0.1:6379/0"
    recv = ReceiverProcess(tmp)
    app = fresh_app(pg_url, tmp, LANTOA_EXECUTOR="celery", LANTOA_BROKER_URL=broker,
                    LANTOA_CELERY_QUEUE=queue)
    env = flask_env(pg_url, tmp, LANTOA_BROKER_URL=broker, LANTOA_CELERY_QUEUE=queue)
    logs = [tmp / f"bench-worker{i}-{queue}.log" for i in range(workers)]
    procs = [spawn(celery_cmd("worker", "--pool", "threads", "--concurrency", str(THREADS), "-Q", queue,
                              "-n", f"b{i}-{queue}@%h", "--without-gossip", "--without-mingle",
                              "--loglevel", "INFO"), env, logs[i]) for i in range(workers)]
    try:
        if not wait_until(lambda: all("ready." in p.read_text(errors="replace") for p in logs), 60):
            raise RuntimeError("celery workers not ready")
        seed(app, recv.url, n, start=datetime.now(UTC) - timedelta(seconds=1))
        t0 = time.perf_counter()
        dispatch_due(app, wait_timeout=600)
        elapsed = time.perf_counter() - t0
    finally:
        for p in procs:
            stop(p)
    result = check(app, n, recv.stop())
    from core.db import get_engine

    get_engine(app).dispose()
    return n / elapsed, result


# -- (b) schedule lag ---------------------------------------------------------------------------


def schedule_lag(db_url: str, n: int, tmp: Path, rate: float = 400.0) -> tuple[float, float, float, str]:
    from scheduler.runner import SchedulerProcess

    recv = ReceiverProcess(tmp)
    app = fresh_app(db_url, tmp)
    start = datetime.now(UTC) + timedelta(seconds=3)
    seed(app, recv.url, n, start=start, spacing=1.0 / rate)
    from sqlalchemy import select

    from core.db import get_engine
    from scheduler.models import Delivery

    d = Delivery.__table__
    with get_engine(app).connect() as conn:
        due = {k: at.timestamp() for k, at in conn.execute(select(d.c.idempotency_key, d.c.scheduled_at))}
    proc = SchedulerProcess(app)
    proc.start()
    try:
        from tests.scheduler_helpers import status_counts, wait_until

        wait_until(lambda: status_counts(app).get("sent", 0) >= n, n / rate + 120, 0.5)
    finally:
        proc.stop()
    recv_data = recv.stop()
    result = check(app, n, recv_data)
    lags = sorted(recv_data["first"][k] - due[k] for k in due if k in recv_data["first"])
    get_engine(app).dispose()
    p50 = statistics.median(lags)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    return p50, p99, lags[-1], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--lag-n", type=int, default=10_000)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    import logging

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="lantoa-bench-"))
    n = args.n
    load = os.getloadavg()[0]
    print(f"dispatch benchmark: {n} deliveries, {ACCOUNTS} webhook accounts, {THREADS} send threads, "
          f"receiver in its own process, {os.cpu_count()} CPUs, load average {load:.1f} at start")
    base = baseline(n, tmp)
    print(f"  baseline (thread pool + requests)  {base:8.0f} POST/s")
    rate_sqlite, r1 = inline_throughput(f"sqlite:///{tmp / 'bench.db'}", n, tmp)
    print(f"  inline / SQLite                    {rate_sqlite:8.0f} deliveries/s  "
          f"({rate_sqlite / base:.0%} of baseline; {r1})")
    pg_url, drop = pg_database()
    try:
        rate_pg, r2 = inline_throughput(pg_url, n, tmp)
    finally:
        drop()
    print(f"  inline / PostgreSQL                {rate_pg:8.0f} deliveries/s  "
          f"({rate_pg / base:.0%} of baseline; {r2})")
    rate_celery = None
    if not args.skip_celery:
        pg_url, drop = pg_database()
        try:
            rate_celery, r3 = celery_throughput(pg_url, n, tmp)
        finally:
            drop()
        print(f"  celery, 2 workers / PostgreSQL     {rate_celery:8.0f} deliveries/s  "
              f"({rate_celery / base:.0%} of baseline; {r3})")
    pg_url, drop = pg_database()
    try:
        p50, p99, worst, r4 = schedule_lag(pg_url, args.lag_n, tmp)
    finally:
        drop()
    print(f"  schedule lag at 400/s (inline / PostgreSQL, {args.lag_n}): p50 {p50:.3f} s, "
          f"p99 {p99:.3f} s, max {worst:.3f} s ({r4})")
    goal = rate_pg >= 500 and rate_pg >= 0.5 * base and p99 <= 2.0
    celery_txt = f", celery2 {rate_celery:.0f}/s" if rate_celery is not None else ""
    print(f"dispatch: baseline {base:.0f}/s, inline/sqlite {rate_sqlite:.0f}/s, inline/pg {rate_pg:.0f}/s "
          f"({rate_pg / base:.0%}){celery_txt}; lag p50 {p50:.2f}s p99 {p99:.2f}s at 400/s; "
          f"goals {'met' if goal else 'NOT met'}; load avg {load:.1f}->{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
