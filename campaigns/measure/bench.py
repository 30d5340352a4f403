"""Benchmark: the province dashboard (every target, now and month by month).

Builds a year of activity at provincial size in a temporary SQLite database
(Sóc Trăng's units plus ~100 communes, tens of thousands of sent deliveries,
confirmed broadcasts and feedback forms, figures from every unit), then
computes the dashboard two ways in the same run:

- baseline: the obvious way — SQL queries per target and per month cut-off;
- ours: ``evaluate_plan`` — one snapshot of the year, evaluated in Python with
  a first-event index per coverage metric.

Both must give the same values. Run: ``python -m campaigns.measure.bench
[--deliveries N] [--feedback N]``; the last line is the summary.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


def build(app, n_deliveries: int, n_feedback: int, year: int, seed: int = 7) -> None:
    from sqlalchemy import insert
    from sqlmodel import select

    from campaigns.demo import seed_units
    from campaigns.measure.models import Feedback, KpiValue, PlanTarget
    from campaigns.measure.plans import PLANS_DIR, load_plan
    from core.db import session_scope
    from core.models import OrgUnit, UnitKind
    from core.units import import_units
    from scheduler.models import ChannelAccount, Delivery

    rnd = random.Random(seed)
    with session_scope(app) as s:
        seed_units(s)
        districts = s.exec(select(OrgUnit).where(OrgUnit.kind == UnitKind.district)).all()
        import_units(s, [{"code": f"xa-bench-{d.code}-{i}", "name": f"Xã {i} ({d.name})", "kind": "commune",
                          "parent_code": d.code} for d in districts for i in range(9)])
        import yaml

        doc = yaml.safe_load((PLANS_DIR / "soc-trang-2025.yaml").read_text(encoding="utf-8"))
        doc.update(key=f"bench-{year}", year=year, deadline=f"{year}-12-15", remind_from=f"{year}-12-01")
        plan = load_plan(s, doc)
        units = s.exec(select(OrgUnit)).all()
        communes = [u for u in units if u.kind == UnitKind.commune]
        senders = [u for u in units if u.kind in (UnitKind.department, UnitKind.district, UnitKind.commune)]
        accounts = {}
        for u in senders:
            for ch in ("facebook", "loudspeaker") if u.kind == UnitKind.commune else ("facebook", "zalo"):
                a = ChannelAccount(channel=ch, name=f"{ch} {u.code}", config={"unit_code": u.code}, unit_id=u.id)
                s.add(a)
                accounts.setdefault(u.id, []).append(a)
        s.flush()
        start = datetime(year, 1, 1, tzinfo=UTC)
        rows = []
        # a quarter of the units never publish (so coverage is not trivially 100 %)
        silent = set(rnd.sample([u.id for u in senders], len(senders) // 4))
        active = [u for u in senders if u.id not in silent]
        for i in range(n_deliveries):
            u = rnd.choice(active)
            a = rnd.choice(accounts[u.id])
            at = start + timedelta(minutes=rnd.randrange(0, 364 * 24 * 60))
            status = "sent" if rnd.random() < 0.85 else rnd.choice(["failed", "scheduled", "cancelled"])
            confirmed = at + timedelta(hours=1) if a.channel == "loudspeaker" and rnd.random() < 0.6 else None
            rows.append({"campaign_id": None, "channel_account_id": a.id, "unit_id": u.id, "content": {"text": "x"},
                         "status": status, "held": False, "scheduled_at": at,
                         "sent_at": at if status == "sent" else None,
                         "confirmed_at": confirmed if confirmed else None,
                         "idempotency_key": f"bench-{i}", "attempts": 1, "compliance": {}})
        for i in range(0, len(rows), 5000):
            s.execute(insert(Delivery.__table__), rows[i:i + 5000])
        services = ["ho-tich", "cu-tru", "dat-dai", "xay-dung", "dau-tu", "kinh-doanh", "khac"]
        fb = []
        for _ in range(n_feedback):
            at = start + timedelta(minutes=rnd.randrange(0, 364 * 24 * 60))
            handled = rnd.random() < 0.7
            fb.append({"created_at": at, "service": rnd.choice(services),
                       "satisfaction": rnd.choices([1, 2, 3, 4, 5], [1, 1, 2, 5, 6])[0], "comment": "",
                       "unit_id": rnd.choice(communes).id, "consent": False,
                       "status": "handled" if handled else "new", "handling_note": "ok" if handled else "",
                       "handled_at": (at + timedelta(days=3)) if handled else None})
        for i in range(0, len(fb), 5000):
            s.execute(insert(Feedback.__table__), fb[i:i + 5000])
        entered = s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id,
                                                  PlanTarget.kind == "entered")).all()
        kv = []
        for t in entered:
            for u in senders[:40]:
                for month in (3, 6, 9, 11):
                    den = rnd.randint(50, 5000)
                    num = round(den * rnd.uniform(0.4, 1.0))
                    counts = t.entry == "counts"
                    kv.append({"target_id": t.id, "unit_id": u.id, "year": year,
                               "value": round(100.0 * num / den, 2) if counts else round(rnd.uniform(40, 100), 1),
                               "numerator": num if counts else None, "denominator": den if counts else None,
                               "as_of": datetime(year, month, rnd.randint(1, 28)).date(), "note": "",
                               "entered_at": datetime(year, month, 28, 3, tzinfo=UTC)})
        s.execute(insert(KpiValue.__table__), kv)



# -- the merged city at scale (bench/measure.py, tests/test_measure_scale.py) ---------------

CITY_CHANNELS = ("facebook", "zalo", "portal")


def _bulk_insert(session, table, rows: list[dict]) -> None:
    """Many rows fast: COPY on PostgreSQL, executemany elsewhere."""
    import json

    from sqlalchemy import insert

    if not rows:
        return
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        cols = list(rows[0])
        json_cols = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                f'COPY "{table.name}" ({", ".join(cols)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c], ensure_ascii=False) if c in json_cols else row[c]
                                for c in cols])
        return
    for i in range(0, len(rows), 5000):
        session.execute(insert(table), rows[i:i + 5000])


def build_city(session, *, now: datetime, deliveries: int = 200_000, downloads: int = 5_000,
               campaigns: int = 50, feedback: int = 20_000, years: int = 3, seed: int = 22) -> dict:
    """The merged city (``seed-demo --structure 2025``: Sóc Trăng's units until 1/7/2025, Cần
    Thơ's 103 commune-level units after) with ``years`` years of activity up to ``now``: a
    published plan each year, campaigns with kits and downloads, deliveries on every channel
    (each from a unit that existed on its day), QR scans, feedback forms, figures entered, task
    progress and outside publications. Returns {"admin": (email, password), "years": [...]}."""
    import yaml
    from sqlalchemy import text
    from sqlmodel import select

    from campaigns.demo import seed_structure_2025, seed_units
    from campaigns.measure.models import (
        Feedback,
        KpiValue,
        OutsidePublication,
        Plan,
        PlanTarget,
        PlanTask,
        TaskProgress,
    )
    from campaigns.measure.plans import PLANS_DIR, load_plan, resolve_units, rollover
    from campaigns.models import Campaign, Kit, KitDownload, LinkScan
    from core.models import OrgUnit, Role, UnitKind, User
    from core.security import hash_password
    from core.timeutil import LOCAL_TZ
    from scheduler.models import ChannelAccount, Delivery

    rnd = random.Random(seed)
    seed_units(session)  # seed-demo's units (its users and 10/10 campaign are not needed here)
    admin = ("admin.bench@lantoa.local", "bench-" + "".join(rnd.choices("abcdefghjkmnpqrstuvwxyz23456789", k=16)))
    if session.exec(select(User).where(User.email == admin[0])).first() is None:
        session.add(User(email=admin[0], name="Quản trị", password_hash=hash_password(admin[1]), role=Role.admin,
                         created_at=now))
    session.flush()
    seed_structure_2025(session)
    session.flush()
    last = now.astimezone(LOCAL_TZ).year
    year_list = list(range(last - years + 1, last + 1))
    # a published plan for every year (the bundled 2025 one, re-dated for the others)
    if session.exec(select(Plan).where(Plan.year == 2025)).first() is None:
        load_plan(session, PLANS_DIR / "soc-trang-2025.yaml")
    for year in year_list:
        if session.exec(select(Plan).where(Plan.year == year)).first() is not None:
            continue
        if year > 2025:
            rollover(session, year - 1, year, publish=True)
        else:
            doc = yaml.safe_load((PLANS_DIR / "soc-trang-2025.yaml").read_text(encoding="utf-8"))
            doc.update(key=f"soc-trang-{year}", year=year, deadline=f"{year}-12-15", remind_from=f"{year}-12-01")
            load_plan(session, doc, check_units=False)
    session.flush()
    units = list(session.exec(select(OrgUnit)).all())
    senders = [u for u in units if u.kind not in (UnitKind.telecom, UnitKind.province)]
    commune_level = (UnitKind.commune, UnitKind.ward, UnitKind.special_zone)
    made: list[ChannelAccount] = []
    for u in senders:
        chans = ("facebook", "loudspeaker") if u.kind in commune_level else CITY_CHANNELS[: 1 + u.id % 3]
        made += [ChannelAccount(channel=ch, name=f"{ch} {u.code}", config={"unit_code": u.code}, unit_id=u.id)
                 for ch in chans]
    session.add_all(made)
    session.flush()
    accounts: dict[int, list[tuple[int, str]]] = {}
    for a in made:
        accounts.setdefault(a.unit_id, []).append((a.id, a.channel))  # type: ignore[arg-type]
    start = datetime(year_list[0], 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
    span = int((now - start).total_seconds() // 60) - 60

    def when() -> datetime:
        return start + timedelta(minutes=rnd.randrange(0, span))

    # a fifth of the units of each kind never publish (coverage is not trivially 100 %)
    silent: set[int] = set()
    for kind in {u.kind for u in senders}:
        same = sorted((u for u in senders if u.kind == kind), key=lambda u: u.code)
        silent |= {u.id for i, u in enumerate(same) if i % 5 == 2}
    valid_cache: dict = {}

    def active_on(at: datetime) -> list:
        day = at.astimezone(LOCAL_TZ).date()
        if day not in valid_cache:
            valid = [u for u in senders if u.valid_on(day)]
            valid_cache[day] = [u for u in valid if u.id not in silent] or valid
        return valid_cache[day]

    # campaigns spread over the years, each with kits for a share of the units of its day
    camp_rows = []
    for i in range(campaigns):
        begins = when().astimezone(LOCAL_TZ).date()
        camp_rows.append(Campaign(title=f"Chiến dịch thử {i + 1}", starts_on=begins,
                                  ends_on=begins + timedelta(days=30), status="approved", created_at=now,
                                  updated_at=now))
    session.add_all(camp_rows)
    session.flush()
    from campaigns.kits.builder import PRINT_DIR, PRINT_PRODUCTS

    contents = [{"kind": "print", "name": f"{PRINT_DIR}/{label}.pdf"} for _p, label, _k in PRINT_PRODUCTS]
    kits = []
    for c in camp_rows:
        pool = [u for u in senders if u.valid_on(c.starts_on)]
        for u in rnd.sample(pool, min(len(pool), 40)):
            kits.append({"campaign_id": c.id, "unit_id": u.id, "status": "ready", "path": None,
                         "contents": contents, "warnings": [], "version": 1,
                         "built_at": datetime.combine(c.starts_on, datetime.min.time(), tzinfo=UTC)})
    _bulk_insert(session, Kit.__table__, kits)
    kit_rows = session.exec(select(Kit.id, Kit.built_at)).all()
    dl = []
    for _ in range(downloads):
        kit_id, built = rnd.choice(kit_rows)
        at = min(now - timedelta(minutes=1), built + timedelta(minutes=rnd.randrange(1, 60 * 24 * 60)))
        dl.append({"kit_id": kit_id, "user_id": None, "at": at})
    _bulk_insert(session, KitDownload.__table__, dl)
    by_year: dict[int, list[int]] = {}
    for c in camp_rows:
        by_year.setdefault(c.starts_on.year, []).append(c.id)
    rows = []
    for i in range(deliveries):
        at = when()
        u = rnd.choice(active_on(at))
        account_id, channel = rnd.choice(accounts[u.id])
        status = "sent" if rnd.random() < 0.85 else rnd.choice(["failed", "scheduled", "cancelled"])
        confirmed = at + timedelta(hours=1) if channel == "loudspeaker" and status == "sent" and rnd.random() < 0.6 \
            else None
        pool = by_year.get(at.astimezone(LOCAL_TZ).year)
        rows.append({"campaign_id": rnd.choice(pool) if pool and rnd.random() < 0.8 else None,
                     "channel_account_id": account_id, "unit_id": u.id if rnd.random() < 0.9 else None,
                     "content": {"text": "Bản tin chuyển đổi số"}, "status": status, "held": False,
                     "scheduled_at": at, "sent_at": at if status == "sent" else None,
                     "confirmed_at": confirmed if confirmed and confirmed < now else None,
                     "idempotency_key": f"city-{i}", "attempts": 1, "compliance": {},
                     "created_at": at, "updated_at": at})
    _bulk_insert(session, Delivery.__table__, rows)
    del rows
    scans = []
    for _ in range(max(1, deliveries // 20)):
        at = when()
        pool = by_year.get(at.astimezone(LOCAL_TZ).year) or [camp_rows[0].id]
        scans.append({"campaign_id": rnd.choice(pool), "unit_id": rnd.choice(active_on(at)).id, "at": at})
    _bulk_insert(session, LinkScan.__table__, scans)
    services = ["ho-tich", "cu-tru", "dat-dai", "xay-dung", "dau-tu", "kinh-doanh", "khac"]
    fb = []
    for _ in range(feedback):
        at = when()
        handled = rnd.random() < 0.7
        handled_at = at + timedelta(days=3)
        fb.append({"created_at": at, "service": rnd.choice(services),
                   "satisfaction": rnd.choices([1, 2, 3, 4, 5], [1, 1, 2, 5, 6])[0], "comment": "",
                   "unit_id": rnd.choice(active_on(at)).id, "consent": False,
                   "status": "handled" if handled and handled_at < now else "new",
                   "handling_note": "đã xử lý" if handled else "",
                   "handled_at": handled_at if handled and handled_at < now else None})
    _bulk_insert(session, Feedback.__table__, fb)
    kv, progress, outside = [], [], []
    today = now.astimezone(LOCAL_TZ).date()
    for plan in session.exec(select(Plan).where(Plan.year.in_(year_list))).all():  # type: ignore[attr-defined]
        last_day = min(today, date(plan.year, 12, 31))
        months = [m for m in (3, 6, 9, 11) if date(plan.year, m, 28) <= last_day] or [1]
        valid = [u for u in units if u.valid_on(last_day)]
        for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id,
                                                       PlanTarget.kind == "entered")).all():
            for u in resolve_units(session, t.responsible, valid):
                if rnd.random() < 0.15:
                    continue  # some units never report
                for month in months:
                    den = rnd.randint(50, 5000)
                    num = round(den * rnd.uniform(0.4, 1.0))
                    counts = t.entry == "counts"
                    day = min(date(plan.year, month, rnd.randint(1, 28)), last_day)
                    kv.append({"target_id": t.id, "unit_id": u.id, "year": plan.year,
                               "value": round(100.0 * num / den, 2) if counts else round(rnd.uniform(40, 100), 1),
                               "numerator": num if counts else None, "denominator": den if counts else None,
                               "as_of": day, "note": "",
                               "entered_at": datetime.combine(day, datetime.min.time(), tzinfo=UTC)})
        for task in session.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)).all():
            for u in resolve_units(session, task.responsible, valid):
                status = rnd.choice(["not_started", "in_progress", "done", "done"])
                progress.append({"task_id": task.id, "unit_id": u.id, "status": status, "note": "",
                                 "updated_at": now - timedelta(days=rnd.randrange(1, 200))})
        for u in rnd.sample(valid, min(len(valid), 30)):
            day = date(plan.year, rnd.randint(1, last_day.month), 1)
            outside.append({"unit_id": u.id, "kind": rnd.choice(["portal", "press", "social", "broadcast"]),
                            "title": "Bài đăng ngoài Lan Tỏa", "url": "https://example.vn/bai",
                            "published_on": day, "campaign_id": None})
    _bulk_insert(session, KpiValue.__table__, kv)
    _bulk_insert(session, TaskProgress.__table__, progress)
    for row in outside:
        session.add(OutsidePublication(**{k: v for k, v in row.items() if k != "campaign_id"}))
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE"))
    return {"admin": admin, "years": year_list}


def naive(session, plan, now):
    """The obvious implementation: SQL per target per cut-off (the baseline)."""
    from sqlalchemy import func
    from sqlmodel import select

    from campaigns.measure.compute import LOUDSPEAKER, month_end, trend_months, year_bounds
    from campaigns.measure.models import Feedback, KpiValue, PlanTarget
    from campaigns.measure.plans import resolve_units
    from core.models import OrgUnit
    from core.units import subtree_ids
    from scheduler.models import ChannelAccount, Delivery

    start, end = year_bounds(plan.year)
    out = {}
    for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all():
        expected = [u.id for u in resolve_units(session, t.responsible)]
        values = []
        cutoffs = [min(now, month_end(plan.year, m)) for m in trend_months(plan.year, now)]
        cutoffs.append(min(now, end - timedelta(microseconds=1)))
        for cutoff in cutoffs:
            value = None
            if t.metric in ("units_published", "grassroots_broadcast"):
                q = select(func.coalesce(Delivery.unit_id, ChannelAccount.unit_id)).join(
                    ChannelAccount, ChannelAccount.id == Delivery.channel_account_id).distinct()
                if t.metric == "units_published":
                    q = q.where(ChannelAccount.channel != LOUDSPEAKER, Delivery.status == "sent",
                                Delivery.sent_at >= start, Delivery.sent_at <= cutoff)
                else:
                    q = q.where(ChannelAccount.channel == LOUDSPEAKER, Delivery.confirmed_at >= start,
                                Delivery.confirmed_at <= cutoff)
                active = set(session.exec(q).all())
                num = sum(1 for u in expected if subtree_ids(session, u) & active)
                value = round(100.0 * num / len(expected), 1) if expected else None
            elif t.metric in ("satisfaction", "feedback_handled"):
                base = select(func.count(Feedback.id)).where(Feedback.created_at >= start,
                                                             Feedback.created_at <= cutoff)
                services = (t.options or {}).get("services")
                if services:
                    base = base.where(Feedback.service.in_(services))
                total = session.exec(base).one()
                if t.metric == "satisfaction":
                    num = session.exec(base.where(Feedback.satisfaction >= 4)).one()
                else:
                    num = session.exec(base.where(Feedback.status == "handled",
                                                  Feedback.handled_at <= cutoff)).one()
                value = round(100.0 * num / total, 1) if total else None
            else:
                day = cutoff.date()
                latest = []
                for uid in session.exec(select(KpiValue.unit_id).where(
                        KpiValue.target_id == t.id, KpiValue.year == plan.year).distinct()).all():
                    row = session.exec(select(KpiValue.value, KpiValue.numerator, KpiValue.denominator).where(
                        KpiValue.target_id == t.id, KpiValue.unit_id == uid, KpiValue.year == plan.year,
                        KpiValue.as_of <= day).order_by(KpiValue.as_of.desc(), KpiValue.entered_at.desc())).first()
                    if row is not None:
                        latest.append((uid, *row))
                if t.entry == "counts":  # sum of numerators / sum of denominators
                    den = sum(r[3] for r in latest if r[3])
                    value = round(100.0 * sum(r[2] for r in latest if r[3]) / den, 1) if den else None
                else:  # weighted by the plan's unit weights
                    codes = dict(session.exec(select(OrgUnit.id, OrgUnit.code)).all())
                    weighed = [((plan.weights or {}).get(codes[r[0]]), r[1]) for r in latest]
                    weighed = [(w, v) for w, v in weighed if w]
                    total = sum(w for w, _v in weighed)
                    value = round(sum(w * v for w, v in weighed) / total, 1) if total else None
            values.append(value)
        out[t.code] = values
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=60000)
    parser.add_argument("--feedback", type=int, default=20000)
    args = parser.parse_args(argv)
    os.environ.setdefault("LANTOA_SECRET_KEY", "bench-secret-key")
    from sqlmodel import SQLModel, select

    from app import create_app
    from campaigns.measure.compute import evaluate_plan
    from campaigns.measure.models import Plan
    from core.db import get_engine, session_scope

    tmp = Path(tempfile.mkdtemp(prefix="lantoa-bench-"))
    app = create_app({"TESTING": True, "LANTOA_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
                      "INSTANCE_PATH": str(tmp)})
    SQLModel.metadata.create_all(get_engine(app))
    year = 2025
    now = datetime(year, 12, 10, 8, tzinfo=UTC)
    t0 = time.perf_counter()
    with app.app_context():
        build(app, args.deliveries, args.feedback, year)
    print(f"built: {args.deliveries} deliveries, {args.feedback} feedback forms in {time.perf_counter() - t0:.1f} s")
    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).one()
        t0 = time.perf_counter()
        base = naive(s, plan, now)
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = evaluate_plan(s, plan, now=now)
        t_ours = time.perf_counter() - t0
        mismatches = []
        for r in ours:
            expected = base[r.target.code]
            got = [v for _m, v in r.trend] + [r.value]
            if expected != got:
                mismatches.append((r.target.code, expected[-3:], got[-3:]))
        for code in ("T03", "T05", "T12", "T12b", "T13", "T10"):
            r = next(x for x in ours if x.target.code == code)
            print(f"  {code:5} value {r.value!s:>6} %  ({r.detail})")
    print(f"baseline (SQL per target per month): {t_naive * 1000:8.0f} ms")
    print(f"snapshot evaluate_plan:              {t_ours * 1000:8.0f} ms")
    status = "same values" if not mismatches else f"MISMATCH {mismatches[:3]}"
    print(f"dashboard {len(ours)} targets x 12 months, {args.deliveries} deliveries: baseline "
          f"{t_naive:.2f} s, ours {t_ours:.2f} s ({t_naive / t_ours:.1f}x faster), {status}")


if __name__ == "__main__":
    main()
