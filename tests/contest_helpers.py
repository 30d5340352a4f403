"""Shared set-up of the contest tests: an SMS account, questions, a contest with an
open round, and reading a one-time code from the sms_partner batch."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlmodel import select

from core.db import session_scope
from core.timeutil import LOCAL_TZ, utcnow
from tests.helpers import seed_units

HEADER = ["Chủ đề", "Loại", "Câu hỏi", "Phương án A", "Phương án B", "Phương án C", "Phương án D",
          "Phương án E", "Phương án F", "Đáp án đúng", "Giải thích"]


def question_rows(n: int) -> list[list]:
    rows = []
    for i in range(1, n + 1):
        if i % 5 == 0:
            rows.append(["DVCTT", "nhiều", f"Câu hỏi số {i}: những việc nào làm được trên Cổng dịch vụ công?",
                         "Nộp hồ sơ", "Thanh toán phí", "Đăng ký kết hôn tại nhà", "", "", "", "A, B",
                         f"Giải thích câu {i}: nộp hồ sơ và thanh toán trực tuyến."])
        else:
            rows.append(["DVCTT", "một", f"Câu hỏi số {i}: ứng dụng định danh điện tử quốc gia là gì?",
                         "Zalo", "VNeID", "Facebook", "YouTube", "", "", "B", f"Giải thích câu {i}: VNeID."])
    return rows


def xlsx_bytes(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def setup_contest(app, n_questions: int = 20, per_attempt: int = 5, channel: str = "sms_partner",
                  config: dict | None = None, secrets: dict | None = None) -> dict:
    """An SMS account, ``n_questions`` questions and a published contest whose
    round 1 is open now. Returns ids and the slug."""
    from campaigns.contests import service as cs
    from campaigns.contests.models import Contest
    from core.models import OrgUnit
    from core.security import SecretBox
    from scheduler.models import ChannelAccount

    seed_units(app)
    with app.app_context(), session_scope(app) as s:
        account = ChannelAccount(channel=channel, name="SMS mã xác nhận", config=config or {"sender": "SOCTRANG"},
                                 secrets_encrypted=SecretBox(app.config["SECRET_KEY"]).encrypt(secrets or {}))
        s.add(account)
        s.flush()
        count, errors = cs.import_questions(s, io.BytesIO(xlsx_bytes(question_rows(n_questions))))
        assert not errors and count == n_questions
        c = Contest(slug="thi-dvctt", title="Tìm hiểu dịch vụ công trực tuyến", published=True,
                    questions_per_attempt=per_attempt, sms_account_id=account.id, created_at=utcnow())
        s.add(c)
        s.flush()
        first = (utcnow().astimezone(LOCAL_TZ) - timedelta(days=1)).date()
        rounds = cs.weekly_rounds(s, c, first, 4)
        commune = s.exec(select(OrgUnit).where(OrgUnit.kind.in_(cs.COMMUNE_KINDS)).order_by(OrgUnit.id)).first()
        return {"contest_id": c.id, "slug": c.slug, "round_id": rounds[0].id, "account_id": account.id,
                "commune_id": commune.id, "commune_name": commune.name}


def code_from_batch(app, phone_e164: str) -> str:
    """The newest code sent to ``phone_e164``, read from the partner batch records."""
    from scheduler.sms.models import SmsBatch, SmsMessage

    with app.app_context(), session_scope(app) as s:
        msg = s.exec(select(SmsMessage).where(SmsMessage.phone == phone_e164, SmsMessage.batch_id.is_not(None))
                     .order_by(SmsMessage.id.desc())).first()
        assert msg is not None, "no batched SMS for this phone"
        batch = s.get(SmsBatch, msg.batch_id)
        assert batch is not None and batch.message_count == 1
        return re.search(r"\b(\d{6})\b", msg.text).group(1)
