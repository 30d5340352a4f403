"""Loudspeaker scripts: a Jinja2 template (data) rendered to text, with its
reading version, duration estimate and warnings.

A script template is a folder under ``templates/`` holding ``spec.yaml``
(title, language, limits, fields), ``script.txt.j2`` and ``sample.json``.
Lines starting with ``## `` in the rendered text open a section (segment);
each section gets its own duration estimate and limit. Adding a template
needs no Python.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media_templates.speech import (
    DEFAULT_SYLLABLES_PER_MINUTE,
    SpeechError,
    count_syllables,
    has_khmer,
    khmer_note,
    normalize_for_reading,
)

TEMPLATES_DIR = Path(__file__).with_name("templates")
_NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")


class ScriptError(ValueError):
    """A script cannot be rendered; ``message`` is Vietnamese, ``field`` names the input.

    ``fields`` maps every faulty field to its message (for API 422 answers).
    """

    def __init__(
        self, message: str, *, field: str | None = None, fields: dict[str, str] | None = None
    ):
        self.message = unicodedata.normalize("NFC", message)
        self.field = field
        self.fields = fields or ({field: self.message} if field else {})
        super().__init__(self.message)


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    reading_text: str
    estimated_seconds: float


@dataclass(frozen=True)
class Script:
    text: str
    reading_text: str
    unknown_tokens: list[str]
    estimated_seconds: float
    warnings: list[str]
    language: str
    sections: list[Section] = field(default_factory=list)
    template: str = ""
    title: str = ""
    syllables_per_minute: int = DEFAULT_SYLLABLES_PER_MINUTE
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def has_khmer(self) -> bool:
        return has_khmer(self.text)


@dataclass(frozen=True)
class ScriptTemplate:
    name: str
    title: str
    description: str
    language: str
    fields: list[dict[str, Any]]
    max_segment_seconds: float
    max_total_seconds: float
    source: str
    path: Path
    # the length the template promises (title/description say it in words),
    # e.g. (30, 45) for a 30–45 s spot; None when it promises none
    duration_seconds: tuple[float, float] | None = None

    def to_public(self) -> dict[str, Any]:
        """The template as the API lists it (fields as name/type/required/max_length)."""
        keys = ("name", "type", "required", "max_length", "label", "default")
        return {
            "name": self.name,
            "kind": "loudspeaker_script",
            "title": self.title,
            "description": self.description,
            "language": self.language,
            "formats": ["docx", "pdf", "txt", "wav", "mp3"],
            "duration_seconds": list(self.duration_seconds) if self.duration_seconds else None,
            "fields": [
                {k: f[k] for k in keys if k in f}
                | {"type": f.get("type", "text"), "required": bool(f.get("required"))}
                for f in self.fields
            ],
        }

    def sample(self) -> dict[str, Any]:
        sample = self.path / "sample.json"
        return json.loads(sample.read_text(encoding="utf-8")) if sample.exists() else {}


def format_duration(seconds: float) -> str:
    """Vietnamese duration: 85.2 -> '1 phút 25 giây'."""
    total = int(round(seconds))
    minutes, secs = divmod(total, 60)
    if minutes and secs:
        return f"{minutes} phút {secs} giây"
    if minutes:
        return f"{minutes} phút"
    return f"{secs} giây"


def format_duration_range(low: float, high: float) -> str:
    """Vietnamese length range: (30, 45) -> '30–45 giây', (60, 180) -> '1–3 phút'."""
    lo, hi = int(round(low)), int(round(high))
    if lo >= 60 and lo % 60 == 0 and hi % 60 == 0:
        return f"{lo // 60}–{hi // 60} phút"
    return f"{lo}–{hi} giây"


def _duration_range(spec: dict, name: str) -> tuple[float, float] | None:
    value = spec.get("duration_seconds")
    if value is None:
        return None
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and 0 < value[0] <= value[1]
    )
    if not ok:
        raise ScriptError(
            f"Mẫu kịch bản '{name}': duration_seconds phải là [tối thiểu, tối đa] (giây).",
            field="template",
        )
    return float(value[0]), float(value[1])


def _template_dirs(extra_dirs: list[Path] | None) -> list[Path]:
    return [*(Path(d) for d in (extra_dirs or [])), TEMPLATES_DIR]


def list_script_templates(extra_dirs: list[Path] | None = None) -> list[ScriptTemplate]:
    seen: dict[str, ScriptTemplate] = {}
    for base in _template_dirs(extra_dirs):
        if not base.is_dir():
            continue
        for folder in sorted(base.iterdir()):
            if folder.name not in seen and (folder / "spec.yaml").is_file():
                seen[folder.name] = get_script_template(folder.name, extra_dirs)
    return sorted(seen.values(), key=lambda t: t.name)


def get_script_template(name: str, extra_dirs: list[Path] | None = None) -> ScriptTemplate:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ScriptError(f"Tên mẫu kịch bản không hợp lệ: {name!r}.", field="template")
    for base in _template_dirs(extra_dirs):
        folder = base / name
        if (folder / "spec.yaml").is_file():
            return _load_template(folder)
    raise ScriptError(f"Không có mẫu kịch bản '{name}'.", field="template")


@functools.lru_cache(maxsize=64)
def _load_cached(folder: Path, mtime: float) -> ScriptTemplate:
    import yaml

    try:
        spec = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ScriptError(
            f"Tệp spec.yaml của mẫu '{folder.name}' bị lỗi: {exc}", field="template"
        ) from exc
    source_path = folder / "script.txt.j2"
    if not isinstance(spec, dict) or not source_path.is_file():
        raise ScriptError(
            f"Mẫu kịch bản '{folder.name}' thiếu spec.yaml hoặc script.txt.j2.", field="template"
        )
    fields = spec.get("fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, dict) and "name" in f for f in fields):
        raise ScriptError(
            f"Danh sách trường của mẫu '{folder.name}' không hợp lệ.", field="template"
        )
    return ScriptTemplate(
        name=folder.name,
        title=str(spec.get("title") or folder.name),
        description=str(spec.get("description") or ""),
        language=str(spec.get("language") or "vi"),
        fields=fields,
        max_segment_seconds=float(spec.get("max_segment_seconds") or 120),
        max_total_seconds=float(spec.get("max_total_seconds") or 300),
        source=unicodedata.normalize("NFC", source_path.read_text(encoding="utf-8")),
        path=folder,
        duration_seconds=_duration_range(spec, folder.name),
    )


def _load_template(folder: Path) -> ScriptTemplate:
    mtime = max(p.stat().st_mtime for p in folder.iterdir())
    return _load_cached(folder.resolve(), mtime)


def _capitalize_first(value: object) -> str:
    text = str(value)
    return text[:1].upper() + text[1:]


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text for announcers, never HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["capitalize_first"] = _capitalize_first
    return env


def _clean_value(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_clean_value(name, v) for v in value]
    raise ScriptError(f"Trường '{name}' phải là chữ hoặc số.", field=name)


def _prepare_data(tpl: ScriptTemplate, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    values = {str(k): _clean_value(str(k), v) for k, v in data.items()}
    problems: dict[str, str] = {}
    warnings: list[str] = []
    for spec in tpl.fields:
        name = str(spec["name"])
        label = str(spec.get("label") or name)
        present = name in values and values[name] not in ("", [])
        if spec.get("required") and not present:
            problems[name] = f"Thiếu trường bắt buộc '{name}' ({label})."
            continue
        if not present:
            if spec.get("warn_if_empty"):
                warnings.append(f"Chưa có {label.lower()} ({name}): kịch bản bỏ qua thông tin này.")
            values.setdefault(name, "")
            if values[name] in ("", None) and "default" in spec:
                values[name] = _clean_value(name, spec["default"])
        limit = spec.get("max_length")
        if present and limit and isinstance(values[name], str) and len(values[name]) > int(limit):
            problems[name] = (
                f"Trường '{name}' ({label}) dài {len(values[name])} ký tự, tối đa {limit}."
            )
    if problems:
        names = ", ".join(problems)
        raise ScriptError(
            f"Dữ liệu cho mẫu kịch bản '{tpl.name}' chưa đủ hoặc sai: {names}. "
            + " ".join(problems.values()),
            field=next(iter(problems)),
            fields=problems,
        )
    return values, warnings


_UNDEFINED_RE = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def _render_text(tpl: ScriptTemplate, values: dict[str, Any]) -> str:
    import jinja2

    env = _environment()
    try:
        return env.from_string(tpl.source).render(**values)
    except jinja2.UndefinedError as exc:
        m = _UNDEFINED_RE.search(str(exc))
        name = (m.group(1) or m.group(2)) if m else str(exc)
        raise ScriptError(
            f"Mẫu kịch bản '{tpl.name}' dùng biến '{name}' nhưng dữ liệu không có biến này.",
            field=name,
        ) from exc
    except jinja2.TemplateSyntaxError as exc:
        raise ScriptError(
            f"Mẫu kịch bản '{tpl.name}' sai cú pháp ở dòng {exc.lineno}: {exc.message}",
            field="template",
        ) from exc


def _split_sections(text: str) -> list[tuple[str, str]]:
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        heading = re.match(r"^##\s+(.+?)\s*$", line)
        if heading:
            sections.append((heading.group(1), []))
        else:
            sections[-1][1].append(line.rstrip())
    result = []
    for title, lines in sections:
        body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        if body or title:
            result.append((title, body))
    return [(t, b) for t, b in result if b]


def render_script(
    data: dict,
    *,
    template: str = "loudspeaker_default",
    syllables_per_minute: int = DEFAULT_SYLLABLES_PER_MINUTE,
    max_segment_seconds: float | None = None,
    max_total_seconds: float | None = None,
    abbreviations: dict[str, str] | None = None,
    dialect: str = "standard",
    extra_dirs: list[Path] | None = None,
) -> Script:
    """Render a loudspeaker script from ``data`` (unit_name, office_address,
    office_hours, campaign_title, key_message, call_to_action, ...).

    A missing variable raises :class:`ScriptError` naming it. Long segments,
    unknown abbreviations, empty recommended fields and Khmer text (no voice)
    become ``warnings``, not errors.
    """
    if not isinstance(data, dict):
        raise ScriptError("Dữ liệu kịch bản phải là một bảng (tên trường: giá trị).", field="data")
    tpl = get_script_template(template, extra_dirs)
    if "language" in data and data["language"] not in ("vi", "km", "vi+km", "en"):
        raise ScriptError("Ngôn ngữ phải là 'vi', 'km' hoặc 'vi+km'.", field="language")
    values, warnings = _prepare_data(tpl, data)
    rendered = _render_text(tpl, values)
    parts = _split_sections(rendered)
    if not parts:
        raise ScriptError(f"Mẫu kịch bản '{tpl.name}' cho ra nội dung rỗng.", field="template")

    try:
        from media_templates.speech.duration import estimate_duration  # validates the rate

        estimate_duration("", syllables_per_minute=syllables_per_minute)
        sections: list[Section] = []
        unknown: list[str] = []
        for title, body in parts:
            reading = normalize_for_reading(body, abbreviations=abbreviations, dialect=dialect)
            seconds = round(count_syllables(reading.text) * 60.0 / syllables_per_minute, 2)
            sections.append(Section(title, body, reading.text, seconds))
            unknown += [t for t in reading.unknown_tokens if t not in unknown]
    except SpeechError as exc:
        raise ScriptError(exc.message, field=exc.field) from exc

    max_seg = max_segment_seconds if max_segment_seconds is not None else tpl.max_segment_seconds
    max_tot = max_total_seconds if max_total_seconds is not None else tpl.max_total_seconds
    total = round(sum(s.estimated_seconds for s in sections), 2)
    for s in sections:
        if s.estimated_seconds > max_seg:
            warnings.append(
                f"Đoạn '{s.title or 'không tên'}' dài khoảng {format_duration(s.estimated_seconds)}, "
                f"vượt mức tối đa {format_duration(max_seg)} cho một đoạn."
            )
    if total > max_tot:
        warnings.append(
            f"Cả kịch bản dài khoảng {format_duration(total)}, vượt mức tối đa {format_duration(max_tot)}."
        )
    if tpl.duration_seconds:
        low, high = tpl.duration_seconds
        stated = format_duration_range(low, high)
        if total < low:
            warnings.append(
                f"Cả kịch bản dài khoảng {format_duration(total)}, ngắn hơn độ dài {stated} "
                "của mẫu này: hãy thêm nội dung."
            )
        elif high < total <= max_tot:
            warnings.append(
                f"Cả kịch bản dài khoảng {format_duration(total)}, dài hơn độ dài {stated} "
                "của mẫu này: hãy rút gọn."
            )
    if unknown:
        warnings.append(
            "Có từ viết tắt chưa rõ cách đọc: "
            + ", ".join(unknown)
            + ". Hãy viết rõ ra hoặc thêm vào bảng viết tắt."
        )
    text = "\n\n".join(s.text for s in sections)
    if has_khmer(text):
        warnings.append(khmer_note("espeak"))
    language = str(data.get("language") or tpl.language)
    return Script(
        text=text,
        reading_text="\n\n".join(s.reading_text for s in sections),
        unknown_tokens=unknown,
        estimated_seconds=total,
        warnings=warnings,
        language=language,
        sections=sections,
        template=tpl.name,
        title=tpl.title,
        syllables_per_minute=syllables_per_minute,
        data=values,
    )
