"""Composed kit builds (campaigns/kits/compose.py): the shared artwork and audio are
rendered once per run and each unit's files composed from them. The composed files must
say the same as a from-scratch build (pages, boxes, text, QR codes, audio lengths and
level, the ZIP's file list), and a rebuild after one content item changes must rebuild
only the files that depend on it, and say so in the job's progress."""

from __future__ import annotations

import hashlib
import io
import subprocess
import unicodedata
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import select

from campaigns.kits import compose
from campaigns.kits.builder import PRINT_DIR, RADIO_DIR, KitConfig, build_campaign_kits
from campaigns.models import ContentItem, Kit
from core.db import get_engine, session_scope
from core.models import OrgUnit
from tests._require import require_executable
from tests.conftest import make_app
from tests.fakes.kits import make_campaign
from tests.test_kits_content import PRINTS, decode_qr

PUBLIC = "https://lantoa.soctrang.gov.vn"
UNITS = ("xa-lac-hoa", "xa-nhon-my")
SCRIPTS = [
    {"title": "Bản tin loa: Dịch vụ công là gì", "body": "Dịch vụ công giúp bà con."},
    {"title": "Bản tin loa: Hưởng ứng ngày 10/10", "body": "Hôm nay là ngày 10/10."},
]
#: always written anew (version number, build date; the workbook's timestamps)
ALWAYS_NEW = ("README.txt", "3. Lịch phát thanh.xlsx")


def _build(app, cid, *, compose_on: bool, force: bool = True, progress=None) -> dict:
    with app.app_context(), session_scope(app) as s:
        config = replace(KitConfig.from_app(app), compose=compose_on)
        summary = build_campaign_kits(s, cid, config, workers=1, force=force, progress=progress)
        kits = s.exec(select(Kit).where(Kit.campaign_id == cid)).all()
        codes = {u.id: u.code for u in s.exec(select(OrgUnit)).all()}
        files = {codes[k.unit_id]: Path(k.path).read_bytes() for k in kits}
    return {"summary": summary, "zips": files, "stats": dict(compose.STATS)}


class SteadyVoice:
    """A deterministic stand-in voice: eSpeak NG's output length varies by a few
    milliseconds from one call to the next, so "same duration" is checked with a voice
    that says a text the same way every time (a tone per syllable, silence between)."""

    name = "steady-test"
    voices = ["vi"]

    def synthesize(self, text: str, voice: str = "vi") -> bytes:
        import numpy as np

        from media_templates.speech import write_wav

        rate = 22050
        parts = [np.zeros(int(0.05 * rate), dtype=np.float32)]
        for word in text.split():
            n = int(0.09 * rate) + 40 * (sum(map(ord, word)) % 50)
            t = np.arange(n, dtype=np.float32) / rate
            parts.append((0.3 * np.sin(2 * np.pi * (180 + len(word) * 15) * t)).astype(np.float32))
            parts.append(np.zeros(int(0.04 * rate), dtype=np.float32))
        return write_wav(np.concatenate(parts), rate)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    from media_templates.speech import engines

    engines._ENGINES[SteadyVoice.name] = SteadyVoice
    tmp = tmp_path_factory.mktemp("composed")
    app = make_app(f"sqlite:///{tmp / 'kits.db'}", tmp, WTF_CSRF_ENABLED=False,
                   LANTOA_PUBLIC_BASE_URL=PUBLIC, LANTOA_TTS_ENGINE=SteadyVoice.name)
    cid = make_campaign(app, scope=UNITS, prints=PRINTS, scripts=SCRIPTS, days=14)
    scratch = _build(app, cid, compose_on=False)
    composed = _build(app, cid, compose_on=True)
    yield {"app": app, "cid": cid, "scratch": scratch, "composed": composed}
    get_engine(app).dispose()
    engines._ENGINES.pop(SteadyVoice.name, None)


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _pages(pdf: bytes, tmp: Path) -> list[str]:
    """Each page's text (pdftotext, one page at a time), whitespace folded."""
    from pypdf import PdfReader

    exe = require_executable("pdftotext", "poppler-utils")
    src = tmp / "t.pdf"
    src.write_bytes(pdf)
    out = []
    for n in range(1, len(PdfReader(io.BytesIO(pdf)).pages) + 1):
        text = subprocess.run([exe, "-enc", "UTF-8", "-f", str(n), "-l", str(n), str(src), "-"],
                              capture_output=True, check=True).stdout.decode("utf-8")
        out.append(" ".join(unicodedata.normalize("NFC", text).split()))
    return out


def _boxes(pdf: bytes) -> list[tuple]:
    from pypdf import PdfReader

    return [
        tuple(tuple(round(float(v), 2) for v in getattr(p, box)) for box in
              ("mediabox", "trimbox", "bleedbox"))
        for p in PdfReader(io.BytesIO(pdf)).pages
    ]


def test_both_builds_made_every_kit(builds):
    for which in ("scratch", "composed"):
        summary = builds[which]["summary"]
        assert summary["built"] == len(UNITS) and not summary["failed"], which
        assert set(builds[which]["zips"]) == set(UNITS)
    stats = builds["composed"]["stats"]
    # 4 print products: one artwork each, used by both units; nothing rendered in full
    assert stats["bases"] == 4 and stats["base_hits"] == 4 and stats["full"] == 0
    # the lines every unit says were spoken once
    assert stats["segment_hits"] > 0
    assert builds["scratch"]["stats"]["full"] == 4 * len(UNITS)


def test_same_files_in_every_zip(builds):
    for code in UNITS:
        a = _entries(builds["scratch"]["zips"][code])
        b = _entries(builds["composed"]["zips"][code])
        assert list(a) == list(b)
        assert sum(n.startswith(PRINT_DIR) for n in b) == 4
        assert sum(n.endswith(".mp3") for n in b) == len(SCRIPTS)


def test_composed_print_pdfs_say_the_same(builds, tmp_path):
    for code in UNITS:
        a = _entries(builds["scratch"]["zips"][code])
        b = _entries(builds["composed"]["zips"][code])
        for name in (n for n in b if n.endswith(".pdf")):
            assert _boxes(a[name]) == _boxes(b[name]), name
            pages_a, pages_b = _pages(a[name], tmp_path), _pages(b[name], tmp_path)
            assert len(pages_a) == len(pages_b), name
            for ta, tb in zip(pages_a, pages_b, strict=True):
                assert sorted(ta.split()) == sorted(tb.split()), name
                assert ta == tb, name
            if name.startswith(PRINT_DIR):
                # the composed page paints the shared artwork as a form XObject
                assert b"/LtArtwork" in _inflated(b[name])
                link = f"{PUBLIC}/r/{builds['cid']}/{code}"
                for n, pdf in enumerate((a[name], b[name])):
                    found = []
                    for page in range(1, len(pages_a) + 1):
                        where = tmp_path / f"qr-{_slug(name)}-{code}-{n}-{page}"
                        where.mkdir()
                        found += decode_qr(pdf, where, page)
                    assert found == [link], name


def _slug(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:12]


def _inflated(pdf: bytes) -> bytes:
    from pypdf import PdfReader

    return b"".join(p.get_contents().get_data() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_the_unit_name_is_on_its_own_composed_poster(builds, tmp_path):
    names = {}
    app = builds["app"]
    with app.app_context(), session_scope(app) as s:
        for u in s.exec(select(OrgUnit).where(OrgUnit.code.in_(UNITS))).all():
            names[u.code] = u.name
    for code in UNITS:
        b = _entries(builds["composed"]["zips"][code])
        poster = next(n for n in b if n.startswith(f"{PRINT_DIR}/Áp phích A3"))
        text = " ".join(_pages(b[poster], tmp_path))
        other = next(c for c in UNITS if c != code)
        assert names[code].upper() in text.upper()
        assert names[other].upper() not in text.upper()


def test_composed_audio_lasts_and_sounds_the_same(builds):
    from media_templates.speech import measure_loudness, measure_true_peak, wav_duration

    for code in UNITS:
        a = _entries(builds["scratch"]["zips"][code])
        b = _entries(builds["composed"]["zips"][code])
        for name in (n for n in b if n.endswith(".wav")):
            da, db = wav_duration(a[name]), wav_duration(b[name])
            assert abs(da - db) < 0.005, (name, da, db)
            assert da > 5
            # loudness normalisation holds for the joined programme
            assert abs(measure_loudness(b[name]) + 16.0) < 0.7, name
            assert measure_true_peak(b[name]) <= -1.4, name
            mp3 = name[:-4] + ".mp3"
            ma = compose.mp3_samples(a[mp3])
            mb = compose.mp3_samples(b[mp3])
            assert ma == mb
            # the MP3 decodes to as many samples as the WAV holds (same length, same timing)
            assert abs(mb / 22050 - db) < 0.005


def test_espeak_audio_is_levelled_when_joined():
    """With the real voice: the joined lines are at the target loudness, under the peak
    ceiling, and the MP3 decodes to the WAV's length."""
    from media_templates.scripts import render_script
    from media_templates.speech import measure_loudness, measure_true_peak, wav_duration

    data = {"unit_name": "xã Lạc Hòa", "campaign_title": "Ngày Chuyển đổi số quốc gia 10/10",
            "key_message": "Bà con có thể nộp hồ sơ trực tuyến mọi lúc, mọi nơi.",
            "call_to_action": "Bà con hãy kích hoạt tài khoản định danh điện tử.",
            "office_address": "ấp Phú Hữu, xã Lạc Hòa", "hotline": "0299 3822 222"}
    script = render_script(data, template="loudspeaker_default")
    compose.reset()
    audio = compose.script_audio(script, engine="espeak")
    assert abs(measure_loudness(audio["wav"]) + 16.0) < 0.7
    assert measure_true_peak(audio["wav"]) <= -1.4
    seconds = wav_duration(audio["wav"])
    assert abs(compose.mp3_samples(audio["mp3"]) / 22050 - seconds) < 0.001
    # the second time, every line comes from the run's cache: the same bytes
    hits = compose.STATS["segment_hits"]
    again = compose.script_audio(script, engine="espeak")
    lines = sum(len(s) for s in compose.reading_lines(script))
    assert compose.STATS["segment_hits"] - hits == lines
    assert again == audio


def test_mp3_chunks_join_without_gaps():
    import numpy as np

    from media_templates.speech import wav_to_mp3, write_wav

    x = np.zeros(compose.CHUNK_ALIGN * 10, dtype=np.float32)
    x[3000:3100] = 0.5
    mp3 = wav_to_mp3(write_wav(x, 22050), 64, true_peak_db=None)
    assert compose.mp3_samples(mp3) == len(x) + compose.CHUNK_ALIGN
    assert compose.mp3_samples(mp3 + mp3) == 2 * (len(x) + compose.CHUNK_ALIGN)


def _hashes(data: bytes) -> dict[str, str]:
    return {n: hashlib.sha256(b).hexdigest() for n, b in _entries(data).items()}


def test_rebuild_after_one_item_changes_only_its_files(builds):
    app, cid = builds["app"], builds["cid"]
    before = {code: _hashes(z) for code, z in builds["composed"]["zips"].items()}
    with app.app_context(), session_scope(app) as s:
        s.info["kits_no_watch"] = True
        item = s.exec(
            select(ContentItem).where(ContentItem.campaign_id == cid,
                                      ContentItem.channel == "loudspeaker")
            .order_by(ContentItem.id)
        ).first()
        item.body = "Dịch vụ công trực tuyến giúp bà con tiết kiệm thời gian đi lại."
        s.add(item)
    seen: list[dict] = []

    def progress(fraction, **info):
        seen.append({"fraction": fraction, **info})

    after = _build(app, cid, compose_on=True, force=False, progress=progress)
    assert after["summary"]["built"] == len(UNITS)
    per_kit = len(before[UNITS[0]]) - len(ALWAYS_NEW)
    changed_per_kit = 5  # the first bulletin's DOCX, PDF, TXT, MP3 and WAV
    for code in UNITS:
        now = _hashes(after["zips"][code])
        assert list(now) == list(before[code])
        changed = {n for n in now if now[n] != before[code][n]} - set(ALWAYS_NEW)
        assert changed == {n for n in now if n.startswith(f"{RADIO_DIR}/01.")}, code
        assert len(changed) == changed_per_kit
    rebuilt = changed_per_kit * len(UNITS)
    reused = (per_kit - changed_per_kit) * len(UNITS)
    assert after["summary"]["files_rebuilt"] == rebuilt
    assert after["summary"]["files_reused"] == reused
    assert seen[-1]["files_rebuilt"] == rebuilt and seen[-1]["files_reused"] == reused
    assert seen[-1]["message"] == f"Dựng lại {rebuilt} tệp, dùng lại {reused} tệp"


def test_forced_build_renders_every_file(builds):
    after = _build(builds["app"], builds["cid"], compose_on=True, force=True)
    assert after["summary"]["files_reused"] == 0
    assert after["summary"]["files_rebuilt"] > 0


def test_kits_page_shows_the_file_counts(builds):
    from core.timeutil import utcnow
    from scheduler.models import BackgroundJob
    from tests.helpers import login, make_user

    app, cid = builds["app"], builds["cid"]
    with app.app_context(), session_scope(app) as s:
        s.info["kits_no_watch"] = True
        s.add(BackgroundJob(name="kits.build", payload={"campaign_id": cid}, status="done",
                            progress=1.0, dedupe_key=f"kits.build:{cid}:test",
                            result={"built": 2, "unchanged": 0, "failed": [],
                                    "files_rebuilt": 10, "files_reused": 1234},
                            created_at=utcnow()))
    user = make_user(app, "admin")
    client = app.test_client()
    login(client, user)
    html = client.get("/kits/").get_data(as_text=True)
    assert "Dựng lại 10 tệp, dùng lại 1.234 tệp" in html


def test_the_job_reports_file_counts_in_its_progress(builds):
    """The scheduler's progress(fraction, **info) gets the counts and the Vietnamese line."""
    from campaigns.kits.jobs import run_kit_build

    seen: list[dict] = []

    def progress(fraction=None, **info):
        seen.append({"fraction": fraction, **info})
        return True

    app = builds["app"]
    with app.app_context():
        result = run_kit_build(app, {"campaign_id": builds["cid"]}, progress)
    assert result["unchanged"] == len(UNITS)  # nothing changed since the last build
    assert seen[-1]["fraction"] == 1.0
    assert seen[-1]["message"] == "Dựng lại 0 tệp, dùng lại 0 tệp"
    assert result["files_rebuilt"] == 0 and result["files_reused"] == 0


def _docx_parts(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def test_composed_docx_are_python_docx_part_for_part(builds):
    """The composed DOCX (a shared skeleton with the unit's texts put in) holds the same
    parts, byte for byte, as python-docx writes for the unit from scratch."""
    assert builds["composed"]["stats"]["docx_hits"] > 0  # the skeletons were used
    for code in UNITS:
        a = _entries(builds["scratch"]["zips"][code])
        b = _entries(builds["composed"]["zips"][code])
        names = [n for n in b if n.endswith(".docx")]
        assert len(names) == len(SCRIPTS)
        for name in names:
            assert _docx_parts(a[name]) == _docx_parts(b[name]), name


@pytest.mark.parametrize("case", ["plain", "escaped", "slots_and_notes", "khmer", "spaces"])
def test_script_docx_matches_python_docx(case):
    import dataclasses
    from datetime import date

    from media_templates.scripts import render_script, script_to_docx

    data = {"unit_name": "Xã Lạc Hòa", "campaign_title": "Ngày Chuyển đổi số quốc gia 10/10",
            "key_message": "Bà con có thể nộp hồ sơ trực tuyến mọi lúc, mọi nơi.",
            "call_to_action": "Bà con hãy kích hoạt tài khoản định danh điện tử.",
            "office_address": "ấp Phú Hữu, xã Lạc Hòa", "hotline": "0299 3822 222"}
    meta = {"unit_name": "Xã Lạc Hòa", "campaign_title": "Ngày CĐS", "title": "Bản tin 1",
            "date": date(2026, 10, 10)}
    template = "loudspeaker_default"
    if case == "escaped":
        data["office_address"] = "ấp <Phú Hữu> & chợ"
        meta["unit_name"] = "Xã A & B <mới>"
    if case == "khmer":
        data["key_message_km"] = "ប្រជាពលរដ្ឋអាចដាក់ពាក្យតាមអ៊ីនធឺណិត"
        template = "loudspeaker_bilingual"
    script = render_script(data, template=template)
    if case == "slots_and_notes":
        meta["slots"] = ["Thứ 2, 4, 6 lúc 06:00 và 17:00"]
        script = dataclasses.replace(script, warnings=["Đoạn 1 dài quá 2 phút", "a > b & c"])
    if case == "spaces":
        meta["title"] = " Bản tin có dấu cách "
    compose.reset()
    compose.shared_fonts(True)
    try:
        for other in ("Xã Nhơn Mỹ", "Phường An Bình"):  # the second and third use the skeleton
            variant = dict(meta, unit_name=other if case != "escaped" else meta["unit_name"])
            made = compose.script_docx(script, variant)
            assert _docx_parts(made) == _docx_parts(script_to_docx(script, variant)), other
    finally:
        compose.release()
    used = compose.STATS["docx_skeletons"] + compose.STATS["docx_hits"]
    # Khmer text and a title with spaces around it are written by python-docx itself
    assert used == (0 if case in ("khmer", "spaces") else 2)
    if used:
        assert compose.STATS["docx_skeletons"] == 1


def _pdf_without_stamps(data: bytes) -> bytes:
    """A PDF's bytes without its creation date and file ID (they change every second)."""
    import re

    data = re.sub(rb"/CreationDate \(D:[^)]*\)", b"", data)
    return re.sub(rb"/ID \[<[0-9A-F]+><[0-9A-F]+>\]", b"", data)


def test_fonts_kept_for_the_run_write_the_same_pdf():
    """A script PDF written with the run's kept fonts (fpdf2's TTFFont taken from the
    first document) is the same bytes as with every font loaded afresh."""
    from fpdf.fonts import TTFFont

    from media_templates.scripts import render_script, script_to_pdf

    def script(unit: str):
        return render_script({"unit_name": unit, "campaign_title": "Ngày Chuyển đổi số 10/10",
                              "key_message": "Bà con nộp hồ sơ trực tuyến mọi lúc, mọi nơi.",
                              "call_to_action": "Bà con hãy kích hoạt tài khoản VNeID.",
                              "office_address": "ấp Phú Hữu", "hotline": "0299 3822 222"})

    meta = {"campaign_title": "Ngày Chuyển đổi số", "title": "Bản tin", "date": "2026-10-10"}
    compose.reset()
    compose.shared_fonts(True)
    kept = TTFFont.__init__
    assert getattr(kept, "__wrapped__", None) is not None  # the run's font memo is in place
    try:
        script_to_pdf(script("Xã Lạc Hòa"), dict(meta, unit_name="Xã Lạc Hòa"))  # loads them
        with_kept = script_to_pdf(script("Xã Nhơn Mỹ"), dict(meta, unit_name="Xã Nhơn Mỹ"))
        TTFFont.__init__ = kept.__wrapped__  # every font loaded afresh
        try:
            fresh = script_to_pdf(script("Xã Nhơn Mỹ"), dict(meta, unit_name="Xã Nhơn Mỹ"))
        finally:
            TTFFont.__init__ = kept
    finally:
        compose.release()
    assert _pdf_without_stamps(with_kept) == _pdf_without_stamps(fresh)
    assert b"/CIDToGIDMap" in fresh  # fonts embedded: the comparison covers them


def test_a_composed_build_leaves_no_run_state_behind(builds):
    """After a run (composed or a single kit), later work in the process shapes and segments
    text afresh: the run's font caches are off, and the Khmer word splitter keeps the
    interface of the lru_cache it wraps (cache_clear), so code that clears it still works."""
    from media_templates import scripts_mix

    assert not getattr(compose._FONTS, "on", False)
    scripts_mix.khmer_words.cache_clear()
    assert scripts_mix.khmer_words.cache_info().currsize == 0
    assert "".join(scripts_mix.khmer_words("សេវាសាធារណៈ")) == "សេវាសាធារណៈ"
