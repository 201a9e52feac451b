"""Key material per algorithm: generate, serialise, parse.

An *algorithm* names both the key type and how the key is used:

* ``ES256`` / ``RS256``: JOSE signing keys (P-256, RSA-2048);
* ``EC-P256``: a P-256 key that signs through X.509 (CAs, department PDFs);
* ``RSA-2048``: the time-stamping authority key;
* ``SM2``: GB/T 32918 signing key (raw 32-byte scalar, 65-byte point).

Private keys are serialised as PKCS#8 DER (the SM2 scalar as is), public keys
as SubjectPublicKeyInfo DER (the SM2 point as is).
"""

from __future__ import annotations

import dataclasses
import enum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import pki, sm2
from .errors import CorruptKeyRecordError, KeyStoreError


class Algorithm(enum.StrEnum):
    ES256 = "ES256"
    RS256 = "RS256"
    EC_P256 = "EC-P256"
    RSA_2048 = "RSA-2048"
    SM2 = "SM2"


JOSE_ALGORITHMS = frozenset({Algorithm.ES256, Algorithm.RS256})

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | bytes
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | bytes


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A parsed key ready to sign: what :meth:`KeyStore.active_key` returns.

    ``private_key`` and ``public_key`` are ``cryptography`` key objects, or
    bytes for SM2 (scalar and 04||X||Y point). ``certificate`` is set for keys
    that sign through X.509 (CAs, TSA, department document signing).
    """

    kid: str
    algorithm: str
    purpose: str
    owner: str | None
    private_key: PrivateKey = dataclasses.field(repr=False)
    public_key: PublicKey = dataclasses.field(repr=False)
    certificate: x509.Certificate | None = dataclasses.field(default=None, repr=False)


def generate(algorithm: str) -> tuple[PrivateKey, PublicKey]:
    if algorithm in (Algorithm.ES256, Algorithm.EC_P256):
        ec_key = pki.new_ec_key()
        return ec_key, ec_key.public_key()
    if algorithm in (Algorithm.RS256, Algorithm.RSA_2048):
        rsa_key = pki.new_rsa_key(2048)
        return rsa_key, rsa_key.public_key()
    if algorithm == Algorithm.SM2:
        return sm2.generate()
    raise KeyStoreError(f"unknown key algorithm {algorithm!r}")


def private_bytes(algorithm: str, private_key: PrivateKey) -> bytes:
    if algorithm == Algorithm.SM2:
        assert isinstance(private_key, bytes)
        return private_key
    assert not isinstance(private_key, bytes)
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_bytes(algorithm: str, public_key: PublicKey) -> bytes:
    if algorithm == Algorithm.SM2:
        assert isinstance(public_key, bytes)
        return public_key
    assert not isinstance(public_key, bytes)
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private(algorithm: str, data: bytes, *, kid: str) -> PrivateKey:
    """Parse an unwrapped private key, checking it is of the record's algorithm."""
    if algorithm == Algorithm.SM2:
        if len(data) != 32:
            raise CorruptKeyRecordError(f"key {kid}: SM2 private key is not 32 bytes")
        return data
    try:
        # The bytes were authenticated by AES/SM4-GCM under the master key, so
        # they are the key we generated; RSA's consistency check (~33 ms per
        # load) would add nothing.
        key = serialization.load_der_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except ValueError:
        raise CorruptKeyRecordError(f"key {kid}: private key does not parse") from None
    _check_type(algorithm, key, kid)
    return key  # type: ignore[return-value]


def load_public(algorithm: str, data: bytes, *, kid: str) -> PublicKey:
    if algorithm == Algorithm.SM2:
        if len(data) != 65 or data[0] != 4:
            raise CorruptKeyRecordError(f"key {kid}: SM2 public key is not 65 bytes 04||X||Y")
        return data
    try:
        key = serialization.load_der_public_key(data)
    except ValueError:
        raise CorruptKeyRecordError(f"key {kid}: public key does not parse") from None
    _check_type(algorithm, key, kid)
    return key  # type: ignore[return-value]


def _check_type(algorithm: str, key: object, kid: str) -> None:
    if algorithm in (Algorithm.ES256, Algorithm.EC_P256):
        ok = isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and (
            isinstance(key.curve, ec.SECP256R1)
        )
    elif algorithm in (Algorithm.RS256, Algorithm.RSA_2048):
        ok = isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)) and key.key_size >= 2048
    else:
        raise CorruptKeyRecordError(f"key {kid}: unknown algorithm {algorithm!r}")
    if not ok:
        raise CorruptKeyRecordError(f"key {kid}: key type does not match algorithm {algorithm}")
