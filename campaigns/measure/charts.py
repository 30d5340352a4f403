"""Charts drawn with Pillow (no plotting library): PNG bytes for pages and reports."""

from __future__ import annotations

import io
from functools import lru_cache

INK = (31, 35, 40)
MUTED = (110, 119, 129)
GRID = (225, 229, 234)
BRAND = (11, 94, 215)
OK = (26, 127, 55)
BAD = (207, 34, 46)
GOAL = (188, 76, 0)


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    try:
        import fontpkg_be_vietnam_pro as vn

        name = "BeVietnamPro-SemiBold.ttf" if bold else "BeVietnamPro-Regular.ttf"
        return ImageFont.truetype(str(vn.ROOT / "files" / name), size)
    except (ImportError, OSError):  # pragma: no cover - font package missing
        return ImageFont.load_default(size)


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _fit(draw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def trend_png(title: str, points: list[tuple[int, float | None]], goal: float, *,
              width: int = 640, height: int = 300, scale: float = 1.0) -> bytes:
    """Month-by-month values (0–100 %) as a line, with the goal as a dashed line."""
    from PIL import Image, ImageDraw

    w, h = int(width * scale), int(height * scale)
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f, fb = _font(int(12 * scale)), _font(int(14 * scale), True)
    left, right, top, bottom = int(44 * scale), int(16 * scale), int(34 * scale), int(30 * scale)
    d.text((left, int(8 * scale)), _fit(d, title, fb, w - left - right), font=fb, fill=INK)
    pw, ph = w - left - right, h - top - bottom

    def y_of(v: float) -> float:
        return top + ph - ph * max(0.0, min(100.0, v)) / 100.0

    def x_of(m: int) -> float:
        return left + pw * (m - 1) / 11.0

    for v in range(0, 101, 25):
        y = y_of(v)
        d.line([(left, y), (left + pw, y)], fill=GRID, width=1)
        d.text((left - int(6 * scale), y), f"{v}%", font=f, fill=MUTED, anchor="rm")
    for m in range(1, 13):
        d.text((x_of(m), top + ph + int(6 * scale)), f"T{m}", font=f, fill=MUTED, anchor="ma")
    gy = y_of(goal)
    x = left
    while x < left + pw:
        d.line([(x, gy), (min(x + 8 * scale, left + pw), gy)], fill=GOAL, width=max(1, int(2 * scale)))
        x += 14 * scale
    if goal >= 85:  # near the top: label under the line, clear of the title
        d.text((left + pw, gy + int(3 * scale)), f"Mục tiêu {_vn(goal)}%", font=f, fill=GOAL, anchor="ra")
    else:
        d.text((left + pw, gy - int(3 * scale)), f"Mục tiêu {_vn(goal)}%", font=f, fill=GOAL, anchor="rd")
    pts = [(x_of(m), y_of(v)) for m, v in points if v is not None]
    if len(pts) > 1:
        d.line(pts, fill=BRAND, width=max(2, int(3 * scale)), joint="curve")
    r = 3.5 * scale
    for x, y in pts:
        d.ellipse([x - r, y - r, x + r, y + r], fill=BRAND)
    if not pts:
        d.text((left + pw / 2, top + ph / 2), "Chưa có số liệu", font=fb, fill=MUTED, anchor="mm")
    return _png(img)


def targets_png(rows: list[tuple[str, float | None, float]], *, width: int = 900, scale: float = 1.0) -> bytes:
    """Horizontal bars: each (label, value, goal); value in green when the goal is met."""
    from PIL import Image, ImageDraw

    bar_h, gap = int(18 * scale), int(12 * scale)
    label_w = int(330 * scale)
    w = int(width * scale)
    h = int(20 * scale) + len(rows) * (bar_h + gap) + int(24 * scale)
    img = Image.new("RGB", (w, max(h, int(60 * scale))), "white")
    d = ImageDraw.Draw(img)
    f = _font(int(12 * scale))
    x0, x1 = label_w + int(10 * scale), w - int(60 * scale)
    for v in range(0, 101, 25):
        x = x0 + (x1 - x0) * v / 100
        d.line([(x, int(8 * scale)), (x, h - int(20 * scale))], fill=GRID)
        d.text((x, h - int(16 * scale)), f"{v}%", font=f, fill=MUTED, anchor="ma")
    y = int(12 * scale)
    for label, value, goal in rows:
        d.text((int(4 * scale), y + bar_h / 2), _fit(d, label, f, label_w - int(8 * scale)), font=f, fill=INK,
               anchor="lm")
        d.rectangle([x0, y, x1, y + bar_h], fill=(240, 242, 245))
        if value is not None:
            xe = x0 + (x1 - x0) * max(0.0, min(100.0, value)) / 100
            d.rectangle([x0, y, xe, y + bar_h], fill=OK if value >= goal else BRAND)
            d.text((x1 + int(6 * scale), y + bar_h / 2), f"{_vn(value)}%", font=f, fill=INK, anchor="lm")
        else:
            d.text((x1 + int(6 * scale), y + bar_h / 2), "—", font=f, fill=MUTED, anchor="lm")
        gx = x0 + (x1 - x0) * max(0.0, min(100.0, goal)) / 100
        d.line([(gx, y - 3), (gx, y + bar_h + 3)], fill=GOAL, width=max(2, int(2 * scale)))
        y += bar_h + gap
    return _png(img)


def _vn(value: float) -> str:
    """62.7 -> "62,7" (charts are Vietnamese: decimal comma)."""
    return f"{value:g}".replace(".", ",")
