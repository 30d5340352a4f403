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

Outside publications (:class:`OutsidePublication`: what a unit published
outside Lan Tỏa) count for ``units_published`` (portal, press, social) and
``grassroots_broadcast`` (broadcast); results say how many units were covered
through Lan Tỏa and how many only outside it.

Entered targets use the latest figure of each unit in scope (as of its date):
``counts`` targets give sum of numerators / sum of denominators; ``percent``
targets give the mean weighted by the plan's unit weights (never a plain mean).
A target is met only when every unit that owes it has reported.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select

from campaigns.measure.models import (
    EntryMode,
    Feedback,
    FeedbackStatus,
    KpiValue,
    OutsidePublication,
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
from core.units import successor_map, units_valid_on
from scheduler.models import ChannelAccount, Delivery
from scheduler.states import Status

LOUDSPEAKER = "loudspeaker"

#: metric -> kinds of outside publications that count for it
OUTSIDE_METRICS = {
    "units_published": ("portal", "press", "social"),
    "grassroots_broadcast": ("broadcast",),
}

#: entered percent targets that a press unit's confirmed programme slot
#: (campaigns/press: "đã phát/đã đăng" with evidence) also answers: the agency has
#: a programme/section on the subject, i.e. 100 % for that unit from that day on
PRESS_SLOT_TARGETS = ("T06",)

#: what each measured metric counts (shown next to the figure)
METRIC_BASIS = {
    "units_published": "Đếm đơn vị (kể cả đơn vị cấp dưới) có bài đăng, tin nhắn đã gửi qua Lan Tỏa "
                       "hoặc bài đăng ngoài Lan Tỏa (cổng, báo chí, mạng xã hội) đơn vị đã ghi nhận.",
    "grassroots_broadcast": "Đếm xã có buổi phát thanh đã xác nhận qua Lan Tỏa hoặc buổi phát ngoài "
                            "Lan Tỏa đã ghi nhận.",
    "satisfaction": "Tỷ lệ phiếu ý kiến người dân chấm mức 4–5 trên 5 (phiếu gửi qua Lan Tỏa).",
    "feedback_handled": "Tỷ lệ ý kiến người dân đã được ghi nhận là đã tiếp thu, xử lý.",
}


def fmt_num(value: float | None) -> str:
    """1234.5 -> "1.234,5" (Vietnamese digits grouping and decimal comma)."""
    if value is None:
        return "—"
    text = f"{value:,.1f}".rstrip("0").rstrip(".")
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


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
    #: (unit_id, channel, sent_at): the earliest sent post per unit and channel (every post
    #: with ``load_activity(per_event=True)``)
    sent: list[tuple[int, str, datetime]] = field(default_factory=list)
    #: (unit_id, confirmed_at): the earliest confirmed broadcast per unit (or every one)
    confirmed: list[tuple[int, datetime]] = field(default_factory=list)
    #: (unit_id | None, service, satisfaction, created_at, handled_at | None)
    feedback: list[tuple[int | None, str, int, datetime, datetime | None]] = field(default_factory=list)
    #: target_id -> [(unit_id, value, as_of, entered_at, numerator, denominator)]
    figures: dict[int, list[tuple]] = field(default_factory=dict)
    #: (unit_id, kind, published_at) of outside publications
    outside: list[tuple[int, str, datetime]] = field(default_factory=list)
    #: (unit_id, air/print day, confirmed_at) of confirmed press programme slots
    press_slots: list[tuple[int, date, datetime]] = field(default_factory=list)
    #: (attendee's unit_id, target code, checked_in_at, event id): training check-ins (T01/T02)
    training: list[tuple[int, str, datetime, int]] = field(default_factory=list)

    #: old unit id -> its successors (a reorganisation): what happened in the old unit
    #: counts for them too
    successors: dict[int, list[int]] = field(default_factory=dict)

    def ancestors_and_self(self, unit_id: int) -> list[int]:
        """The unit, its parents and (after a reorganisation) its successors and theirs."""
        out: list[int] = []
        seen: set[int] = set()
        stack = [unit_id]
        while stack:
            cur = stack.pop()
            if cur is None or cur in seen:
                continue
            seen.add(cur)
            out.append(cur)
            parent = self.parent.get(cur)
            if parent is not None:
                stack.append(parent)
            stack.extend(self.successors.get(cur, []))
        return out

    def subtree(self, unit_id: int) -> set[int]:
        """The unit, everything below it and the units it succeeded (with theirs)."""
        children: dict[int | None, list[int]] = defaultdict(list)
        for uid, p in self.parent.items():
            children[p].append(uid)
        for old, news in self.successors.items():
            for new in news:
                children[new].append(old)
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

    def training_index(self) -> dict[str, dict[int, list[tuple[datetime, date, int]]]]:
        """Training check-ins by target code and unit: [(checked_in_at, its local day, event id)]
        in the order they were read."""
        if "_training" not in self.__dict__:
            index: dict[str, dict[int, list]] = {}
            for u, c, at, ev in self.training:
                index.setdefault(c, {}).setdefault(u, []).append((at, at.astimezone(LOCAL_TZ).date(), ev))
            self.__dict__["_training"] = index
        return self.__dict__["_training"]

    def feedback_index(self, scope: set[int] | None, services: set[str]
                       ) -> tuple[list[datetime], list[datetime], list[datetime]]:
        """The feedback in ``scope`` (None: all) for ``services`` (empty: all), as sorted
        times, so that a count up to any cut-off is a bisection: (created_at of every form,
        created_at of those scored 4-5, the later of created_at and handled_at of those
        handled: a form counts as handled by a cut-off when both are before it)."""
        cache = self.__dict__.setdefault("_feedback", {})
        key = (None if scope is None else frozenset(scope), frozenset(services))
        if key not in cache:
            forms = [f for f in self.feedback if f[3] is not None and (scope is None or f[0] in scope)
                     and (not services or f[1] in services)]
            cache[key] = (sorted(f[3] for f in forms), sorted(f[3] for f in forms if f[2] >= 4),
                          sorted(max(f[3], f[4]) for f in forms if f[4] is not None))
        return cache[key]

    def first_event(self, metric: str, source: str | None = None) -> dict[int, datetime]:
        """unit -> time of the first event in its subtree (computed once per metric and
        source: None = any, "lantoa" = through Lan Tỏa, "outside" = recorded outside it)."""
        cache = self.__dict__.setdefault("_first", {})
        if (metric, source) not in cache:
            events: list = []
            if source in (None, "lantoa"):
                events += ([(u, at) for u, _c, at in self.sent] if metric == "units_published"
                           else list(self.confirmed))
            if source in (None, "outside"):
                kinds = OUTSIDE_METRICS.get(metric, ())
                events += [(u, at) for u, k, at in self.outside if k in kinds]
            earliest: dict[int, datetime] = {}
            for uid, at in events:
                if uid not in earliest or at < earliest[uid]:
                    earliest[uid] = at
            first: dict[int, datetime] = {}
            for uid, at in earliest.items():
                for anc in self.ancestors_and_self(uid):
                    if anc not in first or at < first[anc]:
                        first[anc] = at
            cache[(metric, source)] = first
        return cache[(metric, source)]


def load_activity(session: Session, year: int, *, per_event: bool = False) -> Activity:
    """The year's activity. Deliveries are read as the earliest event per (unit, channel),
    grouped in SQL (coverage needs nothing else); ``per_event=True`` reads every delivery
    row instead (the previous way, kept as the reference the scale test and the benchmark
    compare with: both give the same figures)."""
    start, end = year_bounds(year)
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    by_code = {u.code: u.id for u in units.values()}
    act = Activity(year=year, units=units, parent={u.id: u.parent_id for u in units.values()})
    for old, news in successor_map(session).items():
        act.successors[old] = [new for new, _day in news]
    if per_event:
        _deliveries_per_event(session, act, start, end, by_code)
    else:
        _deliveries_grouped(session, act, start, end, by_code)
    # the year's feedback forms, thousands of rows: read as plain rows (no ORM), and on
    # PostgreSQL the driver's aware datetimes are taken as they come (any zone compares right)
    created, handled_at = _aware_column(session, Feedback.created_at), _aware_column(session, Feedback.handled_at)
    handled = FeedbackStatus.handled.value
    act.feedback = [
        (unit_id, service, score, created_at, when if status == handled else None)
        for unit_id, service, score, created_at, status, when in session.connection().execute(
            select(Feedback.unit_id, Feedback.service, Feedback.satisfaction, created, Feedback.status, handled_at)
            .where(Feedback.created_at >= start, Feedback.created_at < end)).all()  # type: ignore[operator]
    ]
    for target_id, unit_id, value, as_of, entered_at, num, den in session.exec(
        select(KpiValue.target_id, KpiValue.unit_id, KpiValue.value, KpiValue.as_of, KpiValue.entered_at,
               KpiValue.numerator, KpiValue.denominator)
        .where(KpiValue.year == year)
    ).all():
        act.figures.setdefault(target_id, []).append((unit_id, value, as_of, entered_at, num, den))
    for unit_id, kind, day in session.exec(
        select(OutsidePublication.unit_id, OutsidePublication.kind, OutsidePublication.published_on)
        .where(OutsidePublication.published_on >= date(year, 1, 1),
               OutsidePublication.published_on <= date(year, 12, 31))
    ).all():
        act.outside.append((unit_id, kind, local_start(day)))
    from campaigns.press.models import ProgrammeSlot

    for unit_id, day, confirmed_at in session.exec(
        select(ProgrammeSlot.unit_id, ProgrammeSlot.air_on, ProgrammeSlot.confirmed_at)
        .where(ProgrammeSlot.status == "confirmed", ProgrammeSlot.air_on >= date(year, 1, 1),
               ProgrammeSlot.air_on <= date(year, 12, 31))
    ).all():
        act.press_slots.append((unit_id, day, confirmed_at))
    from campaigns.contests.training import attendance_rows

    act.training = attendance_rows(session, start, end)
    return act


def _aware_column(session: Session, column):
    """A UTC column read as the driver gives it where the driver's datetimes are aware
    (PostgreSQL's timestamptz): the per-row conversion to UTC is skipped. SQLite keeps no
    offset, so its column goes through the UTC type as everywhere else."""
    from sqlalchemy import DateTime, type_coerce

    if session.get_bind().dialect.name == "sqlite":
        return column
    return type_coerce(column, DateTime(timezone=True))


def _in_year_sent(start: datetime, end: datetime, *, scan: bool = False):
    """Sent in the year: ``sent_at`` in it, or (no ``sent_at``) ``updated_at`` in it.

    ``scan``: the status test written so that no index on it is used (SQLite keeps no
    statistics and would walk ``ix_delivery_due`` through most of the table, 4x slower than
    reading it)."""
    sent = (Delivery.status.op("||")("") == Status.sent) if scan else (Delivery.status == Status.sent)  # type: ignore[union-attr]
    return sent & (
        ((Delivery.sent_at >= start) & (Delivery.sent_at < end))  # type: ignore[operator]
        | (Delivery.sent_at.is_(None) & (Delivery.updated_at >= start) & (Delivery.updated_at < end)))  # type: ignore[union-attr,operator]


def _orphan_unit(content: dict | None, config: dict | None, by_code: dict[str, int]) -> int | None:
    """A loudspeaker delivery with no unit on the row or the account names it in its content
    (or the account's config)."""
    code = ((content or {}).get("options") or {}).get("unit_code") or (config or {}).get("unit_code")
    return by_code.get(code)


def _deliveries_grouped(session: Session, act: Activity, start: datetime, end: datetime,
                        by_code: dict[str, int]) -> None:
    """Earliest sent post per (unit, channel) and earliest confirmed broadcast per unit: a few
    hundred rows whatever the number of deliveries."""
    d_unit, a_unit = Delivery.unit_id, ChannelAccount.unit_id
    in_year_confirmed = (Delivery.confirmed_at >= start) & (Delivery.confirmed_at < end)  # type: ignore[operator]
    if session.get_bind().dialect.name == "sqlite":
        rows = _first_events_sqlite(session, start, end, in_year_confirmed)
    else:  # the partial indexes of migration 0017: a few index probes per (account, unit) pair
        rows = _first_events_pg(session, start, end)
    for du, au, channel, first_sent, first_confirmed in rows:
        if first_sent is not None:
            act.sent.append((du or au, channel, _aware(first_sent)))
        if first_confirmed is not None:
            act.confirmed.append((du or au, _aware(first_confirmed)))
    for content, config, confirmed_at in session.exec(
        select(Delivery.content, ChannelAccount.config, Delivery.confirmed_at)
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(in_year_confirmed, ChannelAccount.channel == LOUDSPEAKER, d_unit.is_(None),  # type: ignore[union-attr]
               a_unit.is_(None))  # type: ignore[union-attr]
    ).all():
        unit_id = _orphan_unit(content, config, by_code)
        if unit_id is not None:
            act.confirmed.append((unit_id, confirmed_at))


def _first_events_sqlite(session: Session, start: datetime, end: datetime, in_year_confirmed) -> list[tuple]:
    """The first events grouped in SQL, in two plain scans.

    SQLite keeps no statistics: left alone it walks an index on the status, the channel or
    the unit (to group without sorting) and reads the table row by row, 3-4x slower than
    one scan; written as expressions, those columns use no index there. It also evaluates
    FILTER clauses row by row, slower than scanning twice."""
    from sqlalchemy import func

    d_key, a_unit = Delivery.unit_id + 0, ChannelAccount.unit_id  # type: ignore[operator]
    is_loudspeaker = ChannelAccount.channel.op("||")("") == LOUDSPEAKER  # type: ignore[union-attr]
    when = func.coalesce(Delivery.sent_at, Delivery.updated_at)
    posted = _in_year_sent(start, end, scan=True) & ~is_loudspeaker
    units_known = (Delivery.unit_id.is_not(None)) | (a_unit.is_not(None))  # type: ignore[union-attr]

    def joined(query):
        return (query.join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
                .where(units_known).group_by(d_key, a_unit, ChannelAccount.channel))

    rows = [(du, au, ch, first, None) for du, au, ch, first in session.exec(
        joined(select(d_key, a_unit, ChannelAccount.channel, func.min(when)).where(posted))).all()]
    rows += [(du, au, ch, None, first) for du, au, ch, first in session.exec(
        joined(select(d_key, a_unit, ChannelAccount.channel, func.min(Delivery.confirmed_at))
               .where(in_year_confirmed & is_loudspeaker))).all()]
    return rows


# PostgreSQL: the earliest in-year event of every (account, unit) pair, without reading
# the year's rows. ``pairs`` walks the distinct (account, unit) keys of a partial index one
# probe at a time (a loose index scan: a few hundred probes, however many deliveries), then
# each pair's first event of the year is one more probe into the same index. The unit is
# written ``coalesce(unit_id, 0)`` because a row comparison with NULL matches nothing (ids
# start at 1). Indexes ``ix_delivery_first_sent`` and ``ix_delivery_first_confirmed``
# (scheduler/models.py, migration 0017).
_FIRST_EVENTS_SQL = """
WITH RECURSIVE pairs(a, u) AS (
  (SELECT channel_account_id, coalesce(unit_id, 0) FROM delivery WHERE {cond}
   ORDER BY 1, 2 LIMIT 1)
  UNION ALL
  SELECT n.a, n.u FROM pairs p CROSS JOIN LATERAL (
    SELECT channel_account_id AS a, coalesce(unit_id, 0) AS u FROM delivery
    WHERE {cond} AND (channel_account_id, coalesce(unit_id, 0)) > (p.a, p.u)
    ORDER BY 1, 2 LIMIT 1) n
)
SELECT nullif(p.u, 0), ca.unit_id, ca.channel, f.first
FROM pairs p
JOIN channel_account ca ON ca.id = p.a AND {channel}
CROSS JOIN LATERAL (
  SELECT min({when}) AS first FROM delivery
  WHERE {cond} AND channel_account_id = p.a AND coalesce(unit_id, 0) = p.u
    AND {when} >= :start AND {when} < :end) f
WHERE f.first IS NOT NULL AND (p.u <> 0 OR ca.unit_id IS NOT NULL)
"""


def _first_events_pg(session: Session, start: datetime, end: datetime) -> list[tuple]:
    """(delivery unit, account unit, channel, first sent post, first confirmed broadcast) per
    group, as the grouped query gives them; the same figures on PostgreSQL from the indexes."""
    from sqlalchemy import text

    params = {"start": start, "end": end, "loudspeaker": LOUDSPEAKER}
    posted = text(_FIRST_EVENTS_SQL.format(cond=f"status = '{Status.sent.value}'",
                                           when="coalesce(sent_at, updated_at)",
                                           channel="ca.channel <> :loudspeaker"))
    confirmed = text(_FIRST_EVENTS_SQL.format(cond="confirmed_at IS NOT NULL", when="confirmed_at",
                                              channel="ca.channel = :loudspeaker"))
    first: dict[tuple, list] = {}
    for column, query in ((3, posted), (4, confirmed)):
        for du, au, channel, at in session.connection().execute(query, params):
            row = first.setdefault((du, au, channel), [du, au, channel, None, None])
            if row[column] is None or at < row[column]:
                row[column] = at
    return [tuple(row) for row in first.values()]


def _aware(value):
    """min() over a UTC column comes back without the column's type on some databases:
    a naive datetime or (SQLite) text is read as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _deliveries_per_event(session: Session, act: Activity, start: datetime, end: datetime,
                          by_code: dict[str, int]) -> None:
    """Every delivery row of the year (the reference for :func:`_deliveries_grouped`)."""
    in_year_confirmed = (Delivery.confirmed_at >= start) & (Delivery.confirmed_at < end)  # type: ignore[operator]
    rows = session.exec(
        select(Delivery.id, Delivery.unit_id, Delivery.status, Delivery.sent_at, Delivery.updated_at,
               Delivery.confirmed_at, ChannelAccount.channel, ChannelAccount.unit_id)
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(_in_year_sent(start, end) | in_year_confirmed)
    ).all()
    orphans = [r[0] for r in rows if r[6] == LOUDSPEAKER and r[1] is None and r[7] is None]
    orphan_units: dict[int, int | None] = {}
    if orphans:
        for did, content, config in session.exec(
            select(Delivery.id, Delivery.content, ChannelAccount.config)
            .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
            .where(Delivery.id.in_(orphans))  # type: ignore[union-attr]
        ).all():
            orphan_units[did] = _orphan_unit(content, config, by_code)
    for did, d_unit, status, sent_at, updated_at, confirmed_at, channel, a_unit in rows:
        unit_id = d_unit or a_unit or orphan_units.get(did)
        if unit_id is None:
            continue
        when = sent_at or updated_at
        if status == Status.sent and channel != LOUDSPEAKER and when and start <= when < end:
            act.sent.append((unit_id, channel, when))
        if channel == LOUDSPEAKER and confirmed_at and start <= confirmed_at < end:
            act.confirmed.append((unit_id, confirmed_at))


def training_added(act: Activity, code: str, counted: dict[int, tuple], cutoff: datetime) -> tuple[int, list[int]]:
    """People checked in at trainings counting for ``code`` (docs/contests.md) after the
    date of their unit's latest figure and up to ``cutoff``, capped at the unit's
    denominator; returns (added, event ids: their attendance lists are the evidence)."""
    added, events = 0, []
    by_unit = act.training_index().get(code)
    if not by_unit:
        return added, events
    for unit_id, row in counted.items():
        as_of, num, den = row[2], row[4], row[5]
        new = [(at, ev) for at, day, ev in by_unit.get(unit_id, ()) if at <= cutoff and day > as_of]
        take = int(min(len(new), max(0, den - num)))
        added += take
        events += [ev for _at, ev in new]
    return added, events


def local_start(day: date) -> datetime:
    """The start of a local calendar day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass
class TargetResult:
    target: PlanTarget
    value: float | None
    #: e.g. "12/15 đơn vị", "40 phiếu"
    detail: str
    numerator: float = 0
    denominator: float = 0
    trend: list[tuple[int, float | None]] = field(default_factory=list)
    #: entered targets: units that reported / units that owe the figure (None: measured)
    reported: int | None = None
    owed: int | None = None
    #: measured targets with outside publications: units covered through Lan Tỏa / only outside it
    via_lantoa: int | None = None
    via_outside: int | None = None
    #: what the figure counts
    basis: str = ""
    #: multi-year targets: [(year, expected on the straight path, actual or None)]
    path: list[tuple[int, float, float | None]] = field(default_factory=list)
    #: targets due after the plan's year with a baseline: the value expected this year
    expected: float | None = None

    @property
    def goal(self) -> float:
        return self.target.goal

    @property
    def complete(self) -> bool:
        """Every unit that owes the figure has reported (always true for measured targets)."""
        return self.owed is None or (self.reported or 0) >= self.owed

    @property
    def coverage(self) -> str:
        """ "9/12 đơn vị đã báo cáo" for entered targets, else ""."""
        return "" if self.owed is None else f"{self.reported}/{self.owed} đơn vị đã báo cáo"

    @property
    def met(self) -> bool:
        return self.value is not None and self.complete and self.value >= self.target.goal

    @property
    def on_path(self) -> bool | None:
        """For a target due in a later year: is the value where the straight path expects it?"""
        if self.expected is None or self.value is None or not self.complete:
            return None
        return self.value >= self.expected

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "Chưa có số liệu"
        if not self.complete:
            return "Chưa đủ số liệu"
        if self.expected is not None and not self.met:
            return "Đúng lộ trình" if self.on_path else "Chậm so với lộ trình"
        return "Đạt" if self.met else "Chưa đạt"

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


#: sorts before any entry time (a figure without one)
_NEVER = datetime.min.replace(tzinfo=UTC)


def latest_figures(act: Activity, target: PlanTarget, scope: set[int] | None,
                   cutoff: datetime) -> dict[int, tuple]:
    """unit -> its latest figure (unit_id, value, as_of, entered_at, numerator, denominator) on ``cutoff``."""
    cutoff_day = cutoff.astimezone(LOCAL_TZ).date()
    latest: dict[int, tuple] = {}
    rows = list(act.figures.get(target.id, []))
    if target.code in PRESS_SLOT_TARGETS and target.entry == EntryMode.percent:
        # a confirmed slot is a report of 100 % as of its day, marked by its source
        rows += [(u, 100.0, day, at, None, None, "slot") for u, day, at in act.press_slots]
    for row in rows:
        unit_id, _value, as_of, entered_at = row[:4]
        if scope is not None and unit_id not in scope:
            continue
        if as_of > cutoff_day:  # the figure describes the situation on its as_of date
            continue
        key = (as_of, entered_at or _NEVER)
        if unit_id not in latest or key >= (latest[unit_id][2], latest[unit_id][3] or _NEVER):
            latest[unit_id] = row
    return latest


def evaluate_target(act: Activity, target: PlanTarget, responsible: list[int], scope: set[int] | None,
                    cutoff: datetime, weights: dict[int, float] | None = None) -> TargetResult:
    """The target's value from the activity up to ``cutoff`` within ``scope`` (None = all).

    ``weights`` (unit id -> weight) weigh the units of a percent-only entered target."""
    expected = [u for u in responsible if scope is None or u in scope]
    if target.kind == TargetKind.measured:
        metric = target.metric
        basis = METRIC_BASIS.get(metric or "", "")
        if metric in ("units_published", "grassroots_broadcast"):
            first = act.first_event(metric)
            done = [u for u in expected if u in first and first[u] <= cutoff]
            num = len(done)
            lantoa = act.first_event(metric, "lantoa")
            via = sum(1 for u in done if u in lantoa and lantoa[u] <= cutoff)
            detail = f"{num}/{len(expected)} đơn vị"
            if num:
                detail += f" ({via} qua Lan Tỏa, {num - via} chỉ ngoài Lan Tỏa)"
            return TargetResult(target, _pct(num, len(expected)), detail, num, len(expected),
                                via_lantoa=via, via_outside=num - via, basis=basis)
        services = set((target.options or {}).get("services") or [])
        created, satisfied, handled = act.feedback_index(scope, services)
        total = bisect_right(created, cutoff)
        if metric == "satisfaction":
            num = bisect_right(satisfied, cutoff)
            return TargetResult(target, _pct(num, total), f"{num}/{total} phiếu hài lòng", num,
                                total, basis=basis)
        if metric == "feedback_handled":
            num = bisect_right(handled, cutoff)
            return TargetResult(target, _pct(num, total), f"{num}/{total} ý kiến đã xử lý", num,
                                total, basis=basis)
        return TargetResult(target, None, "chỉ số không xác định")
    latest = latest_figures(act, target, scope, cutoff)
    reported = sum(1 for u in expected if u in latest)
    owed = len(expected)
    coverage = f"{reported}/{owed} đơn vị đã báo cáo"
    opts = target.options or {}
    if target.entry == EntryMode.counts:
        basis = f"{opts.get('numerator', '')} / {opts.get('denominator', '')}".strip(" /")
        counted = {u: r for u, r in latest.items() if r[4] is not None and r[5]}
        # a figure entered as a bare percentage (before the target took counts) is not a report
        reported = sum(1 for u in expected if u in counted)
        coverage = f"{reported}/{owed} đơn vị đã báo cáo"
        num = sum(r[4] for r in counted.values())
        den = sum(r[5] for r in counted.values())
        trained, lists = training_added(act, target.code, counted, cutoff)
        num += trained
        value = round(100.0 * num / den, 1) if den else None
        detail = coverage + (f"; {fmt_num(num)}/{fmt_num(den)}" if den else "")
        if trained:
            from campaigns.contests.training import evidence_text

            detail += f"; {fmt_num(trained)} người điểm danh tập huấn sau ngày báo cáo" + evidence_text(lists)
        if len(counted) < len(latest):
            detail += f"; {len(latest) - len(counted)} đơn vị chỉ nhập tỷ lệ, cần nhập lại số đếm"
        return TargetResult(target, value, detail, num, den, reported=reported, owed=owed, basis=basis)
    weights = weights or {}
    weighed = [(weights[u], r[1]) for u, r in latest.items() if weights.get(u)]
    total = sum(w for w, _v in weighed)
    value = round(sum(w * v for w, v in weighed) / total, 1) if total else None
    unweighted = len(latest) - len(weighed)
    detail = coverage + ("; bình quân theo trọng số của kế hoạch" if weighed else "")
    slot_units = sum(1 for u in expected if u in latest and latest[u][6:] == ("slot",))
    if slot_units:
        detail += f"; {slot_units} đơn vị theo lịch phát sóng, đăng báo đã xác nhận qua Lan Tỏa"
    if unweighted:
        detail += f"; {unweighted} đơn vị thiếu trọng số, không tính"
    return TargetResult(target, value, detail, reported=reported, owed=owed,
                        basis="Tỷ lệ do đơn vị nhập, bình quân theo trọng số đơn vị trong kế hoạch")


def expected_on_path(target: PlanTarget, year: int) -> float | None:
    """The value a multi-year target should reach in ``year`` on the straight line from
    its baseline to its goal (None without a baseline)."""
    if target.baseline is None or target.baseline_year is None or target.due_year <= target.baseline_year:
        return None
    share = (year - target.baseline_year) / (target.due_year - target.baseline_year)
    share = max(0.0, min(1.0, share))
    return round(target.baseline + (target.goal - target.baseline) * share, 1)


def trend_months(year: int, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    local = now.astimezone(LOCAL_TZ)
    if local.year > year:
        return list(range(1, 13))
    if local.year < year:
        return []
    return list(range(1, local.month + 1))


def plan_day(plan: Plan, now: datetime | None = None) -> date:
    """The day whose units owe the plan: today within the plan's year, else its last day
    (or first, for a year still to come)."""
    today = local_today(now)
    return max(date(plan.year, 1, 1), min(today, date(plan.year, 12, 31)))


def plan_units(session: Session, plan: Plan, now: datetime | None = None) -> list[OrgUnit]:
    """Units that exist on :func:`plan_day` (units ended by a reorganisation owe nothing
    after it; their successors do, and the old units' activity counts for them)."""
    return units_valid_on(session, plan_day(plan, now))


def unit_resolver(session: Session, units: list[OrgUnit]):
    """``resolve_units`` over ``units``, each list of codes resolved once (the targets and
    tasks of a plan name the same groups again and again)."""
    from campaigns.measure.plans import GROUPS

    by_code = {u.code: u for u in units}
    per_code: dict[str, list[OrgUnit]] = {}
    cache: dict[tuple[str, ...], list[OrgUnit]] = {}

    def one(code: str) -> list[OrgUnit]:
        if code not in per_code:
            per_code[code] = (resolve_units(session, [code], units) if code in GROUPS
                              else [by_code[code]] if code in by_code else [])
        return per_code[code]

    def resolve(codes: list[str]) -> list[OrgUnit]:
        """The same as ``resolve_units(session, codes, units)``: ordered, no duplicates."""
        key = tuple(codes)
        if key not in cache:
            out: dict[int, OrgUnit] = {}
            for code in codes:
                for u in one(code):
                    out.setdefault(u.id, u)  # type: ignore[arg-type]
            cache[key] = list(out.values())
        return cache[key]

    return resolve


def unit_weights(plan: Plan, units: list[OrgUnit]) -> dict[int, float]:
    codes = plan.weights or {}
    return {u.id: float(codes[u.code]) for u in units if u.code in codes}


def evaluate_plan(session: Session, plan: Plan, *, unit_id: int | None = None, now: datetime | None = None,
                  with_trend: bool = True, activity: Activity | None = None,
                  target_ids: set[int] | None = None, with_path: bool = False) -> list[TargetResult]:
    """Every target of the plan (or those in ``target_ids``), its value now and
    (optionally) month by month and, for multi-year targets, year by year on its path."""
    now = now or utcnow()
    act = activity or load_activity(session, plan.year)
    _start, end = year_bounds(plan.year)
    cutoff = min(now, end - timedelta(microseconds=1))
    scope = scope_of(act, unit_id)
    day = plan_day(plan, now)
    units = [u for u in act.units.values() if u.valid_on(day)]
    weights = unit_weights(plan, units)
    targets = session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)
                           .order_by(PlanTarget.position, PlanTarget.id)).all()
    resolve = unit_resolver(session, units)
    out = []
    for target in targets:
        if target_ids is not None and target.id not in target_ids:
            continue
        responsible = [u.id for u in resolve(target.responsible)]
        result = evaluate_target(act, target, responsible, scope, cutoff, weights)
        result.detail += _team_evidence(session, target.code, scope, plan.year)
        if target.due_year > plan.year:
            result.expected = expected_on_path(target, plan.year)
        if with_trend:
            result.trend = [(m, evaluate_target(act, target, responsible, scope,
                                                min(cutoff, month_end(plan.year, m)), weights).value)
                            for m in trend_months(plan.year, now)]
        out.append(result)
    if with_path:
        add_paths(session, plan, out, unit_id=unit_id, now=now, current=act)
    return out


def _team_evidence(session: Session, code: str, scope: set[int] | None, year: int) -> str:
    """The community digital-technology teams' visits behind T09/T11 (docs/teams.md)."""
    try:
        from campaigns.teams.service import evidence_text
    except ModuleNotFoundError:
        return ""
    return evidence_text(session, code, scope, year)


def add_paths(session: Session, plan: Plan, results: list[TargetResult], *, unit_id: int | None,
              now: datetime, current: Activity) -> None:
    """For targets with a baseline: each year from the baseline to the due year, the value
    expected on the straight line and the actual value of the same target in that year's
    published plan (None for a year without a plan or still to come)."""
    from campaigns.measure.plans import plan_for_year

    pathed = [r for r in results if expected_on_path(r.target, plan.year) is not None]
    if not pathed:
        return
    this_year = now.astimezone(LOCAL_TZ).year
    actual: dict[tuple[int, str], float | None] = {}
    first = min(r.target.baseline_year for r in pathed)  # type: ignore[type-var]
    last = max(r.target.due_year for r in pathed)
    for year in range(first + 1, min(last, this_year) + 1):
        if year == plan.year:
            for r in results:
                actual[(year, r.target.code)] = r.value
            continue
        other = plan_for_year(session, year, plan.province_code)
        if other is None:
            continue
        codes = {r.target.code for r in pathed}
        ids = set(session.exec(select(PlanTarget.id).where(PlanTarget.plan_id == other.id,
                                                           PlanTarget.code.in_(codes))).all())  # type: ignore[attr-defined]
        if not ids:
            continue
        for r in evaluate_plan(session, other, unit_id=unit_id, now=now, with_trend=False, target_ids=ids):
            actual[(year, r.target.code)] = r.value
    for r in pathed:
        t = r.target
        r.path = [(y, expected_on_path(t, y), actual.get((y, t.code)))  # type: ignore[misc]
                  for y in range(t.baseline_year + 1, t.due_year + 1)]  # type: ignore[operator]


# -- the rows behind a figure ----------------------------------------------------


@dataclass
class FigureRows:
    """What a target's figure was computed from (the drill-down page)."""

    result: TargetResult
    #: responsible units in scope: (unit, reported/covered?, how: "qua Lan Tỏa" | "ngoài Lan Tỏa" | "")
    units: list[tuple[OrgUnit, bool, str]] = field(default_factory=list)
    #: entered targets: every KpiValue of the year in scope, latest first; ids of those counted
    figures: list[KpiValue] = field(default_factory=list)
    counted: set[int] = field(default_factory=set)
    #: measured targets: deliveries (delivery, channel) and outside publications counted
    deliveries: list[tuple[Delivery, str]] = field(default_factory=list)
    outside: list[OutsidePublication] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    limit: int = 500


def figure_rows(session: Session, plan: Plan, target: PlanTarget, *, unit_id: int | None = None,
                now: datetime | None = None, limit: int = 500) -> FigureRows:
    now = now or utcnow()
    act = load_activity(session, plan.year)
    result = evaluate_plan(session, plan, unit_id=unit_id, now=now, with_trend=False, activity=act,
                           target_ids={target.id})[0]
    scope = scope_of(act, unit_id)
    day = plan_day(plan, now)
    units = [u for u in act.units.values() if u.valid_on(day)]
    responsible = [u for u in resolve_units(session, target.responsible, units) if scope is None or u.id in scope]
    out = FigureRows(result=result, limit=limit)
    start, end = year_bounds(plan.year)
    cutoff = min(now, end - timedelta(microseconds=1))
    in_scope = (lambda uid: True) if scope is None else (lambda uid: uid in scope)
    if target.kind == TargetKind.entered:
        latest = latest_figures(act, target, scope, cutoff)
        out.figures = [kv for kv in session.exec(
            select(KpiValue).where(KpiValue.target_id == target.id, KpiValue.year == plan.year)
            .order_by(KpiValue.as_of.desc(), KpiValue.entered_at.desc())).all()  # type: ignore[union-attr]
            if in_scope(kv.unit_id)][:limit]
        latest_keys = {(r[0], r[2], r[3]) for r in latest.values()}
        out.counted = {kv.id for kv in out.figures if (kv.unit_id, kv.as_of, kv.entered_at) in latest_keys}
        out.units = [(u, u.id in latest, "") for u in responsible]
        return out
    metric = target.metric
    if metric in ("units_published", "grassroots_broadcast"):
        lantoa = act.first_event(metric, "lantoa")
        outside = act.first_event(metric, "outside")
        out.units = [(u, u.id in lantoa or u.id in outside,
                      "qua Lan Tỏa" if u.id in lantoa else ("ngoài Lan Tỏa" if u.id in outside else ""))
                     for u in responsible]
        covered: set[int] = set()
        for u in responsible:
            covered |= act.subtree(u.id)
        query = (select(Delivery, ChannelAccount.channel)
                 .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id))
        if metric == "units_published":
            query = query.where(Delivery.status == Status.sent, ChannelAccount.channel != LOUDSPEAKER,
                                Delivery.sent_at >= start, Delivery.sent_at < end)  # type: ignore[operator]
        else:
            query = query.where(ChannelAccount.channel == LOUDSPEAKER,
                                Delivery.confirmed_at >= start, Delivery.confirmed_at < end)  # type: ignore[operator]
        for d, channel in session.exec(query.order_by(Delivery.id.desc())).all():  # type: ignore[union-attr]
            account_unit = session.get(ChannelAccount, d.channel_account_id).unit_id
            uid = d.unit_id or account_unit
            if uid is None:
                code = ((d.content or {}).get("options") or {}).get("unit_code")
                uid = next((u.id for u in units if u.code == code), None)
            if uid in covered:
                out.deliveries.append((d, channel))
                if len(out.deliveries) >= limit:
                    break
        kinds = OUTSIDE_METRICS.get(metric, ())
        out.outside = list(session.exec(
            select(OutsidePublication).where(OutsidePublication.unit_id.in_(covered or {-1}),  # type: ignore[attr-defined]
                                             OutsidePublication.kind.in_(kinds),  # type: ignore[attr-defined]
                                             OutsidePublication.published_on >= date(plan.year, 1, 1),
                                             OutsidePublication.published_on <= date(plan.year, 12, 31))
            .order_by(OutsidePublication.published_on.desc()).limit(limit)).all())  # type: ignore[attr-defined]
        return out
    services = set((target.options or {}).get("services") or [])
    query = select(Feedback).where(Feedback.created_at >= start, Feedback.created_at < end)  # type: ignore[operator]
    if services:
        query = query.where(Feedback.service.in_(services))  # type: ignore[attr-defined]
    if scope is not None:
        query = query.where(Feedback.unit_id.in_(scope or {-1}))  # type: ignore[union-attr]
    out.feedback = list(session.exec(query.order_by(Feedback.created_at.desc()).limit(limit)).all())  # type: ignore[union-attr]
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
    """Each (task, responsible unit) with its status; overdue = not done past due date.

    The units are those that exist on the plan's day; a unit ended by a reorganisation
    during the year keeps the rows it reported itself (history, shown as reported, never
    overdue: its successor carries the task on)."""
    today = today or local_today()
    day = max(date(plan.year, 1, 1), min(today, date(plan.year, 12, 31)))
    all_units = list(session.exec(select(OrgUnit)).all())
    units = [u for u in all_units if u.valid_on(day)]
    tasks = session.exec(select(PlanTask).where(PlanTask.plan_id == plan.id)
                         .order_by(PlanTask.position, PlanTask.id)).all()
    # plain rows, not ORM objects: a city has thousands (tasks x units)
    progress = {(p.task_id, p.unit_id): p for p in session.exec(
        select(TaskProgress.task_id, TaskProgress.unit_id, TaskProgress.status, TaskProgress.note,
               TaskProgress.updated_at)
        .where(TaskProgress.task_id.in_([t.id for t in tasks] or [-1]))  # type: ignore[attr-defined]
    ).all()}
    reported_units = {key[1] for key in progress}
    ended = [u for u in all_units if u.valid_to is not None and date(plan.year, 1, 1) < u.valid_to <= day
             and u.id in reported_units]
    rows = []
    resolve = unit_resolver(session, units)
    for task in tasks:
        for unit in resolve(task.responsible):
            if unit_ids is not None and unit.id not in unit_ids:
                continue
            p = progress.get((task.id, unit.id))
            status = TaskStatus(p.status) if p else TaskStatus.not_started
            if status != TaskStatus.done and task.due < today:
                status = TaskStatus.overdue
            rows.append(TaskRow(task, unit, status, p.note if p else "", p.updated_at if p else None))
        for unit in ended:
            p = progress.get((task.id, unit.id))
            if p is None or (unit_ids is not None and unit.id not in unit_ids):
                continue
            rows.append(TaskRow(task, unit, TaskStatus(p.status), p.note, p.updated_at))
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
    units = units_valid_on(session, max(date(plan.year, 1, 1), min(today, date(plan.year, 12, 31))))
    entered: dict[int, bool] = {}  # target -> some figure has counts
    for target_id, num in session.exec(select(KpiValue.target_id, KpiValue.numerator).where(
            KpiValue.unit_id == unit.id, KpiValue.year == plan.year)).all():
        entered[target_id] = entered.get(target_id, False) or num is not None
    figures = [t for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id,
                                                                PlanTarget.kind == TargetKind.entered)
                                       .order_by(PlanTarget.position)).all()
               if t.due_year == plan.year and unit.id in {u.id for u in resolve_units(session, t.responsible, units)}
               and not (t.id in entered and (t.entry != EntryMode.counts or entered[t.id]))]
    return Owed(unit, plan, tasks, broadcasts, kits, figures)


def responsible_units(session: Session, plan: Plan) -> list[OrgUnit]:
    """Every unit with a task or a figure to enter in the plan (units that exist today)."""
    units = plan_units(session, plan)
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
