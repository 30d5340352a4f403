"""What happens when a campaign is approved (kits are queued for building)."""

from __future__ import annotations

from sqlmodel import Session

from campaigns.models import Campaign

#: Callables run with (session, campaign) on approval; parts register here.
ON_APPROVED: list = []


def on_approved(session: Session, campaign: Campaign) -> None:
    for fn in ON_APPROVED:
        fn(session, campaign)


#: Callables run with (session, campaign) when its content changes (kits rebuild).
ON_CONTENT_CHANGED: list = []


def on_content_changed(session: Session, campaign: Campaign) -> None:
    for fn in ON_CONTENT_CHANGED:
        fn(session, campaign)
