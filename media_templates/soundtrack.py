"""Soundtrack for short videos: voice-over placed per slide, a generated
background pad (no downloaded music) and ducking of the music under the voice."""

from __future__ import annotations

import io
import wave

RATE = 44100


def read_wav_mono(raw: bytes):
    """WAV bytes -> (float32 mono samples in [-1, 1], rate)."""
    import numpy as np

    with wave.open(io.BytesIO(raw)) as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        frames = w.readframes(n)
    if width == 2:
        x = np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0
    elif width == 1:
        x = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128) / 128.0
    elif width == 4:
        x = np.frombuffer(frames, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"unsupported WAV sample width {width}")
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, rate


def resample(x, src: int, dst: int = RATE):
    import numpy as np

    if src == dst or len(x) == 0:
        return x.astype(np.float32)
    n = int(round(len(x) * dst / src))
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)


def background_pad(seconds: float, *, seed: int = 7, level: float = 0.22):
    """A calm generated pad: slow chord changes of soft sine partials."""
    import numpy as np

    n = int(seconds * RATE)
    t = np.arange(n, dtype=np.float32) / RATE
    # I - V - vi - IV in C major, one chord every 4 seconds
    chords = [
        (261.63, 329.63, 392.00),
        (196.00, 246.94, 392.00),
        (220.00, 261.63, 329.63),
        (174.61, 220.00, 349.23),
    ]
    out = np.zeros(n, np.float32)
    seg = 4.0
    rng = np.random.default_rng(seed)
    for i in range(int(np.ceil(seconds / seg)) + 1):
        start = int(max(0.0, i * seg - 0.5) * RATE)
        end = min(n, int((i + 1) * seg * RATE + 0.5 * RATE))
        if start >= n:
            break
        tt = t[start:end] - t[start]
        env = np.minimum(1.0, tt / 0.6) * np.minimum(1.0, (tt[-1] - tt + 1e-3) / 0.6)
        chord = chords[i % len(chords)]
        part = np.zeros(end - start, np.float32)
        for f in chord:
            detune = 1 + rng.uniform(-0.002, 0.002)
            part += np.sin(2 * np.pi * f * detune * tt) + 0.3 * np.sin(2 * np.pi * 2 * f * tt)
        out[start:end] += (part * env / (len(chord) * 1.3)).astype(np.float32)
    fade = min(n, int(1.0 * RATE))
    if fade:
        out[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        out[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return out * level


def duck(music, voice, *, depth: float = 0.8, attack: float = 0.05, release: float = 0.35):
    """Lower ``music`` where ``voice`` is active (envelope follower on the voice)."""
    import numpy as np

    win = int(0.02 * RATE)
    n = len(music)
    v = np.zeros(n, np.float32)
    v[: min(n, len(voice))] = np.abs(voice[:n])
    frames = n // win + 1
    padded = np.zeros(frames * win, np.float32)
    padded[:n] = v
    rms = np.sqrt((padded.reshape(frames, win) ** 2).mean(axis=1))
    active = (rms > 0.01).astype(np.float32)
    # smooth: fast attack, slow release, per 20 ms frame
    a_up, a_down = min(1.0, 0.02 / attack), min(1.0, 0.02 / release)
    env = np.zeros(frames, np.float32)
    level = 0.0
    for i, target in enumerate(active):
        level += (target - level) * (a_up if target > level else a_down)
        env[i] = level
    gain = 1.0 - depth * np.repeat(env, win)[:n]
    return music * gain


def mix(voice_clips: list[tuple[float, bytes]], total: float, *, music: bool = True):
    """Mix voice clips (start second, WAV bytes) over an optional ducked pad.

    Returns (float32 samples at RATE, voice track) for tests and muxing."""
    import numpy as np

    n = int(total * RATE)
    voice = np.zeros(n, np.float32)
    for start, raw in voice_clips:
        x, rate = read_wav_mono(raw)
        x = resample(x, rate)
        s = int(start * RATE)
        e = min(n, s + len(x))
        if e > s:
            voice[s:e] += x[: e - s]
    out = voice.copy()
    if music:
        out += duck(background_pad(total), voice)
    peak = float(np.max(np.abs(out))) if n else 0.0
    if peak > 0.98:
        out *= 0.98 / peak
    return out, voice


def to_wav(samples) -> bytes:
    import numpy as np

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return buf.getvalue()
