"""Khmer communication (plan IV.2a/b): which units it applies to, and the Khmer
side of bilingual print products.

A unit takes part when ``OrgUnit.uses_khmer`` is set (the admin sets it on the
unit; ``seed-demo`` marks the communes of the former Sóc Trăng with large Khmer
communities). A campaign applied from a preset whose scope reaches such a unit
gets the preset's Khmer texts and its Khmer items (``khmer_items:`` in the
YAML, marked ``variants["audience"] = "khmer"``); kits put those items only in
the kits of units that use Khmer.

The Khmer text of a content item lives in ``variants["texts"]["km"]`` (see
``campaigns/composer.py``); its Khmer headline, when it has one of its own, in
``variants["print"]["headline_km"]``. :func:`khmer_fields` fills a bilingual
template's ``*_km`` fields from them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from sqlmodel import Session, select

from core.models import OrgUnit

#: ``variants["audience"]`` of an item meant only for units that use Khmer
KHMER_AUDIENCE = "khmer"

#: the generic steps of an online public service, in Khmer (the Vietnamese ones are
#: campaigns.kits.builder.DEFAULT_STEPS); reviewed wording lives in the presets
DEFAULT_STEPS_KM = [
    "ចូលវិបផតថលសេវាសាធារណៈដោយគណនី VNeID",
    "ជ្រើសរើសនីតិវិធី និងបំពេញព័ត៌មាន",
    "ដាក់ឯកសារ តាមដាន និងទទួលលទ្ធផលតាមអនឡាញ",
]

_KHMER_STOP = "\u17d4"  # ។ (khan), the Khmer full stop
_STEP_KM = re.compile(r"ជំហានទី\s*[\d\u17e0-\u17e9]+\s*[\u17d6:]")  # "ជំហានទី១៖"


def nfc(text: str | None) -> str:
    return unicodedata.normalize("NFC", text or "").strip()


def is_for_khmer(item) -> bool:
    """Whether the item is one of the Khmer items (only for units that use Khmer)."""
    return (getattr(item, "variants", None) or {}).get("audience") == KHMER_AUDIENCE


def khmer_unit_ids(session: Session, unit_ids: list[int], today: date | None = None) -> list[int]:
    """The units among ``unit_ids`` and below them that use Khmer (valid on ``today``)."""
    from core.units import subtree_ids

    if not unit_ids:
        return []
    ids: set[int] = set()
    for uid in unit_ids:
        ids |= subtree_ids(session, uid, history=False)
    rows = session.exec(select(OrgUnit).where(OrgUnit.uses_khmer == True)).all()  # noqa: E712
    return sorted(u.id for u in rows if u.id in ids and (today is None or u.valid_on(today)))


def khmer_text(item) -> str:
    return nfc(((getattr(item, "variants", None) or {}).get("texts") or {}).get("km"))


def _sentences(text: str) -> list[str]:
    parts = re.split(rf"(?<=[{_KHMER_STOP}.!?])\s*|\n+", text)
    return [p.strip(" ;") for p in parts if p and p.strip(" ;")]


def khmer_points(text: str) -> tuple[str, list[str]]:
    """Split a Khmer body into its message and its points: "ជំហានទី១៖ …" steps (the
    Khmer of "Bước 1: …"), else sentences when there are three or more."""
    text = re.sub(r"[ \t]+", " ", nfc(text))
    first = _STEP_KM.search(text)
    if first:
        steps = [s.strip(f" ;{_KHMER_STOP}") for s in re.split(rf"(?={_STEP_KM.pattern})", text[first.start():])]
        steps = [_STEP_KM.sub("", s, count=1).strip(f" ;{_KHMER_STOP}") for s in steps if s.strip()]
        steps = [s for s in steps if s]
        if len(steps) > 1:
            return text[: first.start()].strip(), steps
    sentences = _sentences(text)
    if len(sentences) >= 3:
        return sentences[0], [s.rstrip(_KHMER_STOP) for s in sentences[1:]]
    return text, []


def khmer_headline(item) -> tuple[str, bool]:
    """The Khmer headline: the item's own (``variants.print.headline_km``), else the
    first sentence of its Khmer text. The flag says it was taken from the text."""
    variants = getattr(item, "variants", None) or {}
    own = nfc((variants.get("print") or {}).get("headline_km"))
    if own:
        return own, False
    sentences = _sentences(khmer_text(item))
    return (sentences[0].rstrip(_KHMER_STOP), True) if sentences else ("", False)


def _cut(text: str, limit: int | None) -> str:
    text = re.sub(r"\s+", " ", nfc(text))
    if not limit or len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:  # Khmer separates phrases with spaces; break at the last one
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:–-") + "…"


def khmer_fields(tpl, item) -> dict:
    """The ``*_km`` fields of a bilingual template (``title_km``, ``body_km``/``intro_km``,
    ``bullets_km``/``steps_km``) filled from the item's Khmer text; {} when the item has
    none (the template then refuses the render, naming the missing Khmer title)."""
    if item is None or not khmer_text(item):
        return {}
    title, from_text = khmer_headline(item)
    message, points = khmer_points(khmer_text(item))
    if from_text and message.startswith(title):
        message = message[len(title):].lstrip(f"{_KHMER_STOP} ")
    data: dict = {}
    for f in tpl.fields:
        name, kind, limit = f["name"], f["type"], f.get("max_length")
        if not name.endswith("_km"):
            continue
        extras = tpl.field_extras.get(name, {}) if hasattr(tpl, "field_extras") else {}
        if name == "title_km" and title:
            data[name] = _cut(title, limit)
        elif kind == "list":
            chosen = points if len(points) >= max(2, int(extras.get("min_items", 0))) else DEFAULT_STEPS_KM
            data[name] = [_cut(p, limit) for p in chosen][: int(extras.get("max_items", 5))]
        elif name in ("body_km", "intro_km") and message:
            data[name] = _cut(message, limit)
    return data


def bilingual_template(name: str | None) -> str | None:
    """The bilingual variant of a media template (``poster-a4`` -> ``poster-a4-bilingual``),
    when one exists."""
    import media_templates as mt

    if not name:
        return None
    if name.endswith("-bilingual"):
        return name
    wanted = f"{name}-bilingual"
    return wanted if wanted in {t.name for t in mt.list_templates()} else None


def regular_items(items: list) -> list:
    """The items every unit's kit uses (not the Khmer-only ones)."""
    return [i for i in items if not is_for_khmer(i)]


def bilingual_products(unit, items: list, products, templates: dict[str, str]) -> list[tuple[str, object, str]]:
    """The bilingual print products of a unit that uses Khmer: for every kit product
    (``(prefix, label, kind)`` of ``campaigns.kits.builder.PRINT_PRODUCTS``) with a bilingual
    template, ``(template, item, label)`` -- the item being the Khmer item of that kind
    (``variants.audience = "khmer"``) or else the product's own item, when it has Khmer
    text. Nothing for a unit that does not use Khmer."""
    if not getattr(unit, "uses_khmer", False):
        return []
    out = []
    for prefix, label, kind in products:
        twin = bilingual_template(templates.get(prefix))
        if twin is None:
            continue
        of_kind = [i for i in items if (i.template or "").replace("_", "-").startswith(kind) and khmer_text(i)]
        source = next((i for i in of_kind if is_for_khmer(i)), None)
        if source is None:
            source = next((i for i in of_kind if not is_for_khmer(i)), None)
        if source is not None:
            out.append((twin, source, f"{label} song ngữ Việt – Khmer"))
    return out
