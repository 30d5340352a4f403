"""Web fonts served from the pip-installed font packages (no CDN): ``/fonts/<name>``.

Only Noto Sans Khmer for now, so Khmer pages (the public pages in Khmer, the
translator's pages) render the same on a phone without a Khmer system font. The
stylesheet (core/static/app.css) declares it with a Khmer ``unicode-range``: browsers
download it only for a page that has Khmer text.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Flask, abort, send_file

#: URL name -> font family of a ``fontpkg-*`` package (requirements.txt)
FONTS = {"noto-sans-khmer.ttf": "Noto Sans Khmer"}


@functools.lru_cache(maxsize=8)
def font_path(name: str) -> Path | None:
    import fontpkg

    family = FONTS.get(name)
    if family is None:
        return None
    return Path(fontpkg.family(family).files[0].path)


def serve_font(name: str):
    path = font_path(name)
    if path is None or not path.is_file():
        abort(404)
    resp = send_file(path, mimetype="font/ttf", max_age=7 * 86400, conditional=True, etag=True)
    resp.headers["Access-Control-Allow-Origin"] = "*"  # fonts are fetched in CORS mode
    return resp


def init_app(app: Flask) -> None:
    app.add_url_rule("/fonts/<name>", "webfonts.font", serve_font)
