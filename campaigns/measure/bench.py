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
from datetime import UTC, datetime, timedelta
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
