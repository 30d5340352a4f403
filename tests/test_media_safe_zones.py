"""9:16 story layouts keep the QR code, text and logo out of the bands the apps
cover (top 250 px: profile and progress bar; bottom 250 px: the reply box),
checked on the layout boxes of every page or slide."""

from __future__ import annotations

import pytest

import media_templates as mt
from media_templates.layout import build_layout
from tests.media_helpers import BRAND


def _brand(tmp_path):
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGBA", (64, 64), (200, 30, 30, 255)).save(logo)
    return {**BRAND, "logo_path": str(logo)}


def _layouts(name: str, brand: dict):
    tpl = mt.get_template(name)
    data = mt.validate_data(tpl, tpl.sample_data())
    if tpl.kind == "video":
        from media_templates.video import slide_layouts

        return tpl, [lay for lay, _voice, _kind in slide_layouts(tpl, data, brand)]
    return tpl, [build_layout(tpl, "png", data, brand)]


def _guarded_ops(lay, logo_path: str):
    """(what, op) for every text, QR code and logo drawn on the layout's pages."""
    for page in lay.pages:
        for op in page.ops:
            if op.kind == "text" and any(t.strip() for t, _x, _y in op.data.get("lines", [])):
                yield f"text {op.data.get('field') or ''}".strip(), op
            elif op.kind == "qr":
                yield "qr", op
            elif op.kind == "image" and op.data.get("path") == logo_path:
                yield "logo", op


SAFE_TEMPLATES = ["story", "video-vertical"]


def test_the_9_16_templates_declare_their_safe_zone():
    for name in SAFE_TEMPLATES:
        tpl = mt.get_template(name)
        zone = tpl.spec.get("safe_zone")
        canvas = tpl.spec["canvas"]
        assert (canvas["width"], canvas["height"]) == (1080, 1920), name
        assert zone == {"top": 250, "bottom": 250}, name


@pytest.mark.parametrize("name", SAFE_TEMPLATES)
def test_qr_text_and_logo_stay_out_of_the_covered_bands(name, tmp_path):
    brand = _brand(tmp_path)
    tpl, layouts = _layouts(name, brand)
    zone = tpl.spec["safe_zone"]
    seen = set()
    for lay in layouts:
        k = lay.height / 1920  # proportional at any canvas size
        top, bottom = zone["top"] * k, lay.height - zone["bottom"] * k
        for what, op in _guarded_ops(lay, brand["logo_path"]):
            seen.add(what.split()[0])
            assert op.y >= top - 1e-6, (name, what, op.y, top)
            assert op.y + op.h <= bottom + 1e-6, (name, what, op.y + op.h, bottom)
            if op.kind == "text":  # the drawn lines too, not only their box
                size = op.data["size"]
                for _text, _x, baseline in op.data["lines"]:
                    assert top <= baseline - size and baseline + 0.3 * size <= bottom
    assert {"qr", "text", "logo"} <= seen, seen  # the check saw what it guards


def test_story_png_has_nothing_but_background_in_the_bands(tmp_path):
    """At a small scale (270×480) the bands hold only the photo/gradient: the
    QR code's white card and the footer text are inside the safe area."""
    import numpy as np
    from PIL import Image

    res = mt.render(
        "story",
        "png",
        mt.get_template("story").sample_data(),
        tmp_path / "s.png",
        brand=BRAND,
        options={"scale": 0.25},
    )
    with Image.open(res.path) as im:
        arr = np.asarray(im.convert("RGB"), np.int16)
    h = arr.shape[0]
    band = int(round(250 * h / 1920))
    bottom = arr[h - band :]
    # no white QR card or light text in the bottom band: it is the dark gradient
    assert (bottom.min(axis=2) > 200).sum() == 0
    # the QR card (white) is just above the band
    above = arr[h - band - int(round(120 * h / 1920)) : h - band]
    assert (above.min(axis=2) > 240).sum() > 50
