"""The English catalogue covers every UI string, and English pages show no Vietnamese UI text.

A new ``_('...')`` in a template or Python module without an English msgstr fails
here: run ``make translations`` and translate the new entries in
translations/en/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.helpers import api_headers, login, make_app_with_catalogue, make_user

ROOT = Path(__file__).resolve().parent.parent
PO_FILE = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%%|%[sdif]|\{\w*\}")


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    """msgid -> ["path:line", ...], extracted in-process with babel.cfg (as `make translations`)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalogue():
    with open(PO_FILE, "rb") as f:
        return read_po(f, locale="en")


def test_extraction_sees_templates_and_python(extracted):
    files = {loc.rsplit(":", 1)[0] for locs in extracted.values() for loc in locs}
    assert len(extracted) > 400
    assert any(f.endswith("core/templates/core/base.html") for f in files)
    assert any(f.endswith("campaigns/sms/views.py") for f in files)
    assert not any(f.startswith((".venv", "tests", "bench", "migrations")) for f in files)


def test_every_ui_string_has_an_english_translation(extracted, catalogue):
    missing = []
    for msgid, where in sorted(extracted.items()):
        entry = catalogue.get(msgid)
        strings = () if entry is None else (entry.string if isinstance(entry.string, tuple)
                                            else (entry.string,))
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(f"  {msgid!r}  ({where[0]})")
    assert not missing, ("UI strings without English in messages.po (run `make translations` "
                         "and translate them):\n" + "\n".join(missing))


def test_catalogue_entries_are_well_formed(catalogue):
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(unicodedata.is_normalized("NFC", s) for s in ids + strings):
            problems.append(f"not NFC: {message.id!r}")
        for s in strings:
            if sorted(PLACEHOLDER.findall(ids[0])) != sorted(PLACEHOLDER.findall(s)):
                problems.append(f"placeholders differ: {message.id!r} -> {s!r}")
        problems.extend(f"{message.id!r}: {err}" for err in message.check(catalogue))
    assert not problems, "\n".join(problems)


def test_labels_translated_through_a_variable_are_listed(extracted):
    """Templates and views call _(campaign_status_labels[...]), _(task_status_labels[...]),
    _(ERROR_MESSAGES[status]) and the like on plain dicts (plain because their values are also
    exported or returned by the API); their values are extracted from
    translations/dynamic_labels.py, which must follow the dicts."""
    from campaigns.kits.broadcasts import STATE_LABELS, WEEKDAY_LABELS
    from campaigns.measure.feedback import SERVICES
    from campaigns.measure.models import TASK_STATUS_LABELS
    from campaigns.models import CAMPAIGN_STATUS_LABELS
    from campaigns.views import TRANSITION_LABELS
    from core.web import ERROR_MESSAGES

    labels: set[str] = set()
    for plain in (CAMPAIGN_STATUS_LABELS, TRANSITION_LABELS, TASK_STATUS_LABELS, WEEKDAY_LABELS,
                  STATE_LABELS, SERVICES, ERROR_MESSAGES):
        labels |= set(plain.values())
    missing = sorted(label for label in labels if label not in extracted)
    assert not missing, f"add these to translations/dynamic_labels.py: {missing}"


@pytest.fixture
def app(tmp_path, catalogue):
    """The app reading a .mo compiled from the current messages.po (the checked-in .po is what
    is tested, not whatever translations/**/messages.mo was last built)."""
    app = make_app_with_catalogue(tmp_path, catalogue)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def english(client):
    r = client.post("/language/en", data={"next": "/campaigns"})
    assert r.status_code == 302


def test_english_public_feedback_form(app, client):
    english(client)
    page = client.get("/y-kien").get_data(as_text=True)
    assert 'lang="en"' in page
    for text in ("Feedback on online public services", "Which service did you use?",
                 "Contact details (optional)", "Send feedback"):
        assert text in page
    for text in ("Góp ý về dịch vụ công trực tuyến", "Bạn đã sử dụng dịch vụ nào?",
                 "Thông tin liên hệ", "Gửi góp ý"):
        assert text not in page


def test_english_campaign_detail_translates_status_and_transitions(app, client):
    login(client, make_user(app, "communicator"))
    english(client)
    cid = app.test_client().post("/api/v1/campaigns", json={
        "title": "Ngày Chuyển đổi số", "starts_on": "2026-10-01", "ends_on": "2026-10-31"},
        headers=api_headers(app, "communicator")).json["id"]
    page = client.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert ">Draft</span>" in page and "Submit for review" in page
    assert "Nothing is sent while the campaign is not approved or is paused." in page
    assert "Ngày Chuyển đổi số" in page  # data stays as entered
    for text in ("Bản nháp", "Gửi duyệt", "Chưa có gì được gửi đi", "Nội dung theo lịch",
                 "Chưa có nội dung."):
        assert text not in page


def test_english_kits_sms_and_flash_messages(app, client):
    login(client, make_user(app, "communicator"))
    english(client)
    page = client.get("/kits/").get_data(as_text=True)
    assert "Communication kits" in page and "No kits yet." in page
    assert "Bộ tài liệu truyền thông" not in page and "Chưa có bộ tài liệu nào" not in page

    page = client.get("/sms/lists").get_data(as_text=True)
    assert "SMS recipient lists" in page and "Upload a list" in page and "At most " in page
    assert "Danh sách người nhận" not in page and "Tải lên danh sách" not in page

    # a message flashed from Python code
    page = client.post("/sms/lists", data={"name": "x"}, follow_redirects=True).get_data(as_text=True)
    assert "Please choose a list file (CSV or Excel .xlsx)." in page
    assert "Vui lòng chọn tệp danh sách" not in page


def test_english_unit_results_page(app, client, monkeypatch):
    from tests.measure_helpers import setup_world

    world = setup_world(app, monkeypatch)
    login(client, world["users"]["district"])
    english(client)
    r = client.get(f"/measure/units/tx-vinh-chau?year={world['year']}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    for text in ("results for", "Outstanding items", "Assigned tasks", "Figures entered",
                 "Results tracking"):
        assert text in page
    for text in ("kết quả năm", "Việc còn nợ", "Nhiệm vụ được giao", "Số liệu đã nhập",
                 "Theo dõi kết quả"):
        assert text not in page


def test_vietnamese_stays_the_default(app, client):
    page = client.get("/y-kien").get_data(as_text=True)
    assert 'lang="vi"' in page and "Góp ý về dịch vụ công trực tuyến" in page
    assert "Feedback on online public services" not in page
