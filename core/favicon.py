"""Draw the favicon (the same picture as core/static/favicon.svg) as a multi-size ICO.

    python -m core.favicon        # rewrites core/static/favicon.ico

A dot with two arcs spreading from it ("lan tỏa"), white and amber on the brand blue.
Drawn at 8x and scaled down so the small sizes stay smooth.
"""

from __future__ import annotations

from pathlib import Path

BLUE, WHITE, AMBER = (11, 92, 173, 255), (255, 255, 255, 255), (242, 169, 0, 255)
SIZES = (16, 32, 48, 64)
OUT = Path(__file__).resolve().parent / "static" / "favicon.ico"


def draw(size: int = 64):
    from PIL import Image, ImageDraw

    k = 8 * size / 64  # drawing units (a 64-unit box, like the SVG) -> pixels at 8x
    big = Image.new("RGBA", (8 * size, 8 * size), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)
    d.rounded_rectangle((0, 0, 64 * k - 1, 64 * k - 1), radius=14 * k, fill=BLUE)
    d.ellipse(((20 - 6) * k, (44 - 6) * k, (20 + 6) * k, (44 + 6) * k), fill=WHITE)
    for radius, colour in ((16, WHITE), (30, AMBER)):
        outer = radius + 3  # PIL draws the stroke inside the box: centre it on ``radius`` like the SVG
        box = ((20 - outer) * k, (44 - outer) * k, (20 + outer) * k, (44 + outer) * k)
        d.arc(box, start=270, end=360, fill=colour, width=round(6 * k))
        for x, y in ((20, 44 - radius), (20 + radius, 44)):  # round caps
            d.ellipse(((x - 3) * k, (y - 3) * k, (x + 3) * k, (y + 3) * k), fill=colour)
    return big.resize((size, size), Image.LANCZOS)


def write(path: Path = OUT) -> Path:
    images = [draw(s) for s in SIZES]
    images[-1].save(path, format="ICO", sizes=[(s, s) for s in SIZES], append_images=images[:-1])
    return path


if __name__ == "__main__":
    print(write())
