"""Knowledge contests: the question bank import, rounds, one-time SMS codes,
drawing questions, scoring and the results per round, per unit and per school."""

from __future__ import annotations

import hashlib
import hmac
import io
import random
import re
import secrets
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import IO, Any

from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from campaigns.contests.models import (
    Contest,
    ContestCode,
    ContestEntry,
    ContestQuestion,
    ContestRound,
)
from core.models import OrgUnit
from core.timeutil import LOCAL_TZ, utcnow

CODE_TTL = timedelta(minutes=10)
CODE_MAX_TRIES = 5
#: codes one phone may ask for in one round within an hour
CODES_PER_HOUR = 3
MAX_IMPORT_ROWS = 5000
LETTERS = "ABCDEF"
COMMUNE_KINDS = ("commune", "ward", "special_zone")
ALREADY_ENTERED = lazy_gettext("Số điện thoại này đã dự thi vòng này. Mỗi số chỉ được thi một lần mỗi vòng.")


class ContestError(Exception):
    """A refusal with a Vietnamese message for the entrant or the officer."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status


# -- question bank import -----------------------------------------------------------------

HEADER = ("Chủ đề", "Loại", "Câu hỏi", "Phương án A", "Phương án B", "Phương án C", "Phương án D",
          "Phương án E", "Phương án F", "Đáp án đúng", "Giải thích")

#: pieces of UTF-8 read as Windows-1252/Latin-1 ("Cáº§u", "Ä‘", "Ã¡"), or a replacement char
_MOJIBAKE = re.compile(r"[ÃÄÆáÂ][\u0080-\u00bf\u2018-\u203a\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u02c6\u02dc]|\ufffd")


def looks_mojibake(value: str) -> bool:
    """True when ``value`` is Vietnamese UTF-8 decoded with the wrong code page."""
    if _MOJIBAKE.search(value):
        return True
    try:  # round trip: text that re-encodes to valid UTF-8 with other letters
        fixed = value.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return fixed != value


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return unicodedata.normalize("NFC", str(v)).strip()


def import_questions(session: Session, stream: IO[bytes]) -> tuple[int, list[dict[str, Any]]]:
    """Read an XLSX question bank (columns as in ``HEADER``). All rows or none:
    any bad row -> nothing saved and [{"row": n, "problems": [lazy text]}] returned
    (row 0: the whole file)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(stream.read()), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is the same answer
        return 0, [{"row": 0, "problems": [lazy_gettext("Không đọc được tệp: cần một tệp Excel (.xlsx).")]}]
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if not header or _cell(header[2] if len(header) > 2 else None).lower() != "câu hỏi":
        return 0, [{"row": 1, "problems": [lazy_gettext("dòng đầu phải là tiêu đề cột: %(cols)s", cols=", ".join(HEADER))]}]
    questions: list[ContestQuestion] = []
    errors: list[dict[str, Any]] = []
    for n, raw in enumerate(rows, start=2):
        if n - 1 > MAX_IMPORT_ROWS:
            errors.append({"row": n, "problems": [lazy_gettext("tệp quá %(n)s câu hỏi", n="5.000")]})
            break
        values = [_cell(v) for v in list(raw) + [None] * (len(HEADER) - len(raw))]
        if not any(values):
            continue
        topic, kind_raw, text = values[0], values[1].lower(), values[2]
        options = [v for v in values[3:9]]
        while options and not options[-1]:
            options.pop()
        answer, explanation = values[9].upper(), values[10]
        problems = []
        bad = [HEADER[i] for i, v in enumerate(values) if v and looks_mojibake(v)]
        if bad:
            problems.append(lazy_gettext("sai bảng mã chữ (lỗi phông) ở cột %(cols)s: hãy lưu tệp với bảng mã Unicode "
                               "(UTF-8) rồi nhập lại", cols=", ".join(bad)))
        if not text:
            problems.append(lazy_gettext("thiếu nội dung câu hỏi"))
        if len(options) < 2 or any(not o for o in options):
            problems.append(lazy_gettext("cần ít nhất 2 phương án, không để trống phương án ở giữa"))
        letters = [a for a in re.split(r"[\s,;]+", answer) if a]
        correct = sorted({LETTERS.index(a) for a in letters if a in LETTERS and LETTERS.index(a) < len(options)})
        if not letters:
            problems.append(lazy_gettext("không có đáp án đúng"))
        elif len(correct) != len(set(letters)):
            problems.append(lazy_gettext("đáp án đúng '%(a)s' không phải phương án có trong câu", a=answer))
        kind = "multiple" if kind_raw.startswith("nhi") or kind_raw == "multiple" else "single"
        if kind == "single" and len(correct) > 1:
            problems.append(lazy_gettext("câu một đáp án nhưng ghi nhiều đáp án đúng"))
        if len(text) > 2000 or len(explanation) > 2000:
            problems.append(lazy_gettext("câu hỏi hoặc giải thích dài quá 2.000 ký tự"))
        if problems:
            errors.append({"row": n, "problems": problems})
            continue
        questions.append(ContestQuestion(topic=topic[:120], kind=kind, text=text, options=options,
                                         correct=correct, explanation=explanation, created_at=utcnow()))
    wb.close()
    if errors:
        return 0, errors
    if not questions:
        return 0, [{"row": 0, "problems": [lazy_gettext("tệp không có câu hỏi nào")]}]
    session.add_all(questions)
    session.flush()
    return len(questions), []


# -- contests and rounds ------------------------------------------------------------------


def weekly_rounds(session: Session, contest: Contest, first_day: date, weeks: int) -> list[ContestRound]:
    """Replace the contest's rounds with ``weeks`` weekly rounds from ``first_day``
    (00:00 local on the first day to 23:59:59 local on the seventh)."""
    if weeks < 1 or weeks > 52:
        raise ContestError(lazy_gettext("Số vòng thi phải từ 1 đến 52."))
    if session.exec(select(ContestEntry.id).join(ContestRound, ContestRound.id == ContestEntry.round_id)
                    .where(ContestRound.contest_id == contest.id)).first():
        raise ContestError(lazy_gettext("Cuộc thi đã có người dự thi, không thể đổi lịch các vòng."), 409)
    for r in session.exec(select(ContestRound).where(ContestRound.contest_id == contest.id)).all():
        session.delete(r)
    session.flush()
    out = []
    for i in range(weeks):
        start = datetime.combine(first_day + timedelta(days=7 * i), time.min, LOCAL_TZ)
        r = ContestRound(contest_id=contest.id, number=i + 1, opens_at=start,
                         closes_at=start + timedelta(days=7) - timedelta(seconds=1))
        session.add(r)
        out.append(r)
    session.flush()
    return out


def rounds_of(session: Session, contest_id: int) -> list[ContestRound]:
    return list(session.exec(select(ContestRound).where(ContestRound.contest_id == contest_id)
                             .order_by(ContestRound.number)).all())


def open_round(session: Session, contest: Contest, now: datetime | None = None) -> ContestRound | None:
    now = now or utcnow()
    return session.exec(select(ContestRound).where(
        ContestRound.contest_id == contest.id, ContestRound.opens_at <= now,
        ContestRound.closes_at >= now)).first()


def communes(session: Session) -> list[OrgUnit]:
    today = datetime.now(LOCAL_TZ).date()
    rows = session.exec(select(OrgUnit).where(OrgUnit.kind.in_(COMMUNE_KINDS)).order_by(OrgUnit.name)).all()
    return [u for u in rows if u.valid_on(today)]


# -- one-time codes -----------------------------------------------------------------------


def _hash(code: str, phone: str, round_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{round_id}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


#: scheduler.sms.phones reasons, as literals so that the catalogue has them
PHONE_REASONS = {
    "Thiếu số điện thoại.": lazy_gettext("Thiếu số điện thoại."),
    "Số điện thoại chứa chữ cái.": lazy_gettext("Số điện thoại chứa chữ cái."),
    "Số điện thoại quá dài.": lazy_gettext("Số điện thoại quá dài."),
    "Không đọc được số điện thoại.": lazy_gettext("Không đọc được số điện thoại."),
    "Số máy cố định, không nhận được tin nhắn SMS.": lazy_gettext("Số máy cố định, không nhận được tin nhắn SMS."),
    "Không phải số di động (đầu số dịch vụ hoặc đặc biệt).": lazy_gettext("Không phải số di động (đầu số dịch vụ hoặc đặc biệt)."),
}


def normalise_phone(raw: str) -> tuple[str, str]:
    """(E.164, carrier) of a Vietnamese mobile number, else ContestError."""
    from scheduler.sms.phones import normalize_phone

    res = normalize_phone(raw)
    if not res.ok:
        raise ContestError(PHONE_REASONS.get(res.reason or "", lazy_gettext("Số điện thoại không hợp lệ.")))
    return res.e164, res.carrier or "other"


def send_code(session: Session, contest: Contest, rnd: ContestRound, raw_phone: str,
              now: datetime | None = None) -> ContestCode:
    """Make a 6-digit code for (round, phone) and send it through the contest's SMS
    account: on ``sms_partner`` it goes into a batch for the carrier, on
    ``sms_kannel`` it is sent through Kannel at once."""
    from scheduler.models import ChannelAccount

    now = now or utcnow()
    phone, carrier = normalise_phone(raw_phone)
    if already_entered(session, rnd.id, phone):
        raise ContestError(ALREADY_ENTERED, 409)
    recent = session.exec(select(func.count()).select_from(ContestCode).where(
        ContestCode.round_id == rnd.id, ContestCode.phone == phone,
        ContestCode.created_at >= now - timedelta(hours=1))).one()
    if recent >= CODES_PER_HOUR:
        raise ContestError(lazy_gettext("Số này đã nhận đủ 3 mã trong một giờ. Vui lòng thử lại sau."), 429)
    account = session.get(ChannelAccount, contest.sms_account_id) if contest.sms_account_id else None
    if account is None or account.channel not in ("sms_partner", "sms_kannel") or account.status != "active":
        raise ContestError(lazy_gettext("Cuộc thi chưa có kênh gửi tin nhắn mã xác nhận. Vui lòng liên hệ ban tổ chức."), 503)
    code = f"{secrets.randbelow(10**6):06d}"
    text_ = f"Ma xac nhan du thi '{_ascii(contest.title)[:60]}' vong {rnd.number}: {code}. Het han sau 10 phut."
    row = ContestCode(round_id=rnd.id, phone=phone, code_hash=_hash(code, phone, rnd.id),
                      created_at=now, expires_at=now + CODE_TTL)
    row.delivery_id = _send_sms(session, account, phone, carrier, text_, now)
    session.add(row)
    session.flush()
    return row


def _ascii(s: str) -> str:
    s = s.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def _send_sms(session: Session, account, phone: str, carrier: str, body: str, now: datetime) -> int:
    """One SMS as its own delivery (status sent: the dispatcher never claims it) with
    one durable record; partner accounts get a batch, Kannel accounts a send."""
    from channels.base import Message
    from scheduler.models import Delivery
    from scheduler.sms.models import SmsMessage
    from scheduler.sms.waves import create_partner_batches

    key = "contest-code:" + secrets.token_hex(16)
    d = Delivery(channel_account_id=account.id, content={"text": body, "purpose": "contest_code"},
                 status="sent", held=False, scheduled_at=now, next_attempt_at=None,
                 idempotency_key=key, created_at=now, updated_at=now, sent_at=now)
    session.add(d)
    session.flush()
    msg = SmsMessage(delivery_id=d.id, phone=phone, carrier=carrier, text=body, status="pending",
                     updated_at=now)
    session.add(msg)
    session.flush()
    if account.channel == "sms_partner":
        create_partner_batches(session.connection(), d.id, now=now)
        return d.id
    from scheduler.accounts import build_adapter

    result = build_adapter(account, current_app._get_current_object()).deliver(
        Message(idempotency_key=key, text=body, to=phone, delivery_id=d.id, scheduled_at=now))
    msg.attempts = 1
    msg.status = "sent" if result.delivered else "failed"
    msg.external_id = result.external_id
    msg.reason = None if result.delivered else (result.message or result.outcome.value)[:500]
    session.add(msg)
    if not result.delivered:
        session.flush()
        raise ContestError(lazy_gettext("Chưa gửi được tin nhắn mã xác nhận. Vui lòng thử lại sau ít phút."), 503)
    return d.id


def already_entered(session: Session, round_id: int, phone: str) -> bool:
    return session.exec(select(ContestEntry.id).where(
        ContestEntry.round_id == round_id, ContestEntry.phone == phone)).first() is not None


def start_entry(session: Session, contest: Contest, rnd: ContestRound, raw_phone: str, code: str, *,
                name: str = "", unit_id: int | None = None, school: str = "",
                now: datetime | None = None, rng: random.Random | None = None) -> ContestEntry:
    """Check the code and open the entry with questions drawn from the bank."""
    now = now or utcnow()
    phone, _carrier = normalise_phone(raw_phone)
    if already_entered(session, rnd.id, phone):
        raise ContestError(ALREADY_ENTERED, 409)
    row = session.exec(select(ContestCode).where(
        ContestCode.round_id == rnd.id, ContestCode.phone == phone, ContestCode.used_at.is_(None))
        .order_by(ContestCode.id.desc())).first()
    if row is None or row.expires_at < now:
        raise ContestError(lazy_gettext("Mã xác nhận đã hết hạn hoặc chưa được gửi. Vui lòng nhận mã mới."))
    if row.tries >= CODE_MAX_TRIES:
        raise ContestError(lazy_gettext("Đã nhập sai mã quá 5 lần. Vui lòng nhận mã mới."), 429)
    if not hmac.compare_digest(row.code_hash, _hash((code or "").strip(), phone, rnd.id)):
        row.tries += 1
        session.add(row)
        session.commit()
        raise ContestError(lazy_gettext("Mã xác nhận không đúng."))
    if unit_id is not None:
        unit = session.get(OrgUnit, unit_id)
        if unit is None or unit.kind not in COMMUNE_KINDS:
            raise ContestError(lazy_gettext("Vui lòng chọn xã/phường nơi bạn sinh sống."))
    where = [ContestQuestion.active.is_(True)]
    if contest.topic:
        where.append(ContestQuestion.topic == contest.topic)
    pool = list(session.exec(select(ContestQuestion.id).where(*where)).all())
    if not pool:
        raise ContestError(lazy_gettext("Ngân hàng câu hỏi của cuộc thi chưa có câu hỏi."), 503)
    drawn = (rng or random.SystemRandom()).sample(pool, min(contest.questions_per_attempt, len(pool)))
    row.used_at = now
    entry = ContestEntry(round_id=rnd.id, token=secrets.token_urlsafe(24), phone=phone, name=name.strip()[:120],
                         unit_id=unit_id, school=school.strip()[:200], question_ids=drawn, total=len(drawn),
                         started_at=now)
    session.add(row)
    session.add(entry)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ContestError(ALREADY_ENTERED, 409) from None
    return entry


def questions_for(session: Session, entry: ContestEntry) -> list[ContestQuestion]:
    rows = {q.id: q for q in session.exec(select(ContestQuestion).where(
        ContestQuestion.id.in_(entry.question_ids))).all()}
    return [rows[i] for i in entry.question_ids if i in rows]


def public_questions(session: Session, entry: ContestEntry) -> list[dict[str, Any]]:
    """What the page may show before submission: never the answers."""
    return [{"id": q.id, "kind": q.kind, "text": q.text, "options": list(q.options)}
            for q in questions_for(session, entry)]


def submit(session: Session, entry: ContestEntry, answers: dict[int, list[int]], guess: int | None,
           now: datetime | None = None, rnd: ContestRound | None = None,
           questions: list[ContestQuestion] | None = None) -> ContestEntry:
    """Score the entry once; a second submission is refused (also when two arrive at
    once: the row is updated only while ``submitted_at`` is still empty)."""
    now = now or utcnow()
    if entry.submitted_at is not None:
        raise ContestError(lazy_gettext("Bài thi này đã được nộp."), 409)
    rnd = rnd or session.get(ContestRound, entry.round_id)
    if rnd is not None and now > rnd.closes_at + timedelta(minutes=5):
        raise ContestError(lazy_gettext("Vòng thi đã kết thúc, không nhận bài nữa."), 409)
    if guess is None or guess < 0:
        raise ContestError(lazy_gettext("Vui lòng trả lời câu dự đoán số người dự thi (một số không âm)."))
    score = 0
    kept: dict[str, list[int]] = {}
    for q in questions if questions is not None else questions_for(session, entry):
        chosen = sorted({i for i in answers.get(q.id, []) if 0 <= i < len(q.options)})
        if q.kind == "single":
            chosen = chosen[:1]
        kept[str(q.id)] = chosen
        if chosen == sorted(q.correct):
            score += 1
    started = entry.started_at
    duration = max(0, int((now - started).total_seconds() * 1000)) if started else None
    done = session.execute(update(ContestEntry).where(
        ContestEntry.id == entry.id, ContestEntry.submitted_at.is_(None)).values(
        answers=kept, score=score, guess=guess, submitted_at=now, duration_ms=duration)
        .execution_options(synchronize_session=False)).rowcount
    if not done:
        raise ContestError(lazy_gettext("Bài thi này đã được nộp."), 409)
    for k, v in {"answers": kept, "score": score, "guess": guess, "submitted_at": now,
                 "duration_ms": duration}.items():
        set_committed_value(entry, k, v)
    return entry


# -- results ------------------------------------------------------------------------------


def ranking(session: Session, rnd: ContestRound) -> list[ContestEntry]:
    """Submitted entries by score, then the guess nearest the real number of
    entrants, then the shorter time, then the earlier submission."""
    entries = list(session.exec(select(ContestEntry).where(
        ContestEntry.round_id == rnd.id, ContestEntry.submitted_at.is_not(None))).all())
    n = len(entries)
    entries.sort(key=lambda e: (-(e.score or 0), abs((e.guess or 0) - n), e.duration_ms or 0, e.submitted_at))
    return entries


def by_group(session: Session, rnd: ContestRound, group: str) -> list[dict[str, Any]]:
    """Entrants, average and best score per commune (``unit``) or per school."""
    col = ContestEntry.unit_id if group == "unit" else ContestEntry.school
    rows = session.exec(select(col, func.count(), func.avg(ContestEntry.score), func.max(ContestEntry.score))
                        .where(ContestEntry.round_id == rnd.id, ContestEntry.submitted_at.is_not(None))
                        .group_by(col)).all()
    names = {}
    if group == "unit":
        ids = [r[0] for r in rows if r[0] is not None]
        names = {u.id: u.name for u in session.exec(select(OrgUnit).where(OrgUnit.id.in_(ids))).all()} if ids else {}
    out = []
    for key, count, avg, best in rows:
        label = names.get(key, "") if group == "unit" else (key or "")
        if not label:
            continue
        out.append({"name": label, "entrants": int(count), "average": float(avg or 0), "best": int(best or 0)})
    out.sort(key=lambda r: (-r["entrants"], -r["average"], r["name"]))
    return out


def mask_phone(phone: str) -> str:
    local = "0" + phone[3:] if phone.startswith("+84") else phone
    return local[:4] + "***" + local[-3:]


def winners_xlsx(session: Session, contest: Contest, top: int = 10) -> bytes:
    from openpyxl import Workbook

    from core.tabular import append_row

    wb = Workbook()
    ws = wb.active
    ws.title = "Giải thưởng"
    append_row(ws, ["Vòng", "Hạng", "Họ tên", "Số điện thoại", "Xã/phường", "Trường", "Điểm", "Số câu",
                    "Dự đoán số người", "Thời gian (giây)"])
    units = {u.id: u.name for u in session.exec(select(OrgUnit)).all()}
    for rnd in rounds_of(session, contest.id):
        for i, e in enumerate(ranking(session, rnd)[:top], start=1):
            append_row(ws, [rnd.number, i, e.name, "0" + e.phone[3:] if e.phone.startswith("+84") else e.phone,
                            units.get(e.unit_id, ""), e.school, e.score, e.total, e.guess,
                            round((e.duration_ms or 0) / 1000, 1)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
