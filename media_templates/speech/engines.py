"""Text-to-speech engines behind one small interface.

* ``espeak`` (default): libespeak-ng 1.52 shipped by the PyPI package
  ``espeakng-loader`` (with its data and the Vietnamese voices), called
  in-process through ctypes. Formant synthesis: robotic but intelligible,
  offline, fast (about 0.05 s per minute of speech). espeak-ng is GPL-3.0;
  Lan Tỏa is AGPL-3.0-or-later, which may combine with GPL-3.0 code
  (see docs/speech.md).
* ``http``: a commercial Vietnamese TTS over HTTP, configured by
  ``LANTOA_TTS_URL`` and ``LANTOA_TTS_API_KEY`` (see :class:`HttpEngine`).

``LANTOA_TTS_ENGINE`` picks the default engine for the process.
"""

from __future__ import annotations

import ctypes
import io
import os
import threading
import wave
from typing import Protocol, runtime_checkable

from .errors import NoVoiceError, SpeechError

DEFAULT_SYLLABLES_PER_MINUTE = 180


@runtime_checkable
class TtsEngine(Protocol):
    name: str
    voices: list[str]

    def synthesize(self, text: str, voice: str) -> bytes:
        """Speak already-normalised text; return WAV bytes (mono, 16-bit PCM)."""
        ...


def has_khmer(text: str) -> bool:
    return any("\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff" for ch in text)


def khmer_note(engine_name: str) -> str:
    return (
        f"Chưa có giọng đọc tiếng Khmer trong bộ đọc '{engine_name}'. "
        "Phần chữ Khmer vẫn được giữ nguyên trong kịch bản (TXT, DOCX, PDF) "
        "nhưng không tạo được âm thanh: hãy nhờ phát thanh viên đọc trực tiếp "
        "hoặc cấu hình một bộ đọc có giọng tiếng Khmer."
    )


def pcm_to_wav(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


# ---------------------------------------------------------------- espeak-ng

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_EE_OK = 0

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Espeak:
    """The process-wide libespeak-ng instance (it keeps global state: one lock)."""

    lock = threading.Lock()
    _instance: _Espeak | None = None

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - requirements.txt installs it
            raise SpeechError(
                "Thiếu gói espeakng-loader: cài lại theo requirements.txt để tạo âm thanh.",
                field="engine",
            ) from exc
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_DONT_EXIT)
        if rate <= 0:
            raise SpeechError("Không khởi động được bộ đọc espeak-ng.", field="engine")
        self.lib = lib
        self.sample_rate = rate
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # keep a reference alive
        lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> _Espeak:
        with cls.lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, numsamples, events):  # noqa: ANN001 - ctypes callback
        if numsamples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def speak(self, text: str, voice: str, rate_wpm: int, volume: int) -> bytes:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise SpeechError(f"Không nạp được giọng đọc '{voice}'.", field="voice")
            self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
            self.lib.espeak_SetParameter(_PARAM_VOLUME, volume, 0)
            self._chunks = []
            data = text.encode("utf-8")
            status = self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            pcm = b"".join(self._chunks)
            self._chunks = []
        if status != _EE_OK:
            raise SpeechError("Bộ đọc espeak-ng báo lỗi khi tạo âm thanh.", field="engine")
        return pcm


class EspeakEngine:
    """Offline Vietnamese speech with libespeak-ng (via espeakng-loader and ctypes)."""

    name = "espeak"
    voices = ["vi", "vi-VN-x-central", "vi-VN-x-south"]
    # espeak's rate is in "words" per minute; for Vietnamese one word is one
    # syllable plus pauses. Measured here: syllables/min ≈ factor × wpm.
    RATE_FACTOR = {"vi": 1.40, "vi-VN-x-central": 1.39, "vi-VN-x-south": 1.35}
    # The voice peaks at the clipping edge at full volume: drive it softer,
    # then take off about 1 dB more.
    VOLUME = 75
    ATTENUATION = 10 ** (-1.0 / 20)

    def __init__(self, syllables_per_minute: int = DEFAULT_SYLLABLES_PER_MINUTE) -> None:
        self.syllables_per_minute = syllables_per_minute

    def rate_for(self, voice: str, syllables_per_minute: int) -> int:
        factor = self.RATE_FACTOR.get(voice, 1.38)
        return max(80, min(450, round(syllables_per_minute / factor)))

    def synthesize(
        self, text: str, voice: str = "vi", *, syllables_per_minute: int | None = None
    ) -> bytes:
        if voice not in self.voices:
            raise SpeechError(
                f"Giọng đọc '{voice}' không có trong bộ đọc espeak (có: {', '.join(self.voices)}).",
                field="voice",
            )
        if has_khmer(text):
            raise NoVoiceError(khmer_note(self.name), field="text")
        if not text.strip():
            raise SpeechError("Không có nội dung để đọc.", field="text")
        spm = syllables_per_minute or self.syllables_per_minute
        engine = _Espeak.get()
        pcm = engine.speak(text, voice, self.rate_for(voice, spm), self.VOLUME)
        import numpy as np

        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * self.ATTENUATION
        pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
        return pcm_to_wav(pcm, engine.sample_rate)


# -------------------------------------------------------------- HTTP engine


class HttpEngine:
    """A remote TTS service (e.g. a commercial Vietnamese neural voice).

    Contract: ``POST {LANTOA_TTS_URL}`` with JSON ``{"text", "voice",
    "format": "wav"}`` and ``Authorization: Bearer {LANTOA_TTS_API_KEY}``;
    the answer is ``200`` with a WAV body (any PCM layout; it is converted to
    mono 16-bit). ``LANTOA_TTS_VOICES`` (comma-separated, default ``vi``)
    lists its voices; a voice starting with ``km`` enables Khmer.
    """

    name = "http"

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        voices: list[str] | None = None,
        timeout: tuple[float, float] = (5.0, 120.0),
    ) -> None:
        self.url = url if url is not None else os.environ.get("LANTOA_TTS_URL", "")
        self.api_key = api_key if api_key is not None else os.environ.get("LANTOA_TTS_API_KEY", "")
        env_voices = os.environ.get("LANTOA_TTS_VOICES", "vi")
        self.voices = voices or [v.strip() for v in env_voices.split(",") if v.strip()]
        self.timeout = timeout
        if not self.url:
            raise SpeechError(
                "Chưa cấu hình địa chỉ dịch vụ đọc văn bản (LANTOA_TTS_URL).", field="engine"
            )

    def synthesize(self, text: str, voice: str = "vi") -> bytes:
        import requests

        from .audio import read_wav, write_wav

        if voice not in self.voices:
            raise SpeechError(
                f"Giọng đọc '{voice}' không có trong dịch vụ (có: {', '.join(self.voices)}).",
                field="voice",
            )
        if has_khmer(text) and not any(v.startswith("km") for v in self.voices):
            raise NoVoiceError(khmer_note(self.name), field="text")
        headers = {"Accept": "audio/wav"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            resp = requests.post(
                self.url,
                json={"text": text, "voice": voice, "format": "wav"},
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise SpeechError(
                f"Không kết nối được dịch vụ đọc văn bản ({type(exc).__name__}).", field="engine"
            ) from exc
        if resp.status_code in (401, 403):
            raise SpeechError(
                "Dịch vụ đọc văn bản từ chối khóa truy cập (LANTOA_TTS_API_KEY).", field="engine"
            )
        if resp.status_code != 200:
            raise SpeechError(
                f"Dịch vụ đọc văn bản trả lỗi HTTP {resp.status_code}: {resp.text[:200]}",
                field="engine",
            )
        samples, rate = read_wav(resp.content, field="engine")
        return write_wav(samples, rate)


# ------------------------------------------------------------------ registry

_ENGINES = {"espeak": EspeakEngine, "http": HttpEngine}
_cache: dict[str, TtsEngine] = {}
_cache_lock = threading.Lock()


def get_engine(name: str | None = None) -> TtsEngine:
    """The engine called ``name``, else ``LANTOA_TTS_ENGINE``, else ``espeak``."""
    key = (name or os.environ.get("LANTOA_TTS_ENGINE") or "espeak").strip().lower()
    factory = _ENGINES.get(key)
    if factory is None:
        raise SpeechError(
            f"Bộ đọc '{key}' không tồn tại (có: {', '.join(sorted(_ENGINES))}).", field="engine"
        )
    if key == "http":  # configuration comes from the environment: never cache stale config
        return factory()
    with _cache_lock:
        if key not in _cache:
            _cache[key] = factory()
        return _cache[key]
