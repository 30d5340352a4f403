"""Test data for the kits tests: a small campaign, ready-made kit rows, broadcasts."""

from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlmodel import select

from core.db import session_scope
from core.models import OrgUnit
from core.timeutil import utcnow


def unit_id(session, code: str) -> int:
    return session.exec(select(OrgUnit.id).where(OrgUnit.code == code)).one()


def make_campaign(
    app,
    *,
    scope=("xa-lac-hoa",),
    status="approved",
    scripts=None,
    prints=None,
    starts_on: date | None = None,
    days: int = 14,
) -> int:
    """A campaign with print and loudspeaker content items; returns its id."""
    from campaigns.models import Campaign, CampaignUnit, ContentItem
    from tests.helpers import seed_units

    seed_units(app)
    starts_on = starts_on or (date.today() - timedelta(days=2))
    scripts = (
        scripts
        if scripts is not None
        else [
            {
                "title": "Bản tin loa: Hưởng ứng Ngày Chuyển đổi số",
                "body": "Từ ngày 10/10/2025, bà con có thể nộp hồ sơ TTHC trực tuyến qua DVCTT, không phải xếp hàng.",
                "variants": {
                    "script": {"call_to_action": "Bà con hãy kích hoạt tài khoản VNeID mức 2."}
                },
            }
        ]
    )
    prints = (
        prints
        if prints is not None
        else [
            {
                "title": "Áp phích: Dịch vụ công trực tuyến – nhanh, tiện, minh bạch",
                "template": "poster_a3",
                "body": "Quét mã QR để vào Cổng Dịch vụ công, nộp hồ sơ mọi lúc, mọi nơi.",
            },
            {
                "title": "Tờ rơi A5: Các bước sử dụng dịch vụ công trực tuyến",
                "template": "leaflet_a5",
                "body": "Bước 1: Đăng nhập bằng VNeID. Bước 2: Tìm thủ tục. Bước 3: Nộp hồ sơ và theo dõi kết quả.",
            },
        ]
    )
    with app.app_context(), session_scope(app) as s:
        c = Campaign(
            title="Ngày Chuyển đổi số quốc gia 10/10",
            description="Mô tả chiến dịch.",
            starts_on=starts_on,
            ends_on=starts_on + timedelta(days=days),
            status=status,
            target_url="https://dichvucong.gov.vn",
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        s.add(c)
        s.flush()
        for code in scope:
            s.add(CampaignUnit(campaign_id=c.id, unit_id=unit_id(s, code)))
        for n, item in enumerate(scripts):
            s.add(
                ContentItem(
                    campaign_id=c.id,
                    channel="loudspeaker",
                    language=item.get("language", "vi"),
                    title=item["title"],
                    body=item["body"],
                    variants=item.get("variants", {}),
                    planned_at=datetime.combine(starts_on, time(6, 0), tzinfo=UTC)
                    + timedelta(days=n),
                )
            )
        for item in prints:
            s.add(
                ContentItem(
                    campaign_id=c.id,
                    channel="print",
                    title=item["title"],
                    body=item["body"],
                    template=item.get("template"),
                )
            )
        return c.id


def fake_kit(app, campaign_id: int, code: str, tmp: Path) -> int:
    """A ready kit row with a tiny real ZIP (for access tests that need no rendering)."""
    from campaigns.models import Kit

    path = tmp / f"kit-{campaign_id}-{code}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("README.txt", f"Bộ tài liệu {code}")
    with app.app_context(), session_scope(app) as s:
        kit = Kit(
            campaign_id=campaign_id,
            unit_id=unit_id(s, code),
            status="ready",
            path=str(path),
            sha256="0" * 64,
            size=path.stat().st_size,
            version=1,
            built_at=utcnow(),
            contents=[{"name": "README.txt", "kind": "readme", "size": 10}],
        )
        s.add(kit)
        s.flush()
        return kit.id


def make_broadcast(
    app,
    campaign_id: int,
    code: str,
    *,
    hours_from_now: float = -2,
    status: str = "scheduled",
    title: str = "Bản tin sáng",
) -> int:
    """A loudspeaker delivery (one broadcast slot) for unit ``code``."""
    from campaigns.kits.broadcasts import loudspeaker_account
    from scheduler.service import create_delivery

    with app.app_context(), session_scope(app) as s:
        unit = s.get(OrgUnit, unit_id(s, code))
        account = loudspeaker_account(s, unit)
        at = utcnow() + timedelta(hours=hours_from_now)
        d = create_delivery(
            s,
            account=account,
            content={"text": "Kính thưa bà con...", "title": title, "options": {"unit_code": code}},
            scheduled_at=at,
            campaign_id=campaign_id,
            held=False,
            unit_id=unit.id,
        )
        if status != "scheduled":
            d.status = status
            s.add(d)
        return d.id
