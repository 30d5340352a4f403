"""The assistant's service layer: the index over approved entries, ``ask``, handoff, purge.

The index is built in-process from the database (approved entries valid today) and rebuilt
when the entries change (a signature of ids, update times and today's date).
"""

from __future__ import annotations

import os
import threading
import unicodedata
from datetime import date, datetime, time, timedelta

from flask import current_app, has_app_context
from sqlalchemy import func
from sqlmodel import Session, select

from campaigns.assistant import kb, safety
from campaigns.assistant.models import AssistantQuestion, KbEntry
from campaigns.assistant.retrieval import Index
from core.timeutil import LOCAL_TZ, utcnow

#: below this confidence the question is handed on (tuned on tests/data/assistant_eval.tsv)
THRESHOLD = 0.35
CHANNELS = ("web", "api", "zalo", "messenger")
QUESTION_MAX = 1000
HANDOFF_TEXT = ("Cảm ơn bạn. Câu hỏi này chúng tôi chưa có câu trả lời sẵn, nên đã chuyển cho {unit} để trả lời "
                "bạn sớm nhất (trong giờ làm việc). Cần gấp, bạn gọi đường dây nóng 0299 3822 222.")
DEFAULT_UNIT = "soc-trang"


class AskError(ValueError):
    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def build_index(entries: list[dict]) -> Index:
    return Index(entries)


def _conf(name: str, default: str) -> str:
    value = current_app.config.get(f"LANTOA_{name}") if has_app_context() else None
    return str(value or os.environ.get(f"LANTOA_{name}") or default)


def threshold() -> float:
    try:
        return min(1.0, max(0.0, float(_conf("ASSISTANT_THRESHOLD", str(THRESHOLD)))))
    except ValueError:
        return THRESHOLD


def retention_days() -> int:
    try:
        return max(1, int(_conf("ASSISTANT_RETENTION_DAYS", "90")))
    except ValueError:
        return 90


def today_local() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


def entry_dict(e: KbEntry) -> dict:
    return {"id": e.id, "key": e.key, "questions": list(e.questions or []), "answer": e.answer,
            "answer_km": e.answer_km, "links": list(e.links or []), "unit_code": e.unit_code,
            "status": e.status, "valid_from": e.valid_from, "valid_to": e.valid_to}


_cache: dict[str, tuple[tuple, Index, dict[int, dict]]] = {}
_cache_lock = threading.Lock()


def current_index(session: Session) -> tuple[Index, dict[int, dict]]:
    """The index over the entries that may answer today (cached per database)."""
    day = today_local()
    sig = (str(session.get_bind().url), day,
           session.exec(select(func.count(KbEntry.id), func.max(KbEntry.updated_at),  # type: ignore[arg-type]
                               func.max(KbEntry.id))).one())
    key = str(session.get_bind().url)
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] == sig:
            return hit[1], hit[2]
    rows = kb.answerable([entry_dict(e) for e in session.exec(select(KbEntry)).all()], day)
    index = build_index(rows)
    by_id = {r["id"]: r for r in rows}
    with _cache_lock:
        _cache[key] = (sig, index, by_id)
    return index, by_id


def load_entries(session: Session, entries: list[dict], user_id: int | None = None) -> tuple[int, int]:
    """Insert or update entries by key (from YAML); returns (created, updated)."""
    created = updated = 0
    now = utcnow()
    for data in entries:
        row = session.exec(select(KbEntry).where(KbEntry.key == data["key"])).first()
        if row is None:
            row = KbEntry(key=data["key"], answer=data["answer"])
            created += 1
        else:
            updated += 1
        for field in ("questions", "answer", "answer_km", "links", "unit_code", "status", "valid_from",
                      "valid_to"):
            setattr(row, field, data.get(field))
        row.updated_at, row.updated_by = now, user_id
        session.add(row)
    session.flush()
    return created, updated


def _unit_name(session: Session, code: str | None) -> str:
    from core.models import OrgUnit

    unit = session.exec(select(OrgUnit).where(OrgUnit.code == (code or DEFAULT_UNIT))).first()
    return unit.name if unit else "cơ quan phụ trách"


def ask(session: Session, question, channel: str = "api", sender: str | None = None,
        lang: str = "vi", force_handoff: bool = False) -> tuple[dict, AssistantQuestion]:
    """Answer a question (or hand it on; ``force_handoff``: the citizen asked for a person); the
    question is stored masked. Raises AskError."""
    text = unicodedata.normalize("NFC", question if isinstance(question, str) else "").replace("\x00", "").strip()
    errors = {}
    if not isinstance(question, str) or not text:
        errors["question"] = "Vui lòng nhập câu hỏi."
    elif len(text) > QUESTION_MAX:
        errors["question"] = f"Câu hỏi tối đa {QUESTION_MAX} ký tự (hiện có {len(text)})."
    if channel not in CHANNELS:
        errors["channel"] = "Kênh phải là một trong: web, api, zalo, messenger."
    if errors:
        raise AskError(errors)
    now = utcnow()
    row = AssistantQuestion(created_at=now, channel=channel, sender=(sender or None) and str(sender)[:120],
                            question=safety.mask(text), purge_after=today_local() + timedelta(days=retention_days()))
    if safety.has_secret(text):
        row.secret_masked = True
        otp = next((e for e in current_index(session)[1].values() if e["key"] == "at-otp-khong-cung-cap"), None)
        row.entry_id, row.confidence, row.status = (otp or {}).get("id"), 1.0, "answered"
        session.add(row)
        session.flush()
        return ({"answer": safety.OTP_WARNING, "entry_id": row.entry_id, "confidence": 1.0, "handoff": False,
                 "links": [], "question_id": row.id}, row)
    index, by_id = current_index(session)
    best = index.query(text)[0]
    row.confidence = round(float(best.confidence), 3)
    if best.entry_id is not None and best.confidence >= threshold() and not force_handoff:
        entry = by_id[best.entry_id]
        row.entry_id, row.unit_code = entry["id"], entry.get("unit_code")
        answer = (entry.get("answer_km") if lang == "km" and entry.get("answer_km") else entry["answer"])
        session.add(row)
        session.flush()
        return ({"answer": answer, "entry_id": entry["id"], "confidence": row.confidence, "handoff": False,
                 "links": entry.get("links") or [], "question_id": row.id}, row)
    # hand on: to the unit of the nearest entry when there is one, else the province
    near = by_id.get(best.entry_id) if best.entry_id is not None and best.confidence >= threshold() / 2 else None
    row.unit_code = (near or {}).get("unit_code") or DEFAULT_UNIT
    row.handoff, row.status = True, "open"
    session.add(row)
    session.flush()
    return ({"answer": HANDOFF_TEXT.format(unit=_unit_name(session, row.unit_code)), "entry_id": None,
             "confidence": row.confidence, "handoff": True, "links": [], "question_id": row.id}, row)


def purge_personal_data(session: Session, today: date | None = None) -> int:
    """Erase the text and sender of questions past their retention date; returns how many."""
    today = today or today_local()
    rows = session.exec(select(AssistantQuestion).where(
        AssistantQuestion.purge_after.is_not(None), AssistantQuestion.purge_after <= today)).all()  # type: ignore[union-attr]
    for q in rows:
        q.question, q.sender, q.reply = "", None, None
        q.purge_after = None
        session.add(q)
    return len(rows)


def weekly_figures(session: Session, weeks: int = 8, today: date | None = None) -> list[dict]:
    """Per ISO week (Monday, local time), newest first: questions, answered automatically, handed
    off, replied by a person, and the median time to a person's reply (hours) — plan IV.3e."""
    import statistics

    today = today or today_local()
    start = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    since = datetime.combine(start, time.min, tzinfo=LOCAL_TZ)
    rows = session.exec(select(AssistantQuestion).where(AssistantQuestion.created_at >= since)).all()  # type: ignore[operator]
    weeks_out: dict[date, dict] = {}
    for i in range(weeks):
        monday = start + timedelta(days=7 * i)
        weeks_out[monday] = {"week": monday, "questions": 0, "automatic": 0, "handoff": 0, "replied": 0,
                             "hours": []}
    for q in rows:
        local = q.created_at.astimezone(LOCAL_TZ).date()
        w = weeks_out.get(local - timedelta(days=local.weekday()))
        if w is None:
            continue
        w["questions"] += 1
        w["handoff" if q.handoff else "automatic"] += 1
        if q.handoff and q.replied_at and q.status in ("replied", "closed"):
            w["replied"] += 1
            w["hours"].append((q.replied_at - q.created_at).total_seconds() / 3600)
    out = []
    for w in sorted(weeks_out.values(), key=lambda x: x["week"], reverse=True):
        hours = w.pop("hours")
        w["median_hours"] = round(statistics.median(hours), 1) if hours else None
        out.append(w)
    return out
