"""Benchmark: a 1,000,000-row recipient CSV -> per-recipient records in
PostgreSQL (COPY) -> per-carrier CSV batch files, against the naive pipeline
(csv read + phonenumbers parse/validate on every row) on the same rows, in the
same run.

    .venv/bin/python bench/sms_batches.py [--rows 1000000] [--keep] [--[no-]extras]
    .venv/bin/python bench/sms_batches.py --rows 5000000

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust); creates and drops a
scratch database ``lantoa_bench_<pid>``. Each pipeline runs in its own child
process so its peak RSS is its own (plus its own children's). Goals (issue
#22): 1,000,000 rows in <= 10 s, 5,000,000 in <= 60 s, <= 300 MB peak whatever
the row count, >= 3x faster than naive with identical results; XLSX batch
files and a partner report are timed separately (made only when a partner
asks). The last line is a summary with the load average.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get(
    "LANTOA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEXT = (
    "UBND tinh Soc Trang: tu 10/10, nop ho so truc tuyen tai dichvucong.gov.vn, "
    "khong can den tru so. Tu choi nhan tin: soan TC gui 8xxx"
)
NOW = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # 09:00 in Sóc Trăng: inside the window
#: the app's upload limit (LANTOA_MAX_UPLOAD_MB) is lower; a 5 M-row CSV is ~230 MB
MAX_BYTES = 4 << 30


def goal_seconds(rows: int) -> float:
    """Issue #22: 1,000,000 rows in <= 10 s, 5,000,000 in <= 60 s (in between:
    linear; below 1 M: 10 s per million)."""
    if rows <= 1_000_000:
        return 10.0 * rows / 1_000_000
    return 10.0 + 50.0 * (rows - 1_000_000) / 4_000_000

# (carrier share, 2-digit national prefixes that phonenumbers accepts)
CARRIERS = [
    (0.50, ["32", "33", "34", "35", "36", "37", "38", "39", "86", "96", "97", "98"]),
    (0.22, ["81", "82", "83", "84", "85", "88", "91", "94"]),
    (0.20, ["70", "76", "77", "78", "79", "90", "93"]),
    (0.05, ["92", "56", "58"]),
    (0.03, ["59"]),
]
OLD = {
    "70": "120",
    "79": "121",
    "77": "122",
    "76": "126",
    "78": "128",
    "83": "123",
    "84": "124",
    "85": "125",
    "81": "127",
    "82": "129",
    "32": "162",
    "33": "163",
    "34": "164",
    "35": "165",
    "36": "166",
    "37": "167",
    "38": "168",
    "39": "169",
    "56": "186",
    "58": "188",
    "59": "199",
}
FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Huỳnh",
    "Hoàng",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Lâm",
    "Thạch",
    "Sơn",
    "Danh",
    "Kim",
]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Quốc", "Kim"]
GIVEN = [
    "An",
    "Bình",
    "Cường",
    "Dung",
    "Em",
    "Giang",
    "Hải",
    "Khánh",
    "Lan",
    "Minh",
    "Nam",
    "Phúc",
    "Quyên",
    "Sang",
    "Tâm",
    "Út",
    "Vy",
    "Xuân",
    "Yến",
    "Sóc",
]


def generate(path: Path, rows: int, seed: int = 1588) -> dict:
    """Write the CSV; return the opt-out numbers (E.164) and the mix."""
    rng = random.Random(seed)
    weights = [w for w, _ in CARRIERS]
    issued: list[str] = []  # 9-digit national numbers already written
    opt_out: list[str] = []
    mix = {"invalid": 0, "duplicate": 0, "old": 0, "opted_out": 0}
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Họ và tên", "Số điện thoại", "Xã/Phường"])
        for _ in range(rows):
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            commune = f"Phường {rng.randint(1, 10)}"
            u = rng.random()
            if u < 0.05:
                mix["invalid"] += 1
                phone = rng.choice(
                    [
                        f"09{rng.randrange(10**8):08d}"[: rng.randint(5, 9)],  # too short
                        f"0912abc{rng.randrange(1000):03d}",  # letters
                        f"+1 415 555 {rng.randrange(10000):04d}",  # foreign
                        f"0299{rng.randrange(10**7):07d}",  # Sóc Trăng landline
                        f"089{rng.randint(0, 5)}{rng.randrange(10**6):06d}",  # unassigned
                        "",  # blank
                    ]
                )
            elif u < 0.08 and issued:
                mix["duplicate"] += 1
                nat = issued[rng.randrange(len(issued))]
                phone = rng.choice([f"0{nat}", f"+84 {nat[:3]} {nat[3:6]} {nat[6:]}", f"84{nat}"])
            else:
                prefixes = CARRIERS[rng.choices(range(len(CARRIERS)), weights)[0]][1]
                prefix = rng.choice(prefixes)
                nat = prefix + f"{rng.randrange(10**7):07d}"
                if nat in issued[-50:]:
                    nat = prefix + f"{rng.randrange(10**7):07d}"
                issued.append(nat)
                v = rng.random()
                if v < 0.05 and prefix in OLD:
                    mix["old"] += 1
                    phone = f"0{OLD[prefix]}{nat[2:]}"
                elif v < 0.60:
                    phone = f"0{nat}"
                elif v < 0.75:
                    phone = f"0{nat[:3]} {nat[3:6]} {nat[6:]}"
                elif v < 0.85:
                    phone = f"+84 {nat[:3]} {nat[3:6]} {nat[6:]}"
                elif v < 0.90:
                    phone = f"84{nat}"
                elif v < 0.95:
                    phone = nat  # leading 0 lost in a spreadsheet
                else:
                    phone = f"0{nat[:4]}.{nat[4:7]}.{nat[7:]}"
                if rng.random() < 0.02:
                    opt_out.append("+84" + nat)
            w.writerow([name, phone, commune])
    mix["opted_out"] = len(opt_out)
    return {"opt_out": opt_out, "mix": mix}


def rss_mb() -> float:
    """Peak RSS of this process (VmHWM: its own address space; ru_maxrss
    would include the parent's high-water mark, inherited when the child was
    forked and exec'd -- the parent holds 5 M generated numbers) plus the
    largest of its finished child processes, if any: MB."""
    own = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    except OSError:
        pass
    if own is None:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0


def backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a PostgreSQL backend on this machine (Linux
    /proc), so the report can show work done apart from waiting for a core."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# -- child: the fast pipeline ------------------------------------------------------


def run_fast(csv_path: Path, db_url: str, out_dir: Path, extras: bool = True) -> dict:
    from sqlalchemy import create_engine, text

    from scheduler.sms import waves
    from scheduler.sms.importer import copy_recipients, import_report_dict, read_recipients

    engine = create_engine(db_url)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with engine.begin() as conn:
        pid = conn.connection.driver_connection.info.backend_pid
        server0 = backend_cpu(pid)
        list_id = conn.execute(
            text(
                "INSERT INTO recipient_list (name, created_at, rows, valid, invalid, duplicates, "
                "converted, by_carrier, errors_preview, status) VALUES ('bench', now(), 0, 0, 0, 0, "
                "0, '{}', '[]', 'importing') RETURNING id"
            )
        ).scalar_one()
        with (
            open(csv_path, "rb") as fh,
            open(out_dir / "rejected.csv", "w", encoding="utf-8", newline="") as rejects,
        ):
            reader = read_recipients(fh, csv_path.name, rejects=rejects, max_bytes=MAX_BYTES)
            loaded = copy_recipients(conn, list_id, reader)
        report = import_report_dict(reader.report)
        conn.execute(
            text(
                "UPDATE recipient_list SET rows = :rows, valid = :valid, invalid = :invalid, "
                "duplicates = :duplicates, converted = :converted, by_carrier = :by_carrier, "
                "status = 'ready' WHERE id = :id"
            ),
            {**report, "by_carrier": json.dumps(report["by_carrier"]), "id": list_id},
        )
        times["import_copy"] = time.perf_counter() - t0
        times["rss_import_mb"] = rss_mb()
        t1 = time.perf_counter()
        counts = waves.expand_wave(
            conn, delivery_id=1, list_id=list_id, text_=TEXT, batches=True, now=NOW
        )
        times["expand_wave"] = time.perf_counter() - t1
        times["rss_expand_mb"] = rss_mb()
        t2 = time.perf_counter()
        batches = conn.execute(
            text(
                "SELECT id, carrier, message_count FROM sms_batch WHERE delivery_id = 1 "
                "ORDER BY carrier"
            )
        ).all()
        files = {}
        for batch_id, carrier, count in batches:
            info = waves.write_batch_file(conn, batch_id, out_dir / f"batch-{carrier}.csv")
            assert info.rows == count, (info.rows, count)
            files[carrier] = info.rows
        times["batch_csv"] = time.perf_counter() - t2
        server1 = backend_cpu(pid)
    times["total"] = time.perf_counter() - t0
    times["client_cpu"] = time.process_time() - cpu0
    times["server_cpu"] = (server1 - server0) if server0 is not None and server1 else -1.0
    peak = rss_mb()
    xlsx_seconds = xlsx_peak = report_seconds = -1.0
    report_rows: list = []
    if extras:
        xlsx_seconds, xlsx_peak, report_rows, report_seconds = _fast_extras(
            engine, batches, out_dir
        )
    return _fast_digest(
        engine, out_dir, list_id, times, peak, xlsx_seconds, xlsx_peak, report_rows,
        report_seconds, loaded, report, counts, files,
    )


def _fast_extras(engine, batches, out_dir: Path) -> tuple:
    from sqlalchemy import text

    from scheduler.sms import waves

    t3 = time.perf_counter()
    with engine.begin() as conn:
        for batch_id, carrier, _ in batches:
            waves.write_batch_file(conn, batch_id, out_dir / f"batch-{carrier}.xlsx", "xlsx")
    xlsx_seconds = time.perf_counter() - t3
    xlsx_peak = rss_mb()

    # timed separately: the partner's delivery report for the largest batch
    # (every message delivered; a tenth failed), applied and acknowledged
    from scheduler.sms.batchfiles import ReportRow

    biggest = max(batches, key=lambda b: b[2])[0]
    with engine.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM sms_message WHERE batch_id = :b ORDER BY id"), {"b": biggest}
            )
        ]
    report_rows = [
        ReportRow(i + 2, mid, "failed" if i % 10 == 0 else "delivered", None, None)
        for i, mid in enumerate(ids)
    ]
    t4 = time.perf_counter()
    with engine.begin() as conn:
        applied = waves.apply_partner_report(conn, biggest, report_rows, now=NOW)["applied"]
    report_seconds = time.perf_counter() - t4
    assert applied == len(report_rows), (applied, len(report_rows))
    return xlsx_seconds, xlsx_peak, report_rows, report_seconds


def _fast_digest(
    engine, out_dir, list_id, times, peak, xlsx_seconds, xlsx_peak, report_rows,
    report_seconds, loaded, report, counts, files,
) -> dict:
    from sqlalchemy import text

    # untimed: a digest of what was loaded, for the comparison with naive
    with engine.connect() as conn:
        h = hashlib.sha256()
        result = conn.execute(
            text(
                "SELECT line, phone, carrier FROM recipient WHERE list_id = :l ORDER BY line"
            ).execution_options(stream_results=True, yield_per=20000),
            {"l": list_id},
        )
        for line, phone, carrier in result:
            h.update(f"{line},{phone},{carrier}\n".encode())
    r = hashlib.sha256()
    with open(out_dir / "rejected.csv", encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh)
        next(rows)
        for line, _value, reason in rows:
            r.update(f"{line},{reason}\n".encode())
    engine.dispose()
    return {
        "times": times,
        "peak_rss_mb": peak,
        "xlsx_seconds": xlsx_seconds,
        "xlsx_peak_rss_mb": xlsx_peak,
        "report_rows": len(report_rows),
        "report_seconds": report_seconds,
        "loaded": loaded,
        "report": {k: v for k, v in report.items() if k != "errors"},
        "wave": counts,
        "files": files,
        "valid_digest": h.hexdigest(),
        "rejects_digest": r.hexdigest(),
    }


# -- child: the naive pipeline -----------------------------------------------------


def run_naive(csv_path: Path) -> dict:
    """The naive pipeline that gives the same answers: csv.reader + the
    phonenumbers reference (``normalize_phone``: parse, old-number conversion,
    is_valid_number, number_type, carrier name) on every row, duplicates
    dropped. No fast path, no cache, no database."""
    from scheduler.sms.phones import CARRIER_CODES, normalize_phone

    t0 = time.perf_counter()
    h, r = hashlib.sha256(), hashlib.sha256()
    seen: set[str] = set()
    report = {
        "rows": 0,
        "valid": 0,
        "invalid": 0,
        "duplicates": 0,
        "converted": 0,
        "by_carrier": dict.fromkeys(CARRIER_CODES, 0),
    }
    with open(csv_path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for line, row in enumerate(reader, start=2):
            if not any(row):
                continue
            report["rows"] += 1
            res = normalize_phone(row[1])
            if res.e164 is None:
                report["invalid"] += 1
                r.update(f"{line},{res.reason}\n".encode())
                continue
            if res.e164 in seen:
                report["duplicates"] += 1
                continue
            seen.add(res.e164)
            report["valid"] += 1
            report["converted"] += res.converted
            report["by_carrier"][res.carrier] += 1
            h.update(f"{line},{res.e164},{res.carrier}\n".encode())
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "peak_rss_mb": rss_mb(),
        "report": report,
        "valid_digest": h.hexdigest(),
        "rejects_digest": r.hexdigest(),
    }


def run_import_only(csv_path: Path) -> dict:
    """Our import alone (read, normalise with the fast path, de-duplicate,
    rejected rows to a file), no database: like for like with naive."""
    from scheduler.sms.importer import read_recipients

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with open(csv_path, "rb") as fh, open(os.devnull, "w") as rejects:
        reader = read_recipients(fh, csv_path.name, rejects=rejects, max_bytes=MAX_BYTES)
        # the COPY text copy_recipients() sends, encoded, then dropped
        for chunk in reader.copy_text("1\t"):
            chunk.encode("utf-8")
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "peak_rss_mb": rss_mb(),
    }


def run_bare(csv_path: Path) -> dict:
    """The issue's minimal naive loop: csv read + phonenumbers.parse +
    is_valid_number on every row, nothing else (so no carrier, no number type,
    no old-number conversion, no de-duplication: not the same results)."""
    import phonenumbers

    t0 = time.perf_counter()
    valid = 0
    with open(csv_path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            try:
                valid += phonenumbers.is_valid_number(phonenumbers.parse(row[1], "VN"))
            except phonenumbers.NumberParseException:
                pass
    return {"seconds": time.perf_counter() - t0, "valid": valid}


# -- parent ----------------------------------------------------------------------------


def child(stage: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--stage", stage, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def setup_db(name: str, opt_out: list[str]) -> str:
    from sqlalchemy import create_engine, text

    import scheduler.sms.models  # noqa: F401  (registers the tables)
    from scheduler.sms.models import sms_metadata

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    # the scheduler's `delivery` table is a minimal stand-in in this scratch db
    sms_metadata(delivery_stub=True).create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO delivery (id) VALUES (1)"))
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy("COPY opt_out (phone, source, created_at) FROM STDIN") as copy,
        ):
            for phone in dict.fromkeys(opt_out):
                copy.write_row((phone, "dnc", NOW))
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return url


def drop_db(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the files and the database")
    ap.add_argument(
        "--extras",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the XLSX files, a partner report, the import alone and the bare "
        "phonenumbers loop (default: on up to 1,000,000 rows)",
    )
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.stage == "fast":
        extras = opts.args[3] == "1"
        print(json.dumps(run_fast(Path(opts.args[0]), opts.args[1], Path(opts.args[2]), extras)))
        return 0
    if opts.stage == "naive":
        print(json.dumps(run_naive(Path(opts.args[0]))))
        return 0
    if opts.stage == "import":
        print(json.dumps(run_import_only(Path(opts.args[0]))))
        return 0
    if opts.stage == "bare":
        print(json.dumps(run_bare(Path(opts.args[0]))))
        return 0

    extras = opts.extras if opts.extras is not None else opts.rows <= 1_000_000
    load0 = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="lantoa-sms-bench-"))
    name = f"lantoa_bench_{os.getpid()}"
    csv_path = work / "recipients.csv"
    t = time.perf_counter()
    gen = generate(csv_path, opts.rows)
    size_mb = csv_path.stat().st_size / 1e6
    print(
        f"generated {opts.rows:,} rows ({size_mb:.1f} MB) in {time.perf_counter() - t:.1f} s; "
        f"mix: {gen['mix']}"
    )
    url = setup_db(name, gen["opt_out"])
    out_dir = work / "out"
    out_dir.mkdir()
    try:
        fast = child("fast", str(csv_path), url, str(out_dir), "1" if extras else "0")
        naive = child("naive", str(csv_path))
        imp = child("import", str(csv_path))
        bare = child("bare", str(csv_path)) if extras else None
    finally:
        if not opts.keep:
            drop_db(name)
    rows = fast["report"]["rows"]
    ft = fast["times"]
    print(f"import report: {json.dumps(fast['report'], ensure_ascii=False)}")
    print(f"wave: {fast['wave']}")
    print(f"batch files: {fast['files']}")
    print(
        f"fast  : import+COPY {ft['import_copy']:.2f} s, expand wave {ft['expand_wave']:.2f} s,"
        f" batch CSVs {ft['batch_csv']:.2f} s; total {ft['total']:.2f} s = "
        f"{rows / ft['total']:,.0f} rows/s; peak RSS {fast['peak_rss_mb']:.0f} MB; "
        f"CPU used: client {ft['client_cpu']:.1f} s + PostgreSQL backend "
        f"{ft['server_cpu']:.1f} s"
    )
    if imp is not None:
        print(
            f"import alone (read + normalise + de-duplicate + COPY text, no database): "
            f"{imp['seconds']:.2f} s (CPU {imp['cpu']:.2f} s) = "
            f"{rows / imp['seconds']:,.0f} rows/s; "
            f"peak RSS {imp['peak_rss_mb']:.0f} MB"
        )
    naive_us = naive["seconds"] / rows * 1e6
    print(
        f"naive : csv + phonenumbers per row, same {rows:,} rows, {naive['seconds']:.2f} s = "
        f"{rows / naive['seconds']:,.0f} rows/s ({naive_us:.1f} us/row);"
        f" peak RSS {naive['peak_rss_mb']:.0f} MB"
    )
    if bare is not None and imp is not None:
        print(
            f"bare  : csv + parse + is_valid_number only {bare['seconds']:.2f} s "
            f"({bare['seconds'] / rows * 1e6:.1f} us/row; no carrier/type/conversion/dedup, "
            f"so not the same results); fast end to end is {bare['seconds'] / ft['total']:.1f}x,"
            f" import alone {bare['seconds'] / imp['seconds']:.1f}x faster than it"
        )
    if extras:
        print(
            f"xlsx  : all batch files as XLSX {fast['xlsx_seconds']:.2f} s "
            f"(peak RSS {fast['xlsx_peak_rss_mb']:.0f} MB), timed separately"
        )
        print(
            f"report: a partner report of {fast['report_rows']:,} rows (the largest batch) "
            f"applied in {fast['report_seconds']:.2f} s, timed separately"
        )
    identical = (
        fast["valid_digest"] == naive["valid_digest"]
        and fast["rejects_digest"] == naive["rejects_digest"]
        and fast["report"] == naive["report"]
    )
    ratio = naive["seconds"] / ft["total"]
    load = os.getloadavg()
    if opts.keep:
        print(f"kept: {work} and database {name}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"machine: {os.cpu_count()} cores, load average {load0[0]:.1f} / {load0[1]:.1f} / "
        f"{load0[2]:.1f} (1/5/15 min) at the start, {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} at the end"
    )
    goal = goal_seconds(rows)
    others = fast["peak_rss_mb"] <= 300 and ratio >= 3 and identical
    time_ok = ft["total"] <= goal
    verdict = (
        "met"
        if others and time_ok
        else f"ratio/memory/identity met, time NOT met here (goal {goal:.0f} s, judged on a "
        f"quiet machine; load {load[1]:.1f})"
        if others
        else "NOT met"
    )
    print(
        f"SUMMARY sms_batches: {rows:,} rows CSV->PostgreSQL+batch CSVs in {ft['total']:.1f} s "
        f"({rows / ft['total']:,.0f} rows/s; goal {goal:.0f} s), "
        f"peak {fast['peak_rss_mb']:.0f} MB (client and its children; goal 300), "
        f"{ratio:.1f}x naive on the same rows ({naive['seconds']:.1f} s = {naive_us:.0f} us/row;"
        f" goal 3x), identical={identical}, load average {load[0]:.1f}/{load[1]:.1f}/"
        f"{load[2]:.1f} (start {load0[1]:.1f}); goals {verdict}"
    )
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
