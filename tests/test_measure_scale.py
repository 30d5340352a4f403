"""The dashboard's figures computed the fast way (deliveries grouped in SQL, feedback counted by
bisection, unit groups resolved once) equal the previous computation (every delivery row, every
feedback form filtered per cut-off) on a generated city: the 2025 reorganisation, three years,
several campaigns — on SQLite and PostgreSQL (issue #22)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.db import session_scope

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def _reference_feedback(act, target, scope, cutoff):
    """The previous computation of the feedback metrics: filter every form per cut-off."""
    services = set((target.options or {}).get("services") or [])
    forms = [f for f in act.feedback if f[3] <= cutoff and (scope is None or f[0] in scope)
             and (not services or f[1] in services)]
    if target.metric == "satisfaction":
        return sum(1 for f in forms if f[2] >= 4), len(forms)
    return sum(1 for f in forms if f[4] is not None and f[4] <= cutoff), len(forms)


def _figures(results):
    return {r.target.code: (r.value, r.numerator, r.denominator, r.detail, r.reported, r.owed,
                            r.via_lantoa, r.via_outside, r.trend) for r in results}


def test_fast_figures_equal_the_previous_computation(any_app):
    from campaigns.measure.bench import build_city
    from campaigns.measure.compute import (
        evaluate_plan,
        load_activity,
        month_end,
        plan_units,
        scope_of,
        unit_resolver,
        year_bounds,
    )
    from campaigns.measure.models import Plan, PlanTarget, PlanTask
    from campaigns.measure.plans import resolve_units
    from core.models import OrgUnit

    with any_app.app_context(), session_scope(any_app) as s:
        info = build_city(s, now=NOW, deliveries=4000, downloads=300, campaigns=8, feedback=1500, years=3, seed=5)
    assert info["years"] == [2024, 2025, 2026]
    with any_app.app_context(), session_scope(any_app) as s:
        communes = s.exec(select(OrgUnit).where(OrgUnit.valid_from.is_not(None))).all()  # type: ignore[union-attr]
        assert len([u for u in communes if u.kind in ("commune", "ward", "special_zone")]) == 103
        checked = 0
        for year in info["years"]:
            plan = s.exec(select(Plan).where(Plan.year == year, Plan.status == "published")).one()
            slow = load_activity(s, year, per_event=True)
            fast = load_activity(s, year)
            assert len(fast.sent) < len(slow.sent)  # grouped: one row per unit and channel
            units = plan_units(s, plan, NOW)
            # unit groups resolved once per request == resolved each time
            resolve = unit_resolver(s, units)
            for owner in [*s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all(),
                          *s.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)).all()]:
                assert ([u.id for u in resolve(owner.responsible)]
                        == [u.id for u in resolve_units(s, owner.responsible, units)])
            # the whole province and a unit's subtree (a city commune; a district before the merger)
            scoped = [None] + [u.id for u in units if u.kind in ("commune", "ward", "district")][:2]
            for unit_id in scoped:
                before = evaluate_plan(s, plan, unit_id=unit_id, now=NOW, activity=slow)
                after = evaluate_plan(s, plan, unit_id=unit_id, now=NOW, activity=fast)
                assert _figures(after) == _figures(before)
                for metric in ("units_published", "grassroots_broadcast"):
                    assert fast.first_event(metric) == slow.first_event(metric)
                    assert fast.first_event(metric, "lantoa") == slow.first_event(metric, "lantoa")
                # feedback: bisection == filtering every form, at every month's end
                scope = scope_of(slow, unit_id)
                for t in s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id,
                                                         PlanTarget.metric.in_(("satisfaction",  # type: ignore[union-attr]
                                                                                "feedback_handled")))).all():
                    r = next(x for x in after if x.target.id == t.id)
                    assert [m for m, _v in r.trend] == list(range(1, 13 if year < 2026 else 12))
                    for month, r_month in r.trend:
                        cutoff = min(NOW, month_end(year, month))
                        num, den = _reference_feedback(slow, t, scope, cutoff)
                        assert r_month == (round(100.0 * num / den, 1) if den else None)
                    num, den = _reference_feedback(slow, t, scope, min(NOW, year_bounds(year)[1] - timedelta(microseconds=1)))
                    assert (r.numerator, r.denominator) == (num, den)
                    checked += 1
            values = {r.target.code: r.value for r in evaluate_plan(s, plan, now=NOW, activity=fast)}
            # the data is not trivial: coverage not empty (nor complete for T03: silent departments),
            # feedback counted
            assert 0 < values["T03"] < 100 and values["T05"] > 0, values
            assert values["T12"] is not None and values["T13"] is not None
        assert checked >= 9


def test_dashboard_and_report_open_on_the_generated_city(app):
    """The pages a user waits for work on the generated data (admin, default filters)."""
    from campaigns.measure.bench import build_city
    from core.timeutil import utcnow

    with app.app_context(), session_scope(app) as s:
        info = build_city(s, now=utcnow() - timedelta(minutes=5), deliveries=1500, downloads=100, campaigns=4,
                          feedback=400, years=2, seed=9)
    client = app.test_client()
    email, password = info["admin"]
    assert client.post("/login", data={"email": email, "password": password}).status_code == 302
    html = client.get("/measure").get_data(as_text=True)
    assert "T03" in html and "T05" in html
    year = info["years"][-1]
    r = client.get(f"/measure/report/download?year={year}&format=docx")
    assert r.status_code == 200 and r.data[:2] == b"PK"
