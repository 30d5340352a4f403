"""Awards: a unit nominates (only for its own unit), the communicator records the
decision (number, date, who; bad input refused), the year's XLSX for the yearly
report lists decided awards only."""

from __future__ import annotations

import io

from sqlmodel import select

from core.db import session_scope
from core.timeutil import LOCAL_TZ, utcnow
from tests.helpers import login, make_user


def test_nomination_decision_and_year_list(app):
    from openpyxl import load_workbook

    from campaigns.contests.models import AwardNomination
    from core.models import OrgUnit

    year = utcnow().astimezone(LOCAL_TZ).year
    officer = app.test_client()
    login(officer, make_user(app, "unit_officer"))
    with app.app_context(), session_scope(app) as s:
        own = s.exec(select(OrgUnit).where(OrgUnit.code == "tx-vinh-chau")).one()
        other = s.exec(select(OrgUnit).where(OrgUnit.code == "so-khcn")).one()
        own_id, own_name, other_id = own.id, own.name, other.id
    # a unit officer's nomination is for their own unit, whatever the form says
    r = officer.post("/khen-thuong", data={"unit": other_id, "kind": "collective",
                                           "nominee": "Tổ công nghệ số ấp Hòa Thượng",
                                           "achievements": "Hướng dẫn 1.200 người dân nộp hồ sơ trực tuyến"})
    assert r.status_code == 302
    r = officer.post("/khen-thuong", data={"kind": "individual", "nominee": ""})
    assert r.status_code == 422 and "Nhập tên tập thể hoặc cá nhân" in r.get_data(as_text=True)
    officer.post("/khen-thuong", data={"kind": "individual", "nominee": "Nguyễn Thị Hoa"})
    with app.app_context(), session_scope(app) as s:
        rows = s.exec(select(AwardNomination).order_by(AwardNomination.id)).all()
        assert [(r.unit_id, r.year) for r in rows] == [(own_id, year), (own_id, year)]
        first_id = rows[0].id
    # the officer cannot decide
    assert officer.post(f"/khen-thuong/{first_id}/quyet-dinh", data={}).status_code == 403

    comm = app.test_client()
    login(comm, make_user(app, "communicator"))
    r = comm.post(f"/khen-thuong/{first_id}/quyet-dinh", data={"decision_number": "123/QĐ-UBND",
                                                               "decision_date": "2999-01-01",
                                                               "decided_by": "Chủ tịch UBND tỉnh"},
                  follow_redirects=True)
    assert "không sau hôm nay" in r.get_data(as_text=True)
    today = utcnow().astimezone(LOCAL_TZ).date()
    r = comm.post(f"/khen-thuong/{first_id}/quyet-dinh", data={"decision_number": "123/QĐ-UBND",
                                                               "decision_date": today.isoformat(),
                                                               "decided_by": "Chủ tịch UBND tỉnh"},
                  follow_redirects=True)
    page = r.get_data(as_text=True)
    assert f"Số 123/QĐ-UBND ngày {today.strftime('%d/%m/%Y')} – Chủ tịch UBND tỉnh" in page
    # the year's list: decided only
    r = comm.get(f"/khen-thuong/{year}.xlsx")
    assert r.status_code == 200
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert len(rows) == 2
    assert rows[1][1] == "Tổ công nghệ số ấp Hòa Thượng" and rows[1][3] == own_name
    assert rows[1][5] == "123/QĐ-UBND" and rows[1][6] == today.strftime("%d/%m/%Y")
    assert officer.get(f"/khen-thuong/{year}.xlsx").status_code == 403
