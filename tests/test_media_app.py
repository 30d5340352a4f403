"""Produce in the app: templates API, render jobs with cache, assets, uploads, CLI, preview."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.helpers import api_headers, login, make_user

SAMPLE = {
    "title": "Ngày Chuyển đổi số quốc gia 10/10",
    "body": "Nộp hồ sơ trực tuyến.",
    "url": "https://dichvucong.gov.vn",
    "cta": "Quét mã",
}


def run_jobs(app) -> dict:
    from scheduler.jobs import JobRunner

    return JobRunner(app).run_due(limit=20)


def test_templates_api_shape(app):
    r = app.test_client().get("/api/v1/templates", headers=api_headers(app, "communicator"))
    assert r.status_code == 200
    names = {t["name"]: t for t in r.json["items"]}
    assert {"social-square", "poster-a3", "video-vertical"} <= set(names)
    for t in names.values():
        assert any(f["name"] == "title" for f in t["fields"])
        for f in t["fields"]:
            assert set(f) >= {"name", "type", "required", "max_length"}
            assert f["type"] in {"text", "textarea", "list", "url", "image", "number", "date"}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"template": "khong-co", "format": "png", "data": SAMPLE}, "template"),
        ({"template": "social-square", "format": "gif", "data": SAMPLE}, "format"),
        (
            {"template": "social-square", "format": "png", "data": {**SAMPLE, "title": ""}},
            "data.title",
        ),
        (
            {"template": "social-square", "format": "png", "data": {**SAMPLE, "title": "x" * 500}},
            "data.title",
        ),
        (
            {"template": "social-square", "format": "png", "data": {**SAMPLE, "extra": 1}},
            "data.extra",
        ),
        ({"template": "social-square", "format": "pdf", "data": SAMPLE}, "format"),
        (
            {"template": "story", "format": "png", "data": {**SAMPLE, "photo": "/etc/passwd"}},
            "data.photo",
        ),
    ],
)
def test_render_bad_input(app, payload, field):
    client = app.test_client()
    r = client.post("/api/v1/renders", json=payload, headers=api_headers(app, "communicator"))
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"], r.json
    assert client.get("/api/v1/assets", headers=api_headers(app, "communicator")).json["total"] == 0


def test_render_job_asset_and_cache(app):
    client = app.test_client()
    h = api_headers(app, "communicator")
    r = client.post(
        "/api/v1/renders",
        json={"template": "social-square", "format": "png", "data": SAMPLE, "tags": ["10-10"]},
        headers=h,
    )
    assert r.status_code == 202
    job_id = r.json["id"]
    assert client.get(f"/api/v1/renders/{job_id}", headers=h).json["status"] == "pending"
    assert run_jobs(app)["jobs_done"] == 1
    job = client.get(f"/api/v1/renders/{job_id}", headers=h).json
    assert job["status"] == "done" and job["progress"] == 1.0 and job["asset_id"]
    asset = client.get(f"/api/v1/assets/{job['asset_id']}", headers=h).json
    assert asset["mime"] == "image/png" and (asset["width"], asset["height"]) == (1080, 1080)
    assert len(asset["sha256"]) == 64 and asset["tags"] == ["10-10"]
    f = client.get(f"/api/v1/assets/{asset['id']}/file", headers=h)
    assert f.status_code == 200 and Image.open(io.BytesIO(f.data)).size == (1080, 1080)
    import hashlib

    assert hashlib.sha256(f.data).hexdigest() == asset["sha256"]
    again = client.post(
        "/api/v1/renders",
        json={"template": "social-square", "format": "png", "data": SAMPLE},
        headers=h,
    )
    assert (
        again.status_code == 200 and again.json["cached"] and again.json["asset_id"] == asset["id"]
    )
    listing = client.get("/api/v1/assets?tag=10-10", headers=h).json
    assert listing["total"] == 1
    # a unit officer may view the library, not render
    officer = api_headers(app, "unit_officer")
    assert client.get("/api/v1/assets", headers=officer).status_code == 200
    assert (
        client.post(
            "/api/v1/renders",
            json={"template": "social-square", "format": "png", "data": SAMPLE},
            headers=officer,
        ).status_code
        == 403
    )


def _jpeg_with_gps() -> bytes:
    im = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    exif[0x8825] = {1: "N", 2: (10.0, 36.0, 0.0)}  # GPS IFD
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_uploads_checked_by_content(app):
    client = app.test_client()
    h = api_headers(app, "communicator")
    r = client.post(
        "/api/v1/assets",
        data={"file": (io.BytesIO(b"%PDF-1.4 not an image"), "anh.png")},
        headers=h,
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and "file" in r.json["error"]["fields"]
    big = io.BytesIO()
    Image.new("1", (20000, 20000)).save(big, "PNG")
    r = client.post(
        "/api/v1/assets",
        data={"file": (io.BytesIO(big.getvalue()), "bomb.png")},
        headers=h,
        content_type="multipart/form-data",
    )
    assert r.status_code in (413, 422) and r.json["error"]["message"]
    r = client.post(
        "/api/v1/assets",
        data={"file": (io.BytesIO(_jpeg_with_gps()), "anh.jpg"), "tags": "logo"},
        headers=h,
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.json
    a = r.json
    assert (a["width"], a["height"]) == (48, 64)  # EXIF orientation applied
    data = client.get(f"/api/v1/assets/{a['id']}/file", headers=h).data
    exif = Image.open(io.BytesIO(data)).getexif()
    assert 0x8825 not in exif
    # the uploaded image can be used by an image field, by id only
    r = client.post(
        "/api/v1/renders",
        json={"template": "story", "format": "png", "data": {**SAMPLE, "photo": a["id"]}},
        headers=h,
    )
    assert r.status_code == 202, r.json


def test_cli_templates_list_and_render(app, runner, tmp_path):
    r = runner.invoke(args=["templates", "list"])
    assert r.exit_code == 0 and "social-square" in r.output and "poster-a3" in r.output
    data = tmp_path / "d.json"
    data.write_text(json.dumps(SAMPLE, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "o.png"
    r = runner.invoke(
        args=["render", "social-square", "--format", "png", "--data", str(data), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == (1080, 1080)
    data.write_text(json.dumps({"body": "thiếu tiêu đề"}), encoding="utf-8")
    r = runner.invoke(
        args=[
            "render",
            "social-square",
            "--format",
            "png",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert r.exit_code != 0 and "title" in r.output
    assert not (tmp_path / "x.png").exists()


def test_web_preview_and_render_flow(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/media/new/social-square")
    assert page.status_code == 200 and 'name="title"' in page.text
    r = client.post("/media/preview/social-square", data=SAMPLE)
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert max(Image.open(io.BytesIO(r.data)).size) < 1080  # low resolution
    r = client.post("/media/preview/social-square", data={**SAMPLE, "title": ""})
    assert r.status_code == 422 and r.json["error"]["fields"]
    r = client.post("/media/new/social-square", data={**SAMPLE, "title": "", "format": "png"})
    assert r.status_code == 422 and "has-error" in r.text
    r = client.post("/media/new/social-square", data={**SAMPLE, "format": "png"})
    assert r.status_code == 302 and "/media/jobs/" in r.headers["Location"]
    run_jobs(app)
    status = client.get(r.headers["Location"] + "?format=json").json
    assert status["status"] == "done" and status["asset_url"]
    assert client.get(status["asset_url"]).status_code == 200


PORTRAIT = {"title": "4 bước nộp hồ sơ trực tuyến", "bullets": "Đăng nhập VNeID\nChọn thủ tục",
            "url": "https://dichvucong.gov.vn"}


def test_web_render_with_date_field(app):
    """Issue #12: filling "Ngày" on the default infographic form answered 500 (a date in the job payload)."""
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    r = client.post("/media/new/social-portrait", data={**PORTRAIT, "date": "2025-10-10", "format": "png"})
    assert r.status_code == 302 and "/media/jobs/" in r.headers["Location"]
    run_jobs(app)
    status = client.get(r.headers["Location"] + "?format=json").json
    assert status["status"] == "done", status
    # the same through the API
    r = client.post("/api/v1/renders", headers=api_headers(app, "communicator"),
                    json={"template": "social-portrait", "format": "png",
                          "data": {**PORTRAIT, "bullets": PORTRAIT["bullets"].split("\n"), "date": "11/10/2025"}})
    assert r.status_code == 202, r.json
    # a bad date is a field error, not a 500
    r = client.post("/media/new/social-portrait", data={**PORTRAIT, "date": "31/02/2025", "format": "png"})
    assert r.status_code == 422 and "has-error" in r.text and 'value="31/02/2025"' in r.text


def test_empty_optional_fields_never_print_none():
    """An empty optional date (or number) printed the word "None" on the image."""
    import media_templates as mt
    from media_templates.layout import build_layout

    tpl = mt.get_template("social-portrait")
    texts = build_layout(tpl, "png", mt.validate_data(tpl, {**PORTRAIT, "date": ""}), None).texts
    assert texts.get("date", "") == ""
    assert build_layout(tpl, "png", mt.validate_data(tpl, {**PORTRAIT, "date": "2025-10-10"}),
                        None).texts["date"] == "10/10/2025"
    for info in mt.list_templates():
        tpl = mt.get_template(info.name)
        sample = tpl.sample_data()
        required = {f["name"]: sample[f["name"]] for f in tpl.fields if f["required"] and f["name"] in sample}
        try:
            clean = mt.validate_data(tpl, required)
        except mt.TemplateError:
            continue  # a required image the sample points at elsewhere
        for fmt in tpl.formats:
            layout = build_layout(tpl, fmt, clean, None)
            for key, text in layout.texts.items():
                assert "None" not in text, (info.name, fmt, key, text)


def test_json_data_round_trips_dates():
    import media_templates as mt

    tpl = mt.get_template("social-portrait")
    clean = mt.validate_data(tpl, {**PORTRAIT, "date": "10/10/2025"})
    safe = mt.json_data(clean)
    assert safe["date"] == "2025-10-10"
    assert json.loads(json.dumps(safe)) == safe
    assert mt.validate_data(tpl, safe) == clean


def test_preview_failure_clears_the_stale_image(app):
    """The page carries a Vietnamese fallback message and the script hides the old image on failure."""
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/media/new/social-portrait").text
    assert 'id="preview-error"' in page and "Không tạo được ảnh xem trước" in page
    r = client.post("/media/preview/social-portrait", data={**PORTRAIT, "date": "hôm qua"})
    assert r.status_code == 422 and r.json["error"]["message"]
    js = client.get("/static/media/media.js").text
    assert 'img.removeAttribute("src")' in js and "data-fallback" in js


def test_media_form_states_list_limits(app):
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/media/new/social-portrait").text
    bullets = page[page.index('id="f-bullets"'):]
    bullets = bullets[:bullets.index('class="field')]
    assert "Từ 2 đến 5 mục." in bullets and "Mỗi mục tối đa 90 ký tự" in bullets


@pytest.mark.slow
def test_print_templates_offer_the_print_shops_pdfx4(app):
    """Issue #16: the media form offers PDF/X-4 for print templates; the file carries
    its CMYK output intent and the plain PDF stays a separate asset."""
    from pypdf import PdfReader

    from media_templates import pdfx
    from tests._require import missing

    if not pdfx.available():
        missing("the CMYK output profile (Debian scribus-data)")
    client = app.test_client()
    login(client, make_user(app, "communicator"))
    page = client.get("/media/new/poster-a4").get_data(as_text=True)
    assert 'value="pdf-x4"' in page and "PDF/X-4" in page
    assert 'value="pdf-x4"' not in client.get("/media/new/social-square").get_data(as_text=True)
    data = {k: v for k, v in SAMPLE.items()}
    assets = []
    for fmt in ("pdf-x4", "pdf"):
        r = client.post("/media/new/poster-a4", data={**data, "format": fmt})
        assert r.status_code == 302, r.get_data(as_text=True)[-500:]
        run_jobs(app)
        status = client.get(r.headers["Location"] + "?format=json").json
        assert status["status"] == "done", status
        from campaigns.models import Asset
        from core.db import session_scope

        with app.app_context(), session_scope(app) as s:
            asset = s.get(Asset, int(status["asset_url"].rstrip("/").rsplit("/", 1)[1]))
            assets.append(open(asset.path, "rb").read())
            assert asset.mime == "application/pdf"
    x4, plain = (PdfReader(io.BytesIO(b)) for b in assets)
    assert "/OutputIntents" in x4.trailer["/Root"] and x4.pdf_header.endswith("1.6")
    assert "/OutputIntents" not in plain.trailer["/Root"]
