"""Feeds and the embeddable block for portals that pull (issue #21): the unit's
and the campaign's Atom feeds read back through feedparser with the same
titles, dates and links; drafts never appear; the embed renders the latest
materials and may be framed (that route only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import feedparser
import pytest

from campaigns.models import Asset, Campaign, CampaignStatus, CampaignUnit, ContentItem
from core.db import session_scope
from core.models import OrgUnit, UnitKind

T0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(app, tmp_path):
    with app.app_context(), session_scope(app) as s:
        unit = OrgUnit(code="phuong-1", name="Phường 1", kind=UnitKind.commune)
        other = OrgUnit(code="phuong-2", name="Phường 2", kind=UnitKind.commune)
        s.add(unit)
        s.add(other)
        s.flush()
        live = Campaign(title="Ngày Chuyển đổi số 10/10", starts_on=date(2026, 10, 1),
                        ends_on=date(2026, 10, 15), status=CampaignStatus.active,
                        updated_at=T0)
        draft = Campaign(title="Bản nháp bí mật", starts_on=date(2026, 10, 1),
                         ends_on=date(2026, 10, 15), status=CampaignStatus.draft)
        s.add(live)
        s.add(draft)
        s.flush()
        s.add(CampaignUnit(campaign_id=live.id, unit_id=unit.id))
        s.add(CampaignUnit(campaign_id=draft.id, unit_id=unit.id))
        items = [
            ContentItem(campaign_id=live.id, title="Nộp hồ sơ trực tuyến", body="Tại dichvucong.gov.vn",
                        channel="portal", updated_at=T0 + timedelta(hours=1)),
            ContentItem(campaign_id=live.id, title="Tin riêng Phường 2", body="x", channel="portal",
                        unit_id=other.id, updated_at=T0 + timedelta(hours=2)),
            ContentItem(campaign_id=draft.id, title="Nội dung nháp", body="x", channel="portal",
                        updated_at=T0),
        ]
        for it in items:
            s.add(it)
        assets = []
        for i in range(8):
            path = tmp_path / f"poster-{i}.png"
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 20)
            a = Asset(kind="image", path=str(path), filename=path.name, mime="image/png",
                      sha256=str(i) * 64, size=28, title=f"Áp phích số {i}", campaign_id=live.id,
                      public_token=f"tok-{i}-" + "x" * 20, created_at=T0 + timedelta(days=i))
            s.add(a)
            assets.append(a)
        s.flush()
        ids = {"live": live.id, "draft": draft.id}
    return ids


def test_unit_feed_reads_back_with_titles_dates_and_links(app, world):
    client = app.test_client()
    r = client.get("/feeds/phuong-1.atom")
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    feed = feedparser.parse(r.data)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Lan Tỏa — Phường 1"
    titles = [e.title for e in feed.entries]
    # the unit's and everyone's content, not another unit's, never a draft's
    assert "Nộp hồ sơ trực tuyến" in titles
    assert "Tin riêng Phường 2" not in titles and "Nội dung nháp" not in titles
    assert "Áp phích số 7" in titles
    # newest first, with the dates they carry
    poster = next(e for e in feed.entries if e.title == "Áp phích số 7")
    assert datetime(*poster.updated_parsed[:6], tzinfo=UTC) == T0 + timedelta(days=7)
    assert titles[0] == "Áp phích số 7"
    news = next(e for e in feed.entries if e.title == "Nộp hồ sơ trực tuyến")
    assert datetime(*news.updated_parsed[:6], tzinfo=UTC) == T0 + timedelta(hours=1)
    # links lead to the file and to the news anchor in the embed page
    assert poster.link.endswith("/m/tok-7-" + "x" * 20)
    assert client.get(poster.link.replace("http://localhost", "")).status_code == 200
    assert news.link.endswith(f"/embed/campaigns/{world['live']}#noi-dung-" + news.id.rsplit("-", 1)[1])
    assert poster.enclosures[0].type == "image/png"
    assert len({e.id for e in feed.entries}) == len(feed.entries)


def test_campaign_feed_and_drafts(app, world):
    client = app.test_client()
    feed = feedparser.parse(client.get(f"/feeds/campaigns/{world['live']}.atom").data)
    assert not feed.bozo and feed.feed.title == "Lan Tỏa — Ngày Chuyển đổi số 10/10"
    titles = {e.title for e in feed.entries}
    assert {"Nộp hồ sơ trực tuyến", "Tin riêng Phường 2", "Áp phích số 0"} <= titles
    assert client.get(f"/feeds/campaigns/{world['draft']}.atom").status_code == 404
    assert client.get(f"/embed/campaigns/{world['draft']}").status_code == 404
    assert client.get("/feeds/khong-co.atom").status_code == 404


def test_embed_renders_the_latest_materials_and_may_be_framed(app, world):
    client = app.test_client()
    r = client.get(f"/embed/campaigns/{world['live']}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    # the six newest of eight posters, newest first, with Vietnamese dates
    shown = [f"Áp phích số {i}" for i in range(8) if f">Áp phích số {i}<" in page]
    assert shown == [f"Áp phích số {i}" for i in range(2, 8)]
    assert page.index("Áp phích số 7") < page.index("Áp phích số 2")
    assert "08/10/2026" in page and "/m/tok-7-" in page
    assert "Nộp hồ sơ trực tuyến" in page and "Bản nháp" not in page
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "X-Frame-Options" not in r.headers
    # every other page still refuses to be framed
    other = client.get("/feeds/phuong-1.atom")
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
    assert other.headers["X-Frame-Options"] == "DENY"
