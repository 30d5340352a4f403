"""A Khmer commune's officer records the Khmer part of a bulletin in the browser
(Chromium's fake microphone plays a generated WAV), sends it, and downloads the rebuilt
kit: the reading is inside, as loud as the kit's Vietnamese audio (issue #17). Then a
file is uploaded through the same page."""

from __future__ import annotations

import time
import unicodedata
import zipfile

import pytest
from sqlmodel import select

from core.db import session_scope
from core.models import OrgUnit
from tests.browser import background_jobs, chromium, serve, sign_in
from tests.conftest import make_app
from tests.fakes.kits import make_campaign
from tests.helpers import make_user
from tests.khmer_helpers import convert, ebur128, speech_wav
from tests.test_khmer_readings import BILINGUAL, KHMER, VIETNAMESE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BASE = "2. Truyền thanh/01. Dịch vụ công trực tuyến"
LIVE = "Phần tiếng Khmer: chưa có bản ghi âm — phát thanh viên đọc trực tiếp theo kịch bản"


def _kit(app, cid, code="xa-lac-hoa"):
    from campaigns.models import Kit

    with app.app_context(), session_scope(app) as s:
        uid = s.exec(select(OrgUnit.id).where(OrgUnit.code == code)).one()
        kit = s.exec(select(Kit).where(Kit.campaign_id == cid, Kit.unit_id == uid)).one()
        return {"id": kit.id, "version": kit.version, "status": kit.status}


def _wait_for_version(app, cid, version, seconds=240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        kit = _kit(app, cid)
        if kit["version"] >= version and kit["status"] == "ready":
            return kit
        time.sleep(0.5)
    raise AssertionError(f"kit not rebuilt to v{version}: {_kit(app, cid)}")


def test_officer_records_and_uploads_a_khmer_reading(tmp_path):
    from campaigns.kits.builder import KitConfig, build_campaign_kits
    from campaigns.kits.models import KhmerReading

    app = make_app(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)  # CSRF on, as in production
    cid = make_campaign(app, scope=("xa-lac-hoa",), scripts=[BILINGUAL, VIETNAMESE])
    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "xa-lac-hoa")).one()
        unit.uses_khmer = True
        s.add(unit)
    with app.app_context(), session_scope(app) as s:
        assert build_campaign_kits(s, cid, KitConfig.from_app(app), workers=1)["built"] == 1
    kit = _kit(app, cid)
    officer = make_user(app, "unit_officer", "xa-lac-hoa")
    # the "microphone": speech with silence around it, quiet (a phone held far away)
    mic = tmp_path / "mic.wav"
    mic.write_bytes(speech_wav(peak_db=-30.0, lead=1.0, tail=1.0, rate=48000))
    fake_mic = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}", "--autoplay-policy=no-user-gesture-required"]

    with (
        serve(app) as base,
        background_jobs(app),
        chromium(extra_args=fake_mic, viewport={"width": 390, "height": 844}, accept_downloads=True) as ctx,
    ):
        page = ctx.new_page()
        sign_in(page, base, officer.email)

        page.goto(f"{base}/kits/{kit['id']}")
        section = page.locator("#khmer")
        assert "Bản đọc tiếng Khmer" in section.inner_text()
        assert LIVE in section.inner_text() and KHMER in unicodedata.normalize("NFC", section.inner_text())
        recorder = section.locator(".khmer-recorder")
        assert recorder.is_visible()  # MediaRecorder is there: the recorder replaces nothing, adds
        recorder.get_by_role("button", name="Bắt đầu ghi âm").click()
        timer = recorder.locator(".rec-timer")
        deadline = time.monotonic() + 30
        while timer.inner_text() < "0:04" and time.monotonic() < deadline:  # the timer runs
            page.wait_for_timeout(250)
        assert timer.inner_text() >= "0:04"
        recorder.get_by_role("button", name="Dừng").click()
        send = recorder.get_by_role("button", name="Gửi bản ghi")
        send.wait_for(state="visible", timeout=10000)
        assert recorder.locator("audio.rec-preview").get_attribute("src").startswith("blob:")
        section.screenshot(path=str(tmp_path / "khmer-recorded.png"))
        send.click()
        page.wait_for_selector("text=Đã lưu bản đọc tiếng Khmer", timeout=60000)

        with app.app_context(), session_scope(app) as s:
            rows = s.exec(select(KhmerReading)).all()
            assert len(rows) == 1 and rows[0].source == "recorded" and rows[0].created_by == officer.id
            assert 2.0 < rows[0].duration_s < 30 and rows[0].lufs == pytest.approx(-16.0, abs=0.5)
        rebuilt = _wait_for_version(app, cid, kit["version"] + 1)

        page.goto(f"{base}/kits/{kit['id']}")
        assert "Đã có bản ghi âm" in page.locator("#khmer").inner_text()
        assert LIVE not in page.locator("#khmer").inner_text()
        page.locator("#khmer").screenshot(path=str(tmp_path / "khmer-section.png"))
        with page.expect_download() as info:
            page.get_by_role("link", name="Tải bộ tài liệu").click()
        saved = tmp_path / "kit.zip"
        info.value.save_as(saved)
        zf = zipfile.ZipFile(saved)
        names = zf.namelist()
        assert f"{BASE} – phần tiếng Khmer.mp3" in names and f"{BASE} – phần tiếng Khmer.wav" in names
        vi = next(n for n in names if n.startswith("2. Truyền thanh/02.") and n.endswith(".wav"))
        (tmp_path / "km.wav").write_bytes(zf.read(f"{BASE} – phần tiếng Khmer.wav"))
        (tmp_path / "vi.wav").write_bytes(zf.read(vi))
        (km_lufs, km_peak), (vi_lufs, _) = ebur128(tmp_path / "km.wav"), ebur128(tmp_path / "vi.wav")
        assert abs(km_lufs - vi_lufs) <= 1.0 and km_peak <= -1.0, (km_lufs, vi_lufs, km_peak)
        (tmp_path / "km.mp3").write_bytes(zf.read(f"{BASE} – phần tiếng Khmer.mp3"))
        assert abs(ebur128(tmp_path / "km.mp3")[0] - vi_lufs) <= 1.0

        # the upload path: an M4A file chosen on the same page replaces the reading
        m4a = tmp_path / "doc-tieng-khmer.m4a"
        m4a.write_bytes(convert(speech_wav(peak_db=-6.0, text="Bà con thân mến, xin cảm ơn."), "m4a", tmp_path))
        form = page.locator("#khmer form.khmer-upload")
        form.locator("input[type=file]").set_input_files(str(m4a))
        form.get_by_role("button", name="Tải lên", exact=True).click()
        page.wait_for_selector("text=Đã lưu bản đọc tiếng Khmer", timeout=60000)
        with app.app_context(), session_scope(app) as s:
            newest = s.exec(select(KhmerReading).order_by(KhmerReading.id.desc())).first()
            assert newest.source == "uploaded" and newest.original_name == "doc-tieng-khmer.m4a"
        _wait_for_version(app, cid, rebuilt["version"] + 1)
        # a file that is not audio gets a Vietnamese message, not an error page
        bad = tmp_path / "ghi-am.mp3"
        bad.write_text("không phải âm thanh", encoding="utf-8")
        form = page.locator("#khmer form.khmer-upload")
        form.locator("input[type=file]").set_input_files(str(bad))
        form.get_by_role("button", name="Tải lên", exact=True).click()
        page.wait_for_selector("text=không phải là tệp âm thanh", timeout=30000)
        page.screenshot(path=str(tmp_path / "khmer-page.png"), full_page=True)
