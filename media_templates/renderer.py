"""render(): one entry point for every template and format."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import TemplateError
from .spec import Template, get_template, validate_data

RENDERER_VERSION = "1"
MIMES = {"png": "image/png", "pdf": "application/pdf", "mp4": "video/mp4"}


@dataclass(frozen=True)
class RenderResult:
    path: Path
    mime: str
    sha256: str
    size: int
    width: int | None
    height: int | None
    duration: float | None
    format: str
    pages: int | None = None

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "mime": self.mime,
            "sha256": self.sha256,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "duration": self.duration,
            "format": self.format,
            "pages": self.pages,
        }


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _template_digest(tpl: Template) -> str:
    h = hashlib.sha256()
    for p in sorted(tpl.path.rglob("*")):
        if p.is_file() and p.name != "sample.json" and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(tpl.path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def cache_key(
    name, fmt: str, data: dict, brand: dict | None, extra_dirs=None, options: dict | None = None
) -> str:
    """A stable key: identical template files, format, data, brand (and the
    content of referenced image files) give the same key."""
    tpl = get_template(name, extra_dirs)
    clean = validate_data(tpl, data)
    files = {}
    for f in tpl.fields:
        if f["type"] == "image" and clean.get(f["name"]):
            files[f["name"]] = _file_sha(Path(clean[f["name"]]))
    if brand and brand.get("logo_path") and Path(brand["logo_path"]).is_file():
        files["brand.logo_path"] = _file_sha(Path(brand["logo_path"]))
    payload = json.dumps(
        {
            "v": RENDERER_VERSION,
            "t": tpl.name,
            "td": _template_digest(tpl),
            "f": fmt,
            "d": clean,
            "b": brand or {},
            "files": files,
            "o": options or {},
        },
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def atomic_output(out_path: Path, suffix: str):
    """Yield a temp path next to ``out_path``; rename on success, delete on error."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=out_path.parent, prefix=f".{out_path.name}.", suffix=f".part.{suffix}"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _check_brand(brand: dict | None) -> None:
    if brand is None:
        return
    if not isinstance(brand, dict):
        raise TemplateError(
            "Bộ nhận diện (brand) phải là một từ điển.", field="brand", code="bad_type"
        )
    logo = brand.get("logo_path")
    if logo and not Path(logo).is_file():
        raise TemplateError(
            "Không tìm thấy tệp logo của bộ nhận diện.",
            field="brand.logo_path",
            code="missing_file",
        )
    if logo:
        from .spec import _check_image_file

        _check_image_file("brand.logo_path", Path(logo))


def render(
    name_or_template,
    fmt: str,
    data: dict,
    out_path,
    *,
    brand: dict | None = None,
    progress: Callable[[float], None] | None = None,
    extra_dirs=None,
    preview: bool = False,
    options: dict | None = None,
) -> RenderResult:
    """Render a template to ``out_path`` (written atomically).

    ``fmt`` is ``png``, ``pdf`` or ``mp4``; ``preview=True`` always yields a
    small PNG (first page / title card) for the UI's instant preview.
    ``options`` (mostly for tests and benchmarks): ``scale`` (raster/video
    size factor), ``fps``, ``slide_seconds``, ``transition``, ``min_seconds``,
    ``network`` (reels|tiktok|youtube_shorts|facebook|zalo), ``voiceover``
    (bool), ``music`` (bool), ``crf``, ``preset``, ``page`` (png of page N),
    ``pdfx`` (``"x4"``: the PDF/X-4 variant of a print PDF).
    """
    from . import raster

    tpl = get_template(name_or_template, extra_dirs)
    options = dict(options or {})
    if fmt not in MIMES:
        raise TemplateError(
            f"Định dạng '{fmt}' không hỗ trợ (png, pdf, mp4).",
            field="format",
            code="unsupported_format",
        )
    if not preview:
        tpl.format_spec(fmt)
    _check_brand(brand)
    clean = validate_data(tpl, data)
    out_path = Path(out_path)
    report = progress or (lambda _f: None)

    if preview or fmt == "png":
        spec_fmt = fmt if fmt in tpl.formats else tpl.formats[0]
        if tpl.kind == "video":
            from .video import title_layout

            lay = title_layout(
                tpl,
                spec_fmt if not preview else "mp4" if "mp4" in tpl.formats else spec_fmt,
                clean,
                brand,
            )
        else:
            lay = _cached_layout(tpl, "png" if "png" in tpl.formats else spec_fmt, clean, brand)
        k = raster.px_per_unit(
            lay,
            tpl.spec.get("formats", {}).get("png") or {},
            preview=preview,
            scale=float(options.get("scale", 1.0)),
        )
        page = int(options.get("page", 0))
        if not 0 <= page < len(lay.pages):
            raise TemplateError(
                f"Mẫu chỉ có {len(lay.pages)} trang.", field="page", code="bad_page"
            )
        im = raster.render_image(lay, k, page)
        with atomic_output(out_path, "png") as tmp:
            raster.save_png(im, tmp)
        report(1.0)
        return _result(out_path, "png", im.width, im.height, None, None)

    if fmt == "pdf":
        from .pdf import render_pdf

        lay = _cached_layout(tpl, "pdf", clean, brand)
        with atomic_output(out_path, "pdf") as tmp:
            info = render_pdf(tpl, lay, tmp, tpl.format_spec("pdf"), pdfx=options.get("pdfx"))
        report(1.0)
        return _result(out_path, "pdf", info["width_pt"], info["height_pt"], None, info["pages"])

    from .video import render_video

    # one video render at a time per process (a worker) by default: each ffmpeg
    # encode already uses every core and up to ~0.6 GB at 1080x1920
    with _video_slots(), atomic_output(out_path, "mp4") as tmp:
        info = render_video(tpl, clean, brand, tmp, options=options, progress=report)
    report(1.0)
    return _result(out_path, "mp4", info["width"], info["height"], info["duration"], None)


_VIDEO_SLOTS = threading.BoundedSemaphore(
    max(1, int(os.environ.get("LANTOA_VIDEO_RENDERS", "1") or 1))
)


def _video_slots() -> threading.BoundedSemaphore:
    """LANTOA_VIDEO_RENDERS (default 1) concurrent video renders per process."""
    return _VIDEO_SLOTS


def _result(path: Path, fmt: str, w, h, duration, pages) -> RenderResult:
    return RenderResult(
        path=path,
        mime=MIMES[fmt],
        sha256=_file_sha(path),
        size=path.stat().st_size,
        width=None if w is None else int(round(w)),
        height=None if h is None else int(round(h)),
        duration=duration,
        format=fmt,
        pages=pages,
    )


_LAYOUTS: dict[tuple, object] = {}
_LAYOUT_LOCK = threading.Lock()


def _cached_layout(tpl: Template, fmt: str, clean: dict, brand: dict | None):
    from .layout import build_layout, data_key

    key = (tpl.name, str(tpl.path), tpl.mtime, fmt, data_key(clean, brand))
    hit = _LAYOUTS.get(key)
    if hit is None:
        hit = build_layout(tpl, fmt, clean, brand)
        with _LAYOUT_LOCK:
            if len(_LAYOUTS) > 128:
                _LAYOUTS.clear()
            _LAYOUTS[key] = hit
    return hit
