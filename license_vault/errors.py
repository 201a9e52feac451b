"""Errors raised by the license vault.

Every error the ``license_vault`` package raises on purpose derives from
:class:`LicenseVaultError`. Errors about malformed input also derive from
:class:`ValueError`, since that is what they are.

Each class carries what the API answers with: a stable ``error`` code, the
HTTP ``status`` and, for input errors, the ``field`` at fault (a face-field
key such as ``registered_capital``, or ``type``, ``holder``, ``valid_until``,
``department``; in license-type definitions a path such as ``fields[2].key``).
"""

from __future__ import annotations

__all__ = [
    "BlobStoreError",
    "CatalogueError",
    "Conflict",
    "DepartmentExists",
    "InvalidField",
    "InvalidHolder",
    "InvalidLicenseIdentifier",
    "InvalidLicenseType",
    "InvalidRequest",
    "InvalidStatus",
    "IssuanceError",
    "LicenseTypeExists",
    "LicenseVaultError",
    "NotAllowed",
    "NotFound",
    "UnknownDepartment",
    "UnknownType",
]


class LicenseVaultError(Exception):
    """Root of every error the license_vault package raises on purpose."""

    error = "server_error"
    status = 500
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field

    def to_json(self) -> dict[str, str]:
        """The API error body: ``error``, ``error_description`` and ``field`` when known."""
        body = {"error": self.error, "error_description": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidLicenseIdentifier(LicenseVaultError, ValueError):
    """A license identifier (GB/T 36904 style) or one of its parts was refused.

    ``part`` names the part that failed, so that callers (verification
    verdicts, API error bodies) can tell a mistyped check character from a
    foreign prefix without parsing the message: one of ``"prefix"``,
    ``"parts"``, ``"type_code"``, ``"issuer"``, ``"serial"``, ``"version"``,
    ``"check"``.
    """

    error = "invalid_identifier"
    status = 400

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


# --- bad input (400) ---------------------------------------------------------------------


class InvalidRequest(LicenseVaultError, ValueError):
    """The request is malformed as a whole (not JSON, wrong shape)."""

    error = "invalid_request"
    status = 400


class InvalidField(LicenseVaultError, ValueError):
    """A face field, or a date of the license, is missing, unknown, too long or malformed."""

    error = "invalid_field"
    status = 400


class UnknownType(LicenseVaultError, ValueError):
    """No license type has this code."""

    error = "unknown_type"
    status = 400
    field = "type"


class InvalidHolder(LicenseVaultError, ValueError):
    """The holder ID is not a valid ID number or USCC, or not of the kind the type needs."""

    error = "invalid_holder"
    status = 400
    field = "holder"


class InvalidStatus(LicenseVaultError, ValueError):
    """An unknown status code, or a status change without a reason."""

    error = "invalid_status"
    status = 400


class UnknownDepartment(LicenseVaultError, ValueError):
    """No department has this USCC."""

    error = "unknown_department"
    status = 400
    field = "department"


class CatalogueError(LicenseVaultError, ValueError):
    """Root of errors about license-type definitions."""

    error = "invalid_license_type"
    status = 400


class InvalidLicenseType(CatalogueError):
    """A license-type definition breaks the schema; ``field`` is the path at fault."""


# --- refusals ----------------------------------------------------------------------------


class NotAllowed(LicenseVaultError):
    """The department may not do this (issue this type, change this license)."""

    error = "not_allowed"
    status = 403


class NotFound(LicenseVaultError):
    """No such license, or not one the caller may see: both answer the same."""

    error = "not_found"
    status = 404


class Conflict(LicenseVaultError):
    """The request contradicts the license's state (final status, already renewed)."""

    error = "conflict"
    status = 409


class DepartmentExists(Conflict):
    """A department with this USCC is already registered."""


class LicenseTypeExists(Conflict, CatalogueError):
    """A different license type with this code is already in the catalogue.

    Conflict comes first, so it answers 409 ``conflict``, not CatalogueError's 400.
    """


# --- failures of ours (500) ----------------------------------------------------------------


class IssuanceError(LicenseVaultError):
    """Issuance failed for a reason that is not the caller's (signing, keys)."""


class BlobStoreError(LicenseVaultError):
    """The blob store could not write, read or find a blob."""
