"""Fit text into a box: wrap by words, shrink within a size range, or fail
with a clear error naming the field and by how much it overflows.

Widths are measured once per token with Pillow (raqm layout, so Khmer is
shaped) at a reference size and scaled linearly for candidate sizes; the
chosen size is then checked line by line. All values are canvas units.

Text may mix scripts: ``family`` is the Latin/Vietnamese family and Khmer runs
are measured in the Khmer font (``scripts_mix``). Khmer words break at
zero-width spaces or between clusters, never inside one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from . import fonts, scripts_mix
from .errors import TemplateError

_BREAK_NO_SPACE = "\u200b"


@dataclass(frozen=True)
class FittedText:
    size: float  # canvas units (em size)
    lines: tuple[tuple[str, int], ...]  # (line text, paragraph index)
    line_height: float  # canvas units
    height: float  # total block height, canvas units
    para_gap: float


_clusters = scripts_mix.clusters


@functools.lru_cache(maxsize=4096)
def _width(text: str, family: str, weight: int, ref_px: float) -> float:
    return scripts_mix.text_width(text, family, weight, ref_px)


def _tokens(paragraph: str) -> list[tuple[str, bool]]:
    """(token, joins_with_space_before)."""
    toks: list[tuple[str, bool]] = []
    for wi, word in enumerate(paragraph.split(" ")):
        if not word:
            continue
        pieces = [t for p in word.split(_BREAK_NO_SPACE) if p for t in scripts_mix.break_tokens(p)]
        for pi, piece in enumerate(pieces):
            toks.append((piece, wi > 0 and pi == 0 and bool(toks)))
    return toks


def _wrap(tokens, widths, space_w, max_w):
    """Greedy wrap; tokens wider than the line are split into clusters."""
    lines: list[str] = []
    cur, cur_w = "", 0.0
    for (tok, spaced), w in zip(tokens, widths, strict=True):
        add = (space_w if (cur and spaced) else 0.0) + w
        if cur and cur_w + add <= max_w:
            cur += (" " if spaced else "") + tok
            cur_w += add
            continue
        if cur:
            lines.append(cur)
        if w <= max_w:
            cur, cur_w = tok, w
            continue
        # a single token wider than the box: break between clusters
        cur, cur_w = "", 0.0
        per = w / max(1, len(tok))
        for cl in _clusters(tok):
            cw = per * len(cl)
            if cur and cur_w + cw > max_w:
                lines.append(cur)
                cur, cur_w = "", 0.0
            cur += cl
            cur_w += cw
    if cur:
        lines.append(cur)
    return lines


def fit_text(
    paragraphs: list[str],
    *,
    family: str,
    weight: int,
    box_w: float,
    box_h: float,
    size_min: float,
    size_max: float,
    line_spacing: float = 1.2,
    para_gap: float = 0.35,
    max_lines: int | None = None,
    field: str | None = None,
    units_label: str = "",
) -> FittedText:
    """Largest size in [size_min, size_max] at which the paragraphs fit."""
    paragraphs = [p for p in paragraphs if p.strip()]
    if not paragraphs:
        return FittedText(size_max, (), size_max * line_spacing, 0.0, 0.0)
    joined = "".join(paragraphs)
    fonts.require_complex_shaping(joined, field=field)
    scripts_mix.check_coverage(joined, family, weight, field=field)
    ref_px = 64.0
    toks = [_tokens(p) for p in paragraphs]
    widths = [[_width(t, family, weight, ref_px) for t, _ in tk] for tk in toks]
    space_ref = _width(" ", family, weight, ref_px)

    def layout(size: float):
        k = size / ref_px
        lines: list[tuple[str, int]] = []
        for pi, (tk, ws) in enumerate(zip(toks, widths, strict=True)):
            wrapped = _wrap(tk, [w * k for w in ws], space_ref * k, box_w)
            lines.extend((ln, pi) for ln in wrapped)
        lh = size * line_spacing
        height = len(lines) * lh + (len(paragraphs) - 1) * size * para_gap
        # glyphs may overhang the last line box (descenders): count the em, not the leading
        height -= lh - size * 1.05 if lines else 0
        return lines, lh, height

    def fits(size: float):
        lines, lh, height = layout(size)
        ok = height <= box_h + 1e-6 and (max_lines is None or len(lines) <= max_lines)
        return ok, lines, lh, height

    ok, lines, lh, height = fits(size_max)
    if ok:
        best = size_max
    else:
        ok_min, lines_min, lh_min, h_min = fits(size_min)
        if not ok_min:
            over = max(h_min - box_h, 0.0)
            pct = over / box_h * 100 if box_h else 100.0
            total_chars = len(joined)
            cut = max(1, int(round(total_chars * (1 - box_h / h_min)))) if h_min > box_h else 1
            extra = ""
            if max_lines is not None and len(lines_min) > max_lines:
                extra = f" ({len(lines_min)} dòng, tối đa {max_lines} dòng)"
                cut = max(cut, int(total_chars * (1 - max_lines / len(lines_min))) + 1)
            raise TemplateError(
                f"Nội dung trường '{field}' quá dài so với khung{extra}: vượt {pct:.0f}% chiều cao "
                f"ở cỡ chữ nhỏ nhất; hãy bớt khoảng {cut} ký tự.",
                field=field,
                code="text_overflow",
            )
        lo, hi = size_min, size_max
        best, lines, lh, height = size_min, lines_min, lh_min, h_min
        while hi - lo > max(0.01 * hi, 0.05):
            mid = (lo + hi) / 2
            ok, l2, lh2, h2 = fits(mid)
            if ok:
                lo, best, lines, lh, height = mid, mid, l2, lh2, h2
            else:
                hi = mid
    # exact check of the chosen lines (kerning across words)
    font_px = ref_px
    k = best / ref_px
    for ln, _ in lines:
        real = scripts_mix.text_width(ln, family, weight, font_px) * k
        if real > box_w * 1.002 and best > size_min:
            shrink = box_w / real
            return fit_text(
                paragraphs,
                family=family,
                weight=weight,
                box_w=box_w,
                box_h=box_h,
                size_min=size_min,
                size_max=max(size_min, best * shrink * 0.995),
                line_spacing=line_spacing,
                para_gap=para_gap,
                max_lines=max_lines,
                field=field,
            )
    return FittedText(best, tuple(lines), lh, height, best * para_gap)
