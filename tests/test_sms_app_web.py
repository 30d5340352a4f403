"""SMS pages: upload with the import report, compose with both variants,
the per-wave status page, and the partner's batch page (own carrier only).
Every page: labels on inputs, CSRF fields in forms, no inline script/style."""

from __future__ import annotations

import io
import re

import pytest

from tests.fakes.sms_app import (
    EXPECTED,
    create_wave,
    csv_bytes,
    dispatch_once,
    make_account,
    seed_campaign,
    upload,
)
from tests.helpers import api_headers, login, make_user


def assert_page_hygiene(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script (CSP)"
    assert not re.search(r"\sstyle=", html), "inline style (CSP)"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler (CSP)"
    for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S):
        assert 'name="csrf_token"' in form
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    assert ids <= labelled, f"inputs without a label: {ids - labelled}"


@pytest.fixture
def web(app, client):
    campaign_id = seed_campaign(app)
    user = make_user(app, "communicator")
    assert login(client, user).status_code == 302
    return {"campaign_id": campaign_id}


def test_upload_page_shows_the_import_report(app, client, web):
    page = client.get("/sms/lists")
    assert page.status_code == 200
    assert_page_hygiene(page.get_data(as_text=True))
    resp = client.post(
        "/sms/lists",
        content_type="multipart/form-data",
        data={
            "file": (io.BytesIO(csv_bytes(delimiter=";", bom=True)), "ds.csv"),
            "name": "Xã Đại Tâm",
        },
    )
    assert resp.status_code == 302
    detail = client.get(resp.headers["Location"])
    html = detail.get_data(as_text=True)
    assert_page_hygiene(html)
    for key in ("rows", "valid", "invalid", "duplicates", "converted"):
        assert f'data-k="{key}">{EXPECTED[key]}<' in html
    assert "Viettel</th><td>2<" in html and "Khác</th><td>1<" in html
    assert "Số máy cố định" in html  # first reasons listed
    assert "rejected.csv" in html
    rejected = client.get(re.search(r'href="([^"]+rejected\.csv)"', html).group(1))
    assert rejected.status_code == 200 and rejected.get_data(as_text=True).count("\n") == 6


def test_bad_upload_is_explained_and_nothing_is_lost(app, client, web):
    client.post(
        "/sms/lists",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(csv_bytes()), "ok.csv")},
    )
    resp = client.post(
        "/sms/lists",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"\x00\x01\x02" * 100), "rac.csv")},
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "nhị phân" in html
    assert html.count('href="/sms/lists/') == 1
    app.config["LANTOA_SMS_MAX_UPLOAD_BYTES"] = "1024"
    resp = client.post(
        "/sms/lists",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(csv_bytes() * 20), "to.csv")},
        follow_redirects=True,
    )
    assert "Tệp quá lớn: giới hạn là 1 KB" in resp.get_data(as_text=True)


def test_compose_preview_and_create_wave(app, client, web):
    writer = api_headers(app, "communicator")
    list_id = upload(client, writer, csv_bytes(), "a.csv").get_json()["id"]
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    text = "Kính gửi {{ name }}: đăng ký DVCTT tại dichvucong.gov.vn"
    page = client.get("/sms/compose", query_string={"text": text, "recipient_list_id": list_id})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert_page_hygiene(html)
    assert 'src="/sms/static/sms/sms.js"' in html
    assert "Kính gửi Nguyễn Văn An: đăng ký DVCTT" in html  # sample rendered
    assert "Kinh gui Nguyen Van An: dang ky DVCTT" in html  # no-diacritics variant
    assert 'data-count="original-encoding">UCS-2<' in html
    assert 'data-count="plain-encoding">GSM-7<' in html
    bad = client.get(
        "/sms/compose", query_string={"text": "{{ ho_ten_sai }}", "recipient_list_id": list_id}
    )
    assert "ho_ten_sai" in bad.get_data(as_text=True)
    resp = client.post(
        "/sms/compose",
        data={
            "text": text,
            "recipient_list_id": list_id,
            "channel_account_id": account_id,
            "campaign_id": web["campaign_id"],
        },
    )
    assert resp.status_code == 302 and "/sms/waves/" in resp.headers["Location"]
    wave_page = client.get(resp.headers["Location"])
    assert wave_page.status_code == 200
    assert_page_hygiene(wave_page.get_data(as_text=True))
    missing = client.post("/sms/compose", data={"text": text}, follow_redirects=True)
    assert "Vui lòng chọn danh sách người nhận" in missing.get_data(as_text=True)


def test_wave_page_counts_per_carrier(app, client, web):
    writer = api_headers(app, "communicator")
    list_id = upload(client, writer, csv_bytes(), "a.csv").get_json()["id"]
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    wave = create_wave(client, writer, web["campaign_id"], account_id, list_id, "Thông báo DVCTT")
    dispatch_once(app)
    html = client.get(f"/sms/waves/{wave['id']}").get_data(as_text=True)
    assert re.search(r'data-carrier="viettel">.*?data-status="pending">2<', html, re.S)
    assert '<progress id="wave-progress" max="7" value="0"' in html
    counts = client.get(f"/sms/waves/{wave['id']}/counts.json").get_json()
    assert counts["total"] == 7 and len(counts["batches"]) == 6
    assert client.get("/sms/waves/999").status_code == 404


def test_partner_batch_page_shows_only_own_carrier(app, client, web):
    writer = api_headers(app, "communicator")
    list_id = upload(client, writer, csv_bytes(), "a.csv").get_json()["id"]
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    create_wave(client, writer, web["campaign_id"], account_id, list_id, "Thông báo DVCTT")
    dispatch_once(app)
    batches = {
        b["carrier"]: b["id"]
        for b in client.get("/api/v1/sms/batches", headers=writer).get_json()["items"]
    }
    partner = app.test_client()
    assert login(partner, make_user(app, "telecom_partner", "viettel")).status_code == 302
    html = partner.get("/sms/batches").get_data(as_text=True)
    assert_page_hygiene(html)
    assert f'id="batch-{batches["viettel"]}"' in html
    assert f'id="batch-{batches["vinaphone"]}"' not in html
    csv_file = partner.get(f"/sms/batches/{batches['viettel']}/file?format=csv")
    assert csv_file.status_code == 200 and "+84981234567" in csv_file.get_data(as_text=True)
    assert partner.get(f"/sms/batches/{batches['vinaphone']}/file").status_code == 404
    assert partner.post(f"/sms/batches/{batches['vinaphone']}/ack").status_code == 404
    resp = partner.post(f"/sms/batches/{batches['viettel']}/ack", follow_redirects=True)
    assert "Đã xác nhận" in resp.get_data(as_text=True)
    ids = re.findall(r"^(\d+),", csv_file.get_data(as_text=True), re.M)
    report = f"message_id,status\n{ids[0]},delivered\n999999,delivered\n".encode()
    resp = partner.post(
        f"/sms/batches/{batches['viettel']}/report",
        follow_redirects=True,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(report), "bao-cao.csv")},
    )
    html = resp.get_data(as_text=True)
    assert "Đã ghi nhận 1 dòng" in html and "Dòng 3" in html
    # the partner's home links to the batch page through the SMS nav
    assert partner.get("/sms/lists").status_code == 403


def test_uploads_keep_csrf_and_use_the_sms_limit(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)  # CSRF on, as in production
    app.config["MAX_CONTENT_LENGTH"] = 4096  # the app-wide limit is smaller than the list
    app.config["LANTOA_SMS_MAX_UPLOAD_BYTES"] = str(1 << 20)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    user = make_user(app, "communicator")
    client.post(
        "/login", data={"email": user.email, "password": "mat-khau-thu-nghiem", "csrf_token": token}
    )
    data = csv_bytes([("0981234567", "Nguyễn Văn An " * 5, "x")] * 60)
    assert len(data) > 4096
    no_token = client.post(
        "/sms/lists", content_type="multipart/form-data", data={"file": (io.BytesIO(data), "a.csv")}
    )
    assert no_token.status_code == 400
    page = client.get("/sms/lists").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    ok = client.post(
        "/sms/lists",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "a.csv"), "csrf_token": token},
    )
    assert ok.status_code == 302 and "/sms/lists/" in ok.headers["Location"]


def test_compose_can_send_the_no_diacritics_variant(app, client, web):
    writer = api_headers(app, "communicator")
    list_id = upload(client, writer, csv_bytes(), "a.csv").get_json()["id"]
    account_id, _ = make_account(
        app,
        "sms_kannel",
        {"url": "http://127.0.0.1:9/cgi-bin/sendsms", "username": "u", "sender": "UBND"},
    )
    resp = client.post(
        "/sms/compose",
        data={
            "text": "Đăng ký dịch vụ công, {{ name }}",
            "recipient_list_id": list_id,
            "channel_account_id": account_id,
            "campaign_id": web["campaign_id"],
            "plain": "1",
        },
    )
    assert resp.status_code == 302
    delivery_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    d = client.get(f"/api/v1/deliveries/{delivery_id}", headers=writer).get_json()
    assert d["content"]["text"] == "Dang ky dich vu cong, {{ name }}"
    assert d["content"]["options"] == {"coding": "gsm7"}


def test_compose_refuses_advertising_without_consent(app, client):
    campaign_id = seed_campaign(app, sms_class="advertising")
    assert login(client, make_user(app, "communicator")).status_code == 302
    writer = api_headers(app, "communicator")
    list_id = upload(client, writer, csv_bytes(), "a.csv").get_json()["id"]
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    resp = client.post(
        "/sms/compose",
        follow_redirects=True,
        data={
            "text": "Ưu đãi DVCTT",
            "recipient_list_id": list_id,
            "channel_account_id": account_id,
            "campaign_id": campaign_id,
        },
    )
    assert "Nghị định 91" in resp.get_data(as_text=True)
    assert client.get("/api/v1/deliveries", headers=writer).get_json()["total"] == 0
