"""Media API: templates, render jobs, assets (under /api/v1)."""

from __future__ import annotations

from flask import g, jsonify, request
from sqlmodel import select

from campaigns.api import ApiError, api_blueprint, body, is_id, paged, roles
from campaigns.media import service
from campaigns.models import Asset
from core.db import get_session
from core.downloads import send_download
from core.models import Role
from scheduler.models import BackgroundJob

bp = api_blueprint("media_api")

PRODUCERS = (Role.communicator,)
VIEWERS = (Role.communicator, Role.reviewer, Role.unit_officer)


@bp.get("/templates")
@roles(*VIEWERS)
def templates_list():
    import media_templates as mt

    items = [t.to_dict() for t in mt.list_templates()]
    return jsonify({"items": items, "total": len(items)})


def validate_render_request(data: dict) -> tuple[str, str, dict, dict | None]:
    import media_templates as mt

    errors = {}
    for key in data:
        if key not in ("template", "format", "data", "brand", "campaign_id", "tags"):
            errors[key] = "Trường không được hỗ trợ."
    name, fmt, values = data.get("template"), data.get("format"), data.get("data")
    if not isinstance(name, str):
        errors["template"] = "Cần tên mẫu."
    if fmt not in ("png", "pdf", "mp4"):
        errors["format"] = "Định dạng phải là png, pdf hoặc mp4."
    if not isinstance(values, dict):
        errors["data"] = "data phải là đối tượng JSON."
    brand = data.get("brand")
    if brand is not None and not isinstance(brand, dict):
        errors["brand"] = "brand phải là đối tượng JSON."
    if errors:
        raise ApiError(422, None, errors)
    try:
        template = mt.get_template(name)
        values = resolve_image_fields(template, values)
        if fmt not in template.formats:
            raise mt.TemplateError(f"Mẫu '{name}' không xuất ra định dạng {fmt}.", field="format")
        clean = mt.validate_data(template, values)
    except mt.TemplateError as exc:
        field = exc.field or ("template" if exc.code == "unknown_template" else "data")
        if exc.code == "unknown_template":
            field = "template"
        elif exc.field and exc.field not in ("format", "template"):
            field = f"data.{exc.field}"
        raise ApiError(422, exc.message, {field: exc.message}) from None
    return name, fmt, clean, brand


@bp.post("/renders")
@roles(*PRODUCERS)
def renders_create():
    import media_templates as mt
    from scheduler.jobs import enqueue_job

    session = get_session()
    data = body()
    name, fmt, clean, brand = validate_render_request(data)
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 40 for t in tags):
        raise ApiError(422, None, {"tags": "Nhãn là danh sách chuỗi ngắn."})
    key = mt.cache_key(name, fmt, clean, brand)
    cached = service.find_cached(session, key)
    if cached is not None:
        return jsonify({"id": None, "status": "done", "progress": 1.0, "asset_id": cached.id, "cached": True}), 200
    job = enqueue_job(session, "media.render", {"template": name, "format": fmt, "data": mt.json_data(clean), "brand": brand,
                                                 "user_id": g.actor.id, "tags": tags,
                                                 "campaign_id": data.get("campaign_id")},
                      dedupe_key=f"render:{key}", created_by=g.actor.id)
    session.commit()
    return jsonify(job_json(job)), 202


def resolve_image_fields(template, values: dict) -> dict:
    """Image fields take the id of an image in the media library, never a path."""
    import media_templates as mt

    out = dict(values)
    for f in template.fields:
        if f["type"] != "image" or out.get(f["name"]) in (None, ""):
            continue
        raw = out[f["name"]]
        asset = get_session().get(Asset, raw) if is_id(raw) else None
        if asset is None or asset.kind != "image":
            raise mt.TemplateError("Trường ảnh cần mã một ảnh trong thư viện (số nguyên).", field=f["name"])
        out[f["name"]] = asset.path
    return out


def job_json(job: BackgroundJob) -> dict:
    return {"id": job.id, "status": job.status, "progress": job.progress,
            "asset_id": (job.result or {}).get("asset_id"), "error": job.error}


@bp.get("/renders/<int:job_id>")
@roles(*PRODUCERS)
def renders_get(job_id: int):
    job = get_session().get(BackgroundJob, job_id)
    if job is None or job.name != "media.render":
        raise ApiError(404)
    return jsonify(job_json(job))


@bp.get("/assets")
@roles(*VIEWERS)
def assets_list():
    query = select(Asset).order_by(Asset.id.desc())
    q = request.args.get("q")
    if q:
        query = query.where(Asset.title.ilike(f"%{q[:100]}%"))
    kind = request.args.get("kind")
    if kind:
        query = query.where(Asset.kind == kind)
    tag = request.args.get("tag")
    items_filter = (lambda a: tag in (a.tags or [])) if tag else None
    if items_filter is None:
        return paged(query, service.asset_json)
    rows = [a for a in get_session().exec(query.limit(5000)).all() if items_filter(a)]
    return jsonify({"items": [service.asset_json(a) for a in rows[:1000]], "total": len(rows)})


def load_asset(asset_id: int) -> Asset:
    asset = get_session().get(Asset, asset_id)
    if asset is None:
        raise ApiError(404)
    return asset


@bp.get("/assets/<int:asset_id>")
@roles(*VIEWERS)
def assets_get(asset_id: int):
    return jsonify(service.asset_json(load_asset(asset_id)))


@bp.get("/assets/<int:asset_id>/file")
@roles(*VIEWERS)
def assets_file(asset_id: int):
    asset = load_asset(asset_id)
    return send_download(asset.path, mimetype=asset.mime, download_name=asset.filename)


@bp.post("/assets")
@roles(*PRODUCERS)
def assets_upload():
    import media_templates as mt

    session = get_session()
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(422, None, {"file": "Cần tệp ảnh (trường 'file')."})
    raw = upload.read(10 * 1024 * 1024 + 1)
    tags = [t.strip() for t in (request.form.get("tags") or "").split(",") if t.strip()][:20]
    try:
        asset = service.save_upload(_app(), session, raw,
                                    title=request.form.get("title") or upload.filename or "", tags=tags,
                                    user_id=g.actor.id)
    except mt.TemplateError as exc:
        status = 413 if exc.code in ("too_large",) else 422
        raise ApiError(status, exc.message, {"file": exc.message}) from None
    session.commit()
    return jsonify(service.asset_json(asset)), 201


def _app():
    from flask import current_app

    return current_app._get_current_object()


def openapi_paths() -> dict:
    op = lambda s, ok="200": {"summary": s, "responses": {ok: {"description": "OK"}}}  # noqa: E731
    iid = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    return {
        "/templates": {"get": op("List media templates with fields and formats")},
        "/renders": {"post": {**op("Render a template (job; cached asset when inputs are identical)", "202"),
                              "requestBody": {"content": {"application/json": {"schema": {
                                  "type": "object", "required": ["template", "format", "data"],
                                  "properties": {"template": {"type": "string"},
                                                 "format": {"type": "string", "enum": ["png", "pdf", "mp4"]},
                                                 "data": {"type": "object"}, "brand": {"type": "object"}}}}}}}},
        "/renders/{id}": {"parameters": iid, "get": op("Render job status, progress and asset_id")},
        "/assets": {"get": op("Media library (q, kind, tag)"), "post": op("Upload an image (multipart file)", "201")},
        "/assets/{id}": {"parameters": iid, "get": op("Asset metadata")},
        "/assets/{id}/file": {"parameters": iid, "get": op("Asset file")},
    }
