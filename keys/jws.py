"""Signed tokens (JWS compact / JWT) on python-jose, the safe way.

Other packages sign and verify JSON tokens (ID and access tokens, client
assertions, the trust list) only through this module; QR payloads are
COSE_Sign1 (:mod:`keys.cose`):

* keys are ``cryptography`` key objects, parsed once by the key store and
  handed to python-jose wrapped in its backend classes; python-jose given a
  PEM string re-parses it on every call (an RSA load costs ~35 ms);
* verification always names the acceptable algorithms, requires a ``kid`` the
  caller knows, matches the algorithm to the key type (no HS256 with an RSA
  public key as the secret, no ``none``), and checks ``exp``/``nbf`` at a time
  the caller may choose;
* everything wrong with a token is one :class:`TokenInvalidError`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from base64 import urlsafe_b64encode
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jws as jose_jws
from jose import jwt as jose_jwt
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
from jose.exceptions import JOSEError
from jose.utils import long_to_base64

from .errors import KeyStoreError, TokenInvalidError
from .material import PublicKey, SigningKey

# Asymmetric algorithms only: a verifier holding public keys must never accept
# an HMAC token, whatever the header says.
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_RSA = frozenset({"RS256", "RS384", "RS512"})
SUPPORTED_ALGORITHMS = frozenset(_EC_CURVES) | _RSA
_JWK_CURVES = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48), "secp521r1": ("P-521", 66)}


def sign(
    claims: Mapping[str, Any], key: SigningKey, headers: Mapping[str, Any] | None = None
) -> str:
    """A compact JWS of ``claims`` signed by ``key``; the header names its kid.

    ``datetime`` values of ``exp``, ``iat`` and ``nbf`` become seconds.
    """
    if key.algorithm not in SUPPORTED_ALGORITHMS:
        raise KeyStoreError(f"key {key.kid} ({key.algorithm}) is not a JOSE signing key")
    header = dict(headers or {})
    header.pop("alg", None)
    header["kid"] = key.kid
    try:
        return jose_jwt.encode(
            dict(claims), _jose_key(key.private_key, key.algorithm),
            algorithm=key.algorithm, headers=header,
        )
    except (JOSEError, TypeError, ValueError) as exc:
        raise KeyStoreError(f"signing with key {key.kid} failed: {exc}") from None


def verify(
    token: str | bytes,
    keys: Mapping[str, PublicKey],
    algorithms: Sequence[str],
    *,
    audience: str | None = None,
    issuer: str | None = None,
    require: Sequence[str] = ("exp",),
    at: dt.datetime | None = None,
    leeway: dt.timedelta = dt.timedelta(0),
    sole_key_needs_no_kid: bool = False,
) -> dict[str, Any]:
    """The token's claims, if it is signed by one of ``keys`` and in force at ``at``.

    ``keys`` maps kid to public key (e.g. :meth:`KeyStore.verification_keys`).
    With ``sole_key_needs_no_kid``, a token without a kid is checked with the
    only key there is (a client's assertion: RFC 7523 does not ask for a kid).
    ``audience``/``issuer``, when given, must match ``aud``/``iss``; when None
    they are not checked. Claims named in ``require`` must be present
    (``require=()`` for payloads that carry no expiry).
    """
    allowed = _allowed(algorithms)
    try:
        header = jose_jws.get_unverified_header(token)
    except JOSEError:
        raise TokenInvalidError("token is malformed") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise TokenInvalidError(f"algorithm {alg!r} is not accepted")
    kid = header.get("kid")
    if kid is None and sole_key_needs_no_kid and len(keys) == 1:
        kid = next(iter(keys))
    if not isinstance(kid, str) or not kid:
        raise TokenInvalidError("token header has no kid")
    public_key = keys.get(kid)
    if public_key is None:
        raise TokenInvalidError(f"unknown kid {kid!r}")
    if not _key_fits(public_key, alg):
        raise TokenInvalidError(f"algorithm {alg} does not match the key {kid!r}")
    try:
        payload = jose_jws.verify(token, _jose_key(public_key, alg), algorithms=[alg])
    except JOSEError:
        raise TokenInvalidError("signature verification failed") from None
    try:
        claims = json.loads(payload)
    except ValueError:
        raise TokenInvalidError("payload is not JSON") from None
    if not isinstance(claims, dict):
        raise TokenInvalidError("payload is not a JSON object")
    _check_claims(claims, require, at, leeway, audience, issuer)
    return claims


def public_jwk(kid: str, public_key: PublicKey, alg: str) -> dict[str, str]:
    """The RFC 7517 JWK of a public key, for a JWKS document."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv, size = _JWK_CURVES[public_key.curve.name]
        numbers = public_key.public_numbers()
        return {
            "kty": "EC", "crv": crv,
            "x": _b64_fixed(numbers.x, size), "y": _b64_fixed(numbers.y, size),
            "kid": kid, "alg": alg, "use": "sig",
        }
    if isinstance(public_key, rsa.RSAPublicKey):
        rsa_numbers = public_key.public_numbers()
        return {
            "kty": "RSA",
            "n": long_to_base64(rsa_numbers.n).decode("ascii"),
            "e": long_to_base64(rsa_numbers.e).decode("ascii"),
            "kid": kid, "alg": alg, "use": "sig",
        }
    raise KeyStoreError(f"key {kid} has no JWK form")


def _allowed(algorithms: Sequence[str]) -> frozenset[str]:
    if isinstance(algorithms, str) or not algorithms:
        raise KeyStoreError("name the accepted algorithms as a non-empty list")
    unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
    if unsupported:
        raise KeyStoreError(f"unsupported verification algorithms: {sorted(unsupported)}")
    return frozenset(algorithms)


def _key_fits(public_key: PublicKey, alg: str) -> bool:
    if alg in _EC_CURVES:
        return (
            isinstance(public_key, ec.EllipticCurvePublicKey)
            and public_key.curve.name == _EC_CURVES[alg]
        )
    return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048


def _jose_key(key: Any, alg: str) -> CryptographyECKey | CryptographyRSAKey:
    # Given a key object, python-jose's backend classes keep it as is (no parsing).
    if alg in _EC_CURVES:
        return CryptographyECKey(key, alg)
    return CryptographyRSAKey(key, alg)


def _check_claims(
    claims: dict[str, Any],
    require: Sequence[str],
    at: dt.datetime | None,
    leeway: dt.timedelta,
    audience: str | None,
    issuer: str | None,
) -> None:
    for name in require:
        if name not in claims:
            raise TokenInvalidError(f"token has no {name} claim")
    if at is not None and at.tzinfo is None:
        raise KeyStoreError("the verification time must be timezone-aware")
    now = (at or dt.datetime.now(dt.UTC)).timestamp()
    slack = leeway.total_seconds()
    if "exp" in claims and now >= _numeric_date(claims, "exp") + slack:
        raise TokenInvalidError("token has expired")
    if "nbf" in claims and now < _numeric_date(claims, "nbf") - slack:
        raise TokenInvalidError("token is not valid yet")
    if audience is not None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or audience not in audiences:
            raise TokenInvalidError("token is not meant for this audience")
    if issuer is not None and claims.get("iss") != issuer:
        raise TokenInvalidError("token comes from another issuer")


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenInvalidError(f"{name} claim is not a number")
    # Python's JSON reads NaN and Infinity: an exp of NaN would never expire.
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise TokenInvalidError(f"{name} claim is not a finite number")
    return seconds


def _b64_fixed(value: int, size: int) -> str:
    # RFC 7518 §6.2.1.2: x and y are the full coordinate length, zero-padded.
    return urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode("ascii")
