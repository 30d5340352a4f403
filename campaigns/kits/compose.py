"""Composed kit builds: what is the same for every unit is rendered once per
build run and reused; what differs is composed per unit.

- **Print PDFs.** A template's layout is split into the operations that do not
  depend on the unit (the artwork: background, headline, body, points, icons)
  and those that do (unit name, hotline, address, QR code, tracked link). The
  split is found by laying the template out a second time with stand-in unit
  values (a *probe*): an operation that comes out the same both times does not
  depend on the unit. The artwork is drawn once (one PDF, keyed by a hash of
  its operations) and each unit's page shows it as a shared form XObject,
  with a small per-unit overlay PDF drawn on top. An artwork operation that
  comes after a unit operation and overlaps it moves to the overlay too, so the
  painting order -- and the look -- stays that of the full render. When the
  unit's text changes the artwork's own layout (the page count or the number
  of operations differs from the probe's), the page is rendered in full for
  that unit instead (``"full"``).
- **Audio.** A script's audio is its reading text spoken line by line and
  joined with fixed pauses (:func:`script_audio`); a line said by every unit
  ("Sau đây là thông tin về …", the key message) is synthesised once per run,
  the unit's own lines (its name, address, hours, phone) per unit. The joined
  programme is then loudness-normalised as a whole, exactly as a from-scratch
  build does, so the level holds for the result and a composed build and a
  from-scratch build give the same samples.
- **Script PDFs and DOCX** flow the unit's lines with the shared text, so each
  is laid out for its unit; within the run, fpdf2's shaping (HarfBuzz), line
  breaking, bidi analysis and font subsets (every subset padded to the whole
  Vietnamese alphabet, so all units' subsets are one) are done once
  (:func:`shared_fonts`, pure memoisation: the same drawing).
- **Per-file content hashes.** Each file of a kit gets a hash of its inputs
  (:func:`file_key`); a rebuild takes a file whose hash is unchanged from the
  previous version's ZIP instead of rendering it again.

The caches live in this process (each worker process has its own) and are
emptied at the start of every build run (:func:`reset`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import re
import threading
import wave
import zipfile
import zlib
from pathlib import Path

#: print template fields filled from the unit (``builder.print_data``): never artwork
UNIT_FIELDS = ("url", "hotline", "address", "unit_name", "unit")
#: stand-in unit values for the probe layout (different from any real unit's)
_PROBE = {
    "url": "https://probe.invalid/r/0/probe-unit-xxxxxxxx",
    "hotline": "0000 000 000 · probe",
    "address": "Địa chỉ dò thử số 0, ấp Dò Thử, xã Dò Thử",
    "unit_name": "Đơn vị dò thử",
    "unit": "Đơn vị dò thử",
}
#: pause between the lines of a section, and between sections (seconds)
LINE_PAUSE = 0.25
SECTION_PAUSE = 0.6
#: bump when the composition changes what a file contains (invalidates per-file hashes)
COMPOSE_VERSION = "1"

_LOCK = threading.Lock()
_BASES: dict[str, dict] = {}
_PROBES: dict[str, object] = {}
_SEGMENTS: dict[str, tuple] = {}
#: line key -> the unit (Reuse serial) that first said it; lines only one unit says are
#: kept while that unit's files are made (its bulletins share them), then dropped
_FIRST: dict[str, int] = {}
_UNIT = {"serial": 0, "keys": []}
STATS = {"bases": 0, "base_hits": 0, "full": 0, "segments": 0, "segment_hits": 0, "subsets": 0,
         "docx_skeletons": 0, "docx_hits": 0}


def add_stats(stats: dict | None) -> None:
    """Add a worker process's figures for one unit (``produce_files``'s ``"stats"``) to
    this process's ``STATS``: with workers, the run's figures are collected there."""
    with _LOCK:
        for k, v in (stats or {}).items():
            if isinstance(v, int):
                STATS[k] = STATS.get(k, 0) + v


def release() -> None:
    """Free the run's shared parts (the figures in ``STATS`` stay); this thread's later
    documents are made without the run's font caches."""
    _FONTS.on = False
    with _LOCK:
        _BASES.clear()
        _PROBES.clear()
        _SEGMENTS.clear()
        _FIRST.clear()
        _SHAPES.clear()
        _SUBSETS.clear()
        _LINES.clear()
        _DEFLATED.clear()
        _FONT_PROTOS.clear()
        _DOCX.clear()
        _SKELETONS.clear()
        _ART_KEYS.clear()


def reset() -> None:
    """Empty the per-run caches (a new build run renders its shared parts afresh)."""
    with _LOCK:
        _BASES.clear()
        _PROBES.clear()
        _SEGMENTS.clear()
        _FIRST.clear()
        _SHAPES.clear()
        _SUBSETS.clear()
        _LINES.clear()
        _DEFLATED.clear()
        _FONT_PROTOS.clear()
        _DOCX.clear()
        _SKELETONS.clear()
        _ART_KEYS.clear()
        for k in STATS:
            STATS[k] = 0


@functools.lru_cache(maxsize=1)
def fonts_version() -> str:
    """The versions of the font packages and PDF writer: a font update rebuilds every file."""
    from importlib import metadata

    out = []
    for dist in ("fontpkg-be-vietnam-pro", "fontpkg-noto-sans-khmer", "fpdf2", "pypdf"):
        try:
            out.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist}=?")
    return ";".join(out)


def file_key(*parts) -> str:
    """The content hash of one kit file's inputs."""
    raw = json.dumps([COMPOSE_VERSION, fonts_version(), *parts], sort_keys=True,
                     ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=64)
def _template_digest(path: str, mtime: float) -> str:
    from media_templates.renderer import _template_digest as digest
    from media_templates.spec import get_template

    return digest(get_template(Path(path).name))


def template_digest(tpl) -> str:
    return _template_digest(str(tpl.path), float(getattr(tpl, "mtime", 0) or 0))


# -- fonts: shaped text shared by the run -------------------------------------------------


_FONTS = threading.local()
_SHAPES: dict = {}
_SHAPES_MAX = 200_000


def shared_fonts(on: bool) -> None:
    """Within a composed run, text shaped with a font (HarfBuzz: widths for line breaking,
    glyph positions for drawing) is kept for the run: the scripts and overlays of 103
    units shape mostly the same words with the same fonts. Off (the default, and a
    from-scratch build), fpdf2 shapes every time. Pure memoisation: same output."""
    _install_shape_memo()
    _FONTS.on = bool(on)


def _install_shape_memo() -> None:
    from fpdf.fonts import TTFFont

    if getattr(TTFFont, "_lantoa_shape_memo", False):
        return
    shape = TTFFont.perform_harfbuzz_shaping
    width = TTFFont.shaped_text_width

    def _key(kind, font, text, size, params):
        # the parameters HarfBuzz is given (fpdf2's perform_harfbuzz_shaping)
        p = params or {}
        feats = p.get("features")
        return (kind, font.ttffile, getattr(font, "collection_font_number", 0), text, size,
                tuple(feats.items()) if feats else None, p.get("fragment_direction"),
                p.get("script"), p.get("language"))

    def _memo(kind, orig):
        @functools.wraps(orig)
        def wrapper(self, text, font_size_pt, text_shaping_params):
            if not getattr(_FONTS, "on", False):
                return orig(self, text, font_size_pt, text_shaping_params)
            key = _key(kind, self, text, font_size_pt, text_shaping_params)
            hit = _SHAPES.get(key)
            if hit is None:
                hit = orig(self, text, font_size_pt, text_shaping_params)
                if len(_SHAPES) > _SHAPES_MAX:
                    _SHAPES.clear()
                _SHAPES[key] = hit
            return hit

        return wrapper

    TTFFont.perform_harfbuzz_shaping = _memo("shape", shape)
    TTFFont.shaped_text_width = _memo("width", width)
    TTFFont._lantoa_shape_memo = True
    _install_subset_memo()
    _install_line_memo()
    _install_instance_cache()
    _install_deflate_memo()
    _install_font_memo()
    _install_docx_memo()
    _install_khmer_words_cache()


def _cache_dir() -> Path | None:
    """This user's private cache folder for pure results that worker processes share (a
    font subset, a Khmer segmentation: the same input always gives the same output), or
    None when it cannot be made private."""
    import os
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"lantoa-kits-cache-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return folder


def _cache_name(kind: str, *key) -> str:
    raw = json.dumps([kind, *key], ensure_ascii=False, default=str).encode("utf-8")
    return f"{kind}-{hashlib.sha256(raw).hexdigest()}"


def _cache_read(name: str) -> bytes | None:
    folder = _cache_dir()
    if folder is None:
        return None
    try:
        return (folder / name).read_bytes()
    except OSError:
        return None


def _cache_write(name: str, data: bytes) -> None:
    import os
    import tempfile

    folder = _cache_dir()
    if folder is None:
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, folder / name)  # atomic: a reader sees the whole file or none
    except OSError:
        return


_KM_WORDS: dict[str, tuple[str, ...]] = {}


def _install_khmer_words_cache() -> None:
    """Within a composed run, the Khmer word segmentation of a text (khmer-nltk's CRF
    tagger, which imports scikit-learn: about a second in each worker process) is read
    from the user's cache folder when a process made it before (a pure function of the
    text and the tagger's version); checked to give back the text itself."""
    from media_templates import scripts_mix

    if getattr(scripts_mix, "_lantoa_words_cache", False):
        return
    real = scripts_mix.khmer_words

    @functools.wraps(real)
    def khmer_words(run: str) -> tuple[str, ...]:
        if not getattr(_FONTS, "on", False):
            return real(run)
        hit = _KM_WORDS.get(run)
        if hit is not None:
            return hit
        from importlib import metadata

        try:
            version = metadata.version("khmer-nltk")
        except metadata.PackageNotFoundError:
            version = "none"
        name = _cache_name("km-words", run, version)
        raw = _cache_read(name)
        try:
            hit = tuple(json.loads(raw.decode("utf-8"))) if raw else None
        except ValueError:
            hit = None
        if hit is None or "".join(hit) != run:
            hit = tuple(real(run))
            _cache_write(name, json.dumps(hit, ensure_ascii=False).encode("utf-8"))
        if len(_KM_WORDS) > 4096:
            _KM_WORDS.clear()
        _KM_WORDS[run] = hit
        return hit

    def cache_clear() -> None:  # the lru_cache's own, and this run's copies
        _KM_WORDS.clear()
        real.cache_clear()

    khmer_words.cache_clear = cache_clear  # type: ignore[attr-defined]
    khmer_words.cache_info = real.cache_info  # type: ignore[attr-defined]
    scripts_mix.khmer_words = khmer_words
    scripts_mix._lantoa_words_cache = True


_DOCX: dict = {}


def _install_docx_memo() -> None:
    """Within a composed run, python-docx's blank document (``docx.Document()``: the
    default template's package opened and every part parsed, for each script's DOCX) is
    parsed once per thread and each DOCX starts from a deep copy of it -- the same parts
    and elements a fresh parse gives. A document opened from a file is opened as usual."""
    import docx

    if getattr(docx, "_lantoa_docx_memo", False):
        return
    real = docx.Document

    @functools.wraps(real)
    def document(docx_file=None):
        if docx_file is not None or not getattr(_FONTS, "on", False):
            return real(docx_file)
        key = threading.get_ident()
        blank = _DOCX.get(key)
        if blank is None:
            blank = real()
            with _LOCK:
                _DOCX[key] = blank
        return copy.deepcopy(blank)

    docx.Document = document
    docx._lantoa_docx_memo = True


_FONT_PROTOS: dict = {}
#: what fpdf2's TTFFont holds for one document only; every other attribute is read from
#: the font file alone and kept for the run
_FONT_PER_DOC = ("i", "subset", "missing_glyphs", "biggest_size_pt", "ttfont", "desc")


def _install_font_memo() -> None:
    """Within a composed run, a font fpdf2 has loaded before (same file, key and style)
    is not parsed again for each document (fontTools tables, the width and glyph maps;
    a few milliseconds per font and document): the new document's font takes those
    from the first one, with its own subset map, descriptor and fontTools object
    (opened lazily, for this document's subset). Fonts made from variations, with a
    unicode range, colour fonts, compressed fonts or fonts without a ``.notdef`` glyph
    (fpdf2 draws one) are loaded as usual. Per thread: HarfBuzz fonts are shared."""
    from fontTools import ttLib
    from fpdf import fonts as fpdf_fonts

    cls = fpdf_fonts.TTFFont
    if getattr(cls, "_lantoa_font_memo", False):
        return
    init = cls.__init__
    slots = [n for k in cls.__mro__ for n in getattr(k, "__slots__", ()) if n != "__weakref__"]

    @functools.wraps(init)
    def memo_init(self, fpdf, font_file_path, fontkey, style, unicode_range=None,
                  axes_dict=None, palette_index=None, collection_font_number=0):
        args = (fpdf, font_file_path, fontkey, style, unicode_range, axes_dict, palette_index,
                collection_font_number)
        path = str(font_file_path)
        if (not getattr(_FONTS, "on", False) or unicode_range or axes_dict is not None
                or path.lower().endswith((".woff", ".woff2"))):
            return init(self, *args)
        try:
            st = Path(path).stat()
        except OSError:
            return init(self, *args)
        key = (threading.get_ident(), path, st.st_size, st.st_mtime_ns, fontkey, str(style),
               palette_index, collection_font_number, bool(fpdf.render_color_fonts))
        proto = _FONT_PROTOS.get(key)
        if proto is None:
            init(self, *args)
            proto = _font_proto(self, slots)
            with _LOCK:
                if len(_FONT_PROTOS) > 64:
                    _FONT_PROTOS.clear()
                _FONT_PROTOS[key] = proto
            return None
        if proto is False:
            return init(self, *args)
        for name, value in proto["attrs"].items():
            setattr(self, name, value)
        self.i = len(fpdf.fonts) + 1
        self.ttfont = ttLib.TTFont(path, recalcTimestamp=False,
                                   fontNumber=collection_font_number, lazy=True)
        self.ttfont.setGlyphOrder(list(proto["order"]))
        self.desc = copy.copy(proto["desc"])
        self.missing_glyphs = []
        self.biggest_size_pt = 0
        self.subset = fpdf_fonts.SubsetMap(self)
        return None

    cls.__init__ = memo_init
    cls._lantoa_font_memo = True


def _font_proto(font, slots: list[str]) -> dict | bool:
    """What later documents take from ``font`` (just loaded), or False when it must be
    loaded for each document."""
    tt = font.ttfont
    if font.color_font is not None or font.is_compressed:
        return False
    order = tuple(tt.getGlyphOrder())
    if "glyf" in tt and ".notdef" not in order:
        return False
    font.hbfont  # noqa: B018 - made now, shared by the run's documents (this thread)
    attrs = {}
    for name in slots:
        if name in _FONT_PER_DOC:
            continue
        try:
            attrs[name] = getattr(font, name)
        except AttributeError:
            continue
    return {"attrs": attrs, "order": order, "desc": copy.copy(font.desc)}


_DEFLATED: dict = {}
#: streams shorter than this are deflated every time (hashing would cost about as much)
_DEFLATE_MIN = 4096


def _install_deflate_memo() -> None:
    """Within a composed run, a PDF stream fpdf2 deflated before (the same bytes at the
    same level) is not deflated again: every unit's PDFs embed the same font subsets
    (and their CIDToGIDMap). Pure memoisation: the same compressed bytes."""
    import zlib as real_zlib

    import fpdf.syntax as syntax

    if getattr(syntax, "_lantoa_deflate_memo", False):
        return

    class _Zlib:
        def __getattr__(self, name):  # everything else is zlib's own
            return getattr(real_zlib, name)

        @staticmethod
        def compress(data, /, level=-1, **kwargs):
            if (not getattr(_FONTS, "on", False) or kwargs
                    or not isinstance(data, bytes | bytearray) or len(data) < _DEFLATE_MIN):
                return real_zlib.compress(data, level, **kwargs)
            key = (hashlib.blake2b(data, digest_size=20).digest(), len(data), level)
            hit = _DEFLATED.get(key)
            if hit is None:
                hit = real_zlib.compress(data, level)
                with _LOCK:
                    if len(_DEFLATED) > 512:
                        _DEFLATED.clear()
                    _DEFLATED[key] = hit
            return hit

    syntax.zlib = _Zlib()
    syntax._lantoa_deflate_memo = True


_INSTANCES: dict[tuple[str, float], str] = {}


def _install_instance_cache() -> None:
    """Within a composed run, a static instance of a variable font (the print templates'
    Noto Sans Khmer weights; ``media_templates.pdf._static_instance``, about a second
    each) is made once for all processes: written to the temp folder under a name that
    carries the source's size and time and the fontTools version, so the worker
    processes of a run (and later runs) open the same file instead of instancing the
    font again. The same instancer call: the same font."""
    from media_templates import pdf as pdf_module

    if getattr(pdf_module, "_lantoa_instance_cache", False):
        return
    per_process = pdf_module._static_instance

    def static_instance(path: str, weight: float) -> str:
        if not getattr(_FONTS, "on", False):
            return per_process(path, weight)
        key = (str(path), float(weight))
        hit = _INSTANCES.get(key)
        if hit is not None and Path(hit).is_file():
            return hit
        hit = _instance_file(str(path), float(weight))
        _INSTANCES[key] = hit
        return hit

    pdf_module._static_instance = static_instance
    pdf_module._lantoa_instance_cache = True


def _instance_file(path: str, weight: float) -> str:
    import os
    import tempfile

    import fontTools
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    st = Path(path).stat()
    folder = Path(tempfile.gettempdir()) / "lantoa-fonts"
    out = folder / (f"{Path(path).stem}-{weight:g}-{st.st_size}-{int(st.st_mtime)}"
                    f"-ft{fontTools.version}.ttf")
    if out.is_file():
        return str(out)
    folder.mkdir(parents=True, exist_ok=True)
    font = instancer.instantiateVariableFont(TTFont(path), {"wght": weight})
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    os.close(fd)
    try:
        font.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)  # atomic: another process sees the whole file or none
    finally:
        Path(tmp).unlink(missing_ok=True)
    return str(out)


_LINES: dict = {}


def _gs_key(gs) -> tuple:
    import dataclasses

    out = []
    for f in dataclasses.fields(gs):
        value = getattr(gs, f.name)
        if f.name == "current_font":
            value = (getattr(value, "fontkey", None), str(getattr(value, "ttffile", "")))
        out.append(repr(value))
    return tuple(out)


def _install_line_memo() -> None:
    """Within a composed run, a paragraph fpdf2 has broken into lines before (same text,
    font, size, width, alignment) is not broken again: the scripts of 103 units repeat
    most paragraphs. The lines are rebuilt on the current document's own fragments
    (its fonts), so the document is written exactly as if it had broken them itself."""
    import fpdf.fpdf as fpdf_module

    if getattr(fpdf_module, "_lantoa_line_memo", False):
        return
    real = fpdf_module.MultiLineBreak

    class MultiLineBreak:
        def __init__(self, fragments, *args, **kwargs):
            self._lines = None
            self._real = None
            key = None
            if getattr(_FONTS, "on", False) and all(
                isinstance(a, int | float | str | bool | tuple | list | type(None))
                or hasattr(a, "value") for a in (*args, *kwargs.values())
            ):
                try:
                    key = (
                        tuple((tuple(f.characters), _gs_key(f.graphics_state), f.k, f.link,
                               type(f)) for f in fragments),
                        repr(args), repr(sorted(kwargs.items())),
                    )
                except Exception:  # noqa: BLE001 - anything unusual: break it for real
                    key = None
            hit = _LINES.get(key) if key is not None else None
            if hit is not None:
                self._lines = self._rebuild(hit, list(fragments))
                return
            self._real = real(fragments, *args, **kwargs)
            self._key, self._fragments, self._seen = key, list(fragments), []

        @staticmethod
        def _rebuild(template, fragments):
            lines = []
            for line, parts in template:
                new = []
                for index, chars, link in parts:
                    src = fragments[index]
                    new.append(src.__class__(characters=list(chars),
                                             graphics_state=src.graphics_state, k=src.k, link=link))
                lines.append(line._replace(fragments=new))
            for f in fragments:  # what measuring the text would have noted
                font = f.graphics_state.current_font
                if font is not None and hasattr(font, "biggest_size_pt"):
                    font.biggest_size_pt = max(font.biggest_size_pt, f.font_size_pt)
            return iter(lines)

        def __getattr__(self, name):  # anything else fpdf2 asks of its line breaker
            real_breaker = self.__dict__.get("_real")
            if real_breaker is None:
                raise AttributeError(name)
            return getattr(real_breaker, name)

        def get_line(self):
            if self._lines is not None:
                return next(self._lines, None)
            line = self._real.get_line()
            if self._key is None:
                return line
            if line is None:
                if self._seen is not None:
                    if len(_LINES) > 50_000:
                        _LINES.clear()
                    _LINES[self._key] = self._seen
                return None
            if self._seen is not None:
                parts = []
                for frag in line.fragments:
                    index = next((i for i, f in enumerate(self._fragments)
                                  if f.graphics_state is frag.graphics_state), None)
                    if index is None:
                        self._seen = None  # not rebuildable: never cached
                        break
                    parts.append((index, tuple(frag.characters), frag.link))
                if self._seen is not None:
                    self._seen.append((line, parts))
            return line

    real_bidi = fpdf_module.BidiParagraph

    class BidiParagraph:
        """fpdf2's bidi analysis of a paragraph, kept for the run (pure: text in, runs out)."""

        def __init__(self, text, base_direction=None, debug=False, **kwargs):
            self._args = (text, base_direction, debug, kwargs)
            self._key = None
            if getattr(_FONTS, "on", False) and not debug:
                self._key = ("bidi", text, repr(base_direction), repr(sorted(kwargs.items())))
            self._real = None

        def _paragraph(self):
            if self._real is None:
                text, base_direction, debug, kwargs = self._args
                self._real = real_bidi(text, base_direction, debug, **kwargs)
            return self._real

        def get_bidi_fragments(self):
            if self._key is None:
                return self._paragraph().get_bidi_fragments()
            hit = _LINES.get(self._key)
            if hit is None:
                hit = tuple(self._paragraph().get_bidi_fragments())
                _LINES[self._key] = hit
            return list(hit)

        def __getattr__(self, name):
            return getattr(self._paragraph(), name)

    fpdf_module.MultiLineBreak = MultiLineBreak
    fpdf_module.BidiParagraph = BidiParagraph
    fpdf_module._lantoa_line_memo = True


_SUBSETS: dict = {}
_COMMON: dict = {}


def common_text() -> str:
    """ASCII and every Vietnamese letter (each vowel with each tone, both cases) and the
    punctuation kits print."""
    import unicodedata

    tones = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
    letters = []
    for v in "aăâeêioôơuưy":
        for t in tones:
            letters.append(unicodedata.normalize("NFC", v + t))
    text = "".join(chr(c) for c in range(32, 127)) + "".join(letters) + "đ"
    text += text.upper() + "“”‘’–—…·•°€₫%§©®×"
    return text


def _common_glyphs(font, name: str) -> frozenset:
    hit = _COMMON.get(name)
    if hit is None:
        cmap = font.getBestCmap() or {}
        hit = frozenset(cmap[ord(c)] for c in common_text() if ord(c) in cmap)
        _COMMON[name] = hit
    return hit


def _install_subset_memo() -> None:
    """Within a composed run, a font subset (fontTools: subset, then save; fpdf2 makes one
    per font per PDF) with the same glyphs as one made before is not made again: the
    saved subset and its glyph order are reused (same bytes)."""
    from fontTools import subset as ftsubset
    from fontTools.ttLib import TTFont

    if getattr(ftsubset.Subsetter, "_lantoa_subset_memo", False):
        return
    subset, save = ftsubset.Subsetter.subset, TTFont.save

    @functools.wraps(subset)
    def subset_memo(self, font):
        name = getattr(getattr(getattr(font, "reader", None), "file", None), "name", None)
        if not getattr(_FONTS, "on", False) or not name or self.glyph_ids_requested \
                or self.unicodes_requested:
            return subset(self, font)
        # every subset of this font in the run carries the whole Vietnamese alphabet, so the
        # subsets of different units (names with different letters) are one and the same
        self.glyph_names_requested.update(_common_glyphs(font, name))
        key = (name, frozenset(self.glyph_names_requested), repr(vars(self.options)))
        hit = _SUBSETS.get(key)
        if hit is None:  # made by another process (a worker) or an earlier run
            hit = _subset_from_cache(key)
            if hit is not None:
                with _LOCK:
                    _SUBSETS[key] = hit
        if hit is not None:
            font.setGlyphOrder(list(hit[1]))
            font._lantoa_subset_bytes = hit[0]
            return None
        out = subset(self, font)
        font._lantoa_subset_key = key
        return out

    @functools.wraps(save)
    def save_memo(self, file, *args, **kwargs):
        data = getattr(self, "_lantoa_subset_bytes", None)
        if data is not None and hasattr(file, "write"):
            file.write(data)
            return None
        key = getattr(self, "_lantoa_subset_key", None)
        if key is None or not hasattr(file, "write"):
            return save(self, file, *args, **kwargs)
        buf = io.BytesIO()
        save(self, buf, *args, **kwargs)
        data = buf.getvalue()
        with _LOCK:
            if len(_SUBSETS) > 2000:
                _SUBSETS.clear()
            _SUBSETS[key] = (data, tuple(self.getGlyphOrder()))
            STATS["subsets"] = STATS.get("subsets", 0) + 1
        _cache_write(_subset_cache_name(key),
                     json.dumps(list(self.getGlyphOrder())).encode("utf-8") + b"\n" + data)
        file.write(data)
        return None

    ftsubset.Subsetter.subset = subset_memo
    TTFont.save = save_memo
    ftsubset.Subsetter._lantoa_subset_memo = True


# -- script DOCX: a shared document per structure, the unit's texts put in -----------------


_SKELETONS: dict = {}
_MARKS = threading.local()
#: texts that python-docx writes differently from a plain run (Khmer runs get their own
#: font, controls are dropped, newlines and tabs become elements), and the marks' own
#: characters: a DOCX with one of them is made by python-docx itself
_NOT_PLAIN = re.compile(r"[\u1780-\u17ff\u19e0-\u19ff\x00-\x1f\x7f-\x9f\ue000\ue001]")
#: core properties python-docx is given cut to 250 characters (script_to_docx)
_CORE_MAX = 250


def _plain_text(value) -> bool:
    return (isinstance(value, str) and bool(value) and value == value.strip()
            and not _NOT_PLAIN.search(value))


def _install_duration_marks() -> None:
    """``format_duration`` as the script outputs call it, giving a mark for the stand-in
    durations of a skeleton being made (this thread only; every other value as before)."""
    from media_templates.scripts import outputs

    if getattr(outputs, "_lantoa_duration_marks", False):
        return
    real = outputs.format_duration

    @functools.wraps(real)
    def format_duration(seconds):
        marks = getattr(_MARKS, "durations", None)
        if marks and seconds in marks:
            return marks[seconds]
        return real(seconds)

    outputs.format_duration = format_duration
    outputs._lantoa_duration_marks = True


def script_docx(script, meta: dict | None = None) -> bytes:
    """A script's DOCX, as ``media_templates.scripts.script_to_docx`` writes it.

    Within a composed run, the documents of every unit have the same structure (the
    same paragraphs, runs and table; only their texts differ): python-docx writes one
    *skeleton* per structure with a mark in place of each text (the unit, campaign,
    title, slots, each line of the script and of its reading version, each duration,
    each note), and each unit's document is the skeleton with its texts put in place
    of the marks (XML-escaped as lxml writes them) -- the same parts, byte for byte
    (``tests/test_kits_composed.py`` compares them). A text python-docx would write in
    another way (Khmer, control characters, leading or trailing spaces, an empty
    text, a core property past its length cut) makes the whole document the usual way."""
    from media_templates.scripts import script_to_docx
    from media_templates.scripts.outputs import HEADING, _format_date, _notes, header_fields
    from media_templates.scripts.render import format_duration

    if not getattr(_FONTS, "on", False):
        return script_to_docx(script, meta)
    meta = dict(meta or {})
    h = header_fields(script, meta)
    texts: list[str] = []
    durations: dict[float, str] = {}

    def mark(value: str) -> str:
        texts.append(value)
        return f"\ue000{len(texts) - 1}\ue001"

    def duration_mark(seconds: float) -> float:
        stand_in = -1000.0 - len(durations)
        durations[stand_in] = mark(format_duration(seconds))
        return stand_in

    import dataclasses

    notes = _notes(script)
    plain = [h["unit"], h["campaign"], h["title"], *(str(x) for x in meta.get("slots") or []),
             *notes[:-1]]
    sections, shape = [], []
    for sec in script.sections:
        lines = [ln for ln in sec.text.split("\n") if ln.strip()]
        reading = [ln for ln in sec.reading_text.split("\n") if ln.strip()]
        plain += lines + reading + ([sec.title] if sec.title else [])
        sections.append((sec, lines, reading))
        shape.append((bool(sec.title), len(lines), len(reading)))
    if (not all(_plain_text(v) for v in plain) or not isinstance(meta.get("slots") or [], list)
            or len(f"{HEADING}: {h['campaign']}") > _CORE_MAX or len(h["unit"]) > _CORE_MAX):
        return script_to_docx(script, meta)
    include_reading = meta.get("include_reading", True)
    key = (h["date"], bool(include_reading), len(meta.get("slots") or []), tuple(shape),
           len(notes) - 1, notes[-1], script.language)
    # the stand-in script and meta: the same structure, a mark for every text
    probe_meta = {"unit_name": mark(h["unit"]), "campaign_title": mark(h["campaign"]),
                  "title": mark(h["title"]), "date": _format_date(meta.get("date")),
                  "slots": [mark(str(x)) for x in meta.get("slots") or []],
                  "include_reading": include_reading}
    probe_sections = []
    for sec, lines, reading in sections:
        probe_sections.append(dataclasses.replace(
            sec, title=mark(sec.title) if sec.title else "",
            text="\n".join(mark(ln) for ln in lines),
            reading_text="\n".join(mark(ln) for ln in reading),
            estimated_seconds=duration_mark(sec.estimated_seconds)))
    probe = dataclasses.replace(
        script, sections=probe_sections, warnings=[mark(n) for n in notes[:-1]],
        estimated_seconds=duration_mark(script.estimated_seconds), data={}, title="")
    skeleton = _SKELETONS.get(key)
    if skeleton is None:
        _install_duration_marks()
        _MARKS.durations = durations
        try:
            data = script_to_docx(probe, probe_meta)
        finally:
            _MARKS.durations = None
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            skeleton = [(info.filename, zf.read(info)) for info in zf.infolist()]
        with _LOCK:
            if len(_SKELETONS) > 64:
                _SKELETONS.clear()
            _SKELETONS[key] = skeleton
        STATS["docx_skeletons"] = STATS.get("docx_skeletons", 0) + 1
    else:
        STATS["docx_hits"] = STATS.get("docx_hits", 0) + 1
    values = {f"\ue000{i}\ue001".encode(): _xml_text(v) for i, v in enumerate(texts)}
    pattern = re.compile("\ue000(\\d+)\ue001".encode())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as out:  # as python-docx
        for name, data in skeleton:
            if name.endswith(".xml") and b"\xee\x80\x80" in data:  # a mark (U+E000, UTF-8)
                data = pattern.sub(lambda m: values[m.group(0)], data)
            out.writestr(name, data)
    return buf.getvalue()


def _xml_text(value: str) -> bytes:
    """A text node's content as lxml writes it (UTF-8; &, < and > escaped)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")


def _subset_cache_name(key) -> str:
    import fontTools

    name, glyphs, options = key
    st = Path(name).stat()
    return _cache_name("subset", name, st.st_size, st.st_mtime_ns, sorted(glyphs), options,
                       fontTools.version)


def _subset_from_cache(key) -> tuple[bytes, tuple] | None:
    """A subset another process saved (its bytes and glyph order), or None."""
    try:
        raw = _cache_read(_subset_cache_name(key))
    except OSError:
        return None
    if not raw or b"\n" not in raw:
        return None
    head, data = raw.split(b"\n", 1)
    try:
        order = tuple(json.loads(head.decode("utf-8")))
    except ValueError:
        return None
    if not data.startswith((b"\x00\x01\x00\x00", b"OTTO", b"true")) or not order:
        return None
    return data, order


# -- reuse from the previous version --------------------------------------------------------


class Reuse:
    """The files of a kit's previous version, by ZIP entry name, with their input hashes
    (``KitVersion.contents[i]["input"]``): a file whose inputs hash the same is read from
    the previous ZIP instead of rendered. Counts what was rebuilt and what reused."""

    def __init__(self, previous: dict | None, *, shared: bool = False):
        shared_fonts(shared)
        _UNIT["serial"] += 1
        _UNIT["keys"] = []
        previous = previous or {}
        path = previous.get("path")
        self.zip_path = path if path and Path(path).is_file() else None
        self.keys = {
            c["name"]: c["input"]
            for c in (previous.get("contents") or [])
            if isinstance(c, dict) and c.get("input") and c.get("name")
        }
        self.inputs: dict[str, str] = {}
        self.rebuilt = 0
        self.reused = 0
        self._zip: zipfile.ZipFile | None = None

    def get(self, name: str, key: str) -> bytes | None:
        """The previous file's bytes when its input hash is ``key``; else None and the
        caller renders it (counted as rebuilt)."""
        self.inputs[name] = key
        data = None
        if self.zip_path is not None and self.keys.get(name) == key:
            try:
                if self._zip is None:
                    self._zip = zipfile.ZipFile(self.zip_path)
                data = self._zip.read(name)
            except (KeyError, OSError, zipfile.BadZipFile):
                data = None
        if data is None:
            self.rebuilt += 1
        else:
            self.reused += 1
        return data

    def take(self, name: str, key: str, out: Path) -> bool:
        """Write the previous file to ``out`` when its inputs are unchanged (True)."""
        data = self.get(name, key)
        if data is None:
            return False
        Path(out).write_bytes(data)
        return True

    def audio(self, base: str, key: str, include_wav: bool) -> dict[str, bytes] | None:
        """The previous ``<base>.mp3`` (and ``.wav``) when their inputs hash ``key``, as
        {"mp3", "wav"}; else None, both counted as rebuilt (the caller renders them)."""
        mp3 = self.get(f"{base}.mp3", key)
        wav = self.get(f"{base}.wav", key) if include_wav else b""
        if mp3 is not None and wav is not None:
            return {"mp3": mp3, "wav": wav}
        for got in (mp3, wav if include_wav else None):
            if got is not None:  # counted as reused above, rendered all the same
                self.reused -= 1
                self.rebuilt += 1
        return None

    def counts(self) -> dict:
        return {"rebuilt": self.rebuilt, "reused": self.reused}

    def close(self) -> None:
        # the lines only this unit said are not needed by the next unit
        serial = _UNIT["serial"]
        for key in _UNIT["keys"]:
            if _FIRST.get(key) == serial:
                _SEGMENTS.pop(key, None)
        _UNIT["keys"] = []
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def report(progress, fraction: float, rebuilt: int, reused: int) -> None:
    """Report a build's progress with its file counts when the callback takes them
    (the scheduler's ``progress(fraction, **info)``), else the fraction only."""
    import inspect

    try:
        params = inspect.signature(progress).parameters.values()
        takes_info = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    except (TypeError, ValueError):
        takes_info = False
    if takes_info:
        progress(fraction, files_rebuilt=rebuilt, files_reused=reused,
                 message=files_message(rebuilt, reused))
    else:
        progress(fraction)


def files_message(rebuilt: int, reused: int) -> str:
    """What a build did with the files, in Vietnamese ("Dựng lại 2 tệp, dùng lại 14 tệp")."""
    from core.formatting import fmt_number

    return (f"Dựng lại {fmt_number(rebuilt, locale='vi')} tệp, "
            f"dùng lại {fmt_number(reused, locale='vi')} tệp")


def print_key(tpl, data: dict, brand: dict | None) -> str:
    """Input hash of a print PDF: template files, the filled fields (content and unit), brand."""
    logo = (brand or {}).get("logo_path")
    logo_state = None
    if logo and Path(logo).is_file():
        st = Path(logo).stat()
        logo_state = [st.st_size, st.st_mtime]
    return file_key("print", tpl.name, template_digest(tpl), data, brand or {}, logo_state)


def script_key(script, meta: dict) -> str:
    """Input hash of a script's DOCX/PDF/TXT: the rendered script for the unit and its header."""
    import dataclasses

    body = dataclasses.asdict(script) if dataclasses.is_dataclass(script) else repr(script)
    return file_key("script", body, meta)


def audio_key(script, voice: str, engine, bitrate_kbps: int) -> str:
    return file_key("audio", reading_lines(script), voice, str(engine),
                    script.syllables_per_minute, bitrate_kbps, LINE_PAUSE, SECTION_PAUSE)


def kit_audio(script, config, reuse: Reuse, base: str) -> dict[str, bytes]:
    """A kit script's {"mp3", "wav"}: from the previous version when the spoken lines did
    not change, else :func:`script_audio` (composed from this run's shared lines)."""
    key = audio_key(script, config.script.voice, config.tts_engine, config.mp3_kbps)
    previous = reuse.audio(base, key, config.include_wav)
    if previous is not None:
        return previous
    return script_audio(script, voice=config.script.voice, engine=config.tts_engine,
                        bitrate_kbps=config.mp3_kbps, compose=config.compose)


# -- print PDFs ------------------------------------------------------------------------------


def _bbox(op, layout) -> tuple[float, float, float, float] | None:
    """The area an operation may paint (canvas units, generous), or None for 'anywhere'."""
    pad = 6.0 if layout.unit == "mm" else 24.0  # bleed, stroke widths, glyph overhang
    if op.kind == "line":
        pts = op.data.get("points") or []
        if not pts:
            return None
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad
    if op.kind in ("rect", "gradient", "ellipse", "image", "qr", "bar", "text") and (op.w or op.h):
        return op.x - pad, op.y - pad, op.x + op.w + pad, op.y + op.h + pad
    return None


def _overlaps(a, b) -> bool:
    if a is None or b is None:
        return True
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def split_layout(layout, probe) -> list[tuple[list, list]] | None:
    """Per page, (artwork ops, unit ops in painting order); None when the unit's
    data changes the artwork's own structure (then render the page in full)."""
    if probe is None or len(layout.pages) != len(probe.pages):
        return None
    out = []
    for page, ppage in zip(layout.pages, probe.pages, strict=True):
        if len(page.ops) != len(ppage.ops):
            return None
        unit_boxes: list = []
        base, over = [], []
        for op, pop in zip(page.ops, ppage.ops, strict=True):
            box = _bbox(op, layout)
            if op != pop or any(_overlaps(box, b) for b in unit_boxes):
                over.append(op)
                unit_boxes.append(box)
            else:
                base.append(op)
        out.append((base, over))
    return out


def _probe_layout(tpl, clean: dict, brand: dict | None):
    from media_templates.layout import build_layout

    pdata = dict(clean)
    for f in tpl.fields:
        name = f["name"]
        if name in pdata and (name in UNIT_FIELDS or f["type"] == "url"):
            pdata[name] = _PROBE.get(name, _PROBE["url"] if f["type"] == "url" else "dò thử")
    pbrand = dict(brand or {})
    pbrand["unit_name"] = _PROBE["unit_name"]
    key = json.dumps([tpl.name, str(tpl.path), pdata, pbrand], sort_keys=True, default=str,
                     ensure_ascii=False)
    hit = _PROBES.get(key)
    if hit is None:
        try:
            hit = build_layout(tpl, "pdf", pdata, pbrand)
        except Exception:  # noqa: BLE001 - a probe that cannot lay out means: render in full
            hit = False
        with _LOCK:
            _PROBES[key] = hit
    return hit or None


def _pdf_bytes(tpl, layout, pages_ops: list[list], *, marks: bool) -> bytes:
    from media_templates.layout import Layout, Page
    from media_templates.pdf import _Pdf, _producer

    lay = Layout(layout.width, layout.height, layout.unit, [Page(list(ops)) for ops in pages_ops],
                 dict(layout.texts), dict(layout.meta))
    doc = _Pdf(lay, tpl.format_spec("pdf") or {})
    if not marks:
        doc.marks = False
    for page in lay.pages:
        doc.page(page.ops)
    return bytes(doc.pdf.output(output_producer_class=_producer()))


_ART_KEYS: dict = {}


def _art_key(tpl, layout, base_ops: list[list]) -> str:
    """The hash of an artwork's operations. Hashing their text form costs milliseconds;
    the operations of the last artworks seen for this template and page size are kept,
    and operations equal to those (dataclass equality, field by field) have their key."""
    near = (tpl.name, str(tpl.path), template_digest(tpl), layout.width, layout.height, layout.unit,
            layout.texts.get("title", ""), tuple(len(ops) for ops in base_ops))
    for ops, key in _ART_KEYS.get(near, ()):
        if ops == base_ops:
            return key
    key = hashlib.sha256(
        repr((tpl.name, template_digest(tpl), tpl.format_spec("pdf"), layout.width,
              layout.height, layout.unit, layout.texts.get("title", ""), base_ops)).encode()
    ).hexdigest()
    with _LOCK:
        seen = _ART_KEYS.setdefault(near, [])
        seen.insert(0, ([list(ops) for ops in base_ops], key))
        del seen[4:]
    return key


def _base(tpl, layout, base_ops: list[list]) -> dict:
    """The artwork PDF for these operations, rendered once per run and parsed once."""
    from pypdf import PdfReader

    key = _art_key(tpl, layout, base_ops)
    hit = _BASES.get(key)
    if hit is not None:
        STATS["base_hits"] += 1
        return hit
    data = _pdf_bytes(tpl, layout, base_ops, marks=True)
    reader = PdfReader(io.BytesIO(data))
    if len(_BASES) >= 64:  # single-unit builds never reset the run: stay bounded
        with _LOCK:
            _BASES.clear()
    pages = []
    for page in reader.pages:
        pages.append({"page": page, "content": zlib.compress(_content_bytes(page))})
    hit = {"reader": reader, "pages": pages, "key": key}
    with _LOCK:
        _BASES[key] = hit
        STATS["bases"] += 1
    return hit


def _content_bytes(page) -> bytes:
    """A page's content stream(s), decoded, as written (not re-serialised)."""
    contents = page.get("/Contents")
    if contents is None:
        return b""
    contents = contents.get_object()
    streams = [c.get_object() for c in contents] if isinstance(contents, list) else [contents]
    out = []
    for stream in streams:
        if stream.get("/Filter") in ("/FlateDecode", ["/FlateDecode"]) and not stream.get(
            "/DecodeParms"
        ):
            out.append(zlib.decompress(stream._data))
        else:
            out.append(stream.get_data())
    return b"\n".join(out)


def _compose(base: dict, overlay: bytes, out: Path) -> None:
    """Write ``overlay``'s pages with the artwork as a form XObject painted first."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        StreamObject,
    )

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(overlay)))
    for page, b in zip(writer.pages, base["pages"], strict=True):
        src = b["page"]
        form = StreamObject()
        form._data = b["content"]
        box = src.mediabox
        form.update({
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/Filter"): NameObject("/FlateDecode"),
            NameObject("/BBox"): ArrayObject([FloatObject(v) for v in
                                              (box.left, box.bottom, box.right, box.top)]),
            NameObject("/Resources"): src["/Resources"].clone(writer)
            if "/Resources" in src else DictionaryObject(),
        })
        if "/Group" in src:
            group = src["/Group"].clone(writer)
            form[NameObject("/Group")] = group
            if "/Group" not in page:
                page[NameObject("/Group")] = group
        ref = writer._add_object(form)
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else DictionaryObject()
        page[NameObject("/Resources")] = resources
        xobjects = resources.get("/XObject")
        xobjects = xobjects.get_object() if xobjects is not None else DictionaryObject()
        xobjects[NameObject("/LtArtwork")] = ref
        resources[NameObject("/XObject")] = xobjects
        content = DecodedStreamObject()
        content.set_data(b"q /LtArtwork Do Q\n" + _content_bytes(page))
        page[NameObject("/Contents")] = writer._add_object(content.flate_encode())
    buf = io.BytesIO()
    writer.write(buf)
    out.write_bytes(buf.getvalue())


def print_pdf(tpl, data: dict, brand: dict | None, out: Path, *, compose: bool = True) -> str:
    """Render a print template to ``out``: ``"composed"`` (shared artwork + unit overlay)
    or ``"full"`` (the whole page for this unit: ``compose=False``, or a template whose
    artwork moves with the unit's text)."""
    from media_templates import render
    from media_templates.layout import build_layout
    from media_templates.renderer import _check_brand
    from media_templates.spec import validate_data

    if compose:
        tpl.format_spec("pdf")
        _check_brand(brand)
        clean = validate_data(tpl, data)
        layout = build_layout(tpl, "pdf", clean, brand)
        parts = split_layout(layout, _probe_layout(tpl, clean, brand))
        if parts is not None:
            base = _base(tpl, layout, [b for b, _o in parts])
            overlay = _pdf_bytes(tpl, layout, [o for _b, o in parts], marks=False)
            _compose(base, overlay, Path(out))
            return "composed"
    with _LOCK:
        STATS["full"] += 1
    render(tpl, "pdf", data, out, brand=brand)
    return "full"


# -- audio -------------------------------------------------------------------------------------


#: samples of encoder delay LAME puts before a stream's audio (576 + 529), and the
#: frame multiple a chunk is padded to (1152: a whole frame at every MP3 rate)
MP3_DELAY = 1105
CHUNK_ALIGN = 1152
_MP3_BITRATES = {  # (MPEG-1, MPEG-2/2.5) layer III, kbit/s by index
    1: (32, 8), 2: (40, 16), 3: (48, 24), 4: (56, 32), 5: (64, 40), 6: (80, 48), 7: (96, 56),
    8: (112, 64), 9: (128, 80), 10: (160, 96), 11: (192, 112), 12: (224, 128),
    13: (256, 144), 14: (320, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_samples(data: bytes) -> int:
    """How many samples an MP3 stream (layer III frames, no tag) decodes to."""
    pos, total = 0, 0
    n = len(data)
    while pos + 4 <= n:
        h = int.from_bytes(data[pos:pos + 4], "big")
        if h >> 21 != 0x7FF:
            raise ValueError(f"no MP3 frame at byte {pos}")
        version = (h >> 19) & 3
        bitrate = _MP3_BITRATES[(h >> 12) & 15][0 if version == 3 else 1] * 1000
        rate = _MP3_RATES[version][(h >> 10) & 3]
        padding = (h >> 9) & 1
        per_frame = 1152 if version == 3 else 576
        pos += per_frame // 8 * bitrate // rate + padding
        total += per_frame
    return total


def _chunk(text: str, pause: float, voice: str, engine, spm: int, kbps: int, target_lufs: float,
           true_peak_db: float, cache: bool) -> tuple:
    """One spoken line and the pause after it, levelled on its own: (WAV samples aligned
    with the MP3's decoding, MP3 bytes, rate). From this run's cache when ``cache``."""
    import numpy as np

    from media_templates.speech import read_wav, synthesize, wav_to_mp3, write_wav
    from media_templates.speech.loudness import normalize_each

    key = hashlib.sha256(json.dumps(
        [text, pause, voice, str(engine), spm, kbps, target_lufs, true_peak_db]).encode()
    ).hexdigest()
    if cache:
        hit = _SEGMENTS.get(key)
        if hit is not None:
            STATS["segment_hits"] += 1
            return hit
    samples, rate = read_wav(
        synthesize(text, voice, engine=engine, syllables_per_minute=spm, normalise=False)
    )
    length = len(samples) + int(round(pause * rate))
    length += -length % CHUNK_ALIGN  # whole MP3 frames: the chunks join without a gap
    x = np.zeros(length, dtype=np.float32)
    x[: len(samples)] = samples
    (wav, _l, _p), (mp3_in, _l2, _p2) = normalize_each(
        x, rate, target_lufs, [true_peak_db, min(true_peak_db - 1.0, -2.5)]
    )
    mp3 = wav_to_mp3(write_wav(mp3_in, rate), kbps, true_peak_db=None)
    decoded = mp3_samples(mp3)
    # the WAV gets the same silence the MP3 decodes to (encoder delay before, padding after),
    # so both play the same length and the words at the same times
    aligned = np.zeros(max(decoded, MP3_DELAY + length), dtype=np.float32)
    aligned[MP3_DELAY : MP3_DELAY + length] = wav
    # 16-bit PCM as write_wav makes it (sample by sample, so chunks join to the same bytes)
    aligned *= np.float32(32767.0)
    np.rint(aligned, out=aligned)
    np.clip(aligned, -32768, 32767, out=aligned)
    hit = (aligned.astype("<i2").tobytes(), mp3, rate)
    if cache:
        with _LOCK:
            _SEGMENTS[key] = hit
            _FIRST.setdefault(key, _UNIT["serial"])
            _UNIT["keys"].append(key)
            STATS["segments"] += 1
    return hit


def reading_lines(script) -> list[list[str]]:
    """The script's reading text as sections of non-empty lines (what is spoken)."""
    sections = [[ln.strip() for ln in s.reading_text.split("\n") if ln.strip()]
                for s in script.sections]
    sections = [s for s in sections if s]
    if not sections and script.reading_text.strip():
        sections = [[script.reading_text.strip()]]
    return sections


def script_audio(
    script,
    *,
    voice: str = "vi",
    engine=None,
    bitrate_kbps: int = 64,
    compose: bool = True,
    target_lufs: float = -16.0,
    true_peak_db: float = -1.5,
) -> dict[str, bytes]:
    """A kit script's audio {"wav", "mp3"}: each line spoken, followed by its pause
    (``LINE_PAUSE`` inside a section, ``SECTION_PAUSE`` after one), levelled on its own
    to ``target_lufs`` (EBU R128) under ``true_peak_db`` (the MP3's input 1 dB lower),
    encoded as whole MP3 frames; the unit's file is these chunks joined. Every chunk
    at the target level and under the peak ceiling, the joined programme is too (its
    gaps are silence, below the loudness gate). With ``compose`` a line said by every
    unit is rendered once per run; without, every line is rendered again (the same
    bytes: a from-scratch build)."""
    from media_templates.speech import SpeechError

    sections = reading_lines(script)
    if not sections:
        raise SpeechError("Không có nội dung để đọc.", field="text")
    wavs, mp3s, rate = [], [], None
    for s_i, lines in enumerate(sections):
        for l_i, line in enumerate(lines):
            last_line = l_i == len(lines) - 1
            pause = 0.0 if last_line and s_i == len(sections) - 1 else (
                SECTION_PAUSE if last_line else LINE_PAUSE)
            wav, mp3, r = _chunk(line, pause, voice, engine, script.syllables_per_minute,
                                 bitrate_kbps, target_lufs, true_peak_db, compose)
            if rate is not None and r != rate:
                raise SpeechError("Các đoạn âm thanh có tần số lấy mẫu khác nhau.", field="text")
            rate = r
            wavs.append(wav)
            mp3s.append(mp3)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:  # mono 16-bit PCM, as media_templates.speech.write_wav
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(b"".join(wavs))
    return {"wav": buf.getvalue(), "mp3": b"".join(mp3s)}
