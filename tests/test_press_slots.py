"""Editorial calendar of the press and broadcasters (issue #21): programme
slots planned weekly for a press unit and a campaign; the newsroom's officer
confirms "đã phát" with evidence; the confirmed slot moves T06 (marked by its
source) on the dashboard and in the report; a portal post sent through the
portal channel moves T03; the calendar shows press slots beside social posts."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from core.timeutil import LOCAL_TZ, utcnow
from tests.helpers import login, make_user
from tests.measure_helpers import PDF, results_by_code, setup_world


@pytest.fixture
def world(app, monkeypatch):
    w = setup_world(app, monkeypatch)
    w["users"]["radio"] = make_user(app, "unit_officer", "dai-ptth-soc-trang")
    w["users"]["paper"] = make_user(app, "unit_officer", "bao-soc-trang")
    return w


def today():
    return utcnow().astimezone(LOCAL_TZ).date()


def asset_id(app) -> int:
    from campaigns.models import Asset

    with app.app_context(), session_scope(app) as s:
        a = Asset(kind="pdf", path="/nonexistent/kich-ban.pdf", filename="kich-ban.pdf", mime="application/pdf",
                  sha256="a" * 64, size=10, title="Kịch bản chuyên mục")
        s.add(a)
        s.flush()
        return a.id


def plan_radio_series(app, world, weeks=3, start=None):
    from campaigns.models import Campaign
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        radio = s.exec(select(OrgUnit).where(OrgUnit.code == "dai-ptth-soc-trang")).one()
        campaign = s.exec(select(Campaign)).first()
        ids = (radio.id, campaign.id)
    comm = app.test_client()
    login(comm, world["users"]["communicator"])
    start = start or today() - timedelta(days=7)
    r = comm.post("/press/slots", data={
        "unit_id": ids[0], "campaign_id": ids[1], "kind": "radio",
        "title": "Chuyên mục Chuyển đổi số và cuộc sống", "brief": "Hướng dẫn nộp hồ sơ trực tuyến",
        "air_on": start.strftime("%d/%m/%Y"), "air_time": "18:30", "weeks": str(weeks),
        "asset_ids": str(asset_id(app)),
    })
    assert r.status_code == 302, r.get_data(as_text=True)
    from campaigns.press.models import ProgrammeSlot

    with app.app_context(), session_scope(app) as s:
        return [sl.id for sl in s.exec(select(ProgrammeSlot).order_by(ProgrammeSlot.air_on))], ids


def test_weekly_series_is_planned(app, world):
    slot_ids, _ = plan_radio_series(app, world, weeks=3)
    from campaigns.press.models import ProgrammeSlot

    with app.app_context(), session_scope(app) as s:
        rows = [s.get(ProgrammeSlot, i) for i in slot_ids]
    assert [r.air_on for r in rows] == [today() - timedelta(days=7) + timedelta(weeks=i) for i in range(3)]
    assert len({r.series for r in rows}) == 1 and rows[0].series
    assert all(len(r.asset_ids) == 1 for r in rows)
    comm = app.test_client()
    login(comm, world["users"]["communicator"])
    assert "Kịch bản chuyên mục" in comm.get("/press/slots").get_data(as_text=True)
    # filtered on a campaign: its feed address and the embed code for portals that pull
    filtered = comm.get(f"/press/slots?campaign={rows[0].campaign_id}").get_data(as_text=True)
    assert f"/feeds/campaigns/{rows[0].campaign_id}.atom" in filtered
    assert f"/embed/campaigns/{rows[0].campaign_id}" in filtered and "&lt;iframe" in filtered
    # bad input: a clear message, nothing stored
    comm = app.test_client()
    login(comm, world["users"]["communicator"])
    r = comm.post("/press/slots", data={"unit_id": "1", "campaign_id": "x", "kind": "tv", "title": "",
                                        "air_on": "31/02/2026"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Chọn chiến dịch." in page and "dd/mm/yyyy" in page
    with app.app_context(), session_scope(app) as s:
        assert len(s.exec(select(ProgrammeSlot)).all()) == 3
    # a reviewer may look but not plan
    rev = app.test_client()
    login(rev, world["users"]["reviewer"])
    assert rev.get("/press/slots").status_code == 200
    assert rev.post("/press/slots", data={"title": "x"}).status_code == 403


def test_confirming_a_radio_slot_with_evidence_moves_t06_and_the_report(app, world):
    year = world["year"]
    slot_ids, _ = plan_radio_series(app, world, weeks=3)
    past, _now, future = slot_ids
    before = results_by_code(app, year)["T06"]
    assert before.value is None and before.reported == 0
    # the newspaper's officer may not confirm the radio's slot (another unit's: not found)
    paper = app.test_client()
    login(paper, world["users"]["paper"])
    assert paper.post(f"/press/slots/{past}/confirm", data={"evidence_url": "https://x.vn"}).status_code == 404
    radio = app.test_client()
    login(radio, world["users"]["radio"])
    # without evidence: refused with a message; a future slot cannot be confirmed
    r = radio.post(f"/press/slots/{past}/confirm", data={"evidence_url": ""}, follow_redirects=True)
    assert "đường dẫn hoặc đính kèm" in r.get_data(as_text=True)
    r = radio.post(f"/press/slots/{future}/confirm", data={"evidence_url": "https://x.vn"}, follow_redirects=True)
    assert "Chưa đến ngày phát" in r.get_data(as_text=True)
    # a file that is not what it says: refused like other evidence uploads
    r = radio.post(f"/press/slots/{past}/confirm", data={"attachment": (io.BytesIO(b"not a pdf"), "bang.pdf")},
                   content_type="multipart/form-data", follow_redirects=True)
    assert "không đúng định dạng PDF" in r.get_data(as_text=True)
    assert results_by_code(app, year)["T06"].reported == 0
    r = radio.post(f"/press/slots/{past}/confirm", data={"attachment": (io.BytesIO(PDF), "lich-phat.pdf")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    after = results_by_code(app, year)["T06"]
    assert after.reported == 1 and after.value == 100.0
    assert "1 đơn vị theo lịch phát sóng, đăng báo đã xác nhận qua Lan Tỏa" in after.detail
    page = radio.get("/press/slots").get_data(as_text=True)
    assert "Đã phát" in page and "lich-phat.pdf" in page
    link = re.search(r'href="(/press/slots/\d+/evidence)"', page).group(1)
    got = radio.get(link)
    assert got.status_code == 200 and got.data == PDF
    assert paper.get(link).status_code == 404  # another unit's evidence
    # the dashboard and the yearly report show it
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    dash = admin.get(f"/measure?year={year}").get_data(as_text=True)
    row = re.search(r'<tr id="t-T06".*?</tr>', dash, re.S).group(0)
    assert "lịch phát sóng" in row
    from docx import Document

    doc = Document(io.BytesIO(admin.get(f"/measure/report/download?year={year}").data))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert any("lịch phát sóng, đăng báo đã xác nhận" in c for c in cells)


def test_calendar_shows_press_slots_beside_social_posts(app, world):
    slot_ids, (radio_id, campaign_id) = plan_radio_series(app, world, weeks=1, start=today())
    from campaigns.models import ContentItem

    with app.app_context(), session_scope(app) as s:
        s.add(ContentItem(campaign_id=campaign_id, title="Bài Facebook về dịch vụ công", channel="facebook",
                          planned_at=utcnow().replace(microsecond=0)))
    admin = app.test_client()
    login(admin, world["users"]["admin"])
    page = admin.get(f"/calendar?d={today().isoformat()}").get_data(as_text=True)
    assert "Chuyên mục Chuyển đổi số và cuộc sống" in page
    assert "Đài Phát thanh và Truyền hình Sóc Trăng" in page
    assert "Bài Facebook về dịch vụ công" in page  # beside the social post of the same period
    # filterable: a channel filter hides them, the press unit's filter keeps only its own
    hidden = admin.get(f"/calendar?d={today().isoformat()}&channel=facebook").get_data(as_text=True)
    assert "Chuyên mục Chuyển đổi số và cuộc sống" not in hidden and "Bài Facebook về dịch vụ công" in hidden
    radio = admin.get(f"/calendar?d={today().isoformat()}&unit=dai-ptth-soc-trang").get_data(as_text=True)
    assert "Chuyên mục Chuyển đổi số và cuộc sống" in radio
    paper = admin.get(f"/calendar?d={today().isoformat()}&unit=bao-soc-trang").get_data(as_text=True)
    assert "Chuyên mục Chuyển đổi số và cuộc sống" not in paper


def test_a_portal_post_sent_through_the_channel_moves_t03(app, world, tmp_path):
    from tests.fakes.wordpress import FakeWordPress
    from tests.test_portal_wordpress import publish_through_dispatcher

    year = world["year"]
    before = results_by_code(app, year)["T03"]
    assert before.value == 0.0 and before.via_lantoa == 0
    with FakeWordPress() as wp:
        delivery, _ = publish_through_dispatcher(app, wp, tmp_path, unit="tx-vinh-chau")
        assert delivery["status"] == "sent" and len(wp.posts) == 1
    after = results_by_code(app, year)["T03"]
    assert after.value == round(100 / 17, 1)
    assert (after.via_lantoa, after.via_outside) == (1, 0)
    assert "1 qua Lan Tỏa" in after.detail
