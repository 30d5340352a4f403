"""Turn a template spec + data + brand kit into drawing operations.

Operations are in canvas units (px for screen templates, mm for print) and
backend-neutral: ``raster.py`` draws them with Pillow, ``pdf.py`` with fpdf2.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import fonts, scripts_mix
from .errors import TemplateError
from .spec import Template
from .textfit import fit_text

PT_TO_MM = 25.4 / 72

RGBA = tuple[int, int, int, int]


@dataclass
class Op:
    kind: str  # rect | gradient | image | text | qr | ellipse | line | poly | bars
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    color: RGBA | None = None
    color2: RGBA | None = None
    radius: float = 0.0
    bleed: bool = False
    data: dict = field(default_factory=dict)


@dataclass
class Page:
    ops: list[Op]


@dataclass
class Layout:
    width: float
    height: float
    unit: str  # px | mm
    pages: list[Page]
    texts: dict[str, str]  # layer id -> rendered text (for tests, captions)
    meta: dict = field(default_factory=dict)


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")


def parse_color(value: Any, palette: dict[str, str], *, where: str = "") -> RGBA:
    if isinstance(value, (list, tuple)) and len(value) in (3, 4):
        return tuple(int(v) for v in (*value, 255)[:4])  # type: ignore[return-value]
    if isinstance(value, str):
        if value in palette:
            return parse_color(palette[value], {}, where=where)
        m = _HEX.match(value.strip())
        if m:
            rgb = m.group(1)
            a = int(m.group(2), 16) if m.group(2) else 255
            return (int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), a)
    raise TemplateError(
        f"Màu không hợp lệ: {value!r} {where}".strip(),
        field="brand" if where == "brand" else None,
        code="bad_color",
    )


def _palette(tpl: Template, brand: dict | None) -> dict[str, str]:
    pal = {
        "primary": "#0b5cab",
        "secondary": "#f2a900",
        "text": "#1a1a1a",
        "light": "#ffffff",
        "dark": "#10213a",
    }
    pal.update(tpl.spec.get("colors") or {})
    for key in ("primary", "secondary", "accent", "text"):
        if brand and brand.get(key):
            parse_color(brand[key], {}, where="brand")
            pal[key] = brand[key]
    return pal


def _context(data: dict, brand: dict | None, extra: dict | None) -> dict:
    ctx: dict[str, Any] = {}
    for k, v in data.items():
        ctx[k] = v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else v
    b = {"unit_name": "", "primary": None, "secondary": None, "logo_path": None}
    b.update(brand or {})
    ctx["brand"] = b
    ctx["unit_name"] = b.get("unit_name") or ""
    # the language of fixed labels, label('key', lang): Khmer for a Khmer-only title
    from .labels import lang_of

    ctx["lang"] = lang_of(data)
    if extra:
        ctx.update(extra)
    return ctx


def canvas_of(tpl: Template, fmt: str) -> dict:
    canvas = dict(tpl.spec.get("canvas") or {})
    canvas.update((tpl.format_spec(fmt) or {}).get("canvas") or {})
    if "width" not in canvas or "height" not in canvas:
        raise TemplateError(f"Mẫu '{tpl.name}' thiếu kích thước canvas.", code="bad_spec")
    canvas.setdefault("unit", "px")
    return canvas


def _box(layer: dict, canvas: dict, lid: str) -> tuple[float, float, float, float]:
    box = layer.get("box")
    if box is None:
        return 0.0, 0.0, float(canvas["width"]), float(canvas["height"])
    if not (isinstance(box, list) and len(box) == 4):
        raise TemplateError(f"Lớp '{lid}': 'box' phải là [x, y, rộng, cao].", code="bad_spec")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def _font_of(layer: dict, brand: dict | None, text: str) -> tuple[str, int]:
    """(Latin/Vietnamese family, weight); Khmer runs use the Khmer font (scripts_mix)."""
    font = layer.get("font") or {}
    preferred = (brand or {}).get("font") or font.get("family")
    return scripts_mix.latin_family(preferred), int(font.get("weight", 400))


def _sizes(layer: dict, canvas: dict) -> tuple[float, float]:
    size = layer.get("size", [24, 48])
    if isinstance(size, (int, float)):
        size = [size, size]
    lo, hi = float(size[0]), float(size[-1])
    if canvas["unit"] == "mm":  # print sizes are written in points
        lo, hi = lo * PT_TO_MM, hi * PT_TO_MM
    return lo, hi


def _text_of(tpl: Template, layer: dict, ctx: dict, lid: str) -> str:
    if "field" in layer and "text" not in layer and "text_file" not in layer:
        value = ctx.get(layer["field"], "")
        if isinstance(value, list):
            return "\n".join(map(str, value))
        return "" if value is None else str(value)
    return tpl.render_text(
        layer.get("text", ""), ctx, file=layer.get("text_file"), where=f"lớp '{lid}'"
    )


def _text_op(
    tpl, layer, canvas, ctx, brand, palette, lid, paragraphs, box, *, bullets=False
) -> list[Op]:
    x, y, w, h = box
    joined = "\n".join(paragraphs)
    if layer.get("uppercase"):
        paragraphs = [p.upper() for p in paragraphs]
    family, weight = _font_of(layer, brand, joined)
    lo, hi = _sizes(layer, canvas)
    field_name = layer.get("field") or layer.get("error_field") or lid
    indent_em = 1.1 if bullets else 0.0
    # bullets: shrink the wrap width by the indent at the max size (conservative)
    wrap_w = w - indent_em * hi if bullets else w
    fitted = fit_text(
        paragraphs,
        family=family,
        weight=weight,
        box_w=wrap_w,
        box_h=h,
        size_min=lo,
        size_max=hi,
        line_spacing=float(layer.get("line_spacing", 1.22)),
        para_gap=float(layer.get("para_gap", 0.45 if bullets else 0.35)),
        max_lines=layer.get("max_lines"),
        field=field_name,
    )
    if not fitted.lines:
        return []
    asc = scripts_mix.ascent(family, weight, joined)
    align = layer.get("align", "left")
    valign = layer.get("valign", "top")
    top = y
    if valign == "middle":
        top = y + (h - fitted.height) / 2
    elif valign == "bottom":
        top = y + h - fitted.height
    color = parse_color(layer.get("color", "text"), palette, where=f"lớp '{lid}'")
    size = fitted.size
    lines_out = []
    marks = []
    cur = top
    prev_para = None
    indent = indent_em * size if bullets else 0.0
    for text, para in fitted.lines:
        if prev_para is not None and para != prev_para:
            cur += fitted.para_gap
        baseline = cur + size * min(asc, 1.0) * 0.96
        if bullets and para != prev_para:
            r = size * 0.16
            marks.append(
                Op(
                    "ellipse",
                    x + size * 0.35 - r,
                    baseline - size * 0.36 - r,
                    2 * r,
                    2 * r,
                    color=parse_color(layer.get("bullet_color", "secondary"), palette),
                )
            )
        if align == "center":
            ax = x + indent + (w - indent) / 2
        elif align == "right":
            ax = x + w
        else:
            ax = x + indent
        lines_out.append((text, ax, baseline))
        cur += fitted.line_height
        prev_para = para
    op = Op(
        "text",
        x,
        y,
        w,
        h,
        color=color,
        data={
            "lines": lines_out,
            "family": family,  # Latin/Vietnamese runs; Khmer runs: fonts.KHMER_FAMILY
            "weight": weight,
            "size": size,
            "align": align,
            "field": field_name,
            "khmer": fonts.is_khmer(joined),
        },
    )
    return [*marks, op]


_ICON_STROKES = {
    # unit-square polylines (0..1), drawn in the icon's foreground colour
    "check": [[(0.27, 0.52), (0.44, 0.68), (0.74, 0.35)]],
    "doc": [
        [(0.33, 0.25), (0.67, 0.25), (0.67, 0.75), (0.33, 0.75), (0.33, 0.25)],
        [(0.41, 0.40), (0.59, 0.40)],
        [(0.41, 0.50), (0.59, 0.50)],
        [(0.41, 0.60), (0.55, 0.60)],
    ],
    "clock": [[(0.5, 0.30), (0.5, 0.52), (0.65, 0.60)]],
    "phone": [
        [(0.38, 0.24), (0.62, 0.24), (0.62, 0.76), (0.38, 0.76), (0.38, 0.24)],
        [(0.47, 0.68), (0.53, 0.68)],
    ],
    "globe": [[(0.24, 0.5), (0.76, 0.5)], [(0.5, 0.24), (0.5, 0.76)]],
    "home": [
        [(0.27, 0.50), (0.5, 0.28), (0.73, 0.50)],
        [(0.34, 0.45), (0.34, 0.72), (0.66, 0.72), (0.66, 0.45)],
    ],
}
_ICON_RINGS = {"clock": 0.27, "globe": 0.27}


def _icons(tpl, layer, canvas, ctx, brand, palette, lid, box) -> list[Op]:
    x, y, w, h = box
    items = layer.get("items") or []
    if not items:
        return []
    n = len(items)
    cell = w / n
    d = min(cell * 0.55, h * 0.55)
    bg = parse_color(layer.get("color", "primary"), palette)
    fg = parse_color(layer.get("symbol_color", "light"), palette)
    ops: list[Op] = []
    label_layer = dict(layer.get("label") or {})
    label_layer.setdefault("align", "center")
    label_layer.setdefault("size", [14, 26])
    for i, item in enumerate(items):
        cx = x + cell * i + cell / 2
        ix, iy = cx - d / 2, y
        ops.append(Op("ellipse", ix, iy, d, d, color=bg))
        sym = item.get("symbol", "check")
        if sym not in _ICON_STROKES:
            raise TemplateError(
                f"Lớp '{lid}': biểu tượng '{sym}' không có (có: {', '.join(_ICON_STROKES)}).",
                code="bad_spec",
            )
        stroke = d * 0.07
        if sym in _ICON_RINGS:
            r = _ICON_RINGS[sym] * d
            ops.append(
                Op(
                    "ellipse",
                    ix + d / 2 - r,
                    iy + d / 2 - r,
                    2 * r,
                    2 * r,
                    color=None,
                    color2=fg,
                    data={"stroke": stroke},
                )
            )
        for line in _ICON_STROKES[sym]:
            pts = [(ix + px * d, iy + py * d) for px, py in line]
            ops.append(Op("line", color=fg, data={"points": pts, "stroke": stroke}))
        label = tpl.render_text(item.get("label", ""), ctx, where=f"lớp '{lid}'")
        lb = (x + cell * i + cell * 0.04, y + d + h * 0.05, cell * 0.92, h - d - h * 0.05)
        ll = dict(label_layer)
        ll.setdefault("error_field", lid)
        # a label may hold one line per language ("Nộp hồ sơ\nដាក់ឯកសារ")
        ops.extend(_text_op(tpl, ll, canvas, ctx, brand, palette, lid, label.split("\n"), lb))
    return ops


_TARGET_RE = re.compile(
    r"^(?P<label>.+?)[:：]\s*(?P<num>\d+(?:[.,]\d+)?)\s*(?P<suffix>%|[^\d\s].{0,12})?$"
)


def parse_target(item: str, field_name: str) -> tuple[str, float, str]:
    m = _TARGET_RE.match(item.strip())
    if not m:
        raise TemplateError(
            f"Mục '{item[:40]}' của trường '{field_name}' phải có dạng 'Nhãn: số' (ví dụ 'Hồ sơ trực tuyến: 80%').",
            field=field_name,
            code="bad_type",
        )
    return (
        m.group("label").strip(),
        float(m.group("num").replace(",", ".")),
        (m.group("suffix") or "").strip(),
    )


def _bars(tpl, layer, canvas, ctx, brand, palette, lid, box) -> list[Op]:
    x, y, w, h = box
    fname = layer.get("field", "targets")
    items = [parse_target(s, fname) for s in ctx.get(fname) or []]
    if not items:
        return []
    n = len(items)
    row = h / n
    label_h = row * 0.38
    bar_h = row * 0.34
    ops: list[Op] = []
    vmax = max(100.0 if all(s == "%" for _, _, s in items) else max(v for _, v, _ in items), 1e-9)
    num_w = w * 0.22
    for i, (label, value, suffix) in enumerate(items):
        ry = y + row * i
        lbl = {
            "font": layer.get("font", {"weight": 600}),
            "size": layer.get("label_size", [16, 34]),
            "color": layer.get("label_color", "text"),
            "error_field": fname,
            "max_lines": 1,
        }
        ops.extend(
            _text_op(tpl, lbl, canvas, ctx, brand, palette, lid, [label], (x, ry, w, label_h))
        )
        by = ry + label_h + row * 0.04
        ops.append(
            Op(
                "rect",
                x,
                by,
                w - num_w,
                bar_h,
                color=parse_color(layer.get("track_color", "#e6ebf2"), palette),
                radius=bar_h / 2,
            )
        )
        num_layer = {
            "font": {"weight": 800},
            "size": layer.get("number_size", [18, 44]),
            "align": "right",
            "color": layer.get("number_color", "primary"),
            "error_field": fname,
            "max_lines": 1,
        }
        num_ops = _text_op(
            tpl,
            num_layer,
            canvas,
            ctx,
            brand,
            palette,
            lid,
            [_fmt_num(value) + suffix],
            (x + w - num_w + w * 0.02, by - bar_h * 0.35, num_w - w * 0.02, bar_h * 1.7),
        )
        ops.append(
            Op(
                "bar",
                x,
                by,
                (w - num_w),
                bar_h,
                color=parse_color(layer.get("bar_color", "primary"), palette),
                radius=bar_h / 2,
                data={
                    "frac": min(1.0, value / vmax),
                    "value": value,
                    "suffix": suffix,
                    "number_op": num_ops[-1] if num_ops else None,
                    "index": i,
                },
            )
        )
        ops.extend(num_ops)
    return ops


def _fmt_num(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v)):,}".replace(",", ".")
    return f"{v:.1f}".replace(".", ",")


def _image(tpl, layer, ctx, brand, palette, lid, box) -> list[Op]:
    src = None
    if layer["type"] == "logo":
        src = (brand or {}).get("logo_path") or (
            str(tpl.asset(layer["src"])) if layer.get("src") else None
        )
    elif layer.get("field"):
        src = ctx.get(layer["field"]) or (
            str(tpl.asset(layer["src"])) if layer.get("src") else None
        )
    elif layer.get("src"):
        src = str(tpl.asset(layer["src"]))
    x, y, w, h = box
    if not src:
        if layer.get("placeholder"):
            return [
                Op(
                    "rect",
                    x,
                    y,
                    w,
                    h,
                    color=parse_color(layer["placeholder"], palette),
                    radius=float(layer.get("radius", 0)),
                )
            ]
        return []
    return [
        Op(
            "image",
            x,
            y,
            w,
            h,
            radius=float(layer.get("radius", 0)),
            bleed=bool(layer.get("bleed")),
            data={
                "path": src,
                "fit": layer.get("fit", "contain" if layer["type"] == "logo" else "cover"),
            },
        )
    ]


def build_ops(
    tpl: Template,
    layers: list[dict],
    canvas: dict,
    ctx: dict,
    brand: dict | None,
    palette: dict,
    fmt: str,
    texts: dict,
) -> list[Op]:
    ops: list[Op] = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or "type" not in layer:
            raise TemplateError(f"Mẫu '{tpl.name}': lớp thứ {i + 1} thiếu 'type'.", code="bad_spec")
        only = layer.get("only")
        if only and fmt not in only:
            continue
        lid = str(layer.get("id") or layer.get("field") or f"{layer['type']}{i}")
        if layer.get("when"):
            cond = tpl.render_text("{{ " + layer["when"] + " }}", ctx, where=f"lớp '{lid}'")
            if cond in ("", "False", "None", "[]", "0"):
                continue
        t = layer["type"]
        box = _box(layer, canvas, lid)
        bleed = bool(layer.get("bleed", layer.get("box") is None))
        if t == "background":
            t = "gradient" if layer.get("to") else "rect"
        if t == "rect":
            ops.append(
                Op(
                    "rect",
                    *box,
                    color=parse_color(layer.get("color", "primary"), palette),
                    radius=float(layer.get("radius", 0)),
                    bleed=bleed,
                )
            )
        elif t == "gradient":
            ops.append(
                Op(
                    "gradient",
                    *box,
                    color=parse_color(layer.get("from", "primary"), palette),
                    color2=parse_color(layer.get("to", "secondary"), palette),
                    bleed=bleed,
                    data={"direction": layer.get("direction", "vertical")},
                )
            )
        elif t == "ellipse":
            ops.append(
                Op(
                    "ellipse",
                    *box,
                    color=parse_color(layer.get("color", "secondary"), palette),
                    bleed=bleed,
                )
            )
        elif t in ("image", "logo", "photo"):
            ops.extend(_image(tpl, layer, ctx, brand, palette, lid, box))
        elif t in ("text", "title", "body", "footer"):
            if t == "footer" and "text" not in layer and "field" not in layer:
                layer = {**layer, "text": "{{ unit_name }}"}
            text = _text_of(tpl, layer, ctx, lid)
            texts[lid] = text
            if text:
                ops.extend(
                    _text_op(tpl, layer, canvas, ctx, brand, palette, lid, text.split("\n"), box)
                )
        elif t == "bullets":
            items = ctx.get(layer.get("field", "bullets")) or []
            if isinstance(items, str):
                items = [items]
            texts[lid] = "\n".join(items)
            if items:
                ops.extend(
                    _text_op(
                        tpl, layer, canvas, ctx, brand, palette, lid, list(items), box, bullets=True
                    )
                )
        elif t == "icons":
            ops.extend(_icons(tpl, layer, canvas, ctx, brand, palette, lid, box))
        elif t == "qr":
            url = tpl.render_text(layer.get("url", "{{ url }}"), ctx, where=f"lớp '{lid}'")
            if url:
                ops.append(
                    Op(
                        "qr",
                        *box,
                        color=parse_color(layer.get("color", "#000000"), palette),
                        color2=parse_color(layer.get("background", "#ffffff"), palette),
                        data={"url": url},
                    )
                )
                texts[lid] = url
        elif t == "bars":
            ops.extend(_bars(tpl, layer, canvas, ctx, brand, palette, lid, box))
        else:
            raise TemplateError(f"Mẫu '{tpl.name}': loại lớp '{t}' không hỗ trợ.", code="bad_spec")
    return ops


def build_layout(
    tpl: Template,
    fmt: str,
    data: dict,
    brand: dict | None,
    *,
    layers: list | None = None,
    extra_ctx: dict | None = None,
    canvas: dict | None = None,
) -> Layout:
    """Lay out every page of ``tpl`` for ``fmt`` (``data`` already validated)."""
    canvas = canvas or canvas_of(tpl, fmt)
    palette = _palette(tpl, brand)
    ctx = _context(data, brand, extra_ctx)
    texts: dict[str, str] = {}
    if layers is not None:
        page_specs = [layers]
    elif tpl.spec.get("pages"):
        page_specs = [p.get("layers", []) for p in tpl.spec["pages"]]
    else:
        page_specs = [tpl.spec.get("layers") or []]
    pages = [Page(build_ops(tpl, ls, canvas, ctx, brand, palette, fmt, texts)) for ls in page_specs]
    return Layout(
        float(canvas["width"]),
        float(canvas["height"]),
        canvas["unit"],
        pages,
        texts,
        {"palette": palette},
    )


def data_key(data: dict, brand: dict | None) -> str:
    return json.dumps([data, brand], sort_keys=True, default=str, ensure_ascii=False)
