"""Who sees which kit, and what a download records."""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext
from sqlmodel import Session, select

from campaigns.kits.zipsafe import safe_part
from campaigns.models import Campaign, Kit, KitDownload
from core.models import OrgUnit, Role, User, audit
from core.timeutil import utcnow
from core.units import subtree_ids

PROVINCE_WIDE = (Role.admin, Role.communicator, Role.reviewer)
KIT_STATUS_LABELS = {
    "pending": lazy_gettext("Chờ tạo"),
    "building": lazy_gettext("Đang tạo"),
    "ready": lazy_gettext("Sẵn sàng"),
    "failed": lazy_gettext("Lỗi"),
}


def visible_kit_query(session: Session, user: User):
    """Kits the user may see: all for province-wide roles; a unit officer's own
    unit and its subtree; nothing for anyone else."""
    query = select(Kit)
    if user.role in PROVINCE_WIDE:
        return query
    if user.role != Role.unit_officer or user.unit_id is None:
        return query.where(Kit.id == -1)
    return query.where(Kit.unit_id.in_(subtree_ids(session, user.unit_id)))  # type: ignore[attr-defined]


def can_see_kit(session: Session, user: User, kit: Kit) -> bool:
    if user.role in PROVINCE_WIDE:
        return True
    return (
        user.role == Role.unit_officer
        and user.unit_id is not None
        and kit.unit_id in subtree_ids(session, user.unit_id)
    )


def load_visible_kit(session: Session, user: User, kit_id: int) -> Kit | None:
    kit = session.get(Kit, kit_id)
    if kit is None or not can_see_kit(session, user, kit):
        return None
    return kit


def download_name(session: Session, kit: Kit) -> str:
    unit = session.get(OrgUnit, kit.unit_id)
    campaign = session.get(Campaign, kit.campaign_id)
    title = campaign.title if campaign else f"Chiến dịch {kit.campaign_id}"
    return safe_part(
        f"Bộ tài liệu – {unit.name if unit else kit.unit_id} – {title[:80]} – v{kit.version}.zip"
    )


def record_download(session: Session, kit: Kit, user: User, via: str) -> KitDownload:
    row = KitDownload(kit_id=kit.id, user_id=user.id, at=utcnow())
    session.add(row)
    audit(
        session,
        user.id,
        "kit.download",
        "kit",
        kit.id,
        version=kit.version,
        via=via,
        campaign_id=kit.campaign_id,
        unit_id=kit.unit_id,
    )
    return row


def kit_file(kit: Kit) -> Path | None:
    if kit.status != "ready" or not kit.path:
        return None
    path = Path(kit.path)
    return path if path.is_file() else None


#: Rows of the project's permission matrix (tests/test_permissions.py): who may use each route.
#: Object scoping (another unit's kit or broadcast -> 404) is tested in tests/test_kits_access.py.
SCHEDULERS = {"admin", "communicator", "unit_officer"}
ACCESS = {
    ("kits.static", "GET"): "PUBLIC",
    ("kits.index", "GET"): "STAFF",
    ("kits.detail", "GET"): "STAFF",
    ("kits.download", "GET"): "STAFF",
    ("kits.build", "POST"): "WRITE",
    # the kit's own unit officer, communicators, admins (tests/test_khmer_readings.py)
    ("kits.khmer_reading", "POST"): {"admin", "communicator", "unit_officer"},
    ("kits.khmer_reading_audio", "GET"): "STAFF",
    ("kits.broadcasts", "GET"): "STAFF",
    ("kits.confirm", "POST"): "STAFF",
    ("kits.schedules", "GET"): "STAFF",
    ("kits.schedules", "POST"): SCHEDULERS,
    ("kits.script_editor", "GET"): "STAFF",
    ("kits.script_editor", "POST"): "STAFF",
    ("kits.script_preview", "POST"): "STAFF",
    ("kits_api.kits_list", "GET"): "STAFF",
    ("kits_api.kits_get", "GET"): "STAFF",
    ("kits_api.kits_download", "GET"): "STAFF",
    ("kits_api.kits_downloads", "GET"): "STAFF",
    ("kits_api.kits_build", "POST"): "WRITE",
    ("kits_api.broadcasts_list", "GET"): "STAFF",
    ("kits_api.broadcasts_confirm", "POST"): "STAFF",
    ("kits_api.schedules_list", "GET"): "STAFF",
    ("kits_api.schedules_create", "POST"): SCHEDULERS,
    ("kits_api.scripts_preview", "POST"): "STAFF",
}
