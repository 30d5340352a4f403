"""Loudspeaker scripts (truyền thanh cơ sở): Jinja2 template -> text, reading
text, duration, warnings; outputs TXT, DOCX, PDF, WAV and MP3.

Public API::

    render_script(data, *, template="loudspeaker_default", syllables_per_minute=180,
                  max_segment_seconds=None, max_total_seconds=None, abbreviations=None,
                  dialect="standard", extra_dirs=None) -> Script
    list_script_templates(extra_dirs=None) -> list[ScriptTemplate]
    get_script_template(name, extra_dirs=None) -> ScriptTemplate
    script_to_docx(script, meta) -> bytes
    script_to_pdf(script, meta) -> bytes
    script_to_txt(script, meta) -> bytes
    script_audio(script, *, voice="vi", mp3=True, jingle=None, engine=None,
                 target_lufs=-16.0, true_peak_db=-1.5, bitrate_kbps=64) -> {"wav": bytes, "mp3": bytes}
    script_files(data, meta=None, *, template="loudspeaker_default", basename="kich-ban-phat-thanh",
                 formats=("docx", "pdf", "txt", "wav", "mp3"), voice="vi", jingle=None,
                 **render_options) -> (files: dict[name, bytes], script, notes: list[str])
    ScriptError(ValueError)  # .message Vietnamese, .field, .fields
"""

from __future__ import annotations

from .outputs import (
    header_fields,
    script_audio,
    script_files,
    script_to_docx,
    script_to_pdf,
    script_to_txt,
)
from .render import (
    TEMPLATES_DIR,
    Script,
    ScriptError,
    ScriptTemplate,
    Section,
    format_duration,
    format_duration_range,
    get_script_template,
    list_script_templates,
    render_script,
)

__all__ = [
    "TEMPLATES_DIR",
    "Script",
    "ScriptError",
    "ScriptTemplate",
    "Section",
    "format_duration",
    "format_duration_range",
    "get_script_template",
    "header_fields",
    "list_script_templates",
    "render_script",
    "script_audio",
    "script_files",
    "script_to_docx",
    "script_to_pdf",
    "script_to_txt",
]
