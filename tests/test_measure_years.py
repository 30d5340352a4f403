"""Plans per year: roll-over (CLI and UI), drafts, any year's pages, multi-year paths."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login, make_user
from tests.measure_helpers import (
    PLAN_FILE,
    fast_hash,
    figure_form,
    freeze_clock,
    plan_doc,
    target_id,
    this_year,
)


def _plan(app, year: int):
    from campaigns.measure.models import Plan

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).first()
        if plan is not None:
            s.expunge(plan)
        return plan


def _tasks(app, plan_id: int) -> dict:
    from campaigns.measure.models import PlanTask

    with app.app_context(), session_scope(app) as s:
        return {t.code: (t.due, list(t.responsible), t.title)
                for t in s.exec(select(PlanTask).where(PlanTask.plan_id == plan_id)).all()}


@pytest.fixture
def fresh_demo(app, runner, monkeypatch):
    """A fresh ``seed-demo`` (only the bundled 2025 plan) and staff users."""
    monkeypatch.setattr("tests.helpers.hash_password", fast_hash)
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return {"admin": make_user(app, "admin"), "district": make_user(app, "unit_officer", "tx-vinh-chau"),
            "reviewer": make_user(app, "reviewer")}


def test_rollover_cli_then_report_and_dashboard_open_on_this_year(app, runner, fresh_demo, tmp_path, monkeypatch):
    # a later year than the bundled plan's, whatever the real date
    freeze_clock(monkeypatch, datetime(2027, 3, 10, 3, 0, tzinfo=UTC))
    year = this_year()
    assert year == 2027
    out = tmp_path / "bao-cao.docx"
    # before: a clear message that says how to make the plan, no traceback
    result = runner.invoke(args=["report", "yearly", "--year", str(year), "--out", str(out)])
    assert result.exit_code != 0 and f"Không có kế hoạch cho năm {year}" in result.output
    assert f"plans rollover --from {year - 1} --to {year}" in result.output
    assert not out.exists()
    admin = app.test_client()
    login(admin, fresh_demo["admin"])
    r = admin.get("/measure")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f"Chưa có kế hoạch năm {year}" in html
    assert f"Tạo kế hoạch năm {year} từ 2025" in html
    district = app.test_client()
    login(district, fresh_demo["district"])
    r = district.get("/measure", follow_redirects=True)
    # the district officer is not shown last year's tasks as overdue in this year's view
    assert r.status_code == 200 and "Quá hạn" not in r.get_data(as_text=True)
    assert f"Chưa có kế hoạch năm {year}" in r.get_data(as_text=True)

    result = runner.invoke(args=["plans", "rollover", "--from", "2025", "--to", str(year), "--publish"])
    assert result.exit_code == 0, result.output
    assert "18 chỉ tiêu" in result.output and "đã ban hành" in result.output
    # the same again, or from a year without a plan: clear Vietnamese errors
    again = runner.invoke(args=["plans", "rollover", "--from", "2025", "--to", str(year)])
    assert again.exit_code != 0 and f"Đã có kế hoạch năm {year}" in again.output
    missing = runner.invoke(args=["plans", "rollover", "--from", "2019", "--to", "2020"])
    assert missing.exit_code != 0 and "Không có kế hoạch năm 2019" in missing.output

    result = runner.invoke(args=["report", "yearly", "--year", str(year), "--out", str(out)])
    assert result.exit_code == 0, result.output
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(out.read_bytes())).paragraphs)
    assert f"năm {year}" in text
    r = admin.get("/measure")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f"Tiến độ thực hiện kế hoạch năm {year}" in html
    assert "Chưa có kế hoạch" not in html
    # the district's tasks are this year's: every due date is in this year
    plan = _plan(app, year)
    assert plan.status == "published" and plan.deadline == date(year, 12, 15)
    assert {d.year for d, _r, _t in _tasks(app, plan.id).values()} == {year}
    r = district.get("/measure", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and f"kết quả năm {year}" in page
    assert not re.search(r"\d\d/\d\d/2025", page)  # nothing from the 2025 plan


def test_rollover_through_the_ui_draft_edit_publish(app, fresh_demo):
    year = 2031  # a year no plan or target is due: a pure copy-and-move
    admin = app.test_client()
    login(admin, fresh_demo["admin"])
    r = admin.get(f"/measure?year={year}")
    assert r.status_code == 200 and f"Tạo kế hoạch năm {year} từ 2025" in r.get_data(as_text=True)
    reviewer = app.test_client()
    login(reviewer, fresh_demo["reviewer"])
    assert reviewer.post("/measure/plans/rollover", data={"from_year": 2025, "to_year": year}).status_code == 403
    for bad in ({"from_year": "99999999999", "to_year": year}, {"from_year": "hai", "to_year": year},
                {"from_year": 2025, "to_year": 2025}):
        r = admin.post("/measure/plans/rollover", data=bad)
        assert r.status_code == 422 and "flash-error" in r.get_data(as_text=True)
    assert _plan(app, year) is None
    r = admin.post("/measure/plans/rollover", data={"from_year": 2025, "to_year": year})
    assert r.status_code == 302
    draft = _plan(app, year)
    source = _plan(app, 2025)
    assert draft.status == "draft" and draft.key == f"soc-trang-{year}"
    old, new = _tasks(app, source.id), _tasks(app, draft.id)
    assert set(old) == set(new)
    for code, (due, responsible, title) in old.items():
        assert new[code] == (due.replace(year=year), responsible, title)
    # a draft feeds nothing yet: the page says so
    html = admin.get(f"/measure?year={year}").get_data(as_text=True)
    assert "bản nháp" in html and "Tiến độ thực hiện" not in html
    # edit a target's goal and a task before publishing
    t10 = target_id(app, year, "T10")
    assert admin.post(f"/measure/targets/{t10}", data={"goal": "90", "title": "Hồ sơ xử lý trực tuyến"}
                      ).status_code == 302
    task_id = _task_id(app, draft.id, "IV.3c")
    r = admin.post(f"/measure/tasks/{task_id}", data={"title": "Ngày Chuyển đổi số 10/10 năm nay",
                                                       "due": f"09/10/{year}", "responsible": "so-khcn, @districts"})
    assert r.status_code == 302
    r = admin.post(f"/measure/tasks/{task_id}", data={"title": "x", "due": "31/02/2031", "responsible": "khong-co"})
    assert r.status_code == 303  # refused, nothing changed
    assert _tasks(app, draft.id)["IV.3c"] == (date(year, 10, 9), ["so-khcn", "@districts"],
                                              "Ngày Chuyển đổi số 10/10 năm nay")
    page = admin.get("/measure/plans").get_data(as_text=True)
    assert "Bản nháp" in page and f"Ban hành kế hoạch năm {year}" in page
    r = admin.post(f"/measure/plans/{draft.id}/publish")
    assert r.status_code == 302
    r = admin.get(f"/measure?year={year}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f"Tiến độ thực hiện kế hoạch năm {year}" in html
    assert _plan(app, year).status == "published"
    # the 2025 plan is untouched
    assert _tasks(app, source.id)["IV.3c"][0] == date(2025, 10, 10)


def _task_id(app, plan_id: int, code: str) -> int:
    from campaigns.measure.models import PlanTask

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(PlanTask.id).where(PlanTask.plan_id == plan_id, PlanTask.code == code)).one()


def test_rollover_moves_29_february_and_keeps_targets_due_later(app):
    from campaigns.demo import seed_units
    from campaigns.measure.models import PlanTarget, PlanTask
    from campaigns.measure.plans import PlanError, load_plan, rollover, shift_year

    assert shift_year(date(2028, 2, 29), 1) == date(2029, 2, 28)
    assert shift_year(date(2028, 2, 29), 4) == date(2032, 2, 29)
    doc = plan_doc(2028)
    doc["tasks"][0]["due"] = "2028-02-29"
    with app.app_context(), session_scope(app) as s:
        seed_units(s)
        load_plan(s, doc)
        plan = rollover(s, 2028, 2029)
        tasks = {t.code: t for t in s.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)).all()}
        targets = {t.code: t for t in s.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all()}
        assert tasks[doc["tasks"][0]["code"]].due == date(2029, 2, 28)
        assert plan.deadline == date(2029, 12, 15) and plan.remind_from == date(2029, 12, 1)
        assert targets["T10"].due_year == 2029 and targets["T16"].due_year == 2030
        assert targets["T10"].entry == "counts" and targets["T10"].options["numerator"]
        assert targets["T16"].baseline == 50 and targets["T16"].baseline_year == 2025
        assert plan.weights == {"bao-soc-trang": 1.0, "dai-ptth-soc-trang": 1.0}
        with pytest.raises(PlanError, match="sau năm"):
            rollover(s, 2029, 2029)


def test_drafts_feed_no_reminders_and_pages_default_to_this_year(app, monkeypatch):
    from campaigns.demo import seed_units
    from campaigns.measure.plans import load_plan, plan_for_year, rollover
    from campaigns.measure.reminders import send_reminders

    monkeypatch.setattr("tests.helpers.hash_password", fast_hash)
    year = this_year()
    with app.app_context(), session_scope(app) as s:
        seed_units(s)
        load_plan(s, plan_doc(year - 1))
        draft = rollover(s, year - 1, year)
        assert plan_for_year(s, year) is None  # published only
        assert send_reminders(s, draft, date(year, 12, 2), mail=False) == []
    admin = make_user(app, "admin")
    client = app.test_client()
    login(client, admin)
    html = client.get("/measure").get_data(as_text=True)
    assert f"Chưa có kế hoạch năm {year}" in html and "bản nháp" in html
    # unknown or silly years are a page, never a 404 or a 500
    for arg in ("abc", "1800", str(year + 40)):
        assert client.get(f"/measure?year={arg}").status_code == 200
    assert client.get(f"/measure/report?year={year + 40}").status_code == 200
    assert client.get(f"/measure/export.xlsx?year={year + 40}").status_code == 200
    assert client.get(f"/measure/units/tx-vinh-chau?year={year + 40}").status_code == 200


def test_multi_year_target_shows_its_path(app, monkeypatch):
    """T16: from 50 % (baseline 2025) to 70 % in 2030 — expected per year on the straight line."""
    from campaigns.demo import seed_units
    from campaigns.measure.plans import load_plan, rollover

    monkeypatch.setattr("tests.helpers.hash_password", fast_hash)
    # a current year between the baseline (2025) and the goal (2030), whatever the real date
    freeze_clock(monkeypatch, datetime(2027, 6, 15, 3, 0, tzinfo=UTC))
    year = this_year()
    assert year == 2027
    with app.app_context(), session_scope(app) as s:
        seed_units(s)
        load_plan(s, PLAN_FILE)
        rollover(s, 2025, year, publish=True)
    admin = make_user(app, "admin")
    client = app.test_client()
    login(client, admin)
    t16 = target_id(app, year, "T16")
    r = client.post(f"/measure/units/so-khcn/figures/{t16}",
                    data=figure_form("55", denominator="100", evidence_url="https://dvc.example/t16"))
    assert r.status_code == 302, r.get_data(as_text=True)
    from campaigns.measure.compute import evaluate_plan
    from campaigns.measure.models import Plan

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).one()
        res = {r.target.code: r for r in evaluate_plan(s, plan, with_trend=False, with_path=True)}["T16"]
    path = {y: (e, a) for y, e, a in res.path}
    assert sorted(path) == list(range(2026, 2031))
    expected = round(50 + 20 * (year - 2025) / 5, 1)
    assert expected == 58.0  # 2027: two fifths of the way from 50 % to 70 %
    assert path[year] == (expected, 55.0)
    assert path[2030][0] == 70.0 and path[2030][1] is None  # still to come
    assert res.expected == expected and not res.met  # 2030's goal is not reached in this year
    assert res.verdict == "Chậm so với lộ trình"  # 55 % < 58 % expected in 2027
    html = client.get(f"/measure?year={year}").get_data(as_text=True)
    assert "Lộ trình từ 50% năm 2025 đến 70% năm 2030" in html
    assert ("đúng lộ trình" if 55.0 >= expected else "chậm so với lộ trình") in html
    assert f"năm {year} cần {expected:g}%".replace(".", ",") in html


def test_all_means_departments_and_the_local_level_under_the_province(app):
    """Three tiers: @all = departments + districts (communes count through them); two tiers
    (since 1/7/2025): departments + the wards, communes and special zones under the province."""
    from campaigns.measure.plans import resolve_units
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        p3 = OrgUnit(code="tinh-a", name="Tỉnh A", kind="province")
        p2 = OrgUnit(code="tp-b", name="Thành phố B", kind="province")
        s.add_all([p3, p2])
        s.flush()
        d = OrgUnit(code="huyen-a", name="Huyện A", kind="district", parent_id=p3.id)
        dep = OrgUnit(code="so-a", name="Sở A", kind="department", parent_id=p3.id)
        s.add_all([d, dep])
        s.flush()
        s.add_all([OrgUnit(code="xa-a", name="Xã A", kind="commune", parent_id=d.id),
                   OrgUnit(code="phuong-b", name="Phường B", kind="ward", parent_id=p2.id),
                   OrgUnit(code="xa-b", name="Xã B", kind="commune", parent_id=p2.id),
                   OrgUnit(code="dac-khu-b", name="Đặc khu B", kind="special_zone", parent_id=p2.id)])
        s.flush()
        codes = lambda group: sorted(u.code for u in resolve_units(s, [group]))  # noqa: E731
        assert codes("@all") == ["dac-khu-b", "huyen-a", "phuong-b", "so-a", "xa-b"]
        assert codes("@localities") == ["dac-khu-b", "huyen-a", "phuong-b", "xa-b"]
        assert codes("@communes") == ["dac-khu-b", "phuong-b", "xa-a", "xa-b"]
        assert codes("@districts") == ["huyen-a"]


def test_merged_communes_hand_their_figures_to_the_successor_and_keep_their_history(app, monkeypatch):
    """Two communes merge on a day this year: before it they owe T05 and IV.2b; after it the new
    commune owes them, the broadcast one of the old communes confirmed counts for it, and the
    task the old commune reported done stays in the rows as it was (never overdue)."""
    from datetime import datetime, time, timedelta

    from campaigns.measure.compute import evaluate_plan, local_today, task_rows
    from campaigns.measure.models import Plan, PlanTask, TaskProgress
    from core.models import OrgUnit
    from core.timeutil import LOCAL_TZ
    from core.units import reorganise
    from tests.measure_helpers import add_account, add_delivery, setup_world

    # two days of the year before today, whatever the real date (a 1-2 January run too)
    freeze_clock(monkeypatch, datetime(2026, 3, 15, 3, 0, tzinfo=UTC))
    today = local_today()
    assert today == date(2026, 3, 15)
    w = setup_world(app, monkeypatch)
    speaker = add_account(app, "loudspeaker", "xa-lac-hoa", {"unit_code": "xa-lac-hoa"})
    d = add_delivery(app, speaker, "Bản tin", unit_code="xa-lac-hoa")
    merge_day = today - timedelta(days=1)
    before = datetime.combine(merge_day - timedelta(days=1), time(12), tzinfo=LOCAL_TZ)
    from scheduler.models import Delivery

    with app.app_context(), session_scope(app) as s:
        row = s.get(Delivery, d)
        row.status, row.sent_at = "sent", before
        row.confirmed_at = before
        s.add(row)
        plan = s.get(Plan, w["plan_id"])
        task = s.exec(select(PlanTask).where(PlanTask.plan_id == plan.id, PlanTask.code == "IV.2b")).one()
        s.add(TaskProgress(task_id=task.id, unit_id=w["units"]["xa-lac-hoa"], status="done", note="đã phát"))
    with app.app_context(), session_scope(app) as s:
        reorganise(s, [{"old_code": code, "new_code": "xa-lac-hoa-moi", "new_name": "Xã Lạc Hòa (mới)",
                        "new_kind": "commune", "new_parent_code": "tx-vinh-chau",
                        "effective_on": merge_day.isoformat()} for code in ("xa-lac-hoa", "xa-vinh-hai")],
                   today=today)
    with app.app_context(), session_scope(app) as s:
        plan = s.get(Plan, w["plan_id"])
        new_id = s.exec(select(OrgUnit.id).where(OrgUnit.code == "xa-lac-hoa-moi")).one()
        old = {w["units"]["xa-lac-hoa"], w["units"]["xa-vinh-hai"]}
        then = {r.target.code: r for r in evaluate_plan(s, plan, now=before, with_trend=False)}
        now = {r.target.code: r for r in evaluate_plan(s, plan, with_trend=False)}
        assert (then["T05"].numerator, then["T05"].denominator) == (1, 6)  # six communes, one broadcast
        assert (now["T05"].numerator, now["T05"].denominator) == (1, 5)  # 2 merged into 1, still covered
        rows = {(r.task.code, r.unit.id): r.status for r in task_rows(s, plan)}
        assert rows[("IV.2b", w["units"]["xa-lac-hoa"])] == "done"  # its own history, as reported
        assert ("IV.2b", w["units"]["xa-vinh-hai"]) not in rows  # ended and reported nothing
        assert ("IV.2b", new_id) in rows  # the successor carries the task on
        assert not {uid for (_c, uid), st in rows.items() if uid in old and st == "overdue"}
