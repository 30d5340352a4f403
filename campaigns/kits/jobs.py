"""Kit builds as the scheduler's background job ``kits.build``.

Queued when a campaign is approved (``campaigns.hooks.ON_APPROVED``), when a
released campaign's print or loudspeaker content, dates or title change, and
when a unit's broadcast slots change. A build rebuilds only the kits whose
inputs changed (see ``builder.input_digest``), so queueing is cheap; while a
pending build for the campaign exists, no second one is queued.
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask
from sqlalchemy import event
from sqlmodel import Session, select

from campaigns.models import RELEASED, Campaign, ContentItem, Kit
from core.db import session_scope
from core.models import OrgUnit
from core.timeutil import utcnow
from scheduler.models import BackgroundJob, RecurringSchedule

log = logging.getLogger(__name__)

JOB_NAME = "kits.build"
KIT_CHANNELS = ("print", "loudspeaker")


def _dedupe_prefix(campaign_id: int) -> str:
    return f"{JOB_NAME}:{campaign_id}:"


def pending_build(session: Session, campaign_id: int) -> BackgroundJob | None:
    with session.no_autoflush:
        return session.exec(
            select(BackgroundJob).where(
                BackgroundJob.name == JOB_NAME,
                BackgroundJob.status == "pending",
                BackgroundJob.dedupe_key.like(_dedupe_prefix(campaign_id) + "%"),
            )  # type: ignore[union-attr]
        ).first()


def queue_kit_build(
    session: Session,
    campaign_id: int,
    *,
    reason: str = "",
    force: bool = False,
    unit_ids: list[int] | None = None,
    user_id: int | None = None,
) -> BackgroundJob:
    """Queue a ``kits.build`` job for the campaign (or return the pending one)."""
    from scheduler.jobs import enqueue_job

    existing = pending_build(session, campaign_id)
    if existing is not None and not force and unit_ids is None:
        return existing
    payload: dict = {"campaign_id": campaign_id, "reason": reason, "force": force}
    if unit_ids is not None:
        payload["unit_ids"] = list(unit_ids)
    return enqueue_job(
        session,
        JOB_NAME,
        payload,
        dedupe_key=_dedupe_prefix(campaign_id) + uuid.uuid4().hex,
        created_by=user_id,
    )


def run_kit_build(app: Flask, payload: dict, progress) -> dict:
    """The job function: ``fn(app, payload, progress) -> dict`` (scheduler.jobs)."""
    from campaigns.kits.builder import KitConfig, build_campaign_kits

    campaign_id = int(payload["campaign_id"])
    config = KitConfig.from_app(app)
    workers = app.config.get("LANTOA_KIT_WORKERS")
    with session_scope(app) as session:
        return build_campaign_kits(
            session,
            campaign_id,
            config,
            unit_ids=payload.get("unit_ids"),
            force=bool(payload.get("force")),
            progress=progress,  # progress(fraction, files_rebuilt=…, files_reused=…, message=…)
            workers=int(workers) if workers not in (None, "") else None,
        )


def on_approved(session: Session, campaign: Campaign) -> None:
    queue_kit_build(session, campaign.id, reason="approved")


def _watch_changes(session: Session, flush_context, instances) -> None:
    """Queue a rebuild when a released campaign's kit inputs change in this flush."""
    if session.info.get("kits_no_watch"):
        return
    try:
        _queue_for_changes(session)
    except Exception:  # noqa: BLE001 - never break someone else's flush over a kit rebuild
        log.exception("could not queue a kit rebuild")


def _queue_for_changes(session: Session) -> None:
    campaign_ids: set[int] = set()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, ContentItem) and obj.channel in KIT_CHANNELS and obj.campaign_id:
            campaign_ids.add(obj.campaign_id)
        elif isinstance(obj, RecurringSchedule) and obj.campaign_id:
            campaign_ids.add(obj.campaign_id)
        elif isinstance(obj, OrgUnit) and obj.id is not None and obj in session.dirty:
            if session.is_modified(obj, include_collections=False):
                with session.no_autoflush:
                    campaign_ids |= set(
                        session.exec(select(Kit.campaign_id).where(Kit.unit_id == obj.id)).all()
                    )
        elif isinstance(obj, Campaign) and obj.id is not None and obj in session.dirty:
            if session.is_modified(obj, include_collections=False):
                campaign_ids.add(obj.id)
    if not campaign_ids:
        return
    with session.no_autoflush:
        for cid in campaign_ids:
            campaign = session.get(Campaign, cid)
            if campaign is None or campaign.status not in RELEASED:
                continue
            if pending_build(session, cid) is None:
                session.add(
                    BackgroundJob(
                        name=JOB_NAME,
                        payload={"campaign_id": cid, "reason": "changed", "force": False},
                        dedupe_key=_dedupe_prefix(cid) + uuid.uuid4().hex,
                        status="pending",
                        created_at=utcnow(),
                    )
                )


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    from campaigns import hooks
    from scheduler.jobs import register_job

    register_job(JOB_NAME, run_kit_build)
    if on_approved not in hooks.ON_APPROVED:
        hooks.ON_APPROVED.append(on_approved)
    if not _listening:
        event.listen(Session, "before_flush", _watch_changes)
        _listening = True
