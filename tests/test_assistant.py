"""Citizens' assistant: knowledge base, Vietnamese retrieval, API, widget, safety, retention,
the knowledge-base pages and the handoff inbox."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from campaigns.assistant import engine, kb, safety
from campaigns.assistant.models import AssistantQuestion, KbEntry
from core.db import session_scope
from tests.helpers import api_headers, login, make_user


@pytest.fixture
def loaded(app, runner):
    runner.invoke(args=["seed-demo"])
    result = runner.invoke(args=["assistant", "load"])
    assert result.exit_code == 0, result.output
    return app


def _entry(app, key: str) -> KbEntry:
    with session_scope(app) as s:
        return s.exec(select(KbEntry).where(KbEntry.key == key)).one()


def _ask(client, headers, question, **extra):
    return client.post("/api/v1/assistant/ask", headers=headers, json={"question": question, **extra})


# -- knowledge base ------------------------------------------------------------------------------


def test_seed_knowledge_base_is_valid_and_large_enough():
    entries = kb.load_files()
    assert len(entries) >= 60
    assert len({e["key"] for e in entries}) == len(entries)
    assert all(len(e["questions"]) >= 2 and e["unit_code"] for e in entries)
    themes = " ".join(e["answer"] for e in entries).lower()
    for word in ("vneid", "mức 2", "kích hoạt", "tra cứu", "thanh toán", "lệ phí", "otp", "0299 3822 222"):
        assert word in themes, word


def test_cli_load_is_idempotent_and_rejects_bad_files(loaded, runner, tmp_path):
    again = runner.invoke(args=["assistant", "load"])
    assert again.exit_code == 0 and "0 mục mới" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - key: Bad Key\n    questions: []\n    answer: ''\n", encoding="utf-8")
    result = runner.invoke(args=["assistant", "load", str(bad)])
    assert result.exit_code == 1
    assert "Cần ít nhất một cách hỏi" in result.output
    with session_scope(loaded) as s:
        assert s.exec(select(KbEntry).where(KbEntry.key == "Bad Key")).first() is None


def test_only_approved_and_valid_entries_answer(loaded):
    client = loaded.test_client()
    headers = api_headers(loaded, "communicator")
    first = _ask(client, headers, "quen mat khau vneid").json
    assert first["handoff"] is False and first["entry_id"] == _entry(loaded, "dvc-quen-mat-khau").id
    with session_scope(loaded) as s:  # back to draft: it may no longer answer
        e = s.exec(select(KbEntry).where(KbEntry.key == "dvc-quen-mat-khau")).one()
        e.status = "draft"
        e.updated_at = e.updated_at + timedelta(seconds=1)
    assert _ask(client, headers, "quen mat khau vneid").json["entry_id"] != first["entry_id"]
    with session_scope(loaded) as s:  # approved again but expired yesterday
        e = s.exec(select(KbEntry).where(KbEntry.key == "dvc-quen-mat-khau")).one()
        e.status, e.valid_to = "approved", engine.today_local() - timedelta(days=1)
        e.updated_at = e.updated_at + timedelta(seconds=2)
    assert _ask(client, headers, "quen mat khau vneid").json["entry_id"] != first["entry_id"]


# -- retrieval -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index():
    entries = kb.answerable(kb.load_files(), date.today())
    for i, e in enumerate(entries, start=1):
        e["id"] = i
    return engine.build_index(entries)


@pytest.mark.parametrize("a, b", [
    ("đăng ký tài khoản dịch vụ công", "dang ky tai khoan dich vu cong"),
    ("quên mật khẩu VNeID", "quen mk vneid"),
    ("không nhận được mã kích hoạt", "k nhan dc ma kich hoat"),
    ("đổi số điện thoại trên VNeID", "doi sdt tren vneid"),
])
def test_diacritics_and_abbreviations_reach_the_same_entry(index, a, b):
    assert index.query(a)[0].key == index.query(b)[0].key is not None


def test_typos_are_corrected(index):
    assert index.query("quen mat khua vnied")[0].key == "dvc-quen-mat-khau"
    assert index.query("tra cuu tinh trang hoo so")[0].key == "hoso-tra-cuu"


def test_outside_questions_have_low_confidence(index):
    assert index.query("gia vang hom nay bao nhieu")[0].confidence < engine.THRESHOLD
    assert index.query("đăng ký tài khoản dịch vụ công")[0].confidence >= engine.THRESHOLD


# -- API and widget ------------------------------------------------------------------------------


def test_api_answers_any_role_and_validates(loaded):
    client = loaded.test_client()
    assert _ask(client, {}, "x").status_code == 401
    for role in ("admin", "communicator", "reviewer", "unit_officer", "telecom_partner"):
        r = _ask(client, api_headers(loaded, role, unit_code="viettel" if role == "telecom_partner" else "default"),
                 "lam dinh danh muc 2 o dau")
        assert r.status_code == 200, (role, r.json)
        assert set(r.json) >= {"answer", "entry_id", "confidence", "handoff"}
        assert r.json["entry_id"] == _entry(loaded, "vneid-dang-ky-muc-2").id
        assert 0 <= r.json["confidence"] <= 1
    headers = api_headers(loaded, "admin")
    for body in ({"question": ""}, {"question": 5}, {"question": "x" * 1001}, {"question": "a", "channel": "fax"}):
        r = client.post("/api/v1/assistant/ask", headers=headers, json=body)
        assert r.status_code == 422 and r.json["error"]["code"] == "validation_error", body


def test_uncovered_question_is_handed_off_and_reaches_the_inbox(loaded):
    client = loaded.test_client()
    r = _ask(client, api_headers(loaded, "communicator"), "cho hoi gia lua hom nay bao nhieu mot ky")
    assert r.json["handoff"] is True and r.json["entry_id"] is None
    assert "chuyển cho" in r.json["answer"]
    officer = make_user(loaded, "communicator", email="c2@lantoa.local")
    web = loaded.test_client()
    login(web, officer)
    page = web.get("/tro-ly/hop-thu")
    assert page.status_code == 200 and "gia lua hom nay" in page.get_data(as_text=True)


def test_widget_on_the_feedback_page(loaded):
    client = loaded.test_client()
    page = client.get("/y-kien")
    assert page.status_code == 200 and 'id="assistant-form"' in page.get_data(as_text=True)
    r = client.post("/y-kien/tro-ly", json={"question": "Nộp lệ phí online bằng gì vậy"})
    assert r.status_code == 200 and r.json["entry_id"] == _entry(loaded, "tt-thanh-toan-truc-tuyen").id
    assert client.post("/y-kien/tro-ly", json={}).status_code == 422
    form = client.post("/y-kien/tro-ly", data={"question": "so tong dai ho tro dvc"})
    assert form.status_code == 200 and "18001096" in form.json["answer"]


def test_widget_is_rate_limited(app, runner, tmp_path):
    from tests.conftest import make_app

    limited = make_app(f"sqlite:///{tmp_path / 'rl.db'}", tmp_path, WTF_CSRF_ENABLED=False,
                       LANTOA_ASSISTANT_RATE_LIMIT="2 per minute", RATELIMIT_ENABLED=True)
    client = limited.test_client()
    codes = [client.post("/y-kien/tro-ly", json={"question": "xin chao"}).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429


# -- safety and retention ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["mã OTP là 123456", "Ma xac thuc cua em: 654321 nhe", "482913 là mã otp ngân hàng gửi",
                                  "mật khẩu là Hoa@2024 ad ơi giúp em"])
def test_secrets_are_detected_and_masked(text):
    assert safety.has_secret(text)
    masked = safety.mask(text)
    assert safety.MASK in masked
    for secret in ("123456", "654321", "482913", "Hoa@2024"):
        assert secret not in masked


def test_codes_without_context_are_not_secrets():
    assert not safety.has_secret("lệ phí 150000 đồng, hồ sơ số 000123")
    assert not safety.has_secret("quen mk vneid")


def test_otp_message_gets_the_warning_and_is_not_stored_as_is(loaded):
    client = loaded.test_client()
    r = _ask(client, api_headers(loaded, "communicator"), "Có người gọi bảo đọc mã OTP là 739204 để duyệt hồ sơ")
    assert r.status_code == 200
    assert "không cung cấp mã otp cho bất kỳ ai" in r.json["answer"].lower()
    assert r.json["handoff"] is False
    with session_scope(loaded) as s:
        stored = s.exec(select(AssistantQuestion)).all()
    assert len(stored) == 1 and stored[0].secret_masked
    assert "739204" not in stored[0].question and safety.MASK in stored[0].question


def test_personal_data_is_purged_after_retention(loaded):
    loaded.config["LANTOA_ASSISTANT_RETENTION_DAYS"] = "30"
    with loaded.app_context(), session_scope(loaded) as s:
        result, row = engine.ask(s, "so cccd cua toi 012345678901, doi sdt tren vneid", channel="zalo", sender="u-1")
        assert "012345678901" not in row.question
        assert row.purge_after == engine.today_local() + timedelta(days=30)
    from campaigns import assistant
    from scheduler import jobs

    assert "assistant.purge" in jobs._daily
    assistant.daily(loaded, engine.today_local() + timedelta(days=29))
    with session_scope(loaded) as s:
        kept = s.exec(select(AssistantQuestion)).one()
        assert kept.question and kept.sender == "u-1"
    assistant.daily(loaded, engine.today_local() + timedelta(days=30))
    with session_scope(loaded) as s:
        gone = s.exec(select(AssistantQuestion)).one()
        assert gone.question == "" and gone.sender is None and gone.purge_after is None


# -- knowledge-base pages ------------------------------------------------------------------------


def test_communicator_edits_and_approves_reviewer_only_approves(loaded):
    entry = _entry(loaded, "hoso-tra-cuu")
    comm = loaded.test_client()
    login(comm, make_user(loaded, "communicator", email="kb@lantoa.local"))
    listing = comm.get("/tro-ly/kien-thuc")
    assert listing.status_code == 200 and "Tra cứu tình trạng hồ sơ đã nộp" in listing.get_data(as_text=True)
    bad = comm.post(f"/tro-ly/kien-thuc/{entry.id}", data={"questions": "", "answer": "", "valid_from": "31/12"})
    assert bad.status_code == 422 and "Cần ít nhất một cách hỏi" in bad.get_data(as_text=True)
    ok = comm.post(f"/tro-ly/kien-thuc/{entry.id}", data={
        "questions": "Tra cứu hồ sơ\nXem hồ sơ tới đâu", "answer": "Vào mục Tra cứu hồ sơ.", "unit": "soc-trang",
        "links": "https://dichvucong.gov.vn"})
    assert ok.status_code == 303
    edited = _entry(loaded, "hoso-tra-cuu")
    assert edited.status == "draft" and edited.questions == ["Tra cứu hồ sơ", "Xem hồ sơ tới đâu"]
    rev = loaded.test_client()
    login(rev, make_user(loaded, "reviewer", email="rv@lantoa.local"))
    assert rev.post(f"/tro-ly/kien-thuc/{entry.id}", data={"questions": "x", "answer": "y"}).status_code == 403
    assert rev.post(f"/tro-ly/kien-thuc/{entry.id}/duyet").status_code == 303
    assert _entry(loaded, "hoso-tra-cuu").status == "approved"
    officer = loaded.test_client()
    login(officer, make_user(loaded, "unit_officer", email="uo@lantoa.local"))
    assert officer.get("/tro-ly/kien-thuc").status_code in (302, 403)


def test_question_with_control_characters_is_a_clear_error_not_a_server_error(loaded):
    r = _ask(loaded.test_client(), api_headers(loaded, "admin"), "quen\x00 mat khau vneid")
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error"
    with loaded.app_context(), session_scope(loaded) as s:  # the service itself drops NUL characters
        result, row = engine.ask(s, "quen\x00 mat khau vneid")
        assert "\x00" not in row.question and result["handoff"] is False


def test_ask_handoff_and_purge_on_both_databases(any_app):
    runner = any_app.test_cli_runner()
    runner.invoke(args=["seed-demo"])
    assert runner.invoke(args=["assistant", "load"]).exit_code == 0
    headers = api_headers(any_app, "reviewer")
    client = any_app.test_client()
    answered = _ask(client, headers, "nop le phi online bang gi")
    handed = _ask(client, headers, "ket qua xo so mien nam hom nay")
    secret = _ask(client, headers, "ma otp la 556677 co can gui ko")
    assert answered.json["handoff"] is False and handed.json["handoff"] is True
    assert "otp" in secret.json["answer"].lower()
    with any_app.app_context(), session_scope(any_app) as s:
        rows = s.exec(select(AssistantQuestion).order_by(AssistantQuestion.id)).all()
        assert [r.handoff for r in rows] == [False, True, False]
        assert "556677" not in rows[2].question
        assert engine.purge_personal_data(s, engine.today_local() + timedelta(days=365)) == 3
        assert engine.weekly_figures(s, weeks=1)[0]["questions"] == 3
