"""Short videos and motion graphics (low resolution, short, marked slow)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import media_templates as mt
from media_templates import soundtrack
from media_templates.video import ffmpeg_exe, probe
from tests.media_helpers import BRAND

FAST = {
    "scale": 0.2,
    "fps": 8,
    "slide_seconds": 1.2,
    "transition": 0.3,
    "min_seconds": 0,
    "preset": "ultrafast",
}


def _frame(path, t: float, out):
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-ss",
            f"{t:.3f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            str(out),
        ],
        check=True,
    )
    with Image.open(out) as im:
        return im.convert("RGB").copy()


def _audio(path) -> np.ndarray:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "8000",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768


def _audio_stream(path) -> tuple[str, int, int]:
    """(channel layout, bit rate kb/s, sample rate) of the audio stream, read from `ffmpeg -i`."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    m = re.search(r"Audio: aac \(LC\).*?, (\d+) Hz, (\w+), \w+, (\d+) kb/s", out)
    assert m, out
    return m.group(2), int(m.group(3)), int(m.group(1))


def assert_social_audio(path) -> None:
    """Stereo AAC at 128 kb/s or more, as the social networks recommend."""
    layout, kbps, rate = _audio_stream(path)
    assert layout == "stereo" and kbps >= 128 and rate == 44100, (layout, kbps, rate)
    # both channels carry the soundtrack
    raw = subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "s16le", "-ac", "2", "-"],
        capture_output=True,
        check=True,
    ).stdout
    lr = np.frombuffer(raw, "<i2").reshape(-1, 2).astype(np.float32)
    assert np.abs(lr[:, 0]).max() > 300 and np.abs(lr[:, 1]).max() > 300


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, size", [("video-vertical", (216, 384)), ("video-horizontal", (384, 216))]
)
def test_slideshow_sample_renders(tmp_path, name, size):
    data = mt.get_template(name).sample_data()
    seen: list[float] = []
    res = mt.render(
        name, "mp4", data, tmp_path / f"{name}.mp4", brand=BRAND, options=FAST, progress=seen.append
    )
    info = probe(res.path)
    assert (res.width, res.height) == size == (info["width"], info["height"])
    slides = 2 + len(data["messages"])
    expected = slides * 1.2 - (slides - 1) * 0.3
    assert res.duration == pytest.approx(expected, abs=0.01)
    assert info["duration"] == pytest.approx(expected, abs=0.3)
    assert info["audio"]  # music bed by default
    assert_social_audio(res.path)
    assert res.mime == "video/mp4" and res.format == "mp4"
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 4
    assert [p.name for p in tmp_path.iterdir()] == [res.path.name]
    # title card, then slides that differ, and the last slide at full size (no stale fade mask)
    first = _frame(res.path, 0.2, tmp_path / "a.png")
    mid = _frame(res.path, 1.2 + 0.9 * 1, tmp_path / "b.png")
    last = _frame(res.path, expected - 0.1, tmp_path / "c.png")
    diff = np.abs(np.asarray(first, np.int16) - np.asarray(mid, np.int16)).mean()
    assert diff > 5
    # no black bands: the four borders of the last frame carry the background
    arr = np.asarray(last, np.int16)
    for edge in (arr[:3], arr[-3:], arr[:, :3], arr[:, -3:]):
        assert edge.mean() > 25


@pytest.mark.slow
def test_same_content_both_orientations_and_caption_burnt_in(tmp_path):
    data = mt.get_template("video-vertical").sample_data()
    tpl_v, tpl_h = mt.get_template("video-vertical"), mt.get_template("video-horizontal")
    assert [f["name"] for f in tpl_v.fields] == [f["name"] for f in tpl_h.fields]
    from media_templates.video import slide_layouts

    clean = mt.validate_data(tpl_h, data)
    slides = slide_layouts(tpl_h, clean, BRAND)
    assert [k for _, _, k in slides] == ["title"] + ["message"] * len(data["messages"]) + ["end"]
    for (lay, voice, _kind), msg in zip(slides[1:-1], data["messages"], strict=True):
        assert lay.texts["caption"] == msg == voice


@pytest.mark.slow
def test_gentle_zoom_moves_pixels_within_a_slide(tmp_path):
    opts = {**FAST, "scale": 0.3, "fps": 10, "slide_seconds": 3.0, "transition": 0.3}
    res = mt.render(
        "video-horizontal",
        "mp4",
        mt.get_template("video-horizontal").sample_data(),
        tmp_path / "z.mp4",
        options=opts,
    )
    a = np.asarray(_frame(res.path, 0.1, tmp_path / "z0.png"), np.int16)
    b = np.asarray(_frame(res.path, 2.5, tmp_path / "z1.png"), np.int16)
    assert a.shape == b.shape
    assert 1.0 < np.abs(a - b).mean() < 40  # same slide, slightly zoomed


@pytest.mark.slow
def test_voiceover_and_music_ducking(tmp_path):
    pytest.importorskip("media_templates.speech")
    data = mt.get_template("video-vertical").sample_data()
    data["messages"] = data["messages"][:3]
    res = mt.render(
        "video-vertical",
        "mp4",
        data,
        tmp_path / "vo.mp4",
        options={**FAST, "voiceover": True, "music": True},
    )
    # slides last at least as long as their speech: longer than the 1.2 s default
    assert res.duration > 5 * 1.2 - 4 * 0.3 + 1.0
    audio = _audio(res.path)
    assert np.abs(audio).max() > 0.05
    # ducking, measured on the mix itself
    from media_templates.speech import synthesize

    clip = synthesize("Nộp hồ sơ trực tuyến")
    mixed, voice = soundtrack.mix([(2.0, clip)], 8.0, music=True)
    music_only, _ = soundtrack.mix([], 8.0, music=True)
    r = soundtrack.RATE
    speech_win = slice(int(2.3 * r), int(2.8 * r))
    quiet_win = slice(int(6.5 * r), int(7.0 * r))
    music_under_voice = mixed[speech_win] - voice[speech_win]
    assert np.sqrt((music_under_voice**2).mean()) < 0.5 * np.sqrt(
        (music_only[speech_win] ** 2).mean()
    )
    assert np.allclose(
        mixed[quiet_win], music_only[quiet_win], atol=1e-4
    )  # untouched away from the voice


@pytest.mark.slow
def test_voiceover_without_speech_module_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "media_templates.speech", None)
    with pytest.raises(mt.TemplateError) as exc:
        mt.render(
            "video-vertical",
            "mp4",
            mt.get_template("video-vertical").sample_data(),
            tmp_path / "x.mp4",
            options={**FAST, "voiceover": True},
        )
    assert exc.value.code == "speech_unavailable" and exc.value.field == "voiceover"
    assert list(tmp_path.iterdir()) == []


def test_length_limits_per_network(tmp_path):
    data = mt.get_template("video-vertical").sample_data()
    with pytest.raises(
        mt.TemplateError
    ) as exc:  # 6 slides x 20 s > Reels' 90 s (checked before any encoding)
        mt.render(
            "video-vertical",
            "mp4",
            data,
            tmp_path / "long.mp4",
            options={**FAST, "slide_seconds": 20, "network": "reels"},
        )
    assert (
        exc.value.code == "video_too_long"
        and "90" in exc.value.message
        and "Reels" in exc.value.message
    )
    with pytest.raises(mt.TemplateError) as exc:  # the template's own 60 s cap
        mt.render(
            "video-vertical",
            "mp4",
            data,
            tmp_path / "long.mp4",
            options={**FAST, "slide_seconds": 14},
        )
    assert exc.value.code == "video_too_long" and "60" in exc.value.message
    with pytest.raises(mt.TemplateError) as exc:
        mt.render(
            "video-vertical",
            "mp4",
            data,
            tmp_path / "x.mp4",
            options={**FAST, "network": "myspace"},
        )
    assert exc.value.field == "network"
    with pytest.raises(mt.TemplateError) as exc:
        mt.render(
            "video-vertical",
            "mp4",
            {**data, "messages": data["messages"][:2]},
            tmp_path / "x.mp4",
            options=FAST,
        )
    assert exc.value.field == "messages" and exc.value.code == "too_few"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_short_content_is_stretched_to_the_minimum(tmp_path):
    data = mt.get_template("video-horizontal").sample_data()
    data["messages"] = data["messages"][:3]
    opts = {k: v for k, v in FAST.items() if k != "min_seconds"}
    res = mt.render(
        "video-horizontal", "mp4", data, tmp_path / "min.mp4", options={**opts, "scale": 0.1}
    )
    assert res.duration == pytest.approx(15.0, abs=0.01)  # the template's 15 s minimum
    assert probe(res.path)["duration"] == pytest.approx(15.0, abs=0.3)


@pytest.mark.slow
def test_motion_infographic_counts_up(tmp_path):
    data = mt.get_template("targets-motion").sample_data()
    res = mt.render(
        "targets-motion",
        "mp4",
        data,
        tmp_path / "m.mp4",
        options={
            "scale": 0.3,
            "fps": 10,
            "seconds": 3,
            "animate_seconds": 2,
            "preset": "ultrafast",
        },
    )
    assert (res.width, res.height) == (324, 404) and res.duration == 3  # even sizes for yuv420p
    early = np.asarray(_frame(res.path, 0.25, tmp_path / "e.png"), np.int16)
    late = np.asarray(_frame(res.path, 2.8, tmp_path / "l.png"), np.int16)

    # bar colour (primary #0b5cab) covers more pixels once the bars have grown
    def primary_pixels(a):
        return int((np.abs(a - np.array([11, 92, 171])).sum(axis=2) < 60).sum())

    assert primary_pixels(late) > primary_pixels(early) * 1.5
    assert_social_audio(res.path)  # the music pad, stereo AAC
    png = mt.render("targets-motion", "png", data, tmp_path / "final.png")
    assert png.width == 1080


def test_motion_targets_are_validated(tmp_path):
    with pytest.raises(mt.TemplateError) as exc:
        mt.render(
            "targets-motion",
            "png",
            {"title": "Chỉ tiêu", "targets": ["Không có số"]},
            tmp_path / "x.png",
        )
    assert exc.value.field == "targets" and "Nhãn: số" in exc.value.message


def test_one_video_render_at_a_time_by_default():
    from media_templates import renderer

    slots = renderer._video_slots()
    assert slots.acquire(blocking=False)
    try:
        assert not slots.acquire(blocking=False)  # a second render would wait
    finally:
        slots.release()
