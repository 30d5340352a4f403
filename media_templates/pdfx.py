"""PDF/X-4 support for the print PDFs: the CMYK output profile, sRGB -> CMYK
colour conversion (littleCMS through Pillow's ImageCms) and the XMP packet.

The output profile is **ISO Coated v2 300% (basICColor)**, ICC class 'prtr',
colour space CMYK, characterised by FOGRA39 (ISO 12647-2 offset on coated
paper, the condition Vietnamese offset shops most often ask for). It is
shipped, under the zlib licence of basICColor GmbH, by the Debian package
``scribus-data`` and read from its installed path at run time; it is never
copied into the repository. ``LANTOA_PDFX_PROFILE`` may point to another
CMYK printer profile (e.g. a print shop's own); its description is then used
as the output condition and the identifier is ``Custom``.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from .errors import TemplateError

PDFX_VERSION = "PDF/X-4"
PDF_VERSION = "1.6"
DEFAULT_PROFILE = Path("/usr/share/scribus/profiles/ISOcoated_v2_300_bas.icc")
DEBIAN_PACKAGE = "scribus-data"
# What the output intent says about the default profile (ICC registry names).
DEFAULT_CONDITION = {
    "identifier": "FOGRA39",
    "condition": "Offset printing, according to ISO 12647-2:2004/Amd 1, "
    "OFCOM, paper type 1 or 2 = coated art, 115 g/m2, screen ruling 60/cm",
    "info": "ISO Coated v2 300% (basICColor), FOGRA39L characterisation, "
    "profile from the Debian package scribus-data (zlib licence)",
    "registry": "http://www.color.org",
}


@dataclass(frozen=True)
class OutputProfile:
    path: Path
    data: bytes
    description: str
    identifier: str
    condition: str
    info: str
    registry: str


def profile_path() -> Path:
    env = os.environ.get("LANTOA_PDFX_PROFILE", "").strip()
    return Path(env) if env else DEFAULT_PROFILE


def _missing() -> TemplateError:
    return TemplateError(
        "Không xuất được bản PDF/X-4: máy chủ chưa có hồ sơ màu CMYK in offset "
        "(ISO Coated v2 300%, FOGRA39). Quản trị viên cần cài gói Debian "
        f"'{DEBIAN_PACKAGE}' (apt-get install {DEBIAN_PACKAGE}); bản PDF thường vẫn xuất được.",
        field="pdfx",
        code="pdfx_profile_missing",
    )


def icc_header(data: bytes) -> dict:
    """Size, device class and colour space of an ICC profile (ICC.1 header)."""
    if len(data) < 132 or data[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    return {
        "size": struct.unpack(">I", data[0:4])[0],
        "class": data[12:16].decode("latin-1"),
        "space": data[16:20].decode("latin-1").strip(),
        "pcs": data[20:24].decode("latin-1").strip(),
    }


@functools.lru_cache(maxsize=4)
def _load(path_str: str, mtime: float) -> OutputProfile:
    from PIL import ImageCms

    path = Path(path_str)
    data = path.read_bytes()
    try:
        head = icc_header(data)
    except ValueError:
        head = {}
    if head.get("class") != "prtr" or head.get("space") != "CMYK":
        raise TemplateError(
            f"Hồ sơ màu '{path.name}' không phải hồ sơ máy in CMYK: không dùng được cho PDF/X-4.",
            field="pdfx",
            code="pdfx_bad_profile",
        )
    desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(data))).strip()
    if path == DEFAULT_PROFILE:
        c = DEFAULT_CONDITION
        return OutputProfile(
            path, data, desc, c["identifier"], c["condition"], c["info"], c["registry"]
        )
    return OutputProfile(path, data, desc, "Custom", desc, desc, "http://www.color.org")


def output_profile() -> OutputProfile:
    """The CMYK output profile, or TemplateError(code="pdfx_profile_missing")."""
    path = profile_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise _missing() from None
    return _load(str(path), mtime)


def available() -> bool:
    try:
        output_profile()
    except TemplateError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def srgb_bytes() -> bytes:
    """An sRGB ICC profile (built by littleCMS) to tag RGB images with."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


class CmykConverter:
    """sRGB -> CMYK of the output profile, relative colorimetric with black
    point compensation. Pure black becomes K only (text and rules print on
    one plate); white becomes no ink. Converted colours are cached per profile."""

    def __init__(self, profile: OutputProfile):
        self.transform = _transform(str(profile.path), profile.data)
        self.cache = _COLOUR_CACHE.setdefault(str(profile.path), {})

    def _apply(self, img):
        from PIL import Image

        out = Image.new("CMYK", img.size)
        # the core transform: ImageCms.applyTransform would also serialise the
        # 1 MB output profile into out.info on every call
        self.transform.transform.apply(img.getim(), out.getim())
        return out

    def __call__(self, rgb) -> tuple[float, float, float, float]:
        key = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
        hit = self.cache.get(key)
        if hit is None:
            if key == (0, 0, 0):
                hit = (0.0, 0.0, 0.0, 1.0)
            elif key == (255, 255, 255):
                hit = (0.0, 0.0, 0.0, 0.0)
            else:
                from PIL import Image

                px = self._apply(Image.new("RGB", (1, 1), key)).getpixel((0, 0))
                hit = tuple(round(v / 255, 4) for v in px)
            if len(self.cache) > 4096:
                self.cache.clear()
            self.cache[key] = hit
        return hit

    def image(self, img):
        """An opaque RGB image -> CMYK image; RGBA/LA images are only tagged
        sRGB (ICC-based colour, allowed in PDF/X-4)."""
        if img.mode == "RGB":
            return self._apply(img)
        img = img.copy()
        img.info["icc_profile"] = srgb_bytes()
        return img


_COLOUR_CACHE: dict[str, dict] = {}


@functools.lru_cache(maxsize=2)
def _transform(_path: str, data: bytes):
    from PIL import ImageCms

    return ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(srgb_bytes())),
        ImageCms.ImageCmsProfile(io.BytesIO(data)),
        "RGB",
        "CMYK",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )


def xmp(title: str, when: datetime, producer: str, creator: str, trapped: str = "False") -> str:
    """The XMP packet body (fpdf2 adds the <?xpacket?> wrapper)."""
    stamp = when.isoformat(timespec="seconds")
    doc_id = uuid.uuid4()
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:pdfxid="http://www.npes.org/pdfx/ns/id/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
   <xmp:CreateDate>{stamp}</xmp:CreateDate>
   <xmp:ModifyDate>{stamp}</xmp:ModifyDate>
   <xmp:MetadataDate>{stamp}</xmp:MetadataDate>
   <xmp:CreatorTool>{escape(creator)}</xmp:CreatorTool>
   <pdf:Producer>{escape(producer)}</pdf:Producer>
   <pdf:Trapped>{trapped}</pdf:Trapped>
   <xmpMM:DocumentID>uuid:{doc_id}</xmpMM:DocumentID>
   <xmpMM:InstanceID>uuid:{doc_id}</xmpMM:InstanceID>
   <xmpMM:VersionID>1</xmpMM:VersionID>
   <xmpMM:RenditionClass>default</xmpMM:RenditionClass>
   <pdfxid:GTS_PDFXVersion>{PDFX_VERSION}</pdfxid:GTS_PDFXVersion>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""
