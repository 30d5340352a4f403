"""The public feedback form: validation, abuse (honeypot, rate limit, script), routing,
handling by the responsible unit, personal data per Decree 13/2023, public summary."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login
from tests.measure_helpers import headers, setup_world

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def world(app, monkeypatch):
    app.config["LANTOA_FEEDBACK_RATE_LIMIT"] = "1000 per minute"
    return setup_world(app, monkeypatch)


def all_feedback(app):
    from campaigns.measure.models import Feedback

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(Feedback).order_by(Feedback.id)).all()


def test_form_is_public_and_prefilled_from_the_qr_code(client, world):
    r = client.get("/y-kien?u=xa-lac-hoa&s=ho-tich&c=1")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<option value="xa-lac-hoa" selected>' in html
    assert '<option value="ho-tich" selected>' in html
    assert "Nghị định 13/2023" in html and "365 ngày" in html  # purpose and retention shown
    assert 'name="website"' in html  # the honeypot exists, hidden from people
    assert "<script>" not in html.replace('<script src=', '')  # CSP: no inline script
    for field in ("service", "comment", "name", "contact", "consent", "unit"):
        assert f'<label for="{field}"' in html


def test_valid_feedback_is_stored_and_routed(app, client, world):
    r = client.post("/y-kien", data={"service": "ho-tich", "satisfaction": "4", "comment": "Nhanh, tiện",
                                     "unit": "xa-lac-hoa"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/y-kien/cam-on")
    assert "Cảm ơn" in client.get("/y-kien/cam-on").get_data(as_text=True)
    # without a unit: routed to the plan's monitoring unit (Sở KH&CN)
    client.post("/y-kien", data={"service": "khac", "satisfaction": "3"})
    rows = all_feedback(app)
    assert [(f.service, f.satisfaction, f.unit_id) for f in rows] == [
        ("ho-tich", 4, world["units"]["xa-lac-hoa"]), ("khac", 3, world["units"]["so-khcn"])]
    assert rows[0].name is None and rows[0].contact is None and rows[0].personal_purge_after is None


@pytest.mark.parametrize("data, field, message", [
    ({"satisfaction": "4"}, "service", "chọn dịch vụ"),
    ({"service": "ho-tich"}, "satisfaction", "1 đến 5"),
    ({"service": "ho-tich", "satisfaction": "7"}, "satisfaction", "từ 1 đến 5"),
    ({"service": "ho-tich", "satisfaction": "abc"}, "satisfaction", "từ 1 đến 5"),
    ({"service": "khong-co", "satisfaction": "4"}, "service", "không có trong danh sách"),
    ({"service": "ho-tich", "satisfaction": "4", "comment": "x" * 2001}, "comment", "2000 ký tự"),
    ({"service": "ho-tich", "satisfaction": "4", "name": "Nguyễn Văn A"}, "consent", "đồng ý"),
    ({"service": "ho-tich", "satisfaction": "4", "contact": "abc", "consent": "1"}, "contact", "điện thoại"),
    ({"service": "ho-tich", "satisfaction": "4", "unit": "viettel"}, "unit", "Không tìm thấy"),
])
def test_bad_input_is_refused_with_a_clear_message_and_kept(app, client, world, data, field, message):
    data = {"comment": "Giữ lại nội dung này", **data}
    r = client.post("/y-kien", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert message in html
    if len(data["comment"]) <= 2000:
        assert "Giữ lại nội dung này" in html  # nothing the citizen typed is lost
    assert all_feedback(app) == []


def test_honeypot_drops_bots_silently(app, client, world):
    r = client.post("/y-kien", data={"service": "ho-tich", "satisfaction": "5", "website": "http://spam"})
    assert r.status_code == 303  # looks like success to the bot
    assert all_feedback(app) == []


def test_rate_limit_per_ip(app, world):
    app.config["LANTOA_FEEDBACK_RATE_LIMIT"] = "3 per minute"
    spammer = app.test_client()
    spammer.environ_base["REMOTE_ADDR"] = "203.0.113.77"
    codes = [spammer.post("/y-kien", data={"service": "ho-tich", "satisfaction": "5"}).status_code
             for _ in range(5)]
    assert codes == [303, 303, 303, 429, 429]
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "203.0.113.78"
    assert other.post("/y-kien", data={"service": "ho-tich", "satisfaction": "5"}).status_code == 303
    assert len(all_feedback(app)) == 4


def test_script_in_comment_is_stored_as_text_and_escaped_everywhere(app, client, world):
    r = client.post("/y-kien", data={"service": "dat-dai", "satisfaction": "1", "comment": SCRIPT,
                                     "unit": "tx-vinh-chau"})
    assert r.status_code == 303
    assert all_feedback(app)[0].comment == SCRIPT  # stored exactly as typed
    staff = app.test_client()
    login(staff, world["users"]["district"])
    html = staff.get("/measure/feedback").get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;alert(" in html
    body = client.get("/api/v1/feedback", headers=headers(app, "district")).get_json()
    assert body["items"][0]["comment"] == SCRIPT  # JSON carries the text; clients escape
    summary = client.get("/y-kien/tong-hop").get_data(as_text=True)
    assert "alert" not in summary  # the public summary shows no comments at all


def test_personal_data_with_consent_is_purged_after_retention(app, client, world):
    from campaigns.measure.feedback import purge_personal_data
    from core.timeutil import utcnow

    app.config["LANTOA_FEEDBACK_RETENTION_DAYS"] = 30
    r = client.post("/y-kien", data={"service": "cu-tru", "satisfaction": "5", "name": "Thạch Thị Sa Rết",
                                     "contact": "0912 345 678", "consent": "on"})
    assert r.status_code == 303
    fb = all_feedback(app)[0]
    assert fb.consent and fb.name == "Thạch Thị Sa Rết"
    assert fb.personal_purge_after == utcnow().date() + timedelta(days=30)
    with app.app_context(), session_scope(app) as s:
        assert purge_personal_data(s, today=utcnow().date()) == 0
        assert purge_personal_data(s, today=utcnow().date() + timedelta(days=30)) == 1
    fb = all_feedback(app)[0]
    assert fb.name is None and fb.contact is None and fb.satisfaction == 5  # the rating stays
    # even without the daily purge, lists never show personal data past its date
    client.post("/y-kien", data={"service": "cu-tru", "satisfaction": "4", "name": "Trần Văn Hết Hạn",
                                 "contact": "0987 654 321", "consent": "1"})
    from campaigns.measure.models import Feedback

    with app.app_context(), session_scope(app) as s:
        row = s.exec(select(Feedback).where(Feedback.name == "Trần Văn Hết Hạn")).one()
        row.personal_purge_after = utcnow().date() - timedelta(days=1)
        s.add(row)
    body = client.get("/api/v1/feedback", headers=headers(app, "admin")).get_json()
    assert all(i["name"] is None and i["contact"] is None for i in body["items"])


def test_responsible_unit_records_handling_and_scoping(app, client, world):
    client.post("/y-kien", data={"service": "ho-tich", "satisfaction": "2", "unit": "xa-lac-hoa",
                                 "name": "Lý Văn B", "contact": "b@example.vn", "consent": "1"})
    client.post("/y-kien", data={"service": "ho-tich", "satisfaction": "3", "unit": "tt-ke-sach"})
    ours, theirs = [f.id for f in all_feedback(app)]
    district = headers(app, "district")
    listed = client.get("/api/v1/feedback", headers=district).get_json()
    assert [i["id"] for i in listed["items"]] == [ours]  # only its subtree
    assert listed["items"][0]["contact"] == "b@example.vn"
    assert client.post(f"/api/v1/feedback/{theirs}/handle", json={"status": "handled", "note": "x"},
                       headers=district).status_code == 404
    r = client.post(f"/api/v1/feedback/{ours}/handle", json={"status": "handled", "note": ""}, headers=district)
    assert r.status_code == 422 and "note" in r.get_json()["error"]["fields"]
    r = client.post(f"/api/v1/feedback/{ours}/handle", json={"status": "handled",
                                                             "note": "Đã gọi điện hướng dẫn người dân"},
                    headers=district)
    assert r.status_code == 200 and r.get_json()["status"] == "handled"
    # reviewers monitor without personal data
    rev = client.get("/api/v1/feedback", headers=headers(app, "reviewer")).get_json()
    assert rev["total"] == 2 and "contact" not in rev["items"][0]
    # web: another district's officer cannot handle it
    other = app.test_client()
    login(other, world["users"]["other_district"])
    assert other.post(f"/measure/feedback/{ours}", data={"status": "new", "note": ""}).status_code == 404


def test_public_summary_aggregates_without_personal_data(app, client, world):
    for service, score in [("ho-tich", 5), ("ho-tich", 4), ("dat-dai", 2)]:
        client.post("/y-kien", data={"service": service, "satisfaction": str(score), "name": "Bí Mật",
                                     "contact": "0900000000", "consent": "1", "comment": "riêng tư"})
    html = client.get("/y-kien/tong-hop").get_data(as_text=True)
    assert 'id="total">3<' in html and 'id="satisfied">66,7%<' in html
    assert "Bí Mật" not in html and "0900000000" not in html and "riêng tư" not in html
    body = client.get("/api/v1/feedback/summary", headers=headers(app, "reviewer")).get_json()
    assert body["total"] == 3 and body["distribution"]["5"] == 1
    assert body["services"][0] == {"service": "ho-tich", "label": "Hộ tịch (khai sinh, khai tử, kết hôn...)",
                                   "count": 2, "satisfied": 2, "satisfied_pct": 100.0, "average": 4.5}


def test_qr_code_points_to_the_prefilled_form(app, client, world):
    from PIL import Image

    r = client.get("/y-kien/qr.png?u=xa-lac-hoa&s=ho-tich&c=3")
    assert r.status_code == 200 and r.mimetype == "image/png"
    img = Image.open(io.BytesIO(r.data))
    assert img.size[0] == img.size[1] and img.size[0] >= 200
    assert client.get("/y-kien/qr.png?u=khong-co").status_code == 404
    # it encodes the public address of the pre-set form: the same QR built from that address is identical
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    expected = app.config["LANTOA_PUBLIC_BASE_URL"].rstrip("/") + "/y-kien?u=xa-lac-hoa&c=3&s=ho-tich"
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(expected)
    qr.make(fit=True)
    want = qr.make_image().get_image().convert("L")
    assert list(img.convert("L").getdata()) == list(want.getdata())
    r = client.get("/y-kien?u=xa-lac-hoa&s=ho-tich&c=3")
    assert '<option value="xa-lac-hoa" selected>' in r.get_data(as_text=True)
