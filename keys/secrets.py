"""Secrets derived from the master key: personal-data sealing and blind indexes.

A resident ID number is personal information. It is stored sealed
(AES-256-GCM under a key derived for that label) and found through a keyed
blind index (HMAC-SHA256), so the database alone reveals neither the number
nor, by hashing guesses, which row holds a given number.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.errors import CorruptKeyRecordError

_SEAL_VERSION = b"\x01"
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER_SIZE = len(_SEAL_VERSION) + _NONCE_SIZE


def derive(master_key: bytes, label: str, length: int = 32) -> bytes:
    """A subkey for one purpose; different labels give independent keys."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=b"yiwang derived secret: " + label.encode()).derive(master_key)


def seal(key: bytes, plaintext: bytes, context: bytes = b"") -> bytes:
    """Version byte, random nonce, AES-256-GCM ciphertext and tag; ``context`` is bound as AAD."""
    nonce = os.urandom(_NONCE_SIZE)
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, context: bytes = b"") -> bytes:
    """The plaintext of :func:`seal`'s output under the same key and context."""
    if len(sealed) < _HEADER_SIZE + _TAG_SIZE or sealed[:1] != _SEAL_VERSION:
        raise CorruptKeyRecordError("sealed value has an unknown format")
    try:
        return AESGCM(key).decrypt(sealed[1:_HEADER_SIZE], sealed[_HEADER_SIZE:], context)
    except InvalidTag:
        raise CorruptKeyRecordError("sealed value does not open with this key") from None


def blind_index(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
