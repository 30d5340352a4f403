"""Knowledge contests: XLSX question import (per-row errors, all or nothing), the
one-time SMS code through the partner batch, one entry per phone per round, no
answers before submission, scoring, results per commune and school, winners' XLSX."""

from __future__ import annotations

import io

from sqlmodel import func, select

from core.db import session_scope
from tests.contest_helpers import code_from_batch, question_rows, setup_contest, xlsx_bytes
from tests.helpers import login, make_user

PHONE = "0912345678"
PHONE_E164 = "+84912345678"


def _count_questions(app) -> int:
    from campaigns.contests.models import ContestQuestion

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(func.count()).select_from(ContestQuestion)).one()


def test_import_200_questions_with_a_wrong_encoding_row_saves_nothing(app, client):
    login(client, make_user(app, "communicator"))
    rows = question_rows(200)
    # row 57 of the sheet (question 56): UTF-8 text read as Windows-1252 (lỗi phông)
    rows[55][2] = "Câu hỏi số 56: ứng dụng định danh là gì?".encode().decode("cp1252", errors="replace")
    rows[120][9] = ""  # sheet row 122: no correct answer
    r = client.post("/cuoc-thi/cau-hoi", data={"file": (io.BytesIO(xlsx_bytes(rows)), "cau-hoi.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Dòng 57: sai bảng mã chữ" in page
    assert "Câu hỏi" in page.split("Dòng 57:")[1].split("</li>")[0]  # names the column
    assert "Dòng 122: không có đáp án đúng" in page
    assert page.count("<li>Dòng ") == 2
    assert _count_questions(app) == 0

    rows = question_rows(200)
    r = client.post("/cuoc-thi/cau-hoi", data={"file": (io.BytesIO(xlsx_bytes(rows)), "cau-hoi.xlsx")},
                    content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200
    assert "Đã nhập 200 câu hỏi." in r.get_data(as_text=True)
    assert _count_questions(app) == 200


def test_mojibake_detection():
    from campaigns.contests.service import looks_mojibake

    good = "Ứng dụng VNeID giúp người dân làm thủ tục hành chính – đúng không?"
    assert not looks_mojibake(good)
    assert looks_mojibake(good.encode().decode("cp1252", errors="replace"))
    assert looks_mojibake(good.encode().decode("latin-1"))
    assert not looks_mojibake("Phường 5, TP. Sóc Trăng – Điều 12")


def test_reviewer_cannot_import(app, client):
    login(client, make_user(app, "reviewer"))
    r = client.post("/cuoc-thi/cau-hoi", data={"file": (io.BytesIO(xlsx_bytes(question_rows(3))), "q.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 403
    assert _count_questions(app) == 0


def _enter(client, app, ids, phone=PHONE, school=""):
    r = client.post(f"/thi/{ids['slug']}/ma", data={"phone": phone})
    assert r.status_code == 200, r.get_data(as_text=True)
    code = code_from_batch(app, PHONE_E164 if phone == PHONE else phone)
    r = client.post(f"/thi/{ids['slug']}/vao-thi", data={"phone": phone, "code": code, "name": "Nguyễn Văn A",
                                                          "unit": ids["commune_id"], "school": school})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


def test_entry_code_attempt_score_and_second_attempt_refused(app, client):
    from campaigns.contests.models import ContestEntry, ContestQuestion

    ids = setup_contest(app, n_questions=20, per_attempt=5)
    r = client.get(f"/thi/{ids['slug']}")
    assert r.status_code == 200 and "Nhận mã xác nhận" in r.get_data(as_text=True)
    # a wrong code is refused and counted
    client.post(f"/thi/{ids['slug']}/ma", data={"phone": PHONE})
    r = client.post(f"/thi/{ids['slug']}/vao-thi", data={"phone": PHONE, "code": "000000",
                                                         "unit": ids["commune_id"]})
    real = code_from_batch(app, PHONE_E164)
    assert r.status_code == 422 and ("Mã xác nhận không đúng." in r.get_data(as_text=True) or real == "000000")

    location = _enter(client, app, ids, school="THPT Lê Lợi")
    page = client.get(location).get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        entry = s.exec(select(ContestEntry)).one()
        assert len(entry.question_ids) == 5
        questions = {q.id: q for q in s.exec(select(ContestQuestion)).all()}
        drawn = [questions[i] for i in entry.question_ids]
    # no answers or explanations on the page before submission
    assert "Giải thích câu" not in page
    for q in drawn:
        assert q.text in page
    # answer all correctly except the first question
    data = {"guess": "150"}
    for n, q in enumerate(drawn):
        data[f"q{q.id}"] = [str(i) for i in q.correct] if n else [str((q.correct[0] + 2) % len(q.options))]
    r = client.post(location, data=data | {"guess": "99999999999"})  # past the column: refused, not a 500
    assert r.status_code == 422 and "câu dự đoán" in r.get_data(as_text=True)
    r = client.post(location, data=data)
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Bạn trả lời đúng 4/5 câu" in body
    assert "Giải thích câu" in body  # explanations after submission
    # submitting again changes nothing
    data2 = {f"q{q.id}": [str(i) for i in q.correct] for q in drawn} | {"guess": "1"}
    r = client.post(location, data=data2)
    assert r.status_code == 409 and "Bài thi này đã được nộp." in r.get_data(as_text=True)
    # a second entry in the same round is refused before any SMS is sent
    from scheduler.sms.models import SmsMessage

    with app.app_context(), session_scope(app) as s:
        sent_before = s.exec(select(func.count()).select_from(SmsMessage)).one()
    r = client.post(f"/thi/{ids['slug']}/ma", data={"phone": "+84 912 345 678"})
    assert r.status_code == 409
    assert "đã dự thi vòng này" in r.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(func.count()).select_from(SmsMessage)).one() == sent_before
        entry = s.exec(select(ContestEntry)).one()
        assert entry.score == 4 and entry.guess == 150 and entry.duration_ms is not None
    # per-unit and per-school results
    r = client.get(f"/thi/{ids['slug']}/ket-qua")
    res = r.get_data(as_text=True)
    per_unit = res.split('id="per-unit"')[1].split("</table>")[0]
    assert ids["commune_name"] in per_unit
    assert "THPT Lê Lợi" in res.split('id="per-school"')[1].split("</table>")[0]


def test_bad_phone_and_unpublished_contest(app, client):
    from campaigns.contests.models import Contest

    ids = setup_contest(app)
    r = client.post(f"/thi/{ids['slug']}/ma", data={"phone": "02993123456"})  # a Sóc Trăng landline
    assert r.status_code == 422 and "cố định" in r.get_data(as_text=True)
    r = client.post(f"/thi/{ids['slug']}/ma", data={"phone": "abc"})
    assert r.status_code == 422 and "chữ cái" in r.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        c = s.get(Contest, ids["contest_id"])
        c.published = False
        s.add(c)
    assert client.get(f"/thi/{ids['slug']}").status_code == 404


def test_codes_per_phone_are_limited(app, client):
    ids = setup_contest(app)
    statuses = [client.post(f"/thi/{ids['slug']}/ma", data={"phone": PHONE}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_code_request_rate_limit_per_address(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 't.db'}", tmp_path, WTF_CSRF_ENABLED=False,
                   LANTOA_CONTEST_CODE_RATE_LIMIT="2 per minute")
    ids = setup_contest(app)
    client = app.test_client()
    codes = [client.post(f"/thi/{ids['slug']}/ma", data={"phone": f"091234567{i}"}).status_code
             for i in range(3)]
    assert codes == [200, 200, 429]


def test_winners_xlsx(app, client):
    from openpyxl import load_workbook

    ids = setup_contest(app, per_attempt=3)
    anon = app.test_client()
    location = _enter(anon, app, ids)
    anon.post(location, data={"guess": "3"})
    login(client, make_user(app, "reviewer"))
    r = client.get(f"/cuoc-thi/{ids['contest_id']}/giai-thuong.xlsx")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "Vòng" and len(rows) == 2
    assert rows[1][3] == PHONE and rows[1][4] == ids["commune_name"] and rows[1][7] == 3
    assert ws.cell(row=2, column=4).data_type == "s"  # the phone is a text cell, never a number
    assert all(c.data_type != "f" for r in ws.iter_rows() for c in r)


def test_officer_creates_contest_with_weekly_rounds(app, client):
    from campaigns.contests.models import Contest, ContestRound
    from scheduler.models import ChannelAccount

    login(client, make_user(app, "communicator"))
    with app.app_context(), session_scope(app) as s:
        acc = ChannelAccount(channel="sms_partner", name="SMS", config={})
        s.add(acc)
        s.flush()
        acc_id = acc.id
    r = client.post("/cuoc-thi", data={"title": "Thi tìm hiểu", "slug": "Bad Slug", "weeks": "4",
                                        "first_day": "2026-12-07", "sms_account": acc_id})
    assert r.status_code == 200 and "Địa chỉ trang thi chỉ gồm" in r.get_data(as_text=True)
    r = client.post("/cuoc-thi", data={"title": "Thi tìm hiểu", "slug": "thi-2026", "weeks": "4",
                                        "questions_per_attempt": "10", "first_day": "2026-12-07",
                                        "sms_account": acc_id, "published": "1"})
    assert r.status_code == 302
    with app.app_context(), session_scope(app) as s:
        c = s.exec(select(Contest)).one()
        rounds = s.exec(select(ContestRound).where(ContestRound.contest_id == c.id)
                        .order_by(ContestRound.number)).all()
        assert [r.number for r in rounds] == [1, 2, 3, 4]
        assert (rounds[1].opens_at - rounds[0].opens_at).days == 7
    assert "Vòng" in client.get(f"/cuoc-thi/{c.id}").get_data(as_text=True)
