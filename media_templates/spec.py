"""Template folders: spec loading, field validation and Jinja2 text.

A template is a folder under ``media_templates/templates/`` (or an extra
directory) holding ``template.yaml`` (canvas, fields, layers, formats),
optional ``*.j2`` text files, assets and ``sample.json``. Adding one needs no
Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import TemplateError

SPEC_FILE = "template.yaml"
FIELD_TYPES = ("text", "textarea", "list", "url", "image", "number", "date")
FORMATS = ("png", "pdf", "mp4")
_DEFAULT_MAX = {
    "text": 200,
    "textarea": 1000,
    "list": 200,
    "url": 500,
    "image": 1000,
    "number": 30,
    "date": 10,
}


def templates_dir() -> Path:
    return Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    title: str
    description: str
    fields: list[dict]
    formats: list[str]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "fields": [dict(f) for f in self.fields],
            "formats": list(self.formats),
        }


@dataclass
class Template:
    name: str
    path: Path
    spec: dict
    fields: list[dict] = field(default_factory=list)
    # per-field extras not exposed by the API (labels, list bounds)
    field_extras: dict[str, dict] = field(default_factory=dict)
    mtime: float = 0.0

    @property
    def title(self) -> str:
        return self.spec.get("title", self.name)

    @property
    def description(self) -> str:
        return self.spec.get("description", "")

    @property
    def formats(self) -> list[str]:
        return [f for f in FORMATS if f in (self.spec.get("formats") or {})]

    @property
    def kind(self) -> str:
        return self.spec.get("kind", "image")

    def info(self) -> TemplateInfo:
        return TemplateInfo(
            self.name, self.title, self.description, [dict(f) for f in self.fields], self.formats
        )

    def sample_data(self) -> dict:
        path = self.path / "sample.json"
        if not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, value in list(data.items()):
            if (
                isinstance(value, str)
                and self.field_type(key) == "image"
                and value
                and not Path(value).is_absolute()
            ):
                data[key] = str(self.path / value)
        return data

    def field_type(self, name: str) -> str | None:
        for f in self.fields:
            if f["name"] == name:
                return f["type"]
        return None

    def format_spec(self, fmt: str) -> dict:
        formats = self.spec.get("formats") or {}
        if fmt not in formats:
            raise TemplateError(
                f"Mẫu '{self.name}' không hỗ trợ định dạng '{fmt}' (có: {', '.join(self.formats)}).",
                field="format",
                code="unsupported_format",
            )
        return formats[fmt] or {}

    def asset(self, rel: str) -> Path:
        p = (self.path / rel).resolve()
        if self.path.resolve() not in p.parents:
            raise TemplateError(f"Đường dẫn tài nguyên không hợp lệ: {rel}", code="bad_spec")
        return p

    @functools.cached_property
    def jinja(self):
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.path)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            # An optional field left empty is None after validation: print it
            # as nothing, never as the word "None" on the image.
            finalize=lambda v: "" if v is None else v,
        )
        from .labels import label

        env.globals["tr"] = label  # {{ tr("key", lang) }}: a fixed label (labels.yaml)
        env.filters["vnd"] = lambda n: f"{int(round(float(n))):,}".replace(",", ".") + " đ"
        env.filters["num"] = lambda n: (
            f"{float(n):,.0f}".replace(",", ".")
            if float(n) == int(float(n))
            else f"{float(n):,.1f}".replace(",", "#").replace(".", ",").replace("#", ".")
        )
        return env

    @functools.lru_cache(maxsize=256)  # noqa: B019 - templates live for the process
    def _compiled(self, source: str, is_file: bool):
        if is_file:
            return self.jinja.get_template(source)
        return self.jinja.from_string(source)

    def render_text(
        self, source: str | None, context: dict, *, file: str | None = None, where: str = ""
    ) -> str:
        import jinja2

        try:
            tpl = self._compiled(file, True) if file else self._compiled(source or "", False)
            out = tpl.render(**context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"Mẫu '{self.name}' dùng biến chưa có dữ liệu ({exc.message}) ở {where or 'văn bản'}.",
                field=None,
                code="undefined_variable",
            ) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(
                f"Lỗi văn bản mẫu '{self.name}' ở {where}: {exc}", code="bad_spec"
            ) from exc
        return unicodedata.normalize("NFC", out.strip())

    def __hash__(self) -> int:
        return hash((self.name, str(self.path), self.mtime))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and (self.name, self.path, self.mtime) == (
            other.name,
            other.path,
            other.mtime,
        )


def _load_yaml(path: Path) -> dict:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TemplateError(f"Tệp mẫu {path} không đọc được: {exc}", code="bad_spec") from exc
    if not isinstance(spec, dict):
        raise TemplateError(f"Tệp mẫu {path} phải là một từ điển YAML.", code="bad_spec")
    return spec


def _normalise_fields(name: str, spec: dict) -> tuple[list[dict], dict[str, dict]]:
    fields: list[dict] = []
    extras: dict[str, dict] = {}
    for raw in spec.get("fields") or []:
        if not isinstance(raw, dict) or "name" not in raw:
            raise TemplateError(f"Mẫu '{name}': mỗi trường cần có 'name'.", code="bad_spec")
        ftype = raw.get("type", "text")
        if ftype not in FIELD_TYPES:
            raise TemplateError(
                f"Mẫu '{name}': kiểu trường '{ftype}' không hợp lệ.",
                field=raw["name"],
                code="bad_spec",
            )
        fields.append(
            {
                "name": str(raw["name"]),
                "type": ftype,
                "required": bool(raw.get("required", False)),
                "max_length": int(raw.get("max_length", _DEFAULT_MAX[ftype])),
            }
        )
        extras[str(raw["name"])] = {
            k: v for k, v in raw.items() if k not in ("name", "type", "required", "max_length")
        }
    if not any(f["name"] == "title" for f in fields):
        raise TemplateError(f"Mẫu '{name}' phải có trường 'title'.", code="bad_spec")
    return fields, extras


def load_template(folder: Path) -> Template:
    spec_path = folder / SPEC_FILE
    if not spec_path.is_file():
        raise TemplateError(f"Thư mục {folder} không có {SPEC_FILE}.", code="bad_spec")
    spec = _load_yaml(spec_path)
    fields, extras = _normalise_fields(folder.name, spec)
    if not spec.get("formats"):
        raise TemplateError(f"Mẫu '{folder.name}' không khai báo định dạng nào.", code="bad_spec")
    unknown = [f for f in spec["formats"] if f not in FORMATS]
    if unknown:
        raise TemplateError(
            f"Mẫu '{folder.name}': định dạng không hỗ trợ {unknown}.", code="bad_spec"
        )
    return Template(folder.name, folder.resolve(), spec, fields, extras, spec_path.stat().st_mtime)


_CACHE: dict[Path, Template] = {}


def _folder_stamp(folder: Path) -> float:
    """Changes whenever any file of the template changes (spec, text, assets)."""
    stamp = 0.0
    count = 0
    for entry in folder.rglob("*"):
        if entry.is_file() and "__pycache__" not in entry.parts:
            st = entry.stat()
            stamp = max(stamp, st.st_mtime_ns / 1e9)
            count += st.st_size
    return stamp + count * 1e-3


def _cached_load(folder: Path) -> Template:
    stamp = _folder_stamp(folder)
    hit = _CACHE.get(folder)
    if hit is not None and hit.mtime == stamp:
        return hit
    tpl = load_template(folder)
    tpl.mtime = stamp
    _CACHE[folder] = tpl
    return tpl


def _folders(extra_dirs: list[Path] | None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in [templates_dir(), *[Path(d) for d in (extra_dirs or [])]]:
        if not base.is_dir():
            continue
        if (base / SPEC_FILE).is_file():  # a single template folder given directly
            found[base.name] = base
            continue
        for child in sorted(base.iterdir()):
            if (child / SPEC_FILE).is_file():
                found[child.name] = child
    return found


def list_templates(extra_dirs: list[Path] | None = None) -> list[TemplateInfo]:
    return [_cached_load(p).info() for _, p in sorted(_folders(extra_dirs).items())]


def get_template(name: str, extra_dirs: list[Path] | None = None) -> Template:
    if isinstance(name, Template):
        return name
    folders = _folders(extra_dirs)
    if not isinstance(name, str) or name not in folders:
        raise TemplateError(
            f"Không có mẫu '{name}'. Các mẫu hiện có: {', '.join(sorted(folders))}.",
            field="template",
            code="unknown_template",
        )
    return _cached_load(folders[name])


# ----------------------------------------------------------------- validation

_URL_RE = re.compile(r"^https?://", re.I)
_NUM_RE = re.compile(r"^[+-]?\d{1,3}(?:[.\s]\d{3})*(?:,\d+)?$|^[+-]?\d+(?:[.,]\d+)?$")


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def _parse_number(name: str, value: Any) -> float | int:
    if isinstance(value, bool):
        raise TemplateError(f"Trường '{name}' phải là một số.", field=name, code="bad_type")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        s = value.strip().replace("\u00a0", " ")
        if _NUM_RE.match(s):
            if "," in s and "." in s or " " in s or re.match(r"^[+-]?\d{1,3}(\.\d{3})+$", s):
                s = s.replace(".", "").replace(" ", "")
            s = s.replace(",", ".")
            num = float(s)
            return int(num) if num.is_integer() else num
    raise TemplateError(
        f"Trường '{name}' phải là một số (nhận được: {str(value)[:30]!r}).",
        field=name,
        code="bad_type",
    )


def _parse_date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        s = value.strip()
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return dt.datetime.strptime(s, fmt).date()
            except ValueError:
                pass
    raise TemplateError(
        f"Trường '{name}' phải là ngày dạng dd/mm/yyyy hoặc YYYY-MM-DD (nhận được: {str(value)[:30]!r}).",
        field=name,
        code="bad_type",
    )


def json_data(clean: dict) -> dict:
    """``validate_data()`` output made JSON-safe (dates as YYYY-MM-DD), for job
    payloads and JSON columns; ``validate_data()`` reads it back unchanged."""
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in clean.items()}


def validate_data(template: Template | str, data: dict) -> dict:
    """Check and normalise ``data`` against the template's fields.

    Returns a new dict: strings NFC and stripped, lists as lists of strings,
    numbers as int/float, dates as ``datetime.date``; optional fields that are
    absent are filled with an empty value so Jinja's StrictUndefined only
    catches real spec mistakes.
    """
    tpl = get_template(template) if isinstance(template, str) else template
    if not isinstance(data, dict):
        raise TemplateError("Dữ liệu mẫu phải là một đối tượng JSON (từ điển).", code="bad_type")
    known = {f["name"]: f for f in tpl.fields}
    extra = [k for k in data if k not in known]
    if extra:
        raise TemplateError(
            f"Trường không có trong mẫu '{tpl.name}': {', '.join(map(str, extra))}.",
            field=str(extra[0]),
            code="unknown_field",
        )
    out: dict[str, Any] = {}
    for name, f in known.items():
        ftype, maxlen = f["type"], f["max_length"]
        extras = tpl.field_extras.get(name, {})
        value = data.get(name)
        if isinstance(value, str):
            value = _nfc(value)
        empty = value is None or value == "" or value == []
        if empty:
            if f["required"]:
                raise TemplateError(
                    f"Thiếu trường bắt buộc '{name}'.", field=name, code="missing_field"
                )
            out[name] = (
                [] if ftype == "list" else ("" if ftype in ("text", "textarea", "url") else None)
            )
            continue
        if ftype in ("text", "textarea", "url"):
            if not isinstance(value, str):
                raise TemplateError(
                    f"Trường '{name}' phải là văn bản.", field=name, code="bad_type"
                )
            if ftype == "text":
                value = " ".join(value.split())
            if len(value) > maxlen:
                raise TemplateError(
                    f"Trường '{name}' dài {len(value)} ký tự, vượt giới hạn {maxlen} ký tự ({len(value) - maxlen} ký tự thừa).",
                    field=name,
                    code="too_long",
                )
            if ftype == "url":
                parsed = urlparse(value)
                if not _URL_RE.match(value) or not parsed.netloc or " " in value:
                    raise TemplateError(
                        f"Trường '{name}' phải là địa chỉ web bắt đầu bằng http:// hoặc https://.",
                        field=name,
                        code="bad_url",
                    )
            out[name] = value
        elif ftype == "list":
            if isinstance(value, str):
                value = [line for line in value.splitlines()]
            if not isinstance(value, list) or not all(
                isinstance(v, (str, int, float)) for v in value
            ):
                raise TemplateError(
                    f"Trường '{name}' phải là danh sách văn bản.", field=name, code="bad_type"
                )
            items = [" ".join(_nfc(str(v)).split()) for v in value]
            items = [v for v in items if v]
            lo, hi = int(extras.get("min_items", 0)), int(extras.get("max_items", 10))
            if f["required"] and not items:
                raise TemplateError(
                    f"Thiếu trường bắt buộc '{name}'.", field=name, code="missing_field"
                )
            if items and len(items) < lo:
                raise TemplateError(
                    f"Trường '{name}' cần ít nhất {lo} mục (có {len(items)}).",
                    field=name,
                    code="too_few",
                )
            if len(items) > hi:
                raise TemplateError(
                    f"Trường '{name}' có {len(items)} mục, tối đa {hi} mục.",
                    field=name,
                    code="too_many",
                )
            for i, item in enumerate(items, 1):
                if len(item) > maxlen:
                    raise TemplateError(
                        f"Mục {i} của trường '{name}' dài {len(item)} ký tự, vượt giới hạn {maxlen} ký tự.",
                        field=name,
                        code="too_long",
                    )
            out[name] = items
        elif ftype == "number":
            out[name] = _parse_number(name, value)
        elif ftype == "date":
            out[name] = _parse_date(name, value)
        elif ftype == "image":
            if not isinstance(value, str):
                raise TemplateError(
                    f"Trường '{name}' phải là đường dẫn tệp ảnh.", field=name, code="bad_type"
                )
            path = Path(value)
            if not path.is_file():
                raise TemplateError(
                    f"Không tìm thấy tệp ảnh của trường '{name}'.", field=name, code="missing_file"
                )
            _check_image_file(name, path)
            out[name] = str(path)
    return out


def _check_image_file(name: str, path: Path) -> None:
    """Header-only check that a stored file is an image we draw (PNG/JPEG/WebP)
    of sane size; uploads go through check_upload_image() before this."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, (w, h) = im.format, im.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise TemplateError(
            f"Tệp của trường '{name}' không phải là ảnh hợp lệ.", field=name, code="not_an_image"
        ) from exc
    if fmt not in ("PNG", "JPEG", "WEBP"):
        raise TemplateError(
            f"Ảnh của trường '{name}' phải là PNG, JPEG hoặc WebP.",
            field=name,
            code="bad_image_type",
        )
    if w * h > 40_000_000:
        raise TemplateError(
            f"Ảnh của trường '{name}' quá lớn ({w}×{h} điểm ảnh).",
            field=name,
            code="too_many_pixels",
        )
