"""Draw a Layout with Pillow (PNG output, previews, video frames)."""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from . import fonts
from .layout import Layout, Op

_ANCHORS = {"left": "ls", "center": "ms", "right": "rs"}


def px_per_unit(
    layout: Layout, fmt_spec: dict | None = None, *, preview: bool = False, scale: float = 1.0
) -> float:
    if layout.unit == "mm":
        dpi = float((fmt_spec or {}).get("dpi", 100))
        k = dpi / 25.4
    else:
        k = 1.0
    if preview:
        longest = max(layout.width, layout.height) * k
        k *= min(1.0, 640.0 / longest)
    return k * scale


@functools.lru_cache(maxsize=32)
def _gradient(w: int, h: int, c1: tuple, c2: tuple, direction: str):
    from PIL import Image

    ramp = Image.linear_gradient("L")  # 256x256, black at top
    if direction == "horizontal":
        ramp = ramp.rotate(90, expand=True)  # black (colour 1) on the left
    elif direction == "diagonal":
        ramp = ramp.rotate(45, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=None)
    mask = ramp.resize((max(1, w), max(1, h)), Image.Resampling.BILINEAR)
    a = Image.new("RGBA", (w, h), c1)
    b = Image.new("RGBA", (w, h), c2)
    return Image.composite(b, a, mask)


def _load_image(path: str):
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return im.convert("RGBA")


@functools.lru_cache(maxsize=64)
def _fitted_image(path: str, mtime: float, w: int, h: int, fit: str, radius: int):
    from PIL import Image, ImageDraw, ImageOps

    im = _load_image(path)
    if fit == "cover":
        out = ImageOps.fit(im, (w, h), Image.Resampling.LANCZOS)
    else:
        im.thumbnail((w, h), Image.Resampling.LANCZOS)
        out = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        out.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
    if radius > 0:
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, fill=255)
        alpha = out.getchannel("A")
        from PIL import ImageChops

        out.putalpha(ImageChops.multiply(alpha, mask))
    return out


@functools.lru_cache(maxsize=64)
def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(url)
    qr.make(fit=True)
    return tuple(tuple(bool(c) for c in row) for row in qr.get_matrix())


@functools.lru_cache(maxsize=32)
def _qr_image(url: str, side: int, fg: tuple, bg: tuple):
    from PIL import Image

    m = qr_matrix(url)
    n = len(m)
    small = Image.new("L", (n, n), 255)
    small.putdata([0 if c else 255 for row in m for c in row])
    module = max(1, side // n)
    big = small.resize((n * module, n * module), Image.Resampling.NEAREST)
    out = Image.new("RGBA", (side, side), bg)
    fgimg = Image.new("RGBA", big.size, fg)
    off = (side - big.width) // 2
    out.paste(fgimg, (off, off), big.point(lambda v: 255 - v))
    return out


def _r(v: float) -> int:
    return int(round(v))


def draw_ops(im, ops: list[Op], k: float, *, t: float | None = None) -> None:
    """Draw ``ops`` onto the RGB image ``im`` at ``k`` px per unit.

    ``t`` (0..1) animates bars and their numbers; None draws the final state.
    """
    from PIL import ImageDraw

    draw = ImageDraw.Draw(im, "RGBA")
    skip_numbers = set()
    if t is not None:
        skip_numbers = {
            id(op.data["number_op"]) for op in ops if op.kind == "bar" and op.data.get("number_op")
        }
    for op in ops:
        x0, y0 = op.x * k, op.y * k
        x1, y1 = (op.x + op.w) * k, (op.y + op.h) * k
        if op.kind == "rect":
            if op.radius:
                draw.rounded_rectangle(
                    (x0, y0, x1 - 1, y1 - 1), radius=op.radius * k, fill=op.color
                )
            elif op.color[3] == 255:  # opaque: a plain fill, no blending
                im.paste(op.color[:3], (_r(x0), _r(y0), _r(x1), _r(y1)))
            else:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=op.color)
        elif op.kind == "gradient":
            g = _gradient(
                _r(x1 - x0), _r(y1 - y0), op.color, op.color2, op.data.get("direction", "vertical")
            )
            im.paste(g, (_r(x0), _r(y0)), g if (op.color[3] < 255 or op.color2[3] < 255) else None)
        elif op.kind == "ellipse":
            if op.color is not None:
                draw.ellipse((x0, y0, x1, y1), fill=op.color)
            if op.color2 is not None:
                draw.ellipse(
                    (x0, y0, x1, y1),
                    outline=op.color2,
                    width=max(1, _r(op.data.get("stroke", 1) * k)),
                )
        elif op.kind == "line":
            pts = [(px * k, py * k) for px, py in op.data["points"]]
            draw.line(pts, fill=op.color, width=max(1, _r(op.data["stroke"] * k)), joint="curve")
        elif op.kind == "image":
            path = op.data["path"]
            img = _fitted_image(
                path,
                os.path.getmtime(path),
                _r(x1 - x0),
                _r(y1 - y0),
                op.data["fit"],
                _r(op.radius * k),
            )
            im.paste(img, (_r(x0), _r(y0)), img)
        elif op.kind == "qr":
            side = _r(min(x1 - x0, y1 - y0))
            q = _qr_image(op.data["url"], side, op.color, op.color2)
            im.paste(q, (_r(x0), _r(y0)))
        elif op.kind == "bar":
            frac = op.data["frac"] * (1.0 if t is None else _ease(t, op.data["index"]))
            if frac > 0:
                bw = max(op.h * k, (x1 - x0) * frac)
                draw.rounded_rectangle(
                    (x0, y0, x0 + bw - 1, y1 - 1), radius=op.radius * k, fill=op.color
                )
            nop = op.data.get("number_op")
            if t is not None and nop is not None:
                from .layout import _fmt_num

                v = op.data["value"] * _ease(t, op.data["index"])
                shown = _fmt_num(
                    round(v)
                    if abs(op.data["value"] - round(op.data["value"])) < 1e-9
                    else round(v, 1)
                )
                _draw_text(im, nop, k, override=shown + op.data["suffix"])
        elif op.kind == "text":
            if id(op) in skip_numbers:
                continue
            _draw_text(im, op, k)


def _ease(t: float, index: int) -> float:
    # staggered ease-out: bar i starts a little after bar i-1
    start = 0.12 * index
    u = min(1.0, max(0.0, (t - start) / max(0.2, 1.0 - start - 0.15)))
    return 1 - (1 - u) ** 3


@functools.lru_cache(maxsize=1024)
def _line_mask(text: str, family: str, weight: int, px: float, anchor: str):
    """The rendered coverage mask of one line, and its offset from the anchor.

    The line is drawn run by run (``scripts_mix``): Khmer runs in the Khmer
    font, the rest in ``family``, all on one baseline."""
    from PIL import Image, ImageDraw

    from .scripts_mix import font_runs

    runs = [(run, fonts.pil_font(fam, weight, px)) for run, fam in font_runs(text, family)]
    if len(runs) == 1:  # one script: Pillow anchors the line itself
        font = runs[0][1]
        left, top, right, bottom = font.getbbox(text, anchor=anchor)
        mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
        ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor=anchor)
        return mask, left, top
    # several runs: pen positions from the left end of the baseline
    pens, x = [], 0.0
    for run, font in runs:
        pens.append(x)
        x += font.getlength(run)
    shift = {"m": -x / 2, "r": -x}.get(anchor[0], 0.0)
    boxes = []
    for (run, font), pen in zip(runs, pens, strict=True):
        l0, t0, r0, b0 = font.getbbox(run, anchor="ls")
        boxes.append((l0 + pen + shift, t0, r0 + pen + shift, b0))
    left = int(min(b[0] for b in boxes)) - 1
    top = int(min(b[1] for b in boxes)) - 1
    right = int(max(b[2] for b in boxes)) + 2
    bottom = int(max(b[3] for b in boxes)) + 2
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    draw = ImageDraw.Draw(mask)
    for (run, font), pen in zip(runs, pens, strict=True):
        draw.text((pen + shift - left, -top), run, font=font, fill=255, anchor="ls")
    return mask, left, top


def _draw_text(im, op: Op, k: float, override: str | None = None) -> None:
    d = op.data
    px = round(d["size"] * k * 4) / 4
    anchor = _ANCHORS.get(d["align"], "ls")
    color = op.color
    for text, ax, baseline in d["lines"]:
        mask, left, top = _line_mask(
            override if override is not None else text, d["family"], d["weight"], px, anchor
        )
        if color[3] < 255:
            mask = mask.point(lambda v, a=color[3]: v * a // 255)
        im.paste(color[:3], (_r(ax * k) + left, _r(baseline * k) + top), mask)


def render_image(layout: Layout, k: float, page: int = 0, *, t: float | None = None):
    from PIL import Image

    w, h = _r(layout.width * k), _r(layout.height * k)
    ops = layout.pages[page].ops
    # The leading shapes (backgrounds, decorations, logo) rarely change between
    # renders of a template: draw them once and start from a copy.
    n = 0
    while n < len(ops) and ops[n].kind in _STATIC_KINDS:
        n += 1
    if n:
        key = (w, h, k, tuple(_op_key(op) for op in ops[:n]))
        base = _BACKGROUNDS.get(key)
        if base is None:
            base = Image.new("RGB", (w, h), (255, 255, 255))
            draw_ops(base, ops[:n], k)
            with _BG_LOCK:
                while len(_BACKGROUNDS) >= 16:
                    _BACKGROUNDS.pop(next(iter(_BACKGROUNDS)))
                _BACKGROUNDS[key] = base
        im = base.copy()
    else:
        im = Image.new("RGB", (w, h), (255, 255, 255))
    draw_ops(im, ops[n:], k, t=t)
    return im


_STATIC_KINDS = frozenset({"rect", "gradient", "ellipse", "line", "image"})
_BACKGROUNDS: dict = {}
_BG_LOCK = threading.Lock()


def _op_key(op: Op) -> tuple:
    extra: tuple = ()
    if op.kind == "image":
        path = op.data["path"]
        extra = (path, os.path.getmtime(path), op.data["fit"])
    elif op.kind in ("line", "ellipse"):
        extra = (tuple(op.data.get("points") or ()), op.data.get("stroke"))
    elif op.kind == "gradient":
        extra = (op.data.get("direction"),)
    return (op.kind, op.x, op.y, op.w, op.h, op.color, op.color2, op.radius, *extra)


def save_png(im, path: Path) -> None:
    from .pngwrite import save_png as _save

    _save(im, path)
