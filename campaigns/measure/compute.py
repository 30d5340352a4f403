"""Target values from the app's activity and from figures units entered.

Everything is read once per year into an :class:`Activity` snapshot and then
evaluated in Python at any cut-off time, so a dashboard with trend charts (12
cut-offs x N targets) costs a handful of queries, not hundreds.

Metrics of measured targets (all percentages):

``units_published``
    share of the responsible units whose subtree has at least one *sent*
    delivery on a non-loudspeaker channel in the year (posts, SMS, webhooks).
``grassroots_broadcast``
    share of the responsible units (communes) whose subtree has at least one
    *confirmed* loudspeaker broadcast in the year.
``satisfaction``
    share of feedback forms scored 4 or 5 (of 5), optionally for some services.
``feedback_handled``
    share of feedback recorded as handled by the responsible unit.

Entered targets: the mean of the latest figure of each unit in scope.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select

from campaigns.measure.models import (
    Feedback,
    FeedbackStatus,
    KpiValue,
    Plan,
    PlanTarget,
    PlanTask,
    TargetKind,
    TaskProgress,
    TaskStatus,
)
from campaigns.measure.plans import resolve_units
from campaigns.models import Kit, KitDownload, LinkScan
from core.models import OrgUnit
from core.timeutil import LOCAL_TZ, utcnow
from scheduler.models import ChannelAccount, Delivery
from scheduler.states import Status

LOUDSPEAKER = "loudspeaker"


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The local calendar year as a UTC [start, end) range."""
    start = datetime(year, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, end


def month_end(year: int, month: int) -> datetime:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return datetime.combine(nxt, time(0), tzinfo=LOCAL_TZ).astimezone(UTC) - timedelta(microseconds=1)


@dataclass
class Activity:
    """What happened in one year, with the unit each event belongs to."""

    year: int
    units: dict[int, OrgUnit]
    parent: dict[int, int | None]
    #: (unit_id, channel, sent_at)
    sent: list[tuple[int, str, datetime]] = field(default_factory=list)
    #: (unit_id, confirmed_at)
    confirmed: list[tuple[int, datetime]] = field(default_factory=list)
    #: (unit_id, at)
    kit_downloads: list[tuple[int, datetime]] = field(default_factory=list)
    #: (unit_id | None, service, satisfaction, created_at, handled_at | None)
    feedback: list[tuple[int | None, str, int, datetime, datetime | None]] = field(default_factory=list)
    #: target_id -> [(unit_id, value, as_of, entered_at)]
    figures: dict[int, list[tuple[int, float, date, datetime]]] = field(default_factory=dict)

    def ancestors_and_self(self, unit_id: int) -> list[int]:
        out, cur, seen = [], unit_id, set()
        while cur is not None and cur not in seen:
            seen.add(cur)
            out.append(cur)
            cur = self.parent.get(cur)
        return out

    def subtree(self, unit_id: int) -> set[int]:
        children: dict[int | None, list[int]] = defaultdict(list)
        for uid, p in self.parent.items():
            children[p].append(uid)
        out, stack = set(), [unit_id]
        while stack:
            uid = stack.pop()
            if uid not in out:
                out.add(uid)
                stack.extend(children.get(uid, []))
        return out

    def covered(self, events: list[int]) -> set[int]:
        """Units that have an event in their subtree (the unit or below)."""
        out: set[int] = set()
        for uid in events:
            out.update(self.ancestors_and_self(uid))
        return out

    def first_event(self, metric: str) -> dict[int, datetime]:
        """unit -> time of the first event in its subtree (computed once per metric)."""
        cache = self.__dict__.setdefault("_first", {})
        if metric not in cache:
            events = (((u, at) for u, _c, at in self.sent) if metric == "units_published"
                      else iter(self.confirmed))
            earliest: dict[int, datetime] = {}
            for uid, at in events:
                if uid not in earliest or at < earliest[uid]:
                    earliest[uid] = at
            first: dict[int, datetime] = {}
            for uid, at in earliest.items():
                for anc in self.ancestors_and_self(uid):
                    if anc not in first or at < first[anc]:
                        first[anc] = at
            cache[metric] = first
        return cache[metric]


def load_activity(session: Session, year: int) -> Activity:
    start, end = year_bounds(year)
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    by_code = {u.code: u.id for u in units.values()}
    act = Activity(year=year, units=units, parent={u.id: u.parent_id for u in units.values()})
    in_year_sent = (Delivery.status == Status.sent) & (
        ((Delivery.sent_at >= start) & (Delivery.sent_at < end))  # type: ignore[operator]
        | (Delivery.sent_at.is_(None) & (Delivery.updated_at >= start) & (Delivery.updated_at < end)))  # type: ignore[union-attr,operator]
    in_year_confirmed = (Delivery.confirmed_at >= start) & (Delivery.confirmed_at < end)  # type: ignore[operator]
    rows = session.exec(
        select(Delivery.id, Delivery.unit_id, Delivery.status, Delivery.sent_at, Delivery.updated_at,
               Delivery.confirmed_at, ChannelAccount.channel, ChannelAccount.unit_id)
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(in_year_sent | in_year_confirmed)
    ).all()
    # Loudspeaker deliveries with no unit on the row or the account name it in their content.
    orphans = [r[0] for r in rows if r[6] == LOUDSPEAKER and r[1] is None and r[7] is None]
    orphan_units: dict[int, int | None] = {}
    if orphans:
        for did, content, config in session.exec(
            select(Delivery.id, Delivery.content, ChannelAccount.config)
            .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
            .where(Delivery.id.in_(orphans))  # type: ignore[union-attr]
        ).all():
            code = ((content or {}).get("options") or {}).get("unit_code") or (config or {}).get("unit_code")
            orphan_units[did] = by_code.get(code)
    for did, d_unit, status, sent_at, updated_at, confirmed_at, channel, a_unit in rows:
        unit_id = d_unit or a_unit or orphan_units.get(did)
        if unit_id is None:
            continue
        when = sent_at or updated_at
        if status == Status.sent and channel != LOUDSPEAKER and when and start <= when < end:
            act.sent.append((unit_id, channel, when))
        if channel == LOUDSPEAKER and confirmed_at and start <= confirmed_at < end:
            act.confirmed.append((unit_id, confirmed_at))
    for unit_id, at in session.exec(
        select(Kit.unit_id, KitDownload.at).join(Kit, Kit.id == KitDownload.kit_id)
        .where(KitDownload.at >= start, KitDownload.at < end)  # type: ignore[operator]
    ).all():
        act.kit_downloads.append((unit_id, at))
    for unit_id, service, score, created_at, status, handled_at in session.exec(
        select(Feedback.unit_id, Feedback.service, Feedback.satisfaction, Feedback.created_at, Feedback.status,
               Feedback.handled_at)
        .where(Feedback.created_at >= start, Feedback.created_at < end)  # type: ignore[operator]
    ).all():
        handled = handled_at if status == FeedbackStatus.handled else None
        act.feedback.append((unit_id, service, score, created_at, handled))
    for target_id, unit_id, value, as_of, entered_at in session.exec(
        select(KpiValue.target_id, KpiValue.unit_id, KpiValue.value, KpiValue.as_of, KpiValue.entered_at)
        .where(KpiValue.year == year)
    ).all():
        act.figures.setdefault(target_id, []).append((unit_id, value, as_of, entered_at))
    return act


@dataclass
class TargetResult:
    target: PlanTarget
    value: float | None
    #: e.g. "12/15 đơn vị", "40 phiếu"
    detail: str
    numerator: int = 0
    denominator: int = 0
    trend: list[tuple[int, float | None]] = field(default_factory=list)

    @property
    def goal(self) -> float:
        return self.target.goal

    @property
    def met(self) -> bool:
        return self.value is not None and self.value >= self.target.goal

    @property
    def progress(self) -> float:
        """0..100: how far the value is towards the goal."""
        if self.value is None or not self.target.goal:
            return 100.0 if self.value is not None and not self.target.goal else 0.0
        return max(0.0, min(100.0, 100.0 * self.value / self.target.goal))


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def scope_of(act: Activity, unit_id: int | None) -> set[int] | None:
    return None if unit_id is None else act.subtree(unit_id)


def evaluate_target(act: Activity, target: PlanTarget, responsible: list[int], scope: set[int] | None,
                    cutoff: datetime) -> TargetResult:
    """The target's value from the activity up to ``cutoff`` within ``scope`` (None = all)."""
    expected = [u for u in responsible if scope is None or u in scope]
    if target.kind == TargetKind.measured:
        metric = target.metric
        if metric in ("units_published", "grassroots_broadcast"):
            first = act.first_event(metric)
            num = sum(1 for u in expected if u in first and first[u] <= cutoff)
            return TargetResult(target, _pct(num, len(expected)), f"{num}/{len(expected)} đơn vị", num, len(expected))
        services = set((target.options or {}).get("services") or [])
        forms = [f for f in act.feedback if f[3] <= cutoff and (scope is None or f[0] in scope)
                 and (not services or f[1] in services)]
        if metric == "satisfaction":
            num = sum(1 for f in forms if f[2] >= 4)
            return TargetResult(target, _pct(num, len(forms)), f"{num}/{len(forms)} phiếu hài lòng", num, len(forms))
        if metric == "feedback_handled":
            num = sum(1 for f in forms if f[4] is not None and f[4] <= cutoff)
            return TargetResult(target, _pct(num, len(forms)), f"{num}/{len(forms)} ý kiến đã xử lý", num, len(forms))
        return TargetResult(target, None, "chỉ số không xác định")
    cutoff_day = cutoff.astimezone(LOCAL_TZ).date()
    latest: dict[int, tuple[date, datetime, float]] = {}
    for unit_id, value, as_of, entered_at in act.figures.get(target.id, []):
        if scope is not None and unit_id not in scope:
            continue
        if as_of > cutoff_day:  # the figure describes the situation on its as_of date
            continue
        key = (as_of, entered_at or datetime.min.replace(tzinfo=UTC), value)
        if unit_id not in latest or key[:2] >= latest[unit_id][:2]:
            latest[unit_id] = key
    if not latest:
        return TargetResult(target, None, f"0/{len(expected)} đơn vị đã nhập", 0, len(expected))
    mean = round(sum(v for _a, _e, v in latest.values()) / len(latest), 1)
    entered = sum(1 for u in expected if u in latest)
    return TargetResult(target, mean, f"{entered}/{len(expected)} đơn vị đã nhập", entered, len(expected))


def trend_months(year: int, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    local = now.astimezone(LOCAL_TZ)
    if local.year > year:
        return list(range(1, 13))
    if local.year < year:
        return []
    return list(range(1, local.month + 1))


def evaluate_plan(session: Session, plan: Plan, *, unit_id: int | None = None, now: datetime | None = None,
                  with_trend: bool = True, activity: Activity | None = None,
                  target_ids: set[int] | None = None) -> list[TargetResult]:
    """Every target of the plan (or those in ``target_ids``), its value now and
    (optionally) month by month."""
    now = now or utcnow()
    act = activity or load_activity(session, plan.year)
    _start, end = year_bounds(plan.year)
    cutoff = min(now, end - timedelta(microseconds=1))
    scope = scope_of(act, unit_id)
    units = list(act.units.values())
    targets = session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)
                           .order_by(PlanTarget.position, PlanTarget.id)).all()
    out = []
    for target in targets:
        if target_ids is not None and target.id not in target_ids:
            continue
        responsible = [u.id for u in resolve_units(session, target.responsible, units)]
        result = evaluate_target(act, target, responsible, scope, cutoff)
        if with_trend:
            result.trend = [(m, evaluate_target(act, target, responsible, scope,
                                                min(cutoff, month_end(plan.year, m))).value)
                            for m in trend_months(plan.year, now)]
        out.append(result)
    return out


# -- tasks ---------------------------------------------------------------------


@dataclass
class TaskRow:
    task: PlanTask
    unit: OrgUnit
    status: TaskStatus
    note: str = ""
    updated_at: datetime | None = None


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


def task_rows(session: Session, plan: Plan, *, unit_ids: set[int] | None = None,
              today: date | None = None) -> list[TaskRow]:
    """Each (task, responsible unit) with its status; overdue = not done past due date."""
    today = today or local_today()
    units = list(session.exec(select(OrgUnit)).all())
    tasks = session.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)
                         .order_by(PlanTask.position, PlanTask.id)).all()
    progress = {(p.task_id, p.unit_id): p for p in session.exec(
        select(TaskProgress).where(TaskProgress.task_id.in_([t.id for t in tasks] or [-1]))  # type: ignore[attr-defined]
    ).all()}
    rows = []
    for task in tasks:
        for unit in resolve_units(session, task.responsible, units):
            if unit_ids is not None and unit.id not in unit_ids:
                continue
            p = progress.get((task.id, unit.id))
            status = TaskStatus(p.status) if p else TaskStatus.not_started
            if status != TaskStatus.done and task.due < today:
                status = TaskStatus.overdue
            rows.append(TaskRow(task, unit, status, p.note if p else "", p.updated_at if p else None))
    return rows


def unit_task_summary(rows: list[TaskRow]) -> dict[int, dict[str, int]]:
    """unit_id -> {status: count}."""
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        counts = out.setdefault(r.unit.id, {s.value: 0 for s in TaskStatus})
        counts[r.status.value] += 1
    return out


# -- what a unit still owes ------------------------------------------------------


@dataclass
class Owed:
    unit: OrgUnit
    plan: Plan
    tasks: list[TaskRow]
    broadcasts: list[Delivery]
    kits: list[Kit]
    figures: list[PlanTarget]

    @property
    def count(self) -> int:
        return len(self.tasks) + len(self.broadcasts) + len(self.kits) + len(self.figures)


def unit_owes(session: Session, plan: Plan, unit: OrgUnit, *, today: date | None = None) -> Owed:
    """Tasks not done, broadcasts not confirmed, kits not downloaded, figures not entered."""
    from core.units import subtree_ids

    today = today or local_today()
    subtree = subtree_ids(session, unit.id)
    tasks = [r for r in task_rows(session, plan, unit_ids={unit.id}, today=today) if r.status != TaskStatus.done]
    start, end = year_bounds(plan.year)
    codes = {u.code for u in session.exec(select(OrgUnit).where(OrgUnit.id.in_(subtree))).all()}  # type: ignore[attr-defined]
    broadcasts = []
    for d, account in session.exec(
        select(Delivery, ChannelAccount).join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(ChannelAccount.channel == LOUDSPEAKER, Delivery.status == Status.sent,
               Delivery.confirmed_at.is_(None))  # type: ignore[union-attr]
    ).all():
        uid = d.unit_id or account.unit_id
        code = ((d.content or {}).get("options") or {}).get("unit_code") or (account.config or {}).get("unit_code")
        when = d.sent_at or d.scheduled_at
        if (uid in subtree or (uid is None and code in codes)) and when and start <= when < end:
            broadcasts.append(d)
    downloaded = set(session.exec(select(KitDownload.kit_id)).all())
    kits = [k for k in session.exec(select(Kit).where(Kit.unit_id.in_(subtree), Kit.status == "ready")).all()  # type: ignore[attr-defined]
            if k.id not in downloaded]
    units = list(session.exec(select(OrgUnit)).all())
    entered = set(session.exec(select(KpiValue.target_id).where(KpiValue.unit_id == unit.id,
                                                                KpiValue.year == plan.year)).all())
    figures = [t for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id,
                                                                PlanTarget.kind == TargetKind.entered)
                                       .order_by(PlanTarget.position)).all()
               if t.due_year == plan.year and unit.id in {u.id for u in resolve_units(session, t.responsible, units)}
               and t.id not in entered]
    return Owed(unit, plan, tasks, broadcasts, kits, figures)


def responsible_units(session: Session, plan: Plan) -> list[OrgUnit]:
    """Every unit with a task or a figure to enter in the plan."""
    units = list(session.exec(select(OrgUnit)).all())
    codes: list[str] = []
    for t in session.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)).all():
        codes += t.responsible
    for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id,
                                                   PlanTarget.kind == TargetKind.entered)).all():
        codes += t.responsible
    return resolve_units(session, list(dict.fromkeys(codes)), units)


# -- campaign reach ----------------------------------------------------------------


def campaign_reach(session: Session, campaign_id: int) -> dict:
    """Per channel: deliveries sent, SMS delivered, broadcasts confirmed, kits downloaded, scans."""
    from sqlalchemy import func

    channels: dict[str, dict[str, int]] = {}
    for channel, status, confirmed, n in session.exec(
        select(ChannelAccount.channel, Delivery.status, Delivery.confirmed_at.is_not(None),  # type: ignore[union-attr]
               func.count(Delivery.id))
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(Delivery.campaign_id == campaign_id)
        .group_by(ChannelAccount.channel, Delivery.status, Delivery.confirmed_at.is_not(None))  # type: ignore[union-attr]
    ).all():
        row = channels.setdefault(channel, {"planned": 0, "sent": 0, "failed": 0, "confirmed": 0})
        row["planned"] += n
        if status == Status.sent:
            row["sent"] += n
        if status == Status.failed:
            row["failed"] += n
        if confirmed:
            row["confirmed"] += n
    sms_delivered = 0
    try:
        from scheduler.sms.models import SmsMessage

        sms_delivered = session.exec(
            select(func.count(SmsMessage.id)).join(Delivery, Delivery.id == SmsMessage.delivery_id)
            .where(Delivery.campaign_id == campaign_id, SmsMessage.status == "delivered")
        ).one()
    except ImportError:  # pragma: no cover - SMS part absent
        pass
    kits = session.exec(select(func.count(Kit.id)).where(Kit.campaign_id == campaign_id)).one()
    downloaded_kits = session.exec(
        select(func.count(func.distinct(KitDownload.kit_id))).join(Kit, Kit.id == KitDownload.kit_id)
        .where(Kit.campaign_id == campaign_id)).one()
    downloads = session.exec(
        select(func.count(KitDownload.id)).join(Kit, Kit.id == KitDownload.kit_id)
        .where(Kit.campaign_id == campaign_id)).one()
    scans_by_unit = dict(session.exec(
        select(LinkScan.unit_id, func.count(LinkScan.id)).where(LinkScan.campaign_id == campaign_id)
        .group_by(LinkScan.unit_id)).all())
    names = {u.id: u for u in session.exec(select(OrgUnit).where(
        OrgUnit.id.in_([k for k in scans_by_unit if k is not None] or [-1]))).all()}  # type: ignore[attr-defined]
    return {
        "channels": channels,
        "posts_sent": sum(v["sent"] for k, v in channels.items() if k not in (LOUDSPEAKER, "sms_kannel", "sms_partner")),
        "sms_delivered": int(sms_delivered),
        "broadcasts_confirmed": channels.get(LOUDSPEAKER, {}).get("confirmed", 0),
        "kits": int(kits),
        "kits_downloaded": int(downloaded_kits),
        "kit_downloads": int(downloads),
        "scans": int(sum(scans_by_unit.values())),
        "scans_by_unit": sorted(
            [{"unit": names[k].code if k in names else None, "name": names[k].name if k in names else "—",
              "scans": int(v)} for k, v in scans_by_unit.items()], key=lambda r: -r["scans"]),
    }
