"""The campaigns JSON API: CRUD, validation, transitions and the approval gate."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import api_headers

VALID = {"title": "Tuần lễ DVCTT", "starts_on": "2026-10-01", "ends_on": "2026-10-15"}


@pytest.fixture
def comm(app):
    return api_headers(app, "communicator")


def test_create_get_list_patch(any_app):
    app = any_app
    client = app.test_client()
    h = api_headers(app, "communicator")
    r = client.post("/api/v1/campaigns", json={**VALID, "scope": ["tx-vinh-chau"], "owner_unit": "so-vhttdl"},
                    headers=h)
    assert r.status_code == 201, r.json
    c = r.json
    assert c["status"] == "draft" and c["scope"] == ["tx-vinh-chau"] and c["owner_unit"] == "so-vhttdl"
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=h).json["title"] == "Tuần lễ DVCTT"
    listing = client.get("/api/v1/campaigns?limit=5000", headers=h).json
    assert listing["total"] == 1 and listing["items"][0]["id"] == c["id"]
    r = client.patch(f"/api/v1/campaigns/{c['id']}", json={"title": "Tuần lễ DVCTT 2026"}, headers=h)
    assert r.status_code == 200 and r.json["title"] == "Tuần lễ DVCTT 2026"


@pytest.mark.parametrize("payload, field", [
    ({**VALID, "title": ""}, "title"),
    ({**VALID, "title": "   "}, "title"),
    ({**VALID, "title": "x" * 201}, "title"),
    ({**VALID, "ends_on": "2026-09-01"}, "ends_on"),
    ({**VALID, "starts_on": "2026-02-30"}, "starts_on"),
    ({**VALID, "starts_on": "ngày mai"}, "starts_on"),
    ({**VALID, "starts_on": 20261001}, "starts_on"),
    ({**VALID, "scope": ["khong-co"]}, "scope"),
    ({**VALID, "owner_unit": "khong-co"}, "owner_unit"),
    ({**VALID, "description": "a" * 5001}, "description"),
    ({**VALID, "target_url": "javascript:alert(1)"}, "target_url"),
    ({**VALID, "grace_hours": "6"}, "grace_hours"),
    ({**VALID, "preset": "khong-co"}, "preset"),
    ({**VALID, "bogus": 1}, "bogus"),
])
def test_bad_input_is_422_with_field(app, comm, payload, field):
    client = app.test_client()
    r = client.post("/api/v1/campaigns", json=payload, headers=comm)
    assert r.status_code == 422
    err = r.json["error"]
    assert err["code"] == "validation_error" and field in err["fields"]
    assert client.get("/api/v1/campaigns", headers=comm).json["total"] == 0  # nothing half-saved


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b"null", b"\xff\xfe"])
def test_non_object_bodies(app, comm, raw):
    r = app.test_client().post("/api/v1/campaigns", data=raw, headers={**comm, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json["error"]["code"] == "validation_error"


def test_html_is_kept_as_typed_and_escaped(app, comm):
    client = app.test_client()
    title = '<script>alert("x")</script> Ngày <b>10/10</b>'
    r = client.post("/api/v1/campaigns", json={**VALID, "title": title}, headers=comm)
    assert r.status_code == 201 and r.json["title"] == title


def test_auth_errors(app):
    client = app.test_client()
    r = client.get("/api/v1/campaigns")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    r = client.get("/api/v1/campaigns", headers={"Authorization": "Bearer lt_wrong"})
    assert r.status_code == 401
    r = client.get("/api/v1/nothing-here", headers=api_headers(app, "admin"))
    assert r.status_code in (401, 404)


def test_limit_is_clamped_and_validated(app, comm):
    client = app.test_client()
    assert client.get("/api/v1/units?limit=5000", headers=comm).status_code == 200
    r = client.get("/api/v1/units?limit=abc", headers=comm)
    assert r.status_code == 422 and "limit" in r.json["error"]["fields"]
    units = client.get("/api/v1/units?limit=2", headers=comm).json
    assert len(units["items"]) == 2 and units["total"] > 20
    item = units["items"][0]
    assert set(item) == {"code", "name", "kind", "parent", "valid_from", "valid_to"}


def _webhook_account(client, h):
    r = client.post("/api/v1/channel-accounts", json={"channel": "webhook", "name": "Hook",
                                                      "config": {"url": "http://127.0.0.1:9/hook"},
                                                      "secrets": {}}, headers=h)
    assert r.status_code == 201, r.json
    return r.json["id"]


def test_approval_gate_holds_until_approved_and_pause_holds_again(any_app):
    app = any_app
    client = app.test_client()
    comm = api_headers(app, "communicator")
    rev = api_headers(app, "reviewer")
    cid = client.post("/api/v1/campaigns", json=VALID, headers=comm).json["id"]
    aid = _webhook_account(client, comm)
    r = client.post("/api/v1/deliveries", json={"campaign_id": cid, "channel_account_id": aid,
                                                "scheduled_at": "2026-10-10T06:00:00",
                                                "content": {"text": "Xin chào"}}, headers=comm)
    assert r.status_code == 201, r.json
    d = r.json
    assert d["status"] == "scheduled" and d["held"] is True
    assert d["scheduled_at"].startswith("2026-10-09T23:00:00")  # no offset = Asia/Ho_Chi_Minh
    # The same content on the same account at the same time: 409 with the existing id.
    r = client.post("/api/v1/deliveries", json={"campaign_id": cid, "channel_account_id": aid,
                                                "scheduled_at": "2026-10-10T06:00:00+07:00",
                                                "content": {"text": "Xin chào"}}, headers=comm)
    assert r.status_code == 409 and r.json["error"]["existing_id"] == d["id"]

    def held():
        return client.get(f"/api/v1/deliveries/{d['id']}", headers=comm).json["held"]

    # communicator cannot approve; reviewer can, only from in_review
    assert client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "approved"}, headers=rev).status_code == 409
    assert client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "in_review"}, headers=comm).status_code == 200
    assert held()
    assert client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "approved"}, headers=comm).status_code == 403
    r = client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "approved"}, headers=rev)
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert held() is False
    assert client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "paused"}, headers=comm).status_code == 200
    assert held() is True
    assert client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "active"}, headers=comm).status_code == 200
    assert held() is False
    # every transition is audited
    from core.models import AuditLog

    with app.app_context(), session_scope(app) as s:
        moves = s.exec(select(AuditLog).where(AuditLog.action == "campaign.transition")).all()
        assert [m.detail["to"] for m in moves] == ["in_review", "approved", "paused", "active"]


def test_send_back_keeps_comment(app):
    client = app.test_client()
    comm, rev = api_headers(app, "communicator"), api_headers(app, "reviewer")
    cid = client.post("/api/v1/campaigns", json=VALID, headers=comm).json["id"]
    client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "in_review"}, headers=comm)
    r = client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "draft", "comment": "Sửa lỗi chính tả"},
                    headers=rev)
    assert r.status_code == 200 and r.json["status"] == "draft" and r.json["review_comment"] == "Sửa lỗi chính tả"
    r = client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "flying"}, headers=comm)
    assert r.status_code == 422 and "to" in r.json["error"]["fields"]


def test_delivery_validation(app, comm):
    client = app.test_client()
    cid = client.post("/api/v1/campaigns", json=VALID, headers=comm).json["id"]
    aid = _webhook_account(client, comm)
    base = {"campaign_id": cid, "channel_account_id": aid, "scheduled_at": "2026-10-10T06:00:00+07:00",
            "content": {"text": "x"}}
    for patch, field in [({"scheduled_at": "mai"}, "scheduled_at"), ({"campaign_id": 999}, "campaign_id"),
                         ({"channel_account_id": "1"}, "channel_account_id"), ({"content": {"text": ""}}, "content.text"),
                         ({"content": "x"}, "content"), ({"content": {"text": "x", "media_asset_ids": ["a"]}},
                                                          "content.media_asset_ids")]:
        r = client.post("/api/v1/deliveries", json={**base, **patch}, headers=comm)
        assert r.status_code == 422 and field in r.json["error"]["fields"], (patch, r.json)
    assert client.get("/api/v1/deliveries", headers=comm).json["total"] == 0


def test_channel_account_secrets_are_encrypted_and_redacted(app, comm):
    from scheduler.models import ChannelAccount

    client = app.test_client()
    r = client.post("/api/v1/channel-accounts", json={"channel": "webhook", "name": "x", "config": {}},
                    headers=comm)
    assert r.status_code == 422 and "config.url" in r.json["error"]["fields"]
    r = client.post("/api/v1/channel-accounts", json={"channel": "pigeon", "name": "x"}, headers=comm)
    assert r.status_code == 422 and "channel" in r.json["error"]["fields"]
    aid = _webhook_account(client, comm)
    with app.app_context(), session_scope(app) as s:
        row = s.get(ChannelAccount, aid)
        assert row.secrets_encrypted and "hook" not in row.secrets_encrypted


def test_seeded_10_10_campaign_visible_through_api(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "admin@lantoa.local" in result.output
    result = runner.invoke(args=["tokens", "create", "truyenthong@lantoa.local"])
    token = result.output.strip().splitlines()[-1]
    r = app.test_client().get("/api/v1/campaigns", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    titles = [c["title"] for c in r.json["items"]]
    assert any("Ngày Chuyển đổi số quốc gia 10/10" in t for t in titles)
    c = r.json["items"][0]
    assert c["status"] == "draft" and c["starts_on"][5:] < "10-10" and c["owner_unit"] == "so-khcn"
    assert c["preset"] == "ngay-cds-10-10"


def test_openapi_document(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ("/campaigns", "/campaigns/{id}", "/campaigns/{id}/transitions", "/units", "/channel-accounts",
                 "/deliveries", "/deliveries/{id}/cancel", "/deliveries/{id}/retry"):
        assert path in doc["paths"], path


def test_past_time_means_as_soon_as_possible(app):
    client = app.test_client()
    comm = api_headers(app, "communicator")
    cid = client.post("/api/v1/campaigns", json=VALID, headers=comm).json["id"]
    aid = _webhook_account(client, comm)
    d = client.post("/api/v1/deliveries", json={"campaign_id": cid, "channel_account_id": aid,
                                                "scheduled_at": "2020-01-01T08:00:00",
                                                "content": {"text": "Gửi ngay"}}, headers=comm).json
    from datetime import UTC, datetime

    assert datetime.fromisoformat(d["not_after"]) > datetime.now(UTC)
