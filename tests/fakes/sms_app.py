"""Helpers for the SMS app tests (tests/test_sms_app_*.py): upload files in
the shapes people really send (Excel UTF-16, ';' CSV, XLSX), users per role
and carrier, and waves created and dispatched through the real scheduler."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from core.db import session_scope
from tests.helpers import api_headers, make_user, token_for

#: header + rows: valid numbers of each carrier, an old 11-digit number, a
#: duplicate in another spelling, a foreign and a fixed-line number, letters,
#: a formula and a blank.
ROWS = [
    ("0981234567", "Nguyễn Văn An", "Phường 1"),  # viettel
    ("0912345678", "Trần Thị Bình", "Xã Đại Tâm"),  # vinaphone
    ("0903123456", "Lê Văn Cường", "Phường 2"),  # mobifone
    ("0921234567", "Phạm Thị Dung", "Xã Lịch Hội Thượng"),  # vietnamobile
    ("0993123456", "Thạch Sô Phia", "Xã Vĩnh Hải"),  # gmobile
    ("0951234567", "Lâm Văn Đức", "Xã Hòa Tú"),  # valid, carrier unknown -> other
    ("0162 123 4567", "Châu Thị Em", "Phường 3"),  # old Viettel -> +8432...
    ("+84 98 123 4567", "Trùng Số", "Phường 1"),  # duplicate of row 1
    ("+1 202 555 0101", "Foreign", "x"),
    ("0299 3821 234", "Cố định", "x"),
    ("09x1234567", "Chữ cái", "x"),
    ('=HYPERLINK("http://evil.example","bấm")', "Công thức", "x"),
    ("", "Không số", "x"),
]
HEADER = ("Số điện thoại", "Họ và tên", "Xã/Phường")
EXPECTED = {
    "rows": 13,
    "valid": 7,
    "invalid": 5,
    "duplicates": 1,
    "converted": 1,
    "by_carrier": {
        "viettel": 2,
        "vinaphone": 1,
        "mobifone": 1,
        "vietnamobile": 1,
        "gmobile": 1,
        "other": 1,
    },
}


def csv_bytes(
    rows=ROWS, header=HEADER, *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False
) -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue()
    if encoding == "utf-16":  # Excel "Unicode Text": UTF-16LE with BOM
        return b"\xff\xfe" + data.encode("utf-16-le")
    return (b"\xef\xbb\xbf" if bom else b"") + data.encode(encoding)


def xlsx_bytes(rows=ROWS, header=HEADER) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def corrupt_xlsx_bytes() -> bytes:
    """A real XLSX whose sheet XML breaks half-way (openpyxl reads the first
    rows, then fails)."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(ROWS * 50)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2] + b"<<<garbage"
            z.writestr(item, data)
    return out.getvalue()


def upload(client, headers, data: bytes, filename: str, **form):
    payload = {"file": (io.BytesIO(data), filename), **form}
    return client.post(
        "/api/v1/recipient-lists", data=payload, headers=headers, content_type="multipart/form-data"
    )


def partner_headers(app, carrier: str) -> dict:
    user = make_user(app, "telecom_partner", carrier, email=f"partner.{carrier}@test.local")
    return {"Authorization": "Bearer " + token_for(app, user)}


def seed_campaign(
    app, runner=None, status: str = "approved", sms_class: str = "public_service"
) -> int:
    """The demo's units and one campaign in ``status``; returns its id.
    (``runner`` is accepted for symmetry; the full seed-demo is not needed.)"""
    from datetime import date

    from campaigns.models import Campaign
    from core.models import OrgUnit
    from tests.helpers import seed_units

    seed_units(app)
    with app.app_context(), session_scope(app) as s:
        owner = s.exec(select(OrgUnit).where(OrgUnit.code == "so-khcn")).first()
        today = date.today()
        campaign = Campaign(
            title="Ngày Chuyển đổi số 10/10",
            starts_on=today,
            ends_on=today + timedelta(days=30),
            status=status,
            owner_unit_id=owner.id,
            sms_class=sms_class,
            created_at=datetime.now(UTC),
        )
        s.add(campaign)
        s.flush()
        return campaign.id


def make_account(app, channel: str, config: dict, secrets: dict | None = None) -> tuple[int, str]:
    """A channel account like the API creates it; returns (id, hook_token)."""
    import secrets as _secrets

    from core.security import SecretBox
    from scheduler.models import ChannelAccount

    token = _secrets.token_urlsafe(24)
    with app.app_context(), session_scope(app) as s:
        account = ChannelAccount(
            channel=channel,
            name=f"{channel} test",
            config=config,
            secrets_encrypted=SecretBox(app.config["SECRET_KEY"]).encrypt(secrets or {}),
            hook_token=token,
        )
        s.add(account)
        s.flush()
        return account.id, token


def create_wave(
    client,
    headers,
    campaign_id: int,
    account_id: int,
    list_id: int,
    text: str,
    when: datetime | None = None,
) -> dict:
    when = when or datetime.now(UTC) - timedelta(minutes=1)
    resp = client.post(
        "/api/v1/deliveries",
        headers=headers,
        json={
            "campaign_id": campaign_id,
            "channel_account_id": account_id,
            "scheduled_at": when.isoformat(),
            "content": {"text": text, "recipient_list_id": list_id},
        },
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def dispatch_once(app, clock=None) -> None:
    """Claim what is due and send it, synchronously (the dispatcher alone:
    background jobs such as the demo's kit builds are not run)."""
    from scheduler.dispatcher import Dispatcher

    with app.app_context():
        dispatcher = Dispatcher(app, clock=clock) if clock else Dispatcher(app)
        for claimed in dispatcher.claim(100):
            dispatcher.send(claimed.id, claimed.token)


def dispatch_due_once(app) -> dict:
    """``flask --app app dispatch-due``: one full pass. The demo's pending
    kit builds are dropped first (slow, and not what these tests are about)."""
    from sqlalchemy import text

    from core.db import get_engine
    from scheduler.runner import dispatch_due

    with get_engine(app).begin() as conn:
        conn.execute(text("DELETE FROM background_job WHERE status = 'pending'"))
    with app.app_context():
        return dispatch_due(app)


__all__ = ["api_headers", "make_user"]
