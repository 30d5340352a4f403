"""Design contests: a public submission with a file checked from its bytes, judges
(role contest_judge) limited to the contests they are assigned, scoring against
criteria (bounds refused), results by the judges' average."""

from __future__ import annotations

import io

from sqlmodel import select

from core.db import session_scope
from tests.helpers import login, make_user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"x" * 64


def _contest(comm, slug, judges):
    r = comm.post("/cuoc-thi/sang-tac", data={"title": f"Thi áp phích {slug}", "slug": slug, "kind": "design",
                                               "criteria": "Ý tưởng | 40\nThẩm mỹ | 30\nThông điệp DVCTT | 30",
                                               "judges": [str(j) for j in judges]})
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(r.headers["Location"].rsplit("/", 1)[1])


def _submit(client, app, slug, data: bytes, title="Áp phích VNeID"):
    from campaigns.contests.service import communes

    with app.app_context(), session_scope(app) as s:
        unit = communes(s)[0].id
    return client.post(f"/thi/sang-tac/{slug}", data={"title": title, "author": "Nhóm lớp 11A1",
                                                     "phone": "0912333444", "unit": str(unit),
                                                     "school": "THPT Hoàng Diệu",
                                                     "file": (io.BytesIO(data), "bai.png")},
                       content_type="multipart/form-data")


def test_judges_score_only_their_contests(app):
    from campaigns.contests.models import DesignScore

    judge = make_user(app, "contest_judge", email="giamkhao1@test.local")
    other_judge = make_user(app, "contest_judge", email="giamkhao2@test.local")
    comm = app.test_client()
    login(comm, make_user(app, "communicator"))
    mine = _contest(comm, "ap-phich", [judge.id])
    theirs = _contest(comm, "video", [other_judge.id])

    public = app.test_client()
    # a file is checked from its bytes: an executable named .png is refused
    r = _submit(public, app, "ap-phich", b"MZ\x90\x00" + b"\x00" * 64)
    assert r.status_code == 422 and "PNG/JPEG" in r.get_data(as_text=True)
    assert _submit(public, app, "ap-phich", PNG).status_code == 200
    assert _submit(public, app, "ap-phich", PDF, title="Tờ gấp").status_code == 200
    assert _submit(public, app, "video", PNG, title="Video khác").status_code == 200

    j = app.test_client()
    login(j, judge)
    listing = j.get("/cuoc-thi/sang-tac").get_data(as_text=True)
    assert "Thi áp phích ap-phich" in listing and "Thi áp phích video" not in listing
    assert j.get(f"/cuoc-thi/sang-tac/{theirs}").status_code == 404
    page = j.get(f"/cuoc-thi/sang-tac/{mine}").get_data(as_text=True)
    assert "Áp phích VNeID" in page and "Tờ gấp" in page
    from campaigns.contests.models import DesignSubmission

    with app.app_context(), session_scope(app) as s:
        subs = {x.title: x.id for x in s.exec(select(DesignSubmission)).all()}
        other_sub = s.exec(select(DesignSubmission).where(DesignSubmission.contest_id == theirs)).one().id
    # the file of another contest's submission is not theirs to see
    assert j.get(f"/cuoc-thi/sang-tac/bai/{other_sub}/tep").status_code == 404
    r = j.get(f"/cuoc-thi/sang-tac/bai/{subs['Áp phích VNeID']}/tep")
    assert r.status_code == 200 and r.data == PNG and r.mimetype == "image/png"
    # a point past the criterion's maximum is refused
    r = j.post(f"/cuoc-thi/sang-tac/{mine}", data={"submission": subs["Áp phích VNeID"],
                                                   "points": ["41", "20", "20"]})
    assert r.status_code == 422 and "phải từ 0 đến 40" in r.get_data(as_text=True)
    assert j.post(f"/cuoc-thi/sang-tac/{mine}", data={"submission": subs["Áp phích VNeID"],
                                                      "points": ["35", "25,5", "28"]}).status_code == 302
    assert j.post(f"/cuoc-thi/sang-tac/{mine}", data={"submission": subs["Tờ gấp"],
                                                      "points": ["20", "20", "20"]}).status_code == 302
    # scoring another contest's entry through this contest is refused
    assert j.post(f"/cuoc-thi/sang-tac/{mine}", data={"submission": other_sub,
                                                      "points": ["1", "1", "1"]}).status_code == 404
    # officers cannot score
    assert comm.post(f"/cuoc-thi/sang-tac/{mine}", data={"submission": subs["Tờ gấp"],
                                                         "points": ["1", "1", "1"]}).status_code == 403
    with app.app_context(), session_scope(app) as s:
        totals = sorted(x.total for x in s.exec(select(DesignScore)).all())
    assert totals == [60.0, 88.5]
    results = comm.get(f"/cuoc-thi/sang-tac/{mine}").get_data(as_text=True)
    table = results.split('id="results"')[1]
    assert table.index("Áp phích VNeID") < table.index("Tờ gấp")
    assert "88,50" in table
    # the judge's home is the judging page
    assert j.get("/").headers["Location"].endswith("/cuoc-thi/sang-tac")
