"""The planning UI: login, CSRF, headers, forms with errors, scoping, calendar, language."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.conftest import make_app
from tests.helpers import PASSWORD, api_headers, login, make_user


@pytest.fixture
def csrf_app(tmp_path):
    return make_app(f"sqlite:///{tmp_path / 'csrf.db'}", tmp_path, LANTOA_LOGIN_RATE_LIMIT="5 per minute")


def test_login_needs_csrf_and_is_rate_limited(csrf_app):
    user = make_user(csrf_app, "communicator")
    client = csrf_app.test_client()
    r = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 400  # no CSRF token
    page = client.get("/login")
    assert page.status_code == 200 and "Đăng nhập" in page.text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"email": user.email, "password": "sai", "csrf_token": token})
    assert "Email hoặc mật khẩu không đúng." in r.text
    for _ in range(5):
        r = client.post("/login", data={"email": user.email, "password": "sai", "csrf_token": token})
    assert r.status_code == 429


def test_security_headers_and_no_debug(app, client):
    r = client.get("/login")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert app.debug is False


def test_password_is_hashed_with_scrypt(app):
    user = make_user(app, "reviewer")
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash


def test_create_campaign_form_errors_next_to_fields(app, client):
    make_user(app, "communicator")
    login(client, "communicator.so-vhttdl@test.local")
    r = client.post("/campaigns/new", data={"title": "", "starts_on": "2026-10-10", "ends_on": "2026-10-01",
                                            "target_url": "https://dichvucong.gov.vn", "sms_class": "public_service",
                                            "grace_hours": "6", "preset": "", "owner_unit": ""})
    assert r.status_code == 422
    assert "Vui lòng nhập tên chiến dịch." in r.text
    assert "Ngày kết thúc phải sau hoặc bằng ngày bắt đầu." in r.text
    r = client.post("/campaigns/new", data={"title": "x", "starts_on": "32/13/2026", "ends_on": "2026-10-01",
                                            "target_url": "https://dichvucong.gov.vn", "sms_class": "public_service",
                                            "grace_hours": "6", "preset": "", "owner_unit": "",
                                            "scope": ["khong-co-don-vi"]})
    assert r.status_code == 422
    assert "Vui lòng nhập ngày bắt đầu hợp lệ." in r.text
    assert "Not a valid choice" in r.text or "không hợp lệ" in r.text.lower() or "choice" in r.text.lower()
    from campaigns.models import Campaign

    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(Campaign)).all() == []


def test_html_in_title_is_escaped_on_pages(app, client):
    make_user(app, "communicator")
    login(client, "communicator.so-vhttdl@test.local")
    r = client.post("/campaigns/new", data={"title": "<script>alert(1)</script>", "starts_on": "2026-10-01",
                                            "ends_on": "2026-10-02", "target_url": "https://dichvucong.gov.vn",
                                            "sms_class": "public_service", "grace_hours": "6", "preset": "",
                                            "owner_unit": "so-vhttdl", "scope": ["soc-trang"]})
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    assert "&lt;script&gt;" in client.get("/campaigns").text


def test_preset_form_builds_schedule_and_calendar(app, client):
    make_user(app, "communicator")
    login(client, "communicator.so-vhttdl@test.local")
    r = client.post("/campaigns/new", data={"preset": "ngay-cds-10-10", "title": "", "target_url":
                                            "https://dichvucong.gov.vn", "sms_class": "public_service",
                                            "grace_hours": "6", "owner_unit": "", "scope": ["soc-trang"]})
    assert r.status_code == 302, r.text
    detail = client.get(r.headers["Location"]).text
    assert "Ngày Chuyển đổi số quốc gia 10/10" in detail
    from campaigns.models import Campaign, ContentItem

    with app.app_context(), session_scope(app) as s:
        c = s.exec(select(Campaign)).one()
        items = s.exec(select(ContentItem).where(ContentItem.campaign_id == c.id)).all()
    assert {i.channel for i in items} >= {"facebook", "zalo", "sms", "loudspeaker", "print"}
    assert {i.phase for i in items} == {"teaser", "main", "follow_up"}
    main_day = c.ends_on.replace(month=10, day=10)
    cal = client.get(f"/calendar?view=week&d={main_day.isoformat()}").text
    assert "Hưởng ứng Ngày Chuyển đổi số quốc gia 10/10" in cal
    only_sms = client.get(f"/calendar?view=month&d={main_day.isoformat()}&channel=sms").text
    assert "Tin nhắn ngày 10/10" in only_sms and "Hưởng ứng Ngày Chuyển đổi số quốc gia 10/10" not in only_sms
    by_unit = client.get(f"/calendar?view=month&d={main_day.isoformat()}&unit=so-gddt").text
    assert "Tin nhắn ngày 10/10" not in by_unit


def test_unit_officer_sees_only_campaigns_covering_their_unit(app):
    comm = api_headers(app, "communicator")
    client = app.test_client()
    ids = {}
    for scope in (["tx-vinh-chau"], ["ke-sach"], ["soc-trang"], ["xa-lac-hoa"]):
        ids[scope[0]] = client.post("/api/v1/campaigns", json={"title": scope[0], "starts_on": "2026-01-01",
                                                               "ends_on": "2026-01-02", "scope": scope},
                                    headers=comm).json["id"]
    officer = api_headers(app, "unit_officer", "tx-vinh-chau")
    seen = {c["title"] for c in client.get("/api/v1/campaigns", headers=officer).json["items"]}
    # own unit, its commune below, the province above -- not another district
    assert seen == {"tx-vinh-chau", "soc-trang", "xa-lac-hoa"}
    assert client.get(f"/api/v1/campaigns/{ids['ke-sach']}", headers=officer).status_code == 404
    commune = api_headers(app, "unit_officer", "xa-lac-hoa")
    seen = {c["title"] for c in client.get("/api/v1/campaigns", headers=commune).json["items"]}
    assert seen == {"tx-vinh-chau", "soc-trang", "xa-lac-hoa"}
    web = app.test_client()
    login(web, make_user(app, "unit_officer", "tx-vinh-chau"))
    assert web.get(f"/campaigns/{ids['ke-sach']}").status_code == 404
    assert web.get(f"/campaigns/{ids['tx-vinh-chau']}").status_code == 200
    partner = api_headers(app, "telecom_partner")
    assert client.get("/api/v1/campaigns", headers=partner).status_code == 403


def test_reviewer_approves_in_the_ui(app):
    comm_client, rev_client = app.test_client(), app.test_client()
    login(comm_client, make_user(app, "communicator"))
    login(rev_client, make_user(app, "reviewer"))
    cid = app.test_client().post("/api/v1/campaigns", json={"title": "T", "starts_on": "2026-01-01",
                                                            "ends_on": "2026-01-02"},
                                 headers=api_headers(app, "communicator")).json["id"]
    comm_client.post(f"/campaigns/{cid}/transition/in_review")
    r = comm_client.post(f"/campaigns/{cid}/transition/approved", follow_redirects=True)
    assert "Vai trò của bạn không được thực hiện bước này." in r.text and "Chờ duyệt" in r.text
    r = rev_client.post(f"/campaigns/{cid}/transition/draft", data={"comment": "Thêm ảnh <b>minh họa</b>"})
    assert r.status_code == 302
    page = comm_client.get(f"/campaigns/{cid}").text
    assert "Thêm ảnh &lt;b&gt;minh họa&lt;/b&gt;" in page
    comm_client.post(f"/campaigns/{cid}/transition/in_review")
    rev_client.post(f"/campaigns/{cid}/transition/approved")
    assert "Đã duyệt" in rev_client.get(f"/campaigns/{cid}").text


def test_english_is_the_second_language(app, client):
    login(client, make_user(app, "communicator"))
    assert "Chiến dịch" in client.get("/campaigns").text
    client.post("/language/en", data={"next": "/campaigns"})
    page = client.get("/campaigns").text
    assert "Campaigns" in page and 'lang="en"' in page
    assert client.post("/language/xx").status_code == 404


def test_units_import_cli(app, runner, tmp_path):
    path = tmp_path / "can-tho.csv"
    path.write_text("code;name;kind;parent_code\ncan-tho;Thành phố Cần Thơ;province;\n"
                    "phuong-ninh-kieu;Phường Ninh Kiều;commune;can-tho\n"
                    "xa-phong-dien;Xã Phong Điền;commune;can-tho\n", encoding="utf-8")
    r = runner.invoke(args=["units", "import", str(path)])
    assert r.exit_code == 0 and "3 đơn vị mới" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"code": "A B", "name": "x", "kind": "commune"}, {"code": "y", "name": "y", '
                   '"kind": "planet", "parent_code": "khong-co"}]', encoding="utf-8")
    r = runner.invoke(args=["units", "import", str(bad)])
    assert r.exit_code == 1 and "không hợp lệ" in r.output
    cyc = tmp_path / "cycle.json"
    cyc.write_text('[{"code": "a", "name": "A", "kind": "commune", "parent_code": "b"},'
                   ' {"code": "b", "name": "B", "kind": "commune", "parent_code": "a"}]', encoding="utf-8")
    r = runner.invoke(args=["units", "import", str(cyc)])
    assert r.exit_code == 1 and "vòng lặp" in r.output
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        codes = set(s.exec(select(OrgUnit.code)).all())
    assert {"can-tho", "phuong-ninh-kieu"} <= codes and "a" not in codes and "y" not in codes


def test_users_and_tokens_cli(app, runner):
    from campaigns.demo import seed_units

    with app.app_context(), session_scope(app) as s:
        seed_units(s)
    r = runner.invoke(args=["users", "create", "xa2@lantoa.local", "--role", "unit_officer", "--unit",
                            "xa-nhon-my", "--password-stdin"], input="mot-mat-khau-dai\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["users", "create", "x@lantoa.local", "--role", "unit_officer", "--password-stdin"],
                      input="mot-mat-khau-dai\n")
    assert r.exit_code != 0 and "--unit" in r.output
    r = runner.invoke(args=["users", "create", "y@lantoa.local", "--role", "reviewer", "--password-stdin"],
                      input="ngan\n")
    assert r.exit_code != 0 and "8 ký tự" in r.output
    token = runner.invoke(args=["tokens", "create", "xa2@lantoa.local"]).output.strip().splitlines()[-1]
    r = app.test_client().get("/api/v1/units", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_first_run_admin_is_created_once(app, runner):
    first = runner.invoke(args=["ensure-admin"])
    assert "admin@lantoa.local" in first.output and "mật khẩu" in first.output
    assert runner.invoke(args=["ensure-admin"]).output == ""


def test_content_items_written_once_and_scheduled(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    api = api_headers(app, "communicator")
    cid = app.test_client().post("/api/v1/campaigns", json={"title": "T", "starts_on": "2026-12-01",
                                                            "ends_on": "2026-12-31"}, headers=api).json["id"]
    r = client.post(f"/campaigns/{cid}/items/new", data={"title": "", "body": "x", "channel": "facebook",
                                                         "language": "vi", "planned_on": "2026-12-05",
                                                         "planned_time": "25:00", "unit": ""})
    assert r.status_code == 422 and "Vui lòng nhập tiêu đề." in r.text and "HH:MM" in r.text
    once = re.search(r'name="form_once" value="([^"]+)"', client.get(f"/campaigns/{cid}/items/new").text)[1]
    r = client.post(f"/campaigns/{cid}/items/new", data={"title": "Bài 1", "body": "Nội dung <i>một</i> lần",
                                                         "channel": "webhook", "language": "vi",
                                                         "planned_on": "2026-12-05", "planned_time": "06:30",
                                                         "unit": "so-vhttdl", "form_once": once})
    assert r.status_code == 302
    page = client.get(f"/campaigns/{cid}").text
    assert "Bài 1" in page and "05/12/2026 06:30" in page and "Nội dung &lt;i&gt;một&lt;/i&gt; lần" in page
    from campaigns.models import ContentItem

    with app.app_context(), session_scope(app) as s:
        item = s.exec(select(ContentItem)).one()
    assert client.get(f"/items/{item.id}/schedule").headers["Location"].endswith(f"/items/{item.id}/edit#accounts")
    assert "Chưa có tài khoản kênh nào." in client.get(f"/items/{item.id}/edit").text  # no account yet: explains
    aid = app.test_client().post("/api/v1/channel-accounts", json={"channel": "webhook", "name": "Hook",
                                                                   "config": {"url": "http://127.0.0.1:9/h"}},
                                 headers=api).json["id"]
    r = client.post(f"/items/{item.id}/schedule", data={"account": aid, "when": "31/12/2026 7:00"})
    assert r.status_code in (302, 422)
    r = client.post(f"/items/{item.id}/schedule", data={"account": aid, "when": "mai"})
    assert r.status_code == 422 and "dd/mm/yyyy HH:MM" in r.text
    r = client.post(f"/items/{item.id}/schedule", data={"account": aid, "when": "05/12/2026 06:30"})
    assert r.status_code == 302
    ds = app.test_client().get(f"/api/v1/deliveries?campaign_id={cid}", headers=api).json["items"]
    assert any(d["scheduled_at"].startswith("2026-12-04T23:30") and d["held"] for d in ds)


def test_login_page_sends_a_logged_in_user_home(app, client):
    login(client, make_user(app, "reviewer"))
    r = client.get("/login")
    assert r.status_code == 302 and r.headers["Location"].endswith("/")
