"""Print PDFs with fpdf2: vector text with embedded font subsets (shaped with
uharfbuzz for Khmer), 3 mm bleed, crop marks and the page boxes print shops
read (TrimBox = finished size, BleedBox = trim + bleed, MediaBox = bleed +
room for the marks). Artwork is clipped to the BleedBox: only the crop marks
are painted between BleedBox and MediaBox. ``pdfx="x4"`` writes the PDF/X-4
variant (CMYK colour, output intent, GTS_PDFXVersion; see pdfx.py)."""

from __future__ import annotations

import functools
import threading
from datetime import UTC
from pathlib import Path

from . import fonts
from .layout import Layout, Op

MM = 72 / 25.4


def _producer_class():
    from fpdf.output import OutputProducer, PDFInfo
    from fpdf.syntax import Name, PDFString

    class PdfxInfo(PDFInfo):
        """Info dictionary with the PDF/X keys fpdf2 does not write."""

        def _build_obj_dict(self, _security_handler=None):
            d = super()._build_obj_dict(_security_handler)
            d["/ModDate"] = d["/CreationDate"]
            d["/Trapped"] = Name("False").serialize()
            d["/GTS_PDFXVersion"] = PDFString(self._pdfx).serialize()
            return d

    class BoxedOutputProducer(OutputProducer):
        """Adds TrimBox/BleedBox to every page (fpdf2 only writes MediaBox),
        and the PDF/X keys to the Info dictionary of a PDF/X document."""

        def _add_info(self):
            pdfx = getattr(self.fpdf, "_lantoa_pdfx", None)
            if not pdfx:
                return super()._add_info()
            info = super()._add_info()
            info.__class__ = PdfxInfo
            info._pdfx = pdfx
            return info

        def _add_pages(self, _slice=slice(0, None)):
            pages = super()._add_pages(_slice)
            b = self.fpdf._lantoa_boxes  # type: ignore[attr-defined]
            pdfx = getattr(self.fpdf, "_lantoa_pdfx", None)
            for page in pages:
                if pdfx and page.group:
                    # transparency blends in the output intent's CMYK, not DeviceRGB
                    page.group = "<</Type /Group /S /Transparency /CS /DeviceCMYK>>"
                w, h = page.dimensions()
                page.media_box = (
                    f"[0 0 {w:.3f} {h:.3f}] /BleedBox [{b['bleed'][0]:.3f} {b['bleed'][1]:.3f} {b['bleed'][2]:.3f} {b['bleed'][3]:.3f}]"
                    f" /TrimBox [{b['trim'][0]:.3f} {b['trim'][1]:.3f} {b['trim'][2]:.3f} {b['trim'][3]:.3f}]"
                )
            return pages

    return BoxedOutputProducer


_PRODUCER = None


def _producer():
    global _PRODUCER
    if _PRODUCER is None:
        _PRODUCER = _producer_class()
    return _PRODUCER


@functools.lru_cache(maxsize=2)
def _deflated(data: bytes) -> bytes:
    import zlib

    return zlib.compress(data)


def _icc_stream(cls, data: bytes):
    """A PDFICCProfile (N 4) whose 1 MB profile is deflated once per process,
    not on every render."""
    from fpdf.syntax import Name, PDFObject

    obj = cls.__new__(cls)
    PDFObject.__init__(obj)
    obj._contents = _deflated(data)
    obj.filter = Name("FlateDecode")
    obj.length = len(obj._contents)
    obj.n = 4
    obj.alternate = Name("DeviceCMYK")
    return obj


@functools.lru_cache(maxsize=16)
def _font_name(family: str, weight: int) -> str:
    return f"{family.replace('-', '')}{weight}"


_INSTANCE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=32)
def _static_instance(path: str, weight: float) -> str:
    """A static instance of a variable font at ``weight``, made once per process.

    fpdf2's ``add_font(variations=...)`` runs fontTools' instancer on every call
    (about 0.8 s for Noto Sans Khmer): a bilingual print with three Khmer weights
    paid that on every render. The instance is written to a private temp folder
    that is removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    global _INSTANCE_DIR
    with _INSTANCE_LOCK:
        if _INSTANCE_DIR is None:
            _INSTANCE_DIR = tempfile.mkdtemp(prefix="lantoa-fonts-")
            atexit.register(shutil.rmtree, _INSTANCE_DIR, True)
        out = Path(_INSTANCE_DIR) / f"{Path(path).stem}-{weight:g}.ttf"
        if not out.exists():
            font = instancer.instantiateVariableFont(TTFont(path), {"wght": weight})
            tmp = out.with_suffix(".part")
            font.save(str(tmp))
            tmp.replace(out)
    return str(out)


_INSTANCE_DIR: str | None = None


class _Pdf:
    def __init__(self, layout: Layout, fmt_spec: dict, pdfx: str | None = None):
        from fpdf import FPDF

        self.k = MM if layout.unit == "mm" else 0.75
        self.layout = layout
        print_marks = layout.unit == "mm" and fmt_spec.get("crop_marks", True)
        self.bleed = float(fmt_spec.get("bleed_mm", 3.0 if layout.unit == "mm" else 0.0)) * MM
        self.margin = self.bleed + (9.0 * MM if print_marks else 0.0)  # trim edge -> media edge, pt
        self.marks = print_marks
        self.trim_w = layout.width * self.k
        self.trim_h = layout.height * self.k
        W, H = self.trim_w + 2 * self.margin, self.trim_h + 2 * self.margin
        self.W, self.H = W, H
        pdf = FPDF(unit="pt", format=(W, H))
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        pdf.set_creator("Lan Tỏa media_templates")
        title = layout.texts.get("title", "")[:200]
        pdf.set_title(title)
        # transparency (fill_opacity, page groups) needs PDF 1.4
        pdf._set_min_pdf_version("1.4")
        self.cmyk = None
        if pdfx:
            if not title:  # PDF/X wants a title in Info and XMP alike
                title = "Lan Tỏa"
                pdf.set_title(title)
            self._pdfx(pdf, title)
        m = self.margin
        pdf._lantoa_boxes = {  # type: ignore[attr-defined]
            "trim": (m, m, W - m, H - m),
            "bleed": (m - self.bleed, m - self.bleed, W - m + self.bleed, H - m + self.bleed),
        }
        self.pdf = pdf
        self.fonts: set[str] = set()
        self.shaping = False

    def _pdfx(self, pdf, title: str) -> None:
        from datetime import datetime

        import fpdf
        from fpdf.enums import OutputIntentSubType
        from fpdf.output import PDFICCProfile

        from . import pdfx

        profile = pdfx.output_profile()
        self.cmyk = pdfx.CmykConverter(profile)
        now = datetime.now(UTC).replace(microsecond=0)
        pdf.set_creation_date(now)
        pdf.add_output_intent(
            OutputIntentSubType.PDFX,
            output_condition_identifier=profile.identifier,
            output_condition=profile.condition,
            registry_name=profile.registry,
            dest_output_profile=_icc_stream(PDFICCProfile, profile.data),
            info=profile.info,
        )
        producer = f"fpdf2 {fpdf.__version__}"
        pdf.set_producer(producer)
        pdf.set_xmp_metadata(pdfx.xmp(title, now, producer=producer, creator=pdf.creator))
        pdf._set_min_pdf_version(pdfx.PDF_VERSION)
        pdf._lantoa_pdfx = pdfx.PDFX_VERSION  # type: ignore[attr-defined]

    def color(self, rgb):
        """An fpdf2 colour: the RGB triple, or DeviceCMYK in a PDF/X-4 document."""
        if self.cmyk is None:
            return tuple(rgb[:3])
        from fpdf.drawing_primitives import DeviceCMYK

        return DeviceCMYK(*self.cmyk(rgb))

    # coordinates: canvas units -> pt on the page (y down, fpdf2 style)
    def X(self, v: float) -> float:
        return self.margin + v * self.k

    def Y(self, v: float) -> float:
        return self.margin + v * self.k

    def _bleed_box(self, op: Op):
        x, y, w, h = self.X(op.x), self.Y(op.y), op.w * self.k, op.h * self.k
        if not op.bleed or self.bleed <= 0:
            return x, y, w, h
        eps = 0.5
        lx, ty = x, y
        rx, by = x + w, y + h
        if abs(lx - self.margin) < eps:
            lx -= self.bleed
        if abs(ty - self.margin) < eps:
            ty -= self.bleed
        if abs(rx - (self.margin + self.trim_w)) < eps:
            rx += self.bleed
        if abs(by - (self.margin + self.trim_h)) < eps:
            by += self.bleed
        return lx, ty, rx - lx, by - ty

    def _font(self, family: str, weight: int) -> str:
        name = _font_name(family, weight)
        if name not in self.fonts:
            path, variable = fonts.font_file(family, weight)
            if variable:
                path = _static_instance(str(path), float(weight))
            self.pdf.add_font(name, "", str(path))
            self.fonts.add(name)
        return name

    def _fill(self, color):
        self.pdf.set_fill_color(self.color(color))

    def page(self, ops: list[Op]) -> None:
        pdf = self.pdf
        pdf.add_page()
        # Artwork is clipped to the BleedBox: shapes that run off the canvas
        # (decorative circles) must not reach the crop-mark area.
        x0, y0, x1, y1 = pdf._lantoa_boxes["bleed"]  # type: ignore[attr-defined]
        with pdf.rect_clip(x0, y0, x1 - x0, y1 - y0):
            for op in ops:
                alpha = (op.color[3] if op.color else 255) / 255
                if alpha < 1:
                    with pdf.local_context(fill_opacity=alpha, stroke_opacity=alpha):
                        self._draw(op)
                else:
                    self._draw(op)
        if self.marks:
            self._crop_marks()

    def _draw(self, op: Op) -> None:
        pdf, k = self.pdf, self.k
        if op.kind == "rect":
            x, y, w, h = self._bleed_box(op)
            self._fill(op.color)
            if op.radius:
                pdf.rect(x, y, w, h, style="F", round_corners=True, corner_radius=op.radius * k)
            else:
                pdf.rect(x, y, w, h, style="F")
        elif op.kind == "gradient":
            x, y, w, h = self._bleed_box(op)
            c1, c2 = op.color, op.color2
            horizontal = op.data.get("direction") == "horizontal"
            steps = 96
            for i in range(steps):
                f = i / (steps - 1)
                self._fill(
                    tuple(round(a + (b - a) * f) for a, b in zip(c1[:3], c2[:3], strict=True))
                )
                if horizontal:
                    sw = w / steps
                    pdf.rect(x + i * sw, y, sw + 0.3, h, style="F")
                else:
                    sh = h / steps
                    pdf.rect(x, y + i * sh, w, sh + 0.3, style="F")
        elif op.kind == "ellipse":
            x, y, w, h = self._bleed_box(op)
            if op.color is not None:
                self._fill(op.color)
                pdf.ellipse(x, y, w, h, style="F")
            if op.color2 is not None:
                pdf.set_draw_color(self.color(op.color2))
                pdf.set_line_width(op.data.get("stroke", 1) * k)
                pdf.ellipse(x, y, w, h, style="D")
        elif op.kind == "line":
            pdf.set_draw_color(self.color(op.color))
            pdf.set_line_width(op.data["stroke"] * k)
            pts = [(self.X(px), self.Y(py)) for px, py in op.data["points"]]
            pdf.polyline(pts, style="D")
        elif op.kind == "image":
            self._image(op)
        elif op.kind == "qr":
            self._qr(op)
        elif op.kind == "bar":
            self._fill(op.color)
            w = max(op.h, op.w * op.data["frac"]) * k
            pdf.rect(
                self.X(op.x),
                self.Y(op.y),
                w,
                op.h * k,
                style="F",
                round_corners=True,
                corner_radius=op.radius * k,
            )
        elif op.kind == "text":
            self._text(op)

    def _text(self, op: Op) -> None:
        """Each line is drawn run by run (``scripts_mix``): Khmer runs in the
        Khmer font shaped with uharfbuzz, the rest in the layer's family, all on
        one baseline."""
        from .scripts_mix import font_runs

        pdf = self.pdf
        d = op.data
        fs = d["size"] * self.k
        pdf.set_text_color(self.color(op.color))
        for text, ax, baseline in d["lines"]:
            runs = []
            total = 0.0
            for run, fam in font_runs(text, d["family"]):
                shaping = fam == fonts.KHMER_FAMILY
                self._set_font(fam, d["weight"], fs, shaping)
                width = (
                    pdf.get_string_width(run)
                    if (shaping or len(runs) or d["align"] != "left")
                    else 0.0
                )
                runs.append((run, fam, shaping, width))
                total += width
            x = self.X(ax)
            if d["align"] != "left":
                x -= total / 2 if d["align"] == "center" else total
            for i, (run, fam, shaping, width) in enumerate(runs):
                self._set_font(fam, d["weight"], fs, shaping)
                if shaping:
                    # FPDF.text() does not shape; cell() does. A cell of height h puts the
                    # baseline at y + h/2 + 0.3 * font size.
                    pdf.set_xy(x, self.Y(baseline) - 0.8 * fs)
                    pdf.cell(w=width + 0.01, h=fs, text=run, align="L")
                else:
                    pdf.text(x, self.Y(baseline), run)
                if i + 1 < len(runs) and not width:
                    width = pdf.get_string_width(run)
                x += width

    def _set_font(self, family: str, weight: int, size: float, shaping: bool) -> None:
        self.pdf.set_font(self._font(family, weight), size=size)
        if shaping != self.shaping:
            self.pdf.set_text_shaping(shaping)
            self.shaping = shaping

    def _image(self, op: Op) -> None:
        import os

        from .raster import _fitted_image

        x, y, w, h = self._bleed_box(op)
        dpi = 300
        wpx = max(1, round(w / 72 * dpi))
        hpx = max(1, round(h / 72 * dpi))
        # cap the embedded resolution (a standee photo need not be 10k px)
        scale = min(1.0, 4000 / max(wpx, hpx))
        wpx, hpx = max(1, round(wpx * scale)), max(1, round(hpx * scale))
        path = op.data["path"]
        img = _fitted_image(
            path,
            os.path.getmtime(path),
            wpx,
            hpx,
            op.data["fit"],
            round(op.radius * self.k / 72 * dpi * scale),
        )
        if img.getextrema()[3][0] == 255:
            img = img.convert("RGB")
        if self.cmyk is not None:
            img = self.cmyk.image(img)
        self.pdf.image(img, x, y, w, h)

    def _qr(self, op: Op) -> None:
        from .raster import qr_matrix

        m = qr_matrix(op.data["url"])
        n = len(m)
        side = min(op.w, op.h) * self.k
        mod = side / n
        x0, y0 = self.X(op.x), self.Y(op.y)
        self._fill(op.color2)
        self.pdf.rect(x0, y0, side, side, style="F")
        self._fill(op.color)
        for r, row in enumerate(m):
            c = 0
            while c < n:
                if row[c]:
                    s = c
                    while c < n and row[c]:
                        c += 1
                    # a hair of overlap hides anti-aliasing seams between modules
                    self.pdf.rect(
                        x0 + s * mod, y0 + r * mod, (c - s) * mod + 0.05, mod + 0.05, style="F"
                    )
                else:
                    c += 1

    def _crop_marks(self) -> None:
        pdf = self.pdf
        if self.cmyk is None:
            pdf.set_draw_color(0, 0, 0)
        else:  # registration colour: the marks print on every plate
            from fpdf.drawing_primitives import DeviceCMYK

            pdf.set_draw_color(DeviceCMYK(1, 1, 1, 1))
        pdf.set_line_width(0.25)
        m, b = self.margin, self.bleed
        off, length = b + 1.0 * MM, 6.0 * MM
        left, top, right, bottom = m, m, m + self.trim_w, m + self.trim_h
        for cx in (left, right):
            sx = -1 if cx == left else 1
            for cy in (top, bottom):
                sy = -1 if cy == top else 1
                pdf.line(cx + sx * off, cy, cx + sx * (off + length), cy)  # horizontal mark
                pdf.line(cx, cy + sy * off, cx, cy + sy * (off + length))  # vertical mark

    def save(self, path: Path) -> None:
        self.pdf.output(str(path), output_producer_class=_producer())


PDFX_VARIANTS = ("x4",)


def render_pdf(
    tpl, layout: Layout, out_path: Path, fmt_spec: dict, pdfx: str | None = None
) -> dict:
    """Write the print PDF; ``pdfx="x4"`` writes the PDF/X-4 variant (raises
    TemplateError ``pdfx_profile_missing`` when the CMYK profile is absent)."""
    if pdfx is not None and pdfx not in PDFX_VARIANTS:
        from .errors import TemplateError

        raise TemplateError(
            "Biến thể PDF/X không hỗ trợ (chỉ có x4: PDF/X-4).", field="pdfx", code="bad_option"
        )
    doc = _Pdf(layout, fmt_spec or {}, pdfx)
    for page in layout.pages:
        doc.page(page.ops)
    doc.save(out_path)
    return {"pages": len(layout.pages), "width_pt": doc.trim_w, "height_pt": doc.trim_h}
