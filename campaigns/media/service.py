"""Produce: render templates into content-addressed assets (the media library).

Identical inputs (template, format, data, brand) return the cached asset.
Files live under LANTOA_MEDIA_DIR/assets/<sha[:2]>/<sha>.<ext>; public URLs
(for providers that take URLs only) use an unguessable token.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from flask import Flask, current_app
from sqlmodel import Session, select

from campaigns.models import Asset
from core.timeutil import utcnow

EXT = {"png": "png", "pdf": "pdf", "mp4": "mp4", "wav": "wav", "mp3": "mp3", "jpg": "jpg"}
KIND = {"png": "image", "jpg": "image", "pdf": "pdf", "mp4": "video", "wav": "audio", "mp3": "audio"}
MIME = {"png": "image/png", "jpg": "image/jpeg", "pdf": "application/pdf", "mp4": "video/mp4",
        "wav": "audio/wav", "mp3": "audio/mpeg"}


def media_dir(app: Flask | None = None) -> Path:
    path = Path((app or current_app).config["LANTOA_MEDIA_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_file(app: Flask, src: Path, fmt: str) -> tuple[Path, str, int]:
    """Move ``src`` into the content-addressed store; returns (path, sha256, size)."""
    h = hashlib.sha256()
    with open(src, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    sha = h.hexdigest()
    dest = media_dir(app) / "assets" / sha[:2] / f"{sha}.{EXT[fmt]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        os.unlink(src)
    else:
        shutil.move(str(src), dest)
    return dest, sha, dest.stat().st_size


def find_cached(session: Session, key: str) -> Asset | None:
    return session.exec(select(Asset).where(Asset.cache_key == key)).first()


#: the print-shop variant offered beside "pdf" for print templates (PDF/X-4, CMYK output intent)
PDFX4 = "pdf-x4"


def split_format(fmt: str) -> tuple[str, dict | None]:
    """A format as chosen in the UI -> (renderer format, renderer options)."""
    return ("pdf", {"pdfx": "x4"}) if fmt == PDFX4 else (fmt, None)


def render_asset(app: Flask, session: Session, template: str, fmt: str, data: dict, *, brand: dict | None = None,
                 user_id: int | None = None, campaign_id: int | None = None, tags: list | None = None,
                 progress=None) -> Asset:
    """Render (or reuse) an asset. Raises media_templates.TemplateError on bad input."""
    import media_templates as mt

    fmt, options = split_format(fmt)
    key = mt.cache_key(template, fmt, data, brand, options=options)
    cached = find_cached(session, key)
    if cached is not None and Path(cached.path).exists():
        return cached
    tmpdir = Path(tempfile.mkdtemp(prefix="render-", dir=media_dir(app)))
    try:
        out = tmpdir / f"out.{EXT[fmt]}"
        result = mt.render(template, fmt, data, out, brand=brand, progress=progress, options=options)
        path, sha, size = store_file(app, Path(result.path), fmt)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    title = str(data.get("title", ""))[:200]
    if cached is not None:  # the file had gone missing: refresh the row
        cached.path, cached.sha256, cached.size = str(path), sha, size
        session.add(cached)
        return cached
    suffix = "-pdfx4" if options else ""
    asset = Asset(kind=KIND[fmt], path=str(path), filename=f"{template}{suffix}-{sha[:8]}.{EXT[fmt]}", mime=result.mime,
                  sha256=sha, size=size, width=result.width, height=result.height, duration=result.duration,
                  template=template, cache_key=key, public_token=secrets.token_urlsafe(24), tags=list(tags or []),
                  title=title, campaign_id=campaign_id, created_by=user_id, created_at=utcnow())
    session.add(asset)
    session.flush()
    return asset


def save_upload(app: Flask, session: Session, raw: bytes, *, title: str, tags: list, user_id: int | None) -> Asset:
    """A checked image upload (type by content, size, bomb guard, EXIF)."""
    import media_templates as mt

    clean = mt.check_upload_image(raw)
    fmt = "png" if clean[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"
    fd, tmp = tempfile.mkstemp(dir=media_dir(app))
    with os.fdopen(fd, "wb") as fh:
        fh.write(clean)
    path, sha, size = store_file(app, Path(tmp), fmt)
    existing = session.exec(select(Asset).where(Asset.sha256 == sha, Asset.template.is_(None))).first()
    if existing is not None:
        return existing
    from PIL import Image

    with Image.open(path) as im:
        width, height = im.size
    asset = Asset(kind="image", path=str(path), filename=f"upload-{sha[:8]}.{fmt}", mime=MIME[fmt], sha256=sha,
                  size=size, width=width, height=height, public_token=secrets.token_urlsafe(24),
                  tags=tags, title=title[:200], created_by=user_id, created_at=utcnow())
    session.add(asset)
    session.flush()
    return asset


def asset_json(a: Asset) -> dict:
    return {"id": a.id, "kind": a.kind, "mime": a.mime, "sha256": a.sha256, "size": a.size, "width": a.width,
            "height": a.height, "duration": a.duration, "template": a.template, "title": a.title, "tags": a.tags,
            "filename": a.filename, "campaign_id": a.campaign_id,
            "created_at": a.created_at.isoformat() if a.created_at else None,
            "file_url": f"/api/v1/assets/{a.id}/file"}


def render_job(app: Flask, payload: dict, progress) -> dict:
    """Background job ``media.render``: payload template, format, data, brand, user_id."""
    from core.db import session_scope

    with app.app_context(), session_scope(app) as session:
        asset = render_asset(app, session, payload["template"], payload["format"], payload.get("data", {}),
                             brand=payload.get("brand"), user_id=payload.get("user_id"),
                             campaign_id=payload.get("campaign_id"), tags=payload.get("tags"),
                             progress=lambda f: progress(min(0.99, float(f))))
        if payload.get("item_id") or payload.get("campaign_id"):  # started from the composer / a preset
            from campaigns.composer import attach_rendered

            attach_rendered(session, payload, asset)
        return {"asset_id": asset.id}
