"""Errors raised by the license vault.

Every error the ``license_vault`` package raises on purpose derives from
:class:`LicenseVaultError`. Errors about malformed input also derive from
:class:`ValueError`, since that is what they are.
"""

from __future__ import annotations

__all__ = ["InvalidLicenseIdentifier", "LicenseVaultError"]


class LicenseVaultError(Exception):
    """Root of every error the license_vault package raises on purpose."""


class InvalidLicenseIdentifier(LicenseVaultError, ValueError):
    """A license identifier (GB/T 36904 style) or one of its parts was refused.

    ``part`` names the part that failed, so that callers (verification
    verdicts, API error bodies) can tell a mistyped check character from a
    foreign prefix without parsing the message: one of ``"prefix"``,
    ``"parts"``, ``"type_code"``, ``"issuer"``, ``"serial"``, ``"version"``,
    ``"check"``.
    """

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.message = message
        self.part = part
