"""The assistant on Zalo OA and Messenger through contract fakes: a citizen's message gets the
right answer on its channel; a low-confidence one reaches the unit's inbox and the officer's
reply reaches the citizen on the same channel."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from campaigns.assistant.models import AssistantQuestion
from core.db import session_scope
from core.security import SecretBox
from tests.conftest import make_app
from tests.fakes.messenger import PAGE_ID, PAGE_TOKEN, FakeMessenger
from tests.fakes.zalo import ACCESS_TOKEN, APP_ID, OA_ID, REFRESH_TOKEN, SECRET_KEY, FakeZalo
from tests.helpers import login, make_user

PSID = "24680135792468"
ZALO_USER = "8436512398765432100"
VERIFY = "verify-me-123"
APP_SECRET = "messenger-app-secret"


@pytest.fixture
def fakes():
    zalo = FakeZalo().start()
    messenger = FakeMessenger().start()
    yield zalo, messenger
    zalo.stop()
    messenger.stop()


@pytest.fixture
def app(tmp_path, fakes):
    zalo, messenger = fakes
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", tmp_path, WTF_CSRF_ENABLED=False,
                   LANTOA_FACEBOOK_GRAPH_URL=messenger.url, LANTOA_FACEBOOK_GRAPH_VERSION="v25.0",
                   LANTOA_ZALO_OA_URL=zalo.url, LANTOA_ZALO_OAUTH_URL=zalo.url, LANTOA_ZNS_URL=zalo.url,
                   LANTOA_SEND_TIMEOUT="3,5", LANTOA_MESSENGER_VERIFY_TOKEN=VERIFY,
                   LANTOA_MESSENGER_APP_SECRET=APP_SECRET)
    runner = app.test_cli_runner()
    runner.invoke(args=["seed-demo"])
    assert runner.invoke(args=["assistant", "load"]).exit_code == 0
    from scheduler.models import ChannelAccount

    box = SecretBox(app.config["SECRET_KEY"])
    with session_scope(app) as s:
        s.add(ChannelAccount(channel="zalo", name="Zalo OA tỉnh", status="active",
                             config={"oa_id": OA_ID, "app_id": APP_ID, "night_start_hour": 0, "night_end_hour": 0},
                             secrets_encrypted=box.encrypt({"access_token": ACCESS_TOKEN,
                                                            "refresh_token": REFRESH_TOKEN,
                                                            "secret_key": SECRET_KEY})))
        s.add(ChannelAccount(channel="facebook", name="Trang tỉnh", status="active", config={"page_id": PAGE_ID},
                             secrets_encrypted=box.encrypt({"page_access_token": PAGE_TOKEN})))
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def _zalo_event(text: str) -> dict:
    return {"app_id": APP_ID, "event_name": "user_send_text", "timestamp": "1764990000000",
            "sender": {"id": ZALO_USER}, "recipient": {"id": OA_ID},
            "message": {"text": text, "msg_id": "m1"}}


def _messenger_post(client, text: str, psid: str = PSID):
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": 1764990000000, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": 1764990000000,
         "message": {"mid": "m.1", "text": text}}]}]}).encode()
    sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/hooks/messenger", data=body, content_type="application/json",
                       headers={"X-Hub-Signature-256": sig})


def test_zalo_user_message_gets_the_answer_as_a_cs_message(app, fakes):
    zalo, _ = fakes
    zalo.add_follower(ZALO_USER)
    r = app.test_client().post(f"/hooks/zalo/{OA_ID}", json=_zalo_event("quen mk vneid thi lam sao ad"))
    assert r.status_code == 200 and r.json["ok"] is True
    (sent,) = [m for m in zalo.sent if m["kind"] == "cs"]
    assert sent["user_id"] == ZALO_USER
    assert "Quên mật khẩu" in sent["body"]["message"]["text"]
    assert app.test_client().post("/hooks/zalo/999", json=_zalo_event("x")).status_code == 404
    other = app.test_client().post(f"/hooks/zalo/{OA_ID}", json={**_zalo_event("x"), "event_name": "follow"})
    assert other.json.get("ignored") is True and len(zalo.sent) == 1


def test_messenger_verification_and_message(app, fakes):
    _, messenger = fakes
    client = app.test_client()
    ok = client.get("/hooks/messenger", query_string={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                                      "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "1158201444"
    bad = client.get("/hooks/messenger", query_string={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                                       "hub.challenge": "1"})
    assert bad.status_code == 400
    messenger.interact(PSID)
    r = _messenger_post(client, "tra cuu ho so da nop o dau")
    assert r.status_code == 200 and r.json["handled"] == 1
    (sent,) = messenger.sent
    assert sent["recipient"] == PSID and "Tra cứu hồ sơ" in sent["text"]
    assert sent["quick_replies"] and all(len(q["title"]) <= 20 for q in sent["quick_replies"])
    # a forged signature is refused and nothing is sent
    forged = client.post("/hooks/messenger", json={"object": "page", "entry": []},
                         headers={"X-Hub-Signature-256": "sha256=00"})
    assert forged.status_code == 403 and len(messenger.sent) == 1


def test_low_confidence_goes_to_the_unit_inbox_and_the_reply_reaches_the_citizen(app, fakes):
    zalo, messenger = fakes
    messenger.interact(PSID)
    zalo.add_follower(ZALO_USER)
    client = app.test_client()
    _messenger_post(client, "cho hoi lich cup dien ngay mai o phuong 2")
    assert "chuyển cho" in messenger.sent[0]["text"]
    client.post(f"/hooks/zalo/{OA_ID}", json=_zalo_event("gia lua hom nay bao nhieu mot ky"))
    with session_scope(app) as s:
        rows = s.exec(select(AssistantQuestion).where(AssistantQuestion.handoff == True)).all()  # noqa: E712
        assert {r.channel for r in rows} == {"messenger", "zalo"} and all(r.status == "open" for r in rows)
        ids = {r.channel: r.id for r in rows}
    officer = app.test_client()
    login(officer, make_user(app, "communicator", email="inbox@lantoa.local"))
    page = officer.get("/tro-ly/hop-thu")
    assert "lich cup dien" in page.get_data(as_text=True)
    r = officer.post(f"/tro-ly/hop-thu/{ids['messenger']}/tra-loi",
                     data={"reply": "Lịch cắt điện xem trên trang của Điện lực Sóc Trăng."})
    assert r.status_code == 303
    assert messenger.sent[-1]["recipient"] == PSID and "Điện lực" in messenger.sent[-1]["text"]
    officer.post(f"/tro-ly/hop-thu/{ids['zalo']}/tra-loi", data={"reply": "Giá lúa xem tại Sở Nông nghiệp."})
    assert [m for m in zalo.sent if m["kind"] == "cs"][-1]["body"]["message"]["text"] == "Giá lúa xem tại Sở Nông nghiệp."
    with session_scope(app) as s:
        assert s.get(AssistantQuestion, ids["messenger"]).status == "replied"
        from campaigns.assistant.engine import weekly_figures

        week = weekly_figures(s, weeks=2)[0]
        assert (week["questions"], week["automatic"], week["handoff"], week["replied"]) == (2, 0, 2, 2)
        assert week["median_hours"] is not None and week["median_hours"] < 1
    assert "Số liệu theo tuần" in officer.get("/tro-ly/hop-thu").get_data(as_text=True)
    # one click: the answered question becomes a draft knowledge-base entry
    made = officer.post(f"/tro-ly/hop-thu/{ids['messenger']}/thanh-muc")
    assert made.status_code == 303 and "/tro-ly/kien-thuc/" in made.headers["Location"]
    from campaigns.assistant.models import KbEntry

    with session_scope(app) as s:
        entry = s.exec(select(KbEntry).where(KbEntry.key == f"hoi-dap-{ids['messenger']}")).one()
        assert entry.status == "draft" and "Điện lực" in entry.answer


def test_messenger_reply_after_24_hours_is_not_sent(app, fakes):
    _, messenger = fakes
    messenger.interact(PSID)
    _messenger_post(app.test_client(), "cho hoi lich cup dien ngay mai")
    with session_scope(app) as s:
        q = s.exec(select(AssistantQuestion).where(AssistantQuestion.handoff == True)).one()  # noqa: E712
        q.created_at = q.created_at - timedelta(hours=25)
        qid = q.id
    officer = app.test_client()
    login(officer, make_user(app, "communicator", email="late@lantoa.local"))
    officer.post(f"/tro-ly/hop-thu/{qid}/tra-loi", data={"reply": "Trả lời muộn"})
    assert all(m["text"] != "Trả lời muộn" for m in messenger.sent)
    with session_scope(app) as s:
        q = s.get(AssistantQuestion, qid)
        assert q.status == "open" and "24 giờ" in q.reply_error


def test_unit_officer_sees_only_their_units_handoffs(app, fakes):
    with session_scope(app) as s:
        s.add(AssistantQuestion(channel="web", question="câu hỏi của tỉnh", handoff=True, status="open",
                                unit_code="soc-trang"))
        s.add(AssistantQuestion(channel="web", question="câu hỏi của Kế Sách", handoff=True, status="open",
                                unit_code="ke-sach"))
    officer = app.test_client()
    login(officer, make_user(app, "unit_officer", unit_code="ke-sach", email="ks@lantoa.local"))
    text = officer.get("/tro-ly/hop-thu").get_data(as_text=True)
    assert "câu hỏi của Kế Sách" in text and "câu hỏi của tỉnh" not in text
    with session_scope(app) as s:
        province_q = s.exec(select(AssistantQuestion).where(AssistantQuestion.unit_code == "soc-trang")).one()
    assert officer.post(f"/tro-ly/hop-thu/{province_q.id}/tra-loi", data={"reply": "x"}).status_code == 404


def test_zalo_signature_is_checked_when_a_secret_is_set(app, fakes):
    zalo, _ = fakes
    zalo.add_follower(ZALO_USER)
    app.config["LANTOA_ZALO_WEBHOOK_SECRET"] = "oa-webhook-secret"
    event = _zalo_event("tra cuu ho so o dau")
    body = json.dumps(event)
    client = app.test_client()
    forged = client.post(f"/hooks/zalo/{OA_ID}", data=body, content_type="application/json",
                         headers={"X-ZEvent-Signature": "mac=00"})
    assert forged.status_code == 403 and not zalo.sent
    mac = hashlib.sha256(f"{APP_ID}{body}{event['timestamp']}oa-webhook-secret".encode()).hexdigest()
    ok = client.post(f"/hooks/zalo/{OA_ID}", data=body, content_type="application/json",
                     headers={"X-ZEvent-Signature": f"mac={mac}"})
    assert ok.status_code == 200 and len(zalo.sent) == 1


@pytest.mark.parametrize("body", [
    {"event_name": "user_send_text", "sender": "x", "message": "y"},
    {"event_name": "user_send_text", "sender": {"id": 5}, "message": {"text": 7}},
    [1, 2], "text",
])
def test_odd_zalo_bodies_are_ignored_not_errors(app, body):
    r = app.test_client().post(f"/hooks/zalo/{OA_ID}", data=json.dumps(body), content_type="application/json")
    assert r.status_code in (200, 400)


@pytest.mark.parametrize("body", [
    {"object": "page", "entry": "x"}, {"object": "page", "entry": [{"id": PAGE_ID, "messaging": "m"}]},
    {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [{"sender": "s", "message": "t"}]}]},
])
def test_odd_messenger_bodies_are_ignored_not_errors(app, body):
    raw = json.dumps(body).encode()
    sig = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    r = app.test_client().post("/hooks/messenger", data=raw, content_type="application/json",
                               headers={"X-Hub-Signature-256": sig})
    assert r.status_code == 200 and r.json["handled"] == 0


def test_messenger_quick_reply_for_a_person_hands_off(app, fakes):
    _, messenger = fakes
    messenger.interact(PSID)
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
         "message": {"mid": "m.2", "text": "Gặp cán bộ", "quick_reply": {"payload": "HUMAN"}}}]}]}).encode()
    sig = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = app.test_client().post("/hooks/messenger", data=body, content_type="application/json",
                               headers={"X-Hub-Signature-256": sig})
    assert r.json["handled"] == 1 and "chuyển cho" in messenger.sent[-1]["text"]
    with session_scope(app) as s:
        q = s.exec(select(AssistantQuestion)).one()
        assert q.handoff and q.status == "open" and q.channel == "messenger"
