"""Benchmark: the measure dashboard and the consolidated yearly report of the merged
city (issue #22), against the naive per-target SQL computation, in the same run.

    .venv/bin/python bench/measure.py [--db postgres|sqlite|both] [--deliveries 200000]
        [--downloads 5000] [--campaigns 50] [--feedback 20000] [--years 3] [--requests 30]

Builds the data itself (``seed-demo --structure 2025``: 103 commune-level units after
1/7/2025, the Sóc Trăng units before; ``years`` years of deliveries, kit downloads,
feedback, figures and task progress; COPY on PostgreSQL) into a scratch database
``lantoa_bench_measure_<pid>`` (PostgreSQL on 127.0.0.1:5432, user postgres, trust;
``LANTOA_BENCH_PG`` to change) or a temporary SQLite file, dropped at the end. Then, as
the admin sees it through the Flask test client with the default filters (this year, the
whole province):

- the dashboard ``/measure``: p50/p95 of ``--requests`` warm requests;
- the consolidated report (``/measure/report/download``, DOCX, and PDF once the fonts
  are cached): seconds per download;
- the baseline: the naive computation of the dashboard's figures (SQL per target and per
  month cut-off, ``campaigns.measure.bench.naive``) and the dashboard figures computed by
  ``evaluate_plan`` on the same data.

Goals (quiet machine): dashboard p95 <= 200 ms, consolidated report <= 5 s. The figures
and the load average are printed last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("LANTOA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_database() -> tuple[str, callable]:
    from sqlalchemy import create_engine, text

    name = f"lantoa_bench_measure_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def run(db: str, args) -> dict:
    os.environ.setdefault("LANTOA_SECRET_KEY", "bench-secret-key")
    from sqlmodel import SQLModel, select

    from app import create_app
    from campaigns.measure.bench import build_city, naive
    from campaigns.measure.compute import evaluate_plan, load_activity
    from campaigns.measure.models import Plan
    from core.db import get_engine, session_scope
    from core.timeutil import LOCAL_TZ, utcnow

    tmp = Path(tempfile.mkdtemp(prefix="lantoa-bench-measure-"))
    if db == "postgres":
        url, drop = _pg_database()
    else:
        url, drop = f"sqlite:///{tmp / 'bench.db'}", None
    out: dict = {"db": db}

    def cleanup() -> None:
        if drop:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "LANTOA_DATABASE_URL": url,
                          "INSTANCE_PATH": str(tmp), "LANTOA_MEDIA_DIR": str(tmp / "media"),
                          "RATELIMIT_ENABLED": False})
    except BaseException:
        cleanup()
        raise
    try:
        SQLModel.metadata.create_all(get_engine(app))
        now = utcnow()
        t0 = time.perf_counter()
        with app.app_context(), session_scope(app) as s:
            info = build_city(s, now=now, deliveries=args.deliveries, downloads=args.downloads,
                              campaigns=args.campaigns, feedback=args.feedback, years=args.years)
        out["build_s"] = time.perf_counter() - t0
        print(f"[{db}] built {args.deliveries} deliveries, {args.downloads} kit downloads, {args.campaigns} "
              f"campaigns, {args.feedback} feedback forms over {info['years']} in {out['build_s']:.1f} s",
              flush=True)
        from core.cli import freeze_startup_heap

        freeze_startup_heap()  # as `flask serve` does before its first request
        client = app.test_client()
        email, password = info["admin"]
        r = client.post("/login", data={"email": email, "password": password})
        assert r.status_code in (302, 303), r.status_code
        year = now.astimezone(LOCAL_TZ).year

        cpu: dict[str, list[float]] = {}

        def timed(path: str, n: int) -> list[float]:
            times = []
            for _ in range(n):
                t, c = time.perf_counter(), time.process_time()
                resp = client.get(path)
                times.append(time.perf_counter() - t)
                cpu.setdefault(path, []).append(time.process_time() - c)
                assert resp.status_code == 200, (path, resp.status_code)
            return times

        if args.profile:
            import cProfile
            import pstats

            for path in ("/measure", f"/measure/report/download?year={year}&format=docx"):
                timed(path, 1)
                prof = cProfile.Profile()
                prof.enable()
                timed(path, 1)
                prof.disable()
                print(f"[{db}] profile of {path}:")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
        first = timed("/measure", 1)[0]
        timed("/measure", 2)  # warm
        dash = sorted(timed("/measure", args.requests))
        out["dash_first"] = first
        out["dash_p50"] = statistics.median(dash)
        out["dash_p95"] = dash[max(0, int(round(0.95 * len(dash))) - 1)]
        # the app process's own CPU per request (the rest of the wall time is the database and
        # waiting for a core on a loaded machine)
        out["dash_cpu"] = statistics.median(cpu["/measure"][-len(dash):])
        print(f"[{db}] dashboard: first {_ms(first)}, warm p50 {_ms(out['dash_p50'])}, "
              f"p95 {_ms(out['dash_p95'])} over {len(dash)} requests (app CPU p50 {_ms(out['dash_cpu'])})",
              flush=True)
        docx = timed(f"/measure/report/download?year={year}&format=docx", 3)
        out["report_docx"] = statistics.median(docx)
        print(f"[{db}] consolidated report DOCX: {', '.join(f'{t:.2f}' for t in docx)} s", flush=True)
        if not args.no_pdf:
            timed(f"/measure/report/download?year={year}&format=pdf", 1)  # fonts instanced once
            pdf = timed(f"/measure/report/download?year={year}&format=pdf", 2)
            out["report_pdf"] = statistics.median(pdf)
            print(f"[{db}] consolidated report PDF: {', '.join(f'{t:.2f}' for t in pdf)} s", flush=True)
        with app.app_context(), session_scope(app) as s:
            plan = s.exec(select(Plan).where(Plan.year == year, Plan.status == "published")).first()
            t = time.perf_counter()
            ours = evaluate_plan(s, plan, now=now)
            out["ours_s"] = time.perf_counter() - t
            # the previous way: every delivery row of the year read into the snapshot
            t = time.perf_counter()
            rows = evaluate_plan(s, plan, now=now, activity=load_activity(s, year, per_event=True))
            out["rows_s"] = time.perf_counter() - t
            assert [(r.value, r.trend) for r in rows] == [(r.value, r.trend) for r in ours]
            print(f"[{db}] figures: evaluate_plan {_ms(out['ours_s'])}, reading every delivery row "
                  f"{_ms(out['rows_s'])} (same values)", flush=True)
            if not args.no_baseline:
                t = time.perf_counter()
                base = naive(s, plan, now)
                out["naive_s"] = time.perf_counter() - t
                same = sum(1 for r in ours if base[r.target.code] == [v for _m, v in r.trend] + [r.value])
                out["same"] = f"{same}/{len(ours)}"
                print(f"[{db}] figures: evaluate_plan {_ms(out['ours_s'])}, naive SQL per target and month "
                      f"{out['naive_s']:.2f} s ({out['same']} targets give the same values; the naive way "
                      "ignores outside publications, press slots and trainings)", flush=True)
    except BaseException:
        get_engine(app).dispose()
        cleanup()
        raise
    get_engine(app).dispose()
    out["cleanup"] = cleanup  # after the figures are printed (DROP DATABASE may wait on a busy server)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="postgres")
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--downloads", type=int, default=5_000)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--feedback", type=int, default=20_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--no-pdf", action="store_true", help="only the DOCX report")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N costliest functions of a dashboard request and a report")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive computation")
    args = parser.parse_args(argv)
    results: list[dict] = []
    try:
        for db in ["postgres", "sqlite"] if args.db == "both" else [args.db]:
            results.append(run(db, args))
    except BaseException:
        for r in results:
            r["cleanup"]()
        raise
    load = os.getloadavg()
    print()
    print(f"measure bench: {args.deliveries} deliveries, {args.downloads} kit downloads, {args.campaigns} "
          f"campaigns, {args.feedback} feedback forms, {args.years} years, 103 commune-level units")
    for r in results:
        line = (f"  {r['db']:8} dashboard warm p50 {_ms(r['dash_p50'])}, p95 {_ms(r['dash_p95'])} "
                f"(goal <= 200 ms; first {_ms(r['dash_first'])}; app CPU p50 {_ms(r['dash_cpu'])}); "
                f"consolidated report DOCX "
                f"{r['report_docx']:.2f} s")
        if "report_pdf" in r:
            line += f", PDF {r['report_pdf']:.2f} s"
        line += " (goal <= 5 s)"
        print(line)
        print(f"  {r['db']:8} baseline: evaluate_plan reading every delivery row (before issue #22) "
              f"{_ms(r['rows_s'])} vs grouped {_ms(r['ours_s'])} ({r['rows_s'] / r['ours_s']:.1f}x)")
        if "naive_s" in r:
            print(f"  {r['db']:8} baseline: naive SQL per target and month {r['naive_s']:.2f} s vs evaluate_plan "
                  f"{_ms(r['ours_s'])} ({r['naive_s'] / r['ours_s']:.1f}x); vs the whole dashboard page p50 "
                  f"{r['naive_s'] / r['dash_p50']:.1f}x")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    for r in results:
        if r.get("cleanup"):
            r["cleanup"]()


if __name__ == "__main__":
    main()
