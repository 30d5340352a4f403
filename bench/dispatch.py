"""Dispatch benchmark: throughput, CPU per delivery and schedule lag of the scheduler.

(a) Throughput: N deliveries (default 10,000) all due at once, sent to a
    loopback webhook receiver running in its own process, for inline/SQLite,
    inline/PostgreSQL and celery (2 worker processes, RabbitMQ broker,
    PostgreSQL), beside a baseline: the same N POSTs from a plain thread pool
    (16 threads, as the send threads) with one ``requests`` session, no
    database. The baseline is the client-side limit of plain HTTP on this
    machine: the dispatcher does the same POSTs plus claiming, the
    queued -> sending move, the attempt record and the outcome.
    The baseline, inline/PostgreSQL and celery runs alternate for ``--rounds``
    rounds, so a machine whose load changes affects them alike; the ratios are
    the medians of the rounds' ratios.
(b) CPU per delivery (psutil, before/after each run): the bench process (the
    client: dispatcher and its send threads), the Celery worker processes, the
    PostgreSQL backends serving the bench's database (found by their process
    title), the broker process (shared with anything else using it) and the
    receiver (the stand-in provider, not our cost).
(c) Schedule lag: N deliveries due at an offered rate of 400/s, sent by the
    scheduler process's tickers (inline/PostgreSQL); lag = arrival at the
    receiver - due time, p50/p99.

Goals (issue #22): inline/PostgreSQL >= 75 % of the baseline; celery with 2
workers >= 90 % of inline/PostgreSQL; p99 lag <= 2 s at 400/s. The figures
are printed last, with the load average.

Run: ``.venv/bin/python bench/dispatch.py [--n 10000] [--rounds 3] [--skip-celery]
[--broker amqp://guest:guest@127.0.0.1:5672//]``. Needs PostgreSQL and the
broker on 127.0.0.1. The webhook channel paces 20 messages/s per account, so
the deliveries are spread over 100 accounts (one receiver; distinct URLs).
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
RABBIT = "amqp://guest:guest@127.0.0.1:5672//"


# -- CPU accounting -----------------------------------------------------------------------


def _cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


class CpuMeter:
    """CPU seconds spent between ``start()`` and ``stop()`` by: this process
    (client), given worker processes (and their children), the PostgreSQL
    backends of database ``db`` (by process title; a backend that ends is
    counted up to its last sample: every 0.5 s, new backends looked for every 2 s), a broker process by
    name and the receiver process."""

    def __init__(self, *, db: str | None = None, workers=(), receiver=None, broker: str | None = None):
        import psutil

        self.psutil = psutil
        self.me = psutil.Process()
        self.db = db
        self.workers = [psutil.Process(p.pid) for p in workers]
        self.receiver = psutil.Process(receiver.proc.pid) if receiver is not None else None
        self.broker = None
        if broker:
            name = "beam.smp" if broker.startswith("amqp") else "redis-server"
            self.broker = next((p for p in psutil.process_iter(["name"]) if p.info["name"] == name), None)
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._procs: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _tree(self, procs) -> float:
        total = 0.0
        for p in procs:
            try:
                total += _cpu(p)
                for c in p.children(recursive=True):
                    total += _cpu(c)
            except self.psutil.Error:
                pass
        return total

    def _scan_db(self) -> None:
        """Find the database's backends (by process title)."""
        tag = f" {self.db} "
        for p in self.psutil.process_iter(["name", "cmdline"]):
            if p.info["name"] == "postgres" and p.info["cmdline"] and tag in p.info["cmdline"][0]:
                self._procs.setdefault(p.pid, p)

    def _sample_db(self, scan: bool = True) -> dict[int, float]:
        out: dict[int, float] = {}
        if not self.db:
            return out
        if scan:
            self._scan_db()
        for pid, p in list(self._procs.items()):
            try:
                out[pid] = _cpu(p)
            except self.psutil.Error:
                self._procs.pop(pid, None)
        self._last.update(out)
        return out

    def _loop(self) -> None:
        # CPU of known backends every 0.5 s (cheap), a scan for new ones every 2 s
        k = 0
        while not self._stop.wait(0.5):
            k += 1
            self._sample_db(scan=k % 4 == 0)

    def _others(self) -> tuple[float, float, float, float]:
        return (_cpu(self.me), self._tree(self.workers),
                _cpu(self.broker) if self.broker else 0.0,
                _cpu(self.receiver) if self.receiver else 0.0)

    def start(self) -> CpuMeter:
        # backends alive now count from now on, new ones from their start
        self._base = self._sample_db()
        self.t0 = self._others()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds: client, workers, db, broker, receiver."""
        t1 = self._others()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._sample_db()
        db = sum(v - self._base.get(pid, 0.0) for pid, v in self._last.items())
        return {"client": t1[0] - self.t0[0], "workers": t1[1] - self.t0[1], "db": db,
                "broker": t1[2] - self.t0[2], "receiver": t1[3] - self.t0[3]}


def per_delivery_ms(cpu: dict[str, float], n: int) -> dict[str, float]:
    return {k: 1000.0 * v / n for k, v in cpu.items()}


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
    """A fresh database; its ``drop`` waits at most 20 s (a DROP DATABASE can
    wait on other sessions of the server; it then finishes on its own)."""
    from tests.conftest import create_pg_database

    url, drop = create_pg_database()

    def bounded_drop() -> None:
        t = threading.Thread(target=drop, daemon=True)
        t.start()
        t.join(20)

    return url, bounded_drop


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


def baseline(n: int, tmp: Path) -> tuple[float, dict[str, float]]:
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

    meter = CpuMeter(receiver=recv).start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(post, range(n)))
    elapsed = time.perf_counter() - t0
    cpu = meter.stop()
    recv.stop()
    return n / elapsed, per_delivery_ms(cpu, n)


def inline_throughput(db_url: str, n: int, tmp: Path) -> tuple[float, str, dict[str, float]]:
    from core.db import get_engine
    from scheduler.dispatcher import Dispatcher
    from scheduler.executors import make_executor
    from scheduler.runner import dispatch_due

    recv = ReceiverProcess(tmp)
    app = fresh_app(db_url, tmp)
    seed(app, recv.url, n, start=datetime.now(UTC) - timedelta(seconds=1))
    executor = make_executor(app, Dispatcher(app))
    db = get_engine(app).url.database if db_url.startswith("postgresql") else None
    meter = CpuMeter(db=db, receiver=recv).start()
    t0 = time.perf_counter()
    dispatch_due(app, executor=executor)
    elapsed = time.perf_counter() - t0
    cpu = meter.stop()  # before the send threads' connections close
    executor.shutdown(wait=True)
    result = check(app, n, recv.stop())
    get_engine(app).dispose()
    return n / elapsed, result, per_delivery_ms(cpu, n)


def celery_throughput(pg_url: str, n: int, tmp: Path, broker: str,
                      workers: int = 2) -> tuple[float, str, dict[str, float]]:
    from core.db import get_engine
    from scheduler.runner import dispatch_due
    from tests.scheduler_helpers import celery_cmd, flask_env, spawn, stop, wait_until

    queue = f"lantoa-bench-{uuid.uuid4().hex[:8]}"
    recv = ReceiverProcess(tmp)
    app = fresh_app(pg_url, tmp, LANTOA_EXECUTOR="celery", LANTOA_BROKER_URL=broker,
                    LANTOA_CELERY_QUEUE=queue)
    env = flask_env(pg_url, tmp, LANTOA_BROKER_URL=broker, LANTOA_CELERY_QUEUE=queue)
    logs = [tmp / f"bench-worker{i}-{queue}.log" for i in range(workers)]
    procs = [spawn(celery_cmd("worker", "--pool", "threads", "--concurrency", str(THREADS), "-Q", queue,
                              "-n", f"b{i}-{queue}@%h", "--without-gossip", "--without-mingle",
                              "--loglevel", "INFO"), env, logs[i])
             for i in range(workers)]
    try:
        if not wait_until(lambda: all("ready." in p.read_text(errors="replace") for p in logs), 90):
            raise RuntimeError("celery workers not ready")
        seed(app, recv.url, n, start=datetime.now(UTC) - timedelta(seconds=1))
        meter = CpuMeter(db=get_engine(app).url.database, workers=procs, receiver=recv,
                         broker=broker).start()
        t0 = time.perf_counter()
        dispatch_due(app, wait_timeout=600)
        elapsed = time.perf_counter() - t0
        cpu = meter.stop()  # before the workers (and their connections) stop
    finally:
        for p in procs:
            stop(p)
    result = check(app, n, recv.stop())
    get_engine(app).dispose()
    return n / elapsed, result, per_delivery_ms(cpu, n)


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


def _ms(cpu: dict[str, float], keys) -> str:
    return ", ".join(f"{k} {cpu[k]:.2f}" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--lag-n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="baseline / inline-PostgreSQL / celery rounds (ratios: median)")
    parser.add_argument("--broker", default=RABBIT, help="Celery broker URL (RabbitMQ by default)")
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    import logging

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="lantoa-bench-"))
    n = args.n
    load0 = os.getloadavg()
    print(f"dispatch benchmark: {n} deliveries, {ACCOUNTS} webhook accounts, {THREADS} send threads, "
          f"receiver in its own process, {os.cpu_count()} CPUs, load average "
          f"{load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f} at start", flush=True)
    rounds: list[dict] = []
    for r in range(max(1, args.rounds)):
        row: dict = {}
        row["base"], row["base_cpu"] = baseline(n, tmp)
        print(f"  round {r + 1}: baseline (thread pool + requests)  {row['base']:8.0f} POST/s   "
              f"CPU ms/POST: {_ms(row['base_cpu'], ('client', 'receiver'))}", flush=True)
        pg_url, drop = pg_database()
        try:
            row["pg"], res, row["pg_cpu"] = inline_throughput(pg_url, n, tmp)
        finally:
            drop()
        print(f"  round {r + 1}: inline / PostgreSQL             {row['pg']:8.0f} deliveries/s "
              f"({row['pg'] / row['base']:.0%} of baseline; {res})   CPU ms/delivery: "
              f"{_ms(row['pg_cpu'], ('client', 'db', 'receiver'))}", flush=True)
        if not args.skip_celery:
            pg_url, drop = pg_database()
            try:
                row["celery"], res, row["celery_cpu"] = celery_throughput(pg_url, n, tmp, args.broker)
            finally:
                drop()
            print(f"  round {r + 1}: celery, 2 workers / PostgreSQL  {row['celery']:8.0f} deliveries/s "
                  f"({row['celery'] / row['pg']:.0%} of inline; {res})   CPU ms/delivery: "
                  f"{_ms(row['celery_cpu'], ('client', 'workers', 'db', 'broker', 'receiver'))}", flush=True)
        rounds.append(row)
    rate_sqlite = None
    if not args.skip_sqlite:
        rate_sqlite, r1, _cpu_sqlite = inline_throughput(f"sqlite:///{tmp / 'bench.db'}", n, tmp)
        print(f"  inline / SQLite                    {rate_sqlite:8.0f} deliveries/s  ({r1})", flush=True)
    lag = None
    if not args.skip_lag:
        pg_url, drop = pg_database()
        try:
            lag = schedule_lag(pg_url, args.lag_n, tmp)
        finally:
            drop()
        print(f"  schedule lag at 400/s (inline / PostgreSQL, {args.lag_n}): p50 {lag[0]:.3f} s, "
              f"p99 {lag[1]:.3f} s, max {lag[2]:.3f} s ({lag[3]})", flush=True)

    def med(key: str) -> float:
        return statistics.median(row[key] for row in rounds)

    def med_cpu(key: str) -> dict[str, float]:
        return {k: statistics.median(row[key][k] for row in rounds) for k in rounds[0][key]}

    pg_ratio = statistics.median(row["pg"] / row["base"] for row in rounds)
    load1 = os.getloadavg()
    print()
    print(f"dispatch figures ({len(rounds)} round(s) of {n} deliveries, medians; "
          f"{os.cpu_count()} CPUs; load average {load0[0]:.1f} at start, "
          f"{load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f} at the end):")
    print(f"  baseline (thread pool + requests, no database)   {med('base'):6.0f} POST/s; "
          f"CPU ms/POST: {_ms(med_cpu('base_cpu'), ('client', 'receiver'))}")
    print(f"  inline / PostgreSQL                               {med('pg'):6.0f} deliveries/s = "
          f"{pg_ratio:.0%} of the baseline (goal >= 75 %) [rounds: "
          + ", ".join(f"{row['pg'] / row['base']:.0%}" for row in rounds) + "]")
    cpu = med_cpu("pg_cpu")
    client_ratio = statistics.median(row["pg_cpu"]["client"] / row["base_cpu"]["client"] for row in rounds)
    print(f"      CPU ms/delivery: {_ms(cpu, ('client', 'db'))}; total {cpu['client'] + cpu['db']:.2f} "
          f"(receiver {cpu['receiver']:.2f}, not ours); client = {client_ratio:.0%} of the baseline's "
          "client CPU per POST (same rounds)")
    ok = pg_ratio >= 0.75
    if not args.skip_celery:
        c_ratio = statistics.median(row["celery"] / row["pg"] for row in rounds)
        ok = ok and c_ratio >= 0.90
        print(f"  celery, 2 workers / PostgreSQL ({args.broker.split(':')[0]})               "
              f"{med('celery'):6.0f} deliveries/s = {c_ratio:.0%} of inline / PostgreSQL (goal >= 90 %) "
              "[rounds: " + ", ".join(f"{row['celery'] / row['pg']:.0%}" for row in rounds) + "]")
        cpu = med_cpu("celery_cpu")
        total = cpu["client"] + cpu["workers"] + cpu["db"]
        print(f"      CPU ms/delivery: {_ms(cpu, ('client', 'workers', 'db'))}; total {total:.2f} "
              f"(+ broker {cpu['broker']:.2f}, process-wide; receiver {cpu['receiver']:.2f}, not ours)")
    if rate_sqlite is not None:
        print(f"  inline / SQLite                                   {rate_sqlite:6.0f} deliveries/s")
    if lag is not None:
        ok = ok and lag[1] <= 2.0
        print(f"  schedule lag at 400/s: p50 {lag[0]:.2f} s, p99 {lag[1]:.2f} s (goal p99 <= 2 s)")
    print(f"  goals {'met' if ok else 'NOT met'}; load average {load1[0]:.1f} "
          f"({'quiet' if load1[0] < 1.5 else 'loaded: other work shared these CPUs'})")


if __name__ == "__main__":
    main()
