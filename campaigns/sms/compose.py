"""Composing an SMS: Jinja2 text with recipient fields, the advertising label,
counters for both the text as typed and its no-diacritics variant, and the
checks a wave must pass before anything goes out."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from scheduler.sms.compliance import PolicyError, SmsPolicy, apply_label
from scheduler.sms.encoding import MAX_PARTS, analyze, check_brandname, strip_diacritics

_env = SandboxedEnvironment(undefined=Undefined, autoescape=False, keep_trailing_newline=False)
#: Fields that may be missing in a recipient render as an empty string.
MAX_TEXT_CHARS = 2000


class ComposeError(ValueError):
    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def compile_text(text: str) -> Callable[[Mapping[str, Any]], str] | str:
    """The final text, or a render function when it uses recipient fields.
    Raises ComposeError on a template syntax error."""
    text = unicodedata.normalize("NFC", text or "")
    if not is_template(text):
        return text
    try:
        template = _env.from_string(text)
    except TemplateSyntaxError as exc:
        raise ComposeError(
            {"text": f"Mẫu tin nhắn lỗi ở dòng {exc.lineno}: {exc.message}."}
        ) from None

    def render(values: Mapping[str, Any]) -> str:
        return unicodedata.normalize("NFC", template.render(**values)).strip()

    return render


def template_variables(text: str) -> set[str]:
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(_env.parse(text or "")))
    except TemplateSyntaxError:
        return set()


def policy_from_compliance(compliance: Mapping[str, Any] | None) -> SmsPolicy:
    """The SmsPolicy for a delivery: ``compliance["sms_class"]`` (copied from
    the campaign at release) plus optional overrides in ``compliance["sms"]``
    (any SmsPolicy field: window_start, window_end, max_per_24h, ...)."""
    compliance = dict(compliance or {})
    data = dict(compliance.get("sms") or {})
    if compliance.get("sms_class") and "message_class" not in data:
        data["message_class"] = compliance["sms_class"]
    return SmsPolicy.from_dict(data)


def counters(text: str) -> dict[str, Any]:
    """What the compose page shows for one text."""
    info = analyze(text)
    return {
        "text": info.text,
        "encoding": info.encoding,
        "length": info.length,
        "parts": info.parts,
        "per_part": info.per_part,
        "remaining": info.remaining,
        "non_gsm": list(info.non_gsm),
    }


def preview(
    text: str,
    *,
    message_class: str = "public_service",
    sample: Mapping | None = None,
    sender: str | None = None,
    known_fields: set[str] | None = None,
) -> dict[str, Any]:
    """Both variants of a message with their counters, and its problems
    (Vietnamese, by field)."""
    problems: dict[str, str] = {}
    text = unicodedata.normalize("NFC", text or "")
    if not text.strip():
        problems["text"] = "Vui lòng nhập nội dung tin nhắn."
    elif len(text) > MAX_TEXT_CHARS:
        problems["text"] = f"Nội dung tối đa {MAX_TEXT_CHARS} ký tự."
    try:
        policy = SmsPolicy(message_class=message_class)
    except PolicyError as exc:
        problems.update(exc.fields)
        policy = SmsPolicy()
    rendered = text
    if not problems:
        try:
            compiled = compile_text(text)
            rendered = compiled(sample or {}) if callable(compiled) else compiled
        except ComposeError as exc:
            problems.update(exc.fields)
        except Exception as exc:  # noqa: BLE001 - a sandbox error is the author's, shown to them
            problems["text"] = f"Không hiển thị được mẫu tin nhắn: {type(exc).__name__}."
    if known_fields is not None and "text" not in problems:
        unknown = sorted(template_variables(text) - known_fields)
        if unknown:
            problems["text"] = (
                "Danh sách không có trường: "
                + ", ".join(unknown)
                + ". Các trường có: "
                + ", ".join(sorted(known_fields))
                + "."
            )
    labelled = apply_label(rendered, policy)
    original, plain = counters(labelled), counters(strip_diacritics(labelled))
    if "text" not in problems and original["parts"] > MAX_PARTS:
        problems["text"] = (
            f"Tin nhắn dài {original['length']} ký tự ({original['encoding']}), "
            f"cần {original['parts']} phần tin, vượt giới hạn {MAX_PARTS} phần tin."
        )
    if sender is not None:
        problem = check_brandname(sender.strip())
        if problem:
            problems["sender"] = problem
    return {
        "original": original,
        "plain": plain,
        "labelled": policy.labelled,
        "problems": problems,
        "max_parts": MAX_PARTS,
    }


def wave_problems(session, content: Mapping[str, Any], sms_class: str = "public_service") -> dict:
    """Problems with a wave's content before it is scheduled, by field
    (``content.text``, ``content.recipient_list_id``), Vietnamese. For
    ``campaigns.deliveries.prepare_delivery`` on ``sms_*`` channels: the text
    renders with the list's first recipient, stays within the part limit, uses
    only the list's fields, and an advertising wave's list has a consent source."""
    from campaigns.sms.service import list_fields, sample_recipient
    from scheduler.sms.compliance import consent_problem
    from scheduler.sms.models import RecipientList

    problems: dict[str, str] = {}
    list_id = content.get("recipient_list_id")
    rl = session.get(RecipientList, list_id) if isinstance(list_id, int) else None
    if rl is None:
        problems["content.recipient_list_id"] = f"Không có danh sách {list_id}."
    elif rl.status != "ready":
        problems["content.recipient_list_id"] = "Danh sách chưa nhập xong hoặc bị lỗi."
    try:
        policy = SmsPolicy(message_class=sms_class)
    except PolicyError:
        policy = SmsPolicy()
    if rl is not None:
        consent = consent_problem(policy, rl.consent_source)
        if consent:
            problems["content.recipient_list_id"] = consent
    result = preview(
        str(content.get("text") or ""),
        message_class=policy.message_class,
        sample=sample_recipient(session, rl.id) if rl is not None else None,
        known_fields=set(list_fields(session, rl.id)) if rl is not None else None,
    )
    if "text" in result["problems"]:
        problems["content.text"] = result["problems"]["text"]
    return problems
