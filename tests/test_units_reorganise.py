"""Units that change: three communes merged into one inside a campaign.

The scope, kits, figures, user access and history are checked before and after
the date; the same operation runs through the API (JSON and CSV), the CLI and
the admin page, and a bad row changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from campaigns.models import Campaign, CampaignUnit, Kit, KitDownload, LinkScan
from core.db import session_scope
from core.models import OrgUnit, UnitSuccession, User
from tests.helpers import api_headers, login, make_user

DAY = date(2026, 10, 5)  # inside the campaign below (1/10 – 20/10/2026)
#: structure -> (the three communes merged, their parent)
STRUCTURES = {
    "plan": (("xa-lac-hoa", "xa-vinh-hai", "p-vinh-phuoc"), "soc-trang"),
    "2025": (("xa-vinh-hai-2025", "phuong-vinh-phuoc", "phuong-vinh-chau"), "can-tho"),
}
OLD: tuple[str, ...] = ()
ROWS: list[dict] = []
CSV = ""


def _set_structure(name: str) -> None:
    global OLD, ROWS, CSV
    OLD, parent = STRUCTURES[name]
    ROWS = [{"old_code": c, "new_code": "p-vinh-chau-moi", "new_name": "Phường Vĩnh Châu",
             "new_kind": "ward", "new_parent_code": parent, "effective_on": DAY.isoformat()} for c in OLD]
    CSV = "old_code,new_code,new_name,new_kind,new_parent_code,effective_on\r\n" + "".join(
        f"{c},p-vinh-chau-moi,Phường Vĩnh Châu,ward,{parent},{DAY.isoformat()}\r\n" for c in OLD)


@pytest.fixture(params=sorted(STRUCTURES))
def world(request, app):
    """Demo units (the plan's Sóc Trăng, or Cần Thơ city after 1/7/2025), an officer
    of one old commune, a campaign scoped to three communes with a kit and history
    (a download, a QR scan) before the date."""
    from scheduler.models import ChannelAccount

    _set_structure(request.param)
    make_user(app, "admin")
    if request.param == "2025":
        from campaigns.demo import seed_structure_2025

        with app.app_context(), session_scope(app) as s:
            seed_structure_2025(s)
    officer = make_user(app, "unit_officer", OLD[0], email="officer@test.local")
    with app.app_context(), session_scope(app) as s:
        units = {u.code: u for u in s.exec(select(OrgUnit)).all()}
        campaign = Campaign(title="Tháng cao điểm DVCTT", starts_on=date(2026, 10, 1),
                            ends_on=date(2026, 10, 20), status="approved")
        s.add(campaign)
        s.flush()
        for c in OLD:
            s.add(CampaignUnit(campaign_id=campaign.id, unit_id=units[c].id))
        kit = Kit(campaign_id=campaign.id, unit_id=units[OLD[0]].id, status="ready")
        s.add(kit)
        s.flush()
        s.add(KitDownload(kit_id=kit.id, user_id=officer.id, at=datetime(2026, 10, 2, 3, tzinfo=UTC)))
        s.add(LinkScan(campaign_id=campaign.id, unit_id=units[OLD[0]].id,
                       at=datetime(2026, 10, 3, 3, tzinfo=UTC)))
        s.add(ChannelAccount(channel="loudspeaker", name="Loa xã Lạc Hòa", unit_id=units[OLD[0]].id,
                             config={"unit_code": OLD[0]}))
        ids = {"campaign": campaign.id, "kit": kit.id, "old": {c: units[c].id for c in OLD},
               "officer": officer.id}
    return ids


def _unit(s, code):
    return s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()


def _check_after(app, ids):
    """What must hold once the merger took effect (shared by every way in)."""
    from campaigns.kits.builder import kit_units
    from campaigns.service import campaign_scope_ids, visible_campaign_filter
    from scheduler.models import ChannelAccount

    with app.app_context(), session_scope(app) as s:
        new = _unit(s, "p-vinh-chau-moi")
        assert new.kind == "ward" and new.valid_from == DAY and new.valid_to is None
        # old units end on the date and are never deleted nor renamed
        for code, uid in ids["old"].items():
            old = s.get(OrgUnit, uid)
            assert old.code == code and old.valid_to == DAY
            assert old.valid_on(date(2026, 10, 4)) and not old.valid_on(DAY)
        rows = s.exec(select(UnitSuccession).where(UnitSuccession.new_unit_id == new.id)).all()
        assert {(r.old_unit_id, r.new_unit_id) for r in rows} == {(u, new.id) for u in ids["old"].values()}
        # scope: the campaign names the old communes and covers their successor
        assert new.id in campaign_scope_ids(s, ids["campaign"])
        assert new.id not in campaign_scope_ids(s, ids["campaign"], successors=False)
        # kits: the old communes before the date, the successor from it
        before = {u.code for u in kit_units(s, ids["campaign"], day=date(2026, 10, 4))}
        after = {u.code for u in kit_units(s, ids["campaign"], day=DAY)}
        assert before == set(OLD)
        assert after == {"p-vinh-chau-moi"}
        # the officer and the channel account moved to the successor
        officer = s.get(User, ids["officer"])
        assert officer.unit_id == new.id
        account = s.exec(select(ChannelAccount).where(ChannelAccount.name == "Loa xã Lạc Hòa")).one()
        assert account.unit_id == new.id
        assert ids["campaign"] in visible_campaign_filter(s, officer)
        # history: what happened before stays attached to the old commune
        kit = s.get(Kit, ids["kit"])
        assert kit.unit_id == ids["old"][OLD[0]]
        scan = s.exec(select(LinkScan)).one()
        assert scan.unit_id == ids["old"][OLD[0]]
        assert s.exec(select(KitDownload)).one().kit_id == kit.id


def _check_history_access(app, ids):
    """The moved officer still reads the old commune's kit; another commune's officer does not."""
    client = app.test_client()
    with app.app_context(), session_scope(app) as s:
        officer = s.get(User, ids["officer"])
        email = officer.email
    assert login(client, email).status_code == 302
    assert client.get(f"/kits/{ids['kit']}").status_code == 200
    other = make_user(app, "unit_officer", "xa-nhon-my", email="other@test.local")
    client2 = app.test_client()
    login(client2, other)
    assert client2.get(f"/kits/{ids['kit']}").status_code == 404


def test_merger_through_the_api(app, world):
    resp = app.test_client().post("/api/v1/units/reorganisations", json={"rows": ROWS},
                                  headers=api_headers(app, "admin"))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert [u["code"] for u in body["created"]] == ["p-vinh-chau-moi"]
    assert sorted(body["ended"]) == sorted(OLD)
    assert body["moved"] == {"users": 1, "channel_accounts": 1}
    _check_after(app, world)
    _check_history_access(app, world)


def test_merger_through_the_cli(app, world, runner, tmp_path):
    path = tmp_path / "sap-xep.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.encode("utf-8"))
    dry = runner.invoke(args=["units", "reorganise", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Sẽ tạo 1 đơn vị mới, kết thúc 3 đơn vị" in dry.output
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(OrgUnit).where(OrgUnit.code == "p-vinh-chau-moi")).first() is None
    result = runner.invoke(args=["units", "reorganise", str(path)])
    assert result.exit_code == 0, result.output
    assert "Đã tạo 1 đơn vị mới, kết thúc 3 đơn vị" in result.output
    _check_after(app, world)


def test_merger_through_the_admin_page(app, world):
    admin = make_user(app, "admin")
    client = app.test_client()
    login(client, admin)
    preview = client.post("/units/reorganise", data={"rows": CSV, "action": "preview"})
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:  # a preview names the units, saves nothing
        first = _unit(s, OLD[0]).name
    assert "Xem trước" in page and "Phường Vĩnh Châu" in page and first in page
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(OrgUnit).where(OrgUnit.code == "p-vinh-chau-moi")).first() is None
    token = page.split('name="form_once" value="')[1].split('"')[0]
    done = client.post("/units/reorganise", data={"rows": CSV, "action": "apply", "form_once": token})
    assert done.status_code == 302
    again = client.post("/units/reorganise", data={"rows": CSV, "action": "apply", "form_once": token})
    assert again.status_code == 302  # the back button: refused, nothing done twice
    _check_after(app, world)
    listing = client.get("/units?ended=1").get_data(as_text=True)
    assert "kết thúc từ 05/10/2026" in listing and "Phường Vĩnh Châu" in listing


def test_csv_upload_through_the_api(app, world):
    import io

    resp = app.test_client().post(
        "/api/v1/units/reorganisations", headers=api_headers(app, "admin"),
        data={"file": (io.BytesIO(CSV.encode("utf-8")), "sap-xep.csv")}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    _check_after(app, world)


def test_one_bad_row_changes_nothing(app, world):
    bad = ROWS + [{"old_code": "xa-khong-co", "new_code": "p-vinh-chau-moi", "new_name": "Phường Vĩnh Châu",
                   "new_kind": "ward", "new_parent_code": "soc-trang", "effective_on": "05/13/2026"}]
    resp = app.test_client().post("/api/v1/units/reorganisations", json={"rows": bad},
                                  headers=api_headers(app, "admin"))
    assert resp.status_code == 422
    errors = resp.get_json()["error"]["errors"]
    assert any("xa-khong-co" in e for e in errors) and any("05/13/2026" in e for e in errors)
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(OrgUnit).where(OrgUnit.code == "p-vinh-chau-moi")).first() is None
        assert all(s.get(OrgUnit, uid).valid_to is None for uid in world["old"].values())
        assert s.exec(select(UnitSuccession).where(
            UnitSuccession.old_unit_id.in_(list(world["old"].values())))).first() is None


def test_only_admin_may_reorganise(app, world):
    for role in ("communicator", "reviewer", "unit_officer"):
        resp = app.test_client().post("/api/v1/units/reorganisations", json={"rows": ROWS},
                                      headers=api_headers(app, role))
        assert resp.status_code == 403


def test_future_change_moves_users_on_its_date(app, world):
    from core.units import apply_due_reorganisations, reorganise

    later = [{**r, "effective_on": "2027-01-01"} for r in ROWS]
    with app.app_context(), session_scope(app) as s:
        result = reorganise(s, later, today=date(2026, 12, 6))
        assert result["applied"] is False and result["moved"] == {}
    with app.app_context(), session_scope(app) as s:
        assert s.get(User, world["officer"]).unit_id == world["old"][OLD[0]]
        assert apply_due_reorganisations(s, date(2026, 12, 31)) == {}
        moved = apply_due_reorganisations(s, date(2027, 1, 1))
        assert moved == {"users": 1, "channel_accounts": 1}
        assert s.get(User, world["officer"]).unit_id == _unit(s, "p-vinh-chau-moi").id
        assert apply_due_reorganisations(s, date(2027, 1, 2)) == {}  # idempotent


def test_split_sends_users_to_the_first_successor(app, world):
    from core.units import reorganise

    parent = ROWS[0]["new_parent_code"]
    rows = [{"old_code": OLD[0], "new_code": code, "new_name": name, "new_kind": "commune",
             "new_parent_code": parent, "effective_on": "2026-10-05"}
            for code, name in (("xa-lac-hoa-a", "Xã Lạc Hòa A"), ("xa-lac-hoa-b", "Xã Lạc Hòa B"))]
    with app.app_context(), session_scope(app) as s:
        reorganise(s, rows, today=date(2026, 12, 6))
    with app.app_context(), session_scope(app) as s:
        assert s.get(User, world["officer"]).unit_id == _unit(s, "xa-lac-hoa-a").id
        succ = s.exec(select(UnitSuccession).where(UnitSuccession.old_unit_id == world["old"][OLD[0]])
                      .order_by(UnitSuccession.position)).all()
        assert [s.get(OrgUnit, r.new_unit_id).code for r in succ] == ["xa-lac-hoa-a", "xa-lac-hoa-b"]


def test_ended_unit_with_living_children_is_refused(app, world):
    from core.units import ReorganisationError, reorganise

    parent = ROWS[0]["new_parent_code"]
    # a district (plan) or the city (2025) ends while units below it go on
    old, child = ("ke-sach", "Thị trấn Kế Sách") if parent == "soc-trang" else ("can-tho", "Phường Ninh Kiều")
    rows = [{"old_code": old, "new_code": "don-vi-moi", "new_name": "Đơn vị mới", "new_kind": "province",
             "new_parent_code": "", "effective_on": "2026-07-01"}]
    with app.app_context(), session_scope(app) as s:
        with pytest.raises(ReorganisationError) as err:
            reorganise(s, rows)
    assert any(child in e and "vẫn còn hiệu lực" in e for e in err.value.errors), err.value.errors


def test_broadcasts_follow_the_units_valid_on_their_date(app, world):
    """A commune's recurring broadcasts stop when it ends; new schedules are for the
    units that exist on their dates."""
    from datetime import UTC, datetime

    from campaigns.kits import broadcasts as bc
    from core.units import reorganise
    from scheduler.models import Delivery, RecurringSchedule

    with app.app_context(), session_scope(app) as s:
        campaign = s.get(Campaign, world["campaign"])
        old = _unit(s, OLD[0])
        rule = bc.create_schedule(s, campaign=campaign, unit=old, user=None,
                                  data={"weekdays": [1, 2, 3, 4, 5, 6, 7], "times": ["06:00"]})
        slots = {}
        for day in (3, 6):  # one slot before the merger, one after
            d = Delivery(campaign_id=campaign.id, channel_account_id=rule.channel_account_id, unit_id=old.id,
                         recurrence_id=rule.id, content=dict(rule.content), idempotency_key=f"slot-{day}",
                         scheduled_at=datetime(2026, 10, day, 23, tzinfo=UTC), status="scheduled", held=False)
            s.add(d)
            s.flush()
            slots[day] = d.id
        rule_id = rule.id
    with app.app_context(), session_scope(app) as s:
        moved = reorganise(s, ROWS, today=date(2026, 12, 6))["moved"]
        assert moved["broadcast_rules_ended"] == 1 and moved["broadcasts_cancelled"] == 1
    with app.app_context(), session_scope(app) as s:
        assert s.get(RecurringSchedule, rule_id).ends_on == "2026-10-04"
        assert s.get(Delivery, slots[3]).status == "scheduled"  # before the date: untouched
        assert s.get(Delivery, slots[6]).status == "cancelled"
        campaign = s.get(Campaign, world["campaign"])
        later = bc.create_schedule(s, campaign=campaign, unit=_unit(s, OLD[0]), user=None,
                                   data={"weekdays": [1], "times": ["17:00"]})
        assert later.ends_on == "2026-10-04"  # the old commune only while it existed
        new = bc.create_schedule(s, campaign=campaign, unit=_unit(s, "p-vinh-chau-moi"), user=None,
                                 data={"weekdays": [1], "times": ["17:00"]})
        assert new.starts_on == "2026-10-05" and new.ends_on == "2026-10-20"
        with pytest.raises(bc.ValidationError):
            bc.create_schedule(s, campaign=campaign, unit=_unit(s, OLD[0]), user=None,
                               data={"weekdays": [1], "times": ["17:00"], "starts_on": "2026-10-10"})
