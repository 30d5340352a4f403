"""Kit content and robustness: the public address of the QR codes, what the print
products say (headline, message, points), the broadcast schedule's rotation of
bulletins, concurrent builds and failed builds (a Vietnamese sentence, the
exception in the log only), and the build jobs' Vietnamese states."""

from __future__ import annotations

import io
import logging
import subprocess
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from campaigns.kits import builder
from campaigns.kits.builder import (
    FAILED_WARNING,
    PRINT_DIR,
    SCHEDULE_NAME,
    KitConfig,
    build_campaign_kits,
)
from campaigns.kits.models import KitVersion
from campaigns.models import Kit
from core.db import get_engine, session_scope
from tests._require import require_executable
from tests.conftest import make_app
from tests.fakes.kits import make_campaign
from tests.helpers import login, make_user

PUBLIC = "https://lantoa.soctrang.gov.vn"
UNIT = "xa-lac-hoa"

#: the print items of the 10/10 preset (campaigns/presets/ngay-cds-10-10.yaml)
PRINTS = [
    {
        "title": "Áp phích: Dịch vụ công trực tuyến – nhanh, tiện, minh bạch",
        "template": "poster_a3",
        "body": "Quét mã QR để vào Cổng Dịch vụ công, nộp hồ sơ mọi lúc, mọi nơi.",
    },
    {
        "title": "Standee tại bộ phận một cửa",
        "template": "standee",
        "body": "Hướng dẫn nộp hồ sơ trực tuyến; quét mã QR để bắt đầu.",
    },
    {
        "title": "Tờ rơi A5: Các bước sử dụng dịch vụ công trực tuyến",
        "template": "leaflet_a5",
        "body": "Bước 1: Đăng nhập bằng tài khoản định danh điện tử VNeID. Bước 2: Tìm thủ tục. "
        "Bước 3: Nộp hồ sơ và theo dõi kết quả.",
    },
]
SCRIPTS = [
    {"title": "Bản tin loa: Dịch vụ công là gì", "body": "Dịch vụ công giúp bà con."},
    {"title": "Bản tin loa: Hưởng ứng ngày 10/10", "body": "Hôm nay là ngày 10/10."},
    {"title": "Bản tin loa: Cảm ơn bà con", "body": "Cảm ơn bà con đã hưởng ứng."},
]


def _app(tmp: Path, **extra):
    return make_app(f"sqlite:///{tmp / 'kits.db'}", tmp, WTF_CSRF_ENABLED=False, **extra)


def _build(app, cid, **kw) -> dict:
    with app.app_context(), session_scope(app) as s:
        summary = build_campaign_kits(s, cid, KitConfig.from_app(app), workers=1, **kw)
        kit = s.exec(select(Kit).where(Kit.campaign_id == cid)).one()
        return {
            "summary": summary,
            "kit_id": kit.id,
            "path": Path(kit.path) if kit.path else None,
            "warnings": list(kit.warnings),
            "status": kit.status,
            "version": kit.version,
        }


def _entry(zf: zipfile.ZipFile, prefix: str) -> bytes:
    return zf.read(next(n for n in zf.namelist() if n.startswith(f"{PRINT_DIR}/{prefix}")))


def _pdf_text(data: bytes, tmp: Path) -> str:
    exe = require_executable("pdftotext", "poppler-utils")
    src = tmp / "p.pdf"
    src.write_bytes(data)
    out = subprocess.run([exe, "-enc", "UTF-8", str(src), "-"], capture_output=True, check=True)
    return unicodedata.normalize("NFC", out.stdout.decode("utf-8"))


def _flat(text: str) -> str:
    return " ".join(text.split())


def decode_qr(pdf: bytes, tmp: Path, page: int = 1) -> list[str]:
    """The payloads of the QR codes printed on a PDF page (Poppler renders it, ZBar
    reads the codes)."""
    pdftoppm = require_executable("pdftoppm", "poppler-utils")
    zbarimg = require_executable("zbarimg", "zbar-tools")
    src = tmp / "qr.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        [
            pdftoppm,
            "-r",
            "150",
            "-f",
            str(page),
            "-l",
            str(page),
            "-png",
            str(src),
            str(tmp / "qr"),
        ],
        check=True,
    )
    png = next(tmp.glob("qr*.png"))
    out = subprocess.run([zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.strip()]


# -- one real kit with a public address ------------------------------------------------------


@pytest.fixture(scope="module")
def public_kit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("public")
    app = _app(tmp, LANTOA_PUBLIC_BASE_URL=PUBLIC)
    cid = make_campaign(app, scope=(UNIT,), prints=PRINTS, scripts=SCRIPTS, days=21)
    built = _build(app, cid)
    yield {"app": app, "cid": cid, **built, "zip": zipfile.ZipFile(built["path"])}
    get_engine(app).dispose()


@pytest.mark.slow
def test_public_address_qr_decodes_to_the_tracked_link(public_kit, tmp_path):
    assert not any("địa chỉ công khai" in w for w in public_kit["warnings"])
    link = f"{PUBLIC}/r/{public_kit['cid']}/{UNIT}"
    for n, (prefix, page) in enumerate((("Áp phích A4", 1), ("Áp phích A3", 1), ("Tờ rơi A5", 2))):
        folder = tmp_path / str(n)
        folder.mkdir()
        assert decode_qr(_entry(public_kit["zip"], prefix), folder, page) == [link], prefix


@pytest.mark.slow
def test_a4_poster_body_is_the_message_and_bullets_are_the_steps(public_kit, tmp_path):
    text = _flat(_pdf_text(_entry(public_kit["zip"], "Áp phích A4"), tmp_path))
    message = "Quét mã QR để vào Cổng Dịch vụ công, nộp hồ sơ mọi lúc, mọi nơi."
    assert text.count(message) == 1  # printed once: as the body, not again as a bullet
    assert "Dịch vụ công trực tuyến – nhanh, tiện, minh bạch" in text  # the headline
    for step in ("Bước 1: Đăng nhập", "Bước 2: Tìm thủ tục", "Bước 3: Nộp hồ sơ"):
        assert step in text  # the campaign's steps (from the leaflet) as the bullets
    assert "Áp phích:" not in text


@pytest.mark.slow
def test_standee_headline_is_public_not_the_internal_title(public_kit, tmp_path):
    text = _flat(_pdf_text(_entry(public_kit["zip"], "Standee"), tmp_path))
    assert "Standee tại bộ phận một cửa" not in text and "Standee" not in text
    assert "Hướng dẫn nộp hồ sơ trực tuyến" in text
    assert "Quét mã QR để bắt đầu." in text
    assert "Bước 1: Đăng nhập" in text


@pytest.mark.slow
def test_schedule_rotates_through_every_bulletin(public_kit):
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(public_kit["zip"].read(SCHEDULE_NAME))).active
    rows = [r for r in ws.iter_rows(min_row=5, values_only=True) if r[0] is not None]
    titles = [r[4] for r in rows]
    assert len(rows) >= 6
    counts = Counter(titles)
    assert set(counts) == {s["title"] for s in SCRIPTS}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert all(a != b for a, b in zip(titles, titles[1:], strict=False))  # in turn


def test_print_data_never_repeats_the_message_as_a_point():
    from campaigns.models import Campaign, ContentItem
    from core.models import OrgUnit
    from media_templates import get_template

    campaign = Campaign(title="Ngày Chuyển đổi số quốc gia 10/10", description="Mô tả.")
    unit = OrgUnit(code=UNIT, name="Xã Lạc Hòa", kind="commune")
    items = [ContentItem(channel="print", **p) for p in PRINTS]
    steps = builder.campaign_steps(items)
    assert steps[0].startswith("Bước 1") and len(steps) == 3
    a4 = get_template("poster-a4")
    data = builder.print_data(a4, items[0], campaign, unit, PUBLIC + "/r/1/x", None, steps=steps)
    assert data["body"] not in data["bullets"] and 3 <= len(data["bullets"]) <= 5
    benefits = ContentItem(
        channel="print",
        title="Dịch vụ công trực tuyến",
        body="Lợi ích cho bà con. Nộp hồ sơ mọi lúc. Theo dõi trên điện thoại. Nhận kết quả tại nhà.",
    )
    data = builder.print_data(a4, benefits, campaign, unit, PUBLIC, None, steps=steps)
    assert data["title"] == "Dịch vụ công trực tuyến" and data["body"] == "Lợi ích cho bà con."
    assert data["bullets"][:3] == [
        "Nộp hồ sơ mọi lúc",
        "Theo dõi trên điện thoại",
        "Nhận kết quả tại nhà",
    ]
    labelled = ContentItem(
        channel="print",
        title="Standee sảnh UBND",
        body="x",
        variants={"print": {"headline": "Làm thủ tục tại nhà"}},
    )
    assert builder.headline(labelled, campaign) == ("Làm thủ tục tại nhà", False)


# -- no public address -------------------------------------------------------------------------


@pytest.mark.slow
def test_without_public_address_the_kit_warns_and_admins_see_a_banner(tmp_path):
    app = _app(tmp_path)  # LANTOA_PUBLIC_BASE_URL unset: the loopback default
    cid = make_campaign(app, scope=(UNIT,), prints=PRINTS[:1], scripts=[])
    built = _build(app, cid)
    assert built["status"] == "ready"  # it builds ...
    assert built["warnings"][0].startswith("Chưa đặt địa chỉ công khai")  # ... marked
    assert "http://127.0.0.1:5000" in built["warnings"][0]
    readme = zipfile.ZipFile(built["path"]).read("README.txt").decode("utf-8-sig")
    assert "Chưa đặt địa chỉ công khai" in readme

    client = app.test_client()
    officer = make_user(app, "unit_officer", UNIT)
    login(client, officer)
    page = client.get(f"/kits/{built['kit_id']}").get_data(as_text=True)
    assert 'id="kit-public-url"' in page and "Chưa đặt địa chỉ công khai" in page
    assert 'id="public-url-problem"' not in page  # the site-wide banner is for admins
    client.post("/logout")
    login(client, make_user(app, "admin", None))
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'id="public-url-problem"' in home and "Chưa đặt địa chỉ công khai" in home
    assert "LANTOA_PUBLIC_BASE_URL" not in home  # no setting names on a page
    get_engine(app).dispose()


def test_public_address_check_and_startup_warning(tmp_path, caplog):
    from campaigns.kits.setup import warn_public_base_url
    from core.config import public_base_url_problem

    app = _app(tmp_path)
    assert public_base_url_problem(app) is not None
    assert not warn_public_base_url(app)  # testing: quiet
    app.testing = False
    with caplog.at_level(logging.WARNING, logger="lantoa.kits"):
        assert warn_public_base_url(app)
    assert "LANTOA_PUBLIC_BASE_URL" in caplog.text and "127.0.0.1" in caplog.text
    for url, public in [
        ("http://127.0.0.1:5000", False),
        ("http://localhost:8000", False),
        ("http://192.168.1.10", False),
        ("", False),
        (PUBLIC, True),
        ("https://203.113.131.1", True),
    ]:
        app.config["LANTOA_PUBLIC_BASE_URL"] = url
        assert (public_base_url_problem(app) is None) is public, url
        assert (KitConfig.from_app(app).public_url_ok is public) or url == "", url
    app.config["LANTOA_PUBLIC_BASE_URL"] = PUBLIC
    caplog.clear()
    assert not warn_public_base_url(app) and not caplog.text
    get_engine(app).dispose()


# -- concurrent and failed builds --------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def small(request, tmp_path):
    """An app (SQLite file, or a fresh PostgreSQL database) and a campaign whose kit
    renders quickly (one print item, no audio)."""
    drop = None
    if request.param == "postgresql":
        from tests.conftest import create_pg_database

        url, drop = create_pg_database()
        app = make_app(url, tmp_path, WTF_CSRF_ENABLED=False, LANTOA_PUBLIC_BASE_URL=PUBLIC)
    else:
        app = _app(tmp_path, LANTOA_PUBLIC_BASE_URL=PUBLIC)
    cid = make_campaign(app, scope=(UNIT,), prints=PRINTS[:1], scripts=[])
    yield app, cid
    get_engine(app).dispose()
    if drop is not None:
        drop()


@pytest.mark.slow
def test_a_build_overtaken_by_another_records_the_next_version(small):
    """Issue #12: a second build of the same kit finishing first made the first one
    insert the same (kit, version) -> IntegrityError -> PendingRollbackError in the UI."""
    app, cid = small
    config = KitConfig.from_app(app)
    calls = []

    def overtaken(fraction):  # called once the first build has marked its kits 'building'
        calls.append(fraction)
        if len(calls) == 1:
            with session_scope(app) as other:
                assert build_campaign_kits(other, cid, config, force=True)["built"] == 1

    with app.app_context(), session_scope(app) as s:
        summary = build_campaign_kits(s, cid, config, force=True, progress=overtaken)
    assert summary["built"] == 1 and not summary["failed"]
    with app.app_context(), session_scope(app) as s:
        kit = s.exec(select(Kit).where(Kit.campaign_id == cid)).one()
        versions = s.exec(
            select(KitVersion).where(KitVersion.kit_id == kit.id).order_by(KitVersion.version)
        ).all()
        assert [v.version for v in versions] == [1, 2] and kit.version == 2
        import hashlib

        for v in versions:  # each file is the one its row describes (none overwritten)
            assert hashlib.sha256(Path(v.path).read_bytes()).hexdigest() == v.sha256


@pytest.mark.slow
def test_a_taken_version_number_is_retried(small, monkeypatch, caplog):
    app, cid = small
    first = _build(app, cid)
    assert first["version"] == 1
    v1 = first["path"].read_bytes()
    real = builder._next_version
    stale = iter([1])  # as if another build had recorded version 1 after this one looked

    monkeypatch.setattr(builder, "_next_version", lambda s, k: next(stale, None) or real(s, k))
    with caplog.at_level(logging.WARNING, logger="campaigns.kits.builder"):
        built = _build(app, cid, force=True)
    assert "version 1 was recorded by another build" in caplog.text  # the retry happened
    assert built["status"] == "ready" and built["version"] == 2
    assert not built["summary"]["failed"]
    assert first["path"].read_bytes() == v1  # version 1's file was not overwritten
    assert not list(built["path"].parent.glob(".v*"))  # no temporary file left


@pytest.mark.slow
def test_a_database_error_while_recording_fails_the_kit_in_vietnamese(small, monkeypatch, caplog):
    app, cid = small

    def broken(session, *args, **kwargs):  # a flush that the database refuses
        kit = session.exec(select(Kit).where(Kit.campaign_id == cid)).one()
        session.add(Kit(campaign_id=cid, unit_id=kit.unit_id, status="pending"))
        session.flush()

    monkeypatch.setattr(builder.bc, "publish_to_broadcasts", broken)
    with caplog.at_level(logging.ERROR, logger="campaigns.kits.builder"):
        built = _build(app, cid)  # commits afterwards: no PendingRollbackError
    assert built["status"] == "failed" and built["warnings"] == [FAILED_WARNING]
    [failure] = built["summary"]["failed"]
    assert failure["unit"] == UNIT and failure["error"].startswith("Không tạo được bộ tài liệu")
    for shown in (failure["error"], *built["warnings"]):
        assert "Error" not in shown and "SQL" not in shown and "INSERT" not in shown
    assert "IntegrityError" in caplog.text  # the exception is in the log
    with app.app_context(), session_scope(app) as s:
        assert s.exec(select(KitVersion)).all() == []  # nothing half-recorded

    client = app.test_client()
    login(client, make_user(app, "communicator", "so-vhttdl"))
    page = client.get(f"/kits/{built['kit_id']}").get_data(as_text=True)
    assert "Lần tạo bộ tài liệu gần nhất bị lỗi" in page
    assert "IntegrityError" not in page and "INSERT INTO" not in page


def test_build_jobs_show_vietnamese_states(app, client):
    from core.timeutil import utcnow
    from scheduler.models import BackgroundJob

    cid = make_campaign(app, scope=(UNIT,))
    with app.app_context(), session_scope(app) as s:
        for n, (status, error) in enumerate(
            [
                ("running", None),
                (
                    "failed",
                    "Công việc nền thất bại: PendingRollbackError: This Session's transaction "
                    "[SQL: INSERT INTO kit_version (kit_id, version) VALUES (?, ?)]",
                ),
                ("pending", None),
            ]
        ):
            s.add(
                BackgroundJob(
                    name="kits.build",
                    payload={"campaign_id": cid},
                    status=status,
                    error=error,
                    dedupe_key=f"kits.build:{cid}:{n}",
                    created_at=utcnow(),
                )
            )
    login(client, make_user(app, "communicator", "so-vhttdl"))
    page = client.get("/kits/").get_data(as_text=True)
    for label in ("Đang chạy", "Lỗi", "Chờ chạy"):
        assert label in page
    for raw in (">running<", ">failed<", ">pending<", "PendingRollbackError", "INSERT INTO"):
        assert raw not in page
    assert "Ngày Chuyển đổi số quốc gia 10/10" in page  # the campaign's title, not its id


@pytest.mark.slow
def test_waiting_broadcasts_get_the_bulletin_of_their_schedule_row(tmp_path):
    from datetime import date, timedelta

    from openpyxl import load_workbook

    from campaigns.kits.broadcasts import DEFAULT_TIMES, DEFAULT_WEEKDAYS, expand_slots
    from core.timeutil import utcnow
    from scheduler.models import Delivery
    from tests.fakes.kits import make_broadcast

    app = _app(tmp_path, LANTOA_PUBLIC_BASE_URL=PUBLIC)
    starts_on = date.today() - timedelta(days=2)
    cid = make_campaign(
        app, scope=(UNIT,), prints=[], scripts=SCRIPTS, starts_on=starts_on, days=21
    )
    now = utcnow()
    slots = expand_slots(DEFAULT_WEEKDAYS, DEFAULT_TIMES, starts_on, starts_on + timedelta(days=21))
    upcoming = [s for s in slots if s > now + timedelta(hours=1)][:3]
    ids = [
        make_broadcast(app, cid, UNIT, hours_from_now=(s - utcnow()).total_seconds() / 3600)
        for s in upcoming
    ]
    built = _build(app, cid)
    ws = load_workbook(io.BytesIO(zipfile.ZipFile(built["path"]).read(SCHEDULE_NAME))).active
    row_title = {
        (r[2], r[3]): r[4] for r in ws.iter_rows(min_row=5, values_only=True) if r[0] is not None
    }
    bodies = {s["title"]: s["body"] for s in SCRIPTS}
    with app.app_context(), session_scope(app) as s:
        texts = []
        for slot, delivery_id in zip(upcoming, ids, strict=True):
            d = s.get(Delivery, delivery_id)
            title = row_title[(slot.strftime("%d/%m/%Y"), slot.strftime("%H:%M"))]
            assert bodies[title] in unicodedata.normalize("NFC", d.content["text"]), title
            texts.append(d.content["text"])
    assert len(set(texts)) == 3  # three slots in a row: three different bulletins
    get_engine(app).dispose()
