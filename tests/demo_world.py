"""A demo with some data in every part, for the tests that look at every page (crawl, axe):
the demo units and one user per role, a channel account of each kind, the 10/10 preset
campaign (created after the accounts, so it makes deliveries), deliveries in several states,
a recipient list with an SMS wave and a partner batch, a kit, media assets, background jobs
(one failed with a raw database error in its record), the year's plan and feedback."""

from __future__ import annotations

import io
import secrets
import struct
import zlib
from datetime import timedelta

from sqlmodel import select

from core.db import session_scope
from core.models import OrgUnit, User
from core.timeutil import utcnow
from tests.helpers import make_user

#: role -> (unit code, e-mail) of the user the crawl logs in as
ROLE_USERS = {
    "admin": (None, "quantri@crawl.test"),
    "communicator": ("so-vhttdl", "truyenthong@crawl.test"),
    "reviewer": ("so-khcn", "lanhdao@crawl.test"),
    "unit_officer": ("tx-vinh-chau", "huyen@crawl.test"),
    "telecom_partner": ("viettel", "viettel@crawl.test"),
}
NAMES = {"admin": "Quản trị viên", "communicator": "Nguyễn Thị Lan", "reviewer": "Trần Văn Duyệt",
         "unit_officer": "Lâm Thị Sương", "telecom_partner": "Đối tác Viettel"}

ACCOUNTS = [
    ("facebook", "Trang Sở VHTTDL", {"page_id": "1234567890", "page_name": "Sở VHTTDL Sóc Trăng"},
     {"page_access_token": "EAAB-test"}),
    ("zalo", "Zalo OA Sóc Trăng", {"oa_id": "4321"}, {"access_token": "z", "refresh_token": "r"}),
    ("sms_kannel", "SMS Kannel", {"sendsms_url": "http://127.0.0.1:9/cgi-bin/sendsms",
                                  "username": "u", "sender": "SOCTRANG"}, {"password": "p"}),
    ("sms_partner", "SMS qua nhà mạng", {"sender": "SOCTRANG"}, {}),
    ("loudspeaker", "Loa Vĩnh Châu", {"unit_code": "tx-vinh-chau"}, {}),
    ("webhook", "Cổng tỉnh (webhook)", {"url": "http://127.0.0.1:9/hook"}, {}),
]


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\xff\xff" * 1
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build(app, tmp_path) -> dict:
    """Fill ``app``'s database; returns ids of what was made."""
    from campaigns.demo import seed_units
    from campaigns.measure.plans import load_plan
    from campaigns.models import Asset, Campaign
    from campaigns.presets import apply_preset
    from core.security import SecretBox
    from scheduler.models import BackgroundJob, ChannelAccount, Delivery
    from tests.fakes.kits import fake_kit
    from tests.measure_helpers import PLAN_FILE, plan_doc

    with app.app_context(), session_scope(app) as s:
        seed_units(s)
    users = {role: make_user(app, role, unit, email=email) for role, (unit, email) in ROLE_USERS.items()}
    with app.app_context(), session_scope(app) as s:
        for role, user in users.items():
            row = s.get(User, user.id)
            row.name = NAMES[role]
            s.add(row)
    ids: dict = {"accounts": {}}
    box = SecretBox(app.config["SECRET_KEY"])
    with app.app_context(), session_scope(app) as s:
        units = {u.code: u for u in s.exec(select(OrgUnit)).all()}
        for channel, name, config, secret in ACCOUNTS:
            acc = ChannelAccount(channel=channel, name=name, config=config,
                                 secrets_encrypted=box.encrypt(secret), hook_token=secrets.token_urlsafe(24),
                                 unit_id=units["tx-vinh-chau"].id if channel == "loudspeaker" else None,
                                 created_at=utcnow())
            if channel == "zalo":
                acc.status = "needs_auth"
            if channel == "facebook":
                acc.health = {"ok": False, "message": "Mã truy cập đã hết hạn."}
                acc.last_checked_at = utcnow()
            s.add(acc)
            s.flush()
            ids["accounts"][channel] = acc.id
        author = s.get(User, users["communicator"].id)
        campaign = apply_preset(s, "ngay-cds-10-10", author)
        ids["campaign"] = campaign.id
        from campaigns.models import ContentItem

        ids["item"] = s.exec(select(ContentItem.id).where(ContentItem.campaign_id == campaign.id)
                             .order_by(ContentItem.id)).first()
        # a second campaign with the same title (told apart by dates and status)
        twin = Campaign(title=campaign.title, starts_on=campaign.starts_on - timedelta(days=365),
                        ends_on=campaign.ends_on - timedelta(days=365), status="completed",
                        owner_unit_id=campaign.owner_unit_id, created_by=author.id,
                        created_at=utcnow(), updated_at=utcnow())
        s.add(twin)
        s.flush()
        ids["twin"] = twin.id
        # deliveries in a few states
        deliveries = s.exec(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
        states = ["sent", "failed", "needs_review", "retry_wait", "cancelled"]
        for d, state in zip(deliveries, states, strict=False):
            d.status = state
            d.held = False
            if state == "failed":
                from scheduler.dispatcher import REASONS

                d.last_error = REASONS["permanent"] + " ((#200) Permissions error)"
            s.add(d)
        # media: an image and a video
        media_dir = tmp_path / "media"
        media_dir.mkdir(parents=True, exist_ok=True)
        png = media_dir / "demo.png"
        png.write_bytes(tiny_png())
        for kind, filename, mime, title, extra in (
            ("image", "demo.png", "image/png", "Ảnh bìa Ngày Chuyển đổi số", {"width": 1080, "height": 1350}),
            ("video", "demo.mp4", "video/mp4", "Video hướng dẫn nộp hồ sơ",
             {"width": 1080, "height": 1920, "duration": 62.651}),
        ):
            s.add(Asset(kind=kind, path=str(png), filename=filename, mime=mime, sha256=kind * 8,
                        size=1_572_864, template="social-portrait" if kind == "image" else None,
                        title=title, tags=["10-10"], campaign_id=campaign.id,
                        created_by=author.id, created_at=utcnow(), **extra))
        # background jobs: a render that failed with a raw database error, one running
        failed = BackgroundJob(
            name="media.render", payload={"template": "social-portrait"}, status="failed",
            error="PendingRollbackError: (sqlite3.IntegrityError) [SQL: INSERT INTO kit_version ...]",
            created_by=author.id, created_at=utcnow(), finished_at=utcnow())
        running = BackgroundJob(name="media.render", payload={"template": "social-portrait"},
                                status="running", progress=0.4, created_by=author.id, created_at=utcnow())
        s.add(failed)
        s.add(running)
        s.flush()
        ids["jobs"] = [failed.id, running.id]
    for plan in (PLAN_FILE, plan_doc()):
        try:
            with app.app_context(), session_scope(app) as s:
                load_plan(s, plan)
        except ValueError:  # a plan the loader refuses is the measure tests' business
            pass
    ids["kit"] = fake_kit(app, ids["campaign"], "tx-vinh-chau", tmp_path)
    _sms(app, ids, users)
    _feedback(app)
    ids["users"] = users
    return ids


def _sms(app, ids: dict, users: dict) -> None:
    """A recipient list imported from a CSV, a wave on the partner account."""
    from campaigns.sms import service as sv
    from core.timeutil import utcnow as now
    from scheduler.models import ChannelAccount
    from scheduler.service import create_delivery
    from tests.fakes.sms_app import csv_bytes

    with app.app_context(), session_scope(app) as s:
        user = s.get(User, users["communicator"].id)
        rl, _report = sv.import_recipient_list(s, io.BytesIO(csv_bytes()), "danh-sach.csv", user,
                                               name="Hộ dân Vĩnh Châu", consent_source="Đăng ký tại xã")
        rl_id = rl.id
        ids["list"] = rl_id
        acc = s.get(ChannelAccount, ids["accounts"]["sms_partner"])
        d = create_delivery(s, account=acc, content={"text": "Mời bà con dùng dịch vụ công trực tuyến.",
                                                     "recipient_list_id": rl_id},
                            scheduled_at=now() - timedelta(minutes=1), campaign_id=ids["campaign"],
                            held=False)
        ids["wave"] = d.id
    try:
        from tests.fakes.sms_app import dispatch_once

        dispatch_once(app)  # expands the wave into per-carrier batches
    except Exception:  # noqa: BLE001 - batches are a bonus for the crawl, not its subject
        pass


def _feedback(app) -> None:
    app.config["LANTOA_FEEDBACK_RATE_LIMIT"] = "1000 per minute"
    client = app.test_client()
    for data in (
        {"service": "ho-tich", "satisfaction": "4", "comment": "Nhanh, tiện", "unit": "xa-lac-hoa"},
        {"service": "khac", "satisfaction": "2", "comment": "Trang web chậm", "unit": "tx-vinh-chau"},
    ):
        client.post("/y-kien", data=data)
