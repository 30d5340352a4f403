"""Speech benchmark: loudspeaker script -> reading text -> WAV/MP3, at real sizes.

Run: .venv/bin/python bench/speech.py [--units 11]

Side by side in one run:
* normaliser on a 3-minute script vs. a bare NFC pass over the same text;
* espeak synthesis time vs. the length of the audio it makes (real-time factor);
* the O(n) true-peak limiter vs. the straightforward sliding-window sample-peak limiter;
* BS.1770 loudness + true peak in numpy vs. ffmpeg's ebur128 filter on the same WAV
  (time and values), and the kit audio's WAV/MP3 as ffmpeg measures them;
* the full kit audio (script -> WAV+MP3, loudness, jingle) for N units.
The last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from media_templates.scripts import get_script_template, render_script, script_audio  # noqa: E402
from media_templates.speech import (  # noqa: E402
    estimate_duration,
    measure_loudness,
    measure_true_peak,
    normalize_for_reading,
    read_wav,
    synthesize,
    wav_duration,
    write_wav,
)
from media_templates.speech.audio import _limit  # noqa: E402

UNITS = [
    "thành phố Sóc Trăng", "thị xã Vĩnh Châu", "thị xã Ngã Năm", "huyện Châu Thành", "huyện Kế Sách",
    "huyện Mỹ Tú", "huyện Cù Lao Dung", "huyện Long Phú", "huyện Mỹ Xuyên", "huyện Thạnh Trị",
    "huyện Trần Đề",
]  # fmt: skip

BODY = (
    "Theo Kế hoạch của UBND tỉnh, đến năm 2025 có ít nhất 80% hồ sơ TTHC được xử lý trực tuyến "
    "toàn trình và 50% người dân trưởng thành sử dụng DVCTT. Bà con có thể nộp hồ sơ 24/7 tại "
    "dichvucong.gov.vn, nhận kết quả qua bưu điện, thanh toán phí trực tuyến, giảm 50.000đ mỗi lần "
    "đi lại. Từ ngày 01/7/2025, nhiều thủ tục chỉ cần tài khoản VNeID mức 2 và CCCD gắn chip. "
    "Khi gặp khó khăn, bà con gọi 0299 3822 222 từ 7h30 - 11h30 và 13h30 - 17h00, Thứ 2 - Thứ 6."
)


def _limit_sliding(x, ceiling: float, rate: int):
    """The straightforward limiter (exact ±5 ms moving minimum, convolution smoothing)."""
    from numpy.lib.stride_tricks import sliding_window_view

    need = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-12))
    half = max(1, int(0.005 * rate))
    env = sliding_window_view(np.pad(need, half, mode="edge"), 2 * half + 1).min(axis=1)
    kernel = np.ones(half) / half
    smooth = np.convolve(
        np.pad(env, (half // 2, half - 1 - half // 2), mode="edge"), kernel, "valid"
    )
    return np.clip(x * smooth, -ceiling, ceiling)


def ebur128(path: Path) -> tuple[float, float]:
    """(LUFS, dBTP) from ffmpeg's ebur128 filter."""
    import re
    import subprocess

    import imageio_ffmpeg

    err = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = err[err.rindex("Summary:") :]
    i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    p = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return i, p


def timed(fn, repeat: int = 3):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=11)
    args = parser.parse_args()

    sample = get_script_template("loudspeaker_default").sample()
    data = {**sample, "body": " ".join([BODY] * 3)}
    script = render_script(data)
    print(f"script: {len(script.text)} chars, {len(script.sections)} sections, "
          f"estimate {script.estimated_seconds:.1f} s")  # fmt: skip

    t_norm, _ = timed(lambda: normalize_for_reading(script.text), 5)
    t_nfc, _ = timed(lambda: unicodedata.normalize("NFC", script.text).split(), 5)
    print(f"normaliser: {t_norm * 1000:.1f} ms   (baseline NFC+split {t_nfc * 1000:.2f} ms)")

    t_syn, wav = timed(lambda: synthesize(script.reading_text, normalise=False), 3)
    secs = wav_duration(wav)
    print(f"espeak: {t_syn:.3f} s for {secs:.1f} s of audio   (baseline real time {secs:.1f} s; "
          f"real-time factor {t_syn / secs:.4f}); estimate {estimate_duration(script.text):.1f} s, "
          f"off by {100 * (secs / script.estimated_seconds - 1):+.1f}%")  # fmt: skip

    ceiling = 10 ** (-1 / 20)
    speech = read_wav(wav)[0] * np.float32(10 ** (8 / 20))  # the script 8 dB hotter
    noise = np.random.default_rng(0).normal(0, 0.3, int(secs * 22050)).astype(np.float32)
    for label, x in (("speech +8 dB", speech), ("white noise, worst case", noise)):
        t_fast, fast = timed(lambda x=x: _limit(x, ceiling, 22050), 3)
        t_slow, slow = timed(lambda x=x: _limit_sliding(x, ceiling, 22050), 3)
        assert np.abs(fast).max() <= ceiling + 1e-6 and np.abs(slow).max() <= ceiling + 1e-6
        print(f"true-peak limiter, {label}: {t_fast * 1000:.0f} ms   (baseline sliding-window "
              f"sample-peak limiter {t_slow * 1000:.0f} ms, {t_slow / t_fast:.1f}x)")  # fmt: skip

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.wav"
        path.write_bytes(wav)
        t_ours, ours = timed(lambda: (measure_loudness(wav), measure_true_peak(wav)), 3)
        t_ff, ff = timed(lambda: ebur128(path), 1)
    print(f"loudness + true peak: {t_ours * 1000:.0f} ms -> {ours[0]:.2f} LUFS, {ours[1]:.2f} dBTP   "
          f"(baseline ffmpeg ebur128=peak=true {t_ff * 1000:.0f} ms -> {ff[0]:.1f} LUFS, "
          f"{ff[1]:.1f} dBTP)")  # fmt: skip

    t = np.arange(22050 * 4) / 22050
    jingle = write_wav(0.4 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t), 22050)
    t0, c0 = time.perf_counter(), time.process_time()
    total_audio = 0.0
    for unit in (UNITS * (args.units // len(UNITS) + 1))[: args.units]:
        s = render_script({**data, "unit_name": unit})
        out = script_audio(s, jingle=jingle)
        total_audio += wav_duration(out["wav"])
    t_kits, c_kits = time.perf_counter() - t0, time.process_time() - c0
    with tempfile.TemporaryDirectory() as tmp:
        levels = {}
        for fmt in ("wav", "mp3"):
            (Path(tmp) / f"kit.{fmt}").write_bytes(out[fmt])
            levels[fmt] = ebur128(Path(tmp) / f"kit.{fmt}")
    print("last unit's audio by ffmpeg ebur128: " + ", ".join(
        f"{k.upper()} {i:.1f} LUFS {p:.1f} dBTP" for k, (i, p) in levels.items()
    ) + "   (goal -16 ±1 LUFS, <= -1.0 dBTP)")  # fmt: skip
    print(f"kit audio: {args.units} units, {total_audio:.0f} s of WAV+MP3 in {t_kits:.2f} s wall, "
          f"{c_kits:.2f} s CPU ({t_kits / args.units:.2f} s per unit; baseline real time "
          f"{total_audio:.0f} s)")  # fmt: skip

    print(
        f"SUMMARY speech: {secs:.0f} s script synthesised in {t_syn:.2f} s (RTF {t_syn / secs:.4f}), "
        f"duration vs estimate {100 * (secs / script.estimated_seconds - 1):+.1f}%, "
        f"{args.units} units' kit audio in {t_kits:.1f} s wall ({c_kits:.1f} s CPU, "
        f"{t_kits / args.units:.2f} s per unit), kit WAV {levels['wav'][0]:.1f} LUFS "
        f"{levels['wav'][1]:.1f} dBTP, MP3 {levels['mp3'][0]:.1f} LUFS {levels['mp3'][1]:.1f} dBTP"
    )


if __name__ == "__main__":
    main()
