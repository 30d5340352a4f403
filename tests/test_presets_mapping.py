"""Presets apply to the accounts you have: what goes where, what is missing, mapping later,
and never a delivery the composer would refuse."""

from __future__ import annotations

import re

from sqlmodel import select

from core.db import session_scope
from tests.fakes.sms_app import csv_bytes, make_account, upload
from tests.helpers import api_headers, login, make_user
from tests.test_composer import _image

PRESET = {"preset": "ngay-cds-10-10", "title": "", "target_url": "https://dichvucong.gov.vn",
          "sms_class": "public_service", "grace_hours": "6", "owner_unit": "", "scope": ["soc-trang"]}


def _create(client) -> int:
    r = client.post("/campaigns/new", data=PRESET)
    assert r.status_code == 302, r.text
    return int(re.search(r"/campaigns/(\d+)", r.headers["Location"])[1])


def _state(app, cid):
    from campaigns.models import ContentItem
    from scheduler.jobs import BackgroundJob
    from scheduler.models import ChannelAccount, Delivery

    with app.app_context(), session_scope(app) as s:
        items = {i.id: i for i in s.exec(select(ContentItem).where(ContentItem.campaign_id == cid)).all()}
        deliveries = s.exec(select(Delivery).where(Delivery.campaign_id == cid)).all()
        accounts = {a.id: a for a in s.exec(select(ChannelAccount)).all()}
        jobs = s.exec(select(BackgroundJob).where(BackgroundJob.name == "media.render")).all()
        return items, deliveries, accounts, jobs


def _accounts(app):
    return {
        "facebook": make_account(app, "facebook", {"page_id": "123"}, {"page_access_token": "t"})[0],
        "zalo": make_account(app, "zalo", {"oa_id": "1", "app_id": "2"},
                             {"access_token": "a", "refresh_token": "r", "secret_key": "k"})[0],
        "loudspeaker": make_account(app, "loudspeaker", {"unit_code": "xa-lac-hoa"})[0],
    }


def test_preset_without_accounts_says_what_is_missing_and_queues_renders(app, client):
    login(client, make_user(app, "communicator"))
    cid = _create(client)
    items, deliveries, _, jobs = _state(app, cid)
    assert deliveries == []
    page = client.get(f"/campaigns/{cid}").text
    assert f"Đã tạo chiến dịch với {len(items)} nội dung và 0 lượt gửi chờ duyệt." in page
    assert "sẽ tự gắn vào nội dung" in page
    for label in ("Chưa có tài khoản Zalo OA", "Chưa có tài khoản Facebook", "Chưa có tài khoản SMS"):
        assert label in page
    assert "Chưa có tài khoản Ấn phẩm in" not in page  # print goes to kits
    assert "Gán tài khoản" in page
    templated = {i.id for i in items.values() if i.template and i.channel != "video"}
    assert templated and {j.payload["item_id"] for j in jobs} == templated
    assert all(j.payload["campaign_id"] == cid for j in jobs)
    formats = {items[j.payload["item_id"]].channel: j.payload["format"] for j in jobs}
    assert formats["print"] == "pdf" and formats["facebook"] == "png"


def test_preset_never_creates_a_delivery_the_composer_would_refuse(app, client):
    from campaigns.deliveries import prepare_delivery

    ids = _accounts(app)
    login(client, make_user(app, "communicator"))
    cid = _create(client)
    items, deliveries, accounts, _ = _state(app, cid)
    by_channel = {}
    for d in deliveries:
        by_channel.setdefault(accounts[d.channel_account_id].channel, []).append(d)
    zalo_items = [i for i in items.values() if i.channel == "zalo"]
    assert zalo_items and "zalo" not in by_channel  # no cover yet: refused, so not created
    assert all(i.variants.get("needs") == ["cover"] for i in zalo_items)
    fb_items = [i for i in items.values() if i.channel in ("facebook", "video")]
    assert len(by_channel["facebook"]) == len(fb_items)
    assert len(by_channel["loudspeaker"]) == len([i for i in items.values() if i.channel == "loudspeaker"])
    assert all(d.held and d.content_item_id in items for d in deliveries)
    with app.app_context(), session_scope(app) as s:
        for d in deliveries:  # each one passes the composer's own check
            prepare_delivery(s, accounts[d.channel_account_id], dict(d.content))
    mapping = client.get(f"/campaigns/{cid}/accounts-map").text
    assert "cần ảnh bìa" in mapping and "Gắn ảnh" in mapping
    assert ids["zalo"]


def test_mapping_page_maps_later_refuses_what_is_invalid_and_cancels_unticked(app, client, tmp_path):
    login(client, make_user(app, "communicator"))
    cid = _create(client)  # before any account exists
    ids = _accounts(app)
    sms = make_account(app, "sms_partner", {"sender": "UBND ST"})[0]
    list_id = upload(client, api_headers(app, "communicator"), csv_bytes(), "ds.csv").get_json()["id"]
    items, deliveries, _, _ = _state(app, cid)
    assert deliveries == []
    zalo = next(i for i in items.values() if i.channel == "zalo")
    sms_item = next(i for i in items.values() if i.channel == "sms")
    page = client.get(f"/campaigns/{cid}/accounts-map")
    assert page.status_code == 200 and "Chọn tất cả cho Facebook" in page.text
    # "select all" for the Facebook account ticks every Facebook item, saves nothing
    shown = client.post(f"/campaigns/{cid}/accounts-map", data={"all": ids["facebook"]})
    fb_items = [i for i in items.values() if i.channel in ("facebook", "video")]
    assert shown.text.count(f':{ids["facebook"]}" checked') == len(fb_items)
    assert _state(app, cid)[1] == []
    pairs = [f"{i.id}:{ids['facebook']}" for i in fb_items] + [f"{zalo.id}:{ids['zalo']}",
                                                                 f"{sms_item.id}:{sms}"]
    r = client.post(f"/campaigns/{cid}/accounts-map", data={"pair": pairs, f"list_{sms}": list_id},
                    follow_redirects=True)
    assert "Bài viết Zalo cần ảnh bìa" in r.text  # refused, named
    _, deliveries, accounts, _ = _state(app, cid)
    kinds = sorted(accounts[d.channel_account_id].channel for d in deliveries)
    assert kinds == sorted(["facebook"] * len(fb_items) + ["sms_partner"])
    wave = next(d for d in deliveries if d.channel_account_id == sms)
    assert wave.content["recipient_list_id"] == list_id and wave.content_item_id == sms_item.id
    # attach a cover, map again: the Zalo article is scheduled; the SMS wave is unticked: cancelled
    image = _image(app, tmp_path, "bia-zalo", cid)
    from campaigns import composer
    from campaigns.models import ContentItem

    with app.app_context(), session_scope(app) as s:
        item = s.get(ContentItem, zalo.id)
        composer.attach_rendered(s, {"item_id": zalo.id}, s.get(composer.Asset, image))
        assert item.variants.get("needs") in (None, [])
    pairs = pairs[:-1]
    client.post(f"/campaigns/{cid}/accounts-map", data={"pair": pairs, f"list_{sms}": list_id})
    _, deliveries, accounts, _ = _state(app, cid)
    status = {(d.content_item_id, d.channel_account_id): d.status for d in deliveries}
    assert status[(zalo.id, ids["zalo"])] == "scheduled"
    assert status[(sms_item.id, sms)] == "cancelled"
    assert len([d for d in deliveries if d.status == "scheduled"]) == len(fb_items) + 1
    detail = client.get(f"/campaigns/{cid}").text
    assert "Zalo OA «zalo test»" in detail and "chờ duyệt" in detail


def test_render_from_the_composer_comes_back_attached(app, client):
    from scheduler.jobs import JobRunner

    login(client, make_user(app, "communicator"))
    cid = _create(client)
    ids = _accounts(app)
    fb = next(i for i in _state(app, cid)[0].values() if i.channel == "facebook")
    fb_page = client.get(f"/items/{fb.id}/edit").text
    once = {"title": fb.title, "body": fb.body, "channel": "facebook", "planned_on": "2026-10-10",
            "planned_time": "07:30", "unit": "", "account": [ids["facebook"], ids["zalo"]], "action": "save"}
    assert 'name="account" value=' in fb_page
    items, _, _, _ = _state(app, cid)
    zalo = next(i for i in items.values() if i.channel == "zalo")
    from sqlalchemy import text

    from core.db import get_engine

    with get_engine(app).begin() as conn:  # the preset's own renders (PDF, video) are not this test's
        conn.execute(text("DELETE FROM background_job"))
    form = client.get(f"/media/new/zalo-cover?item={zalo.id}&campaign={cid}")
    assert form.status_code == 200 and f'name="item" value="{zalo.id}"' in form.text
    r = client.post("/media/new/zalo-cover", data={"title": "Hỏi đáp DVCTT", "subtitle": "", "format": "png",
                                                   "item": zalo.id, "campaign": cid})
    assert r.status_code == 302 and "/media/jobs/" in r.headers["Location"]
    job_page = client.get(r.headers["Location"]).text
    assert f"/items/{zalo.id}/edit" in job_page
    with app.app_context():
        runner = JobRunner(app)
        runner.run_due()
    from campaigns.models import Asset, ContentItem

    with app.app_context(), session_scope(app) as s:
        item = s.get(ContentItem, zalo.id)
        attached = [s.get(Asset, i) for i in item.variants["media_asset_ids"]]
    assert any(a.template == "zalo-cover" and a.campaign_id == cid for a in attached)
    assert not item.variants.get("needs")
    page = client.get(f"/items/{zalo.id}/edit").text
    assert re.search(r'name="media" value="\d+" checked', page)
    # a render for an item already scheduled: its waiting deliveries get the file too
    r = client.post(f"/items/{fb.id}/edit", data={**once, "account": [ids["facebook"]]})
    assert r.status_code == 302, r.text
    client.post("/media/new/zalo-cover", data={"title": "Ảnh cho Facebook", "subtitle": "", "format": "png",
                                               "item": fb.id, "campaign": cid})
    with app.app_context():
        JobRunner(app).run_due()
    _, deliveries, _, _ = _state(app, cid)
    post = next(d for d in deliveries if d.content_item_id == fb.id and d.status == "scheduled")
    assert len(post.content.get("media_asset_ids", [])) == 1 and post.content["media"][0]["mime"] == "image/png"
