"""Lan Tỏa media templates: infographics, print PDFs and short videos.

Templates are data (``templates/<name>/template.yaml`` + Jinja2 text +
assets + ``sample.json``). This package imports nothing else of the project
and keeps heavy imports (numpy, fpdf2, ffmpeg) inside the functions that need
them. See docs/media.md.

Public API::

    list_templates(extra_dirs=None) -> list[TemplateInfo]
    get_template(name, extra_dirs=None) -> Template
    validate_data(template, data) -> dict
    render(name_or_template, fmt, data, out_path, *, brand=None, progress=None,
           extra_dirs=None, preview=False, options=None) -> RenderResult
    cache_key(name, fmt, data, brand, extra_dirs=None, options=None) -> str
    check_upload_image(raw, *, max_bytes=10 MiB, max_pixels=40 MP) -> bytes
    make_qr(url, size_px, *, vector=False) -> PIL.Image.Image | QrVector
    tracked_url(public_base_url, campaign_id, unit_code) -> str
    check_environment() -> dict
"""

from __future__ import annotations

from .errors import TemplateError
from .qr import QrVector, make_qr, tracked_url
from .renderer import RenderResult, cache_key, render
from .spec import (
    Template,
    TemplateInfo,
    get_template,
    json_data,
    list_templates,
    templates_dir,
    validate_data,
)
from .uploads import check_upload_image

__all__ = [
    "QrVector",
    "RenderResult",
    "Template",
    "TemplateError",
    "TemplateInfo",
    "cache_key",
    "check_environment",
    "check_upload_image",
    "get_template",
    "json_data",
    "list_templates",
    "make_qr",
    "render",
    "templates_dir",
    "tracked_url",
    "validate_data",
]


def check_environment() -> dict:
    """Start-up check for the app's log or health page: raqm (Khmer shaping
    needs the Debian package libfribidi0), ffmpeg and the font packages.

    Returns ``{"raqm": bool, "ffmpeg": str | None, "fonts": {slug: path | None},
    "pdfx_profile": str | None, "problems": [Vietnamese messages]}`` and never
    raises. ``pdfx_profile`` is the CMYK output profile of the PDF/X-4 print
    variant (Debian package scribus-data), None when missing.
    """
    from . import fonts

    problems: list[str] = []
    raqm = fonts.raqm_available()
    if not raqm:
        problems.append(
            "Pillow không có bộ dàn chữ raqm: chữ Khmer sẽ bị từ chối. Cài gói Debian 'libfribidi0'."
        )
    try:
        from .video import ffmpeg_exe

        ffmpeg: str | None = ffmpeg_exe()
    except Exception as exc:  # report, never crash start-up
        ffmpeg = None
        problems.append(f"Không tìm thấy ffmpeg (imageio-ffmpeg): {exc}")
    found: dict[str, str | None] = {}
    for slug in fonts.families():
        try:
            found[slug] = str(fonts.font_file(slug, 400)[0])
        except Exception as exc:
            found[slug] = None
            problems.append(f"Thiếu phông chữ {slug}: {exc}")
    from . import pdfx

    pdfx_profile = str(pdfx.profile_path()) if pdfx.available() else None
    if pdfx_profile is None:
        problems.append(
            "Chưa có hồ sơ màu CMYK cho bản in PDF/X-4: cài gói Debian "
            f"'{pdfx.DEBIAN_PACKAGE}' (bản PDF thường vẫn xuất được)."
        )
    return {
        "raqm": raqm,
        "ffmpeg": ffmpeg,
        "fonts": found,
        "pdfx_profile": pdfx_profile,
        "problems": problems,
    }
