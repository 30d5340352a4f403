"""Lan Tỏa media templates: infographics, print PDFs and short videos.

Templates are data (``templates/<name>/template.yaml`` + Jinja2 text +
assets + ``sample.json``). This package imports nothing else of the project
and keeps heavy imports (numpy, moviepy) inside the functions that need them.

Public API::

    list_templates(extra_dirs=None) -> list[TemplateInfo]
    get_template(name, extra_dirs=None) -> Template
    validate_data(template, data) -> dict
    render(name_or_template, fmt, data, out_path, *, brand=None, progress=None,
           extra_dirs=None, preview=False, options=None) -> RenderResult
    cache_key(name, fmt, data, brand, extra_dirs=None) -> str
    check_upload_image(raw, *, max_bytes=10 MiB, max_pixels=40 MP) -> bytes
    make_qr(url, size_px, *, vector=False) -> PIL.Image.Image | QrVector
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import TemplateError
from .qr import QrVector, make_qr
from .renderer import RenderResult, cache_key, render
from .spec import Template, TemplateInfo, get_template, list_templates, templates_dir, validate_data
from .uploads import check_upload_image

__all__ = [
    "QrVector",
    "RenderResult",
    "Template",
    "TemplateError",
    "TemplateInfo",
    "cache_key",
    "check_upload_image",
    "get_template",
    "list_templates",
    "make_qr",
    "render",
    "templates_dir",
    "validate_data",
]

ProgressFn = Callable[[float], None]
_ = (Path, Any)
