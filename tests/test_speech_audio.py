"""Text-to-speech, loudness, jingle and MP3: the audio is speech of the normalised text."""

from __future__ import annotations

import io
import json
import re
import subprocess
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from media_templates.speech import (
    EspeakEngine,
    HttpEngine,
    NoVoiceError,
    SpeechError,
    estimate_duration,
    get_engine,
    measure_loudness,
    measure_true_peak,
    mix_jingle,
    normalize_loudness,
    read_wav,
    synthesize,
    wav_duration,
    wav_to_mp3,
    write_wav,
)

SCRIPT = (
    "Kính thưa bà con. Từ ngày 10/10/2025, người dân có thể nộp hồ sơ TTHC trực tuyến "
    "tại dichvucong.gov.vn. Mọi thắc mắc xin liên hệ 0299 3822 222 từ 7h30 - 11h30."
)
RATE = 22050


def analyse(wav: bytes) -> dict[str, float]:
    """Per 25 ms frame: energy, zero crossings and an autocorrelation pitch."""
    x, rate = read_wav(wav)
    n = int(0.025 * rate)
    frames = [x[i : i + n] for i in range(0, len(x) - n, n)]
    energies = np.array([np.mean(f.astype(np.float64) ** 2) for f in frames])
    threshold = max(energies.max() * 1e-4, 1e-7)
    voiced, f0s, zcrs = 0, [], []
    lo, hi = int(rate / 400), int(rate / 70)
    for f, e in zip(frames, energies, strict=True):
        zcrs.append(float(np.mean(np.abs(np.diff(np.sign(f))) > 0)))
        if e < threshold:
            continue
        g = f - f.mean()
        ac = np.correlate(g, g, "full")[n - 1 :]
        ac = ac / (ac[0] + 1e-12)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3:
            voiced += 1
            f0s.append(rate / lag)
    return {
        "frames": len(frames),
        "voiced_fraction": voiced / max(1, len(frames)),
        "f0_spread": float(np.std(f0s)) if len(f0s) > 1 else 0.0,
        "zcr_spread": float(np.std(zcrs)),
    }


def looks_like_speech(wav: bytes) -> bool:
    a = analyse(wav)
    return a["voiced_fraction"] >= 0.5 and a["f0_spread"] > 10 and a["zcr_spread"] > 0.03


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    return synthesize(SCRIPT)


def test_detector_rejects_silence_tone_and_noise():
    t = np.arange(RATE * 3) / RATE
    assert not looks_like_speech(write_wav(np.zeros(RATE * 3), RATE))
    assert not looks_like_speech(write_wav(0.5 * np.sin(2 * np.pi * 220 * t), RATE))
    noise = np.random.default_rng(7).normal(0, 0.2, RATE * 3)
    assert not looks_like_speech(write_wav(noise, RATE))


def test_synthesised_wav_is_speech_with_the_estimated_duration(speech_wav):
    with wave.open(io.BytesIO(speech_wav)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == RATE
    assert looks_like_speech(speech_wav), analyse(speech_wav)
    estimate = estimate_duration(SCRIPT)
    assert estimate > 10
    assert abs(wav_duration(speech_wav) - estimate) <= 0.2 * estimate


@pytest.mark.parametrize("spm", [140, 220])
@pytest.mark.parametrize("voice", ["vi", "vi-VN-x-south"])
def test_reading_rate_is_configurable_and_calibrated(voice, spm):
    wav = synthesize(SCRIPT, voice, syllables_per_minute=spm)
    estimate = estimate_duration(SCRIPT, syllables_per_minute=spm)
    assert abs(wav_duration(wav) - estimate) <= 0.2 * estimate


def test_speech_reads_the_normalised_text_not_the_digits(speech_wav):
    # The written script is short on paper; its spoken form is long. Audio of
    # the raw characters (digits spelled, "TTHC" as letters) would be far off.
    written_words = len(SCRIPT.split())
    assert wav_duration(speech_wav) > written_words * 60 / 180 * 1.5
    assert synthesize("10/10/2025") != synthesize("10 10 2025")


def test_voice_peaks_are_attenuated(speech_wav):
    x, _ = read_wav(speech_wav)
    assert np.abs(x).max() < 10 ** (-0.9 / 20)


def test_concurrent_synthesis_does_not_mix_outputs(speech_wav):
    # espeak keeps global state; two texts synthesised at once must each come
    # out whole (same length as alone, within espeak's small run-to-run jitter).
    short = "Xin chào bà con."
    alone = wav_duration(synthesize(short))
    results: dict[str, list[float]] = {"short": [], "long": []}

    def work(key: str, text: str) -> None:
        results[key].append(wav_duration(synthesize(text)))

    threads = [threading.Thread(target=work, args=("short", short)) for _ in range(3)]
    threads += [threading.Thread(target=work, args=("long", SCRIPT)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["short"] == pytest.approx([alone] * 3, rel=0.05)
    assert results["long"] == pytest.approx([wav_duration(speech_wav)] * 3, rel=0.05)


def test_khmer_text_has_no_voice_and_says_so():
    with pytest.raises(NoVoiceError) as info:
        synthesize("សូមប្រើប្រាស់សេវាសាធារណៈតាមអ៊ីនធឺណិត")
    assert "Khmer" in info.value.message and info.value.field == "text"
    assert isinstance(info.value, SpeechError) and isinstance(info.value, ValueError)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(SpeechError) as info:
        synthesize("   ")
    assert info.value.field == "text"
    with pytest.raises(SpeechError) as info:
        synthesize("xin chào", voice="fr")
    assert info.value.field == "voice" and "vi-VN-x-south" in info.value.message
    with pytest.raises(SpeechError) as info:
        get_engine("nope")
    assert info.value.field == "engine"
    with pytest.raises(SpeechError) as info:
        wav_to_mp3(b"not a wav at all, certainly not" * 3)
    assert info.value.field == "wav"


def test_engine_interface():
    engine = get_engine()
    assert isinstance(engine, EspeakEngine) and engine.name == "espeak"
    assert {"vi", "vi-VN-x-central", "vi-VN-x-south"} <= set(engine.voices)
    assert get_engine("espeak") is engine


def ebur128(path) -> tuple[float, float]:
    """(integrated loudness LUFS, true peak dBTP) as ffmpeg's ebur128 filter measures them."""
    import imageio_ffmpeg

    err = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    ).stderr  # fmt: skip
    summary = err[err.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


def test_loudness_and_true_peak_follow_bs1770(tmp_path):
    """A 997 Hz sine at amplitude A reads 20·log10(A) − 3.01 LUFS (BS.1770's
    calibration); a sine at fs/4 sampled 45° off its crests has samples at
    0.707·A but a true peak of A: the sample peak would miss it by 3 dB."""
    rate = 48000
    t = np.arange(rate * 5) / rate
    for amp in (0.5, 0.1):
        wav = write_wav(amp * np.sin(2 * np.pi * 997 * t), rate)
        expected = 20 * np.log10(amp) - 3.01
        assert measure_loudness(wav) == pytest.approx(expected, abs=0.1)
        (tmp_path / "s.wav").write_bytes(wav)
        assert ebur128(tmp_path / "s.wav")[0] == pytest.approx(expected, abs=0.15)
    rate = 22050
    t = np.arange(rate * 2) / rate
    fades = np.minimum(1, np.minimum(t, t[-1] - t) / 0.2)  # no abrupt edges (they ring)
    quarter = 0.8 * np.sin(2 * np.pi * (rate / 4) * t + np.pi / 4) * fades
    assert 20 * np.log10(np.abs(quarter).max()) == pytest.approx(20 * np.log10(0.8) - 3.01, abs=0.05)
    wav = write_wav(quarter, rate)
    assert measure_true_peak(wav) == pytest.approx(20 * np.log10(0.8), abs=0.1)
    (tmp_path / "q.wav").write_bytes(wav)
    assert ebur128(tmp_path / "q.wav")[1] == pytest.approx(20 * np.log10(0.8), abs=0.2)


def test_loudness_normalisation_levels_quiet_and_loud_files(speech_wav, tmp_path):
    x, rate = read_wav(speech_wav)
    quiet = write_wav(x * 0.05, rate)
    outs = [normalize_loudness(w, -16.0) for w in (quiet, speech_wav)]
    assert measure_loudness(quiet) < -35
    for i, out in enumerate(outs):
        assert measure_loudness(out) == pytest.approx(-16.0, abs=0.2)
        assert measure_true_peak(out) <= -1.5 + 0.05
        assert wav_duration(out) == pytest.approx(wav_duration(speech_wav))
        (tmp_path / f"{i}.wav").write_bytes(out)
        loudness, peak = ebur128(tmp_path / f"{i}.wav")
        assert loudness == pytest.approx(-16.0, abs=0.3) and peak <= -1.0
    assert measure_loudness(normalize_loudness(speech_wav, -23.0)) == pytest.approx(-23.0, abs=0.2)
    # a stricter ceiling is held as well
    assert measure_true_peak(normalize_loudness(speech_wav, -16.0, true_peak_db=-6.0)) <= -5.95
    silence = write_wav(np.zeros(rate), rate)
    assert normalize_loudness(silence) == silence
    with pytest.raises(SpeechError):
        normalize_loudness(speech_wav, 5.0)
    with pytest.raises(SpeechError):
        normalize_loudness(speech_wav, -16.0, true_peak_db=3.0)


def _tone_wav(seconds: float, rate: int = 44100, channels: int = 2) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.4 * np.sin(2 * np.pi * 523.25 * t) + 0.2 * np.sin(2 * np.pi * 659.25 * t)
    pcm = np.round(np.repeat(tone[:, None], channels, axis=1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def test_mix_jingle_intro_bed_and_outro(speech_wav):
    assert mix_jingle(speech_wav, None) == speech_wav
    jingle = _tone_wav(1.5)  # stereo 44.1 kHz: resampled and looped
    mixed = mix_jingle(speech_wav, jingle, intro_seconds=1.0, outro_seconds=2.0)
    y, rate = read_wav(mixed)
    assert rate == RATE
    assert wav_duration(mixed) == pytest.approx(1.0 + wav_duration(speech_wav) + 2.0, abs=0.01)
    intro_rms = np.sqrt(np.mean(y[: int(0.9 * rate)] ** 2))
    assert intro_rms > 0.2  # the jingle at full level
    # during the speech the jingle is ducked: the mix minus the speech is quiet
    x, _ = read_wav(speech_wav)
    start = int(1.0 * rate) + int(0.6 * rate)
    bed = y[start : int(1.0 * rate) + len(x)] - x[int(0.6 * rate) :]
    assert np.sqrt(np.mean(bed**2)) < intro_rms * 0.2
    assert np.abs(y[-50:]).max() < 0.05  # faded out
    with pytest.raises(SpeechError) as info:
        mix_jingle(speech_wav, b"RIFF....garbage")
    assert info.value.field == "jingle"


def test_mp3_has_valid_frames_and_decodes_to_the_same_length(speech_wav, tmp_path):
    mp3 = wav_to_mp3(speech_wav, 64)
    assert mp3[0] == 0xFF and (mp3[1] & 0xE0) == 0xE0  # MPEG frame sync
    assert (mp3[1] >> 1) & 0b11 == 0b01  # layer III
    seconds = wav_duration(speech_wav)
    assert 0.8 * seconds * 64000 / 8 < len(mp3) < 1.3 * seconds * 64000 / 8
    import imageio_ffmpeg

    src = tmp_path / "a.mp3"
    src.write_bytes(mp3)
    out = tmp_path / "a.wav"
    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-ac", "1", str(out)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    decoded = out.read_bytes()
    assert wav_duration(decoded) == pytest.approx(seconds, abs=0.15)
    assert looks_like_speech(decoded)
    with pytest.raises(SpeechError) as info:
        wav_to_mp3(speech_wav, 65)
    assert info.value.field == "bitrate_kbps"


# ------------------------------------------------------ HTTP engine on a fake


class _FakeTts(BaseHTTPRequestHandler):
    requests: list[dict] = []
    reply_status = 200

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"auth": self.headers.get("Authorization"), **body})
        if self.headers.get("Authorization") != "Bearer k-123":
            self.send_response(401)
            self.end_headers()
            return
        audio = _tone_wav(0.5, rate=16000, channels=2)
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_tts():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeTts)
    _FakeTts.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tts"
    server.shutdown()
    server.server_close()


def test_http_engine_posts_normalised_text_and_returns_mono_wav(fake_tts, monkeypatch):
    monkeypatch.setenv("LANTOA_TTS_URL", fake_tts)
    monkeypatch.setenv("LANTOA_TTS_API_KEY", "k-123")
    engine = get_engine("http")
    assert isinstance(engine, HttpEngine)
    wav = synthesize("UBND xã thông báo lúc 7h30", engine=engine)
    sent = _FakeTts.requests[-1]
    assert sent["text"] == "Ủy ban nhân dân xã thông báo lúc bảy giờ ba mươi phút."
    assert sent["voice"] == "vi" and sent["auth"] == "Bearer k-123"
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
    assert wav_duration(wav) == pytest.approx(0.5, abs=0.01)


def test_http_engine_errors_are_clear(fake_tts, monkeypatch):
    monkeypatch.delenv("LANTOA_TTS_URL", raising=False)
    with pytest.raises(SpeechError, match="LANTOA_TTS_URL"):
        get_engine("http")
    engine = HttpEngine(url=fake_tts, api_key="wrong")
    with pytest.raises(SpeechError) as info:
        engine.synthesize("xin chào", "vi")
    assert "khóa" in info.value.message and "wrong" not in info.value.message
    with pytest.raises(NoVoiceError):
        engine.synthesize("សួស្តី", "vi")
    khmer_ok = HttpEngine(url=fake_tts, api_key="k-123", voices=["vi", "km"])
    assert wav_duration(khmer_ok.synthesize("សួស្តី", "km")) > 0.4
    down = HttpEngine(url="http://127.0.0.1:9/tts", timeout=(0.5, 0.5))
    with pytest.raises(SpeechError, match="Không kết nối"):
        down.synthesize("xin chào", "vi")
    assert re.search("LANTOA_TTS", HttpEngine.__doc__ or "")


def test_limiter_holds_the_ceiling_and_leaves_quiet_parts_alone():
    from media_templates.speech.audio import _limit

    rate = 22050
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.05, rate * 2)
    spikes = rng.choice(np.arange(rate // 2, rate), size=20, replace=False)
    x[spikes] = rng.choice([-1.8, 1.8], size=20)
    ceiling = 10 ** (-1 / 20)
    y = _limit(x, ceiling, rate)
    assert np.abs(y).max() <= ceiling + 1e-9
    assert measure_true_peak(samples=y) <= -1.0 + 0.05  # between the samples too
    # the spikes come down to the ceiling (not below it by much: no over-limiting)
    assert np.abs(y[spikes]).min() > 0.5 * ceiling
    # far (more than 20 ms) from every spike the signal is untouched
    far = np.ones(len(x), bool)
    for s in spikes:
        far[max(0, s - 441) : s + 441] = False
    assert np.allclose(y[far], x[far], atol=1e-6)
    quiet = rng.normal(0, 0.1, rate)
    assert np.allclose(_limit(quiet, ceiling, rate), quiet)
    # inter-sample peaks: samples at 0.707 of the crest, all under the ceiling
    t = np.arange(rate) / rate
    burst = 1.1 * np.sin(2 * np.pi * (rate / 4) * t + np.pi / 4) * (np.abs(t - 0.5) < 0.1)
    assert np.abs(burst).max() < ceiling
    limited = _limit(burst, ceiling, rate)
    assert measure_true_peak(samples=limited) <= -1.0 + 0.05
    assert np.allclose(limited[: rate // 4], burst[: rate // 4])  # untouched far from it


# ------------------------------------------- loudspeaker templates: level and length


def _jingle() -> bytes:
    t = np.arange(RATE * 4) / RATE
    return write_wav(0.5 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t), RATE)


def _voiced_and_khmer(script):
    from media_templates.speech import has_khmer

    vi = [s for s in script.sections if not has_khmer(s.text)]
    km = [s for s in script.sections if has_khmer(s.text)]
    return vi, km


def _script_templates():
    from media_templates.scripts import list_script_templates

    return [t.name for t in list_script_templates()]


@pytest.mark.slow
@pytest.mark.parametrize("name", _script_templates())
@pytest.mark.parametrize("with_jingle", [False, True], ids=["voice", "jingle"])
def test_template_audio_meets_ebu_r128_in_wav_and_mp3(name, with_jingle, tmp_path):
    """-16 ±1 LUFS integrated and at most -1 dBTP, as ffmpeg's ebur128 measures
    them, for the WAV and for the MP3 (whose coding adds overshoot)."""
    from media_templates.scripts import get_script_template, render_script, script_audio

    script = render_script(get_script_template(name).sample(), template=name)
    if script.has_khmer:  # no Khmer voice: no audio file at all (an announcer reads it)
        with pytest.raises(NoVoiceError):
            script_audio(script)
        return
    audio = script_audio(script, jingle=_jingle() if with_jingle else None)
    for fmt in ("wav", "mp3"):
        path = tmp_path / f"{name}.{fmt}"
        path.write_bytes(audio[fmt])
        loudness, peak = ebur128(path)
        assert -17.0 <= loudness <= -15.0, (fmt, loudness)
        assert peak <= -1.0, (fmt, peak)
    assert measure_loudness(audio["wav"]) == pytest.approx(-16.0, abs=0.2)
    assert measure_true_peak(audio["wav"]) <= -1.45


@pytest.mark.slow
@pytest.mark.parametrize("name", _script_templates())
def test_template_sample_lasts_as_long_as_its_stated_range(name):
    """Each template states its length (title or description, and
    ``duration_seconds``); its sample, spoken, lasts that long — with or
    without the jingle. A Khmer part is read by an announcer: it counts at the
    estimated pace next to the synthesised Vietnamese."""
    from media_templates.scripts import (
        format_duration_range,
        get_script_template,
        render_script,
        script_audio,
    )

    tpl = get_script_template(name)
    assert tpl.duration_seconds, f"{name} states no length"
    low, high = tpl.duration_seconds
    assert format_duration_range(low, high) in f"{tpl.title} {tpl.description}"
    script = render_script(tpl.sample(), template=name)
    assert not any("độ dài" in w for w in script.warnings)
    assert low <= script.estimated_seconds <= high
    vi, km = _voiced_and_khmer(script)
    if km:
        spoken = sum(
            wav_duration(synthesize(s.reading_text, normalise=False)) for s in vi
        ) + sum(s.estimated_seconds for s in km)
        assert low <= spoken <= high, spoken
        return
    plain = wav_duration(script_audio(script, mp3=False)["wav"])
    jingled = wav_duration(script_audio(script, mp3=False, jingle=_jingle())["wav"])
    assert low <= plain < jingled <= high, (plain, jingled)


def test_scripts_outside_the_stated_length_are_warned():
    from media_templates.scripts import get_script_template, render_script

    sample = get_script_template("loudspeaker_short").sample()
    short = render_script(
        {**sample, "key_message": "Nộp hồ sơ trực tuyến.", "hotline": ""},
        template="loudspeaker_short",
    )
    assert any("ngắn hơn độ dài 30–45 giây" in w for w in short.warnings)
    longer = render_script(
        {**sample, "key_message": sample["key_message"] + " " + sample["key_message"]},
        template="loudspeaker_short",
    )
    assert 45 < longer.estimated_seconds <= 60
    assert any("dài hơn độ dài 30–45 giây" in w for w in longer.warnings)
    assert get_script_template("loudspeaker_short").to_public()["duration_seconds"] == [30, 45]


@pytest.mark.slow
def test_cli_renders_a_loudspeaker_script_as_mp3(runner, tmp_path):
    from media_templates.scripts import get_script_template

    data = tmp_path / "data.json"
    data.write_text(
        json.dumps(get_script_template("loudspeaker_short").sample(), ensure_ascii=False),
        encoding="utf-8",
    )
    listing = runner.invoke(args=["templates", "list"])
    assert listing.exit_code == 0
    assert re.search(r"^loudspeaker_short\s+wav,mp3\s", listing.output, re.M)
    out = tmp_path / "spot.mp3"
    result = runner.invoke(
        args=["render", "loudspeaker_short", "--format", "mp3", "--data", str(data),
              "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    mp3 = out.read_bytes()
    assert mp3[0] == 0xFF and (mp3[1] & 0xE0) == 0xE0 and (mp3[1] >> 1) & 0b11 == 0b01
    loudness, peak = ebur128(out)
    assert -17.0 <= loudness <= -15.0 and peak <= -1.0
    import imageio_ffmpeg

    decoded = tmp_path / "spot.wav"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out), str(decoded)],
        check=True,
        timeout=60,
    )
    assert 30 <= wav_duration(decoded.read_bytes()) <= 45
    assert looks_like_speech(decoded.read_bytes())
    # the WAV is the same programme
    wav = tmp_path / "spot.wav2"
    result = runner.invoke(
        args=["render", "loudspeaker_short", "--format", "wav", "--data", str(data),
              "--out", str(wav)]
    )  # fmt: skip
    assert result.exit_code == 0 and wav.read_bytes()[:4] == b"RIFF"
    data.write_text(json.dumps({"unit_name": "xã A"}), encoding="utf-8")
    result = runner.invoke(
        args=["render", "loudspeaker_short", "--format", "mp3", "--data", str(data),
              "--out", str(tmp_path / "x.mp3")]
    )  # fmt: skip
    assert result.exit_code != 0 and "campaign_title" in result.output
    assert not (tmp_path / "x.mp3").exists()
