"""Khmer readings: the Khmer part of a loudspeaker script, read by a person.

No offline Khmer voice exists, so a commune's announcer records the Khmer part
on the kit page (MediaRecorder) or uploads a file. :func:`process_reading`
checks the file by its content (ffmpeg's probe, never the extension), decodes
it, trims leading and trailing silence and levels it to the same target as the
Vietnamese loudspeaker audio (``media_templates.speech``: -16 LUFS integrated,
true peak under -1.5 dBTP for the WAV and -2.5 dBTP for the MP3's input), and
:func:`save_reading` stores WAV + MP3 as a :class:`KhmerReading` (newest per
(campaign, unit, item) wins).

The kit builder calls :func:`kit_spec` (plain data for ``produce_files``),
:func:`digest_part` (the readings' sha256 in the kit's input digest) and
:func:`add_audio` (a bilingual script's audio: the Vietnamese TTS part, a short
pause, the reading; without a reading the Vietnamese part alone and a note that
the announcer reads the Khmer part live).
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from sqlmodel import Session, select

from campaigns.kits.models import KhmerReading
from campaigns.kits.scripts import is_bilingual
from campaigns.models import ContentItem
from core.models import OrgUnit
from core.timeutil import utcnow

log = logging.getLogger(__name__)

#: largest file accepted (a 10-minute mono WAV at 22 kHz, or any compressed recording)
MAX_BYTES = 25 * 1024 * 1024
#: after trimming the silence around it
MIN_SECONDS = 1.0
MAX_SECONDS = 600.0
#: the stored reading's sample rate (a person's voice; the TTS is 22 050 Hz)
RATE = 44100
#: the pause between the Vietnamese part and the reading in the bilingual audio
PAUSE_SECONDS = 0.8
#: containers accepted, as ffmpeg names them when it probes the bytes
FORMATS = {
    "wav": "WAV",
    "mp3": "MP3",
    "ogg": "OGG",
    "matroska,webm": "WebM",
    "mov,mp4,m4a,3gp,3g2,mj2": "M4A",
}
#: the note every kit without a reading carries, for each bilingual bulletin
LIVE_NOTE = (
    "Phần tiếng Khmer: chưa có bản ghi âm — phát thanh viên đọc trực tiếp theo kịch bản"
)
# silence: frames quieter than this (dBFS), or 35 dB under the loudest frame
SILENCE_FLOOR_DB = -55.0
SILENCE_RANGE_DB = 35.0
FRAME_SECONDS = 0.02
KEEP_SECONDS = 0.15  # margin kept around the speech


class ReadingError(ValueError):
    """A recording that cannot be used; ``message`` is Vietnamese, for the page."""

    def __init__(self, message: str):
        self.message = unicodedata.normalize("NFC", message)
        super().__init__(self.message)


@dataclass(frozen=True)
class Processed:
    wav: bytes
    mp3: bytes
    seconds: float
    lufs: float
    true_peak: float
    #: seconds of silence trimmed at the start and at the end
    trimmed: tuple[float, float]
    container: str


# -- processing ------------------------------------------------------------------------------


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> tuple[str | None, bool, float | None]:
    """(container as ffmpeg names it, has an audio stream, duration) from the bytes.

    The wheel's ffmpeg has no ffprobe; ``ffmpeg -i`` prints the same probe
    (``Input #0, <format>, from …``). The file has no extension, so the format
    comes from the content alone.
    """
    out = subprocess.run(
        [_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    ).stderr
    m = re.search(r"^Input #0, (.+?), from ", out, flags=re.M)
    fmt = m.group(1) if m else None
    has_audio = bool(re.search(r"Stream #0:\d+.*: Audio: ", out))
    d = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", out)
    seconds = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else None
    return fmt, has_audio, seconds


def _decode(path: Path) -> bytes:
    """The first audio stream as mono 16-bit WAV at :data:`RATE` (at most a bit more
    than :data:`MAX_SECONDS`, so a huge file is not decoded whole)."""
    res = subprocess.run(
        [_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
         "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE), "-t", str(MAX_SECONDS + 120),
         "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"],
        capture_output=True,
        timeout=300,
    )
    if res.returncode != 0 or len(res.stdout) < 44:
        log.info("khmer reading: ffmpeg could not decode: %s", res.stderr[-500:])
        raise ReadingError(
            "Không đọc được âm thanh trong tệp (tệp hỏng hoặc mã hóa không hỗ trợ). "
            "Hãy ghi âm lại hoặc gửi tệp WAV/MP3."
        )
    return _fix_wav_sizes(res.stdout)


def _fix_wav_sizes(data: bytes) -> bytes:
    """ffmpeg writing WAV to a pipe cannot seek back: the RIFF and data sizes are
    left at their maximum. Put the real sizes in (the data chunk runs to the end)."""
    import struct

    buf = bytearray(data)
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        return bytes(buf)
    pos = 12
    while pos + 8 <= len(buf):
        cid = bytes(buf[pos : pos + 4])
        size = struct.unpack_from("<I", buf, pos + 4)[0]
        if cid == b"data":
            real = len(buf) - pos - 8
            real -= real % 2
            struct.pack_into("<I", buf, pos + 4, real)
            del buf[pos + 8 + real :]
            break
        pos += 8 + size + (size & 1)
    struct.pack_into("<I", buf, 4, len(buf) - 8)
    return bytes(buf)


def trim_silence(samples, rate: int):
    """(samples without the silence before and after the speech, seconds cut at the
    start, seconds cut at the end). Raises ReadingError when nothing but silence."""
    import numpy as np

    frame = max(1, int(FRAME_SECONDS * rate))
    n = len(samples) // frame
    if n == 0:
        raise ReadingError("Bản ghi quá ngắn: không có tiếng đọc.")
    frames = np.asarray(samples[: n * frame], dtype=np.float64).reshape(n, frame)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    loudest = float(db.max())
    if loudest < SILENCE_FLOOR_DB:
        raise ReadingError(
            "Bản ghi chỉ có im lặng: không nghe thấy tiếng đọc. Hãy kiểm tra micrô "
            "(đã cho phép trình duyệt dùng micrô chưa?) rồi ghi âm lại."
        )
    voiced = np.nonzero(db >= max(SILENCE_FLOOR_DB, loudest - SILENCE_RANGE_DB))[0]
    keep = int(KEEP_SECONDS * rate)
    start = max(0, int(voiced[0]) * frame - keep)
    end = min(len(samples), (int(voiced[-1]) + 1) * frame + keep)
    return samples[start:end], start / rate, (len(samples) - end) / rate


def _seconds_vi(seconds: float) -> str:
    from core.formatting import fmt_number

    return fmt_number(round(seconds, 1), locale="vi")


def process_reading(data: bytes) -> Processed:
    """Check, decode, trim and level a recording; raises :class:`ReadingError`."""
    from media_templates.speech import (
        measure_loudness,
        measure_true_peak,
        read_wav,
        wav_to_mp3,
        write_wav,
    )
    from media_templates.speech.audio import (
        MP3_TRUE_PEAK_DBTP,
        TARGET_LUFS,
        TRUE_PEAK_DBTP,
        normalize_for_broadcast,
    )

    if not data:
        raise ReadingError("Tệp trống: chưa có bản ghi âm nào được gửi.")
    if len(data) > MAX_BYTES:
        raise ReadingError(
            f"Tệp quá lớn ({len(data) // (1024 * 1024)} MB; tối đa {MAX_BYTES // (1024 * 1024)} MB). "
            "Hãy gửi tệp MP3 hoặc bản ghi ngắn hơn."
        )
    with tempfile.TemporaryDirectory(prefix="khmer-") as tmp:
        src = Path(tmp) / "input"  # no extension: the format is read from the bytes
        src.write_bytes(data)
        fmt, has_audio, probed = probe(src)
        if fmt is None:
            raise ReadingError(
                "Tệp không phải là tệp âm thanh. Hãy gửi bản ghi WAV, MP3, OGG, WebM hoặc M4A."
            )
        if fmt not in FORMATS:
            raise ReadingError(
                "Định dạng tệp không được hỗ trợ. Hãy gửi bản ghi WAV, MP3, OGG, WebM hoặc M4A."
            )
        if not has_audio:
            raise ReadingError("Tệp không có tiếng (không có luồng âm thanh).")
        if probed is not None and probed > MAX_SECONDS + 120:
            raise ReadingError(
                f"Bản ghi quá dài ({_seconds_vi(probed / 60)} phút; tối đa "
                f"{int(MAX_SECONDS // 60)} phút)."
            )
        wav = _decode(src)
    samples, rate = read_wav(wav)
    samples, cut_start, cut_end = trim_silence(samples, rate)
    seconds = len(samples) / rate
    if seconds < MIN_SECONDS:
        raise ReadingError(
            f"Bản ghi quá ngắn ({_seconds_vi(seconds)} giây tiếng đọc; cần ít nhất "
            f"{_seconds_vi(MIN_SECONDS)} giây)."
        )
    if seconds > MAX_SECONDS:
        raise ReadingError(
            f"Bản ghi quá dài ({_seconds_vi(seconds / 60)} phút tiếng đọc; tối đa "
            f"{int(MAX_SECONDS // 60)} phút)."
        )
    # the same chain and targets as the Vietnamese audio (media_templates.scripts.script_audio)
    out_wav, mp3_input = normalize_for_broadcast(
        write_wav(samples, rate),
        TARGET_LUFS,
        true_peak_db=TRUE_PEAK_DBTP,
        mp3_true_peak_db=MP3_TRUE_PEAK_DBTP,
    )
    mp3 = wav_to_mp3(mp3_input, 64, true_peak_db=None)
    return Processed(
        wav=out_wav,
        mp3=mp3,
        seconds=round(seconds, 2),
        lufs=round(measure_loudness(out_wav), 2),
        true_peak=round(measure_true_peak(out_wav), 2),
        trimmed=(round(cut_start, 2), round(cut_end, 2)),
        container=FORMATS[fmt],
    )


# -- storage ---------------------------------------------------------------------------------


def reading_folder(media_dir: Path, campaign_id: int, unit_code: str) -> Path:
    return Path(media_dir) / "khmer" / str(campaign_id) / unit_code


def mp3_path(reading: KhmerReading) -> Path:
    return Path(reading.path).with_suffix(".mp3")


def save_reading(
    session: Session,
    media_dir: Path,
    *,
    campaign_id: int,
    unit: OrgUnit,
    item_id: int | None,
    processed: Processed,
    source: str,
    original_name: str = "",
    user_id: int | None = None,
) -> KhmerReading:
    """Write the WAV and MP3 and add the reading's row (flushed, not committed)."""
    sha = hashlib.sha256(processed.wav).hexdigest()
    folder = reading_folder(media_dir, campaign_id, unit.code)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{item_id or 'all'}-{utcnow().strftime('%Y%m%dT%H%M%S')}-{sha[:12]}"
    wav_path = folder / f"{stem}.wav"
    wav_path.write_bytes(processed.wav)
    (folder / f"{stem}.mp3").write_bytes(processed.mp3)
    row = KhmerReading(
        campaign_id=campaign_id,
        unit_id=unit.id,
        item_id=item_id,
        path=str(wav_path),
        sha256=sha,
        size=len(processed.wav),
        duration_s=processed.seconds,
        lufs=processed.lufs,
        true_peak=processed.true_peak,
        source=source if source in ("recorded", "uploaded") else "uploaded",
        original_name=unicodedata.normalize("NFC", original_name or "")[:255],
        created_by=user_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def current_readings(session: Session, campaign_id: int, unit_id: int) -> dict[int | None, KhmerReading]:
    """{item id (None: the whole campaign): newest reading whose files exist}."""
    rows = session.exec(
        select(KhmerReading)
        .where(KhmerReading.campaign_id == campaign_id, KhmerReading.unit_id == unit_id)
        .order_by(KhmerReading.created_at.desc(), KhmerReading.id.desc())  # type: ignore[union-attr]
    ).all()
    out: dict[int | None, KhmerReading] = {}
    for r in rows:
        if r.item_id not in out and Path(r.path).is_file():
            out[r.item_id] = r
    return out


def khmer_items(session: Session, campaign_id: int, unit: OrgUnit) -> list[ContentItem]:
    """The campaign's loudspeaker items whose script for ``unit`` has a Khmer part."""
    items = session.exec(
        select(ContentItem)
        .where(ContentItem.campaign_id == campaign_id, ContentItem.channel == "loudspeaker")
        .order_by(ContentItem.planned_at, ContentItem.id)
    ).all()
    return [i for i in items if is_bilingual(i, unit)]


# -- the kit builder's side ---------------------------------------------------------------------


def kit_spec(session: Session, campaign_id: int, unit: OrgUnit) -> dict:
    """Plain data for ``builder.produce_files``: {item id or "all": reading files}."""
    out = {}
    for item_id, r in current_readings(session, campaign_id, unit.id).items():
        out["all" if item_id is None else str(item_id)] = {
            "wav": r.path,
            "mp3": str(mp3_path(r)),
            "sha256": r.sha256,
            "seconds": r.duration_s,
        }
    return out


def digest_part(session: Session, campaign_id: int, unit: OrgUnit) -> list:
    """What of the readings a kit depends on (a new reading rebuilds the kit)."""
    readings = kit_spec(session, campaign_id, unit)
    return [bool(getattr(unit, "uses_khmer", False)), sorted((k, v["sha256"]) for k, v in readings.items())]


def _resample_wav(wav: bytes, rate: int) -> bytes:
    """The WAV at ``rate`` (ffmpeg's resampler), mono 16-bit."""
    res = subprocess.run(
        [_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-f", "wav", "-i", "pipe:0",
         "-ac", "1", "-ar", str(rate), "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"],
        input=wav,
        capture_output=True,
        timeout=300,
    )
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg resample failed: {res.stderr[-300:]!r}")
    return _fix_wav_sizes(res.stdout)


def bilingual_audio(vietnamese_wav: bytes, reading_wav: bytes, bitrate_kbps: int = 64) -> dict[str, bytes]:
    """The Vietnamese part, a short pause, the Khmer reading; levelled as one programme."""
    import numpy as np

    from media_templates.speech import read_wav, wav_to_mp3, write_wav
    from media_templates.speech.audio import (
        MP3_TRUE_PEAK_DBTP,
        TARGET_LUFS,
        TRUE_PEAK_DBTP,
        normalize_for_broadcast,
    )

    khmer, rate = read_wav(reading_wav)
    vi, vi_rate = read_wav(vietnamese_wav)
    if vi_rate != rate:
        vi, _ = read_wav(_resample_wav(vietnamese_wav, rate))
    joined = np.concatenate([vi, np.zeros(int(PAUSE_SECONDS * rate), np.float32), khmer])
    wav, mp3_input = normalize_for_broadcast(
        write_wav(joined, rate), TARGET_LUFS, true_peak_db=TRUE_PEAK_DBTP,
        mp3_true_peak_db=MP3_TRUE_PEAK_DBTP,
    )
    return {"wav": wav, "mp3": wav_to_mp3(mp3_input, bitrate_kbps, true_peak_db=None)}


def handles(script) -> bool:
    """True for a bilingual script -- Vietnamese sections, then the Khmer part --
    whose audio :func:`add_audio` makes. A script with Khmer between Vietnamese
    sections (a Khmer item in a Vietnamese template) keeps the plain path: no audio
    and the TTS's note."""
    from media_templates.speech import has_khmer

    if not getattr(script, "has_khmer", False):
        return False
    kinds = [has_khmer(s.text) for s in script.sections]
    first = kinds.index(True) if True in kinds else len(kinds)
    return all(kinds[first:])


def add_audio(spec: dict, item, script, script_info: dict, base: str, entries: list,
              warnings: list, config, reuse=None) -> None:
    """The audio of a script with a Khmer part, for ``builder.produce_files``.

    Vietnamese sections are spoken by the TTS; the Khmer part is the unit's newest
    reading for the item (or for the whole campaign). With a reading: the bilingual
    audio (``<base>.mp3/.wav``) and the reading alone (``<base> – phần tiếng
    Khmer.mp3/.wav``); without: the Vietnamese part and the "read live" note.
    ``reuse`` (compose.Reuse): the previous version's audio is taken again when its
    inputs (the spoken Vietnamese lines, the voice, the reading's SHA-256) are the same.
    """
    from campaigns.kits import compose
    from media_templates.scripts import script_audio
    from media_templates.speech import SpeechError, has_khmer, khmer_note

    work = Path(spec["work"])
    readings = spec.get("khmer_readings") or {}
    reading = readings.get(str(item.id)) or readings.get("all")
    if reading is not None and not (Path(reading["wav"]).is_file() and Path(reading["mp3"]).is_file()):
        reading = None
    # the TTS's "no Khmer voice" note on this bulletin is answered here: a reading, or
    # the live note
    note = f"Bản tin “{item.title}”: {khmer_note('espeak')}"
    warnings[:] = [w for w in warnings if w != note]
    vi_sections = [s for s in script.sections if not has_khmer(s.text)]
    vi_script = (replace(script, reading_text="\n\n".join(s.reading_text for s in vi_sections))
                 if vi_sections else None)
    stem = f"km-{item.id}"
    if reading is None:
        warnings.append(f"Bản tin “{item.title}”: {LIVE_NOTE}.")
    if vi_script is None:
        vi_audio = None
    else:
        key = compose.file_key(
            "khmer-audio", compose.audio_key(vi_script, config.script.voice, config.tts_engine, config.mp3_kbps),
            reading["sha256"] if reading else None, PAUSE_SECONDS)
        vi_audio = reuse.audio(base, key, config.include_wav) if reuse is not None else None
        if vi_audio is None:
            try:
                spoken = script_audio(
                    vi_script, voice=config.script.voice, mp3=reading is None,
                    engine=config.tts_engine, bitrate_kbps=config.mp3_kbps,
                )
            except SpeechError as exc:
                warnings.append(f"Bản tin “{item.title}” không có tệp âm thanh tiếng Việt: {exc.message}")
            else:
                vi_audio = (spoken if reading is None else
                            bilingual_audio(spoken["wav"], Path(reading["wav"]).read_bytes(), config.mp3_kbps))
    if reading is None:
        if vi_audio is not None:
            mp3 = work / f"{stem}-vi.mp3"
            mp3.write_bytes(vi_audio["mp3"])
            script_info["mp3"] = str(mp3)
            label = f"âm thanh phần tiếng Việt (MP3). {LIVE_NOTE}"
            entries.append((f"{base}.mp3", str(mp3), "audio", label))
            if config.include_wav:
                wav = work / f"{stem}-vi.wav"
                wav.write_bytes(vi_audio["wav"])
                entries.append((f"{base}.wav", str(wav), "audio", "âm thanh phần tiếng Việt (WAV)"))
        return
    if vi_audio is not None:  # the Vietnamese part, a pause, the reading
        mp3 = work / f"{stem}-both.mp3"
        mp3.write_bytes(vi_audio["mp3"])
        script_info["mp3"] = str(mp3)
        entries.append((f"{base}.mp3", str(mp3), "audio",
                        "âm thanh song ngữ để phát: tiếng Việt rồi tiếng Khmer (MP3)"))
        if config.include_wav:
            wav = work / f"{stem}-both.wav"
            wav.write_bytes(vi_audio["wav"])
            entries.append((f"{base}.wav", str(wav), "audio", "âm thanh song ngữ (WAV)"))
    else:
        script_info["mp3"] = reading["mp3"]
    entries.append((f"{base} – phần tiếng Khmer.mp3", reading["mp3"], "audio",
                    "phần tiếng Khmer do phát thanh viên đọc, đã chuẩn hóa âm lượng (MP3)"))
    if config.include_wav:
        entries.append((f"{base} – phần tiếng Khmer.wav", reading["wav"], "audio",
                        "phần tiếng Khmer do phát thanh viên đọc (WAV)"))
