"""Khmer text of a content item: "chưa dịch" (stale) when the Vietnamese changed
after the Khmer was written (a hash of the Vietnamese kept with the Khmer)."""

from __future__ import annotations

import re

from campaigns import composer as cp
from campaigns.models import ContentItem
from tests.test_composer import world  # noqa: F401,F811 - the composer fixture

KM = "សេវាសាធារណៈតាមអនឡាញ"


def _item(title="Dịch vụ công trực tuyến", body="Nộp hồ sơ mọi lúc, mọi nơi.") -> ContentItem:
    return ContentItem(title=title, body=body, channel="facebook", variants={})


def _save(item: ContentItem, km: str | None) -> None:
    draft = cp.draft_from_item(item)
    draft.texts = {"km": km} if km else {}
    cp.save_variants(item, draft)


def test_no_khmer_text_has_no_state():
    item = _item()
    _save(item, None)
    assert cp.translation_state(item) is None
    assert "text_sources" not in item.variants


def test_khmer_written_for_the_current_vietnamese_is_current():
    item = _item()
    _save(item, KM)
    assert cp.translation_state(item) == "current"
    assert item.variants["text_sources"]["km"] == cp.source_hash(item.title, item.body)
    _save(item, KM)  # saving again without changes keeps it current
    assert cp.translation_state(item) == "current"


def test_vietnamese_changed_after_the_khmer_marks_it_stale_until_the_khmer_is_updated():
    item = _item()
    _save(item, KM)
    item.body = "Nộp hồ sơ trực tuyến, nhận kết quả tại nhà."
    _save(item, KM)  # the Khmer text unchanged: it translates the old Vietnamese
    assert cp.translation_state(item) == "stale"
    item.title = "Tiêu đề mới"
    assert cp.translation_state(item) == "stale"
    _save(item, KM + " ថ្មី")  # the translator updates the Khmer
    assert cp.translation_state(item) == "current"
    # NFC/NFD of the same Vietnamese is the same source
    import unicodedata

    item.title = unicodedata.normalize("NFD", item.title)
    assert cp.translation_state(item) == "current"


def test_removing_the_khmer_drops_its_source():
    item = _item()
    _save(item, KM)
    _save(item, None)
    assert cp.translation_state(item) is None
    assert "text_sources" not in item.variants


def test_composer_marks_the_khmer_chua_dich_after_the_vietnamese_changed(app, client, world):  # noqa: F811
    from tests.test_composer import _form, _rows, _token

    url = f"/campaigns/{world['campaign_id']}/items/new"
    data = _form(world, form_once=_token(client, url), media=[world["image"]], text_km=KM)
    assert client.post(url, data=data).status_code == 302
    item = _rows(app)[0][0]
    edit = f"/items/{item.id}/edit"
    page = client.get(edit)
    assert KM in page.text and 'id="km-stale"' not in page.text  # written for this Vietnamese
    # the Vietnamese body changes, the Khmer is left as it was
    changed = _form(world, media=[world["image"]], text_km=KM, body="Nội dung tiếng Việt đã sửa.")
    assert client.post(edit, data=changed).status_code == 302
    page = client.get(edit)
    assert 'id="km-stale"' in page.text and "Chưa dịch" in page.text
    assert cp.translation_state(_rows(app)[0][0]) == "stale"
    # the Khmer updated: no longer marked
    fixed = _form(world, media=[world["image"]], text_km=KM + " ថ្មី", body="Nội dung tiếng Việt đã sửa.")
    assert client.post(edit, data=fixed).status_code == 302
    assert 'id="km-stale"' not in client.get(edit).text


def _unit_id(app, code: str) -> int:
    from sqlmodel import select

    from core.db import session_scope
    from core.models import OrgUnit

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.code == code)).first().id


def test_translator_edits_only_the_khmer_of_items_in_their_units(app, client):
    from core.db import session_scope
    from tests.fakes.sms_app import seed_campaign
    from tests.helpers import login, make_user

    cid = seed_campaign(app, status="draft")
    mine, other = _unit_id(app, "tx-vinh-chau"), _unit_id(app, "so-vhttdl")
    with app.app_context(), session_scope(app) as s:
        ours = ContentItem(campaign_id=cid, title="Tin Vĩnh Châu", body="Bà con nộp hồ sơ trực tuyến.",
                           channel="loudspeaker", unit_id=mine, variants={"texts": {"en": "Online"}})
        theirs = ContentItem(campaign_id=cid, title="Tin của Sở", body="Nội dung của Sở.",
                             channel="facebook", unit_id=other, variants={})
        s.add(ours)
        s.add(theirs)
        s.flush()
        ours_id, theirs_id = ours.id, theirs.id
    translator = make_user(app, "translator")
    assert login(client, translator).status_code == 302
    page = client.get("/khmer")
    assert page.status_code == 200
    assert "Tin Vĩnh Châu" in page.text and "Tin của Sở" not in page.text  # scope: their units only
    assert client.get(f"/items/{theirs_id}/khmer").status_code == 404
    assert client.get(f"/items/{ours_id}/edit").status_code == 403  # not the composer
    form = client.get(f"/items/{ours_id}/khmer")
    assert form.status_code == 200 and "Bà con nộp hồ sơ trực tuyến." in form.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)
    data = {"text_km": KM, "title": "Đổi tiêu đề", "body": "Đổi nội dung"}  # extra fields ignored
    if token:
        data["csrf_token"] = token.group(1)
    r = client.post(f"/items/{ours_id}/khmer", data=data)
    assert r.status_code == 302, r.text
    with app.app_context(), session_scope(app) as s:
        item = s.get(ContentItem, ours_id)
        assert item.title == "Tin Vĩnh Châu" and item.body == "Bà con nộp hồ sơ trực tuyến."
        assert item.variants["texts"] == {"en": "Online", "km": KM}
        assert cp.translation_state(item) == "current"
        # the communicator changes the Vietnamese: the translator's list says "Chưa dịch"
        item.body = "Nội dung mới."
        s.add(item)
    listing = client.get("/khmer").text
    assert "Chưa dịch" in listing
    assert 'id="km-stale"' in client.get(f"/items/{ours_id}/khmer").text
    # too long: a Vietnamese message, nothing saved
    r = client.post(f"/items/{ours_id}/khmer", data={**data, "text_km": "ក" * 20001})
    assert r.status_code == 422 and "tối đa 20000 ký tự" in r.text


def test_translator_navigation_leads_only_to_their_page(app, client):
    from tests.helpers import login, make_user

    assert login(client, make_user(app, "translator")).status_code == 302
    page = client.get("/khmer").text
    nav = page[page.index("<nav"):page.index("</nav>")]
    links = re.findall(r'href="([^"]+)"', nav)
    assert links == ["/khmer"]
    assert client.get("/campaigns").status_code in (403, 404)  # staff pages stay closed
