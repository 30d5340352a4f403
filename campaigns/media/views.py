"""Media library pages: template form, instant preview, render with progress, download."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from sqlmodel import select

from campaigns.media import service
from campaigns.models import Asset
from core.auth import actor, role_required
from core.db import get_session
from core.downloads import send_download
from core.extensions import limiter
from core.models import Role
from scheduler.models import BackgroundJob

bp = Blueprint("media", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/media")

VIEW = (Role.communicator, Role.reviewer, Role.unit_officer)


def _templates():
    import media_templates as mt

    return mt.list_templates()


@bp.route("/media")
@role_required(*VIEW)
def library():
    q = (request.args.get("q") or "").strip()[:100]
    tag = (request.args.get("tag") or "").strip()[:40]
    query = select(Asset).order_by(Asset.id.desc())
    if q:
        query = query.where(Asset.title.ilike(f"%{q}%"))
    assets = [a for a in get_session().exec(query.limit(1000)).all() if not tag or tag in (a.tags or [])][:200]
    return render_template("media/library.html", assets=assets, templates=_templates(), q=q, tag=tag)


def _form_values(template) -> dict:
    """Template field values from a submitted form (lists: one item per line)."""
    values: dict = {}
    for f in template.fields:
        name, kind = f["name"], f["type"]
        raw = request.form.get(name, "")
        if kind == "list":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items:
                values[name] = items
        elif kind == "image":
            if raw.strip():
                try:
                    values[name] = int(raw)
                except ValueError:
                    values[name] = raw
        elif kind == "number":
            if raw.strip():
                try:
                    values[name] = float(raw) if "." in raw else int(raw)
                except ValueError:
                    values[name] = raw
        elif raw.strip():
            values[name] = raw
    return values


def _validate(template, values):
    import media_templates as mt
    from campaigns.media.api import resolve_image_fields

    return mt.validate_data(template, resolve_image_fields(template, values))


@bp.route("/media/new/<name>", methods=["GET", "POST"])
@role_required(Role.communicator)
def new(name: str):
    import media_templates as mt
    from scheduler.jobs import enqueue_job

    try:
        template = mt.get_template(name)
    except mt.TemplateError:
        abort(404)
    images = get_session().exec(select(Asset).where(Asset.kind == "image").order_by(Asset.id.desc()).limit(200)).all()
    errors: dict[str, str] = {}
    if request.method == "GET":
        from campaigns import composer

        # started from the composer: the item's own text (and Khmer), not the sample
        values = composer.template_values(get_session(), template, composer.render_link(get_session(), request.args))
        values = template.sample_data() if values is None else values
    else:
        values = _form_values(template)
    if request.method == "POST":
        fmt = request.form.get("format", "")
        if fmt not in _formats(template):
            errors["format"] = _("Chọn một định dạng của mẫu này.")
        try:
            clean = _validate(template, values)
        except mt.TemplateError as exc:
            errors[exc.field or "_"] = exc.message
        if not errors:
            render_fmt, options = service.split_format(fmt)
            key = mt.cache_key(name, render_fmt, clean, None, options=options)
            session = get_session()
            cached = service.find_cached(session, key)
            from campaigns import composer

            link = composer.render_link(session, request.values)  # started from the composer
            if cached is not None:
                if composer.attach_rendered(session, link, cached):
                    session.commit()
                    flash(_("Đã gắn tệp vào nội dung."), "success")
                    return redirect(url_for("items.edit", item_id=link["item_id"]) + "#media")
                session.commit()
                flash(_("Tệp đã có sẵn trong thư viện."), "success")
                return redirect(url_for("media.asset", asset_id=cached.id))
            tags = [t.strip() for t in request.form.get("tags", "").split(",") if t.strip()][:20]
            job = enqueue_job(session, "media.render", {"template": name, "format": fmt, "data": mt.json_data(clean),
                                                         "user_id": actor().id, "tags": tags, **link},
                              dedupe_key=f"render:{key}" + (f":item{link['item_id']}" if "item_id" in link else ""),
                              created_by=actor().id)
            session.commit()
            return redirect(url_for("media.job", job_id=job.id))
    status = 422 if errors else 200
    return render_template("media/new.html", template=template, values=values, errors=errors,
                           images=images, formats=_formats(template)), status


def _formats(template) -> dict[str, str]:
    """format value -> label; print templates also offer the print shops' PDF/X-4."""
    out = {fmt: fmt.upper() for fmt in template.formats}
    if template.kind == "print" and "pdf" in out:
        from media_templates import pdfx

        if pdfx.available():
            out[service.PDFX4] = _("PDF/X-4 (gửi nhà in, màu CMYK)")
    return out


@bp.route("/media/preview/<name>", methods=["POST"])
@role_required(Role.communicator)
@limiter.limit("120 per minute")
def preview(name: str):
    """A fast low-resolution PNG of the form as it stands (for the live preview)."""
    import media_templates as mt

    try:
        template = mt.get_template(name)
        clean = _validate(template, _form_values(template))
    except mt.TemplateError as exc:
        return jsonify({"error": {"code": "validation_error", "message": exc.message,
                                  "fields": {exc.field or "_": exc.message}}}), 422
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "preview.png"
        try:
            mt.render(template, template.formats[0], clean, out, preview=True)
        except mt.TemplateError as exc:
            return jsonify({"error": {"code": "validation_error", "message": exc.message,
                                      "fields": {exc.field or "_": exc.message}}}), 422
        data = out.read_bytes()
    return send_file(io.BytesIO(data), mimetype="image/png")


@bp.route("/media/jobs/<int:job_id>")
@role_required(Role.communicator)
def job(job_id: int):
    row = get_session().get(BackgroundJob, job_id)
    if row is None or row.name != "media.render":
        abort(404)
    if request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json":
        asset_id = (row.result or {}).get("asset_id")
        from campaigns.labels import job_state_label, user_error

        return jsonify({"status": row.status, "status_label": job_state_label(row.status),
                        "progress": row.progress, "error": user_error(row.error) or None,
                        "asset_url": url_for("media.asset", asset_id=asset_id) if asset_id else None})
    return render_template("media/job.html", job=row)


@bp.route("/media/assets/<int:asset_id>")
@role_required(*VIEW)
def asset(asset_id: int):
    row = get_session().get(Asset, asset_id)
    if row is None:
        abort(404)
    return render_template("media/asset.html", asset=row)


@bp.route("/media/assets/<int:asset_id>/file")
@role_required(*VIEW)
def asset_file(asset_id: int):
    row = get_session().get(Asset, asset_id)
    if row is None:
        abort(404)
    return send_download(row.path, mimetype=row.mime, inline=request.args.get("inline") == "1",
                         download_name=row.filename)


@bp.route("/media/upload", methods=["POST"])
@role_required(Role.communicator)
def upload():
    from flask import current_app

    import media_templates as mt

    file = request.files.get("file")
    if file is None or not file.filename:
        flash(_("Vui lòng chọn tệp ảnh."), "error")
        return redirect(url_for("media.library"))
    raw = file.read(10 * 1024 * 1024 + 1)
    session = get_session()
    tags = [t.strip() for t in request.form.get("tags", "").split(",") if t.strip()][:20]
    try:
        row = service.save_upload(current_app._get_current_object(), session, raw,
                                  title=request.form.get("title") or file.filename, tags=tags, user_id=actor().id)
    except mt.TemplateError as exc:
        flash(exc.message, "error")
        return redirect(url_for("media.library"))
    session.commit()
    flash(_("Đã tải ảnh lên thư viện."), "success")
    return redirect(url_for("media.asset", asset_id=row.id))


@bp.route("/m/<token>")
@limiter.limit("600 per minute")
def public_file(token: str):
    """Unguessable public URL of an asset (providers that fetch media by URL)."""
    if not token or len(token) > 64:
        abort(404)
    row = get_session().exec(select(Asset).where(Asset.public_token == token)).first()
    if row is None:
        abort(404)
    return send_file(row.path, mimetype=row.mime, max_age=3600)
