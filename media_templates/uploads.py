"""Checks for uploaded images (logos, photos) before they reach a template."""

from __future__ import annotations

import io

from .errors import TemplateError

ALLOWED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP: any real photo, never a decompression bomb


def check_upload_image(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> bytes:
    """Validate an uploaded image and return a clean copy.

    Type is decided by content (PNG, JPEG, WebP), not by name; size and pixel
    count are bounded (Pillow's decompression-bomb guard included); EXIF
    orientation is applied and every metadata block (EXIF with GPS, XMP,
    comments) is dropped. The result is PNG for PNG/WebP input with alpha,
    JPEG otherwise.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(raw, (bytes, bytearray)) or not raw:
        raise TemplateError("Tệp ảnh trống.", field="image", code="empty_file")
    if len(raw) > max_bytes:
        raise TemplateError(
            f"Tệp ảnh {len(raw) / 1048576:.1f} MB vượt giới hạn {max_bytes / 1048576:.0f} MB.",
            field="image",
            code="too_large",
        )
    try:
        im = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError as exc:
        raise TemplateError(
            "Tệp tải lên không phải là ảnh (chấp nhận PNG, JPEG, WebP).",
            field="image",
            code="not_an_image",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise TemplateError(
            "Ảnh có số điểm ảnh quá lớn (nghi ngờ bom giải nén).",
            field="image",
            code="too_many_pixels",
        ) from exc
    with im:
        if im.format not in ALLOWED:
            raise TemplateError(
                f"Định dạng ảnh {im.format} không được chấp nhận (chấp nhận PNG, JPEG, WebP).",
                field="image",
                code="bad_image_type",
            )
        w, h = im.size
        if w * h > max_pixels:
            raise TemplateError(
                f"Ảnh {w}×{h} điểm ảnh vượt giới hạn {max_pixels / 1e6:.0f} triệu điểm ảnh.",
                field="image",
                code="too_many_pixels",
            )
        fmt = im.format
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise TemplateError(
                "Tệp ảnh bị hỏng hoặc không đọc được.", field="image", code="corrupt_image"
            ) from exc
        has_alpha = im.mode in ("RGBA", "LA", "PA") or (
            im.mode == "P" and "transparency" in im.info
        )
        out = io.BytesIO()
        if fmt == "JPEG" or not has_alpha:
            clean = im.convert("RGB")
            if fmt == "JPEG":
                clean.save(out, format="JPEG", quality=92, optimize=True)
            else:
                clean.save(out, format="PNG", compress_level=6)
        else:
            im.convert("RGBA").save(out, format="PNG", compress_level=6)
        return out.getvalue()
