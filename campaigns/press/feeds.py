"""Public Atom feeds and the embeddable block, for portals that pull.

- ``/feeds/<unit_code>.atom``: the approved content and materials of every
  campaign the unit takes part in (its scope or its owner);
- ``/feeds/campaigns/<id>.atom``: one campaign's;
- ``/embed/campaigns/<id>``: an HTML snippet with the campaign's latest
  materials and news, meant for an ``<iframe>`` on a portal. Only this route
  allows framing (its own CSP ``frame-ancestors *``); every other page keeps
  ``frame-ancestors 'none'``.

Only campaigns past approval are shown (approved, active, paused, completed):
a draft never leaks. Entries: content items (title, text, planned date; link
to their anchor in the embed page) and media assets with a public address
(link to ``/m/<token>``, also as an enclosure).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, render_template, url_for
from sqlalchemy import or_
from sqlmodel import select

from campaigns.models import Asset, Campaign, CampaignStatus, CampaignUnit, ContentItem
from channels.base import VN_TZ
from core.db import get_session
from core.models import OrgUnit

bp = Blueprint("press", __name__, template_folder="templates", static_folder="static",
               static_url_path="/press/static")

#: campaign statuses whose content is public (past approval)
PUBLISHED = (CampaignStatus.approved, CampaignStatus.active, CampaignStatus.paused,
             CampaignStatus.completed)
ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 50
EMBED_MATERIALS = 6
EMBED_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; "
             "frame-ancestors *; base-uri 'none'; form-action 'none'")


@dataclass
class Entry:
    key: str
    title: str
    updated: datetime
    link: str
    summary: str
    campaign: Campaign
    mime: str | None = None
    is_material: bool = False
    size: int | None = None


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def entries_for(campaigns: list[Campaign], unit: OrgUnit | None = None) -> list[Entry]:
    """The newest entries of ``campaigns`` (content for ``unit`` or everyone)."""
    if not campaigns:
        return []
    session = get_session()
    by_id = {c.id: c for c in campaigns}
    out: list[Entry] = []
    q = select(ContentItem).where(ContentItem.campaign_id.in_(list(by_id)))  # type: ignore[union-attr]
    if unit is not None:
        q = q.where(or_(ContentItem.unit_id.is_(None), ContentItem.unit_id == unit.id))  # type: ignore[union-attr]
    for item in session.exec(q):
        c = by_id[item.campaign_id]
        out.append(Entry(
            key=f"content-{item.id}", title=item.title,
            updated=_aware(item.updated_at or item.created_at or c.updated_at),
            link=url_for("press.embed_campaign", campaign_id=c.id, _external=True) + f"#noi-dung-{item.id}",
            summary=(item.body or "")[:1000], campaign=c,
        ))
    assets = session.exec(select(Asset).where(
        Asset.campaign_id.in_(list(by_id)), Asset.public_token.is_not(None)))  # type: ignore[union-attr]
    for a in assets:
        c = by_id[a.campaign_id]  # type: ignore[index]
        out.append(Entry(
            key=f"asset-{a.id}", title=a.title or a.filename, updated=_aware(a.created_at),
            link=url_for("media.public_file", token=a.public_token, _external=True),
            summary=c.title, campaign=c, mime=a.mime, is_material=True, size=a.size,
        ))
    out.sort(key=lambda e: (e.updated, e.key), reverse=True)
    return out[:MAX_ENTRIES]


def _stamp(value: datetime) -> str:
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom(feed_id: str, title: str, self_url: str, entries: list[Entry], fallback: datetime) -> Response:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": "vi"})
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    updated = max([e.updated for e in entries], default=_aware(fallback))
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(updated)
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": self_url,
                                              "type": "application/atom+xml"})
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "Lan Tỏa"
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "Lan Tỏa"
    for e in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"{feed_id.split(':feed:')[0]}:{e.key}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = e.title
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(e.updated)
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": e.link})
        if e.is_material and e.mime:
            attrs = {"rel": "enclosure", "href": e.link, "type": e.mime}
            if e.size:
                attrs["length"] = str(e.size)
            ET.SubElement(entry, f"{{{ATOM}}}link", attrs)
        ET.SubElement(entry, f"{{{ATOM}}}category", {"term": f"campaign-{e.campaign.id}",
                                                       "label": e.campaign.title})
        ET.SubElement(entry, f"{{{ATOM}}}summary", {"type": "text"}).text = e.summary
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    resp = Response(body, mimetype="application/atom+xml")
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


def _published_campaign(campaign_id: int) -> Campaign:
    c = get_session().get(Campaign, campaign_id) if campaign_id < 2**31 else None
    if c is None or c.status not in PUBLISHED:
        abort(404)
    return c


def _tag_base() -> str:
    host = url_for("press.unit_feed", unit_code="x", _external=True).split("/")[2].split(":")[0]
    return f"tag:{host},2026"


@bp.route("/feeds/<unit_code>.atom")
def unit_feed(unit_code: str):
    session = get_session()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
    if unit is None:
        abort(404)
    scoped = select(CampaignUnit.campaign_id).where(CampaignUnit.unit_id == unit.id)
    campaigns = list(session.exec(select(Campaign).where(
        Campaign.status.in_(PUBLISHED),  # type: ignore[attr-defined]
        or_(Campaign.id.in_(scoped), Campaign.owner_unit_id == unit.id),  # type: ignore[union-attr]
    )))
    self_url = url_for("press.unit_feed", unit_code=unit.code, _external=True)
    return atom(f"{_tag_base()}:feed:unit-{unit.code}", f"Lan Tỏa — {unit.name}", self_url,
                entries_for(campaigns, unit), datetime.now(UTC))


@bp.route("/feeds/campaigns/<int:campaign_id>.atom")
def campaign_feed(campaign_id: int):
    c = _published_campaign(campaign_id)
    self_url = url_for("press.campaign_feed", campaign_id=c.id, _external=True)
    return atom(f"{_tag_base()}:feed:campaign-{c.id}", f"Lan Tỏa — {c.title}", self_url,
                entries_for([c]), c.updated_at or c.created_at or datetime.now(UTC))


@bp.route("/embed/campaigns/<int:campaign_id>")
def embed_campaign(campaign_id: int):
    c = _published_campaign(campaign_id)
    entries = entries_for([c])
    materials = [e for e in entries if e.is_material][:EMBED_MATERIALS]
    news = [e for e in entries if not e.is_material][:EMBED_MATERIALS]
    resp = Response(render_template("press/embed.html", campaign=c, materials=materials, news=news,
                                    vn_tz=VN_TZ))
    resp.headers["Content-Security-Policy"] = EMBED_CSP
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
