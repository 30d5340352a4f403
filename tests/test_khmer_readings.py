"""Khmer readings (issue #17): processing, storage, the kit's bilingual audio, who may
record, the units form and the demo's Khmer communes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from campaigns.kits import readings
from campaigns.kits.readings import LIVE_NOTE, ReadingError, process_reading
from core.db import session_scope
from core.models import OrgUnit
from media_templates.speech import read_wav, write_wav
from tests.conftest import make_app
from tests.fakes.kits import fake_kit, make_campaign, unit_id
from tests.helpers import login, make_user
from tests.khmer_helpers import convert, ebur128, leading_silence, speech_wav

KHMER = "សូមបងប្អូនប្រើប្រាស់សេវាសាធារណៈតាមអ៊ីនធឺណិត។"
BASE_URL = "https://lantoa.soctrang.gov.vn"
BILINGUAL = {
    "title": "Bản tin loa: Dịch vụ công trực tuyến",
    "body": "Bà con có thể nộp hồ sơ thủ tục hành chính trực tuyến, không phải đi lại.",
    "variants": {"texts": {"km": KHMER},
                 "script": {"call_to_action": "Bà con hãy kích hoạt tài khoản VNeID mức 2."}},
}
VIETNAMESE = {
    "title": "Bản tin loa: Hưởng ứng Ngày Chuyển đổi số",
    "body": "Từ ngày 10/10/2025, bà con có thể nộp hồ sơ trực tuyến qua Cổng dịch vụ công.",
}


def _set_khmer(app, code: str, uses: bool = True) -> None:
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
        unit.uses_khmer = uses
        s.add(unit)


# -- processing -------------------------------------------------------------------------------


@pytest.mark.parametrize("peak_db", [-38.0, -0.5])
def test_quiet_and_loud_recordings_are_levelled_and_trimmed(tmp_path, peak_db):
    raw = speech_wav(peak_db=peak_db, lead=2.0, tail=3.0)
    assert leading_silence(raw) > 1.9
    p = process_reading(raw)
    (tmp_path / "r.wav").write_bytes(p.wav)
    (tmp_path / "r.mp3").write_bytes(p.mp3)
    for name in ("r.wav", "r.mp3"):
        lufs, peak = ebur128(tmp_path / name)
        assert lufs == pytest.approx(-16.0, abs=1.0), name
        assert peak <= -1.0, name
    assert p.lufs == pytest.approx(-16.0, abs=0.3) and p.true_peak <= -1.4
    assert p.trimmed[0] > 1.6 and p.trimmed[1] > 2.6  # the padding is gone ...
    assert leading_silence(p.wav) < 0.3  # ... and the speech starts right away
    x, rate = read_wav(p.wav)
    assert rate == readings.RATE and len(x) / rate == pytest.approx(p.seconds, abs=0.05)
    assert p.container == "WAV"


@pytest.mark.parametrize(("fmt", "container"), [("mp3", "MP3"), ("ogg", "OGG"), ("webm", "WebM"), ("m4a", "M4A")])
def test_other_containers_are_recognised_by_content(tmp_path, fmt, container):
    data = convert(speech_wav(peak_db=-20.0), fmt, tmp_path)
    p = process_reading(data)
    assert p.container == container
    (tmp_path / "r.wav").write_bytes(p.wav)
    assert ebur128(tmp_path / "r.wav")[0] == pytest.approx(-16.0, abs=1.0)


def _tone(seconds: float, rate: int = 8000, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_bad_recordings_are_refused_with_clear_messages(tmp_path, monkeypatch):
    rate = 8000
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(png, "PNG")
    cases = [
        (b"", "Tệp trống"),
        ("Xin chào, đây là văn bản.".encode() * 50, "không phải là tệp âm thanh"),
        (write_wav(np.zeros(rate * 4, np.float32), rate), "chỉ có im lặng"),
        (write_wav(np.concatenate([np.zeros(rate), _tone(0.4), np.zeros(rate)]), rate), "quá ngắn"),
        (write_wav(np.concatenate([_tone(1.0), np.zeros(rate * 780)]), rate), "quá dài"),
    ]
    cases.append((png.getvalue(), "không được hỗ trợ"))  # an image, whatever its name
    for data, words in cases:
        with pytest.raises(ReadingError) as err:
            process_reading(data)
        assert words in err.value.message, (words, err.value.message)
    monkeypatch.setattr(readings, "MAX_BYTES", 1000)
    with pytest.raises(ReadingError, match="quá lớn"):
        process_reading(write_wav(_tone(2.0), rate))
    monkeypatch.setattr(readings, "MAX_BYTES", 25 * 1024 * 1024)
    monkeypatch.setattr(readings, "MAX_SECONDS", 1.5)
    with pytest.raises(ReadingError, match="quá dài"):
        process_reading(write_wav(_tone(3.0), rate))


# -- the kit ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("khmer-kits")
    app = make_app(f"sqlite:///{tmp / 'k.db'}", tmp, WTF_CSRF_ENABLED=False,
                   LANTOA_PUBLIC_BASE_URL=BASE_URL, PUBLIC_BASE_URL=BASE_URL)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


def _build(app, cid):
    from campaigns.kits.builder import KitConfig, build_campaign_kits
    from campaigns.models import Kit

    with app.app_context(), session_scope(app) as s:
        summary = build_campaign_kits(s, cid, KitConfig.from_app(app), workers=1)
        kits = {}
        for kit in s.exec(select(Kit).where(Kit.campaign_id == cid)).all():
            code = s.get(OrgUnit, kit.unit_id).code
            kits[code] = {"id": kit.id, "path": Path(kit.path), "version": kit.version,
                          "warnings": list(kit.warnings), "contents": list(kit.contents)}
    return summary, kits


@pytest.fixture(scope="module")
def kits(kit_app, tmp_path_factory):
    """A Khmer commune (uses_khmer) and another, built without then with a reading."""
    make_user(kit_app, "admin", None)
    _set_khmer(kit_app, "xa-lac-hoa")
    _set_khmer(kit_app, "xa-nhon-my", False)
    cid = make_campaign(kit_app, scope=("xa-lac-hoa", "xa-nhon-my"), scripts=[BILINGUAL, VIETNAMESE])
    before_summary, before = _build(kit_app, cid)
    with kit_app.app_context(), session_scope(kit_app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        item = readings.khmer_items(s, cid, unit)
        assert [i.title for i in item] == [BILINGUAL["title"]]
        row = readings.save_reading(
            s, Path(kit_app.config["LANTOA_MEDIA_DIR"]), campaign_id=cid, unit=unit,
            item_id=item[0].id, processed=process_reading(speech_wav(peak_db=-35.0)),
            source="uploaded", original_name="doc.wav")
        reading = {"id": row.id, "path": row.path, "seconds": row.duration_s}
    after_summary, after = _build(kit_app, cid)
    return {"cid": cid, "before": before, "after": after, "reading": reading,
            "summaries": (before_summary, after_summary)}


def _radio(names, prefix):
    return sorted(n for n in names if n.startswith("2. Truyền thanh/" + prefix))


@pytest.mark.slow
def test_without_a_reading_the_kit_says_the_khmer_part_is_read_live(kits):
    kit = kits["before"]["xa-lac-hoa"]
    zf = zipfile.ZipFile(kit["path"])
    names = zf.namelist()
    first = _radio(names, "01.")
    assert [n.rsplit(".", 1)[1] for n in first] == ["docx", "mp3", "pdf", "txt", "wav"]
    assert not any("tiếng Khmer" in n for n in names)
    assert any(LIVE_NOTE in w for w in kit["warnings"])
    assert not any("Chưa có giọng đọc tiếng Khmer" in w for w in kit["warnings"])
    readme = zf.read("README.txt").decode("utf-8-sig")
    assert readme.count(LIVE_NOTE) >= 2  # in the contents list and the notes
    txt = zf.read(next(n for n in first if n.endswith(".txt"))).decode("utf-8-sig")
    assert KHMER in txt and "Sau đây là phần thông tin bằng tiếng Khmer" in txt  # bilingual script
    # a commune that does not use Khmer gets the Vietnamese script, without Khmer
    other = zipfile.ZipFile(kits["before"]["xa-nhon-my"]["path"])
    txt = other.read(next(n for n in _radio(other.namelist(), "01.") if n.endswith(".txt")))
    assert KHMER not in txt.decode("utf-8-sig")
    assert not any(LIVE_NOTE in w for w in kits["before"]["xa-nhon-my"]["warnings"])


@pytest.mark.slow
def test_a_reading_rebuilds_the_kit_and_is_inside_normalised(kits, tmp_path):
    before, after = kits["before"]["xa-lac-hoa"], kits["after"]["xa-lac-hoa"]
    assert after["version"] == before["version"] + 1
    assert kits["after"]["xa-nhon-my"]["version"] == kits["before"]["xa-nhon-my"]["version"]
    assert kits["summaries"][1]["built"] == 1 and kits["summaries"][1]["unchanged"] == 1
    zf = zipfile.ZipFile(after["path"])
    names = zf.namelist()
    base = "2. Truyền thanh/01. Dịch vụ công trực tuyến"
    assert f"{base} – phần tiếng Khmer.mp3" in names and f"{base} – phần tiếng Khmer.wav" in names
    assert not any(LIVE_NOTE in w for w in after["warnings"])
    readme = zf.read("README.txt").decode("utf-8-sig")
    assert "phần tiếng Khmer do phát thanh viên đọc" in readme and LIVE_NOTE not in readme
    # the reading is the stored, levelled one; as loud as the kit's Vietnamese audio
    assert zf.read(f"{base} – phần tiếng Khmer.wav") == Path(kits["reading"]["path"]).read_bytes()
    vi_base = next(n for n in _radio(names, "02.") if n.endswith(".wav"))[:-4]
    for ext in ("wav", "mp3"):
        km_file, vi_file = tmp_path / f"km.{ext}", tmp_path / f"vi.{ext}"
        km_file.write_bytes(zf.read(f"{base} – phần tiếng Khmer.{ext}"))
        vi_file.write_bytes(zf.read(f"{vi_base}.{ext}"))
        (km_lufs, km_peak), (vi_lufs, _vi_peak) = ebur128(km_file), ebur128(vi_file)
        assert abs(km_lufs - vi_lufs) <= 1.0, (ext, km_lufs, vi_lufs)
        assert km_peak <= -1.0
    # the bilingual audio: the Vietnamese part, a pause, the reading -- longer than before
    def seconds(zf_, name):
        x, rate = read_wav(zf_.read(name))
        return len(x) / rate

    old = zipfile.ZipFile(before["path"])
    vi_only = seconds(old, f"{base}.wav")
    both = seconds(zf, f"{base}.wav")
    assert both == pytest.approx(vi_only + readings.PAUSE_SECONDS + kits["reading"]["seconds"], abs=0.3)
    (tmp_path / "both.mp3").write_bytes(zf.read(f"{base}.mp3"))
    lufs, peak = ebur128(tmp_path / "both.mp3")
    assert lufs == pytest.approx(-16.0, abs=1.0) and peak <= -1.0


@pytest.mark.slow
def test_the_kit_page_shows_the_section_and_the_reading(kit_app, kits):
    client = kit_app.test_client()
    officer = make_user(kit_app, "unit_officer", "xa-lac-hoa")
    login(client, officer)
    page = client.get(f"/kits/{kits['after']['xa-lac-hoa']['id']}").get_data(as_text=True)
    assert "Bản đọc tiếng Khmer" in page and KHMER in page and LIVE_NOTE not in page
    assert f"/khmer/{kits['reading']['id']}.mp3" in page and "khmer-recorder" in page
    audio = client.get(f"/kits/{kits['after']['xa-lac-hoa']['id']}/khmer/{kits['reading']['id']}.mp3")
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg" and len(audio.data) > 1000
    other = client.get(f"/kits/{kits['after']['xa-nhon-my']['id']}")
    assert other.status_code == 404
    login(client, make_user(kit_app, "admin", None))
    page = client.get(f"/kits/{kits['after']['xa-nhon-my']['id']}").get_data(as_text=True)
    assert "Bản đọc tiếng Khmer" not in page  # no Khmer part for a unit without Khmer


# -- who may record ----------------------------------------------------------------------------


@pytest.fixture
def khmer_kit(app, tmp_path):
    """A Khmer commune's kit (a ready row, no rendering) with one bilingual bulletin."""
    cid = make_campaign(app, scope=("tx-vinh-chau", "ke-sach"), scripts=[BILINGUAL, VIETNAMESE])
    _set_khmer(app, "xa-lac-hoa")
    kit_id = fake_kit(app, cid, "xa-lac-hoa", tmp_path)
    other = fake_kit(app, cid, "xa-nhon-my", tmp_path)
    with app.app_context(), session_scope(app) as s:
        from campaigns.models import ContentItem

        items = {i.title: i.id for i in s.exec(select(ContentItem).where(ContentItem.campaign_id == cid))}
    return {"cid": cid, "kit": kit_id, "other": other, "item": items[BILINGUAL["title"]],
            "vi_item": items[VIETNAMESE["title"]]}


@pytest.fixture(scope="module")
def recording():
    return speech_wav(peak_db=-25.0, lead=0.5, tail=0.5, rate=16000)


def _post(client, kit_id, item_id, data: bytes, *, json=True, name="ban-doc.webm"):
    headers = {"Accept": "application/json"} if json else {}
    return client.post(f"/kits/{kit_id}/khmer", headers=headers, content_type="multipart/form-data",
                       data={"item_id": str(item_id), "source": "recorded",
                             "audio": (io.BytesIO(data), name)})


#: role, unit -> answer to recording on xa-lac-hoa's kit
RECORDERS = [
    ("admin", None, 200),
    ("communicator", "so-vhttdl", 200),
    ("unit_officer", "xa-lac-hoa", 200),
    ("unit_officer", "tx-vinh-chau", 403),  # sees the commune's kit, does not record for it
    ("unit_officer", "xa-nhon-my", 404),
    ("reviewer", "so-khcn", 403),
    ("telecom_partner", "viettel", 403),
    ("translator", None, 403),
]


@pytest.mark.parametrize(("role", "unit", "status"), RECORDERS)
def test_who_may_record_a_reading(app, client, khmer_kit, recording, role, unit, status):
    from campaigns.kits.models import KhmerReading
    from scheduler.models import BackgroundJob

    login(client, make_user(app, role, unit))
    res = _post(client, khmer_kit["kit"], khmer_kit["item"], recording)
    assert res.status_code == status
    with app.app_context(), session_scope(app) as s:
        rows = s.exec(select(KhmerReading)).all()
        jobs = s.exec(select(BackgroundJob).where(BackgroundJob.name == "kits.build")).all()
        if status == 200:
            assert res.get_json()["ok"] and "Đã lưu bản đọc tiếng Khmer" in res.get_json()["message"]
            assert len(rows) == 1 and rows[0].source == "recorded"
            assert rows[0].unit_id == unit_id(s, "xa-lac-hoa") and rows[0].item_id == khmer_kit["item"]
            assert rows[0].lufs == pytest.approx(-16.0, abs=0.3) and Path(rows[0].path).is_file()
            assert readings.mp3_path(rows[0]).is_file()
            assert any((j.payload or {}).get("unit_ids") == [unit_id(s, "xa-lac-hoa")] for j in jobs)
        else:
            assert rows == []


def test_anonymous_cannot_record(app, client, khmer_kit, recording):
    res = _post(client, khmer_kit["kit"], khmer_kit["item"], recording, json=False)
    assert res.status_code in (302, 401) and "/login" in res.headers.get("Location", "/login")


def test_recorder_shown_only_to_those_who_may_record(app, client, khmer_kit):
    for role, unit, shown in [("unit_officer", "xa-lac-hoa", True), ("communicator", "so-vhttdl", True),
                              ("unit_officer", "tx-vinh-chau", False), ("reviewer", "so-khcn", False)]:
        login(client, make_user(app, role, unit))
        page = client.get(f"/kits/{khmer_kit['kit']}").get_data(as_text=True)
        assert "Bản đọc tiếng Khmer" in page and LIVE_NOTE in page and KHMER in page
        assert ("khmer-recorder" in page) is shown and ('name="audio"' in page) is shown, (role, unit)
        policy = client.get(f"/kits/{khmer_kit['kit']}").headers["Permissions-Policy"]
        assert ("microphone=(self)" in policy) is shown and "camera=()" in policy


def test_bad_uploads_get_vietnamese_errors_not_500(app, client, khmer_kit, recording, tmp_path):
    login(client, make_user(app, "unit_officer", "xa-lac-hoa"))
    res = _post(client, khmer_kit["kit"], khmer_kit["item"], b"not audio at all" * 20)
    assert res.status_code == 422 and "không phải là tệp âm thanh" in res.get_json()["error"]
    silent = write_wav(np.zeros(16000 * 3, np.float32), 16000)
    res = _post(client, khmer_kit["kit"], khmer_kit["item"], silent)
    assert res.status_code == 422 and "im lặng" in res.get_json()["error"]
    res = _post(client, khmer_kit["kit"], khmer_kit["vi_item"], recording)
    assert res.status_code == 422 and "phần tiếng Khmer" in res.get_json()["error"]
    res = client.post(f"/kits/{khmer_kit['kit']}/khmer", data={"item_id": str(khmer_kit["item"])},
                      headers={"Accept": "application/json"})
    assert res.status_code == 422 and "Chưa có bản ghi âm" in res.get_json()["error"]
    # the plain form (no JavaScript): back to the kit page with the message
    res = _post(client, khmer_kit["kit"], khmer_kit["item"], silent, json=False, name="x.mp3")
    assert res.status_code == 302 and f"/kits/{khmer_kit['kit']}" in res.headers["Location"]
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "im lặng" in page
    # an uploaded MP3 through the plain form
    mp3 = convert(recording, "mp3", tmp_path)
    res = _post(client, khmer_kit["kit"], khmer_kit["item"], mp3, json=False, name="doc.mp3")
    assert res.status_code == 302
    page = client.get(res.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu bản đọc tiếng Khmer" in page and "Đã có bản ghi âm" in page and LIVE_NOTE not in page


def test_reading_audio_follows_kit_visibility(app, client, khmer_kit, recording):
    login(client, make_user(app, "unit_officer", "xa-lac-hoa"))
    rid = _post(client, khmer_kit["kit"], khmer_kit["item"], recording).get_json()["reading_id"]
    url = f"/kits/{khmer_kit['kit']}/khmer/{rid}.mp3"
    for role, unit, status in [("reviewer", "so-khcn", 200), ("unit_officer", "tx-vinh-chau", 200),
                               ("unit_officer", "xa-nhon-my", 404)]:
        login(client, make_user(app, role, unit))
        assert client.get(url).status_code == status, (role, unit)
    login(client, make_user(app, "admin", None))
    assert client.get(f"/kits/{khmer_kit['other']}/khmer/{rid}.mp3").status_code == 404


# -- units form and demo -----------------------------------------------------------------------


def test_admin_sets_uses_khmer_and_share(app, client):
    from core.models import AuditLog

    login(client, make_user(app, "admin", None))
    with app.app_context(), session_scope(app) as s:
        uid = unit_id(s, "xa-nhon-my")
    assert "Tiếng Khmer" in client.get("/units").get_data(as_text=True)
    res = client.post(f"/units/{uid}/khmer", data={"uses_khmer": "1", "khmer_share": "150"})
    assert res.status_code == 422 and "từ 0 đến 100" in res.get_data(as_text=True)
    res = client.post(f"/units/{uid}/khmer", data={"uses_khmer": "1", "khmer_share": "35"})
    assert res.status_code == 302
    with app.app_context(), session_scope(app) as s:
        unit = s.get(OrgUnit, uid)
        assert unit.uses_khmer and unit.khmer_share == 35
        assert s.exec(select(AuditLog).where(AuditLog.action == "unit.khmer")).first() is not None
    assert "Có (35 %)" in client.get("/units").get_data(as_text=True)
    client.post(f"/units/{uid}/khmer", data={"khmer_share": ""})
    with app.app_context(), session_scope(app) as s:
        unit = s.get(OrgUnit, uid)
        assert not unit.uses_khmer and unit.khmer_share is None
    login(client, make_user(app, "communicator", "so-vhttdl"))
    assert client.post(f"/units/{uid}/khmer", data={"uses_khmer": "1"}).status_code == 403


def test_seed_demo_marks_khmer_communes(app, runner):
    from campaigns.demo import KHMER_UNITS, KHMER_UNITS_2025

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context(), session_scope(app) as s:
        marked = {u.code for u in s.exec(select(OrgUnit).where(OrgUnit.uses_khmer)).all()}
    assert marked == set(KHMER_UNITS) and "xa-lac-hoa" in marked and "tt-ke-sach" not in marked
    result = runner.invoke(args=["seed-demo", "--structure", "2025"])
    assert result.exit_code == 0, result.output
    with app.app_context(), session_scope(app) as s:
        marked = {u.code for u in s.exec(select(OrgUnit).where(OrgUnit.uses_khmer)).all()}
    assert set(KHMER_UNITS_2025) <= marked and "phuong-ninh-kieu" not in marked


@pytest.mark.slow
def test_a_rebuild_reuses_the_bilingual_audio_when_its_inputs_did_not_change(kit_app, kits):
    """After the Vietnamese-only bulletin changes, the Khmer commune's kit is rebuilt: the
    bilingual bulletin's audio (its Vietnamese lines and the reading are the same) is taken
    from the previous version, byte for byte, and only the changed bulletin's files are new."""
    import hashlib

    from campaigns.models import ContentItem

    def hashes(path):
        with zipfile.ZipFile(path) as zf:
            return {n: hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()}

    before = hashes(kits["after"]["xa-lac-hoa"]["path"])
    with kit_app.app_context(), session_scope(kit_app) as s:
        s.info["kits_no_watch"] = True
        item = s.exec(select(ContentItem).where(ContentItem.campaign_id == kits["cid"],
                                                ContentItem.title == VIETNAMESE["title"])).one()
        item.body = "Từ nay bà con nộp hồ sơ trực tuyến tại nhà, không phải xếp hàng."
        s.add(item)
    summary, rebuilt = _build(kit_app, kits["cid"])
    now = hashes(rebuilt["xa-lac-hoa"]["path"])
    bilingual = [n for n in _radio(now, "01.") if n.endswith((".mp3", ".wav"))]
    assert len(bilingual) == 4  # the bilingual MP3/WAV and the reading alone, MP3/WAV
    assert all(now[n] == before[n] for n in bilingual)
    assert any(now[n] != before[n] for n in _radio(now, "02."))  # the changed bulletin
    assert summary["files_reused"] > 0 and summary["files_rebuilt"] > 0
