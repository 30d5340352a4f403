"""Forms that forgive: a rejected form keeps what was typed, limits are stated, the back
button cannot create a duplicate, the SMS preview is a POST that keeps every field, and
two campaigns with the same title are told apart where they are listed or chosen."""

from __future__ import annotations

import re

from sqlmodel import select

from core.db import session_scope
from tests.fakes.sms_app import csv_bytes, make_account, seed_campaign, upload
from tests.helpers import api_headers, login, make_user

CAMPAIGN = {"title": "Tháng DVCTT", "description": "Mô tả của tôi", "starts_on": "2026-10-01",
            "ends_on": "2026-10-31", "target_url": "https://dichvucong.gov.vn", "sms_class": "advertising",
            "grace_hours": "12", "preset": "", "owner_unit": "so-vhttdl", "scope": ["soc-trang", "ke-sach"]}


def _once(page: str) -> str:
    return re.search(r'name="form_once" value="([^"]+)"', page).group(1)


def test_campaign_form_keeps_input_states_limits_and_is_created_once(app):
    from campaigns.models import Campaign

    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/campaigns/new").text
    assert "Tối đa 200 ký tự" in page and "Từ 0 đến 72 giờ." in page
    # rejected (end before start): everything typed comes back
    bad = {**CAMPAIGN, "ends_on": "2026-09-01", "form_once": _once(page)}
    r = client.post("/campaigns/new", data=bad)
    assert r.status_code == 422
    for text in ('value="Tháng DVCTT"', "Mô tả của tôi", 'value="2026-09-01"', 'value="12"'):
        assert text in r.text, text
    assert re.search(r'<option selected value="advertising">|<option value="advertising" selected', r.text)
    assert re.search(r'<option selected value="ke-sach">|<option value="ke-sach" selected', r.text)
    # corrected and sent: one campaign; the same page sent again (back button) makes no second one
    data = {**CAMPAIGN, "form_once": _once(r.text)}
    first = client.post("/campaigns/new", data=data)
    assert first.status_code == 302 and re.search(r"/campaigns/\d+$", first.headers["Location"])
    again = client.post("/campaigns/new", data=data, follow_redirects=True)
    assert again.request.path == "/campaigns" and "đã được gửi rồi" in again.text
    with app.app_context(), session_scope(app) as s:
        assert len(s.exec(select(Campaign).where(Campaign.title == "Tháng DVCTT")).all()) == 1


def test_sms_preview_is_a_post_that_keeps_every_field(app):
    from scheduler.models import Delivery

    campaign_id = seed_campaign(app)
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    list_id = upload(client, api_headers(app, "communicator"), csv_bytes(), "a.csv").get_json()["id"]
    account_id, _ = make_account(app, "sms_partner", {"sender": "UBND ST"})
    form = client.get("/sms/compose").text
    assert 'formmethod="get"' not in form and 'name="action" value="preview"' in form
    assert "Tối đa 2.000 ký tự" in form
    data = {"text": "Kính gửi {{ name }}: đăng ký DVCTT", "recipient_list_id": list_id,
            "channel_account_id": account_id, "campaign_id": campaign_id, "scheduled_at": "2030-10-10T08:30",
            "plain": "1", "action": "preview"}
    r = client.post("/sms/compose", data=data)
    assert r.status_code == 200
    assert "Kinh gui Nguyen Van An: dang ky DVCTT" in r.text  # the preview
    assert "Kính gửi {{ name }}: đăng ký DVCTT</textarea>" in r.text
    assert 'value="2030-10-10T08:30"' in r.text and re.search(r'id="plain"[^>]*checked', r.text)
    for name, value in (("recipient_list_id", list_id), ("channel_account_id", account_id),
                        ("campaign_id", campaign_id)):
        block = r.text[r.text.index(f'name="{name}"'):]
        assert re.search(rf'<option value="{value}"[^>]*selected', block[:block.index("</select>")]), name
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(Delivery)).first() is None  # a preview saves nothing
    # a reviewer previews (GET) but cannot post
    rev = app.test_client()
    login(rev, make_user(app, "reviewer"))
    assert rev.get("/sms/compose", query_string={"text": "Xin chào"}).status_code == 200
    assert rev.post("/sms/compose", data=data).status_code == 403


def test_media_form_keeps_format_and_tags(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    r = client.post("/media/new/social-portrait", data={"title": "", "bullets": "Một\nHai", "url": "https://x.vn",
                                                        "format": "png", "tags": "10/10, dvctt"})
    assert r.status_code == 422
    assert 'value="10/10, dvctt"' in r.text and re.search(r'<option value="png" selected', r.text)
    assert "Một\nHai</textarea>" in r.text and 'value="https://x.vn"' in r.text


def test_campaigns_with_the_same_title_are_told_apart(app):
    headers = api_headers(app, "communicator")
    client = app.test_client()
    ids = []
    for starts, ends, owner in (("2026-03-01", "2026-03-31", "so-vhttdl"), ("2026-09-01", "2026-09-30", "so-khcn")):
        r = client.post("/api/v1/campaigns", headers=headers, json={
            "title": "Tháng cao điểm", "starts_on": starts, "ends_on": ends, "owner_unit": owner,
            "scope": ["soc-trang"]})
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    login(client, make_user(app, "communicator"))
    page = client.get("/campaigns").text
    rows = re.findall(r"<tr>.*?</tr>", page, re.S)
    mine = [row for row in rows if "Tháng cao điểm" in row]
    assert len(mine) == 2 and mine[0] != mine[1]
    assert any("01/03/2026" in row for row in mine) and any("01/09/2026" in row for row in mine)
    owners = [re.findall(r"<td>([^<]*)</td>\s*</tr>", row)[0] for row in mine]
    assert len(set(owners)) == 2 and all(owners)
    # where a campaign is chosen (SMS compose), the options differ too
    options = re.findall(r"<option value=\"(\d+)\"[^>]*>(Tháng cao điểm[^<]*)</option>", client.get("/sms/compose").text)
    texts = {int(k): v for k, v in options}
    assert texts[ids[0]] != texts[ids[1]] and "01/03/2026" in texts[ids[0]]


def test_kit_build_choice_tells_same_titles_apart(app):
    from datetime import date

    from campaigns.models import Campaign, CampaignUnit
    from core.models import OrgUnit
    from tests.helpers import seed_units

    seed_units(app)
    with app.app_context(), session_scope(app) as s:
        province = s.exec(select(OrgUnit).where(OrgUnit.code == "soc-trang")).one()
        for start, end in ((date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 9, 1), date(2026, 9, 30))):
            c = Campaign(title="Tháng cao điểm", starts_on=start, ends_on=end, status="approved")
            s.add(c)
            s.flush()
            s.add(CampaignUnit(campaign_id=c.id, unit_id=province.id))
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    options = re.findall(r"<option value=\"\d+\"[^>]*>(Tháng cao điểm[^<]*)</option>", client.get("/kits/").text)
    assert len(options) == 2 and options[0] != options[1], options


def test_item_form_keeps_what_was_typed(app):
    cid = app.test_client().post("/api/v1/campaigns", headers=api_headers(app, "communicator"), json={
        "title": "Chiến dịch có nội dung", "starts_on": "2026-01-01", "ends_on": "2030-12-31",
        "scope": ["soc-trang"]}).json["id"]
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get(f"/campaigns/{cid}/items/new").text
    data = {"title": "", "body": "Nội dung tôi đã gõ cẩn thận", "text_en": "My English text", "channel": "facebook",
            "planned_on": "2026-10-10", "planned_time": "07:15", "unit": "", "form_once": _once(page)}
    r = client.post(f"/campaigns/{cid}/items/new", data=data)
    assert r.status_code in (200, 422) and "Vui lòng nhập tiêu đề." in r.text
    for text in ("Nội dung tôi đã gõ cẩn thận", "My English text", 'value="2026-10-10"', 'value="07:15"'):
        assert text in r.text, text
