"""Wrapping private keys under the master key (AES-256-GCM or SM4-GCM).

A wrapped blob describes itself, so keys wrapped under one cipher stay
readable after the configured cipher changes::

    version (1 byte, 0x01) | algorithm (1 byte) | nonce (12 bytes) | ciphertext+tag

Each cipher uses its own subkey, derived from the master key with HKDF-SHA256
and a distinct ``info``, so the two never share a key. The associated data is
the two header bytes plus a *context* naming the record (key id, purpose,
owner): a wrapped key copied into another record does not authenticate there.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import CorruptKeyRecordError, KeyStoreError

FORMAT_VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16
AES_256_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"
ALGORITHMS = (AES_256_GCM, SM4_GCM)

_ALGORITHM_IDS = {AES_256_GCM: 1, SM4_GCM: 2}
_ALGORITHM_NAMES = {number: name for name, number in _ALGORITHM_IDS.items()}
_SUBKEY_INFO = {
    AES_256_GCM: (b"yiwang/keys/wrap/aes-256-gcm/v1", 32),
    SM4_GCM: (b"yiwang/keys/wrap/sm4-gcm/v1", 16),
}
_HEADER_SIZE = 2


def record_context(kid: str, purpose: str, owner: str | None) -> bytes:
    """The associated data binding a wrapped key to its key record."""
    # NUL cannot occur in kids (url-safe base64), purposes or USCCs, so the
    # joined form is unambiguous.
    return b"\x00".join((b"yiwang/keys/record/v1", kid.encode(), purpose.encode(),
                         (owner or "").encode()))


class KeyWrapper:
    """Wraps and unwraps byte strings under subkeys of one master key."""

    def __init__(self, master_key: bytes, algorithm: str = AES_256_GCM) -> None:
        if len(master_key) != 32:
            raise KeyStoreError("the master key must be 32 bytes")
        if algorithm not in ALGORITHMS:
            raise KeyStoreError(
                f"unknown wrap algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}"
            )
        self.algorithm = algorithm
        self._subkeys = {name: _derive(master_key, name) for name in ALGORITHMS}
        self._aes = AESGCM(self._subkeys[AES_256_GCM])

    def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        header = bytes((FORMAT_VERSION, _ALGORITHM_IDS[self.algorithm]))
        nonce = secrets.token_bytes(NONCE_SIZE)
        aad = header + context
        if self.algorithm == AES_256_GCM:
            sealed = self._aes.encrypt(nonce, plaintext, aad)
        else:
            sealed = _sm4_gcm_encrypt(self._subkeys[SM4_GCM], nonce, plaintext, aad)
        return header + nonce + sealed

    def unwrap(self, blob: bytes, context: bytes) -> bytes:
        """Return the plaintext, or raise :class:`CorruptKeyRecordError`.

        A failure here means the wrong master key, a blob moved from another
        record, or damaged bytes; the key store tells them apart with its
        master-key check value.
        """
        if len(blob) < _HEADER_SIZE + NONCE_SIZE + TAG_SIZE:
            raise CorruptKeyRecordError("wrapped key is too short")
        version, algorithm_id = blob[0], blob[1]
        if version != FORMAT_VERSION:
            raise CorruptKeyRecordError(f"unknown wrapped-key format version {version}")
        algorithm = _ALGORITHM_NAMES.get(algorithm_id)
        if algorithm is None:
            raise CorruptKeyRecordError(f"unknown wrap algorithm id {algorithm_id}")
        nonce = blob[_HEADER_SIZE:_HEADER_SIZE + NONCE_SIZE]
        sealed = blob[_HEADER_SIZE + NONCE_SIZE:]
        aad = blob[:_HEADER_SIZE] + context
        try:
            if algorithm == AES_256_GCM:
                return self._aes.decrypt(nonce, sealed, aad)
            return _sm4_gcm_decrypt(self._subkeys[SM4_GCM], nonce, sealed, aad)
        except InvalidTag:
            raise CorruptKeyRecordError("wrapped key does not authenticate") from None


def wrap_algorithm_of(blob: bytes) -> str:
    """The cipher named in a wrapped blob's header (for reports and tests)."""
    if len(blob) < _HEADER_SIZE or blob[1] not in _ALGORITHM_NAMES:
        raise CorruptKeyRecordError("wrapped key has no valid header")
    return _ALGORITHM_NAMES[blob[1]]


def _derive(master_key: bytes, algorithm: str) -> bytes:
    info, length = _SUBKEY_INFO[algorithm]
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master_key)


def _sm4_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    # cryptography has no SM4 AEAD class; the GCM mode of the Cipher API is
    # the same construction (16-byte tag appended, like AESGCM).
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return ciphertext + encryptor.tag


def _sm4_gcm_decrypt(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    ciphertext, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(ciphertext) + decryptor.finalize()
