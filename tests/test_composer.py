"""The composer: one content item, many channel accounts, validated before anything is saved."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from core.db import session_scope
from tests.fakes.sms_app import csv_bytes, make_account, seed_campaign, upload
from tests.helpers import api_headers, login, make_user


def _hygiene(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script (CSP)"
    assert not re.search(r"\sstyle=", html), "inline style (CSP)"
    ids = set(re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    assert ids <= labelled, f"inputs without a label: {ids - labelled}"


def _image(app, tmp_path, title: str, campaign_id: int | None = None) -> int:
    from PIL import Image

    from campaigns.models import Asset
    from core.timeutil import utcnow

    path = tmp_path / f"{title}.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(path)
    with app.app_context(), session_scope(app) as s:
        a = Asset(kind="image", path=str(path), filename=path.name, mime="image/png", sha256=title.ljust(64, "0"),
                  size=path.stat().st_size, width=64, height=48, title=title, campaign_id=campaign_id,
                  public_token=f"tok-{title}", created_at=utcnow())
        s.add(a)
        s.flush()
        return a.id


@pytest.fixture
def world(app, client, tmp_path):
    """A draft campaign, one account per channel, a ready SMS list, an image; logged in."""
    cid = seed_campaign(app, status="draft")
    login(client, make_user(app, "communicator"))
    writer = api_headers(app, "communicator")
    list_id = upload(client, writer, csv_bytes(), "ds.csv").get_json()["id"]
    ids = {
        "facebook": make_account(app, "facebook", {"page_id": "123", "page_name": "Sở VHTTDL"},
                                 {"page_access_token": "t"})[0],
        "zalo": make_account(app, "zalo", {"oa_id": "1", "app_id": "2"},
                             {"access_token": "a", "refresh_token": "r", "secret_key": "k"})[0],
        "sms": make_account(app, "sms_partner", {"sender": "UBND ST"})[0],
        "loudspeaker": make_account(app, "loudspeaker", {"unit_code": "xa-lac-hoa"})[0],
    }
    return {"campaign_id": cid, "list_id": list_id, "accounts": ids,
            "image": _image(app, tmp_path, "anh-bia", cid)}


def _form(world, **extra) -> dict:
    a = world["accounts"]
    data = {"title": "Ngày Chuyển đổi số", "body": "Hôm nay 10/10 mời bà con dùng dịch vụ công trực tuyến.",
            "text_km": "", "text_en": "Digital day", "channel": "facebook", "unit": "so-vhttdl",
            "planned_on": "2026-10-10", "planned_time": "07:30", "action": "save",
            "account": [a["facebook"], a["zalo"], a["sms"], a["loudspeaker"]],
            f"a{a['sms']}_list": str(world["list_id"]), f"a{a['sms']}_text": "Ngay 10/10: dung DVCTT tai dichvucong.gov.vn",
            f"a{a['zalo']}_title": "Tiêu đề riêng cho Zalo"}
    data.update(extra)
    return data


def _token(client, url) -> str:
    page = client.get(url)
    assert page.status_code == 200
    _hygiene(page.text)
    return re.search(r'name="form_once" value="([^"]+)"', page.text).group(1)


def _rows(app):
    from campaigns.models import ContentItem
    from scheduler.models import Delivery

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(ContentItem)).all(), s.exec(select(Delivery).order_by(Delivery.id)).all()


def test_errors_name_the_account_and_nothing_is_saved(app, client, world):
    url = f"/campaigns/{world['campaign_id']}/items/new"
    a = world["accounts"]
    data = _form(world, form_once=_token(client, url))  # no image: Zalo needs a cover
    data[f"a{a['sms']}_list"] = ""
    r = client.post(url, data=data)
    assert r.status_code == 422
    assert "Zalo OA «zalo test»: Bài viết Zalo cần ảnh bìa" in r.text
    assert "«sms_partner test»: hãy chọn danh sách người nhận" in r.text
    assert "Chưa lưu gì" in r.text
    # what was typed is kept
    assert "Tiêu đề riêng cho Zalo" in r.text and "Ngay 10/10: dung DVCTT" in r.text
    assert 'value="2026-10-10"' in r.text and "Digital day" in r.text
    items, deliveries = _rows(app)
    assert items == [] and deliveries == []


def test_save_schedules_one_held_delivery_per_account_with_media(app, client, world):
    url = f"/campaigns/{world['campaign_id']}/items/new"
    a = world["accounts"]
    token = _token(client, url)
    data = _form(world, form_once=token, media=[world["image"]])
    data[f"a{a['sms']}_plain"] = "1"
    r = client.post(url, data=data)
    assert r.status_code == 302, r.text
    items, deliveries = _rows(app)
    assert len(items) == 1 and len(deliveries) == 4
    item = items[0]
    assert item.variants["texts"] == {"en": "Digital day"}
    assert item.variants["media_asset_ids"] == [world["image"]]
    by_account = {d.channel_account_id: d for d in deliveries}
    assert set(by_account) == set(a.values())
    assert all(d.held and d.status == "scheduled" and d.content_item_id == item.id for d in deliveries)
    assert by_account[a["facebook"]].content["media_asset_ids"] == [world["image"]]
    assert by_account[a["zalo"]].content["media_asset_ids"] == [world["image"]]
    assert by_account[a["zalo"]].content["title"] == "Tiêu đề riêng cho Zalo"
    sms = by_account[a["sms"]].content
    assert sms["recipient_list_id"] == world["list_id"] and "media_asset_ids" not in sms
    assert sms["text"] == "Ngay 10/10: dung DVCTT tai dichvucong.gov.vn"
    assert "media_asset_ids" not in by_account[a["loudspeaker"]].content  # an image is not audio
    assert by_account[a["facebook"]].scheduled_at.strftime("%Y-%m-%d %H:%M") == "2026-10-10 00:30"  # 07:30 local
    # the back button: the same page sent again creates nothing new
    again = client.post(url, data=data)
    assert again.status_code == 302
    assert [len(x) for x in _rows(app)] == [1, 4]


def test_edit_updates_waiting_deliveries_and_removing_an_account_cancels(app, client, world):
    url = f"/campaigns/{world['campaign_id']}/items/new"
    a = world["accounts"]
    r = client.post(url, data=_form(world, form_once=_token(client, url), media=[world["image"]]))
    assert r.status_code == 302
    items, before = _rows(app)
    item = items[0]
    edit = f"/items/{item.id}/edit"
    page = client.get(edit)
    assert page.status_code == 200 and "Tiêu đề riêng cho Zalo" in page.text
    assert page.text.count('name="account" value=') == 4 and page.text.count(" checked") >= 4
    data = _form(world, media=[world["image"]], planned_time="09:00", body="Nội dung đã sửa.")
    data["account"] = [a["facebook"], a["zalo"], a["sms"]]  # loudspeaker removed
    r = client.post(edit, data=data)
    assert r.status_code == 302, r.text
    _, after = _rows(app)
    assert len(after) == 4 and [d.id for d in after] == [d.id for d in before]
    status = {d.channel_account_id: d for d in after}
    assert status[a["loudspeaker"]].status == "cancelled"
    assert status[a["facebook"]].status == "scheduled"
    assert status[a["facebook"]].content["text"] == "Nội dung đã sửa."
    assert status[a["facebook"]].scheduled_at.strftime("%H:%M") == "02:00"
    assert status[a["facebook"]].idempotency_key != next(
        d for d in before if d.channel_account_id == a["facebook"]).idempotency_key


def test_previews_side_by_side_keep_every_field(app, client, world):
    url = f"/campaigns/{world['campaign_id']}/items/new"
    a = world["accounts"]
    data = _form(world, action="preview", media=[world["image"]])
    r = client.post(url, data=data)
    assert r.status_code == 200
    _hygiene(r.text)
    assert "preview-facebook" in r.text and "preview-zalo" in r.text and "preview-cover" in r.text
    assert "phần tin" in r.text and "Không dấu" in r.text
    assert "Thời lượng ước tính" in r.text and "giây" in r.text
    assert '<div class="preview-unit">Đơn vị phát: Xã Lạc Hòa</div>' in r.text  # a name, not a code
    assert "mười tháng mười" in r.text or "mùng mười" in r.text or "ngày mười" in r.text  # spoken form of 10/10
    assert "Tiêu đề riêng cho Zalo" in r.text and "Digital day" in r.text
    frag = client.post(url, data=data, headers={"X-Requested-With": "composer"})
    assert frag.status_code == 200 and "<form" not in frag.text and "preview-zalo" in frag.text
    assert _rows(app) == ([], [])
    assert f'value="{a["facebook"]}" data-channel="facebook" checked' in r.text


@pytest.mark.parametrize("role,expected", [("reviewer", 403), ("unit_officer", 403), ("telecom_partner", 403)])
def test_only_communicators_compose(app, world, role, expected):
    other = app.test_client()
    login(other, make_user(app, role))
    url = f"/campaigns/{world['campaign_id']}/items/new"
    assert other.get(url).status_code == expected
    assert other.post(url, data=_form(world)).status_code == expected
    assert _rows(app) == ([], [])
