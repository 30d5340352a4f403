"""What each role's start page shows: what is due, what needs their action.

Plain queries returning plain lists; the view picks the function for the role.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from campaigns.models import Asset, Campaign, CampaignStatus, ContentItem, Kit
from core.models import OrgUnit, User
from core.timeutil import LOCAL_TZ, utcnow
from scheduler.models import BackgroundJob, ChannelAccount, Delivery
from scheduler.states import Status

#: delivery states a communicator must look at
PROBLEM_STATUSES = (Status.failed, Status.needs_review, Status.missed, Status.needs_auth, Status.unknown)
#: delivery states still waiting to go out
WAITING_STATUSES = (Status.scheduled, Status.queued, Status.retry_wait)
#: campaigns whose items still matter on a start page
OPEN_CAMPAIGNS = (CampaignStatus.draft, CampaignStatus.in_review, CampaignStatus.approved,
                  CampaignStatus.active, CampaignStatus.paused)


def week_bounds(today: date) -> tuple[datetime, datetime]:
    """Monday 00:00 to next Monday 00:00, Vietnam time."""
    start = today - timedelta(days=today.weekday())
    return (datetime.combine(start, time.min, tzinfo=LOCAL_TZ),
            datetime.combine(start + timedelta(days=7), time.min, tzinfo=LOCAL_TZ))


def local_today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


def due_this_week(session: Session, today: date | None = None, limit: int = 50) -> dict:
    lo, hi = week_bounds(today or local_today())
    items = session.exec(
        select(ContentItem, Campaign).join(Campaign, Campaign.id == ContentItem.campaign_id)
        .where(ContentItem.planned_at >= lo, ContentItem.planned_at < hi,
               Campaign.status.in_(OPEN_CAMPAIGNS))  # type: ignore[attr-defined]
        .order_by(ContentItem.planned_at).limit(limit)).all()
    deliveries = session.exec(
        select(Delivery, ChannelAccount, Campaign)
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.scheduled_at >= lo, Delivery.scheduled_at < hi,
               Delivery.status.in_(WAITING_STATUSES))  # type: ignore[attr-defined]
        .order_by(Delivery.scheduled_at).limit(limit)).all()
    return {"items": items, "deliveries": deliveries, "week": (lo.date(), (hi - timedelta(days=1)).date())}


def sent_back(session: Session) -> list[Campaign]:
    """Campaigns a reviewer returned with a comment, not yet resubmitted."""
    return list(session.exec(select(Campaign).where(
        Campaign.status == CampaignStatus.draft, Campaign.review_comment.is_not(None))  # type: ignore[union-attr]
        .order_by(Campaign.updated_at.desc()).limit(20)).all())


#: problems older than this are history, not a to-do (the deliveries page still lists them)
PROBLEM_DAYS = 30


def problem_deliveries(session: Session, limit: int = 20) -> tuple[list, dict]:
    """Sends of the last PROBLEM_DAYS days that failed, were missed or need a person."""
    since = utcnow() - timedelta(days=PROBLEM_DAYS)
    rows = session.exec(
        select(Delivery, ChannelAccount, Campaign)
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.status.in_(PROBLEM_STATUSES), Delivery.scheduled_at >= since)  # type: ignore[attr-defined]
        .order_by(Delivery.scheduled_at.desc()).limit(limit)).all()
    counts = dict(session.exec(select(Delivery.status, func.count()).where(
        Delivery.status.in_(PROBLEM_STATUSES), Delivery.scheduled_at >= since)  # type: ignore[attr-defined]
        .group_by(Delivery.status)).all())
    return rows, {Status(k): v for k, v in counts.items()}


def accounts_to_reconnect(session: Session) -> list[ChannelAccount]:
    """Accounts whose token expired, or whose last connection check failed."""
    rows = session.exec(select(ChannelAccount).order_by(ChannelAccount.name)).all()
    return [a for a in rows if a.status != "disabled"
            and (a.status == "needs_auth" or (a.health or {}).get("ok") is False)]


def failed_kits(session: Session, unit_ids: set[int] | None = None) -> list:
    q = (select(Kit, Campaign, OrgUnit).join(Campaign, Campaign.id == Kit.campaign_id)
         .join(OrgUnit, OrgUnit.id == Kit.unit_id).where(Kit.status == "failed"))
    if unit_ids is not None:
        q = q.where(Kit.unit_id.in_(unit_ids or [-1]))  # type: ignore[attr-defined]
    return list(session.exec(q.order_by(Kit.id.desc()).limit(20)).all())


def recent_renders(session: Session, user: User | None = None, limit: int = 6) -> dict:
    q = select(Asset).where(Asset.template.is_not(None))  # type: ignore[union-attr]
    assets = session.exec(q.order_by(Asset.id.desc()).limit(limit)).all()
    jobs = session.exec(select(BackgroundJob).where(
        BackgroundJob.name == "media.render", BackgroundJob.status.in_(("pending", "running", "failed")))  # type: ignore[attr-defined]
        .order_by(BackgroundJob.id.desc()).limit(limit)).all()
    return {"assets": assets, "jobs": jobs}


def review_queue(session: Session) -> list[tuple[Campaign, object]]:
    from campaigns.review import review_diff

    rows = session.exec(select(Campaign).where(Campaign.status == CampaignStatus.in_review)
                        .order_by(Campaign.updated_at, Campaign.id)).all()
    return [(c, review_diff(session, c)) for c in rows]


def unit_officer_home(session: Session, user: User) -> dict:
    from campaigns.kits.access import visible_kit_query
    from campaigns.measure import compute
    from campaigns.measure.models import Plan
    from campaigns.measure.plans import ensure_default_plans, plan_for_year

    unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
    kits = session.exec(visible_kit_query(session, user).order_by(Kit.id.desc()).limit(30)).all()
    campaigns = {c.id: c for c in session.exec(select(Campaign).where(
        Campaign.id.in_({k.campaign_id for k in kits} or {-1}))).all()}  # type: ignore[attr-defined]
    owed = None
    if unit is not None:
        if not session.exec(select(Plan.id)).first():
            ensure_default_plans(session)
            session.commit()
        # this year's published plan only: last year's tasks are not this year's debts
        plan = plan_for_year(session, local_today().year)
        if plan is not None:
            owed = compute.unit_owes(session, plan, unit)
    return {"unit": unit, "kits": kits, "kit_campaigns": campaigns, "owed": owed}


def first_steps(session: Session) -> list[tuple[str, bool]]:
    """A newcomer's first steps and whether each is done (the home shows them until all are)."""
    def has(model) -> bool:
        return session.exec(select(model.id)).first() is not None

    try:
        from scheduler.sms.models import RecipientList

        lists = has(RecipientList)
    except ImportError:  # pragma: no cover - the SMS part is optional
        lists = True
    return [("campaign", has(Campaign)), ("account", has(ChannelAccount)), ("media", has(Asset)),
            ("list", lists)]


def admin_warnings() -> list[str]:
    """Configuration problems an administrator must fix (sentences in the UI language)."""
    from flask import current_app

    import core.config as config

    out: list[str] = []
    check = getattr(config, "public_base_url_problem", None)
    if callable(check):
        problem = check(current_app)
        if problem:
            out.append(str(problem))
    return out


def admin_overview(session: Session) -> dict:
    campaigns = dict(session.exec(select(Campaign.status, func.count()).group_by(Campaign.status)).all())
    deliveries = dict(session.exec(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    users = dict(session.exec(select(User.role, func.count()).where(User.active.is_(True))  # type: ignore[attr-defined]
                              .group_by(User.role)).all())
    jobs_failed = session.exec(select(func.count()).select_from(BackgroundJob)
                               .where(BackgroundJob.status == "failed")).one()
    return {"campaigns": {CampaignStatus(k): v for k, v in campaigns.items()},
            "deliveries": {Status(k): v for k, v in deliveries.items()},
            "users": users, "jobs_failed": jobs_failed}
