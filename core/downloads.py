"""Every file the app serves goes out through :func:`send_download`.

``Content-Disposition`` carries the real (NFC, Vietnamese) name as RFC 5987
``filename*`` and an ASCII ``filename`` fallback for old clients. Werkzeug's own
fallback drops letters that do not decompose (``đ`` → ``""``: "Chuyển đổi số" →
"Chuyen oi so"); ours transliterates them (:func:`ascii_filename`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

#: letters NFD does not split into a base letter and a mark, and common punctuation
_TRANSLIT = str.maketrans(
    {
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": "'",
        "”": "'",
        "\u00a0": " ",
    }
)


def ascii_filename(name: str) -> str:
    """An ASCII file name close to ``name``: ``đ`` → ``d``, other diacritics
    dropped (NFD), characters that cannot be quoted in a header replaced."""
    s = unicodedata.normalize("NFC", str(name)).translate(_TRANSLIT)
    s = unicodedata.normalize("NFD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = s.encode("ascii", "ignore").decode("ascii")
    s = re.sub(r'[\x00-\x1f\x7f"\\;]', "_", s)
    s = re.sub(r"\s+", " ", s).strip()
    if not s or s.startswith("."):  # nothing left of the stem: "tep" (Vietnamese for "file")
        s = "tep" + s
    return s


def content_disposition(name: str, *, inline: bool = False) -> str:
    """The ``Content-Disposition`` value for a file called ``name``."""
    kind = "inline" if inline else "attachment"
    name = unicodedata.normalize("NFC", str(name))
    fallback = ascii_filename(name)
    if fallback == name:
        return f'{kind}; filename="{fallback}"'
    quoted = quote(name, safe="!#$&+-.^_`|~")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


def send_download(
    source: Any, *, download_name: str, mimetype: str, inline: bool = False, **kwargs: Any
) -> Any:
    """``flask.send_file`` with our ``Content-Disposition`` (see module doc)."""
    from flask import send_file

    resp = send_file(
        source, mimetype=mimetype, as_attachment=not inline, download_name=download_name, **kwargs
    )
    resp.headers["Content-Disposition"] = content_disposition(download_name, inline=inline)
    return resp
