"""The public pages in Khmer (issue #17): the feedback form ``/y-kien``, its thanks page, the
summary ``/y-kien/tong-hop`` and the QR landing link ``/r/<campaign>/<unit>``, in Vietnamese,
Khmer or English by link (``?lang=``) or the page's switch, remembered for the visitor's
next public page; the staff UI stays Vietnamese/English.

The app reads .mo files compiled here from the checked-in .po files (what is tested is the
catalogue in git, not whatever ``make`` built last)."""

from __future__ import annotations

import io
import re
import subprocess
import unicodedata
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlmodel import select

from core.db import session_scope
from tests.helpers import login, token_for
from tests.measure_helpers import setup_world

ROOT = Path(__file__).resolve().parent.parent
PO = {loc: ROOT / "translations" / loc / "LC_MESSAGES" / "messages.po" for loc in ("en", "km")}
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%%|%[sdif]|\{\w*\}")

TITLE_KM = "មតិយោបល់អំពីសេវាសាធារណៈតាមអ៊ីនធឺណិត"
#: Latin letters with diacritics (Vietnamese text): none may be left on a Khmer page but data
VIETNAMESE = re.compile(r"[\u00c0-\u024f\u1ea0-\u1ef9]")


def catalogue(locale: str):
    with open(PO[locale], "rb") as f:
        return read_po(f, locale=locale)


@pytest.fixture
def app(tmp_path):
    from babel.messages.mofile import write_mo

    from tests.conftest import make_app

    for locale in PO:
        mo = tmp_path / "translations" / locale / "LC_MESSAGES" / "messages.mo"
        mo.parent.mkdir(parents=True)
        with open(mo, "wb") as f:
            write_mo(f, catalogue(locale))
    app = make_app(f"sqlite:///{tmp_path / 'test.db'}", tmp_path, WTF_CSRF_ENABLED=False,
                   BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations"),
                   LANTOA_FEEDBACK_RATE_LIMIT="1000 per minute")
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


@pytest.fixture
def world(app, monkeypatch):
    return setup_world(app, monkeypatch)


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def leftover_vietnamese(html: str, app) -> list[str]:
    """Words with Vietnamese letters in the page's visible text, other than data (unit names),
    the brand, the switch's "Tiếng Việt" and the decree's number."""
    from core.models import OrgUnit

    text = visible_text(html)
    with app.app_context(), session_scope(app) as s:
        names = sorted((u.name for u in s.exec(select(OrgUnit)).all()), key=len, reverse=True)
    for allowed in (*names, "Tiếng Việt", "Lan Tỏa", "NĐ-CP"):
        text = text.replace(allowed, " ")
    return [w for w in text.split() if VIETNAMESE.search(w)]


def feedback_rows(app):
    from campaigns.measure.models import Feedback

    with app.app_context(), session_scope(app) as s:
        return s.exec(select(Feedback).order_by(Feedback.id)).all()


# -- the form ------------------------------------------------------------------------------


def test_form_in_khmer_by_link(app, client, world):
    r = client.get("/y-kien?lang=km&u=xa-lac-hoa&s=dat-dai")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<html lang="km">' in html
    for text in (TITLE_KM, "តើអ្នកបានប្រើសេវាអ្វី?", "កម្រិតនៃការពេញចិត្តរបស់អ្នក", "ពេញចិត្តខ្លាំង",
                 "ព័ត៌មានទំនាក់ទំនង (ស្រេចចិត្ត)", "ផ្ញើមតិយោបល់", "ដីធ្លី", "365 ថ្ងៃ",
                 "សួររហ័សអំពីសេវាសាធារណៈ", "ជំនួយការឆ្លើយសំណួរឆ្លើយតបតែជាភាសាវៀតណាម"):
        assert text in html, text
    assert '<option value="dat-dai" selected>' in html and '<option value="xa-lac-hoa" selected>' in html
    assert 'action="/y-kien?lang=km"' in html  # the submission stays Khmer without the cookie too
    assert leftover_vietnamese(html, app) == []
    for text in ("Góp ý về dịch vụ công trực tuyến", "Gửi góp ý", "Đất đai", "Feedback on"):
        assert text not in html


def test_vietnamese_stays_the_default_and_shows_the_switch(app, client, world):
    html = client.get("/y-kien?u=xa-lac-hoa").get_data(as_text=True)
    assert '<html lang="vi">' in html and "Góp ý về dịch vụ công trực tuyến" in html
    assert TITLE_KM not in html
    switch = re.search(r'<nav class="lang-switch"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert '<strong lang="vi" aria-current="true">Tiếng Việt</strong>' in switch
    km = re.search(r'<a href="([^"]+)" lang="km" hreflang="km">ខ្មែរ</a>', switch)
    assert km and "English" in switch
    assert parse_qs(urlsplit(unescape(km.group(1))).query) == {"u": ["xa-lac-hoa"], "lang": ["km"]}


def test_switch_is_remembered_for_the_next_public_pages(app, client, world):
    html = client.get("/y-kien?u=xa-lac-hoa").get_data(as_text=True)
    href = unescape(re.search(r'<a href="([^"]+)" lang="km"', html).group(1))
    assert TITLE_KM in client.get(href).get_data(as_text=True)
    # no lang in the address: the visitor's choice holds on every public page
    for path in ("/y-kien", "/y-kien/tong-hop", "/y-kien/cam-on"):
        page = client.get(path).get_data(as_text=True)
        assert '<html lang="km">' in page, path
        assert leftover_vietnamese(page, app) == [], path
    # back to Vietnamese by the switch, remembered too
    page = client.get("/y-kien/tong-hop?lang=vi").get_data(as_text=True)
    assert '<html lang="vi">' in page
    page = client.get("/y-kien").get_data(as_text=True)
    assert '<html lang="vi">' in page and "Góp ý về dịch vụ công trực tuyến" in page
    # English stays available on the public pages
    page = client.get("/y-kien?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Feedback on online public services" in page
    # an unknown language is ignored (no error, the remembered one holds)
    page = client.get("/y-kien?lang=xx")
    assert page.status_code == 200 and '<html lang="en">' in page.get_data(as_text=True)


# -- submission ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    {"service": "ho-tich", "satisfaction": "4", "comment": "ល្អណាស់", "unit": "xa-lac-hoa"},
    {"service": "dat-dai", "satisfaction": "2"},  # no unit: the plan's monitoring unit
    {"service": "khac", "satisfaction": "5", "campaign": "1", "name": "Thạch Sô Phai",
     "contact": "0912345678", "consent": "1"},
])
def test_khmer_submission_is_stored_and_routed_like_the_vietnamese_one(app, world, data):
    vi, km = app.test_client(), app.test_client()
    r_vi = vi.post("/y-kien", data=data)
    r_km = km.post("/y-kien?lang=km", data=data)
    assert r_vi.status_code == r_km.status_code == 303
    assert r_vi.headers["Location"] == "/y-kien/cam-on"
    assert r_km.headers["Location"] == "/y-kien/cam-on?lang=km"
    thanks = km.get(r_km.headers["Location"]).get_data(as_text=True)
    assert '<html lang="km">' in thanks and "សូមអរគុណចំពោះមតិយោបល់របស់អ្នក!" in thanks
    a, b = feedback_rows(app)
    fields = ("service", "satisfaction", "comment", "unit_id", "campaign_id", "name", "contact",
              "consent", "personal_purge_after", "status")
    assert {f: getattr(b, f) for f in fields} == {f: getattr(a, f) for f in fields}
    assert a.unit_id is not None
    if "unit" not in data and "campaign" not in data:
        assert b.unit_id == world["units"]["so-khcn"]


def test_khmer_feedback_reaches_the_same_unit_queue(app, world):
    km = app.test_client()
    km.get("/y-kien?lang=km")  # chosen by link, then the form posts without lang
    km.post("/y-kien", data={"service": "cu-tru", "satisfaction": "3", "comment": "សំណួរពីភូមិ",
                             "unit": "xa-lac-hoa"})
    app.test_client().post("/y-kien", data={"service": "cu-tru", "satisfaction": "3",
                                             "comment": "Câu hỏi từ ấp", "unit": "xa-lac-hoa"})
    staff = app.test_client()
    login(staff, world["users"]["commune"])
    page = staff.get("/measure/feedback").get_data(as_text=True)
    assert "សំណួរពីភូមិ" in page and "Câu hỏi từ ấp" in page  # both in the commune's queue
    assert '<html lang="vi">' in page  # the staff page stays Vietnamese
    other = app.test_client()
    login(other, world["users"]["other_district"])
    page = other.get("/measure/feedback").get_data(as_text=True)
    assert "សំណួរពីភូមិ" not in page and "Câu hỏi từ ấp" not in page


@pytest.mark.parametrize("data, field, khmer, vietnamese", [
    ({"satisfaction": "4"}, "service", "សូមជ្រើសរើសសេវាដែលអ្នកបានប្រើ។", "chọn dịch vụ"),
    ({"service": "ho-tich"}, "satisfaction", "សូមជ្រើសរើសកម្រិតនៃការពេញចិត្ត (ពី 1 ដល់ 5)។", "1 đến 5"),
    ({"service": "ho-tich", "satisfaction": "9"}, "satisfaction", "កម្រិតនៃការពេញចិត្តត្រូវតែជាលេខពី 1 ដល់ 5។",
     "từ 1 đến 5"),
    ({"service": "khong-co", "satisfaction": "4"}, "service", "សេវានេះមិនមាននៅក្នុងបញ្ជីទេ។",
     "không có trong danh sách"),
    ({"service": "ho-tich", "satisfaction": "4", "comment": "ក" * 2001}, "comment",
     "មតិយោបល់មិនអាចលើសពី 2000 តួអក្សរទេ (ឥឡូវមាន 2001)។", "ký tự"),
    ({"service": "ho-tich", "satisfaction": "4", "name": "Thạch Sô Phai"}, "consent", "សូមយល់ព្រម",
     "đồng ý"),
    ({"service": "ho-tich", "satisfaction": "4", "contact": "abc", "consent": "1"}, "contact",
     "ព័ត៌មានទំនាក់ទំនងត្រូវតែជាលេខទូរស័ព្ទ ឬអាសយដ្ឋានអ៊ីមែល។", "điện thoại"),
    ({"service": "ho-tich", "satisfaction": "4", "unit": "viettel"}, "unit",
     "រកមិនឃើញស្ថាប័ន ឬអង្គភាពដែលបានជ្រើសរើសទេ។", "Không tìm thấy"),
])
def test_errors_on_the_khmer_form_are_in_khmer(app, client, world, data, field, khmer, vietnamese):
    data = {"comment": "សូមរក្សាទុកអត្ថបទនេះ", **data}
    r = client.post("/y-kien?lang=km", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert '<html lang="km">' in html
    assert khmer in html and vietnamese not in html
    assert "មិនទាន់អាចផ្ញើបានទេ៖" in html  # the summary line above the form
    if len(data["comment"]) <= 2000:
        assert "សូមរក្សាទុកអត្ថបទនេះ" in html  # what the citizen typed is kept
    assert leftover_vietnamese(html.replace(data.get("name", "\0"), " "), app) == []
    assert feedback_rows(app) == []
    # the same input on the Vietnamese form: the same field refused, in Vietnamese
    html = app.test_client().post("/y-kien", data=data).get_data(as_text=True)
    assert vietnamese in html and khmer not in html


def test_api_keeps_vietnamese_field_messages():
    """The JSON API and older callers read FeedbackError.fields: still formatted Vietnamese."""
    from campaigns.measure import feedback as fbk

    errors = fbk._Errors()
    errors.add("comment", fbk.N_("Góp ý tối đa %(max)d ký tự (hiện có %(count)d)."), max=2000, count=2001)
    with pytest.raises(fbk.FeedbackError) as exc:
        errors.raise_if_any()
    assert exc.value.fields == {"comment": "Góp ý tối đa 2000 ký tự (hiện có 2001)."}


# -- summary and QR landing ---------------------------------------------------------------


def test_summary_in_khmer(app, client, world):
    for score in (5, 4, 2):
        client.post("/y-kien", data={"service": "dat-dai", "satisfaction": str(score)})
    html = client.get("/y-kien/tong-hop?lang=km").get_data(as_text=True)
    assert '<html lang="km">' in html
    for text in ("មតិយោបល់របស់ប្រជាពលរដ្ឋអំពីសេវាសាធារណៈតាមអ៊ីនធឺណិត", "សន្លឹកមតិយោបល់",
                 "ពេញចិត្ត ឬពេញចិត្តខ្លាំង", "ដីធ្លី", "ពិន្ទុមធ្យម", "ផ្ញើមតិយោបល់របស់អ្នក"):
        assert text in html, text
    assert 'id="total">3<' in html and "66,7%" in html  # Arabic digits, the Vietnamese number form
    assert leftover_vietnamese(html, app) == []
    bad = client.get("/y-kien/tong-hop?lang=km&year=abc")
    assert bad.status_code == 400
    assert "ឆ្នាំត្រូវតែជាលេខគត់ក្នុងចន្លោះ 2000–2100។" in bad.get_data(as_text=True)


def set_target(app, campaign_id: int, url: str) -> None:
    from campaigns.models import Campaign

    with app.app_context(), session_scope(app) as s:
        c = s.get(Campaign, campaign_id)
        c.target_url = url
        s.add(c)


def scans(app) -> int:
    from campaigns.models import LinkScan

    with app.app_context(), session_scope(app) as s:
        return len(s.exec(select(LinkScan)).all())


def test_qr_landing_link_in_khmer(app, client, world):
    cid = 1
    # a Khmer print's QR code to this site's feedback form: the language is passed on
    set_target(app, cid, "http://localhost/y-kien?u=xa-lac-hoa&s=ho-tich")
    r = client.get(f"/r/{cid}/xa-lac-hoa?lang=km")
    assert r.status_code == 302 and scans(app) == 1
    target = urlsplit(r.headers["Location"])
    assert target.path == "/y-kien"
    assert parse_qs(target.query) == {"u": ["xa-lac-hoa"], "s": ["ho-tich"], "lang": ["km"]}
    page = client.get(f"{target.path}?{target.query}").get_data(as_text=True)
    assert '<html lang="km">' in page and TITLE_KM in page
    # another site (dichvucong.gov.vn) gets its address unchanged; the choice is still remembered
    set_target(app, cid, "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html")
    fresh = app.test_client()
    r = fresh.get(f"/r/{cid}/xa-lac-hoa?lang=km")
    assert r.headers["Location"] == "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html"
    assert scans(app) == 2
    assert '<html lang="km">' in fresh.get("/y-kien").get_data(as_text=True)
    # a QR code whose campaign or unit is gone: the error page in Khmer, nothing counted
    r = app.test_client().get("/r/999999/xa-lac-hoa?lang=km")
    html = r.get_data(as_text=True)
    assert r.status_code == 404 and '<html lang="km">' in html
    assert "រកមិនឃើញទេ។" in html and "Không tìm thấy" not in html
    assert scans(app) == 2


def test_feedback_qr_code_for_a_khmer_print_opens_the_khmer_form(app, client, world):
    import qrcode
    from PIL import Image, ImageChops
    from qrcode.constants import ERROR_CORRECT_M

    r = client.get("/y-kien/qr.png?u=xa-lac-hoa&lang=km")
    assert r.status_code == 200
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    base = app.config.get("LANTOA_PUBLIC_BASE_URL", "").rstrip("/")
    qr.add_data(f"{base}/y-kien?u=xa-lac-hoa&lang=km")
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    got = Image.open(io.BytesIO(r.data)).convert("L")
    want = Image.open(buf).convert("L")
    assert got.size == want.size and ImageChops.difference(got, want).getbbox() is None


# -- staff, fonts, catalogue ----------------------------------------------------------------


def test_staff_ui_language_is_not_changed_by_public_pages(app, world):
    staff = app.test_client()
    login(staff, world["users"]["communicator"])
    assert '<html lang="km">' in staff.get("/y-kien?lang=km").get_data(as_text=True)
    page = staff.get("/campaigns").get_data(as_text=True)
    assert '<html lang="vi">' in page and "Chiến dịch" in page
    staff.post("/language/en", data={"next": "/campaigns"})
    assert '<html lang="en">' in staff.get("/campaigns").get_data(as_text=True)
    # the public page keeps the visitor's Khmer; staff pages keep the staff member's English
    assert '<html lang="km">' in staff.get("/y-kien/tong-hop").get_data(as_text=True)
    assert '<html lang="en">' in staff.get("/measure/feedback").get_data(as_text=True)
    # Khmer is no staff UI language
    assert staff.post("/language/km", data={"next": "/campaigns"}).status_code == 404
    assert '<html lang="en">' in staff.get("/campaigns?lang=km").get_data(as_text=True)


def test_khmer_font_is_served_by_the_app(app, client):
    r = client.get("/fonts/noto-sans-khmer.ttf")
    assert r.status_code == 200 and r.mimetype == "font/ttf"
    assert r.data[:4] == b"\x00\x01\x00\x00" and len(r.data) > 100_000
    assert "max-age" in r.headers["Cache-Control"]
    assert client.get("/fonts/other.ttf").status_code == 404
    css = (ROOT / "core" / "static" / "app.css").read_text(encoding="utf-8")
    assert 'url("/fonts/noto-sans-khmer.ttf")' in css and "U+1780-17FF" in css
    assert re.search(r':lang\(km\) \{ font-family:"Noto Sans Khmer Web"', css)
    # staff pages draw Khmer too (a citizen's comment, an item's Khmer text): the face is in
    # the body's font list, where its unicode-range keeps it to Khmer characters
    body = re.search(r"^body \{[^}]*\}", css, re.M).group(0)
    assert '"Noto Sans Khmer Web", sans-serif' in body


@pytest.fixture(scope="module")
def public_msgids() -> dict[str, str]:
    """msgid -> where, extracted in-process with translations/babel-public.cfg (as
    `make translations` does for the Khmer catalogue)."""
    with open(ROOT / "translations" / "babel-public.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, str] = {}
    for filename, lineno, message, _c, _ctx in extract_from_dir(str(ROOT), method_map, options_map,
                                                                 keywords=KEYWORDS):
        found.setdefault(message[0] if isinstance(message, tuple) else message, f"{filename}:{lineno}")
    return found


def test_every_public_string_has_khmer(public_msgids):
    km = catalogue("km")
    assert len(public_msgids) > 60
    files = {where.rsplit(":", 1)[0] for where in public_msgids.values()}
    assert any(f.endswith("feedback_form.html") for f in files)
    assert not any(f.endswith("feedback_list.html") for f in files)  # a staff page: no Khmer
    missing = [f"  {m!r} ({w})" for m, w in sorted(public_msgids.items())
               if km.get(m) is None or km.get(m).fuzzy or not km.get(m).string]
    assert not missing, ("public strings without Khmer (run `make translations` and translate "
                         "them in translations/km/LC_MESSAGES/messages.po):\n" + "\n".join(missing))


def test_khmer_catalogue_is_well_formed_and_marked_for_review():
    km = catalogue("km")
    problems = []
    for message in km:
        if not message.id:
            continue
        if not all(unicodedata.is_normalized("NFC", s) for s in (message.id, message.string)):
            problems.append(f"not NFC: {message.id!r}")
        if sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            problems.append(f"placeholders differ: {message.id!r}")
        if not re.search(r"[\u1780-\u17ff]", message.string):
            problems.append(f"no Khmer in {message.id!r}")
        problems.extend(f"{message.id!r}: {err}" for err in message.check(km))
    assert not problems, "\n".join(problems)
    header = PO["km"].read_text(encoding="utf-8").split('msgid ""')[0]
    assert "native Khmer speaker" in header and "Ban Dân tộc" in header


def test_public_labels_follow_the_dicts_they_repeat(public_msgids):
    from campaigns.measure.feedback import SERVICES
    from core.web import ERROR_MESSAGES

    missing = sorted(v for v in (*SERVICES.values(), *ERROR_MESSAGES.values()) if v not in public_msgids)
    assert not missing, f"add these to translations/public_labels.py: {missing}"


def test_makefile_compiles_the_khmer_catalogue():
    out = subprocess.run(["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert re.search(r"pybabel compile .*-l km", out) and re.search(r"pybabel compile .*-l en", out)
    out = subprocess.run(["make", "-n", "translations"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "babel-public.cfg" in out and re.search(r"pybabel update .*-l km", out)


def test_feedback_keeps_the_language_of_its_form(app, world):
    """A form sent from the Khmer page is marked for staff (its comment may need a reader); the
    Vietnamese one is not, and the API gives the language of each."""
    km = app.test_client()
    km.post("/y-kien?lang=km", data={"service": "ho-tich", "satisfaction": "4", "comment": "ល្អណាស់",
                                     "unit": "xa-lac-hoa"})
    app.test_client().post("/y-kien", data={"service": "ho-tich", "satisfaction": "4",
                                             "comment": "Rất tốt", "unit": "xa-lac-hoa"})
    khmer, vietnamese = feedback_rows(app)  # in the order they were sent
    assert (khmer.language, vietnamese.language) == ("km", "vi")
    staff = app.test_client()
    login(staff, world["users"]["commune"])
    page = staff.get("/measure/feedback").get_data(as_text=True)
    khmer_card = page[page.index(f'id="fb-{khmer.id}"'):].split("</article>")[0]
    vietnamese_card = page[page.index(f'id="fb-{vietnamese.id}"'):].split("</article>")[0]
    assert "Gửi bằng tiếng Khmer" in khmer_card and "Gửi bằng tiếng Khmer" not in vietnamese_card
    api = app.test_client().get("/api/v1/feedback", headers={
        "Authorization": "Bearer " + token_for(app, world["users"]["commune"])}).get_json()
    languages = {item["id"]: item["language"] for item in api["items"]}
    assert languages[khmer.id] == "km" and languages[vietnamese.id] == "vi"
