"""Loudness and true peak after ITU-R BS.1770-4 / EBU R128, in numpy only.

* :func:`integrated_loudness` — K-weighting (the two biquads of BS.1770, their
  coefficients derived for any sample rate as libebur128 does), 400 ms blocks
  with 75 % overlap, absolute gate −70 LUFS, relative gate −10 LU. Returns LUFS.
* :func:`true_peak` — the sample peak and the band-limited peak between
  samples, from an 8-phase polyphase interpolator (windowed sinc) evaluated
  only around samples loud enough to matter. Returns dBTP.
* :func:`normalize` — static gain to the target loudness, then a true-peak
  limiter (smooth gain envelope, 5 ms attack/release) under the ceiling,
  re-measured a couple of times because limiting lowers the loudness.

The IIR filters run without scipy: each biquad is split into its FIR part and
two first-order recursions ``y[n] = v[n] + p·y[n-1]`` (p a pole, complex for
the shelf), each computed block by block with a scaled cumulative sum and a
short carry loop over the blocks — exact to float rounding, and O(n).
"""

from __future__ import annotations

import functools
import math

import numpy as np

ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
OVERSAMPLE = 8
_TAPS = 16  # taps per side of the interpolator (32 in all)


@functools.lru_cache(maxsize=8)
def k_weighting(rate: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """((b, a) of the high shelf, (b, a) of the high-pass) at ``rate`` (libebur128's design)."""
    f0, gain, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (gain / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = np.array(
        [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    )
    shelf_a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    return (shelf_b, shelf_a), (hp_b, hp_a)


def _one_pole(v: np.ndarray, p: complex, scale: complex = 1.0) -> np.ndarray:
    """``scale · y`` where ``y[n] = v[n] + p·y[n-1]`` (zero initial state); complex128, O(n).

    Inside a block of L samples, y[j] = p^j · (Σ_{k≤j} p^-k v[k] + p·y_prev),
    y_prev being the last value of the block before. L is chosen so that
    |p|^L = e^-40: the previous block's own carry is then below float64
    precision, so one vectorised step carries every block. Rounding stays near
    eps·L because each term is scaled back by p^(j-k), |p| < 1.
    """
    n = len(v)
    mag = abs(p)
    if n == 0 or mag == 0:
        return v.astype(np.complex128) * scale
    block = int(min(1 << 14, max(8, 40.0 / max(1e-9, -math.log(mag)))))
    nb = -(-n // block)
    padded = np.zeros(nb * block)
    padded[:n] = v
    j = np.arange(block, dtype=np.float64)
    w = padded.reshape(nb, block) * (p ** (-j))  # complex, one pass
    np.cumsum(w, axis=1, out=w)
    w *= p**j  # y of each block from zero state
    if nb > 1:
        last = w[:-1, -1].copy()
        w[1:] += last[:, None] * (p ** (j + 1))[None, :]
    if scale != 1.0:
        w *= scale
    return w.reshape(-1)[:n]


def _biquad(x: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Direct-form biquad (a[0] == 1) over float samples; float64 out.

    The all-pole part 1/((1 - p1/z)(1 - p2/z)) is split in partial fractions
    c1/(1 - p1/z) + c2/(1 - p2/z); with conjugate poles the second term is the
    conjugate of the first, so one complex recursion gives y = 2·Re(c1·F_p1(v)).
    (The high-pass's poles are nearly equal, c1 ~ 10^3: float64 keeps the
    cancellation error near 10^-9.)
    """
    x = np.asarray(x, np.float64)
    v = b[0] * x
    v[1:] += b[1] * x[:-1]
    v[2:] += b[2] * x[:-2]
    disc = complex(a[1] * a[1] - 4 * a[2])
    p1 = (-a[1] + disc**0.5) / 2
    p2 = (-a[1] - disc**0.5) / 2
    if abs(p1.imag) > 1e-12:  # conjugate pair
        return _one_pole(v, p1, 2 * p1 / (p1 - p2)).real.copy()
    return _one_pole(_one_pole(v, p1.real), p2.real).real.copy()


def k_weighted(x: np.ndarray, rate: int) -> np.ndarray:
    (sb, sa), (hb, ha) = k_weighting(int(rate))
    return _biquad(_biquad(x, sb, sa), hb, ha)


def block_powers(weighted: np.ndarray, rate: int) -> np.ndarray:
    """Mean square of every 400 ms block, hopped by 100 ms (75 % overlap)."""
    hop = max(1, int(round(0.1 * rate)))
    chunks = len(weighted) // hop
    if chunks < 4:
        return np.array([float(np.mean(np.square(weighted))) if len(weighted) else 0.0])
    sq = np.square(weighted[: chunks * hop]).reshape(chunks, hop).sum(axis=1)
    return (sq[:-3] + sq[1:-2] + sq[2:-1] + sq[3:]) / (4 * hop)


def gated_loudness(powers: np.ndarray) -> float:
    """BS.1770 gating of block powers -> LUFS (-inf as -120 for silence)."""
    lufs = -0.691 + 10 * np.log10(np.maximum(powers, 1e-30))
    kept = powers[lufs > ABSOLUTE_GATE]
    if kept.size == 0:
        return -120.0
    threshold = -0.691 + 10 * math.log10(float(kept.mean())) + RELATIVE_GATE
    kept = powers[lufs > threshold]
    return float(-0.691 + 10 * math.log10(float(kept.mean())))


def integrated_loudness(x: np.ndarray, rate: int) -> float:
    """Integrated loudness of mono samples in LUFS (ITU-R BS.1770-4)."""
    return gated_loudness(block_powers(k_weighted(x, rate), rate))


@functools.lru_cache(maxsize=4)
def _interpolator(phases: int = OVERSAMPLE, taps: int = _TAPS) -> np.ndarray:
    """(2·taps, phases-1) windowed-sinc kernels for the points k/phases between samples."""
    offsets = np.arange(1, phases) / phases  # fractional positions after sample i
    j = np.arange(-taps + 1, taps + 1)  # sample i + j, j = -15 .. 16
    t = j[:, None] - offsets[None, :]
    window = np.kaiser(2 * taps + 1, 8.0)
    # the Kaiser window sampled at the same fractional positions
    wpos = (t + taps) / (2 * taps) * (2 * taps)
    win = np.interp(wpos, np.arange(2 * taps + 1), window)
    kernel = np.sinc(t) * win
    return (kernel / kernel.sum(axis=0, keepdims=True)).astype(np.float64)


def peak_envelope(x: np.ndarray, floor: float) -> np.ndarray:
    """Per sample: max(|x[i]|, the interpolated peaks just before and after it).

    Only intervals next to a local maximum of |x| above ``floor`` are
    interpolated (inter-sample peaks of natural sound stay within a few dB of
    the samples around them); elsewhere the envelope is |x|.
    """
    x = np.asarray(x, np.float64)
    env = np.abs(x)
    n = len(x)
    if n < 2:
        return env
    # Intervals (i-1, i) and (i, i+1) around each local maximum of |x| above the
    # floor: a band-limited peak between samples rises next to the larger of them.
    hot = env > floor
    hot[1:] &= env[1:] >= env[:-1]
    hot[:-1] &= env[:-1] >= env[1:]
    mark = np.zeros(n, bool)
    mark[:-1] = hot[:-1] | hot[1:]
    starts = np.flatnonzero(mark[:-1])
    if starts.size == 0:
        return env
    kernel = _interpolator()
    taps = kernel.shape[0] // 2
    padded = np.pad(x, (taps, taps))
    offsets = np.arange(2 * taps) + 1  # x[i-15 .. i+16] sit at padded[i+1 .. i+32]
    between = np.empty(len(starts))
    step = 1 << 15  # bounded memory: 32 gathered samples per interval
    for lo in range(0, len(starts), step):
        part = starts[lo : lo + step]
        between[lo : lo + step] = np.abs(padded[part[:, None] + offsets] @ kernel).max(axis=1)
    # starts are unique and sorted: plain fancy-index maxima are safe
    env[starts] = np.maximum(env[starts], between)
    env[starts + 1] = np.maximum(env[starts + 1], between)
    return env


def true_peak(x: np.ndarray, rate: int | None = None) -> float:
    """True peak in dBTP (8x oversampled estimate).

    The signal is taken as silent before and after the file, like a
    resampler flushing its filter: a file that stops abruptly overshoots there.
    """
    x = np.asarray(x, np.float64)
    if len(x) == 0:
        return -120.0
    sample_peak = float(np.abs(x).max())
    if sample_peak == 0:
        return -120.0
    padded = np.pad(x, 2)
    peak = float(peak_envelope(padded, sample_peak * 0.5).max())
    return 20 * math.log10(peak)


def _gain_envelope(env: np.ndarray, ceiling: float, rate: int) -> np.ndarray | None:
    """A smooth gain that keeps ``env`` (peak per sample) under ``ceiling``; None if 1 everywhere.

    The gain each 5 ms block allows (ceiling / its peak) -> minimum with both
    neighbours -> linear ramps between block centres: at any sample the ramp
    mixes two values both at most the gain that sample allows, so nothing
    overshoots. Only blocks near a peak are computed. O(n).
    """
    n = len(env)
    half = max(1, int(0.005 * rate))
    blocks = -(-n // half)
    padded = np.zeros(blocks * half)
    padded[:n] = env
    block_gain = np.minimum(
        1.0, ceiling / np.maximum(padded.reshape(blocks, half).max(axis=1), 1e-12)
    )
    if block_gain.min() >= 1.0:
        return None
    edge = np.pad(block_gain, 1, mode="edge")
    around = np.minimum(np.minimum(edge[:-2], edge[1:-1]), edge[2:])
    left = np.concatenate([around[:1], around[:-1]])
    right = np.concatenate([around[1:], around[-1:]])
    active = np.flatnonzero((around < 1.0) | (left < 1.0) | (right < 1.0))
    k = np.arange(half, dtype=np.float64)
    centre = (half - 1) / 2
    t = np.abs(k - centre) / half
    neighbour = np.where(k >= centre, right[active][:, None], left[active][:, None])
    gain = np.ones((blocks, half))
    gain[active] = around[active][:, None] * (1 - t) + neighbour * t
    return gain.ravel()[:n]


def limit(x: np.ndarray, ceiling: float, rate: int, *, true_peaks: bool = True) -> np.ndarray:
    """Keep the (true) peaks of ``x`` under ``ceiling`` (linear), float64 out."""
    x = np.asarray(x, np.float64)
    if len(x) == 0:
        return x
    env = peak_envelope(x, ceiling * 0.5) if true_peaks else np.abs(x)
    gain = _gain_envelope(env, ceiling, rate)
    return x if gain is None else x * gain


def normalize(
    x: np.ndarray, rate: int, target_lufs: float = -16.0, true_peak_db: float = -1.5
) -> tuple[np.ndarray, float, float]:
    """(samples at ``target_lufs`` with true peaks ≤ ``true_peak_db``, loudness, true peak).

    The K-weighted signal is computed once; the loudness of the limited signal
    is re-estimated from it (the limiter's gain changes slowly next to the
    filters' response), and the static gain corrected, up to three times.
    """
    x = np.asarray(x, np.float64)
    weighted = k_weighted(x, rate)
    level = gated_loudness(block_powers(weighted, rate))
    if level <= -100.0:
        return x, level, true_peak(x)
    ceiling = 10 ** (true_peak_db / 20)
    gain_db = target_lufs - level
    # interpolation is linear: the peak envelope of g·x is g times that of x
    # (its floor leaves room for the gain to grow by 3 dB in the loop below)
    peaks = peak_envelope(x, ceiling * 0.5 / 10 ** ((gain_db + 3) / 20))
    out = x
    prev: tuple[float, float] | None = (gain_db - (target_lufs - level), level)  # unity gain
    for _ in range(4):
        g = 10 ** (gain_db / 20)
        scaled = x * g
        envelope = _gain_envelope(peaks * g, ceiling, rate)
        if envelope is not None:
            out = scaled * envelope
            envelope *= g
            level = gated_loudness(block_powers(weighted * envelope, rate))
        else:
            out = scaled
            level = target_lufs
        miss = target_lufs - level
        if abs(miss) < 0.1:
            break
        # secant step: limiting makes each extra dB of gain add less loudness
        slope = 1.0
        if prev is not None and abs(gain_db - prev[0]) > 1e-6:
            slope = min(1.0, max(0.1, (level - prev[1]) / (gain_db - prev[0])))
        prev = (gain_db, level)
        gain_db += miss / slope
    # the envelope is applied to the samples: re-check the peaks between them
    peak = true_peak(out)
    if peak > true_peak_db:
        out = out * 10 ** ((true_peak_db - peak) / 20)
        peak = true_peak_db
    return out, level, peak
