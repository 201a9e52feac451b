"""ID tokens and access tokens: claims, signing, verification.

Access tokens are JWTs per RFC 9068 (``typ: at+jwt``), always ES256 (a P-256
signature costs a fifth of an RSA one). ID tokens use the client's
algorithm, RS256 unless the client chose ES256. Keys come from the key store
as parsed objects; the active signing key and the verification keys are
cached for a few seconds so the token path does not query them on every
request. After a rotation a node may sign with the retired key for up to
:data:`KEY_CACHE_SECONDS`; retired keys stay published longer than that.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from typing import Any, Protocol

from sqlalchemy.orm import Session

from idp.grants import new_token
from idp.models import Client, Grant, Person
from keys.errors import TokenInvalidError
from keys.jws import sign, verify
from keys.material import PublicKey, SigningKey

__all__ = [
    "ACCESS_TOKEN_ALG",
    "ID_TOKEN_ALGS",
    "KEY_CACHE_SECONDS",
    "MAX_TOKEN_LENGTH",
    "PURPOSE",
    "KeySource",
    "TokenKeys",
    "access_token_claims",
    "at_hash",
    "audiences_of",
    "entity_claim",
    "id_token_claims",
    "issue_access_token",
    "subject_for",
    "unverified_claims",
    "unverified_header",
    "verify_access_token",
]

PURPOSE = "idp-token"
ACCESS_TOKEN_ALG = "ES256"
ID_TOKEN_ALGS = ("RS256", "ES256")
AT_TYPE = "at+jwt"
KEY_CACHE_SECONDS = 30.0
# A token naming a kid we do not know reloads the keys (it may be a new one),
# but at most this often, so invented kids cannot make every request a query.
UNKNOWN_KID_RELOAD_SECONDS = 1.0
# Longer than any token we issue; refused before any parsing.
MAX_TOKEN_LENGTH = 4096
PAIRWISE_LABEL = "idp pairwise subject"


class KeySource(Protocol):
    """What tokens need of the key store (``keys.KeyStore`` has it)."""

    def active_key(self, session: Session, purpose: str, owner: str | None = None,
                   algorithm: str | None = None) -> SigningKey: ...
    def verification_keys(self, session: Session, purpose: str, owner: str | None = None, *,
                          now: dt.datetime) -> dict[str, PublicKey]: ...
    def jwks(self, session: Session, purposes: Any, *, now: dt.datetime) -> dict[str, Any]: ...


class TokenKeys:
    """Signing and verification keys for tokens, cached briefly per process."""

    def __init__(self, keystore: KeySource, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        self._keystore = keystore
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._signing: dict[str, tuple[float, SigningKey]] = {}
        self._verifying: tuple[float, dict[str, PublicKey]] | None = None

    def signing_key(self, session: Session, algorithm: str) -> SigningKey:
        cached = self._signing.get(algorithm)
        clock = time.monotonic()
        if cached is not None and clock - cached[0] < self._cache_seconds:
            return cached[1]
        key = self._keystore.active_key(session, PURPOSE, None, algorithm)
        with self._lock:
            self._signing[algorithm] = (clock, key)
        return key

    def verification_keys(self, session: Session, *, now: dt.datetime,
                          kid: str | None = None) -> dict[str, PublicKey]:
        """The published keys; reloaded when stale or when ``kid`` is unknown (a new key)."""
        cached = self._verifying
        clock = time.monotonic()
        if cached is not None:
            age = clock - cached[0]
            if age < UNKNOWN_KID_RELOAD_SECONDS or (
                    age < self._cache_seconds and (kid is None or kid in cached[1])):
                return cached[1]
        keys = self._keystore.verification_keys(session, PURPOSE, None, now=now)
        with self._lock:
            self._verifying = (clock, keys)
        return keys

    def forget(self) -> None:
        """Drop the cached keys, so the next token uses the key store's current ones."""
        with self._lock:
            self._signing.clear()
            self._verifying = None

    def jwks(self, session: Session, *, now: dt.datetime) -> dict[str, Any]:
        return self._keystore.jwks(session, [PURPOSE], now=now)

    def sign(self, session: Session, claims: dict[str, Any], algorithm: str,
             headers: dict[str, Any] | None = None) -> str:
        return sign(claims, self.signing_key(session, algorithm), headers)

    def verify(self, session: Session, token: str, algorithms: tuple[str, ...], *,
               issuer: str, now: dt.datetime, audience: str | None = None,
               require: tuple[str, ...] = ("exp", "iat"),
               at: dt.datetime | None = None) -> dict[str, Any]:
        """Verify a token we issued; raises :class:`TokenInvalidError`."""
        kid = unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise TokenInvalidError("token header has no kid")
        keys = self.verification_keys(session, now=now, kid=kid)
        return verify(token, keys, list(algorithms), audience=audience, issuer=issuer,
                      require=require, at=at or now)


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, decoded without trusting it (to pick a key, check ``typ``)."""
    return _json_segment(token.split(".", 1)[0])


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, decoded without verifying the signature."""
    unverified_header(token)
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalidError("token is malformed")
    return _json_segment(parts[1])


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise TokenInvalidError("token is malformed") from None
    if not isinstance(value, dict):
        raise TokenInvalidError("token is malformed")
    return value


def audiences_of(claims: dict[str, Any]) -> list[Any]:
    """``aud`` as a list: RFC 7519 §4.1.3 allows one string or an array."""
    return claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]


def _seconds(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def subject_for(client: Client, person: Person, pairwise_secret: bytes) -> str:
    """``sub``: the person's opaque subject, or a pairwise one per sector (OIDC Core §8.1)."""
    if client.subject_type != "pairwise":
        return person.subject
    message = f"{client.sector_identifier}\x00{person.subject}".encode()
    mac = hmac.new(pairwise_secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of the SHA-256 of the token, base64url.

    Both RS256 and ES256 use SHA-256, so one function serves both.
    """
    half = hashlib.sha256(access_token.encode("ascii")).digest()[:16]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode()


def entity_claim(acting: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``entity`` claim for a grant's ``acting`` (None when the person acts for themself)."""
    if not acting:
        return None
    claim = {"uscc": acting["uscc"], "name": acting["name"], "role": acting["role"]}
    if acting.get("scope") and acting["scope"] != "*":
        claim["scope"] = acting["scope"]
    return claim


def _authentication_claims(grant: Grant) -> dict[str, Any]:
    """What ID and access tokens both say about the log-in behind a grant."""
    claims: dict[str, Any] = {}
    if grant.auth_time is not None:
        claims["auth_time"] = _seconds(grant.auth_time)
    if grant.acr:
        claims["acr"] = grant.acr
    if grant.amr:
        claims["amr"] = grant.amr
    entity = entity_claim(grant.acting)
    if entity:
        claims["entity"] = entity
    return claims


def access_token_claims(*, issuer: str, client_id: str, subject: str, scope: str,
                        grant: Grant | None, now: dt.datetime, ttl: int) -> dict[str, Any]:
    """RFC 9068 §2.2 claims; ``gid`` ties the token to its grant for revocation."""
    claims: dict[str, Any] = {
        "iss": issuer, "sub": subject, "aud": issuer, "client_id": client_id,
        "iat": _seconds(now), "exp": _seconds(now) + ttl, "jti": new_token(), "scope": scope,
    }
    if grant is not None:
        claims["gid"] = grant.id
        claims.update(_authentication_claims(grant))
    return claims


def issue_access_token(keys: TokenKeys, session: Session, claims: dict[str, Any]) -> str:
    """Sign access token claims (RFC 9068 §2.1: ``typ`` is ``at+jwt``)."""
    return keys.sign(session, claims, ACCESS_TOKEN_ALG, {"typ": AT_TYPE})


def id_token_claims(*, issuer: str, client: Client, subject: str, grant: Grant,
                    access_token: str | None, nonce: str | None, now: dt.datetime,
                    ttl: int) -> dict[str, Any]:
    """OIDC Core §2 claims. Scope claims (name, id_number) come from userinfo (§5.4)."""
    claims: dict[str, Any] = {
        "iss": issuer, "sub": subject, "aud": client.client_id,
        "iat": _seconds(now), "exp": _seconds(now) + ttl,
        **_authentication_claims(grant),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = at_hash(access_token)
    if grant.session_sid:
        claims["sid"] = grant.session_sid
    return claims


def verify_access_token(keys: TokenKeys, session: Session, token: str, *, issuer: str,
                        now: dt.datetime) -> dict[str, Any]:
    """Signature, ``typ``, issuer, audience, expiry and RFC 9068 claims of an access token.

    Our access tokens are meant for this service's own resources (userinfo,
    the vault API), so their ``aud`` is the issuer (RFC 9068 §4).
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalidError("token is too long")
    if unverified_header(token).get("typ") != AT_TYPE:
        raise TokenInvalidError("not an access token (typ must be at+jwt)")
    return keys.verify(session, token, (ACCESS_TOKEN_ALG,), issuer=issuer, audience=issuer,
                       now=now, require=("exp", "iat", "jti", "sub", "client_id", "aud"))
