"""QR codes for dichvucong.gov.vn, the province portal or tracked links."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TemplateError


@dataclass(frozen=True)
class QrVector:
    """Module matrix for vector output: draw a square per dark module."""

    url: str
    modules: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        return len(self.modules)

    def runs(self):
        """(row, col_start, length) of horizontal dark runs: few PDF rectangles."""
        for r, row in enumerate(self.modules):
            c = 0
            n = len(row)
            while c < n:
                if row[c]:
                    s = c
                    while c < n and row[c]:
                        c += 1
                    yield r, s, c - s
                else:
                    c += 1


def _check_url(url: str) -> None:
    if (
        not isinstance(url, str)
        or not url.lower().startswith(("http://", "https://"))
        or len(url) > 1000
    ):
        raise TemplateError(
            "Địa chỉ cho mã QR phải bắt đầu bằng http:// hoặc https:// (tối đa 1000 ký tự).",
            field="url",
            code="bad_url",
        )


def make_qr(
    url: str, size_px: int, *, vector: bool = False, fg: str = "#000000", bg: str = "#ffffff"
):
    """A QR code for ``url``: a PIL image ``size_px`` wide, or a QrVector for PDFs."""
    from .layout import parse_color
    from .raster import _qr_image, qr_matrix

    _check_url(url)
    if vector:
        return QrVector(url, qr_matrix(url))
    if not isinstance(size_px, int) or size_px < 21 or size_px > 8000:
        raise TemplateError(
            "Kích thước mã QR phải từ 21 đến 8000 điểm ảnh.", field="size_px", code="bad_size"
        )
    return _qr_image(url, size_px, parse_color(fg, {}), parse_color(bg, {})).convert("RGB")


_UNIT_CODE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def tracked_url(public_base_url: str, campaign_id: int, unit_code: str) -> str:
    """The campaign's tracked link for one unit (``/r/<campaign_id>/<unit_code>``),
    what print QR codes carry so each unit's scans are counted."""
    _check_url(public_base_url)
    if not isinstance(campaign_id, int) or isinstance(campaign_id, bool) or campaign_id <= 0:
        raise TemplateError(
            "Mã chiến dịch phải là số nguyên dương.", field="campaign_id", code="bad_type"
        )
    if not isinstance(unit_code, str) or not _UNIT_CODE.match(unit_code):
        raise TemplateError(
            "Mã đơn vị phải là chữ thường không dấu, số và dấu gạch ngang (ví dụ 'tx-vinh-chau').",
            field="unit_code",
            code="bad_type",
        )
    return f"{public_base_url.rstrip('/')}/r/{campaign_id}/{unit_code}"
