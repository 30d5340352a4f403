"""Kit building: for each approved campaign and each unit it covers, one ZIP.

Which units get a kit (:func:`kit_units`): every district and commune in the
campaign's scope, including the communes and districts under any scope unit
(a province in scope means every district and commune); departments and
press units get one only when they are named in the scope themselves. The
province itself gets none (its communicators have the originals).

A kit holds (names in Vietnamese, NFC, safe for Windows):
``README.txt``; ``1. Ấn phẩm in/`` posters A3/A4, A5 leaflet and standee as
print PDFs with the unit's name and a QR code to
``PUBLIC_BASE_URL/r/<campaign_id>/<unit_code>``; ``2. Truyền thanh/`` each
loudspeaker script as DOCX, PDF, TXT, WAV and MP3; and
``3. Lịch phát thanh.xlsx``. Problems that should not stop a kit (a unit
without an address, a product that failed to render, Khmer text without a
voice) become ``Kit.warnings`` and are listed in the README.

A kit is rebuilt only when its inputs changed (``input_digest``); each build
is a new version (``Kit.version``, one ``KitVersion`` row, one file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from campaigns import khmer
from campaigns.kits import broadcasts as bc
from campaigns.kits import readings
from campaigns.kits.models import KitVersion
from campaigns.kits.scripts import ScriptSettings, render_for_unit
from campaigns.kits.zipsafe import safe_part, write_zip
from campaigns.models import Campaign, ContentItem, Kit
from core.config import LOOPBACK_BASE_URL, is_public_url
from core.models import OrgUnit, audit
from core.tabular import append_row
from core.timeutil import LOCAL_TZ, fmt_date, to_local, utcnow
from core.units import subtree_ids

log = logging.getLogger(__name__)
logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting is chatty at INFO

BUILDER_VERSION = "2"  # 2: print headline/message/points, rotating schedule
KIT_KINDS = ("district", "commune", "ward", "special_zone")
EXPLICIT_KINDS = ("district", "commune", "ward", "special_zone", "department", "press")
PRINT_DIR = "1. Ấn phẩm in"
RADIO_DIR = "2. Truyền thanh"
SCHEDULE_NAME = "3. Lịch phát thanh.xlsx"

#: print products every kit carries: (media template name prefix, label, field used to pick content)
PRINT_PRODUCTS = (
    ("poster-a3", "Áp phích A3", "poster"),
    ("poster-a4", "Áp phích A4", "poster"),
    ("leaflet-a5", "Tờ rơi A5", "leaflet"),
    ("standee", "Standee", "standee"),
)


@dataclass(frozen=True)
class KitConfig:
    media_dir: Path
    base_url: str
    script: ScriptSettings = field(default_factory=ScriptSettings)
    include_wav: bool = True
    mp3_kbps: int = 64
    tts_engine: str | None = None
    #: how many version files of a kit stay on disk (rows stay for the history)
    keep_versions: int = 3
    #: render what every unit shares once per run and compose each unit's files from it
    #: (``compose.py``); False renders every file of every unit from scratch
    compose: bool = True
    #: False when ``base_url`` is not reachable by the public (unset: the loopback
    #: default): the kit still builds, with a warning first in its list (set from base_url)
    public_url_ok: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url_ok", is_public_url(self.base_url))

    @classmethod
    def from_app(cls, app) -> KitConfig:
        conf = app.config
        wav = str(conf.get("LANTOA_KIT_WAV", "1")).lower() not in ("0", "false", "no")
        return cls(
            media_dir=Path(conf.get("LANTOA_MEDIA_DIR") or Path(app.instance_path) / "media"),
            base_url=str(
                conf.get("LANTOA_PUBLIC_BASE_URL")
                or conf.get("PUBLIC_BASE_URL")
                or LOOPBACK_BASE_URL
            ),
            script=ScriptSettings.from_config(conf),
            include_wav=wav,
            tts_engine=conf.get("LANTOA_TTS_ENGINE") or None,
            keep_versions=max(1, int(conf.get("LANTOA_KIT_KEEP_VERSIONS") or 3)),
        )


class KitBuildError(RuntimeError):
    pass


def public_url_warning(base_url: str) -> str:
    """The kit warning when the QR codes point to an address the public cannot reach."""
    return (
        "Chưa đặt địa chỉ công khai của hệ thống: mã QR trên ấn phẩm đang trỏ tới "
        f"{base_url.rstrip('/')}, người dân quét sẽ không mở được. Chưa in ấn phẩm; "
        "tạo lại bộ tài liệu sau khi quản trị viên đặt địa chỉ công khai."
    )


# -- which units -----------------------------------------------------------------------


def kit_units(session: Session, campaign_id: int, day=None) -> list[OrgUnit]:
    """The units that get a kit for this campaign (see the module docstring), as they
    are on ``day`` (default: today, or the campaign's last day if it is over)."""
    from campaigns.service import campaign_scope_ids

    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    campaign = session.get(Campaign, campaign_id)
    # units that exist on the day the kit is for: today, or the campaign's last day
    if day is None:
        today = utcnow().astimezone(LOCAL_TZ).date()
        day = min(today, campaign.ends_on) if campaign is not None else today
    chosen: set[int] = set()
    for uid in campaign_scope_ids(session, campaign_id):  # with successors after a reorganisation
        unit = units.get(uid)
        if unit is None:
            continue
        if unit.kind in EXPLICIT_KINDS:
            chosen.add(uid)
        chosen |= {d for d in subtree_ids(session, uid, history=False) if units[d].kind in KIT_KINDS}
    order = {"district": 0, "commune": 1, "ward": 1, "special_zone": 1, "department": 2, "press": 3}
    return sorted((units[i] for i in chosen if units[i].valid_on(day)),
                  key=lambda u: (order.get(u.kind, 9), u.code))


def tracked_link(base_url: str, campaign_id: int, unit_code: str) -> str:
    return f"{base_url.rstrip('/')}/r/{campaign_id}/{unit_code}"


# -- inputs ----------------------------------------------------------------------------


def campaign_items(session: Session, campaign_id: int, channel: str) -> list[ContentItem]:
    return list(
        session.exec(
            select(ContentItem)
            .where(ContentItem.campaign_id == campaign_id, ContentItem.channel == channel)
            .order_by(ContentItem.planned_at, ContentItem.id)
        ).all()
    )


def _print_templates() -> dict[str, str]:
    """product prefix -> available media template name (print, with PDF)."""
    from media_templates import get_template, list_templates

    out: dict[str, str] = {}
    for info in list_templates():
        if "pdf" not in info.formats or get_template(info.name).kind != "print":
            continue
        for prefix, _label, _kind in PRINT_PRODUCTS:
            if info.name.startswith(prefix) and prefix not in out:
                out[prefix] = info.name
    return out


def _template_state(extra_dirs: tuple[str, ...] = ()) -> list:
    """Names and newest file times of the media and script templates (a template edit rebuilds kits)."""
    from media_templates import templates_dir
    from media_templates.scripts import TEMPLATES_DIR as SCRIPT_TEMPLATES

    state = []
    for base in (Path(templates_dir()), Path(SCRIPT_TEMPLATES), *(Path(d) for d in extra_dirs)):
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            mtime = max((f.stat().st_mtime for f in folder.rglob("*") if f.is_file()), default=0)
            state.append([str(base), folder.name, mtime])
    return state


def input_digest(
    session: Session,
    campaign: Campaign,
    unit: OrgUnit,
    config: KitConfig,
    template_state: list | None = None,
) -> str:
    items = session.exec(
        select(ContentItem)
        .where(
            ContentItem.campaign_id == campaign.id,
            ContentItem.channel.in_(("print", "loudspeaker")),
        )  # type: ignore[attr-defined]
        .order_by(ContentItem.id)
    ).all()
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    rules = bc.unit_rules(session, campaign.id, unit.id)
    payload = {
        "v": BUILDER_VERSION,
        "campaign": [
            campaign.id,
            campaign.title,
            campaign.description,
            str(campaign.starts_on),
            str(campaign.ends_on),
            campaign.target_url,
        ],
        "unit": [
            unit.code,
            unit.name,
            unit.kind,
            unit.address,
            unit.phone,
            unit.office_hours,
            unit.portal_url,
            unit.brand,
        ],
        "parent": [parent.name, parent.phone, parent.office_hours, parent.portal_url]
        if parent
        else None,
        "items": [
            [
                i.id,
                i.channel,
                i.title,
                i.body,
                i.language,
                i.template,
                i.variants,
                str(i.planned_at),
            ]
            for i in items
        ],
        "rules": [
            [
                r.id,
                r.weekdays,
                r.times,
                r.starts_on,
                r.ends_on,
                (r.content or {}).get("content_item_id"),
            ]
            for r in rules
        ],
        "config": [
            config.base_url,
            config.script.syllables_per_minute,
            config.script.max_segment_seconds,
            config.script.max_total_seconds,
            config.script.voice,
            config.include_wav,
            config.mp3_kbps,
            config.tts_engine,
        ],
        "templates": template_state
        if template_state is not None
        else _template_state(config.script.template_dirs),
        "khmer": readings.digest_part(session, campaign.id, unit),  # uses_khmer, readings' sha256
    }
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# -- print products ----------------------------------------------------------------------


def _cut(text: str, limit: int | None) -> str:
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text or "")).strip()
    if not limit or len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:–-") + "…"


def _points(text: str) -> list[str]:
    """Split a body into short points: 'Bước 1: …' steps, else sentences."""
    text = unicodedata.normalize("NFC", text or "")
    steps = [s.strip(" .;") for s in re.split(r"(?=Bước\s+\d+\s*:)", text) if s.strip(" .;")]
    if len(steps) > 1:
        return steps
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+", text) if s.strip()]


def _sentence(text: str) -> str:
    """A clause as a printed sentence: no trailing ';', a capital first letter, a full stop."""
    text = re.sub(r"\s+", " ", text).strip(" ;,–-")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


def _message_and_points(body: str) -> tuple[str, list[str]]:
    """Split a print item's body into its message and its points (steps or benefits).

    ``"Lead. Bước 1: … Bước 2: …"`` gives ("Lead.", steps); three or more
    sentences give (first sentence, the others); a shorter body is all
    message, with no points of its own (the caller takes the campaign's steps).
    """
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", body or "")).strip()
    first_step = re.search(r"Bước\s+1\s*:", text)
    if first_step:
        steps = _points(text[first_step.start() :])
        if len(steps) > 1:
            return _sentence(text[: first_step.start()]), steps
    sentences = [s.strip() for s in re.split(r"(?<=[.!?;])\s+", text) if s.strip()]
    if len(sentences) >= 3:
        return _sentence(sentences[0]), [s.strip(" .;") for s in sentences[1:]]
    return text, []


def campaign_steps(items: list[ContentItem]) -> list[str]:
    """The campaign's own 'Bước 1: …' steps (from the first print item that has them),
    else the generic steps of an online public service."""
    for item in items:
        _msg, points = _message_and_points(item.body)
        if len(points) >= 2 and re.match(r"Bước\s+\d", points[0]):
            return points
    return list(DEFAULT_STEPS)


#: words that mark an item title as the product's internal name ("Standee tại bộ phận
#: một cửa", "Áp phích: …"), never a headline for the public
_PRODUCT_WORDS = r"(Áp phích|Tờ rơi|Standee|Poster|Pa[- ]?nô|Băng rôn|Banner|Ấn phẩm)"


def headline(item: ContentItem | None, campaign: Campaign) -> tuple[str, bool]:
    """The public headline of a print product, and whether it was taken from the body.

    An explicit ``variants["print"]["headline"]`` wins; "Áp phích: <headline>" gives
    the part after the product name; a title that only names the product and where it
    goes ("Standee tại bộ phận một cửa") is never printed: the first clause of the
    body is the headline (or, for a long clause, the campaign's title).
    """
    if item is None:
        return campaign.title, False
    variants = item.variants or {}
    explicit = (variants.get("print") or {}).get("headline") or variants.get("headline")
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip(), False
    title = unicodedata.normalize("NFC", item.title or "").strip()
    rest = re.sub(rf"^{_PRODUCT_WORDS}(\s+A\d)?(\s+song ngữ(\s+Việt\s*[–-]\s*Khmer)?)?\s*[:–-]\s*", "",
                  title, flags=re.I)
    if rest != title and rest:
        return rest, False
    if not re.match(_PRODUCT_WORDS, title, flags=re.I):
        return title, False
    clause = re.split(
        r"[.;!?:]\s", unicodedata.normalize("NFC", item.body or "") + " ", maxsplit=1
    )[0]
    clause = clause.strip(" .;,")
    if 2 <= len(clause.split()) <= 12:
        return clause[0].upper() + clause[1:], True
    return campaign.title, False


DEFAULT_STEPS = [
    "Đăng nhập Cổng dịch vụ công bằng tài khoản VNeID",
    "Chọn thủ tục và điền thông tin",
    "Nộp hồ sơ, theo dõi và nhận kết quả trực tuyến",
]


def print_data(
    tpl,
    item: ContentItem | None,
    campaign: Campaign,
    unit: OrgUnit,
    link: str,
    hotline: str | None,
    steps: list[str] | None = None,
) -> dict:
    """Fill any print template's fields from the content item, campaign and unit.

    The headline is public-facing (:func:`headline`); the body/intro is the
    item's message; the list (bullets, steps) holds 3–5 points -- the item's own
    steps or benefits, else the campaign's steps (``steps``) -- and never repeats
    the message.
    """
    title, from_body = headline(item, campaign)
    if item is None:
        message, points = _message_and_points(campaign.description)
    else:
        message, points = _message_and_points(item.body)
        if from_body:  # the first clause became the headline: the message is the rest
            rest = re.split(r"[.;!?:]\s", message + " ", maxsplit=1)
            message = _sentence(rest[1]) if len(rest) > 1 and rest[1].strip() else ""
    if len(points) < 3:
        points = points + [p for p in (steps or DEFAULT_STEPS) if p not in points]
    points = [p for p in points if _cut(p, None).rstrip(".") != _cut(message, None).rstrip(".")]
    data: dict = {}
    for f in tpl.fields:
        name, kind, limit = f["name"], f["type"], f.get("max_length")
        extras = tpl.field_extras.get(name, {}) if hasattr(tpl, "field_extras") else {}
        if kind == "url":
            data[name] = link
        elif name == "title":
            data[name] = _cut(title, limit)
        elif kind == "list":
            chosen = [_cut(p, limit) for p in points][: int(extras.get("max_items", 5))]
            if len(chosen) < int(extras.get("min_items", 0)) or (f.get("required") and not chosen):
                chosen = DEFAULT_STEPS[: max(int(extras.get("min_items", 0)), len(DEFAULT_STEPS))]
            if chosen:
                data[name] = chosen
        elif name in ("body", "intro"):
            if message:
                data[name] = _cut(message, limit)
        elif name == "hotline" and hotline:
            data[name] = _cut(hotline, limit)
        elif name == "address" and unit.address:
            data[name] = _cut(unit.address, limit)
        elif name in ("unit_name", "unit"):
            data[name] = _cut(unit.name, limit)
    if any(f["name"].endswith("_km") for f in tpl.fields):  # a bilingual template
        from campaigns.khmer import khmer_fields

        data.update(khmer_fields(tpl, item))
    return data


def _pick_item(items: list[ContentItem], kind: str) -> ContentItem | None:
    for item in items:
        tpl = (item.template or "").replace("_", "-")
        if tpl.startswith(kind):
            return item
    return items[0] if items else None


# -- the build ---------------------------------------------------------------------------


@dataclass
class _Entry:
    name: str
    source: Path | bytes
    kind: str
    label: str


def _readme(
    campaign: Campaign,
    unit: OrgUnit,
    link: str,
    entries: list[_Entry],
    warnings: list[str],
    version: int,
    schedule_note: str,
) -> bytes:
    lines = [
        f"BỘ TÀI LIỆU TRUYỀN THÔNG – {unit.name.upper()}",
        f"Chiến dịch: {campaign.title}",
        f"Thời gian: {fmt_date(campaign.starts_on)} – {fmt_date(campaign.ends_on)}",
        f"Phiên bản bộ tài liệu: {version} (tạo ngày {fmt_date(utcnow())})",
        "",
        "TRONG BỘ TÀI LIỆU CÓ GÌ",
    ]
    for e in entries:
        lines.append(f"- {e.name}: {e.label}")
    lines += [
        "",
        "CẦN LÀM GÌ",
        "1. In áp phích A3/A4, tờ rơi A5 và standee (thư mục “1. Ấn phẩm in”, tệp PDF đã có lề "
        "tràn và dấu cắt) rồi dán, đặt tại Bộ phận Một cửa, nhà văn hóa ấp, nơi đông người.",
        f"2. Mã QR trên ấn phẩm dẫn tới {link} – đơn vị không cần sửa; số lượt quét được "
        "tính cho đơn vị mình.",
        "3. Phát các bản tin trong thư mục “2. Truyền thanh” trên loa truyền thanh cơ sở: "
        "phát thanh viên đọc theo tệp DOCX/PDF (có bản đọc sẵn cho số, ngày, từ viết tắt) "
        "hoặc phát tệp âm thanh MP3/WAV.",
        f"4. Phát theo “{SCHEDULE_NAME}”. {schedule_note}",
        "5. Sau mỗi buổi phát, bấm “Xác nhận đã phát” trên trang Lan Tỏa (mục Lịch phát thanh) "
        "hoặc gọi API POST /api/v1/broadcasts/<mã buổi phát>/confirm.",
        "6. Tệp DOCX có thể sửa cho phù hợp địa phương; giữ nguyên thông điệp chính.",
    ]
    if warnings:
        lines += ["", "LƯU Ý"] + [f"- {w}" for w in warnings]
    lines += [
        "",
        "Bộ tài liệu do hệ thống Lan Tỏa tạo tự động. Âm thanh được tổng hợp bằng "
        "eSpeak NG (giọng máy); có thể thu âm lại bằng giọng phát thanh viên.",
    ]
    text = "\r\n".join(unicodedata.normalize("NFC", ln) for ln in lines) + "\r\n"
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def _schedule_xlsx(
    session: Session, campaign: Campaign, unit: OrgUnit, scripts: list[tuple[ContentItem, str]]
) -> tuple[bytes, str, bool]:
    """The broadcast schedule workbook.

    Returns (bytes, note for the README, {local slot time: content item id}): a slot
    whose rule names a bulletin gets it; every other slot takes the campaign's
    bulletins in turn, so all of them are broadcast.
    """
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    rules = bc.unit_rules(session, campaign.id, unit.id)
    account = session.exec(
        select(bc.ChannelAccount).where(
            bc.ChannelAccount.channel == bc.CHANNEL, bc.ChannelAccount.unit_id == unit.id
        )
    ).first()
    deliveries = {}
    if account is not None:
        for d in session.exec(
            select(bc.Delivery).where(
                bc.Delivery.channel_account_id == account.id, bc.Delivery.campaign_id == campaign.id
            )
        ).all():
            if d.scheduled_at is not None:
                deliveries[to_local(d.scheduled_at).replace(second=0, microsecond=0)] = d
    titles = {item.id: item.title for item, _ in scripts}
    # (slot, content item id fixed by the rule or None, kind of schedule)
    planned: list[tuple[datetime, int | None, str]] = []
    if rules:
        for r in rules:
            start = max(datetime.fromisoformat(r.starts_on).date(), campaign.starts_on)
            end = min(datetime.fromisoformat(r.ends_on).date(), campaign.ends_on)
            fixed = (r.content or {}).get("content_item_id")
            for s in bc.expand_slots(r.weekdays, r.times, start, end):
                planned.append((s, fixed if fixed in titles else None, "Theo lịch"))
        note = "Lịch gồm: " + "; ".join(bc.slot_label(r.weekdays, r.times) for r in rules) + "."
    else:
        for s in bc.expand_slots(
            bc.DEFAULT_WEEKDAYS, bc.DEFAULT_TIMES, campaign.starts_on, campaign.ends_on
        ):
            planned.append((s, None, "Đề xuất"))
        note = (
            "Đơn vị chưa đăng ký lịch phát; bảng là lịch đề xuất "
            f"({bc.slot_label(bc.DEFAULT_WEEKDAYS, bc.DEFAULT_TIMES)})."
        )
    planned.sort(key=lambda s: s[0])
    # Slots without a bulletin of their own take the campaign's bulletins in turn.
    order = [item.id for item, _ in scripts]
    rotation: dict[datetime, int] = {}
    slots: list[tuple[datetime, str, str]] = []
    turn = 0
    for slot, fixed, kind in planned:
        item_id = fixed
        if item_id is None and order:
            item_id = order[turn % len(order)]
            turn += 1
        if item_id is not None:
            rotation[slot] = item_id
        slots.append((slot, titles[item_id] if item_id is not None else campaign.title, kind))
    if len(order) > 1:
        note += f" Các buổi phát lần lượt dùng {len(order)} bản tin của chiến dịch."

    wb = Workbook()
    ws = wb.active
    ws.title = "Lịch phát thanh"
    append_row(ws, [f"LỊCH PHÁT THANH – {unit.name}"])
    append_row(
        ws,
        [
            f"Chiến dịch: {campaign.title} ({fmt_date(campaign.starts_on)} – {fmt_date(campaign.ends_on)})"
        ]
    )
    ws.append([])
    header = ["STT", "Thứ", "Ngày", "Giờ", "Bản tin", "Loại lịch", "Tình trạng", "Xác nhận lúc"]
    append_row(ws, header)
    ws["A1"].font = Font(bold=True, size=14)
    for cell in ws[4]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="0B5CAB")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    now = utcnow()
    for n, (slot, title, kind) in enumerate(slots, start=1):
        d = deliveries.get(slot)
        state = (
            bc.STATE_LABELS[bc.broadcast_state(d, now)]
            if d is not None
            else ("Sắp phát" if slot > now else "Chưa xác nhận")
        )
        confirmed = (
            to_local(d.confirmed_at).strftime("%d/%m/%Y %H:%M")
            if d is not None and d.confirmed_at
            else ""
        )
        append_row(
            ws,
            [
                n,
                bc.WEEKDAY_LABELS[slot.isoweekday()],
                slot.strftime("%d/%m/%Y"),
                slot.strftime("%H:%M"),
                title,
                kind,
                state,
                confirmed,
            ]
        )
    for col, width in zip("ABCDEFGH", (6, 11, 12, 8, 50, 11, 17, 17), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A5"
    ws.print_title_rows = "4:4"
    info = wb.create_sheet("Hướng dẫn")
    for line in (
        "Cột “Tình trạng”: Sắp phát / Chưa xác nhận / Đã xác nhận phát.",
        "Sau mỗi buổi phát, cán bộ xã bấm “Xác nhận đã phát” trên Lan Tỏa.",
        note,
    ):
        append_row(info, [line])
    info.column_dimensions["A"].width = 100
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), note, rotation


def _file_stem(label: str, unit_name: str) -> str:
    return safe_part(f"{label} – {unit_name}")


def _script_stem(n: int, title: str) -> str:
    title = re.sub(r"^Bản tin( loa)?\s*:\s*", "", title, flags=re.I).replace(": ", " – ")
    return safe_part(f"{n:02d}. {title}")


_CAMPAIGN_FIELDS = ("id", "title", "description", "starts_on", "ends_on", "target_url")
_UNIT_FIELDS = (
    "id",
    "code",
    "name",
    "kind",
    "address",
    "phone",
    "office_hours",
    "portal_url",
    "brand",
    "uses_khmer",
)
_ITEM_FIELDS = (
    "id",
    "campaign_id",
    "title",
    "body",
    "language",
    "channel",
    "template",
    "variants",
    "planned_at",
)


def _plain(obj, fields) -> dict:
    return {f: getattr(obj, f) for f in fields}


def _previous_files(session: Session, campaign: Campaign, unit: OrgUnit) -> dict | None:
    """The kit's current file and its entries' input hashes (files whose inputs did not
    change are taken from it, ``compose.Reuse``), or None."""
    kit = session.exec(
        select(Kit).where(Kit.campaign_id == campaign.id, Kit.unit_id == unit.id)
    ).first()
    if kit is None or not kit.path or not kit.contents:
        return None
    return {"path": kit.path, "contents": list(kit.contents)}


def unit_spec(
    session: Session, campaign: Campaign, unit: OrgUnit, config: KitConfig, *, reuse: bool = True
) -> dict:
    """Everything ``produce_files`` needs, as plain data (it runs without a database).
    ``reuse=False`` (a forced build) renders every file, none taken from the last version."""
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    return {
        "campaign": _plain(campaign, _CAMPAIGN_FIELDS),
        "unit": _plain(unit, _UNIT_FIELDS),
        "parent": _plain(parent, _UNIT_FIELDS) if parent else None,
        "print_items": [
            _plain(i, _ITEM_FIELDS) for i in campaign_items(session, campaign.id, "print")
        ],
        "script_items": [
            _plain(i, _ITEM_FIELDS) for i in campaign_items(session, campaign.id, "loudspeaker")
        ],
        "link": tracked_link(config.base_url, campaign.id, unit.code),
        "khmer_readings": readings.kit_spec(session, campaign.id, unit),
        "config": config,
        "previous": _previous_files(session, campaign, unit) if reuse else None,
        "work": str(
            Path(tempfile.mkdtemp(prefix="kit-", dir=_ensure(config.media_dir / "kits" / "tmp")))
        ),
    }


def produce_files(spec: dict) -> dict:
    """Render a unit's print PDFs and scripts (DOCX/PDF/TXT/MP3/WAV) into ``spec["work"]``.

    Pure (no database), so kits build side by side in worker processes.
    Returns {"entries": [(name, path, kind, label)], "scripts": [(item_id, title)],
    "warnings": [...]} -- file names are relative to the archive.
    """
    from campaigns.kits import compose
    from media_templates import TemplateError, get_template
    from media_templates.scripts import (
        ScriptError,
        script_to_pdf,
        script_to_txt,
    )
    from media_templates.speech import SpeechError

    config: KitConfig = spec["config"]
    stats0 = dict(compose.STATS)  # this unit's share of the run's figures (see "stats")
    reuse = compose.Reuse(spec.get("previous"), shared=config.compose)
    campaign = Campaign(**spec["campaign"])
    unit = OrgUnit(**spec["unit"])
    parent = OrgUnit(**spec["parent"]) if spec["parent"] else None
    work = Path(spec["work"])
    link = spec["link"]
    warnings: list[str] = []
    entries: list[tuple[str, str, str, str]] = []

    def put(name: str, data: bytes) -> str:
        path = work / f"f{len(entries):03d}"
        path.write_bytes(data)
        return str(path)

    if not config.public_url_ok:
        warnings.append(public_url_warning(config.base_url))
    if not (unit.address or "").strip():
        warnings.append(
            f"{unit.name} chưa có địa chỉ Bộ phận Một cửa: kịch bản và tờ rơi bỏ qua địa chỉ. "
            "Đề nghị cập nhật địa chỉ đơn vị."
        )
    hotline = unit.phone or (parent.phone if parent else None)
    templates = _print_templates()
    print_items = [ContentItem(**i) for i in spec["print_items"]]
    brand = {**(unit.brand or {}), "unit_name": unit.name}
    if brand.get("logo_path") and not Path(brand["logo_path"]).is_file():
        brand.pop("logo_path")
    # Khmer-only items (campaigns/khmer.py) go only into the kits of units that use Khmer,
    # as bilingual twins of the products
    regular = khmer.regular_items(print_items)
    steps = campaign_steps(regular)
    products: list[tuple[str, ContentItem | None, str, str]] = []
    for prefix, label, kind in PRINT_PRODUCTS:
        name = templates.get(prefix)
        if name is None:
            warnings.append(
                f"Chưa có mẫu {label} trong hệ thống: bộ tài liệu không có {label.lower()}."
            )
            continue
        products.append((name, _pick_item(regular, kind), label, link))
    khmer_link = link + ("&" if "?" in link else "?") + "lang=km"  # the landing remembers Khmer
    for twin, item, label in khmer.bilingual_products(unit, print_items, PRINT_PRODUCTS, templates):
        products.append((twin, item, label, khmer_link))
    for n, (name, item, label, product_link) in enumerate(products):
        try:
            tpl = get_template(name)
            out = work / f"print-{n}.pdf"
            data = print_data(tpl, item, campaign, unit, product_link, hotline, steps=steps)
            entry = f"{PRINT_DIR}/{_file_stem(label, unit.name)}.pdf"
            if not reuse.take(entry, compose.print_key(tpl, data, brand), out):
                compose.print_pdf(tpl, data, brand, out, compose=config.compose)
            entries.append(
                (
                    entry,
                    str(out),
                    "print",
                    f"{label} để in (PDF, có mã QR của đơn vị)",
                )
            )
        except TemplateError as exc:
            warnings.append(f"Không tạo được {label}: {getattr(exc, 'message', str(exc))}")

    scripts: list[tuple[int, str]] = []
    items = [ContentItem(**i) for i in spec["script_items"]]
    for n, item in enumerate(items, start=1):
        try:
            script = render_for_unit(campaign, unit, item, config.script, parent=parent)
        except ScriptError as exc:
            warnings.append(f"Bản tin “{item.title}”: {exc.message}")
            continue
        script_info = {
            "id": item.id,
            "title": item.title,
            "text": script.text,
            "mp3": None,
            "seconds": script.estimated_seconds,
        }
        scripts.append(script_info)
        when = to_local(item.planned_at) if item.planned_at else None
        meta = {
            "unit_name": unit.name,
            "campaign_title": campaign.title,
            "title": item.title,
            "date": when.date() if when else campaign.starts_on,
        }
        base = f"{RADIO_DIR}/{_script_stem(n, item.title)}"
        skey = compose.script_key(script, meta)
        entries.append(
            (
                f"{base}.docx",
                put("docx", reuse.get(f"{base}.docx", skey) or compose.script_docx(script, meta)),
                "script",
                "kịch bản để sửa và in (Word)",
            )
        )
        entries.append(
            (
                f"{base}.pdf",
                put("pdf", reuse.get(f"{base}.pdf", skey) or script_to_pdf(script, meta)),
                "script",
                "kịch bản (PDF)",
            )
        )
        entries.append(
            (
                f"{base}.txt",
                put("txt", reuse.get(f"{base}.txt", skey) or script_to_txt(script, meta)),
                "script",
                "kịch bản (văn bản thuần)",
            )
        )
        for w in script.warnings:
            if "(office_address)" in w and not (unit.address or "").strip():
                continue  # already said once for the whole kit
            text = f"Bản tin “{item.title}”: {w}"
            if text not in warnings:
                warnings.append(text)
        if readings.handles(script):  # a Khmer part: the announcer's reading (readings.py)
            readings.add_audio(spec, item, script, script_info, base, entries, warnings, config, reuse)
            continue
        try:
            audio = compose.kit_audio(script, config, reuse, base)
        except SpeechError as exc:
            warnings.append(f"Bản tin “{item.title}” không có tệp âm thanh: {exc.message}")
        else:
            mp3_path = put("mp3", audio["mp3"])
            script_info["mp3"] = mp3_path
            entries.append((f"{base}.mp3", mp3_path, "audio", "âm thanh để phát (MP3)"))
            if config.include_wav:
                entries.append(
                    (
                        f"{base}.wav",
                        put("wav", audio["wav"]),
                        "audio",
                        "âm thanh chất lượng gốc (WAV)",
                    )
                )
    if not items:
        warnings.append("Chiến dịch chưa có bản tin loa truyền thanh.")
    reuse.close()
    return {
        "entries": entries,
        "scripts": scripts,
        "warnings": warnings,
        "inputs": reuse.inputs,
        "files": reuse.counts(),
        # what this unit added to compose.STATS: a worker process's figures are its own,
        # the run adds them up (compose.add_stats)
        "stats": {k: v - stats0.get(k, 0) for k, v in compose.STATS.items()},
    }


def _kit_row(session: Session, campaign: Campaign, unit: OrgUnit) -> Kit:
    query = select(Kit).where(Kit.campaign_id == campaign.id, Kit.unit_id == unit.id)
    kit = session.exec(query).first()
    if kit is None:
        try:
            with session.begin_nested():  # another build may create the same row meanwhile
                kit = Kit(campaign_id=campaign.id, unit_id=unit.id, status="pending", version=0)
                session.add(kit)
        except IntegrityError:
            kit = session.exec(query).one()
    return kit


def _is_current(session: Session, kit: Kit, digest: str) -> bool:
    if kit.status != "ready" or not kit.path or not Path(kit.path).is_file():
        return False
    last = session.exec(
        select(KitVersion).where(KitVersion.kit_id == kit.id).order_by(KitVersion.version.desc())
    ).first()  # type: ignore[attr-defined]
    return last is not None and last.input_digest == digest


#: what a kit that failed to build says on its page (the exception goes to the log only)
FAILED_WARNING = (
    "Lần tạo bộ tài liệu gần nhất bị lỗi; lỗi đã được ghi vào nhật ký hệ thống. "
    "Vui lòng bấm “Tạo / cập nhật bộ tài liệu” để thử lại hoặc báo quản trị viên."
)
#: attempts to record a version when other builds of the same kit record theirs meanwhile
VERSION_ATTEMPTS = 3


def _next_version(session: Session, kit: Kit) -> int:
    """The next version number, read from the database (not from this session's copy of
    the kit, which another build of the same kit may have outdated); on PostgreSQL the
    kit row stays locked until this build commits, so concurrent builds take turns."""
    session.refresh(kit, with_for_update=session.get_bind().dialect.name == "postgresql")
    last = session.exec(
        select(func.max(KitVersion.version)).where(KitVersion.kit_id == kit.id)
    ).one()
    return max(kit.version or 0, last or 0) + 1


def _finish(
    session: Session,
    campaign: Campaign,
    unit: OrgUnit,
    kit: Kit,
    config: KitConfig,
    digest: str,
    produced: dict,
    started: float,
) -> Kit:
    """Schedule sheet, README and the ZIP; record the new version.

    The version number is reserved by inserting its ``KitVersion`` row in a
    savepoint; when another build of the same kit took that number meanwhile
    (the unique (kit, version) constraint), the savepoint is rolled back and the
    next number is tried. The ZIP is written under a temporary name and moved to
    ``v<N>.zip`` only once version N is ours, so a concurrent build never
    overwrites another's file.
    """
    warnings = list(produced["warnings"])
    entries = [_Entry(n, Path(p), k, lbl) for n, p, k, lbl in produced["entries"]]
    items = {i.id: i for i in campaign_items(session, campaign.id, "loudspeaker")}
    rendered = [(items[sc["id"]], sc["text"]) for sc in produced["scripts"] if sc["id"] in items]
    xlsx, schedule_note, rotation = _schedule_xlsx(session, campaign, unit, rendered)
    entries.append(_Entry(SCHEDULE_NAME, xlsx, "schedule", "lịch phát thanh (Excel)"))
    link = tracked_link(config.base_url, campaign.id, unit.code)
    folder = config.media_dir / "kits" / str(campaign.id) / unit.code
    for attempt in range(1, VERSION_ATTEMPTS + 1):
        version = _next_version(session, kit)
        readme = _readme(campaign, unit, link, entries, warnings, version, schedule_note)
        all_entries = [_Entry("README.txt", readme, "readme", "hướng dẫn")] + entries
        out = folder / f"v{version}.zip"
        part = folder / f".v{version}-{uuid.uuid4().hex}.zip"
        sha, size, names = write_zip(part, [(e.name, e.source) for e in all_entries])
        contents = []
        inputs = produced.get("inputs") or {}
        for e, name in zip(all_entries, names, strict=True):
            size_e = len(e.source) if isinstance(e.source, bytes) else Path(e.source).stat().st_size
            contents.append({"name": name, "kind": e.kind, "size": size_e})
            if inputs.get(e.name):  # the file's input hash: an unchanged file is reused next time
                contents[-1]["input"] = inputs[e.name]
        built_at = utcnow()
        try:
            with session.begin_nested():
                session.add(
                    KitVersion(
                        kit_id=kit.id,
                        version=version,
                        input_digest=digest,
                        path=str(out),
                        sha256=sha,
                        size=size,
                        contents=contents,
                        warnings=warnings,
                        seconds=round(time.perf_counter() - started, 3),
                        built_at=built_at,
                    )
                )
                session.flush()
        except IntegrityError:
            part.unlink(missing_ok=True)
            log.warning(
                "kit %s: version %s was recorded by another build meanwhile (attempt %s)",
                kit.id,
                version,
                attempt,
            )
            continue
        os.replace(part, out)
        break
    else:
        raise KitBuildError(
            f"kit {kit.id}: no free version number after {VERSION_ATTEMPTS} attempts"
        )
    bc.publish_to_broadcasts(
        session,
        campaign,
        unit,
        produced["scripts"],
        config.media_dir,
        config.base_url,
        rotation=rotation,
    )
    kit.status, kit.path, kit.sha256, kit.size = "ready", str(out), sha, size
    kit.contents, kit.warnings, kit.version, kit.built_at = contents, warnings, version, built_at
    session.add(kit)
    audit(
        session,
        None,
        "kit.build",
        "kit",
        kit.id,
        unit=unit.code,
        campaign_id=campaign.id,
        version=version,
    )
    session.flush()
    prune_versions(session, kit, config.keep_versions)
    return kit


def prune_versions(session: Session, kit: Kit, keep: int) -> list[int]:
    """Delete the files of all but the newest ``keep`` versions; returns the versions pruned."""
    pruned = []
    rows = session.exec(
        select(KitVersion).where(
            KitVersion.kit_id == kit.id, KitVersion.version <= kit.version - keep
        )
    ).all()
    for row in rows:
        path = Path(row.path)
        if path.is_file() and str(path) != kit.path:
            path.unlink()
            pruned.append(row.version)
    return pruned


def _record(session: Session, campaign, unit, kit, config, digest, produced, started, error):
    """Record a unit's produced files as its new version, or mark the kit failed.

    Everything the recording writes happens in a savepoint: a database error (or
    any other) rolls back only this unit's changes, so the session stays usable
    to mark the kit failed and to go on with the other units. Returns the
    :class:`KitBuildError` to report, or None.
    """
    try:
        if error is not None:
            raise error
        with session.begin_nested():
            _finish(session, campaign, unit, kit, config, digest, produced, started)
    except Exception as exc:  # noqa: BLE001 - one unit's failure must not stop the others
        return _fail(session, kit, unit, exc)
    return None


def _fail(session: Session, kit: Kit, unit: OrgUnit, exc: BaseException) -> KitBuildError:
    """Log the exception (with its traceback) and mark the kit failed with a Vietnamese
    note; the returned error's message is Vietnamese and carries no exception text."""
    log.error("kit build failed for unit %s (kit %s)", unit.code, kit.id, exc_info=exc)
    try:
        with session.begin_nested():
            kit.status = "failed"
            kit.warnings = [FAILED_WARNING]
            session.add(kit)
    except Exception:  # noqa: BLE001 - the session itself is broken: the log has it all
        log.exception("could not mark kit %s failed", kit.id)
    return KitBuildError(
        f"Không tạo được bộ tài liệu cho {unit.name}; lỗi đã được ghi vào nhật ký hệ thống."
    )


def _build_unit_kit(
    session: Session,
    campaign: Campaign,
    unit: OrgUnit,
    config: KitConfig,
    *,
    force: bool = False,
    template_state: list | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[Kit, bool]:
    """Build (or keep, when its inputs are unchanged) ``unit``'s kit. Returns (kit, rebuilt).

    The kit row is flushed, not committed. Problems that must not stop a kit
    become warnings; an unexpected error marks the kit ``failed`` and raises
    :class:`KitBuildError` with a Vietnamese message (the exception is logged).
    """
    from campaigns.kits import compose

    report = progress or (lambda _f: None)
    kit = _kit_row(session, campaign, unit)
    digest = input_digest(session, campaign, unit, config, template_state)
    if not force and _is_current(session, kit, digest):
        report(1.0)
        return kit, False
    started = time.perf_counter()
    kit.status = "building"
    session.add(kit)
    session.flush()
    spec = unit_spec(session, campaign, unit, config, reuse=not force)
    try:
        try:
            produced, error = produce_files(spec), None
        except Exception as exc:  # noqa: BLE001
            produced, error = None, exc
        finally:
            compose.release()  # this thread's later documents: no run caches
        report(0.9)
        failure = _record(session, campaign, unit, kit, config, digest, produced, started, error)
    finally:
        shutil.rmtree(spec["work"], ignore_errors=True)
    if failure is not None:
        raise failure
    report(1.0)
    return kit, True


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _workers(config_workers: int | None, jobs: int) -> int:
    """Worker processes: 1 (in this process) unless configured. Measured on a busy
    2-CPU machine, spawned workers were slower than one process (each warms its
    own font and layout caches); on an idle multi-core machine they pay off."""
    n = config_workers if config_workers is not None else 1
    return max(1, min(n, jobs))


def _build_campaign_kits(
    session: Session,
    campaign_id: int,
    config: KitConfig,
    *,
    unit_ids: list[int] | None = None,
    force: bool = False,
    progress: Callable[[float], None] | None = None,
    commit: bool = True,
    workers: int | None = None,
) -> dict:
    """Build every kit of a campaign (or only ``unit_ids``) whose inputs changed.

    Files are produced side by side in ``workers`` processes (default: the
    1 = in this process, the default); each finished kit is recorded
    (and committed, unless ``commit=False``) as soon as it is ready, so
    progress is visible. Returns a summary dict.
    """
    report = progress or (lambda _f: None)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise KitBuildError(f"Không có chiến dịch mã {campaign_id}.")
    units = kit_units(session, campaign_id)
    if unit_ids is not None:
        wanted = set(unit_ids)
        units = [u for u in units if u.id in wanted]
    state = _template_state(config.script.template_dirs)
    from campaigns.kits import compose

    compose.reset()  # the shared artwork and audio of this run are rendered afresh
    summary: dict = {
        "campaign_id": campaign_id,
        "units": len(units),
        "built": 0,
        "unchanged": 0,
        "failed": [],
        "kit_ids": [],
        "files_rebuilt": 0,
        "files_reused": 0,
    }
    todo = []
    for unit in units:
        kit = _kit_row(session, campaign, unit)
        digest = input_digest(session, campaign, unit, config, state)
        if not force and _is_current(session, kit, digest):
            summary["unchanged"] += 1
            summary["kit_ids"].append(kit.id)
            continue
        kit.status = "building"
        session.add(kit)
        todo.append((unit, kit, digest, unit_spec(session, campaign, unit, config, reuse=not force)))
    session.flush()
    if commit:
        session.commit()
    done = summary["unchanged"]
    report(done / max(len(units), 1))
    n_workers = _workers(workers, len(todo))
    started = time.perf_counter()

    def record(unit, kit, digest, spec, result: dict | None, error: BaseException | None) -> None:
        nonlocal done
        try:
            failure = _record(session, campaign, unit, kit, config, digest, result, started, error)
        finally:
            shutil.rmtree(spec["work"], ignore_errors=True)
        if failure is None:
            summary["built"] += 1
            summary["kit_ids"].append(kit.id)
            files = (result or {}).get("files") or {}
            summary["files_rebuilt"] += files.get("rebuilt", 0)
            summary["files_reused"] += files.get("reused", 0)
        else:
            summary["failed"].append({"unit": unit.code, "error": str(failure)})
        if commit:
            session.commit()
        done += 1
        compose.report(
            report, done / max(len(units), 1), summary["files_rebuilt"], summary["files_reused"]
        )

    try:
        _produce_all(todo, n_workers, record)
    finally:
        compose.release()  # also when a build stops half-way: later work gets no run caches
    compose.report(report, 1.0, summary["files_rebuilt"], summary["files_reused"])
    return summary


def _produce_all(todo: list, n_workers: int, record) -> None:
    """Each unit's files (``produce_files``), here or in ``n_workers`` processes; each
    result goes to ``record`` as it comes."""
    from campaigns.kits import compose

    if n_workers <= 1:
        for unit, kit, digest, spec in todo:
            try:
                result, error = produce_files(spec), None
            except Exception as exc:  # noqa: BLE001
                result, error = None, exc
            record(unit, kit, digest, spec, result, error)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context(
            "spawn"
        )  # never fork a process holding DB connections or threads
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            futures = {
                pool.submit(produce_files, spec): (unit, kit, digest, spec)
                for unit, kit, digest, spec in todo
            }
            for fut in as_completed(futures):
                unit, kit, digest, spec = futures[fut]
                try:
                    result, error = fut.result(), None
                except Exception as exc:  # noqa: BLE001
                    result, error = None, exc
                compose.add_stats((result or {}).get("stats"))
                record(unit, kit, digest, spec, result, error)


def _quietly(fn):
    """Run a build without the change watcher: a build updating broadcast slots
    must not queue another build."""
    import functools

    @functools.wraps(fn)
    def wrapped(session: Session, *args, **kwargs):
        before = session.info.get("kits_no_watch")
        session.info["kits_no_watch"] = True
        try:
            return fn(session, *args, **kwargs)
        finally:
            if before is None:
                session.info.pop("kits_no_watch", None)
            else:
                session.info["kits_no_watch"] = before

    return wrapped


build_campaign_kits = _quietly(_build_campaign_kits)
build_unit_kit = _quietly(_build_unit_kit)


def local_now() -> datetime:
    return datetime.now(LOCAL_TZ)
