"""Presets carry Khmer items for units where the plan's Khmer communication applies
(``OrgUnit.uses_khmer``): the 10/10 preset on a scope with a Khmer commune gets the
Khmer texts and the bilingual print items, which render with the preset's own Khmer;
on a scope without one it gets none."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

import media_templates as mt
from campaigns.khmer import is_for_khmer, khmer_fields, khmer_points, khmer_unit_ids
from campaigns.models import ContentItem
from core.db import session_scope
from core.models import OrgUnit, User
from media_templates import fonts
from tests.conftest import make_app

TODAY = date(2026, 9, 1)


@pytest.fixture()
def demo(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'k.db'}", tmp_path, WTF_CSRF_ENABLED=False)
    from tests.helpers import seed_units

    seed_units(app)
    with app.app_context(), session_scope(app) as s:
        for u in s.exec(select(OrgUnit)).all():
            u.uses_khmer = False  # start from no Khmer unit, whatever the demo marks
            s.add(u)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def _apply(app, scope_codes: list[str]):
    from campaigns.presets import apply_preset
    from tests.helpers import make_user

    uid = make_user(app, "communicator", "so-vhttdl").id
    with app.app_context(), session_scope(app) as s:
        author = s.get(User, uid)
        ids = [s.exec(select(OrgUnit).where(OrgUnit.code == c)).one().id for c in scope_codes]
        campaign = apply_preset(s, "ngay-cds-10-10", author, today=TODAY, overrides={"scope_ids": ids})
        items = s.exec(select(ContentItem).where(ContentItem.campaign_id == campaign.id)).all()
        for i in items:
            s.expunge(i)
        return items


def _mark(app, code: str, share: int = 60):
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
        unit.uses_khmer, unit.khmer_share = True, share
        s.add(unit)


def test_no_khmer_unit_no_khmer_items(demo):
    items = _apply(demo, ["tx-vinh-chau"])
    assert items and not any(is_for_khmer(i) for i in items)
    assert not any(((i.variants or {}).get("texts") or {}).get("km") for i in items)


def test_a_khmer_commune_in_scope_brings_khmer_texts_and_items(demo):
    _mark(demo, "xa-lac-hoa")
    with demo.app_context(), session_scope(demo) as s:
        district = s.exec(select(OrgUnit).where(OrgUnit.code == "tx-vinh-chau")).one()
        commune = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        # the district's scope reaches the commune below it
        assert khmer_unit_ids(s, [district.id], TODAY) == [commune.id]
    items = _apply(demo, ["tx-vinh-chau"])
    khmer_items = [i for i in items if is_for_khmer(i)]
    assert {i.template for i in khmer_items} == {
        "poster_a4_bilingual", "leaflet_a5_bilingual", "social_square_bilingual"}
    from campaigns.composer import translation_state

    translated = [i for i in items if ((i.variants or {}).get("texts") or {}).get("km")]
    # every loudspeaker bulletin has its Khmer reading text, written for the current Vietnamese
    speaker = [i for i in items if i.channel == "loudspeaker"]
    assert speaker and all(i in translated for i in speaker)
    assert all(translation_state(i) == "current" for i in translated)
    assert all(fonts.is_khmer(i.variants["texts"]["km"]) for i in translated)


def test_campaign_page_marks_khmer_items_and_translations(demo):
    from tests.helpers import login, make_user

    _mark(demo, "xa-lac-hoa")
    items = _apply(demo, ["xa-lac-hoa"])
    client = demo.test_client()
    assert login(client, make_user(demo, "communicator", "so-vhttdl")).status_code == 302
    page = client.get(f"/campaigns/{items[0].campaign_id}").text
    assert page.count("Chỉ cho đơn vị dùng tiếng Khmer") == 3
    assert page.count("Có bản tiếng Khmer") == sum(
        1 for i in items if ((i.variants or {}).get("texts") or {}).get("km"))


@pytest.mark.parametrize("template,pages", [("poster_a4_bilingual", 1), ("leaflet_a5_bilingual", 2)])
def test_khmer_items_render_bilingual_with_the_presets_khmer(demo, tmp_path, template, pages):
    from campaigns.kits.builder import print_data
    from campaigns.models import Campaign

    _mark(demo, "xa-lac-hoa")
    items = _apply(demo, ["xa-lac-hoa"])
    item = next(i for i in items if i.template == template)
    name = template.replace("_", "-")
    tpl = mt.get_template(name)
    with demo.app_context(), session_scope(demo) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        campaign = s.get(Campaign, item.campaign_id)
        data = print_data(tpl, item, campaign, unit, "https://dichvucong.gov.vn", "0299 3822 222")
    km = item.variants["print"]["headline_km"]
    assert data["title_km"] == km and fonts.is_khmer(km)
    # the Vietnamese headline is the item's, after "Áp phích song ngữ Việt – Khmer:"
    assert data["title"] == item.title.split(":", 1)[1].strip()
    listed = data.get("bullets_km") or data.get("steps_km")
    assert listed and all(fonts.is_khmer(p) for p in listed)
    if name.startswith("leaflet"):  # the Khmer steps are the preset's own "ជំហានទី…" steps
        assert listed[0].startswith("ចូលប្រើដោយគណនី") and len(listed) == 3
    res = mt.render(name, "pdf", mt.validate_data(tpl, data), tmp_path / f"{name}.pdf")
    assert res.pages == pages


def test_khmer_points_split_steps_and_sentences():
    msg, steps = khmer_points("សេចក្តីផ្តើម។ ជំហានទី១៖ មួយ។ ជំហានទី២៖ ពីរ។ ជំហានទី៣៖ បី។")
    assert msg == "សេចក្តីផ្តើម។" and steps == ["មួយ", "ពីរ", "បី"]
    msg, points = khmer_points("ក។ ខ។ គ។")
    assert msg == "ក។" and points == ["ខ", "គ"]
    assert khmer_points("តែមួយ") == ("តែមួយ", [])


def test_an_item_without_khmer_fills_no_khmer_fields():
    tpl = mt.get_template("poster-a4-bilingual")
    assert khmer_fields(tpl, ContentItem(title="x", body="y", channel="print")) == {}


def test_a_template_opened_from_the_composer_is_filled_with_the_items_khmer(demo):
    """'Tạo ảnh từ mẫu' on an item with Khmer opens the bilingual template on the item's own
    Vietnamese and Khmer text, not the template's sample."""
    from tests.helpers import login, make_user

    _mark(demo, "xa-lac-hoa")
    items = _apply(demo, ["xa-lac-hoa"])
    poster = next(i for i in items if i.template == "poster_a4_bilingual")
    client = demo.test_client()
    assert login(client, make_user(demo, "communicator", "so-vhttdl")).status_code == 302
    page = client.get(f"/media/new/poster-a4-bilingual?item={poster.id}&campaign={poster.campaign_id}")
    assert page.status_code == 200
    assert poster.variants["print"]["headline_km"] in page.text
    assert "ដាក់ឯកសារដោយមិនចាំបាច់ទៅស្ថាប័ន" in page.text  # a Khmer point of the item
    sample = mt.get_template("poster-a4-bilingual").sample_data()
    assert sample["bullets_km"][1] not in page.text  # not the sample's
    # without an item the sample fills the form, as before
    assert sample["title_km"] in client.get("/media/new/poster-a4-bilingual").text


@pytest.mark.slow
def test_kits_of_khmer_units_carry_bilingual_print_and_others_none(demo):
    """A unit that uses Khmer gets the bilingual twin of each print product (from the
    Khmer items, with its unit's QR link remembering Khmer); a unit that does not gets
    none, and its products never use a Khmer-only item."""
    import subprocess
    import zipfile

    from campaigns.kits.builder import PRINT_DIR, KitConfig, build_campaign_kits
    from campaigns.models import Kit

    _mark(demo, "xa-lac-hoa")
    items = _apply(demo, ["xa-lac-hoa", "xa-vinh-hai"])
    cid = items[0].campaign_id
    with demo.app_context(), session_scope(demo) as s:
        units = {u.code: u.id for u in s.exec(select(OrgUnit)).all()}
        summary = build_campaign_kits(s, cid, KitConfig.from_app(demo), workers=1,
                                      unit_ids=[units["xa-lac-hoa"], units["xa-vinh-hai"]])
        kits = {k.unit_id: k.path for k in s.exec(select(Kit).where(Kit.campaign_id == cid)).all()}
    assert summary and len(kits) == 2, summary
    khmer_zip = zipfile.ZipFile(kits[units["xa-lac-hoa"]])
    other_zip = zipfile.ZipFile(kits[units["xa-vinh-hai"]])
    twins = sorted(n for n in khmer_zip.namelist() if n.startswith(PRINT_DIR) and "song ngữ" in n)
    assert len(twins) == 4, khmer_zip.namelist()  # A3, A4, leaflet, standee
    assert not any("song ngữ" in n for n in other_zip.namelist())
    regular = [n for n in khmer_zip.namelist() if n.startswith(PRINT_DIR) and "song ngữ" not in n]
    assert len(regular) == 4
    leaflet = next(n for n in twins if "Tờ rơi" in n)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pdf = f"{tmp}/leaflet.pdf"
        open(pdf, "wb").write(khmer_zip.read(leaflet))
        text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True).stdout
    assert "ជំហាន" in text  # the Khmer steps heading/labels
    # the regular leaflet of the non-Khmer commune is the Vietnamese one, not a Khmer item
    with tempfile.TemporaryDirectory() as tmp:
        name = next(n for n in other_zip.namelist() if n.startswith(f"{PRINT_DIR}/Tờ rơi"))
        open(f"{tmp}/l.pdf", "wb").write(other_zip.read(name))
        text = subprocess.run(["pdftotext", f"{tmp}/l.pdf", "-"], capture_output=True, text=True).stdout
    assert "Các bước" in text or "Bước" in text
    assert not fonts.is_khmer(text)
