"""Errors raised by the identity provider.

Every error the ``idp`` package raises on purpose derives from :class:`IdpError`,
so callers can catch the package's failures without catching programming
errors. Identifier errors also derive from :class:`ValueError`, because a bad
ID number is a bad value, and code that already expects ``ValueError`` (form
validation, python-stdnum users) keeps working.
"""

from __future__ import annotations

__all__ = [
    "IdentifierError",
    "IdpError",
    "InvalidAuthorityCode",
    "InvalidBirthDate",
    "InvalidChecksum",
    "InvalidFormat",
    "InvalidLength",
    "InvalidRegion",
]


class IdpError(Exception):
    """Root of every error the idp package raises on purpose."""


class IdentifierError(IdpError, ValueError):
    """A resident ID number or unified social credit code was refused.

    The message is meant for users and logs alike, so it never contains a
    full resident ID number: ID numbers are personal information and only
    their masked form (``110105********123X``) may appear.
    """

    default_message = "The identifier is not valid."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidLength(IdentifierError):
    """The identifier has the wrong number of characters."""

    default_message = "The identifier has the wrong length."


class InvalidFormat(IdentifierError):
    """The identifier contains a character that is not allowed where it is."""

    default_message = "The identifier contains a character that is not allowed."


class InvalidChecksum(IdentifierError):
    """A check digit or check character does not match the rest of the identifier."""

    default_message = "The identifier's check character is wrong."


class InvalidBirthDate(IdentifierError):
    """The birth date in a resident ID number is impossible, too early or in the future."""

    default_message = "The birth date in the ID number is not possible."


class InvalidRegion(IdentifierError):
    """The administrative region code is unknown or malformed."""

    default_message = "The region code is not valid."


class InvalidAuthorityCode(IdentifierError):
    """A USCC's registration-authority or entity-type code is not assigned (GB 32100)."""

    default_message = "The registration authority or entity type code is not valid."
