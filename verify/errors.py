"""Errors inside the verification package.

The public verification functions never raise for bad input: whatever is
wrong with a file, an image or a scanned text becomes a verdict. These
errors travel between the package's own steps (and out of the trust-list
loader, whose callers decide what a bad list means for them).
"""

from __future__ import annotations

__all__ = ["ImageError", "InputRefused", "TrustListError", "VerifyError"]


class VerifyError(Exception):
    """Root of every error the ``verify`` package raises."""


class InputRefused(VerifyError):
    """Input that cannot be a license or a verification code (too large, wrong kind)."""


class ImageError(InputRefused):
    """An image that cannot be decoded safely, or holds no QR code."""


class TrustListError(VerifyError):
    """A trust list that is malformed, not signed by a certificate under the root, or stale."""
