"""Kit building: which units get kits, what a kit holds, warnings, versions and rebuilds."""

from __future__ import annotations

import io
import unicodedata
import wave
import zipfile
from pathlib import Path

import pytest
from sqlmodel import select

from campaigns.kits.builder import (
    PRINT_DIR,
    RADIO_DIR,
    SCHEDULE_NAME,
    KitConfig,
    build_campaign_kits,
    kit_units,
    print_data,
    tracked_link,
)
from campaigns.kits.models import KitVersion
from campaigns.models import Campaign, ContentItem, Kit
from core.db import session_scope
from core.models import OrgUnit
from tests.conftest import make_app
from tests.fakes.kits import make_campaign, unit_id

KHMER = "សូមស្វាគមន៍ បងប្អូនទាំងអស់គ្នា"
BASE_URL = "https://lantoa.soctrang.gov.vn"


@pytest.fixture(scope="module")
def kit_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kits")
    app = make_app(
        f"sqlite:///{tmp / 'kits.db'}",
        tmp,
        WTF_CSRF_ENABLED=False,
        LANTOA_PUBLIC_BASE_URL=BASE_URL,
        PUBLIC_BASE_URL=BASE_URL,
    )
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


@pytest.fixture(scope="module")
def built(kit_app):
    """One real kit: a commune without an address, a Vietnamese and a Khmer script."""
    cid = make_campaign(
        kit_app,
        scope=("xa-vinh-hai",),
        scripts=[
            {
                "title": "Bản tin loa: Hưởng ứng Ngày Chuyển đổi số",
                "body": "Từ ngày 10/10/2025, bà con có thể nộp hồ sơ TTHC trực tuyến qua DVCTT, không phải xếp hàng.",
            },
            {"title": "Bản tin tiếng Khmer", "body": KHMER, "language": "km"},
        ],
    )
    with kit_app.app_context(), session_scope(kit_app) as s:
        summary = build_campaign_kits(s, cid, KitConfig.from_app(kit_app), workers=1)
        kit = s.exec(select(Kit).where(Kit.campaign_id == cid)).one()
        return {
            "campaign_id": cid,
            "summary": summary,
            "kit_id": kit.id,
            "path": Path(kit.path),
            "warnings": list(kit.warnings),
            "contents": list(kit.contents),
            "version": kit.version,
        }


def _zip(built) -> zipfile.ZipFile:
    return zipfile.ZipFile(built["path"])


def test_kit_units_cover_districts_and_communes(kit_app):
    province = make_campaign(kit_app, scope=("soc-trang",), status="draft")
    district = make_campaign(kit_app, scope=("ke-sach", "so-gddt"), status="draft")
    with kit_app.app_context(), session_scope(kit_app) as s:
        all_units = s.exec(select(OrgUnit)).all()
        got = {u.code for u in kit_units(s, province)}
        expected = {u.code for u in all_units if u.kind in ("district", "commune")}
        assert got == expected and "soc-trang" not in got and "so-khcn" not in got
        assert (
            len([c for c in got if c in {u.code for u in all_units if u.kind == "district"}]) == 11
        )
        assert {u.code for u in kit_units(s, district)} == {
            "ke-sach",
            "tt-ke-sach",
            "xa-an-lac-tay",
            "xa-nhon-my",
            "so-gddt",
        }


def test_print_data_uses_tracked_link_and_unit(kit_app):
    from media_templates import get_template

    with kit_app.app_context(), session_scope(kit_app) as s:
        unit = s.get(OrgUnit, unit_id(s, "xa-lac-hoa"))
        campaign = Campaign(
            id=7, title="Chiến dịch thử", description="", starts_on=None, ends_on=None
        )
        item = ContentItem(
            campaign_id=7,
            channel="print",
            title="Tờ rơi A5: Các bước",
            body="Bước 1: Đăng nhập. Bước 2: Chọn thủ tục. Bước 3: Nộp hồ sơ.",
        )
        link = tracked_link(BASE_URL + "/", 7, unit.code)
        assert link == f"{BASE_URL}/r/7/xa-lac-hoa"
        data = print_data(get_template("leaflet-a5"), item, campaign, unit, link, unit.phone)
    assert data["url"] == link
    assert data["title"] == "Các bước"
    assert data["steps"] == ["Bước 1: Đăng nhập", "Bước 2: Chọn thủ tục", "Bước 3: Nộp hồ sơ"]
    assert data["address"] == unit.address and data["hotline"] == "0299 3861 234"


@pytest.mark.slow
def test_kit_contents(built):
    assert built["summary"]["built"] == 1 and not built["summary"]["failed"]
    names = _zip(built).namelist()
    unit = "Xã Vĩnh Hải"
    for label in ("Áp phích A3", "Áp phích A4", "Tờ rơi A5", "Standee"):
        assert f"{PRINT_DIR}/{label} – {unit}.pdf" in names
    scripts = [n for n in names if n.startswith(RADIO_DIR + "/01.")]
    assert sorted(n.rsplit(".", 1)[1] for n in scripts) == ["docx", "mp3", "pdf", "txt", "wav"]
    assert "README.txt" in names and SCHEDULE_NAME in names
    assert [c["name"] for c in built["contents"]] == names
    for info in _zip(built).infolist():  # names readable in Windows Explorer
        assert info.filename == unicodedata.normalize("NFC", info.filename)
        assert info.filename.isascii() or info.flag_bits & 0x800


@pytest.mark.slow
def test_print_pdfs_carry_unit_name_and_tracked_qr_link(built):
    import pypdf

    zf = _zip(built)
    link = f"{BASE_URL}/r/{built['campaign_id']}/xa-vinh-hai"
    for name in [n for n in zf.namelist() if n.startswith(PRINT_DIR)]:
        reader = pypdf.PdfReader(io.BytesIO(zf.read(name)))
        text = unicodedata.normalize("NFC", " ".join(p.extract_text() for p in reader.pages))
        assert "Vĩnh Hải" in text, name
        if "Standee" not in name:  # the standee shows the QR code without printing the address
            assert link in text.replace("\n", ""), name


@pytest.mark.slow
def test_docx_script_has_header_and_normalised_reading(built):
    import docx

    zf = _zip(built)
    name = next(
        n for n in zf.namelist() if n.startswith(RADIO_DIR + "/01.") and n.endswith(".docx")
    )
    doc = docx.Document(io.BytesIO(zf.read(name)))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    for section in doc.sections:
        parts += [p.text for p in section.header.paragraphs]
    text = unicodedata.normalize("NFC", "\n".join(parts))
    assert "Xã Vĩnh Hải" in text
    assert "Ngày Chuyển đổi số quốc gia 10/10" in text
    assert "phút" in text or "giây" in text  # the duration estimate
    assert "DVCTT" in text  # the script as written
    assert "dịch vụ công trực tuyến" in text  # ... and its reading version
    assert "ngày mười tháng mười năm hai nghìn không trăm hai mươi lăm" in text


@pytest.mark.slow
def test_audio_is_speech_of_plausible_length(built):
    zf = _zip(built)
    wav_name = next(
        n for n in zf.namelist() if n.startswith(RADIO_DIR + "/01.") and n.endswith(".wav")
    )
    with wave.open(io.BytesIO(zf.read(wav_name))) as w:
        seconds = w.getnframes() / w.getframerate()
        frames = w.readframes(w.getnframes())
    assert 10 < seconds < 120
    assert len(set(frames[::97])) > 50  # not silence, not a constant
    mp3 = zf.read(wav_name[:-4] + ".mp3")
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)


@pytest.mark.slow
def test_missing_address_and_khmer_become_warnings_not_crashes(built):
    warnings = "\n".join(built["warnings"])
    assert "Xã Vĩnh Hải chưa có địa chỉ" in warnings
    assert "Bản tin tiếng Khmer" in warnings and "Khmer" in warnings
    names = _zip(built).namelist()
    khmer = [n for n in names if n.startswith(RADIO_DIR + "/02.")]
    assert khmer and not any(
        n.endswith((".mp3", ".wav")) for n in khmer
    )  # no voice: no audio, a note
    txt = _zip(built).read(next(n for n in khmer if n.endswith(".txt"))).decode("utf-8-sig")
    assert KHMER in unicodedata.normalize("NFC", txt)  # Khmer text kept
    readme = _zip(built).read("README.txt").decode("utf-8-sig")
    assert "chưa có địa chỉ" in readme and "LƯU Ý" in readme


@pytest.mark.slow
def test_readme_and_schedule(built):
    from openpyxl import load_workbook

    from campaigns.kits.broadcasts import DEFAULT_TIMES, DEFAULT_WEEKDAYS, expand_slots

    zf = _zip(built)
    readme = zf.read("README.txt").decode("utf-8-sig")
    assert readme == unicodedata.normalize("NFC", readme)
    assert "XÃ VĨNH HẢI" in readme and f"/r/{built['campaign_id']}/xa-vinh-hai" in readme
    assert "Xác nhận đã phát" in readme
    ws = load_workbook(io.BytesIO(zf.read(SCHEDULE_NAME))).active
    rows = [r for r in ws.iter_rows(min_row=5, values_only=True) if r[0] is not None]
    assert ws["A4"].value == "STT" and ws["A1"].value == "LỊCH PHÁT THANH – Xã Vĩnh Hải"
    with built_app_context(built) as (s, campaign):
        expected = expand_slots(
            DEFAULT_WEEKDAYS, DEFAULT_TIMES, campaign.starts_on, campaign.ends_on
        )
    assert len(rows) == len(expected) > 0
    assert {r[5] for r in rows} == {"Đề xuất"}  # no registered schedule yet: suggested slots
    assert rows[0][2] == expected[0].strftime("%d/%m/%Y") and rows[0][3] == expected[0].strftime(
        "%H:%M"
    )


_APP = {}


class built_app_context:
    def __init__(self, built):
        self.built = built

    def __enter__(self):
        app = _APP["app"]
        self.ctx = app.app_context()
        self.ctx.push()
        self.scope = session_scope(app)
        s = self.scope.__enter__()
        return s, s.get(Campaign, self.built["campaign_id"])

    def __exit__(self, *exc):
        self.scope.__exit__(*exc)
        self.ctx.pop()


@pytest.fixture(autouse=True, scope="module")
def _remember_app(kit_app):
    _APP["app"] = kit_app


@pytest.mark.slow
def test_unchanged_inputs_keep_the_version_and_changes_rebuild(kit_app, built):
    cid = built["campaign_id"]
    config = KitConfig.from_app(kit_app)
    with kit_app.app_context(), session_scope(kit_app) as s:
        again = build_campaign_kits(s, cid, config, workers=1)
        assert again["built"] == 0 and again["unchanged"] == 1
        s.info["kits_no_watch"] = True
        item = s.exec(
            select(ContentItem).where(
                ContentItem.campaign_id == cid,
                ContentItem.channel == "loudspeaker",
                ContentItem.language == "km",
            )
        ).one()
        s.delete(item)  # drop the Khmer script: a smaller, quicker rebuild
        s.flush()
        from campaigns.kits.builder import build_unit_kit

        campaign = s.get(Campaign, cid)
        unit = s.get(OrgUnit, unit_id(s, "xa-vinh-hai"))
        kit, rebuilt = build_unit_kit(s, campaign, unit, config)
        assert rebuilt and kit.version == built["version"] + 1
        versions = s.exec(
            select(KitVersion).where(KitVersion.kit_id == kit.id).order_by(KitVersion.version)
        ).all()
        assert [v.version for v in versions] == [1, 2]
        assert versions[0].input_digest != versions[1].input_digest
        assert Path(versions[0].path).is_file() and Path(versions[1].path).is_file()
        names = zipfile.ZipFile(kit.path).namelist()
        assert not any(n.startswith(RADIO_DIR + "/02.") for n in names)


def test_template_missing_variable_is_named_in_preview_and_kit_warning(tmp_path):
    """A province's own script template using a variable the data lacks: a clear error naming it."""
    from campaigns.kits.builder import produce_files, unit_spec
    from campaigns.kits.scripts import ScriptSettings, preview

    folder = tmp_path / "tpl" / "loudspeaker_xa"
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(
        "title: Mẫu của xã\nfields:\n  - {name: unit_name, required: true}\n", encoding="utf-8"
    )
    (folder / "script.txt.j2").write_text(
        "## Mở đầu\nĐây là {{ unit_name }}. Chủ tịch {{ chu_tich_xa }}.\n", encoding="utf-8"
    )
    app = make_app(
        f"sqlite:///{tmp_path / 't.db'}",
        tmp_path,
        LANTOA_SCRIPT_TEMPLATE_DIRS=str(tmp_path / "tpl"),
    )
    cid = make_campaign(
        app,
        scope=("xa-lac-hoa",),
        prints=[],
        scripts=[
            {
                "title": "Bản tin theo mẫu xã",
                "body": "Thông điệp.",
                "variants": {"script": {"template": "loudspeaker_xa"}},
            }
        ],
    )
    with app.app_context(), session_scope(app) as s:
        campaign = s.get(Campaign, cid)
        unit = s.get(OrgUnit, unit_id(s, "xa-lac-hoa"))
        item = s.exec(select(ContentItem).where(ContentItem.campaign_id == cid)).one()
        settings = ScriptSettings.from_config(app.config)
        assert settings.template_dirs == (str(tmp_path / "tpl"),)
        result = preview(campaign, unit, item, settings)
        assert (
            not result["ok"]
            and "chu_tich_xa" in result["error"]
            and "chu_tich_xa" in result["fields"]
        )
        spec = unit_spec(s, campaign, unit, KitConfig.from_app(app))
    produced = produce_files(spec)
    assert any("Bản tin theo mẫu xã" in w and "chu_tich_xa" in w for w in produced["warnings"])
    assert not any(n.startswith(RADIO_DIR) for n, *_ in produced["entries"])
    from core.db import get_engine

    get_engine(app).dispose()


def test_old_version_files_are_pruned(tmp_path):
    from campaigns.kits.builder import prune_versions

    app = make_app(f"sqlite:///{tmp_path / 'v.db'}", tmp_path)
    cid = make_campaign(app, scope=("xa-lac-hoa",), status="draft")
    with app.app_context(), session_scope(app) as s:
        kit = Kit(campaign_id=cid, unit_id=unit_id(s, "xa-lac-hoa"), status="ready", version=5)
        s.add(kit)
        s.flush()
        for v in range(1, 6):
            path = tmp_path / f"v{v}.zip"
            path.write_bytes(b"PK")
            s.add(
                KitVersion(
                    kit_id=kit.id,
                    version=v,
                    input_digest=str(v),
                    path=str(path),
                    sha256="0",
                    size=2,
                )
            )
        kit.path = str(tmp_path / "v5.zip")
        s.flush()
        assert sorted(prune_versions(s, kit, 3)) == [1, 2]
    assert [p.name for p in sorted(tmp_path.glob("v*.zip"))] == ["v3.zip", "v4.zip", "v5.zip"]
    from core.db import get_engine

    get_engine(app).dispose()


@pytest.mark.slow
def test_built_kit_extracts_with_unzip_under_its_names(built, tmp_path):
    """Debian's unzip writes every entry of a real kit under its NFC name, and the
    schedule workbook holds no formula."""
    from openpyxl import load_workbook

    from tests.test_kits_zip import unzip_names

    zf = _zip(built)
    expected = sorted(unicodedata.normalize("NFC", n) for n in zf.namelist() if not n.endswith("/"))
    assert unzip_names(built["path"], tmp_path / "kit") == expected
    ws = load_workbook(io.BytesIO(zf.read(SCHEDULE_NAME))).active
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
