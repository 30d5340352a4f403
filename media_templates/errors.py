"""The one error type of media_templates: bad input, told in Vietnamese."""

from __future__ import annotations

import unicodedata


class TemplateError(ValueError):
    """Bad input for a template render.

    ``field`` names the offending field (or None), ``message`` is the
    Vietnamese text shown to the user, ``code`` a short English slug the API
    and tests match on (``unknown_template``, ``missing_field``, ``too_long``...).
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        self.message = unicodedata.normalize("NFC", message)
        self.field = field
        self.code = code
        super().__init__(self.message)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field}

    def __repr__(self) -> str:
        return f"TemplateError(code={self.code!r}, field={self.field!r}, message={self.message!r})"
