"""Knowledge contests (cuộc thi trực tuyến tìm hiểu DVCTT): a question bank, contests
with weekly rounds, one-time SMS codes and the entries of citizens and pupils.

An entrant is known by phone number only (E.164), the commune (a unit) and, for
pupils, a school name; one entry per phone per round (a unique constraint).
The correct answers never leave the server before the entry is submitted: the
drawn question ids are stored on the entry and the page shows texts and options.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext
from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import utc_column

KINDS = {"single": lazy_gettext("Một đáp án"), "multiple": lazy_gettext("Nhiều đáp án")}


class ContestQuestion(SQLModel, table=True):
    __tablename__ = "contest_question"

    id: int | None = Field(default=None, primary_key=True)
    #: the bank's topic; a contest draws from its topic (or from every topic)
    topic: str = Field(default="", max_length=120, index=True)
    kind: str = Field(default="single", max_length=10)  # single | multiple
    text: str = Field(max_length=2000)
    #: the options as shown, in order
    options: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: indexes of the correct options
    correct: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    explanation: str = Field(default="", max_length=2000)
    active: bool = True
    created_at: datetime | None = utc_column()


class Contest(SQLModel, table=True):
    __tablename__ = "contest"

    id: int | None = Field(default=None, primary_key=True)
    #: the public address /thi/<slug>
    slug: str = Field(sa_column=Column(String(80), unique=True, nullable=False))
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    topic: str = Field(default="", max_length=120)
    questions_per_attempt: int = 10
    #: the SMS account (sms_partner or sms_kannel) the one-time codes go through
    sms_account_id: int | None = Field(default=None, foreign_key="channel_account.id")
    published: bool = False
    #: winners' list published on the public results page
    winners_published: bool = False
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()


class ContestRound(SQLModel, table=True):
    __tablename__ = "contest_round"

    id: int | None = Field(default=None, primary_key=True)
    contest_id: int = Field(foreign_key="contest.id", index=True)
    number: int
    opens_at: datetime | None = utc_column(nullable=False)
    closes_at: datetime | None = utc_column(nullable=False)


class ContestCode(SQLModel, table=True):
    """A one-time code sent by SMS; only its keyed hash is kept."""

    __tablename__ = "contest_code"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="contest_round.id", index=True)
    phone: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    code_hash: str = Field(max_length=64)
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    tries: int = 0
    created_at: datetime | None = utc_column()
    expires_at: datetime | None = utc_column()
    used_at: datetime | None = utc_column()


class ContestEntry(SQLModel, table=True):
    __tablename__ = "contest_entry"
    __table_args__ = (UniqueConstraint("round_id", "phone", name="uq_contest_entry_round_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="contest_round.id", index=True)
    #: secret of the attempt page (/thi/<slug>/bai/<token>)
    token: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    phone: str = Field(sa_column=Column(String(16), nullable=False))
    name: str = Field(default="", max_length=120)
    #: the entrant's commune
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    school: str = Field(default="", max_length=200)
    question_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: {question_id: [option indexes]} as submitted
    answers: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    score: int | None = None
    total: int = 0
    #: tie-break: "how many people will enter this round"
    guess: int | None = None
    started_at: datetime | None = utc_column()
    submitted_at: datetime | None = utc_column()
    duration_ms: int | None = None


# -- training and conferences (plan IV.5a-b) ----------------------------------------------

AUDIENCES = {
    "officials": lazy_gettext("Lãnh đạo, cán bộ, công chức, viên chức"),
    "operators": lazy_gettext("Cán bộ vận hành hệ thống cung cấp DVCTT"),
    "public": lazy_gettext("Người dân, doanh nghiệp"),
}
#: the plan target an audience's attendance counts for (docs/measure.md)
AUDIENCE_TARGETS = {"officials": "T01", "operators": "T02"}


class TrainingEvent(SQLModel, table=True):
    __tablename__ = "training_event"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    audience: str = Field(default="officials", max_length=20)
    #: the organising unit
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    starts_at: datetime | None = utc_column(nullable=False, index=True)
    place: str = Field(default="", max_length=300)
    online_link: str = Field(default="", max_length=500)
    #: [{"title": "...", "url": "..."}]
    materials: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()


class TrainingAttendee(SQLModel, table=True):
    __tablename__ = "training_attendee"
    __table_args__ = (UniqueConstraint("event_id", "phone", name="uq_training_attendee_event_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="training_event.id", index=True)
    #: secret of the attendee's ticket page (the QR code is made there)
    token: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(max_length=120)
    phone: str = Field(sa_column=Column(String(16), nullable=False))
    #: the attendee's own unit: attendance counts for it
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    registered_at: datetime | None = utc_column()
    checked_in_at: datetime | None = utc_column()
    checked_in_by: int | None = Field(default=None, foreign_key="user_account.id")


# -- awards (plan IV.3i) -------------------------------------------------------------------

AWARD_KINDS = {"collective": lazy_gettext("Tập thể"), "individual": lazy_gettext("Cá nhân")}


class AwardNomination(SQLModel, table=True):
    """A unit's nomination of a collective or an individual for good work on DVCTT
    communication; the decision (number, date, who decided) is recorded on it."""

    __tablename__ = "award_nomination"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    #: the nominating unit
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    kind: str = Field(default="collective", max_length=12)
    nominee: str = Field(max_length=200)
    achievements: str = Field(default="", max_length=4000)
    #: decision record: "123/QĐ-UBND", its date and who signed it
    decision_number: str | None = Field(default=None, max_length=60)
    decision_date: date | None = None
    decided_by: str | None = Field(default=None, max_length=200)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()


# -- design contests and the best-communicator contest (plan IV.3c, IV.4c) -----------------

DESIGN_KINDS = {
    "design": lazy_gettext("Thi thiết kế (áp phích, mô hình, video)"),
    "communicator": lazy_gettext("Thi tuyên truyền viên DVCTT giỏi"),
}


class DesignContest(SQLModel, table=True):
    __tablename__ = "design_contest"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(80), unique=True, nullable=False))
    title: str = Field(max_length=200)
    kind: str = Field(default="design", max_length=20)
    description: str = Field(default="", max_length=4000)
    #: [{"name": "Ý tưởng", "max": 40}, ...]
    criteria: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: accepting submissions on the public page
    open: bool = True
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()


class DesignJudge(SQLModel, table=True):
    """A judge (role contest_judge) assigned to one contest: they see only those."""

    __tablename__ = "design_judge"
    __table_args__ = (UniqueConstraint("contest_id", "user_id", name="uq_design_judge"),)

    id: int | None = Field(default=None, primary_key=True)
    contest_id: int = Field(foreign_key="design_contest.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)


class DesignSubmission(SQLModel, table=True):
    __tablename__ = "design_submission"

    id: int | None = Field(default=None, primary_key=True)
    contest_id: int = Field(foreign_key="design_contest.id", index=True)
    title: str = Field(max_length=200)
    author: str = Field(max_length=200)
    phone: str = Field(sa_column=Column(String(16), nullable=False))
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    school: str = Field(default="", max_length=200)
    #: stored under <instance>/contest_uploads/; the kind checked from its bytes
    file_path: str = Field(max_length=300)
    file_kind: str = Field(max_length=10)  # png | jpeg | pdf | mp4
    file_size: int = 0
    created_at: datetime | None = utc_column()


class DesignScore(SQLModel, table=True):
    __tablename__ = "design_score"
    __table_args__ = (UniqueConstraint("submission_id", "judge_id", name="uq_design_score"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="design_submission.id", index=True)
    judge_id: int = Field(foreign_key="user_account.id")
    #: points per criterion, in the contest's order
    points: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    total: float = 0
    scored_at: datetime | None = utc_column()
