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


def measure_loudness(data: bytes | None = None, *, samples=None, rate: int | None = None) -> float:
    """Gated RMS level in dBFS (0 dBFS = a full-scale square wave).

    Like ITU-R BS.1770's gating, without its K-weighting: 400 ms blocks with
    75 % overlap, an absolute gate at -70 dBFS, then a relative gate 10 dB
    under the level of the blocks that passed. Pauses between sentences
    therefore do not pull the level down.
    """
    import numpy as np

    if samples is None:
        samples, rate = read_wav(data or b"")
    assert rate is not None
    x = np.asarray(samples, dtype=np.float32)
    hop = max(1, int(0.1 * rate))  # 400 ms blocks = 4 hops of 100 ms (75 % overlap)
    if len(x) < 4 * hop:
        power = np.array([np.mean(x.astype(np.float64) ** 2)]) if len(x) else np.array([0.0])
    else:
        chunks = len(x) // hop
        sq = np.square(x[: chunks * hop], dtype=np.float32).reshape(chunks, hop)
        energy = sq.sum(axis=1, dtype=np.float64)
        power = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * hop)
    gated = power[power > 10 ** (-70 / 10)]
    if gated.size == 0:
        return -120.0
    relative = 10 * np.log10(gated.mean()) - 10
    gated = gated[10 * np.log10(gated) > relative]
    return float(10 * np.log10(gated.mean()))


def _limit(x, ceiling: float, rate: int):
    """Peak limiter: a gain envelope that never lets |x| exceed ``ceiling``.

    The gain each sample needs -> its minimum per 5 ms block -> the minimum
    of each block and its two neighbours -> a linear ramp between block
    centres (5 ms attack and release). At any sample the ramp mixes two
    values that are both at most the gain that sample needs, so nothing
    overshoots; nowhere does it reduce gain more than 10 ms from a peak. O(n).
    """
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    peak = np.abs(x)
    if peak.max(initial=0.0) <= ceiling:
        return x
    need = np.minimum(np.float32(1.0), np.float32(ceiling) / np.maximum(peak, np.float32(1e-12)))
    half = max(1, int(0.005 * rate))
    n = len(x)
    blocks = -(-n // half)
    padded = np.pad(need, (0, blocks * half - n), mode="edge").reshape(blocks, half)
    edge = np.pad(padded.min(axis=1), 1, mode="edge")
    around = np.minimum(np.minimum(edge[:-2], edge[1:-1]), edge[2:])
    # Linear ramp between block centres, computed per block (no np.interp).
    k = np.arange(half, dtype=np.float32)
    centre = (half - 1) / 2
    t = (np.abs(k - centre) / half).astype(np.float32)
    left = np.concatenate([around[:1], around[:-1]])
    right = np.concatenate([around[1:], around[-1:]])
    neighbour = np.where(k >= centre, right[:, None], left[:, None])
    gain = (around[:, None] * (1 - t) + neighbour * t).ravel()[:n]
    out = x * gain
    np.clip(out, -ceiling, ceiling, out=out)
    return out


def normalize_loudness(wav: bytes, target_dbfs: float = -16.0, *, peak_dbfs: float = -1.0) -> bytes:
    """Bring the gated RMS level to ``target_dbfs``; peaks stay under ``peak_dbfs``.

    Every broadcast file then plays at the same level. Silence is returned
    unchanged (nothing to normalise).
    """
    import numpy as np

    if not -40.0 <= target_dbfs <= -3.0:
        raise SpeechError(
            "Mức âm lượng đích phải trong khoảng -40 đến -3 dBFS.", field="target_dbfs"
        )
    samples, rate = read_wav(wav)
    level = measure_loudness(samples=samples, rate=rate)
    if level <= -100.0:
        return write_wav(samples, rate)
    # The gated level of the limited signal drops a little below the target
    # when many peaks are limited: correct in a couple of passes.
    ceiling = 10 ** (peak_dbfs / 20)
    gain_db = target_dbfs - level
    out = samples
    for _ in range(3):
        out = _limit(samples * np.float32(10 ** (gain_db / 20)), ceiling, rate)
        miss = target_dbfs - measure_loudness(samples=out, rate=rate)
        if abs(miss) < 0.2:
            break
        gain_db += miss
    return write_wav(out, rate)


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


def wav_to_mp3(wav: bytes, bitrate_kbps: int = 64) -> bytes:
    """Encode WAV bytes as MP3 (mono, same sample rate) with lameenc."""
    import lameenc
    import numpy as np

    if bitrate_kbps not in MP3_BITRATES:
        raise SpeechError(
            f"Tốc độ bit MP3 {bitrate_kbps} không hợp lệ (dùng 32, 48, 64, 96, 128…).",
            field="bitrate_kbps",
        )
    samples, rate = read_wav(wav)
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
