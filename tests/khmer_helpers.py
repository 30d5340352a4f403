"""Audio for the Khmer reading tests: a speech-like recording padded with silence,
other containers made with the wheel's ffmpeg, and ffmpeg's ebur128 measurement."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def speech_wav(*, peak_db: float = -30.0, lead: float = 2.0, tail: float = 3.0,
               rate: int = 48000, text: str | None = None) -> bytes:
    """A 'recording': speech (eSpeak NG, standing in for the announcer's Khmer) at
    ``peak_db`` dBFS sample peak, with ``lead``/``tail`` seconds of near-silence
    (room noise at -75 dBFS) around it, resampled to ``rate``."""
    import numpy as np

    from media_templates.speech import read_wav, synthesize, write_wav
    from media_templates.speech.audio import _resample

    voice = synthesize(text or "Kính thưa bà con, đây là phần thông tin bằng tiếng Khmer của xã.")
    x, r = read_wav(voice)
    x = _resample(x, r, rate)
    x = x / max(float(np.max(np.abs(x))), 1e-9) * 10 ** (peak_db / 20)
    noise = np.random.default_rng(1).normal(0, 10 ** (-75 / 20), int((lead + tail) * rate))
    out = np.concatenate([noise[: int(lead * rate)], x, noise[int(lead * rate):]]).astype(np.float32)
    return write_wav(out, rate)


def convert(wav: bytes, fmt: str, tmp: Path) -> bytes:
    """The WAV as another container: mp3, ogg (Vorbis), webm (Opus), m4a (AAC)."""
    src, out = tmp / "src.wav", tmp / f"out.{fmt}"
    src.write_bytes(wav)
    codec = {"mp3": ["-c:a", "libmp3lame"], "ogg": ["-c:a", "libvorbis"],
             "webm": ["-c:a", "libopus"], "m4a": ["-c:a", "aac"]}[fmt]
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-i", str(src), *codec, str(out)], check=True)
    return out.read_bytes()


def ebur128(path) -> tuple[float, float]:
    """(integrated loudness LUFS, true peak dBTP) as ffmpeg's ebur128 filter measures them."""
    err = subprocess.run(
        [ffmpeg(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    ).stderr
    summary = err[err.rindex("Summary:"):]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


def leading_silence(wav: bytes, floor_db: float = -50.0) -> float:
    """Seconds before the first 20 ms frame louder than ``floor_db`` dBFS."""
    import numpy as np

    from media_templates.speech import read_wav

    x, rate = read_wav(wav)
    frame = int(0.02 * rate)
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(20 * np.log10(np.maximum(rms, 1e-9)) > floor_db)[0]
    return float(loud[0] * frame / rate) if len(loud) else len(x) / rate
