"""Client registration, redirect URI rules and client authentication.

Client secrets are random 256-bit values: stored as SHA-256 digests and
compared in constant time (a slow password hash would make every token
request slow and adds nothing against a 256-bit secret).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hmac
import re
import secrets
import string
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.errors import ClientConfigError, ClientNotFoundError, InvalidClient, InvalidRequest
from idp.grants import digest
from idp.models import Client, UsedAssertion
from idp.tokens import ID_TOKEN_ALGS, audiences_of, unverified_claims
from keys.errors import TokenInvalidError
from keys.jws import verify as verify_jws

__all__ = [
    "ASSERTION_ALGORITHMS",
    "AUTH_METHODS",
    "GRANT_TYPES",
    "USER_SCOPES",
    "ClientCache",
    "ClientSpec",
    "Credentials",
    "authenticate",
    "disable_client",
    "get_client",
    "list_clients",
    "parse_credentials",
    "redirect_uri_matches",
    "register_client",
    "rotate_secret",
]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
# Scopes that release claims about a person; everything else is an API scope.
USER_SCOPES = ("openid", "profile", "id_number", "entity")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "ES256")
# Authlib, for one, signs client assertions for an hour; five minutes more for clock skew.
MAX_ASSERTION_LIFETIME = dt.timedelta(minutes=65)
_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits
_API_SCOPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
# A loopback IP literal and an optional port, and nothing else: no user-info
# ("http://127.0.0.1:1@attacker.example" has host attacker.example).
_LOOPBACK_NETLOC = re.compile(r"(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?")
_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclasses.dataclass
class ClientSpec:
    """Everything ``yiwang client add`` accepts."""

    name: str
    redirect_uris: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    grant_types: Sequence[str] = ("authorization_code",)
    scopes: Sequence[str] = ("openid",)
    public: bool = False
    auth_method: str | None = None
    first_party: bool = False
    id_token_alg: str = "RS256"
    subject_type: str = "public"
    sector_identifier: str | None = None
    jwks: Mapping[str, Any] | None = None
    client_id: str | None = None  # only the demo fixes it


# --- registration ----------------------------------------------------------------------


def _check_uri(uri: str, *, public: bool, what: str) -> None:
    """Absolute, no fragment; https, loopback http, or (native apps) a private-use scheme."""
    if len(uri) > 2000:
        raise ClientConfigError(f"{what} {uri[:40]}... is too long")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise ClientConfigError(f"{what} {uri!r} is not a valid URI") from None
    if not parts.scheme or "#" in uri:
        raise ClientConfigError(f"{what} {uri!r} must be absolute and have no fragment")
    if "@" in parts.netloc:
        raise ClientConfigError(f"{what} {uri!r} must not carry user information")
    if port == 0:
        raise ClientConfigError(f"{what} {uri!r} must not use port 0")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return
    if public and "." in parts.scheme and parts.scheme not in ("http", "https"):
        return  # RFC 8252 §7.1: reverse-domain private-use scheme
    raise ClientConfigError(
        f"{what} {uri!r} must use https (http only on loopback; native apps may use "
        "a reverse-domain private-use scheme)")


def _check_grants(spec: ClientSpec) -> None:
    unknown = set(spec.grant_types) - set(GRANT_TYPES)
    if unknown or not spec.grant_types:
        raise ClientConfigError(f"grant types must be among {', '.join(GRANT_TYPES)}")
    if "refresh_token" in spec.grant_types and "authorization_code" not in spec.grant_types:
        raise ClientConfigError("refresh_token needs the authorization_code grant type")
    if spec.public and "client_credentials" in spec.grant_types:
        raise ClientConfigError("a public client cannot use client_credentials")
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        raise ClientConfigError("authorization_code needs at least one redirect URI")


def _check_scopes(spec: ClientSpec) -> None:
    for scope in spec.scopes:
        if scope not in USER_SCOPES and not _API_SCOPE.match(scope):
            raise ClientConfigError(f"scope {scope!r} is malformed")
    if not spec.scopes:
        raise ClientConfigError("give at least one scope")


def _auth_method(spec: ClientSpec) -> str:
    method = spec.auth_method or ("none" if spec.public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientConfigError(f"auth method must be one of {', '.join(AUTH_METHODS)}")
    if spec.public != (method == "none"):
        raise ClientConfigError("public clients, and only they, use the auth method none")
    if method == "private_key_jwt" and not spec.jwks:
        raise ClientConfigError("private_key_jwt needs the client's public keys (--jwks)")
    return method


def _sector(spec: ClientSpec) -> str | None:
    if spec.subject_type == "public":
        return None
    if spec.subject_type != "pairwise":
        raise ClientConfigError("subject type must be public or pairwise")
    if spec.sector_identifier:
        return spec.sector_identifier.lower()
    hosts = {urlsplit(uri).hostname for uri in spec.redirect_uris}
    if len(hosts) != 1:
        raise ClientConfigError(
            "pairwise subjects need a sector identifier when redirect URIs span several hosts")
    return hosts.pop()


def new_client_id() -> str:
    """24 letters and digits (142 bits): never a leading "-" that a command line takes
    for an option, nothing to escape in URLs or Basic credentials."""
    return "".join(secrets.choice(_CLIENT_ID_ALPHABET) for _ in range(24))


def register_client(session: Session, spec: ClientSpec, *,
                    now: dt.datetime, secret: str | None = None) -> tuple[Client, str | None]:
    """Register a client; returns it and its secret (shown once, None if it has none)."""
    name = spec.name.strip()
    if not name or len(name) > 200:
        raise ClientConfigError("a client name has 1 to 200 characters")
    _check_grants(spec)
    _check_scopes(spec)
    method = _auth_method(spec)
    for uri in spec.redirect_uris:
        _check_uri(uri, public=spec.public, what="redirect URI")
    for uri in spec.post_logout_redirect_uris:
        _check_uri(uri, public=spec.public, what="post-logout redirect URI")
    if spec.id_token_alg not in ID_TOKEN_ALGS:
        raise ClientConfigError("ID token algorithm must be RS256 or ES256")
    jwks = dict(spec.jwks) if spec.jwks else None
    if jwks is not None:
        parse_jwks(jwks)  # refuse keys we could not use later
    client_id = spec.client_id or new_client_id()
    if session.get(Client, client_id) is not None:
        raise ClientConfigError(f"client {client_id} already exists")
    if method in _SECRET_METHODS:
        secret = secret or secrets.token_urlsafe(32)
    else:
        secret = None
    client = Client(
        client_id=client_id, name=name,
        secret_hash=digest(secret) if secret else None,
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        grant_types=list(dict.fromkeys(spec.grant_types)),
        scopes=list(dict.fromkeys(spec.scopes)),
        public=spec.public, auth_method=method, first_party=spec.first_party,
        id_token_alg=spec.id_token_alg, subject_type=spec.subject_type,
        sector_identifier=_sector(spec), jwks=jwks, created_at=now,
    )
    session.add(client)
    session.flush()
    return client, secret


def get_client(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None:
        raise ClientNotFoundError(f"no client has client_id {client_id!r}")
    return client


def list_clients(session: Session) -> list[Client]:
    return list(session.scalars(select(Client).order_by(Client.created_at, Client.client_id)))


def rotate_secret(session: Session, client_id: str, *, now: dt.datetime) -> str:
    client = get_client(session, client_id)
    if client.auth_method not in _SECRET_METHODS:
        raise ClientConfigError(f"client {client_id} authenticates without a secret")
    secret = secrets.token_urlsafe(32)
    client.secret_hash = digest(secret)
    client.secret_rotated_at = now
    session.flush()
    return secret


def disable_client(session: Session, client_id: str, *, now: dt.datetime) -> Client:
    client = get_client(session, client_id)
    if client.disabled_at is None:
        client.disabled_at = now
        session.flush()
    return client


# --- redirect URIs ---------------------------------------------------------------------


def redirect_uri_matches(client: Client, uri: str) -> bool:
    """Exact string match; native (public) clients may vary the loopback port.

    RFC 8252 §7.3: a native app listening on a loopback IP literal gets an
    ephemeral port, so the port is ignored for those registrations only.
    """
    if uri in client.redirect_uris:
        return True
    if not client.public:
        return False
    without_port = _loopback_without_port(uri)
    return without_port is not None and any(
        _loopback_without_port(registered) == without_port for registered in client.redirect_uris)


def _loopback_without_port(uri: str) -> str | None:
    """The URI with its port removed if it is ``http`` on a loopback IP literal, else None."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    loopback = _LOOPBACK_NETLOC.fullmatch(parts.netloc)
    if parts.scheme != "http" or loopback is None:
        return None
    if loopback[2] is not None and not 0 < int(loopback[2]) < 65536:
        return None
    return urlunsplit((parts.scheme, loopback[1], parts.path, parts.query, parts.fragment))


# --- client authentication -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Credentials:
    """How a request tried to authenticate its client."""

    method: str
    client_id: str
    secret: str | None = None
    assertion: str | None = None


def parse_credentials(authorization: str | None, form: Mapping[str, str]) -> Credentials:
    """RFC 6749 §2.3: exactly one authentication method per request."""
    used: list[Credentials] = []
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("Only HTTP Basic client authentication is accepted in the "
                                "Authorization header.")
        used.append(_basic(value.strip()))
    if "client_secret" in form:
        used.append(Credentials("client_secret_post", form.get("client_id", ""),
                                secret=form["client_secret"]))
    if "client_assertion" in form or "client_assertion_type" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient("client_assertion_type must be " + ASSERTION_TYPE + ".")
        assertion = form.get("client_assertion", "")
        # RFC 7523 §3: the client_id parameter is optional, the assertion's sub names the client.
        used.append(Credentials("private_key_jwt",
                                form.get("client_id") or _assertion_subject(assertion),
                                assertion=assertion))
    if len(used) > 1:
        raise InvalidRequest("Use exactly one client authentication method.")
    if used:
        presented = used[0]
        body_id = form.get("client_id")
        if body_id is not None and presented.client_id and body_id != presented.client_id:
            raise InvalidClient("client_id does not match the client authentication.")
        return presented
    if not form.get("client_id"):
        raise InvalidClient("Client authentication is required.")
    return Credentials("none", form["client_id"])


def _assertion_subject(assertion: str) -> str:
    """The unverified ``sub`` of a client assertion: which client's keys to verify it with."""
    try:
        subject = unverified_claims(assertion).get("sub")
    except TokenInvalidError:
        return ""
    return subject if isinstance(subject, str) else ""


def _basic(value: str) -> Credentials:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("The Basic credentials are malformed.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient("The Basic credentials are malformed.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return Credentials("client_secret_basic", unquote(client_id.replace("+", " ")),
                       secret=unquote(secret.replace("+", " ")))


_CLIENT_ROW = select(Client.__table__).where(Client.__table__.c.client_id == bindparam("id"))


def load_client(session: Session, client_id: str) -> Client | None:
    """The client by primary key, as a detached object, through the Core layer.

    This is the one indexed lookup on the token path; skipping the ORM's
    identity map and unit of work halves its cost.
    """
    row = session.execute(_CLIENT_ROW, {"id": client_id}).mappings().first()
    return Client(**row) if row is not None else None


def _method_allowed(registered: str, presented: str) -> bool:
    """The registered method, or the other way of sending the same secret.

    Basic and post carry the same shared secret, so accepting either costs no
    security, and relying-party libraries differ in their default (openid-client
    posts, most others use Basic). A key-based or public client stays strict.
    """
    return presented == registered or {registered, presented} <= _SECRET_METHODS


class ClientCache:
    """Clients as last read from the database, held for a few seconds per process.

    Client authentication is the only query a ``client_credentials`` request
    needs; holding the records lets a department back end fetch tokens without
    touching the database. What can go stale is bounded: a credential that
    fails against a held record is checked again against the database before
    it is refused (so a rotated secret or new client keys work at once), and a
    disabled client is refused at most ``seconds`` later on every node, well
    within the life of the access tokens it already holds, which disabling
    cannot recall anyway. Unknown client ids are never held.

    The records are shared between threads: read them, never change them.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._held: dict[str, tuple[float, Client]] = {}

    def held(self, client_id: str) -> Client | None:
        entry = self._held.get(client_id)
        if entry is None or time.monotonic() - entry[0] >= self.seconds:
            return None
        return entry[1]

    def load(self, session: Session, client_id: str) -> Client | None:
        client = load_client(session, client_id)
        if client is None or self.seconds <= 0:
            self._held.pop(client_id, None)
        else:
            self._held[client_id] = (time.monotonic(), client)
        return client


def authenticate(session: Session, credentials: Credentials, *, audiences: Iterable[str],
                 now: dt.datetime, cache: ClientCache) -> Client:
    """The client, if it authenticated with the method it registered; else invalid_client."""
    if not credentials.client_id:
        raise InvalidClient("Client authentication failed.")
    held = cache.held(credentials.client_id)
    try:
        return _checked(session, held or cache.load(session, credentials.client_id),
                        credentials, audiences, now)
    except InvalidClient:
        if held is None:
            raise
    # The held record may predate a rotated secret or new client keys.
    return _checked(session, cache.load(session, credentials.client_id), credentials,
                    audiences, now)


def _checked(session: Session, client: Client | None, credentials: Credentials,
             audiences: Iterable[str], now: dt.datetime) -> Client:
    if client is None or client.disabled_at is not None:
        raise InvalidClient("Client authentication failed.")
    if not _method_allowed(client.auth_method, credentials.method):
        raise InvalidClient("Client authentication failed (wrong authentication method).")
    if credentials.method in _SECRET_METHODS:
        presented = digest(credentials.secret or "")
        if client.secret_hash is None or not hmac.compare_digest(presented, client.secret_hash):
            raise InvalidClient("Client authentication failed.")
    elif credentials.method == "private_key_jwt":
        _check_assertion(session, client, credentials.assertion or "", audiences, now)
    return client


def _check_assertion(session: Session, client: Client, assertion: str,
                     audiences: Iterable[str], now: dt.datetime) -> None:
    """RFC 7523 §3: iss and sub are the client, aud is us, exp soon, jti used once."""
    try:
        claims = verify_jws(assertion, parse_jwks(client.jwks or {}), ASSERTION_ALGORITHMS,
                            require=("exp", "jti", "iss", "sub", "aud"), at=now,
                            sole_key_needs_no_kid=True)
    except TokenInvalidError:
        raise InvalidClient("The client assertion is invalid.") from None
    if claims["iss"] != client.client_id or claims["sub"] != client.client_id:
        raise InvalidClient("The client assertion must have iss and sub equal to client_id.")
    claimed = audiences_of(claims)
    if not all(isinstance(audience, str) for audience in claimed) \
            or not set(claimed) & set(audiences):
        raise InvalidClient("The client assertion is meant for another audience.")
    # exp is a finite number (verify_jws checked it), but may be far beyond any date.
    lifetime = float(claims["exp"]) - now.timestamp()
    if lifetime > MAX_ASSERTION_LIFETIME.total_seconds():
        raise InvalidClient("The client assertion lives too long.")
    expires = now + dt.timedelta(seconds=lifetime)
    jti = str(claims["jti"])[:255]
    if session.get(UsedAssertion, (client.client_id, jti)) is not None:
        raise InvalidClient("The client assertion was already used.")
    try:
        with session.begin_nested():
            session.add(UsedAssertion(client_id=client.client_id, jti=jti, expires_at=expires))
    except IntegrityError:
        raise InvalidClient("The client assertion was already used.") from None


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """kid → public key object for each usable EC P-256 or RSA key of a JWK Set."""
    keys: dict[str, Any] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ClientConfigError("a JWK Set needs a non-empty keys list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            raise ClientConfigError("every JWK needs a kid")
        try:
            if entry.get("kty") == "EC" and entry.get("crv") == "P-256":
                key: Any = ec.EllipticCurvePublicNumbers(
                    _b64int(entry["x"]), _b64int(entry["y"]), ec.SECP256R1()).public_key()
            elif entry.get("kty") == "RSA":
                key = rsa.RSAPublicNumbers(_b64int(entry["e"]), _b64int(entry["n"])).public_key()
            else:
                raise ClientConfigError("only EC P-256 and RSA keys are accepted")
        except (KeyError, ValueError, TypeError):
            raise ClientConfigError(f"JWK {entry['kid']!r} is malformed") from None
        keys[entry["kid"]] = key
    return keys


def _b64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

