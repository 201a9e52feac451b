"""Signed tokens: round trips, and every way a token must be refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jose import jwt as jose_jwt
from sqlalchemy.orm import Session

from keys import KeyStoreError, SigningKey, TokenInvalidError, jws
from keys.material import Algorithm, generate
from tests.keys.conftest import Store

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
ALGORITHMS = ["ES256", "RS256"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(**extra: Any) -> dict[str, Any]:
    return {"iss": "https://yiwang.example", "sub": "abc", "aud": "client-1",
            "iat": NOW, "exp": NOW + dt.timedelta(minutes=5), **extra}


@pytest.fixture
def token_keys(pki: Store, pki_session: Session) -> tuple[SigningKey, SigningKey, dict[str, Any]]:
    keystore = pki.keystore
    es = keystore.active_key(pki_session, "idp-token", algorithm="ES256")
    rs = keystore.active_key(pki_session, "idp-token", algorithm="RS256")
    return es, rs, keystore.verification_keys(pki_session, "idp-token", now=NOW)


@pytest.mark.parametrize("which", [0, 1])
def test_signed_token_round_trips(token_keys: tuple[Any, Any, Any], which: int) -> None:
    key, keys = token_keys[which], token_keys[2]
    token = jws.sign(_claims(), key, headers={"typ": "JWT"})
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == key.kid and header["alg"] == key.algorithm
    claims = jws.verify(token, keys, ALGORITHMS, audience="client-1",
                        issuer="https://yiwang.example", at=NOW)
    assert claims["sub"] == "abc" and claims["exp"] == int(NOW.timestamp()) + 300


def test_jwk_verifies_with_python_jose_independently(token_keys: tuple[Any, Any, Any]) -> None:
    for key in token_keys[:2]:
        token = jws.sign(_claims(), key)
        jwk = jws.public_jwk(key.kid, key.public_key, key.algorithm)
        assert jwk["use"] == "sig" and jwk["kid"] == key.kid
        decoded = jose_jwt.decode(token, jwk, algorithms=[key.algorithm], audience="client-1",
                                  options={"verify_exp": False, "verify_iat": False})
        assert decoded["sub"] == "abc"


def test_alg_none_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    es, _, keys = token_keys
    header = _b64(json.dumps({"alg": "none", "kid": es.kid}).encode())
    payload = _b64(json.dumps({"sub": "abc", "exp": NOW.timestamp() + 60}).encode())
    with pytest.raises(TokenInvalidError, match="not accepted"):
        jws.verify(f"{header}.{payload}.", keys, ALGORITHMS, at=NOW)


def test_hs256_with_the_public_key_as_secret_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    _, rs, keys = token_keys
    secret = rs.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "kid": rs.kid}).encode())
    payload = _b64(json.dumps({"sub": "abc", "exp": NOW.timestamp() + 60}).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{_b64(mac)}"
    with pytest.raises(TokenInvalidError):
        jws.verify(forged, keys, ALGORITHMS, at=NOW)
    # And a caller cannot opt into an HMAC algorithm by mistake.
    with pytest.raises(KeyStoreError, match="unsupported"):
        jws.verify(forged, keys, ["HS256", "RS256"], at=NOW)


def test_algorithm_must_match_the_key_of_the_kid(token_keys: tuple[Any, Any, Any]) -> None:
    es, rs, keys = token_keys
    token = jws.sign(_claims(), es)
    _, payload, signature = token.split(".")
    relabelled = _b64(json.dumps({"alg": "ES256", "kid": rs.kid}).encode())
    with pytest.raises(TokenInvalidError, match="does not match"):
        jws.verify(f"{relabelled}.{payload}.{signature}", keys, ALGORITHMS, at=NOW)


def test_unknown_or_missing_kid_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    keys = token_keys[2]
    private, public = generate(Algorithm.ES256)
    stranger = SigningKey("stranger", "ES256", "idp-token", None, private, public)
    with pytest.raises(TokenInvalidError, match="unknown kid"):
        jws.verify(jws.sign(_claims(), stranger), keys, ALGORITHMS, at=NOW)
    token = jose_jwt.encode(_claims(), private, algorithm="ES256")  # no kid header
    with pytest.raises(TokenInvalidError, match="no kid"):
        jws.verify(token, keys, ALGORITHMS, at=NOW)


def test_missing_exp_is_refused_unless_waived(token_keys: tuple[Any, Any, Any]) -> None:
    es, _, keys = token_keys
    token = jws.sign({"sub": "qr-payload"}, es)
    with pytest.raises(TokenInvalidError, match="no exp"):
        jws.verify(token, keys, ALGORITHMS, at=NOW)
    assert jws.verify(token, keys, ALGORITHMS, require=(), at=NOW) == {"sub": "qr-payload"}


def test_expired_token_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    es, _, keys = token_keys
    token = jws.sign(_claims(), es)
    expiry = NOW + dt.timedelta(minutes=5)
    jws.verify(token, keys, ALGORITHMS, at=expiry - dt.timedelta(seconds=1))
    with pytest.raises(TokenInvalidError, match="expired"):
        jws.verify(token, keys, ALGORITHMS, at=expiry)
    assert jws.verify(token, keys, ALGORITHMS, at=expiry, leeway=dt.timedelta(seconds=30))


@pytest.mark.parametrize("exp", [float("nan"), float("inf"), 10**400], ids=["nan", "inf", "huge"])
def test_an_exp_that_is_no_finite_number_is_refused(token_keys: tuple[Any, Any, Any],
                                                    exp: object) -> None:
    # Python's JSON reads NaN: compared with anything it is false, so it would never expire.
    es, _, keys = token_keys
    token = jws.sign({"sub": "x", "exp": exp}, es)
    with pytest.raises(TokenInvalidError, match="not a finite number"):
        jws.verify(token, keys, ALGORITHMS, at=NOW)


def test_token_not_yet_valid_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    es, _, keys = token_keys
    token = jws.sign(_claims(nbf=NOW + dt.timedelta(minutes=1)), es)
    with pytest.raises(TokenInvalidError, match="not valid yet"):
        jws.verify(token, keys, ALGORITHMS, at=NOW)


def test_tampered_payload_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    for key in token_keys[:2]:
        header, _, signature = jws.sign(_claims(), key).split(".")
        forged = _b64(json.dumps({"sub": "admin", "exp": NOW.timestamp() + 60}).encode())
        with pytest.raises(TokenInvalidError, match="signature"):
            jws.verify(f"{header}.{forged}.{signature}", token_keys[2], ALGORITHMS, at=NOW)


def test_wrong_audience_or_issuer_is_refused(token_keys: tuple[Any, Any, Any]) -> None:
    es, _, keys = token_keys
    token = jws.sign(_claims(), es)
    with pytest.raises(TokenInvalidError, match="audience"):
        jws.verify(token, keys, ALGORITHMS, audience="client-2", at=NOW)
    with pytest.raises(TokenInvalidError, match="issuer"):
        jws.verify(token, keys, ALGORITHMS, issuer="https://evil.example", at=NOW)


@pytest.mark.parametrize("token", ["", "a.b", "not-a-token", "e30.e30.", "....", "😀.😀.😀"])
def test_garbage_is_refused_with_token_invalid(
    token_keys: tuple[Any, Any, Any], token: str
) -> None:
    with pytest.raises(TokenInvalidError):
        jws.verify(token, token_keys[2], ALGORITHMS, at=NOW)


def test_non_jose_keys_do_not_sign(pki: Store, pki_session: Session) -> None:
    key = pki.keystore.active_key(pki_session, "dept-sm2", pki.department.uscc)
    with pytest.raises(KeyStoreError, match="not a JOSE signing key"):
        jws.sign({"sub": "x"}, key)
