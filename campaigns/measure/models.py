"""Tables of the measure package: the plan's targets and tasks, figures entered
by units (KpiValue), task progress, citizens' feedback, report texts and
in-app reminders.

A plan (province + year) is loaded from a YAML file (``plans/*.yaml``); its
targets and tasks become rows that an admin may edit afterwards.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext
from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import utc_column


class TargetKind(enum.StrEnum):
    #: computed from the app's own activity (deliveries, broadcasts, kits, feedback)
    measured = "measured"
    #: a figure entered by a unit with evidence
    entered = "entered"


class PlanStatus(enum.StrEnum):
    #: created by a roll-over, still being edited; feeds no dashboard, reminder or report
    draft = "draft"
    published = "published"


class EntryMode(enum.StrEnum):
    """How an entered target is entered."""

    #: the ratio's counts (numerator / denominator); province value = sum / sum
    counts = "counts"
    #: a percentage only (cannot be counted); province value weighted by the plan's unit weights
    percent = "percent"


class PublicationKind(enum.StrEnum):
    portal = "portal"
    press = "press"
    broadcast = "broadcast"
    social = "social"
    other = "other"


PUBLICATION_KIND_LABELS = {
    PublicationKind.portal: lazy_gettext("Cổng/trang thông tin điện tử"),
    PublicationKind.press: lazy_gettext("Bài báo"),
    PublicationKind.broadcast: lazy_gettext("Phát thanh, truyền hình, loa"),
    PublicationKind.social: lazy_gettext("Mạng xã hội"),
    PublicationKind.other: lazy_gettext("Khác"),
}


class TaskStatus(enum.StrEnum):
    not_started = "not_started"
    in_progress = "in_progress"
    done = "done"
    #: derived, never stored: not done and past its due date
    overdue = "overdue"


TASK_STATUS_LABELS = {
    TaskStatus.not_started: "Chưa bắt đầu",
    TaskStatus.in_progress: "Đang thực hiện",
    TaskStatus.done: "Hoàn thành",
    TaskStatus.overdue: "Quá hạn",
}


class FeedbackStatus(enum.StrEnum):
    new = "new"
    in_progress = "in_progress"
    handled = "handled"


FEEDBACK_STATUS_LABELS = {
    FeedbackStatus.new: lazy_gettext("Mới tiếp nhận"),
    FeedbackStatus.in_progress: lazy_gettext("Đang xử lý"),
    FeedbackStatus.handled: lazy_gettext("Đã tiếp thu, xử lý"),
}


class Plan(SQLModel, table=True):
    """One province's plan for one year (targets + tasks), loaded from YAML."""

    __tablename__ = "measure_plan"
    __table_args__ = (UniqueConstraint("key", name="uq_measure_plan_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: e.g. "soc-trang-2025"
    key: str = Field(max_length=80)
    province_code: str = Field(max_length=64)
    year: int = Field(index=True)
    title: str = Field(max_length=500)
    #: legal basis line shown in reports
    basis: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: units report to this unit (Sở KH&CN)
    report_to: str = Field(default="", max_length=64)
    #: yearly report deadline (15/12 of the year)
    deadline: date
    #: reminders start on this date (1/12)
    remind_from: date
    source: str = Field(default="", max_length=300)
    loaded_at: datetime | None = utc_column()
    #: draft (after a roll-over, editable) | published (feeds dashboards, reminders, reports)
    status: str = Field(default=PlanStatus.published,
                        sa_column=Column(String(10), nullable=False, default="published",
                                         server_default="published"))
    #: unit code -> weight (e.g. population) for targets entered as a percentage only
    weights: dict = Field(default_factory=dict,
                          sa_column=Column(JSON, nullable=False, default=dict, server_default="{}"))


class PlanTarget(SQLModel, table=True):
    __tablename__ = "measure_target"
    __table_args__ = (UniqueConstraint("plan_id", "code", name="uq_measure_target_code"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="measure_plan.id", index=True)
    code: str = Field(max_length=20)
    section: str = Field(default="", max_length=20)
    title: str = Field(sa_column=Column(Text, nullable=False))
    kind: TargetKind = Field(sa_column=Column(String(10), nullable=False))
    #: for measured targets: the metric's name (see measure.compute.METRICS)
    metric: str | None = Field(default=None, max_length=40)
    #: metric options (e.g. {"services": ["dat-dai", ...]})
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    goal: float
    unit: str = Field(default="%", max_length=10)
    #: year the goal is due (2025, 2030)
    due_year: int
    #: unit codes or groups ("@departments", "@districts", "@all") that enter the figure
    responsible: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0
    #: entered targets: counts (numerator/denominator, labels in options) | percent
    entry: str = Field(default=EntryMode.percent,
                       sa_column=Column(String(10), nullable=False, default="percent", server_default="percent"))
    #: multi-year targets: the value at the start of the path (e.g. 2024) towards ``goal`` in ``due_year``
    baseline: float | None = None
    baseline_year: int | None = None


class PlanTask(SQLModel, table=True):
    __tablename__ = "measure_task"
    __table_args__ = (UniqueConstraint("plan_id", "code", name="uq_measure_task_code"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="measure_plan.id", index=True)
    code: str = Field(max_length=20)
    section: str = Field(default="", max_length=80)
    title: str = Field(sa_column=Column(Text, nullable=False))
    #: unit codes or groups (section VI of the plan)
    responsible: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    due: date
    position: int = 0


class TaskProgress(SQLModel, table=True):
    """What one unit reports on one task."""

    __tablename__ = "measure_task_progress"
    __table_args__ = (UniqueConstraint("task_id", "unit_id", name="uq_measure_task_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="measure_task.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    status: str = Field(default=TaskStatus.not_started, max_length=12)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime | None = utc_column()


class KpiValue(SQLModel, table=True):
    """A figure entered by a unit against a target, with its evidence.

    Every entry is kept (history drives the trend chart); the latest entry of a
    unit for a target and year is its current value.
    """

    __tablename__ = "measure_kpi_value"

    id: int | None = Field(default=None, primary_key=True)
    target_id: int = Field(foreign_key="measure_target.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    year: int = Field(index=True)
    #: the unit's percentage (for counts: 100 * numerator / denominator)
    value: float
    #: counts targets: what was counted from 1 January to ``as_of``
    numerator: float | None = None
    denominator: float | None = None
    #: the date the figure refers to (not in the future)
    as_of: date
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    evidence_url: str | None = Field(default=None, max_length=500)
    attachment_path: str | None = Field(default=None, max_length=500)
    attachment_name: str | None = Field(default=None, max_length=200)
    attachment_mime: str | None = Field(default=None, max_length=100)
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    entered_at: datetime | None = utc_column(index=True)


class Feedback(SQLModel, table=True):
    """A citizen's feedback from the public form (personal data optional)."""

    __tablename__ = "measure_feedback"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime | None = utc_column(index=True)
    #: service key (see feedback.SERVICES)
    service: str = Field(max_length=40, index=True)
    satisfaction: int
    #: stored exactly as typed (escaped on output)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: the unit the feedback is routed to
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    #: optional personal data (Decree 13/2023): only with consent, purged after retention
    name: str | None = Field(default=None, max_length=120)
    contact: str | None = Field(default=None, max_length=160)
    consent: bool = False
    personal_purge_after: date | None = None
    status: str = Field(default=FeedbackStatus.new, max_length=12, index=True)
    handling_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    handled_by: int | None = Field(default=None, foreign_key="user_account.id")
    handled_at: datetime | None = utc_column()
    #: the language of the public form the citizen used ("vi", "km" or "en"): a comment in
    #: Khmer is marked for staff, who may need someone to read it
    language: str = Field(default="vi", max_length=5, sa_column_kwargs={"server_default": "vi"})


class ReportText(SQLModel, table=True):
    """Editable free-text sections of a yearly report (unit_id None = consolidated)."""

    __tablename__ = "measure_report_text"
    __table_args__ = (UniqueConstraint("year", "unit_id", "section", name="uq_measure_report_text"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    #: results | difficulties | proposals | number | signer
    section: str = Field(max_length=20)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime | None = utc_column()


class Notice(SQLModel, table=True):
    """An in-app reminder for a unit (deduplicated per unit, kind and day)."""

    __tablename__ = "measure_notice"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_measure_notice_dedupe"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    year: int
    message: str = Field(sa_column=Column(Text, nullable=False))
    dedupe_key: str = Field(max_length=120)
    emailed_to: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime | None = utc_column()
    read_at: datetime | None = utc_column()


class OutsidePublication(SQLModel, table=True):
    """Something a unit published outside Lan Tỏa (a portal post, a press article,
    a broadcast...), with a link or a file as evidence. Counts for the measured
    targets it matches (see ``compute.OUTSIDE_METRICS``)."""

    __tablename__ = "measure_outside_publication"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    #: portal | press | broadcast | social | other
    kind: str = Field(max_length=12)
    title: str = Field(max_length=300)
    url: str | None = Field(default=None, max_length=500)
    attachment_path: str | None = Field(default=None, max_length=500)
    attachment_name: str | None = Field(default=None, max_length=200)
    attachment_mime: str | None = Field(default=None, max_length=100)
    published_on: date = Field(index=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    entered_at: datetime | None = utc_column()
