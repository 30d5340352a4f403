"""The knowledge base as files: ``campaigns/assistant/kb/*.yaml`` (validated plain dicts).

``load_files()`` reads and validates every file (all or nothing); ``answerable()`` keeps what
may answer on a day (approved, inside valid_from..valid_to).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path

import yaml

KB_DIR = Path(__file__).parent / "kb"
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
STATUSES = ("draft", "approved")
QUESTION_MAX = 300
ANSWER_MAX = 2000  # Zalo's consultation message limit; Messenger allows more


class KbError(ValueError):
    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _nfc(value) -> str:
    return unicodedata.normalize("NFC", str(value or "")).strip()


def _date(value, label: str, errors: dict, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = f"{label} phải có dạng YYYY-MM-DD."
        return None


def clean_entry(raw: dict, where: str = "") -> dict:
    """Validate one entry; return clean values or raise KbError (fields -> Vietnamese message)."""
    errors: dict[str, str] = {}
    p = f"{where}." if where else ""
    if not isinstance(raw, dict):
        raise KbError({where or "entry": "Mỗi mục phải là một bảng khóa: giá trị."})
    key = _nfc(raw.get("key"))
    if not KEY_RE.match(key):
        errors[p + "key"] = "Mã mục chỉ gồm chữ thường không dấu, số và gạch ngang (2–80 ký tự)."
    questions = raw.get("questions")
    if isinstance(questions, str):
        questions = [line for line in questions.splitlines()]
    questions = [_nfc(q) for q in (questions or []) if _nfc(q)]
    if not questions:
        errors[p + "questions"] = "Cần ít nhất một cách hỏi."
    elif any(len(q) > QUESTION_MAX for q in questions):
        errors[p + "questions"] = f"Mỗi cách hỏi tối đa {QUESTION_MAX} ký tự."
    answer = _nfc(raw.get("answer"))
    if not answer:
        errors[p + "answer"] = "Câu trả lời không được trống."
    elif len(answer) > ANSWER_MAX:
        errors[p + "answer"] = f"Câu trả lời tối đa {ANSWER_MAX} ký tự (hiện có {len(answer)})."
    answer_km = _nfc(raw.get("answer_km")) or None
    if answer_km and len(answer_km) > ANSWER_MAX:
        errors[p + "answer_km"] = f"Câu trả lời tiếng Khmer tối đa {ANSWER_MAX} ký tự."
    links = raw.get("links") or []
    if isinstance(links, str):
        links = links.split()
    links = [_nfc(u) for u in links if _nfc(u)]
    if any(not re.match(r"^https?://\S+$", u) for u in links):
        errors[p + "links"] = "Mỗi liên kết phải bắt đầu bằng http:// hoặc https://."
    status = _nfc(raw.get("status") or "draft")
    if status not in STATUSES:
        errors[p + "status"] = "Trạng thái phải là nháp (draft) hoặc đã duyệt (approved)."
    valid_from = _date(raw.get("valid_from"), "Ngày bắt đầu hiệu lực", errors, p + "valid_from")
    valid_to = _date(raw.get("valid_to"), "Ngày hết hiệu lực", errors, p + "valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        errors[p + "valid_to"] = "Ngày hết hiệu lực phải sau ngày bắt đầu."
    unit = _nfc(raw.get("unit")) or None
    if errors:
        raise KbError(errors)
    return {"key": key, "questions": questions, "answer": answer, "answer_km": answer_km, "links": links,
            "unit_code": unit, "status": status, "valid_from": valid_from, "valid_to": valid_to}


def load_files(paths: list[Path] | None = None) -> list[dict]:
    """Every entry of the YAML files (default: the seed in kb/), validated; raises KbError."""
    paths = paths if paths is not None else sorted(KB_DIR.glob("*.yaml"))
    out: list[dict] = []
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            errors[Path(path).name] = f"Không đọc được tệp: {type(exc).__name__}."
            continue
        rows = data.get("entries") if isinstance(data, dict) else data
        for n, raw in enumerate(rows or [], start=1):
            try:
                entry = clean_entry(raw, f"{Path(path).name}#{n}")
            except KbError as exc:
                errors.update(exc.fields)
                continue
            if entry["key"] in seen:
                errors[f"{Path(path).name}#{n}.key"] = f"Mã mục {entry['key']} bị trùng."
            seen.add(entry["key"])
            out.append(entry)
    if errors:
        raise KbError(errors)
    return out


def answerable(entries: list[dict], today: date) -> list[dict]:
    return [e for e in entries if e.get("status") == "approved"
            and (e.get("valid_from") is None or e["valid_from"] <= today)
            and (e.get("valid_to") is None or today <= e["valid_to"])]
