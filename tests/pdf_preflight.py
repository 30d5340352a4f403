"""Our own PDF/X-4 preflight (veraPDF is in none of the registries we use).

``preflight_pdfx4(path) -> list[str]`` returns the problems found (empty
list = accepted). What it checks is listed in docs/media.md ("PDF/X-4
preflight"). Run by hand: ``.venv/bin/python -m tests.pdf_preflight FILE.pdf``.
Needs pypdf (requirements-dev) and, for the font check, ``pdffonts``
(Debian poppler-utils); ``qpdf --check`` (Debian qpdf) is checked separately by
``qpdf_check``.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ArrayObject, ContentStream, DictionaryObject, IndirectObject, NameObject

PDFXID = "http://www.npes.org/pdfx/ns/id/"
PDF_NS = "http://ns.adobe.com/pdf/1.3/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"


def pdf_version(path: Path) -> tuple[int, int]:
    head = Path(path).read_bytes()[:16]
    m = re.match(rb"%PDF-(\d)\.(\d)", head)
    if not m:
        raise ValueError(f"{path}: no %PDF header")
    return int(m.group(1)), int(m.group(2))


def qpdf_check(path: Path) -> list[str]:
    """``qpdf --check``: exit status 0 and no warning lines."""
    qpdf = shutil.which("qpdf")
    if not qpdf:
        return ["qpdf not installed (Debian package qpdf)"]
    proc = subprocess.run([qpdf, "--check", str(path)], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    problems = []
    if proc.returncode != 0:
        problems.append(f"qpdf --check exit {proc.returncode}: {out[-400:]}")
    if "WARNING" in out.upper():
        problems.append(f"qpdf --check warnings: {out[-400:]}")
    if "No syntax or stream encoding errors found" not in out:
        problems.append(f"qpdf --check did not report a clean file: {out[-400:]}")
    return problems


def pdffonts(path: Path) -> list[dict]:
    """Rows of ``pdffonts``: name, type, emb (bool)."""
    exe = shutil.which("pdffonts")
    if not exe:
        raise FileNotFoundError("pdffonts not installed (Debian package poppler-utils)")
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        if not line.strip():
            continue
        # columns: name type encoding emb sub uni object ID; type may hold spaces
        m = re.match(r"(\S+)\s+(.+?)\s+(\S+)\s+(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", line)
        if not m:
            raise ValueError(f"pdffonts line not understood: {line!r}")
        rows.append({"name": m.group(1), "type": m.group(2), "emb": m.group(4) == "yes"})
    return rows


def _box(page, key: str):
    raw = page.get(key)
    if raw is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in raw)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _inside(inner, outer, eps: float = 0.01) -> bool:
    return (
        inner[0] >= outer[0] - eps
        and inner[1] >= outer[1] - eps
        and inner[2] <= outer[2] + eps
        and inner[3] <= outer[3] + eps
    )


def _walk(obj, seen: set, found: list[str], path: str = "") -> None:
    """Every dictionary reachable from the trailer: JavaScript keys and
    DeviceRGB image colour spaces."""
    if isinstance(obj, IndirectObject):
        key = (obj.idnum, obj.generation)
        if key in seen:
            return
        seen.add(key)
        obj = obj.get_object()
    if isinstance(obj, DictionaryObject):
        for k in obj:
            if k in ("/JS", "/JavaScript", "/AA"):
                found.append(f"{path}{k}: JavaScript or additional actions")
            if k == "/S" and obj[k] == NameObject("/JavaScript"):
                found.append(f"{path}: a JavaScript action")
        if obj.get("/Subtype") == "/Image" and obj.get("/ColorSpace") == "/DeviceRGB":
            found.append(f"{path}: image in DeviceRGB")
        for k, v in obj.items():
            if k in ("/Parent", "/P"):
                continue
            _walk(v, seen, found, f"{path}{k}")
    elif isinstance(obj, ArrayObject):
        for i, v in enumerate(obj):
            _walk(v, seen, found, f"{path}[{i}]")


def _xmp_values(xml: bytes) -> dict[str, str]:
    root = ET.fromstring(xml)
    out: dict[str, str] = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for ns, name, key in (
            (PDFXID, "GTS_PDFXVersion", "pdfx"),
            (PDF_NS, "Trapped", "trapped"),
        ):
            el = desc.find(f"{{{ns}}}{name}")
            if el is not None and el.text:
                out[key] = el.text.strip()
            attr = desc.get(f"{{{ns}}}{name}")
            if attr:
                out[key] = attr.strip()
        title = desc.find(f"{{{DC}}}title")
        if title is not None:
            li = title.find(f".//{{{RDF}}}li")
            if li is not None and li.text:
                out["title"] = li.text.strip()
    return out


def preflight_pdfx4(path) -> list[str]:
    """Problems that keep ``path`` from being accepted as PDF/X-4 (empty: ok)."""
    path = Path(path)
    problems: list[str] = []
    if pdf_version(path) < (1, 6):
        problems.append(f"PDF version {pdf_version(path)} < 1.6")
    problems += qpdf_check(path)
    reader = PdfReader(str(path))
    if reader.is_encrypted or "/Encrypt" in reader.trailer:
        problems.append("encrypted")
        return problems
    if not reader.trailer.get("/ID"):
        problems.append("trailer has no /ID")
    root = reader.trailer["/Root"].get_object()

    # output intent with an embedded CMYK printer profile
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    pdfx = [i for i in intents if i.get("/S") == "/GTS_PDFX"]
    if len(pdfx) != 1:
        problems.append(f"{len(pdfx)} GTS_PDFX output intents (need exactly 1)")
    for oi in pdfx:
        if not str(oi.get("/OutputConditionIdentifier", "")).strip():
            problems.append("output intent without OutputConditionIdentifier")
        if not str(oi.get("/Info", "")).strip():
            problems.append("output intent without Info")
        prof = oi.get("/DestOutputProfile")
        if prof is None:
            problems.append("output intent without an embedded DestOutputProfile")
            continue
        prof = prof.get_object()
        data = prof.get_data()
        if len(data) < 132 or data[36:40] != b"acsp":
            problems.append("DestOutputProfile is not an ICC profile")
            continue
        if struct.unpack(">I", data[:4])[0] != len(data):
            problems.append("DestOutputProfile: ICC header size differs from the stream length")
        if data[12:16] != b"prtr":
            problems.append(f"DestOutputProfile class {data[12:16]!r}, need b'prtr'")
        if data[16:20] != b"CMYK":
            problems.append(f"DestOutputProfile colour space {data[16:20]!r}, need b'CMYK'")
        if int(prof.get("/N", 0)) != 4:
            problems.append("DestOutputProfile /N is not 4")

    # Info and XMP
    info = reader.trailer.get("/Info")
    info = info.get_object() if info is not None else {}
    if info.get("/GTS_PDFXVersion") != "PDF/X-4":
        problems.append(f"Info /GTS_PDFXVersion is {info.get('/GTS_PDFXVersion')!r}")
    if info.get("/Trapped") not in ("/True", "/False"):
        problems.append(f"Info /Trapped is {info.get('/Trapped')!r} (need True or False)")
    for key in ("/Title", "/CreationDate", "/ModDate"):
        if not info.get(key):
            problems.append(f"Info has no {key}")
    meta = root.get("/Metadata")
    if meta is None:
        problems.append("no XMP metadata stream in the catalog")
    else:
        try:
            xmp = _xmp_values(meta.get_object().get_data())
        except ET.ParseError as exc:
            problems.append(f"XMP is not well-formed XML: {exc}")
            xmp = {}
        if xmp.get("pdfx") != "PDF/X-4":
            problems.append(f"XMP pdfxid:GTS_PDFXVersion is {xmp.get('pdfx')!r}")
        if info.get("/Trapped") and xmp.get("trapped") != str(info.get("/Trapped")).lstrip("/"):
            problems.append("XMP pdf:Trapped differs from Info /Trapped")
        if info.get("/Title") and xmp.get("title") != str(info.get("/Title")):
            problems.append("XMP dc:title differs from Info /Title")

    # page boxes and device colour
    for n, page in enumerate(reader.pages, start=1):
        media, bleed, trim = (
            _box(page, "/MediaBox"),
            _box(page, "/BleedBox"),
            _box(page, "/TrimBox"),
        )
        if trim is None or bleed is None:
            problems.append(f"page {n}: TrimBox and BleedBox required")
            continue
        if not _inside(trim, bleed):
            problems.append(f"page {n}: TrimBox not inside BleedBox")
        if not _inside(bleed, media):
            problems.append(f"page {n}: BleedBox not inside MediaBox")
        group = page.get("/Group")
        if group is not None and group.get_object().get("/CS") == "/DeviceRGB":
            problems.append(f"page {n}: transparency group blends in DeviceRGB")
        ops = ContentStream(page.get_contents(), reader).operations
        rgb = [op for _args, op in ops if op in (b"rg", b"RG")]
        if rgb:
            problems.append(f"page {n}: {len(rgb)} DeviceRGB colour operators")

    # fonts, JavaScript, DeviceRGB images
    try:
        fonts = pdffonts(path)
    except FileNotFoundError as exc:
        problems.append(str(exc))
    else:
        problems += [f"font not embedded: {f['name']}" for f in fonts if not f["emb"]]
    found: list[str] = []
    _walk(reader.trailer.get("/Root"), set(), found, "/Root")
    problems += found
    return problems


if __name__ == "__main__":
    bad = 0
    for arg in sys.argv[1:]:
        probs = preflight_pdfx4(arg)
        print(f"{arg}: {'OK' if not probs else 'FAILED'}")
        for p in probs:
            print(f"  - {p}")
        bad += bool(probs)
    sys.exit(1 if bad else 0)
