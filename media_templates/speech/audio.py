"""WAV helpers: decode/encode, loudness normalisation, jingle mixing, MP3.

numpy is imported inside the functions (it is heavy); lameenc encodes MP3.
All functions take and return WAV bytes; the output is mono 16-bit PCM.
"""

from __future__ import annotations

import io
import struct
import wave
from typing import TYPE_CHECKING

from .errors import SpeechError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MP3_BITRATES = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320)


def read_wav(data: bytes, *, field: str = "wav") -> tuple[np.ndarray, int]:
    """Decode PCM WAV bytes into mono float32 samples in [-1, 1] and the rate."""
    import numpy as np

    if not isinstance(data, bytes | bytearray) or len(data) < 44:
        raise SpeechError("Tệp âm thanh trống hoặc không phải WAV.", field=field)
    try:
        with wave.open(io.BytesIO(bytes(data)), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise SpeechError(f"Tệp âm thanh không phải WAV PCM hợp lệ ({exc}).", field=field) from exc
    if rate < 4000 or channels < 1:
        raise SpeechError("Tệp WAV có tần số lấy mẫu hoặc số kênh không hợp lệ.", field=field)
    usable = len(frames) - len(frames) % (width * channels)
    frames = frames[:usable]
    if width == 1:
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3).astype(np.int32)  # 24-bit
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = ints.astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = np.frombuffer(frames, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise SpeechError(f"Không hỗ trợ WAV {width * 8} bit.", field=field)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples.astype(np.float32), rate


def write_wav(samples: np.ndarray, rate: int) -> bytes:
    """Encode float samples in [-1, 1] as mono 16-bit PCM WAV."""
    import numpy as np

    pcm = np.asarray(samples, dtype=np.float32) * np.float32(32767.0)
    np.rint(pcm, out=pcm)
    np.clip(pcm, -32768, 32767, out=pcm)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def wav_duration(data: bytes) -> float:
    samples, rate = read_wav(data)
    return len(samples) / rate


# EBU R128 / radio desks: -16 LUFS for speech programmes online, true peak at most
# -1 dBTP. The WAV is limited to -1.5 dBTP so the MP3 (whose encoding adds some
# overshoot) stays under -1 dBTP as well.
TARGET_LUFS = -16.0
TRUE_PEAK_DBTP = -1.5
MP3_TRUE_PEAK_DBTP = -2.5


def measure_loudness(data: bytes | None = None, *, samples=None, rate: int | None = None) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4: K-weighting, 400 ms blocks,
    absolute gate -70 LUFS, relative gate -10 LU), as ffmpeg's ``ebur128`` reads it.
    Pauses between sentences therefore do not pull the level down."""
    from .loudness import integrated_loudness

    if samples is None:
        samples, rate = read_wav(data or b"")
    assert rate is not None
    return integrated_loudness(samples, rate)


def measure_true_peak(data: bytes | None = None, *, samples=None) -> float:
    """True peak in dBTP (8x oversampled band-limited estimate)."""
    from .loudness import true_peak

    if samples is None:
        samples, _rate = read_wav(data or b"")
    return true_peak(samples)


def _limit(x, ceiling: float, rate: int):
    """True-peak limiter: a smooth gain envelope keeping the band-limited peaks
    of ``x`` under ``ceiling`` (linear); nowhere does it reduce gain more than
    10 ms from a peak. O(n)."""
    from .loudness import limit

    return limit(x, ceiling, rate)


def normalize_loudness(
    wav: bytes, target_lufs: float = TARGET_LUFS, *, true_peak_db: float = TRUE_PEAK_DBTP
) -> bytes:
    """Bring the integrated loudness to ``target_lufs``; true peaks stay under ``true_peak_db``.

    Every broadcast file then plays at the same level. Silence is returned
    unchanged (nothing to normalise).
    """
    from .loudness import normalize

    if not -40.0 <= target_lufs <= -3.0:
        raise SpeechError(
            "Mức âm lượng đích phải trong khoảng -40 đến -3 LUFS.", field="target_lufs"
        )
    if not -20.0 <= true_peak_db <= 0.0:
        raise SpeechError("Mức đỉnh thực phải trong khoảng -20 đến 0 dBTP.", field="true_peak_db")
    samples, rate = read_wav(wav)
    out, _level, _peak = normalize(samples, rate, target_lufs, true_peak_db)
    return write_wav(out, rate)


def normalize_for_broadcast(
    wav: bytes,
    target_lufs: float = TARGET_LUFS,
    *,
    true_peak_db: float = TRUE_PEAK_DBTP,
    mp3_true_peak_db: float = MP3_TRUE_PEAK_DBTP,
) -> tuple[bytes, bytes]:
    """(the WAV at ``target_lufs`` under ``true_peak_db``, the same programme
    under ``mp3_true_peak_db`` to feed ``wav_to_mp3(..., true_peak_db=None)``):
    one loudness measurement and peak analysis for both."""
    from .loudness import normalize_each

    if not -40.0 <= target_lufs <= -3.0:
        raise SpeechError(
            "Mức âm lượng đích phải trong khoảng -40 đến -3 LUFS.", field="target_lufs"
        )
    if not -20.0 <= min(true_peak_db, mp3_true_peak_db) <= max(true_peak_db, mp3_true_peak_db) <= 0:
        raise SpeechError("Mức đỉnh thực phải trong khoảng -20 đến 0 dBTP.", field="true_peak_db")
    samples, rate = read_wav(wav)
    (out, _l, _p), (mp3_in, _l2, _p2) = normalize_each(
        samples, rate, target_lufs, [true_peak_db, mp3_true_peak_db]
    )
    return write_wav(out, rate), write_wav(mp3_in, rate)


def _resample(x, src_rate: int, dst_rate: int):
    import numpy as np

    if src_rate == dst_rate or len(x) == 0:
        return x
    n = max(1, int(round(len(x) * dst_rate / src_rate)))
    t_dst = np.arange(n) * (src_rate / dst_rate)
    return np.interp(t_dst, np.arange(len(x)), x).astype(np.float32)


def mix_jingle(
    speech_wav: bytes,
    jingle_wav: bytes | None,
    *,
    intro_seconds: float = 3.0,
    outro_seconds: float = 2.0,
    bed_db: float = -20.0,
) -> bytes:
    """Put a jingle under the speech: full level for an intro, ducked while
    the voice speaks (looped if short), back up for the outro, faded out.

    ``jingle_wav=None`` returns the speech unchanged.
    """
    import numpy as np

    if jingle_wav is None:
        return speech_wav
    speech, rate = read_wav(speech_wav, field="speech_wav")
    jingle, jrate = read_wav(jingle_wav, field="jingle")
    jingle = _resample(jingle, jrate, rate)
    if len(jingle) < int(0.05 * rate):
        raise SpeechError("Nhạc hiệu quá ngắn (dưới 0,05 giây).", field="jingle")
    intro = min(int(intro_seconds * rate), len(jingle))
    outro = int(outro_seconds * rate)
    total = intro + len(speech) + outro
    reps = int(np.ceil(total / len(jingle)))
    bed = np.tile(jingle, reps)[:total].astype(np.float32)
    # Gain curve: 1.0 in the intro, duck over 0.5 s to bed level, back up over
    # 0.5 s after the speech, then fade out across the outro.
    duck = 10 ** (bed_db / 20)
    ramp = max(1, int(0.5 * rate))
    gain = np.full(total, duck, dtype=np.float32)
    gain[:intro] = 1.0
    down_end = min(total, intro + ramp)
    gain[intro:down_end] = np.linspace(1.0, duck, down_end - intro)
    speech_end = intro + len(speech)
    up_end = min(total, speech_end + ramp)
    gain[speech_end:up_end] = np.linspace(duck, 0.6, up_end - speech_end)
    gain[up_end:] = np.linspace(0.6, 0.0, total - up_end) if total > up_end else gain[up_end:]
    mix = bed * gain
    mix[intro:speech_end] += speech
    peak = np.max(np.abs(mix)) if len(mix) else 0.0
    if peak > 0.99:
        mix = mix * (0.99 / peak)
    return write_wav(mix, rate)


def wav_to_mp3(
    wav: bytes, bitrate_kbps: int = 64, *, true_peak_db: float | None = MP3_TRUE_PEAK_DBTP
) -> bytes:
    """Encode WAV bytes as MP3 (mono, same sample rate) with lameenc.

    MP3 coding noise raises the true peak (by up to about 1 dB at 24-32
    kbit/s, 0.5 dB at 64): the samples are first limited to ``true_peak_db``
    (-2.5 dBTP) at the same integrated loudness, so the decoded MP3 stays
    under -1 dBTP. ``None`` skips that.
    """
    import lameenc
    import numpy as np

    if bitrate_kbps not in MP3_BITRATES:
        raise SpeechError(
            f"Tốc độ bit MP3 {bitrate_kbps} không hợp lệ (dùng 32, 48, 64, 96, 128…).",
            field="bitrate_kbps",
        )
    samples, rate = read_wav(wav)
    if true_peak_db is not None:
        from .loudness import block_powers, gated_loudness, k_hop_energies, normalize

        hops = k_hop_energies(samples, rate)  # limit, keeping the loudness it had
        level = gated_loudness(block_powers(hops, rate)) if len(hops) else -120.0
        if level > -100.0:
            samples = normalize(samples, rate, level, true_peak_db, weighted_hops=hops)[0]
    if rate not in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000):
        target = 22050 if rate < 22050 else 44100
        samples, rate = _resample(samples, rate, target), target
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(5)  # speech at 64 kbps: 2 (slowest) adds nothing audible
    return bytes(encoder.encode(pcm) + encoder.flush())
