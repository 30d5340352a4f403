"""Community digital-technology teams: idempotent visit sync, team isolation,
conflicts, the retention purge, logs without citizen data, supervision and CSV."""

from __future__ import annotations

import base64
import io
import logging
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from core.timeutil import utcnow
from tests.helpers import login, make_user, seed_units, token_for


def _team(app, name: str, unit_code: str = "xa-lac-hoa", hamlets=("Ấp Âu Thọ A", "Ấp Âu Thọ B")) -> int:
    from campaigns.teams import service as ts
    from core.models import OrgUnit

    seed_units(app)
    admin = make_user(app, "admin")
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).one()
        return ts.create_team(s, admin, unit.id, name, list(hamlets)).id


def _member(app, team_id: int, email: str) -> dict:
    from campaigns.teams import service as ts
    from campaigns.teams.models import Team
    from core.models import User
    from tests.helpers import PASSWORD

    admin = make_user(app, "admin")
    with app.app_context(), session_scope(app) as s:
        team = s.get(Team, team_id)
        m = ts.add_member(s, admin, team, name="Lâm Văn Tổ", phone="0299 3861 234", role="leader",
                          email=email, password=PASSWORD)
        user = s.get(User, m.user_id)
        s.expunge(user)
    return {"Authorization": "Bearer " + token_for(app, user), "user": user}


def _visit(**extra) -> dict:
    data = {"client_id": str(uuid.uuid4()), "hamlet": "Ấp Âu Thọ A", "household_label": "nhà số 12, tổ 3",
            "people": [{"actions": ["vneid_installed", "level2_activated"]},
                       {"actions": [], "refused": True, "reason": "chưa có điện thoại thông minh"}],
            "follow_up_on": "2030-01-15"}
    data.update(extra)
    return data


def _h(member: dict) -> dict:
    return {"Authorization": member["Authorization"]}


def _count(app) -> int:
    from campaigns.teams.models import TeamVisit

    with app.app_context(), session_scope(app) as s:
        return len(s.exec(select(TeamVisit.id)).all())


def test_same_client_id_twice_is_one_visit(app):
    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    client = app.test_client()
    data = _visit()
    first = client.post("/api/v1/visits", json=data, headers=_h(member))
    assert first.status_code == 201, first.get_json()
    again = client.post("/api/v1/visits", json=data, headers=_h(member))
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert _count(app) == 1
    listed = client.get("/api/v1/visits", headers=_h(member)).get_json()
    assert listed["total"] == 1 and listed["items"][0]["client_id"] == data["client_id"]


def test_another_teams_visit_is_404(app):
    a = _member(app, _team(app, "Tổ A"), "a@test.local")
    b = _member(app, _team(app, "Tổ B"), "b@test.local")
    client = app.test_client()
    vid = client.post("/api/v1/visits", json=_visit(), headers=_h(a)).get_json()["id"]
    assert client.get(f"/api/v1/visits/{vid}", headers=_h(a)).status_code == 200
    assert client.get(f"/api/v1/visits/{vid}", headers=_h(b)).status_code == 404
    assert client.get("/api/v1/visits", headers=_h(b)).get_json()["total"] == 0
    # a unit officer of another district sees nothing; the commune's district officer sees it
    other = {"Authorization": "Bearer " + token_for(app, make_user(app, "unit_officer", "so-khcn"))}
    assert client.get(f"/api/v1/visits/{vid}", headers=other).status_code == 404
    district = {"Authorization": "Bearer " + token_for(app, make_user(app, "unit_officer"))}
    assert client.get(f"/api/v1/visits/{vid}", headers=district).status_code == 200


def test_bad_visits_get_clear_messages(app):
    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    client = app.test_client()
    cases = [
        (_visit(client_id="abc"), "client_id"),
        (_visit(hamlet="Ấp Không Có"), "hamlet"),
        (_visit(household_label=""), "household_label"),
        (_visit(people=[]), "people"),
        (_visit(people=[{"actions": ["hack"]}]), "people[0].actions"),
        (_visit(follow_up_on="15/01/2030"), "follow_up_on"),
        (_visit(receipt_photo=base64.b64encode(b"not an image").decode()), "receipt_photo"),
    ]
    for data, field in cases:
        r = client.post("/api/v1/visits", json=data, headers=_h(member))
        assert r.status_code == 422, (field, r.status_code)
        assert field in r.get_json()["error"]["fields"], (field, r.get_json())
    assert _count(app) == 0


def test_receipt_photo_is_checked_and_exif_stripped(app):
    from PIL import Image

    from campaigns.teams.models import TeamVisit

    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    im = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert b"PhoneMaker" in buf.getvalue()
    data = _visit(receipt_photo="data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode())
    r = app.test_client().post("/api/v1/visits", json=data, headers=_h(member))
    assert r.status_code == 201 and r.get_json()["has_receipt_photo"] is True
    with app.app_context(), session_scope(app) as s:
        path = s.get(TeamVisit, r.get_json()["id"]).receipt_path
    stored = open(path, "rb").read()
    assert b"PhoneMaker" not in stored
    assert Image.open(io.BytesIO(stored)).size == (64, 48)


def test_same_household_on_two_phones_is_flagged_not_merged(app):
    team = _team(app, "Tổ 1")
    a = _member(app, team, "a@test.local")
    b = _member(app, team, "b@test.local")
    client = app.test_client()
    one = client.post("/api/v1/visits", json=_visit(), headers=_h(a)).get_json()
    two = client.post("/api/v1/visits", json=_visit(people=[{"actions": ["portal_account"]}]), headers=_h(b)).get_json()
    assert one["conflict"] is False and two["conflict"] is True and two["conflict_with"] == one["id"]
    assert client.get(f"/api/v1/visits/{one['id']}", headers=_h(a)).get_json()["conflict_with"] == two["id"]
    assert _count(app) == 2
    # the same data again (another household label) is no conflict
    three = client.post("/api/v1/visits", json=_visit(household_label="nhà số 14"), headers=_h(b)).get_json()
    assert three["conflict"] is False
    officer = make_user(app, "communicator")
    web = app.test_client()
    login(web, officer)
    page = web.get("/teams/visits").get_data(as_text=True)
    assert "Lượt thăm trùng hộ cần xem lại" in page and page.count("nhà số 12, tổ 3") >= 2


def test_purge_after_retention_keeps_counts(app):
    from PIL import Image

    from campaigns.teams import service as ts
    from campaigns.teams.models import TeamVisit

    app.config["LANTOA_TEAMS_RETENTION_DAYS"] = 30
    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    photo = base64.b64encode(buf.getvalue()).decode()
    client = app.test_client()
    old_at = (utcnow() - timedelta(days=31)).isoformat()
    old = client.post("/api/v1/visits", json=_visit(visited_at=old_at, receipt_photo=photo), headers=_h(member))
    new = client.post("/api/v1/visits", json=_visit(household_label="nhà số 20"), headers=_h(member))
    assert old.status_code == new.status_code == 201
    with app.app_context(), session_scope(app) as s:
        path = s.get(TeamVisit, old.get_json()["id"]).receipt_path
    assert path and open(path, "rb")
    from scheduler import jobs

    assert "teams.purge" in jobs._daily
    jobs.run_daily(app)
    with app.app_context(), session_scope(app) as s:
        o, n = s.get(TeamVisit, old.get_json()["id"]), s.get(TeamVisit, new.get_json()["id"])
        assert o.household_label is None and o.receipt_path is None and o.purged_at is not None
        assert all("reason" not in p for p in o.people)
        assert [p["actions"] for p in o.people][0] == ["vneid_installed", "level2_activated"]
        assert n.household_label == "nhà số 20" and n.purged_at is None
        assert ts.purge(s, app) == 0  # nothing left to purge
        figures = ts.target_figures(s)
    import os

    assert not os.path.exists(path)
    assert figures["T09"] == 2 and figures["households"] == 2


def test_no_citizen_name_or_phone_in_logs(app):
    from core.hardening import install_log_filter

    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        install_log_filter()
        client = app.test_client()
        label = "Nguyễn Văn Dân 0912345678"
        data = _visit(household_label=label,
                      people=[{"actions": [], "refused": True, "reason": "Trần Thị Bé gọi 0987 654 321"}])
        assert client.post("/api/v1/visits", json=data, headers=_h(member)).status_code == 201
        assert client.post("/api/v1/visits", json=data, headers=_h(member)).status_code == 200
        bad = dict(data, client_id=str(uuid.uuid4()), follow_up_on="x")
        assert client.post("/api/v1/visits", json=bad, headers=_h(member)).status_code == 422
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    out = stream.getvalue()
    assert "visit" in out  # the recording was logged ...
    for leaked in ("Nguyễn Văn Dân", "0912345678", "Trần Thị Bé", "0987 654 321"):
        assert leaked not in out, leaked  # ... without the citizen's name or phone


def test_supervision_table_csv_and_follow_ups(app):
    team = _team(app, "Tổ Âu Thọ")
    member = _member(app, team, "to1@test.local")
    client = app.test_client()
    follow = (utcnow() + timedelta(days=2)).date().isoformat()
    for i in range(3):
        people = [{"actions": ["vneid_installed", "dossier_online"]}] * (i + 1)
        data = _visit(household_label=f"nhà {i}", people=people, follow_up_on=follow if i == 0 else None)
        assert client.post("/api/v1/visits", json=data, headers=_h(member)).status_code == 201
    web = app.test_client()
    login(web, make_user(app, "communicator"))
    page = web.get("/teams/visits").get_data(as_text=True)
    assert "Tổ Âu Thọ" in page and "Hẹn quay lại" in page and "nhà 0" in page
    csv = web.get("/teams/visits.csv")
    assert csv.status_code == 200
    raw = csv.get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    text = raw.decode("utf-8-sig")
    row = [line for line in text.split("\r\n") if "Tổ Âu Thọ" in line][0].split(",")
    assert row[4] == "3" and row[5] == "6"  # households, people
    # a team member does not reach the supervision pages
    phone = app.test_client()
    assert login(phone, member["user"].email).status_code == 302
    assert phone.get("/teams/visits").status_code == 403


def test_managers_create_teams_and_members_in_their_commune(app):
    from campaigns.teams.models import Team, TeamMember
    from core.models import OrgUnit, Role, User

    seed_units(app)
    officer = make_user(app, "unit_officer")  # tx-vinh-chau: Lạc Hòa is in its subtree
    web = app.test_client()
    login(web, officer)
    with app.app_context(), session_scope(app) as s:
        lac_hoa = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one().id
    r = web.post("/teams/", data={"name": "Tổ Lạc Hòa", "unit_id": lac_hoa, "hamlets": "Ấp Giồng Giữa\nẤp Âu Thọ B"})
    assert r.status_code == 302
    with app.app_context(), session_scope(app) as s:
        team = s.exec(select(Team).where(Team.name == "Tổ Lạc Hòa")).one()
        assert team.hamlets == ["Ấp Giồng Giữa", "Ấp Âu Thọ B"]
        team_id = team.id
    r = web.post(f"/teams/{team_id}", data={"name": "Thạch Thị Sa", "phone": "0912 000 111", "role": "member",
                                            "email": "sa@test.local", "password": "mat-khau-dai"})
    assert r.status_code == 302
    bad = web.post(f"/teams/{team_id}", data={"name": "X", "phone": "12", "role": "member",
                                              "email": "x@test.local", "password": "mat-khau-dai"})
    assert "Số điện thoại không hợp lệ." in bad.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        m = s.exec(select(TeamMember).where(TeamMember.team_id == team_id)).one()
        assert s.get(User, m.user_id).role == Role.team_member and s.get(User, m.user_id).unit_id == lac_hoa
    # an officer of another unit: 404 on the team, and the commune is not offered
    other = app.test_client()
    login(other, make_user(app, "unit_officer", "so-khcn", email="o@test.local"))
    assert other.get(f"/teams/{team_id}").status_code == 404
    assert other.post("/teams/", data={"name": "T", "unit_id": lac_hoa, "hamlets": "A"}).status_code == 200
    with app.app_context(), session_scope(app) as s:
        assert len(s.exec(select(Team)).all()) == 1


def test_team_member_home_goes_to_the_app_and_gets_a_device_token(app):
    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    phone = app.test_client()
    login(phone, member["user"].email)
    assert phone.get("/").headers["Location"].endswith("/to-cong-nghe/")
    assert phone.post("/to-cong-nghe/token").status_code == 400  # not from the app
    r = phone.post("/to-cong-nghe/token", headers={"X-Lantoa-App": "1"})
    token = r.get_json()["token"]
    assert r.get_json()["team"]["hamlets"] == ["Ấp Âu Thọ A", "Ấp Âu Thọ B"]
    m = phone.get("/api/v1/team-materials", headers={"Authorization": "Bearer " + token})
    assert m.status_code == 200 and m.get_json()["team"]["name"] == "Tổ 1"
    shell = app.test_client().get("/to-cong-nghe/")
    assert shell.status_code == 200 and "Nghị định 13/2023" in shell.get_data(as_text=True)
    manifest = app.test_client().get("/to-cong-nghe/manifest.webmanifest").get_json()
    assert manifest["start_url"] == "/to-cong-nghe/" and manifest["display"] == "standalone"
    sw = app.test_client().get("/to-cong-nghe/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["Content-Type"]


@pytest.mark.parametrize("role", ["reviewer", "telecom_partner"])
def test_roles_that_do_not_record_visits(app, role):
    headers = {"Authorization": "Bearer " + token_for(app, make_user(app, role))}
    r = app.test_client().post("/api/v1/visits", json=_visit(), headers=headers)
    assert r.status_code == 403


def test_visits_feed_t09_and_t11_on_the_measure_dashboard(app, monkeypatch):
    from campaigns.measure import compute
    from campaigns.measure.models import Plan
    from tests.measure_helpers import setup_world

    world = setup_world(app, monkeypatch)
    member = _member(app, _team(app, "Tổ 1"), "to1@test.local")
    client = app.test_client()
    people = [{"actions": ["level2_activated", "dossier_online"]}, {"actions": ["level2_activated"]}]
    for label in ("nhà 1", "nhà 2"):
        assert client.post("/api/v1/visits", json=_visit(household_label=label, people=people),
                           headers=_h(member)).status_code == 201
    with app.app_context(), session_scope(app) as s:
        plan = s.get(Plan, world["plan_id"])
        details = {r.target.code: r.detail for r in compute.evaluate_plan(s, plan, with_trend=False)}
        other = {r.target.code: r.detail for r in compute.evaluate_plan(
            s, plan, unit_id=world["units"]["ke-sach"], with_trend=False)}
    assert "tổ công nghệ số cộng đồng: 4 người được kích hoạt định danh mức 2 qua 2 hộ" in details["T09"]
    assert "tổ công nghệ số cộng đồng: 2 người nộp hồ sơ trực tuyến qua 2 hộ" in details["T11"]
    assert "tổ công nghệ số" not in details["T10"]
    assert "tổ công nghệ số" not in other["T09"]  # another district's scope has no visits
    web = app.test_client()
    login(web, make_user(app, "communicator"))
    page = web.get(f"/measure?year={world['year']}").get_data(as_text=True)
    assert "4 người được kích hoạt định danh mức 2" in page
    # the yearly report's target table carries the same evidence
    import docx

    from campaigns.measure import report

    with app.app_context(), session_scope(app) as s:
        raw = report.to_docx(report.build_report(s, s.get(Plan, world["plan_id"])))
    cells = [c.text for t in docx.Document(io.BytesIO(raw)).tables for row in t.rows for c in row.cells]
    assert any("2 người nộp hồ sơ trực tuyến qua 2 hộ" in c for c in cells)


def test_supervision_filters_by_commune(app):
    a = _member(app, _team(app, "Tổ Lạc Hòa"), "a@test.local")
    b = _member(app, _team(app, "Tổ Vĩnh Hải", unit_code="xa-vinh-hai", hamlets=("Ấp Hòa Giang",)),
                "b@test.local")
    client = app.test_client()
    assert client.post("/api/v1/visits", json=_visit(), headers=_h(a)).status_code == 201
    assert client.post("/api/v1/visits", json=_visit(hamlet="Ấp Hòa Giang"), headers=_h(b)).status_code == 201
    web = app.test_client()
    login(web, make_user(app, "reviewer"))
    both = web.get("/teams/visits").get_data(as_text=True)
    assert "Tổ Lạc Hòa" in both and "Tổ Vĩnh Hải" in both
    one = web.get("/teams/visits?unit=xa-lac-hoa").get_data(as_text=True)
    assert "Tổ Lạc Hòa" in one.split("Hẹn quay lại")[0] and "Ấp Hòa Giang" not in one
    csv = web.get("/teams/visits.csv?unit=xa-lac-hoa").get_data().decode("utf-8-sig")
    assert "Tổ Lạc Hòa" in csv and "Tổ Vĩnh Hải" not in csv
