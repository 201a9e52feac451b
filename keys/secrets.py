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


def derive(master_key: bytes, label: str, length: int = 32) -> bytes:
    """A subkey for one purpose; different labels give independent keys."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=b"yiwang derived secret: " + label.encode()).derive(master_key)


def seal(key: bytes, plaintext: bytes, context: bytes = b"") -> bytes:
    nonce = os.urandom(12)
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, context: bytes = b"") -> bytes:
    if len(sealed) < 29 or sealed[:1] != _SEAL_VERSION:
        raise CorruptKeyRecordError("sealed value has an unknown format")
    try:
        return AESGCM(key).decrypt(sealed[1:13], sealed[13:], context)
    except InvalidTag:
        raise CorruptKeyRecordError("sealed value does not open with this key") from None


def blind_index(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
