"""Training and conferences: registration, a QR check-in that marks attendance once
(a replayed, expired or forged code is refused) and the T02 figure that follows."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

from sqlmodel import select

from core.db import session_scope
from core.timeutil import LOCAL_TZ, utcnow
from tests.helpers import login
from tests.measure_helpers import setup_world, target_id


def _t02(app, year) -> tuple[float | None, str]:
    from campaigns.measure.compute import evaluate_plan
    from campaigns.measure.models import Plan, PlanTarget

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).first()
        tid = s.exec(select(PlanTarget.id).where(PlanTarget.plan_id == plan.id, PlanTarget.code == "T02")).one()
        (res,) = evaluate_plan(s, plan, with_trend=False, target_ids={tid})
        return res.value, res.detail


def _ticket_path(client, event_id, unit_id, phone="0912000111", name="Lê Văn Cường"):
    r = client.post(f"/tap-huan/{event_id}/dang-ky", data={"name": name, "phone": phone, "unit": unit_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


def _code_path(client, ticket):
    page = client.get(ticket).get_data(as_text=True)
    assert "<svg" in page  # the QR code itself
    url = re.search(r'data-url="([^"]+)"', page).group(1)
    return urlsplit(url).path


def test_qr_check_in_once_and_t02_changes(app, monkeypatch):
    from campaigns.contests.models import TrainingAttendee
    from campaigns.measure.models import KpiValue

    world = setup_world(app, monkeypatch)
    year, commune = world["year"], world["units"]["xa-lac-hoa"]
    yesterday = (utcnow().astimezone(LOCAL_TZ) - timedelta(days=1)).date()
    with app.app_context(), session_scope(app) as s:
        s.add(KpiValue(target_id=target_id(app, year, "T02"), unit_id=commune, year=year, value=20.0,
                       numerator=2, denominator=10, as_of=max(yesterday, yesterday.replace(month=1, day=1)),
                       entered_at=utcnow()))
    before, _ = _t02(app, year)
    assert before == 20.0

    staff = app.test_client()
    login(staff, world["users"]["communicator"])
    r = staff.post("/tap-huan", data={"title": "Tập huấn vận hành Cổng DVC", "audience": "operators",
                                      "unit": world["units"]["so-khcn"], "starts_at": "2026-12-06T08:00",
                                      "place": "Hội trường Sở"})
    assert r.status_code == 302
    event_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = staff.post(f"/tap-huan/{event_id}", data={"material_title": "Slide bài giảng",
                                                  "material_url": "https://example.gov.vn/slide.pdf"})
    assert r.status_code == 302

    citizen = app.test_client()
    ticket = _ticket_path(citizen, event_id, commune)
    assert "Slide bài giảng" in citizen.get(ticket).get_data(as_text=True)
    code_path = _code_path(citizen, ticket)

    # an attendee cannot mark themselves: the organiser scans
    assert citizen.post(code_path).status_code in (302, 401, 403)
    r = staff.post(code_path)
    assert r.status_code == 200 and "Đã điểm danh: Lê Văn Cường" in r.get_data(as_text=True)
    after, detail = _t02(app, year)
    assert after == 30.0
    assert f"/tap-huan/{event_id}/diem-danh.csv" in detail
    # the same code again (a replay) and a fresh code of the same ticket are refused
    r = staff.post(code_path)
    assert r.status_code == 409 and "đã được điểm danh" in r.get_data(as_text=True)
    page = citizen.get(ticket).get_data(as_text=True)
    assert 'id="checked"' in page and "<svg" not in page
    from campaigns.contests.training import check_in_code

    with app.test_request_context(), session_scope(app) as s:
        fresh = check_in_code(s.exec(select(TrainingAttendee)).one())
    assert staff.post(f"/tap-huan/diem-danh/{fresh}").status_code == 409
    assert _t02(app, year)[0] == 30.0
    with app.app_context(), session_scope(app) as s:
        rows = s.exec(select(TrainingAttendee)).all()
        assert len(rows) == 1 and rows[0].checked_in_at is not None
    # the attendance list is the evidence
    raw = staff.get(f"/tap-huan/{event_id}/diem-danh.csv").get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n")  # a served CSV (core/tabular.py)
    csv = raw.decode("utf-8-sig")
    assert "Lê Văn Cường" in csv and "0912000111" in csv


def test_expired_and_forged_codes_are_refused(app, monkeypatch):
    world = setup_world(app, monkeypatch)
    staff = app.test_client()
    login(staff, world["users"]["communicator"])
    r = staff.post("/tap-huan", data={"title": "Hội nghị triển khai", "audience": "officials",
                                      "unit": world["units"]["so-khcn"], "starts_at": "2026-12-06T08:00"})
    event_id = int(r.headers["Location"].rsplit("/", 1)[1])
    citizen = app.test_client()
    code_path = _code_path(citizen, _ticket_path(citizen, event_id, world["units"]["xa-lac-hoa"]))
    app.config["LANTOA_TRAINING_QR_MAX_AGE"] = 1
    time.sleep(2.1)
    r = staff.post(code_path)
    assert r.status_code == 410 and "hết hạn" in r.get_data(as_text=True)
    app.config["LANTOA_TRAINING_QR_MAX_AGE"] = 600
    forged = code_path[:-3] + ("abc" if not code_path.endswith("abc") else "xyz")
    assert staff.post(forged).status_code == 400
    assert staff.post(code_path).status_code == 200


def test_unit_officers_see_their_own_units_events(app, monkeypatch):
    from tests.helpers import make_user

    world = setup_world(app, monkeypatch)
    district = app.test_client()
    login(district, world["users"]["district"])  # tx-vinh-chau
    r = district.post("/tap-huan", data={"title": "Tập huấn cán bộ một cửa thị xã", "audience": "operators",
                                         "unit": world["units"]["so-khcn"], "starts_at": "2026-12-08T08:00"})
    event_id = int(r.headers["Location"].rsplit("/", 1)[1])
    other = app.test_client()
    login(other, make_user(app, "unit_officer", "ke-sach"))
    assert other.get(f"/tap-huan/{event_id}").status_code == 404
    assert other.get(f"/tap-huan/{event_id}/diem-danh.csv").status_code == 404
    assert "Tập huấn cán bộ một cửa thị xã" not in other.get("/tap-huan").get_data(as_text=True)
    page = district.get(f"/tap-huan/{event_id}").get_data(as_text=True)
    # the officer's own unit, not the one the form named
    from campaigns.contests.models import TrainingEvent

    with app.app_context(), session_scope(app) as s:
        assert s.get(TrainingEvent, event_id).unit_id == world["units"]["tx-vinh-chau"]
    assert "Tập huấn cán bộ một cửa thị xã" in page
