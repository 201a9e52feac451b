"""SM2 signatures (GB/T 32918) and SM3 hashing.

Signing uses gmssl-pyx (GmSSL in C, CSPRNG nonces). The pure-Python ``gmssl``
package draws nonces from ``random`` and must never sign. We compute
``e = SM3(Z || M)`` ourselves and sign the digest: gmssl-pyx's ``sm2_sign``
does the same work but re-derives per-key tables on every call (~2.4 ms
against ~0.3 ms).

Keys: the private key is the 32-byte scalar, the public key the uncompressed
65-byte point ``04 || X || Y``. Signatures are DER ``SEQUENCE { r, s }``, the
form OpenSSL and GM/T 0009 use. The default user ID is ``1234567812345678``
(GM/T 0009); OpenSSL needs it spelt out (``-pkeyopt distid:1234567812345678``).

>>> private, public = generate()
>>> signature = sign(private, public, b"message")
>>> verify(public, b"message", signature), verify(public, b"massage", signature)
(True, False)
"""

from __future__ import annotations

import base64

import gmssl_pyx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .errors import SM2Error

DEFAULT_USER_ID = b"1234567812345678"
CURVE_OID = "1.2.156.10197.1.301"

# GB/T 32918.5 curve parameters, needed for Z = SM3(ENTL || ID || a || b || G || P).
_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

# SubjectPublicKeyInfo for an EC key on the SM2 curve, up to the 65-byte point:
# SEQUENCE { SEQUENCE { id-ecPublicKey, sm2p256v1 }, BIT STRING { 00 04 X Y } }.
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def generate() -> tuple[bytes, bytes]:
    """A new key pair: (32-byte private scalar, 65-byte public point)."""
    try:
        public, private = gmssl_pyx.sm2_key_generate()
    except gmssl_pyx.GmsslInnerError as exc:
        raise SM2Error(f"SM2 key generation failed: {exc}") from None
    return private, b"\x04" + public


def sign(private: bytes, public: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """Sign ``message`` (SM3 with Z); returns DER-encoded (r, s)."""
    digest = _digest(_raw_point(public), message, user_id)
    try:
        return gmssl_pyx.sm2_sign_sm3_digest(private, digest)
    except (gmssl_pyx.GmsslInnerError, TypeError, ValueError):
        raise SM2Error("SM2 signing failed: the private key is invalid") from None


def verify(
    public: bytes, message: bytes, signature_der: bytes, user_id: bytes = DEFAULT_USER_ID
) -> bool:
    """True if ``signature_der`` is a valid signature of ``message`` by ``public``.

    A malformed signature is simply not valid (False); an invalid public key
    is the caller's error and raises :class:`SM2Error`.
    """
    raw = _raw_point(public)
    try:
        r, s = decode_dss_signature(signature_der)
    except ValueError:
        return False
    if not (0 < r < _N and 0 < s < _N):
        return False
    digest = _digest(raw, message, user_id)
    try:
        return bool(gmssl_pyx.sm2_verify_sm3_digest(raw, digest, signature_der))
    except (gmssl_pyx.GmsslInnerError, TypeError, ValueError):
        raise SM2Error("SM2 verification failed: the public key is invalid") from None


def sm3(data: bytes) -> bytes:
    """The SM3 digest (GB/T 32905) of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def public_key_der(public: bytes) -> bytes:
    """SubjectPublicKeyInfo DER with the SM2 curve OID (what OpenSSL reads)."""
    return _SPKI_PREFIX + b"\x04" + _raw_point(public)


def public_key_pem(public: bytes) -> str:
    body = base64.encodebytes(public_key_der(public)).decode("ascii")
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


def public_key_from_der(spki_der: bytes) -> bytes:
    """The 65-byte point from an SM2 SubjectPublicKeyInfo (e.g. ``openssl pkey -pubout``)."""
    if len(spki_der) != len(_SPKI_PREFIX) + 65 or not spki_der.startswith(_SPKI_PREFIX):
        raise SM2Error("not an uncompressed SM2 SubjectPublicKeyInfo")
    point = spki_der[len(_SPKI_PREFIX):]
    _raw_point(point)
    return point


def _raw_point(public: bytes) -> bytes:
    """X || Y (64 bytes) from the 65-byte 04-prefixed or 64-byte form, checked on-curve."""
    if not isinstance(public, bytes) or len(public) not in (64, 65):
        raise SM2Error("SM2 public key must be 65 bytes (04||X||Y) or 64 bytes (X||Y)")
    try:
        return gmssl_pyx.normalize_sm2_public_key(public)
    except gmssl_pyx.GmsslInnerError:
        raise SM2Error("SM2 public key is not a point on the curve") from None


def _digest(raw_point: bytes, message: bytes, user_id: bytes) -> bytes:
    if len(user_id) >= 8192:
        raise SM2Error("SM2 user ID is too long")
    entl = (len(user_id) * 8).to_bytes(2, "big")
    z = sm3(entl + user_id + _A + _B + _GX + _GY + raw_point)
    return sm3(z + message)
