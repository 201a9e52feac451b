"""License holders: a person by resident ID number, an entity by USCC.

A person's ID number is personal information: the vault keeps it sealed and
finds it through the identity provider's blind index (the same one
``idp.accounts`` uses), so the licenses of a person who logs in are found
from their account without the number ever being stored in clear. A USCC
is public and is its own key.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from idp import accounts
from idp.errors import IdentifierError
from idp.identifiers import ric, uscc
from license_vault.errors import InvalidHolder

__all__ = ["HOLDER_SEAL", "Holder", "SealingBox", "holder_key", "mask_uscc", "resolve_holder",
           "unseal_id"]

HOLDER_SEAL = "vault holder id"
_SEAL_CONTEXT = b"license-holder"
KIND_NAMES = {"person": "a person (resident ID number)",
              "entity": "an entity (unified social credit code)"}


class SealingBox(Protocol):
    def seal(self, label: str, plaintext: bytes, context: bytes = b"") -> bytes: ...
    def unseal(self, label: str, sealed: bytes, context: bytes = b"") -> bytes: ...
    def blind_index(self, label: str, value: str) -> str: ...


@dataclasses.dataclass(frozen=True)
class Holder:
    """A validated holder: canonical ID (kept in memory only), its key and masked forms."""

    kind: str
    canonical_id: str
    key: str  # blind index (person) or USCC (entity)
    masked: str  # what operators and APIs show
    qr_masked: str  # what the QR payload carries (always contains "*")


def _kind_of(value: str) -> str | None:
    if ric.is_valid(value):
        return "person"
    if uscc.is_valid(value):
        return "entity"
    return None


def resolve_holder(box: SealingBox, kind: str, holder_id: object, *,
                   type_name: str = "this license") -> Holder:
    """Check ``holder_id`` is a valid ID of the ``kind`` the license type needs."""
    if not isinstance(holder_id, str) or not holder_id.strip():
        raise InvalidHolder("holder is required: the holder's resident ID number or USCC")
    validate = ric.validate if kind == "person" else uscc.validate
    try:
        canonical = validate(holder_id)
    except IdentifierError as exc:
        other = _kind_of(holder_id)
        if other is not None and other != kind:
            raise InvalidHolder(f"holder: {type_name} is held by {KIND_NAMES[kind]}, but "
                                f"{KIND_NAMES[other].split(' (')[0]}'s ID was given") from None
        raise InvalidHolder(f"holder: {exc}") from None
    if kind == "person":
        index = accounts.lookup_index(box, canonical)  # type: ignore[arg-type]
        assert index is not None  # the number was validated above
        return Holder(kind, canonical, index, ric.mask(canonical), ric.mask(canonical))
    return Holder(kind, canonical, canonical, uscc.mask(canonical), mask_uscc(canonical))


def mask_uscc(code: str) -> str:
    """A USCC as QR codes and verifier pages show it: the first eight characters, then stars.

    A USCC is public (``uscc.mask`` shows it whole), but a QR payload's
    holder ID must contain ``*``; the eight kept are the authority, entity
    type and region.

    >>> mask_uscc("91110108MA01W8XK31")
    '91110108**********'
    """
    return code[:8] + "*" * (len(code) - 8)


def holder_key(box: SealingBox, holder_id: str) -> tuple[str, str] | None:
    """(kind, key) to look a holder's licenses up by, or None for an invalid ID."""
    kind = _kind_of(holder_id)
    if kind is None:
        return None
    return kind, resolve_holder(box, kind, holder_id).key


def seal_id(box: SealingBox, holder: Holder) -> bytes:
    return box.seal(HOLDER_SEAL, holder.canonical_id.encode("ascii"), _SEAL_CONTEXT)


def unseal_id(box: SealingBox, sealed: bytes) -> str:
    """The holder's ID in clear: for the license's own uses only (printing, the holder)."""
    return box.unseal(HOLDER_SEAL, sealed, _SEAL_CONTEXT).decode("ascii")
