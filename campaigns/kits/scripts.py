"""Loudspeaker scripts as the app sees them: a content item of channel
``loudspeaker`` rendered for one unit, previewed while editing, and turned
into DOCX/PDF/TXT/WAV/MP3 for the unit's radio kit.

The script settings live on the content item: ``body`` is the key message and
``variants["script"]`` holds ``template``, ``call_to_action`` and optional
``extra`` (more body text) and ``audience``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaigns.models import Campaign, ContentItem
from core.models import OrgUnit

DEFAULT_TEMPLATE = "loudspeaker_default"
DEFAULT_CALL_TO_ACTION = (
    "Bà con hãy kích hoạt tài khoản định danh điện tử VNeID và nộp hồ sơ thủ tục hành chính "
    "trực tuyến trên Cổng dịch vụ công."
)


@dataclass(frozen=True)
class ScriptSettings:
    """Reading rate and limits, from config (``LANTOA_SPEECH_RATE`` etc.)."""

    syllables_per_minute: int = 180
    max_segment_seconds: float | None = None
    max_total_seconds: float | None = None
    voice: str = "vi"
    #: extra folders of script templates (a province's own), searched first
    template_dirs: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: dict) -> ScriptSettings:
        def num(key: str, cast, default):
            raw = config.get(key)
            if raw in (None, ""):
                return default
            try:
                return cast(raw)
            except (TypeError, ValueError):
                return default

        return cls(
            syllables_per_minute=num("LANTOA_SPEECH_RATE", int, 180),
            max_segment_seconds=num("LANTOA_SCRIPT_MAX_SEGMENT_SECONDS", float, None),
            max_total_seconds=num("LANTOA_SCRIPT_MAX_TOTAL_SECONDS", float, None),
            voice=str(config.get("LANTOA_SPEECH_VOICE") or "vi"),
            template_dirs=_dirs(config.get("LANTOA_SCRIPT_TEMPLATE_DIRS")),
        )


def _dirs(value) -> tuple[str, ...]:
    """``LANTOA_SCRIPT_TEMPLATE_DIRS``: a list, or paths separated by os.pathsep."""
    import os

    if not value:
        return ()
    if isinstance(value, str):
        value = value.split(os.pathsep)
    return tuple(str(v) for v in value if str(v).strip())


def _nfc(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value or "")).strip()


def _portal_for_reading(url: str | None) -> str:
    url = _nfc(url)
    for prefix in ("https://", "http://"):
        if url.lower().startswith(prefix):
            url = url[len(prefix) :]
    return url.rstrip("/")


def script_fields(item: ContentItem) -> dict:
    settings = (item.variants or {}).get("script") or {}
    return settings if isinstance(settings, dict) else {}


BILINGUAL_TEMPLATE = "loudspeaker_bilingual"


def khmer_text(item: ContentItem) -> str:
    """The item's Khmer text: its ``km`` translation (``variants["texts"]["km"]``, the
    composer), else the script's own ``key_message_km``, else the body of a Khmer item."""
    variants = item.variants or {}
    text = (variants.get("texts") or {}).get("km") if isinstance(variants.get("texts"), dict) else None
    text = text or script_fields(item).get("key_message_km")
    if not text and item.language == "km":
        text = item.body
    return _nfc(text)


def is_bilingual(item: ContentItem, unit: OrgUnit | None) -> bool:
    """Whether the item's script for ``unit`` is bilingual (Vietnamese, then a Khmer part
    read by a person): its template is the bilingual one, or the unit uses Khmer and the
    item has Khmer text. A Khmer-only item (``language == "km"``) is not."""
    if item.channel != "loudspeaker" or item.language == "km":
        return False
    if str(script_fields(item).get("template") or "") == BILINGUAL_TEMPLATE:
        return True
    return bool(unit is not None and getattr(unit, "uses_khmer", False) and khmer_text(item))


def script_data(
    campaign: Campaign,
    unit: OrgUnit,
    item: ContentItem,
    *,
    parent: OrgUnit | None = None,
    overrides: dict | None = None,
) -> tuple[str, dict]:
    """(template name, data) for ``render_script`` for this unit.

    A commune without its own phone or hours borrows its district's (``parent``).
    """
    fields = {**script_fields(item), **(overrides or {})}
    data = {
        "unit_name": _nfc(unit.name),
        "campaign_title": _nfc(campaign.title),
        "key_message": _nfc(fields.get("key_message") or item.body),
        "call_to_action": _nfc(fields.get("call_to_action") or DEFAULT_CALL_TO_ACTION),
        "office_address": _nfc(unit.address),
        "office_hours": _nfc(unit.office_hours or (parent.office_hours if parent else "")),
        "hotline": _nfc(unit.phone or (parent.phone if parent else "")),
        "portal_url": _portal_for_reading(
            unit.portal_url or (parent.portal_url if parent else "") or "dichvucong.gov.vn"
        ),
        "body": _nfc(fields.get("extra")),
    }
    if fields.get("audience"):
        data["audience"] = _nfc(fields["audience"])
    if item.language == "km":
        data["language"] = "km"
    template = str(fields.get("template") or DEFAULT_TEMPLATE)
    # a unit that uses Khmer gets the bilingual script when the item has Khmer text
    if item.language != "km" and is_bilingual(item, unit):
        template = BILINGUAL_TEMPLATE
    if template == BILINGUAL_TEMPLATE:
        km = _nfc(fields.get("key_message_km")) or khmer_text(item)
        if km:
            data["key_message_km"] = km
    return template, data


def render_for_unit(
    campaign: Campaign,
    unit: OrgUnit,
    item: ContentItem,
    settings: ScriptSettings,
    *,
    parent: OrgUnit | None = None,
    overrides: dict | None = None,
):
    """Render the item's script for ``unit``; raises ``ScriptError`` (Vietnamese, names the field)."""
    from media_templates.scripts import render_script

    template, data = script_data(campaign, unit, item, parent=parent, overrides=overrides)
    return render_script(
        data,
        template=template,
        extra_dirs=[Path(d) for d in settings.template_dirs] or None,
        syllables_per_minute=settings.syllables_per_minute,
        max_segment_seconds=settings.max_segment_seconds,
        max_total_seconds=settings.max_total_seconds,
    )


def preview(
    campaign: Campaign,
    unit: OrgUnit,
    item: ContentItem,
    settings: ScriptSettings,
    *,
    parent: OrgUnit | None = None,
    overrides: dict | None = None,
) -> dict:
    """What the editor shows: text, reading text, unknown tokens, durations, warnings.

    Never raises for bad input: a script error becomes ``error`` + ``fields``.
    """
    from media_templates.scripts import ScriptError, format_duration

    try:
        script = render_for_unit(campaign, unit, item, settings, parent=parent, overrides=overrides)
    except ScriptError as exc:
        return {"ok": False, "error": exc.message, "fields": exc.fields}
    from media_templates.scripts import get_script_template

    tpl = get_script_template(script.template, [Path(d) for d in settings.template_dirs] or None)
    max_seg = settings.max_segment_seconds or tpl.max_segment_seconds
    return {
        "ok": True,
        "template": script.template,
        "text": script.text,
        "reading_text": script.reading_text,
        "unknown_tokens": list(script.unknown_tokens),
        "estimated_seconds": script.estimated_seconds,
        "estimated_label": format_duration(script.estimated_seconds),
        "syllables_per_minute": script.syllables_per_minute,
        "max_segment_seconds": max_seg,
        "sections": [
            {
                "title": s.title,
                "text": s.text,
                "reading_text": s.reading_text,
                "estimated_seconds": s.estimated_seconds,
                "estimated_label": format_duration(s.estimated_seconds),
                "too_long": s.estimated_seconds > max_seg,
            }
            for s in script.sections
        ],
        "warnings": list(script.warnings),
    }
