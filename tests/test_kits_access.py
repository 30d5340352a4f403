"""Kit scoping per role, download logging, broadcast confirmation, schedules,
script preview, and the approval hook that queues ``kits.build``."""

from __future__ import annotations

import pytest
from sqlmodel import select

from campaigns.models import Kit, KitDownload
from core.db import session_scope
from core.models import AuditLog
from scheduler.models import BackgroundJob, ChannelAccount, Delivery, RecurringSchedule
from tests.fakes.kits import fake_kit, make_broadcast, make_campaign
from tests.helpers import api_headers, login, make_user


@pytest.fixture
def kits(app, tmp_path):
    """Kits for a district, two of its communes and a commune of another district."""
    cid = make_campaign(app, scope=("tx-vinh-chau", "ke-sach"))
    ids = {
        code: fake_kit(app, cid, code, tmp_path)
        for code in ("tx-vinh-chau", "xa-lac-hoa", "p-vinh-phuoc", "xa-nhon-my")
    }
    return cid, ids


#: role, unit -> kit units visible
SCOPES = [
    ("admin", None, {"tx-vinh-chau", "xa-lac-hoa", "p-vinh-phuoc", "xa-nhon-my"}),
    ("communicator", "so-vhttdl", {"tx-vinh-chau", "xa-lac-hoa", "p-vinh-phuoc", "xa-nhon-my"}),
    ("reviewer", "so-khcn", {"tx-vinh-chau", "xa-lac-hoa", "p-vinh-phuoc", "xa-nhon-my"}),
    ("unit_officer", "tx-vinh-chau", {"tx-vinh-chau", "xa-lac-hoa", "p-vinh-phuoc"}),
    ("unit_officer", "xa-lac-hoa", {"xa-lac-hoa"}),
    ("unit_officer", "so-gddt", set()),
]


@pytest.mark.parametrize(("role", "unit", "visible"), SCOPES)
def test_api_kit_scoping_per_role(app, client, kits, role, unit, visible):
    _cid, ids = kits
    headers = api_headers(app, role, unit)
    res = client.get("/api/v1/kits", headers=headers)
    assert res.status_code == 200
    assert {k["unit"] for k in res.get_json()["items"]} == visible
    assert res.get_json()["total"] == len(visible)
    for code, kit_id in ids.items():
        get = client.get(f"/api/v1/kits/{kit_id}", headers=headers)
        dl = client.get(f"/api/v1/kits/{kit_id}/download", headers=headers)
        if code in visible:
            assert get.status_code == 200 and dl.status_code == 200
            assert dl.mimetype == "application/zip" and dl.data[:2] == b"PK"
        else:
            assert get.status_code == 404 and dl.status_code == 404
            assert get.get_json()["error"]["code"] == "not_found"
            assert "contents" not in get.get_json()


def test_api_telecom_partner_and_anonymous_get_no_kits(app, client, kits):
    _cid, ids = kits
    headers = api_headers(app, "telecom_partner")
    assert client.get("/api/v1/kits", headers=headers).status_code == 403
    assert (
        client.get(f"/api/v1/kits/{ids['xa-lac-hoa']}/download", headers=headers).status_code == 403
    )
    assert client.get("/api/v1/kits").status_code == 401
    assert client.get(f"/api/v1/kits/{ids['xa-lac-hoa']}/download").status_code == 401


def test_downloads_are_logged_and_audited(app, client, kits):
    _cid, ids = kits
    officer = make_user(app, "unit_officer", "xa-lac-hoa")
    headers = api_headers(app, "unit_officer", "xa-lac-hoa")
    kit_id = ids["xa-lac-hoa"]
    res = client.get(f"/api/v1/kits/{kit_id}/download", headers=headers)
    assert res.status_code == 200
    assert "attachment" in res.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in res.headers["Content-Disposition"]  # the Vietnamese name survives
    login(client, officer)
    web = client.get(f"/kits/{kit_id}/download")
    assert web.status_code == 200 and web.data[:2] == b"PK"
    assert client.get(f"/kits/{ids['xa-nhon-my']}/download").status_code == 404
    with app.app_context(), session_scope(app) as s:
        rows = s.exec(select(KitDownload).where(KitDownload.kit_id == kit_id)).all()
        assert len(rows) == 2 and all(r.user_id is not None and r.at is not None for r in rows)
        audits = s.exec(select(AuditLog).where(AuditLog.action == "kit.download")).all()
        assert sorted(a.detail["via"] for a in audits) == ["api", "web"]
        assert all(a.object_id == kit_id for a in audits)
        assert (
            s.exec(select(KitDownload).where(KitDownload.kit_id == ids["xa-nhon-my"])).first()
            is None
        )


@pytest.mark.parametrize(("role", "unit", "visible"), SCOPES)
def test_web_kit_pages_per_role(app, client, kits, role, unit, visible):
    _cid, ids = kits
    login(client, make_user(app, role, unit))
    page = client.get("/kits/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for code, kit_id in ids.items():
        assert (f'/kits/{kit_id}/download"' in html) == (code in visible)
        assert client.get(f"/kits/{kit_id}").status_code == (200 if code in visible else 404)


def test_web_kits_forbidden_for_partner_and_login_needed(app, client, kits):
    assert client.get("/kits/").status_code == 302
    login(client, make_user(app, "telecom_partner"))
    assert client.get("/kits/").status_code == 403


def test_kit_not_ready_answers_409(app, client, kits):
    _cid, ids = kits
    with app.app_context(), session_scope(app) as s:
        s.get(Kit, ids["xa-lac-hoa"]).status = "building"
    res = client.get(
        f"/api/v1/kits/{ids['xa-lac-hoa']}/download", headers=api_headers(app, "admin", None)
    )
    assert res.status_code == 409 and res.get_json()["error"]["code"] == "conflict"


# -- broadcasts --------------------------------------------------------------------------------------


def test_broadcast_confirmation_rules(app, client):
    cid = make_campaign(app, scope=("tx-vinh-chau",))
    past = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=-3)
    past2 = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=-27)
    future = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=30)
    cancelled = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=-5, status="cancelled")
    other = make_broadcast(app, cid, "xa-nhon-my", hours_from_now=-3)

    commune = api_headers(app, "unit_officer", "xa-lac-hoa")
    neighbour = api_headers(app, "unit_officer", "p-vinh-phuoc")
    district = api_headers(app, "unit_officer", "tx-vinh-chau")
    other_district = api_headers(app, "unit_officer", "ke-sach")
    url = "/api/v1/broadcasts/{}/confirm"

    assert client.post(url.format(past), headers=neighbour).status_code == 404
    assert client.post(url.format(past), headers=other_district).status_code == 404
    res = client.post(url.format(past), headers=api_headers(app, "communicator"))
    assert res.status_code == 403
    assert (
        client.post(url.format(past), headers=api_headers(app, "telecom_partner")).status_code
        == 403
    )
    assert client.post(url.format(other), headers=commune).status_code == 404

    res = client.post(url.format(past), headers=commune, json={"note": "Đã phát lúc 6 giờ"})
    assert res.status_code == 200
    body = res.get_json()
    assert body["state"] == "confirmed" and body["confirmed_at"] and body["unit"] == "xa-lac-hoa"
    first_at = body["confirmed_at"]
    again = client.post(
        url.format(past), headers=district
    )  # the district may confirm too; the first stays
    assert again.status_code == 200 and again.get_json()["confirmed_at"] == first_at
    assert client.post(url.format(past2), headers=district).status_code == 200

    res = client.post(url.format(future), headers=commune)
    assert res.status_code == 409 and "Chưa đến giờ phát" in res.get_json()["error"]["message"]
    assert client.post(url.format(cancelled), headers=commune).status_code == 409
    assert client.post(url.format(999999), headers=commune).status_code == 404

    listing = client.get("/api/v1/broadcasts", headers=commune).get_json()
    states = {b["id"]: b["state"] for b in listing["items"]}
    assert states == {
        past: "confirmed",
        past2: "confirmed",
        future: "upcoming",
        cancelled: "cancelled",
    }
    unconfirmed = client.get("/api/v1/broadcasts?state=unconfirmed", headers=district).get_json()[
        "items"
    ]
    assert {b["id"] for b in unconfirmed} == set()  # xa-nhon-my is not under tx-vinh-chau
    unconfirmed = client.get(
        "/api/v1/broadcasts?state=unconfirmed", headers=api_headers(app, "reviewer")
    ).get_json()["items"]
    assert {b["id"] for b in unconfirmed} == {other}
    with app.app_context(), session_scope(app) as s:
        d = s.get(Delivery, past)
        assert d.confirmed_by is not None
        assert (
            s.exec(
                select(AuditLog).where(
                    AuditLog.action == "broadcast.confirm", AuditLog.object_id == past
                )
            )
            .one()
            .detail["note"]
            == "Đã phát lúc 6 giờ"
        )


def test_non_broadcast_delivery_cannot_be_confirmed(app, client):
    from core.timeutil import utcnow
    from scheduler.service import create_delivery

    cid = make_campaign(app, scope=("xa-lac-hoa",))
    with app.app_context(), session_scope(app) as s:
        account = ChannelAccount(
            channel="webhook", name="Webhook", config={"url": "http://127.0.0.1:9/"}, unit_id=None
        )
        s.add(account)
        s.flush()
        d = create_delivery(
            s, account=account, content={"text": "x"}, scheduled_at=utcnow(), campaign_id=cid
        )
        did = d.id
    res = client.post(f"/api/v1/broadcasts/{did}/confirm", headers=api_headers(app, "admin", None))
    assert res.status_code == 404


def test_web_broadcasts_page_shows_unconfirmed_and_confirms(app, client):
    cid = make_campaign(app, scope=("xa-lac-hoa",))
    past = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=-2, title="Bản tin sáng thứ Hai")
    future = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=20, title="Bản tin chiều")
    login(client, make_user(app, "unit_officer", "xa-lac-hoa"))
    html = client.get("/kits/broadcasts").get_data(as_text=True)
    assert "Chưa xác nhận" in html and "Sắp phát" in html
    assert (
        f"/kits/broadcasts/{past}/confirm" in html
        and f"/kits/broadcasts/{future}/confirm" not in html
    )
    res = client.post(f"/kits/broadcasts/{past}/confirm", follow_redirects=True)
    assert res.status_code == 200 and "Đã xác nhận buổi phát" in res.get_data(as_text=True)
    with app.app_context(), session_scope(app) as s:
        assert s.get(Delivery, past).confirmed_at is not None
    login(client, make_user(app, "unit_officer", "xa-nhon-my"))
    assert client.post(f"/kits/broadcasts/{future}/confirm").status_code == 404


# -- schedules -------------------------------------------------------------------------------------------


def test_create_broadcast_schedule_creates_account_and_validates(app, client):
    cid = make_campaign(app, scope=("tx-vinh-chau",))
    headers = api_headers(app, "unit_officer", "tx-vinh-chau")
    bad = client.post(
        "/api/v1/broadcast-schedules",
        headers=headers,
        json={"campaign_id": cid, "unit": "xa-lac-hoa", "weekdays": [1, 8], "times": ["25:00"]},
    )
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["fields"]
    assert "weekdays" in fields and "times" in fields and "8" in fields["weekdays"]
    out_of_scope = client.post(
        "/api/v1/broadcast-schedules",
        headers=headers,
        json={"campaign_id": cid, "unit": "xa-nhon-my", "weekdays": [1], "times": ["06:00"]},
    )
    assert out_of_scope.status_code == 422 and "unit" in out_of_scope.get_json()["error"]["fields"]
    res = client.post(
        "/api/v1/broadcast-schedules",
        headers=headers,
        json={
            "campaign_id": cid,
            "unit": "xa-lac-hoa",
            "weekdays": [5, 1, 3],
            "times": ["17:00", "6:00"],
        },
    )
    assert res.status_code == 201, res.get_json()
    rule = res.get_json()
    assert (
        rule["weekdays"] == [1, 3, 5]
        and rule["times"] == ["06:00", "17:00"]
        and rule["held"] is False
    )
    assert rule["label"] == "Thứ Hai, Thứ Tư, Thứ Sáu lúc 06:00 và 17:00"
    with app.app_context(), session_scope(app) as s:
        accounts = s.exec(
            select(ChannelAccount).where(ChannelAccount.channel == "loudspeaker")
        ).all()
        assert len(accounts) == 1 and accounts[0].config == {"unit_code": "xa-lac-hoa"}
        row = s.get(RecurringSchedule, rule["id"])
        assert (
            row.channel_account_id == accounts[0].id
            and row.content["options"]["unit_code"] == "xa-lac-hoa"
        )
    second = client.post(
        "/api/v1/broadcast-schedules",
        headers=api_headers(app, "communicator"),
        json={"campaign_id": cid, "unit": "xa-lac-hoa", "weekdays": [6], "times": ["07:00"]},
    )
    assert second.status_code == 201
    with app.app_context(), session_scope(app) as s:  # the same account is reused
        assert (
            len(s.exec(select(ChannelAccount).where(ChannelAccount.channel == "loudspeaker")).all())
            == 1
        )
    listed = client.get(
        f"/api/v1/broadcast-schedules?campaign_id={cid}",
        headers=api_headers(app, "unit_officer", "xa-lac-hoa"),
    ).get_json()
    assert listed["total"] == 2
    assert (
        client.post(
            "/api/v1/broadcast-schedules",
            headers=api_headers(app, "reviewer"),
            json={"campaign_id": cid},
        ).status_code
        == 403
    )


def test_schedule_expands_into_confirmable_deliveries(app, client):
    from scheduler.recurring import expand_recurring

    cid = make_campaign(app, scope=("xa-lac-hoa",))
    headers = api_headers(app, "unit_officer", "xa-lac-hoa")
    res = client.post(
        "/api/v1/broadcast-schedules",
        headers=headers,
        json={
            "campaign_id": cid,
            "unit": "xa-lac-hoa",
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "times": ["06:00"],
        },
    )
    assert res.status_code == 201
    counts = expand_recurring(app)
    assert counts["created"] >= 10
    items = client.get(f"/api/v1/broadcasts?campaign_id={cid}", headers=headers).get_json()["items"]
    assert len(items) == counts["created"] and all(b["unit"] == "xa-lac-hoa" for b in items)
    assert all(b["can_confirm"] for b in items)


def test_schedule_web_form_errors_are_field_specific(app, client):
    cid = make_campaign(app, scope=("xa-lac-hoa",))
    login(client, make_user(app, "unit_officer", "xa-lac-hoa"))
    page = client.get("/kits/schedules")
    assert page.status_code == 200 and 'name="weekdays"' in page.get_data(as_text=True)
    res = client.post(
        "/kits/schedules", data={"campaign_id": str(cid), "unit": "xa-lac-hoa", "times": "6h sáng"}
    )
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "Chọn ít nhất một ngày" in html and "Giờ phát" in html
    res = client.post(
        "/kits/schedules",
        data={
            "campaign_id": str(cid),
            "unit": "xa-lac-hoa",
            "weekdays": ["1", "4"],
            "times": "06:00, 17:30",
        },
        follow_redirects=True,
    )
    assert res.status_code == 200 and "Thứ Hai, Thứ Năm lúc 06:00 và 17:30" in res.get_data(
        as_text=True
    )


# -- script preview ----------------------------------------------------------------------------------------


def test_script_preview_flags_unknown_tokens_and_long_segments(tmp_path):
    from tests.conftest import make_app

    app = make_app(
        f"sqlite:///{tmp_path / 'p.db'}",
        tmp_path,
        WTF_CSRF_ENABLED=False,
        LANTOA_SCRIPT_MAX_SEGMENT_SECONDS="8",
        LANTOA_SPEECH_RATE="150",
    )
    client = app.test_client()
    cid = make_campaign(app, scope=("xa-lac-hoa",))
    headers = api_headers(app, "communicator")
    res = client.post(
        "/api/v1/loudspeaker-scripts/preview",
        headers=headers,
        json={
            "campaign_id": cid,
            "unit": "xa-lac-hoa",
            "key_message": "Ngày 10/10/2025, bà con dùng DVCTT tại dichvucong.gov.vn; gọi XYZQ để hỏi.",
        },
    )
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["unknown_tokens"] == ["XYZQ"]
    assert "dịch vụ công chấm gov chấm vn" in body["reading_text"]
    assert "Ngày mười tháng mười năm hai nghìn không trăm hai mươi lăm" in body["reading_text"]
    assert body["syllables_per_minute"] == 150 and body["max_segment_seconds"] == 8
    assert any(s["too_long"] for s in body["sections"])
    assert any("vượt mức tối đa" in w for w in body["warnings"])
    assert body["estimated_seconds"] == pytest.approx(
        sum(s["estimated_seconds"] for s in body["sections"]), 0.01
    )
    missing = client.post(
        "/api/v1/loudspeaker-scripts/preview",
        headers=headers,
        json={"campaign_id": cid, "unit": "xa-lac-hoa", "key_message": ""},
    )
    assert missing.status_code == 422 and "key_message" in missing.get_json()["error"]["fields"]
    bad_template = client.post(
        "/api/v1/loudspeaker-scripts/preview",
        headers=headers,
        json={"campaign_id": cid, "unit": "xa-lac-hoa", "key_message": "x", "template": "khong_co"},
    )
    assert (
        bad_template.status_code == 422 and "template" in bad_template.get_json()["error"]["fields"]
    )
    get_engine = __import__("core.db", fromlist=["get_engine"]).get_engine
    get_engine(app).dispose()


def test_script_editor_page_previews_and_saves(app, client):
    from campaigns.models import ContentItem

    cid = make_campaign(app, scope=("xa-lac-hoa",))
    with app.app_context(), session_scope(app) as s:
        item_id = s.exec(
            select(ContentItem.id).where(
                ContentItem.campaign_id == cid, ContentItem.channel == "loudspeaker"
            )
        ).first()
    login(client, make_user(app, "communicator"))
    page = client.get(f"/kits/scripts/{item_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Bản đọc" in html and "dịch vụ công trực tuyến" in html
    res = client.post(
        f"/kits/scripts/{item_id}",
        data={
            "title": "Bản tin mới",
            "key_message": "Bà con gọi ABCD nhé.",
            "call_to_action": "",
            "extra": "",
            "template": "loudspeaker_default",
            "unit": "xa-lac-hoa",
            "action": "preview",
        },
    )
    assert res.status_code == 200 and '<mark class="unknown">ABCD</mark>' in res.get_data(
        as_text=True
    )
    res = client.post(
        f"/kits/scripts/{item_id}",
        data={
            "title": "",
            "key_message": "",
            "template": "loudspeaker_default",
            "unit": "xa-lac-hoa",
            "action": "save",
        },
    )
    assert res.status_code == 422 and "Vui lòng nhập thông điệp chính" in res.get_data(as_text=True)
    res = client.post(
        f"/kits/scripts/{item_id}",
        data={
            "title": "Bản tin mới",
            "key_message": "Thông điệp mới.",
            "call_to_action": "Hãy dùng DVCTT.",
            "extra": "",
            "template": "loudspeaker_short",
            "unit": "xa-lac-hoa",
            "action": "save",
        },
    )
    assert res.status_code == 302
    with app.app_context(), session_scope(app) as s:
        item = s.get(ContentItem, item_id)
        assert item.title == "Bản tin mới" and item.body == "Thông điệp mới."
        assert item.variants["script"]["template"] == "loudspeaker_short"
    preview = client.post(
        f"/kits/scripts/{item_id}/preview", json={"key_message": "Gọi QWER.", "unit": "xa-lac-hoa"}
    )
    assert preview.status_code == 200 and preview.get_json()["unknown_tokens"] == ["QWER"]
    login(client, make_user(app, "unit_officer", "xa-nhon-my"))
    assert client.get(f"/kits/scripts/{item_id}").status_code == 404


# -- jobs ---------------------------------------------------------------------------------------------------------


def test_approval_queues_kit_build_and_content_change_queues_again(app, client):
    from campaigns.models import ContentItem
    from scheduler.jobs import job_function

    assert job_function("kits.build") is not None
    cid = make_campaign(app, scope=("xa-lac-hoa",), status="in_review")
    res = client.post(
        f"/api/v1/campaigns/{cid}/transitions",
        json={"to": "approved"},
        headers=api_headers(app, "reviewer"),
    )
    assert res.status_code == 200, res.get_json()
    with app.app_context(), session_scope(app) as s:
        jobs = s.exec(select(BackgroundJob).where(BackgroundJob.name == "kits.build")).all()
        assert (
            len(jobs) == 1 and jobs[0].payload["campaign_id"] == cid and jobs[0].status == "pending"
        )
        jobs[0].status = "done"  # pretend it ran
        s.add(jobs[0])
    with app.app_context(), session_scope(app) as s:
        item = s.exec(
            select(ContentItem).where(
                ContentItem.campaign_id == cid, ContentItem.channel == "loudspeaker"
            )
        ).first()
        item.body = "Nội dung đã sửa."
        s.add(item)
    with app.app_context(), session_scope(app) as s:
        pending = s.exec(
            select(BackgroundJob).where(
                BackgroundJob.name == "kits.build", BackgroundJob.status == "pending"
            )
        ).all()
        assert len(pending) == 1 and pending[0].payload["reason"] == "changed"
    draft = make_campaign(app, scope=("xa-lac-hoa",), status="draft")
    with app.app_context(), session_scope(app) as s:
        item = s.exec(select(ContentItem).where(ContentItem.campaign_id == draft)).first()
        item.body = "Sửa bản nháp."
        s.add(item)
    with app.app_context(), session_scope(app) as s:  # drafts get no kits
        assert all(j.payload["campaign_id"] != draft for j in s.exec(select(BackgroundJob)).all())


@pytest.mark.slow
def test_dispatch_due_runs_the_kit_build(app, runner):
    cid = make_campaign(app, scope=("xa-lac-hoa",), status="in_review", prints=[])
    with app.app_context(), session_scope(app) as s:
        from campaigns.kits.jobs import queue_kit_build

        queue_kit_build(s, cid, reason="test")
    result = runner.invoke(args=["dispatch-due"])
    assert result.exit_code == 0, result.output
    with app.app_context(), session_scope(app) as s:
        job = s.exec(select(BackgroundJob).where(BackgroundJob.name == "kits.build")).one()
        assert job.status == "done", job.error
        assert job.result["built"] == 1 and job.progress == 1.0
        kit = s.exec(select(Kit).where(Kit.campaign_id == cid)).one()
        assert kit.status == "ready" and kit.version == 1


def test_kits_build_api_requires_released_campaign(app, client):
    draft = make_campaign(app, scope=("xa-lac-hoa",), status="draft")
    approved = make_campaign(app, scope=("xa-lac-hoa",), status="approved")
    headers = api_headers(app, "communicator")
    assert (
        client.post("/api/v1/kits/build", headers=headers, json={"campaign_id": draft}).status_code
        == 409
    )
    assert (
        client.post("/api/v1/kits/build", headers=headers, json={"campaign_id": "x"}).status_code
        == 422
    )
    res = client.post("/api/v1/kits/build", headers=headers, json={"campaign_id": approved})
    assert res.status_code == 202 and res.get_json()["job_id"]
    assert (
        client.post(
            "/api/v1/kits/build",
            headers=api_headers(app, "unit_officer", "xa-lac-hoa"),
            json={"campaign_id": approved},
        ).status_code
        == 403
    )
    login(client, make_user(app, "communicator"))
    html = client.get("/kits/").get_data(as_text=True)
    assert "Lượt tạo gần đây" in html and f"<td>{res.get_json()['job_id']}</td>" in html
    login(client, make_user(app, "unit_officer", "xa-lac-hoa"))
    assert "Lượt tạo gần đây" not in client.get("/kits/").get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/kits/{id}/download" in spec["paths"] and "/broadcasts/{id}/confirm" in spec["paths"]


def test_unit_address_change_queues_rebuild_of_its_kits(app, tmp_path):
    from core.models import OrgUnit

    cid = make_campaign(app, scope=("xa-vinh-hai",), status="active")
    fake_kit(app, cid, "xa-vinh-hai", tmp_path)
    with app.app_context(), session_scope(app) as s:
        for job in s.exec(select(BackgroundJob)).all():
            s.delete(job)
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-vinh-hai")).one()
        unit.address = "Ấp Vĩnh Thạnh, xã Vĩnh Hải"
        s.add(unit)
    with app.app_context(), session_scope(app) as s:
        jobs = s.exec(select(BackgroundJob).where(BackgroundJob.name == "kits.build")).all()
        assert [j.payload["campaign_id"] for j in jobs] == [cid]


def test_cli_build_reports_bad_input(app, runner):
    cid = make_campaign(app, scope=("xa-lac-hoa",))
    res = runner.invoke(args=["kits", "build", "--campaign", str(cid), "--unit", "khong-co"])
    assert res.exit_code != 0 and "Không có đơn vị: khong-co" in res.output
    res = runner.invoke(args=["kits", "build", "--campaign", "99999"])
    assert res.exit_code != 0 and "Không có chiến dịch mã 99999" in res.output


@pytest.mark.slow
def test_build_publishes_script_and_audio_to_waiting_slots(app, client):
    from campaigns.kits.builder import KitConfig, build_campaign_kits
    from scheduler.dispatcher import Dispatcher

    cid = make_campaign(app, scope=("xa-lac-hoa",), prints=[])
    waiting = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=5)
    done = make_broadcast(app, cid, "xa-lac-hoa", hours_from_now=-5, status="cancelled")
    with app.app_context(), session_scope(app) as s:
        jobs_before = len(s.exec(select(BackgroundJob)).all())
        build_campaign_kits(s, cid, KitConfig.from_app(app), workers=1)
        assert (
            len(s.exec(select(BackgroundJob)).all()) == jobs_before
        )  # its own updates queue nothing
        d = s.get(Delivery, waiting)
        assert "Đài truyền thanh Xã Lạc Hòa" in d.content["text"]
        (audio,) = d.content["media"]
        assert audio["mime"] == "audio/mpeg" and "/m/" in audio["url"]
        assert (
            s.get(Delivery, done).content["text"] == "Kính thưa bà con..."
        )  # a finished slot is left alone
        message = Dispatcher(app).build_message(d)
    assert message.media[0].url == audio["url"]
    from channels.loudspeaker import LoudspeakerAdapter

    adapter = LoudspeakerAdapter(
        {"unit_code": "xa-lac-hoa", "webhook_url": "http://127.0.0.1:9/hook"}, {}
    )
    assert adapter.check(message) == []  # the IP-loudspeaker system gets a public audio URL
    if "media.public_file" in app.view_functions:  # the media library serves /m/<token>
        res = client.get("/" + audio["url"].split("/", 3)[3])
        assert res.status_code == 200 and res.mimetype == "audio/mpeg"


@pytest.mark.postgres
def test_kit_scoping_and_confirmation_on_postgres(pg_app, tmp_path):
    client = pg_app.test_client()
    cid = make_campaign(pg_app, scope=("tx-vinh-chau",))
    ids = {code: fake_kit(pg_app, cid, code, tmp_path) for code in ("xa-lac-hoa", "p-vinh-phuoc")}
    slot = make_broadcast(pg_app, cid, "xa-lac-hoa", hours_from_now=-1)
    commune = api_headers(pg_app, "unit_officer", "xa-lac-hoa")
    listed = client.get("/api/v1/kits", headers=commune).get_json()
    assert [k["id"] for k in listed["items"]] == [ids["xa-lac-hoa"]]
    assert (
        client.get(f"/api/v1/kits/{ids['p-vinh-phuoc']}/download", headers=commune).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/kits/{ids['xa-lac-hoa']}/download", headers=commune).status_code == 200
    )
    unconfirmed = client.get("/api/v1/broadcasts?state=unconfirmed", headers=commune).get_json()[
        "items"
    ]
    assert [b["id"] for b in unconfirmed] == [slot]
    assert client.post(f"/api/v1/broadcasts/{slot}/confirm", headers=commune).status_code == 200
    neighbour = api_headers(pg_app, "unit_officer", "p-vinh-phuoc")
    assert client.post(f"/api/v1/broadcasts/{slot}/confirm", headers=neighbour).status_code == 404
