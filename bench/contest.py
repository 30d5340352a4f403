"""Benchmark: 2,000 submissions of one contest round, concurrent-ish.

The app is served by waitress on 127.0.0.1 over a fresh PostgreSQL database
(``LANTOA_BENCH_PG_ADMIN``, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres;
dropped at the end). 2,000 entries are opened in the database (the one-time SMS
code step is tested in tests/test_contests.py); then ``--clients`` threads (default
16) post the answers of every entry (10 questions from a 200-question bank, the
tie-break guess) and check each answer page shows the score. The baseline in the
same run: the same number of requests, same clients, against a trivial endpoint
(the contest stylesheet). Goal: 0 errors and p99 <= 500 ms, printed last.

    .venv/bin/python bench/contest.py [--entries 2000] [--clients 16] [--threads 8]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = os.environ.get("LANTOA_BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _database():
    from sqlalchemy import create_engine, text

    name = f"lantoa_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def _setup(url: str, tmp: Path, entries: int):
    os.environ.setdefault("LANTOA_SECRET_KEY", "bench-secret-key")
    from datetime import timedelta

    from sqlmodel import SQLModel, select

    from app import create_app
    from campaigns.contests import service as cs
    from campaigns.contests.models import Contest, ContestEntry, ContestQuestion
    from campaigns.demo import seed_units
    from core.db import get_engine, session_scope
    from core.models import OrgUnit
    from core.timeutil import LOCAL_TZ, utcnow
    from scheduler.models import ChannelAccount
    from tests.contest_helpers import question_rows, xlsx_bytes

    app = create_app({
        "LANTOA_DATABASE_URL": url, "INSTANCE_PATH": str(tmp), "LANTOA_MEDIA_DIR": str(tmp / "media"),
        "SECRET_KEY": "bench-secret-key", "WTF_CSRF_ENABLED": False,
        "LANTOA_CONTEST_SUBMIT_RATE_LIMIT": "100000 per minute",
    })
    SQLModel.metadata.create_all(get_engine(app))
    rng = random.Random(7)
    with app.app_context(), session_scope(app) as s:
        seed_units(s)
        acc = ChannelAccount(channel="sms_partner", name="SMS", config={})
        s.add(acc)
        s.flush()
        n, errors = cs.import_questions(s, io.BytesIO(xlsx_bytes(question_rows(200))))
        assert n == 200 and not errors
        c = Contest(slug="bench", title="Bench", published=True, questions_per_attempt=10,
                    sms_account_id=acc.id, created_at=utcnow())
        s.add(c)
        s.flush()
        rnd = cs.weekly_rounds(s, c, (utcnow().astimezone(LOCAL_TZ) - timedelta(days=1)).date(), 1)[0]
        communes = [u.id for u in s.exec(select(OrgUnit).where(OrgUnit.kind.in_(cs.COMMUNE_KINDS))).all()]
        qs = {q.id: q for q in s.exec(select(ContestQuestion)).all()}
        now = utcnow()
        jobs = []
        for i in range(entries):
            drawn = rng.sample(sorted(qs), 10)
            token = secrets.token_urlsafe(24)
            s.add(ContestEntry(round_id=rnd.id, token=token, phone=f"+8491{i:07d}", name=f"Người thi {i}",
                               unit_id=rng.choice(communes), question_ids=drawn, total=10, started_at=now))
            form = {f"q{qid}": [str(x) for x in qs[qid].correct] if rng.random() < 0.7 else ["0"] for qid in drawn}
            form["guess"] = str(rng.randint(100, 5000))
            jobs.append((token, form))
    return app, jobs


def _serve(app, threads: int):
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads, connection_limit=200)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    return server, f"http://127.0.0.1:{server.effective_port}"


def _run(clients: int, calls):
    """calls: list of (method, url, data, check) -> (latencies ms, errors)"""
    import requests

    local = threading.local()

    def one(call):
        method, url, data, check = call
        sess = getattr(local, "s", None) or requests.Session()
        local.s = sess
        t0 = time.perf_counter()
        try:
            r = sess.request(method, url, data=data, timeout=30)
            ok = r.status_code == 200 and check(r.text)
        except requests.RequestException:
            ok = False
        return (time.perf_counter() - t0) * 1000, ok

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, calls))
    return [ms for ms, _ in results], sum(1 for _, ok in results if not ok)


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1)]


def _fmt(ms: float) -> str:
    return f"{ms:,.1f}".replace(",", " ").replace(".", ",")


def main() -> int:
    import logging

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is expected here
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--threads", type=int, default=8, help="waitress threads")
    args = ap.parse_args()
    url, drop = _database()
    server = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            app, jobs = _setup(url, Path(tmp), args.entries)
            print(f"setup: {args.entries} entries, 200 questions on PostgreSQL in {time.perf_counter() - t0:.1f} s")
            server, base = _serve(app, args.threads)
            css = f"{base}/thi/static/contest.css"
            base_ms, base_err = _run(args.clients, [("GET", css, None, lambda t: "contest" in t)] * len(jobs))
            t1 = time.perf_counter()
            sub_ms, sub_err = _run(args.clients, [("POST", f"{base}/thi/bench/bai/{tok}", form,
                                                   lambda t: "Bạn trả lời đúng" in t) for tok, form in jobs])
            wall = time.perf_counter() - t1
            from sqlmodel import func, select

            from campaigns.contests.models import ContestEntry
            from core.db import session_scope

            with app.app_context(), session_scope(app) as s:
                scored = s.exec(select(func.count()).select_from(ContestEntry)
                                .where(ContestEntry.submitted_at.is_not(None))).one()
            for label, ms, err in (("baseline (stylesheet)", base_ms, base_err), ("submissions", sub_ms, sub_err)):
                print(f"{label}: {len(ms)} requests, {err} errors, p50 {_fmt(_pct(ms, 50))} ms, "
                      f"p95 {_fmt(_pct(ms, 95))} ms, p99 {_fmt(_pct(ms, 99))} ms, mean {_fmt(statistics.mean(ms))} ms")
            print(f"submissions stored as scored: {scored}; {len(jobs) / wall:.0f} submissions/s with "
                  f"{args.clients} clients, {args.threads} waitress threads")
            ok = sub_err == 0 and scored == len(jobs) and _pct(sub_ms, 99) <= 500
            print(f"RESULT contest: {len(jobs)} submissions, {sub_err} errors, p99 {_fmt(_pct(sub_ms, 99))} ms "
                  f"(baseline p99 {_fmt(_pct(base_ms, 99))} ms) -> {'OK' if ok else 'FAIL'} (goal: 0 errors, p99 <= 500 ms)")
            return 0 if ok else 1
    finally:
        if server is not None:
            server.close()
        from core.db import get_engine  # noqa: F401 - engines are disposed with the process

        drop()


if __name__ == "__main__":
    sys.exit(main())
