"""Errors raised by the key store.

Every public function in :mod:`keys` raises a subclass of :class:`KeyStoreError`
and nothing else. Messages name files, key ids, purposes and serials, never key
material or plaintext.
"""

from __future__ import annotations


class KeyStoreError(Exception):
    """Root of every error the ``keys`` package raises."""


class MasterKeyMissingError(KeyStoreError):
    """The master key file does not exist (run ``yiwang init`` first)."""


class WrongMasterKeyError(KeyStoreError):
    """The master key does not match the one the key store was initialised with."""


class MasterKeyFileError(KeyStoreError):
    """The master key file is unsafe (readable by others) or malformed."""


class KeyNotFoundError(KeyStoreError):
    """No key matches the requested kid, purpose or owner."""


class CorruptKeyRecordError(KeyStoreError):
    """A key record does not authenticate under the right master key.

    The record was altered or moved (its wrapped private key belongs to
    another record), or the stored bytes are damaged.
    """


class NotInitialisedError(KeyStoreError):
    """The key store has not been initialised (no master-key check value)."""


class CertificateNotFoundError(KeyStoreError):
    """No issued certificate has the given serial number."""


class SM2Error(KeyStoreError):
    """An SM2 key or signature operation failed (bad key, library error)."""


class TokenInvalidError(KeyStoreError):
    """A signed token was refused: malformed, unknown kid, bad signature or expired.

    Raised for JWS/JWT (:mod:`keys.jws`) and COSE_Sign1 (:mod:`keys.cose`) alike.
    """
