"""Errors raised by the signing package.

Every public function in ``signing`` raises a subclass of :class:`SigningError`
for bad input or a broken environment, so callers catch one root.
"""

from __future__ import annotations


class SigningError(Exception):
    """Root of every error raised by the signing package."""


class FontNotFoundError(SigningError):
    """The CJK TrueType font needed to print license faces is not installed."""


class RenderError(SigningError):
    """A license face cannot be rendered as given (bad value, glyph missing, overflow)."""


class PayloadError(SigningError):
    """A QR payload, QR URL or face-digest input is malformed."""


class PayloadTooLargeError(PayloadError):
    """Scanned QR text is larger than any genuine Yiwang QR code can be."""


class PayloadSignatureError(PayloadError):
    """A QR token's signature does not verify against the keys offered."""


class SignatureError(SigningError):
    """A PDF cannot be signed, or a signed PDF's signature cannot be located."""
