"""ZIP archives that open cleanly everywhere, Windows Explorer included.

Entry names are relative, NFC-normalised, free of ``..``, drive letters,
backslashes, control characters and Windows-reserved characters or names;
every entry carries the UTF-8 flag (general purpose bit 11) so Vietnamese
names read correctly. Entries are marked as made on Unix (``create_system``
3, a plain file with mode 0644): Info-ZIP's ``unzip`` (Debian's 6.0) takes
names of entries made on MS-DOS as OEM code page text even with the UTF-8
flag and garbles them; Windows Explorer, 7-Zip and macOS read both alike.
Timestamps are fixed so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path

UTF8_FLAG = 0x800
#: a regular file, rw-r--r-- (Unix mode in the high 16 bits of external_attr)
UNIX_FILE_ATTR = (stat.S_IFREG | 0o644) << 16
#: fixed timestamp (local time in the archive): the same inputs give the same bytes
FIXED_TIME = (2025, 1, 1, 0, 0, 0)
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_BAD_CHARS = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
MAX_PART = 120
#: formats stored as they are: already compressed, or (WAV) hardly compressible and
#: costly to deflate -- storing keeps kit builds fast
STORED_SUFFIXES = {
    ".mp3",
    ".png",
    ".jpg",
    ".jpeg",
    ".zip",
    ".docx",
    ".xlsx",
    ".mp4",
    ".pdf",
    ".wav",
}


class UnsafeName(ValueError):
    pass


def safe_part(part: str) -> str:
    """One path component made safe (never empty, never '.' or '..')."""
    part = unicodedata.normalize("NFC", str(part))
    part = _BAD_CHARS.sub("_", part.replace("/", "_").replace("\\", "_"))
    part = re.sub(r"\s+", " ", part).strip().strip(".").strip()
    if not part:
        part = "_"
    stem, dot, ext = part.rpartition(".")
    base = stem if dot else part
    if base.upper() in _RESERVED:
        part = f"_{part}"
    if len(part) > MAX_PART:
        ext_part = f".{ext}" if dot and len(ext) <= 8 else ""
        part = part[: MAX_PART - len(ext_part)].rstrip() + ext_part
    return part


def safe_entry_name(name: str) -> str:
    """A relative, forward-slash, NFC name with every component made safe.

    ``..`` and ``.`` components are dropped, so nothing can climb out of the
    folder the archive is extracted into; a drive letter or leading slash is
    removed. An empty result raises :class:`UnsafeName`.
    """
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    name = re.sub(r"^[A-Za-z]:", "", name)
    parts = [p for p in name.split("/") if p.strip() not in ("", ".", "..")]
    if not parts:
        raise UnsafeName(f"Tên tệp trong kho nén không hợp lệ: {name!r}")
    return "/".join(safe_part(p) for p in parts)


def write_zip(
    out_path: Path, entries: Iterable[tuple[str, Path | bytes]]
) -> tuple[str, int, list[str]]:
    """Write ``entries`` (name, file path or bytes) to ``out_path`` atomically.

    Duplicate names get a numeric suffix. Returns (sha256, size, names).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    used: set[str] = set()
    names: list[str] = []
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for raw_name, source in entries:
                name = _unique(safe_entry_name(raw_name), used)
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                info.flag_bits |= UTF8_FLAG
                info.create_system = 3  # Unix: unzip then honours the UTF-8 flag
                info.external_attr = UNIX_FILE_ATTR
                suffix = Path(name).suffix.lower()
                info.compress_type = (
                    zipfile.ZIP_STORED if suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                )
                if isinstance(source, bytes | bytearray):
                    zf.writestr(info, bytes(source))
                else:
                    with open(source, "rb") as src, zf.open(info, "w") as dst:
                        for chunk in iter(lambda: src.read(1 << 20), b""):
                            dst.write(chunk)
                names.append(name)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    h = hashlib.sha256()
    with open(out_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), out_path.stat().st_size, names


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate.casefold() in used:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and "/" not in ext else f"{name} ({n})"
        n += 1
    used.add(candidate.casefold())
    return candidate
