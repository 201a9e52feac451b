"""Using and retiring tokens: userinfo, introspection (RFC 7662), revocation (RFC 7009).

An access token is live when its signature, ``typ``, issuer and expiry hold,
its ``jti`` was not revoked one by one, and the grant it names (``gid``) was
not revoked as a whole (replayed code, refresh reuse, revocation, logout).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from idp import accounts, grants
from idp.errors import InsufficientScope, InvalidGrant, InvalidToken, OAuthError
from idp.models import Client, Grant, Person
from idp.provider import Provider
from idp.tokens import (
    MAX_TOKEN_LENGTH,
    audiences_of,
    entity_claim,
    subject_for,
    verify_access_token,
)
from keys.errors import TokenInvalidError

__all__ = [
    "TOKEN_TYPE_HINTS",
    "bearer_challenge",
    "bearer_token",
    "introspect",
    "live_access_token",
    "revoke",
    "userinfo",
]

TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


def bearer_token(authorization: str | None) -> str:
    """RFC 6750 §2.1: the access token in an ``Authorization: Bearer`` header value."""
    scheme, _, value = (authorization or "").partition(" ")
    if not authorization:
        raise InvalidToken("An access token is required.")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken("Use the Bearer authorization scheme.")
    return value.strip()


def bearer_challenge(error: OAuthError, realm: str, *, authorization: str | None) -> str:
    """RFC 6750 §3: the ``WWW-Authenticate`` value for a refused resource request.

    ``authorization`` is the request's header. A request that carried no
    bearer token, none at all or another scheme's credentials, gets no error
    code (§3.1).
    """
    presented = (authorization or "").partition(" ")[0].lower() == "bearer"
    if not presented and isinstance(error, InvalidToken):
        return f'Bearer realm="{realm}"'
    description = error.description.replace('"', "'")
    return f'Bearer realm="{realm}", error="{error.error}", error_description="{description}"'


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def live_access_token(session: Session, provider: Provider, token: str,
                      now: dt.datetime) -> tuple[dict[str, Any], Grant | None]:
    """The claims (and grant) of a live access token; raises :class:`InvalidToken`."""
    try:
        claims = verify_access_token(provider.keys, session, token, issuer=provider.issuer,
                                     now=now)
    except TokenInvalidError:
        raise InvalidToken("The access token is invalid or has expired.") from None
    if grants.is_token_revoked(session, str(claims["jti"])):
        raise InvalidToken("The access token has been revoked.")
    gid = claims.get("gid")
    if gid is None:
        client = session.get(Client, claims["client_id"])
        if client is None or client.disabled_at is not None:
            raise InvalidToken("The access token's client is disabled.")
        return claims, None
    grant = grants.active_grant(session, str(gid), now=now)
    if grant is None:
        raise InvalidToken("The access token has been revoked.")
    if grant.person_id is not None and _enabled_person(session, grant.person_id) is None:
        raise InvalidToken("The person behind this token can no longer log in.")
    return claims, grant


def _enabled_person(session: Session, person_id: int | None) -> Person | None:
    """The person, unless disabled: a disabled person's tokens are dead everywhere."""
    person = session.get(Person, person_id) if person_id is not None else None
    return person if person is not None and person.disabled_at is None else None


def userinfo(session: Session, provider: Provider, token: str,
             now: dt.datetime) -> dict[str, Any]:
    """OIDC Core §5.3: claims about the person, as the token's scopes allow."""
    claims, grant = live_access_token(session, provider, token, now)
    scopes = set(str(claims.get("scope", "")).split())
    if grant is None or "openid" not in scopes:
        raise InsufficientScope("The access token was not issued for the openid scope.")
    person = _enabled_person(session, grant.person_id)
    if person is None:
        raise InvalidToken("The person behind this token can no longer log in.")
    info: dict[str, Any] = {"sub": claims["sub"]}
    if "profile" in scopes:
        info["name"] = person.name
    if "id_number" in scopes:
        info["id_number"] = accounts.id_number_of(provider.keystore, person)
    if "entity" in scopes:
        entity = entity_claim(grant.acting)
        if entity:
            info["entity"] = entity
    return info


def introspect(session: Session, provider: Provider, client: Client, token: str,
               now: dt.datetime) -> dict[str, Any]:
    """RFC 7662 §2.2: ``active: false`` for anything not live or not the caller's business.

    A client may introspect the tokens issued to it, and access tokens whose
    ``aud`` names it (it is their resource server).
    """
    inactive = {"active": False}
    if len(token) > MAX_TOKEN_LENGTH:
        return inactive
    if _looks_like_jwt(token):
        try:
            claims, grant = live_access_token(session, provider, token, now)
        except InvalidToken:
            return inactive
        if claims["client_id"] != client.client_id \
                and client.client_id not in audiences_of(claims):
            return inactive
        answer = {"active": True, "token_type": "Bearer"}
        for name in ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti",
                     "auth_time", "acr", "entity"):
            if name in claims:
                answer[name] = claims[name]
        return answer
    grant = grants.refresh_token_grant(session, token, now=now)
    if grant is None or grant.client_id != client.client_id:
        return inactive
    person = _enabled_person(session, grant.person_id)
    if person is None:
        return inactive
    return {
        "active": True, "token_type": "refresh_token", "scope": grant.scope,
        "client_id": grant.client_id, "sub": subject_for(client, person, provider.pairwise_secret),
        "exp": int(grant.expires_at.timestamp()), "iat": int(grant.created_at.timestamp()),
        "iss": provider.issuer,
    }


def revoke(session: Session, provider: Provider, client: Client, token: str,
           now: dt.datetime) -> None:
    """RFC 7009 §2.1: revoke the token (a refresh token takes its whole grant along).

    Unknown, expired and malformed tokens are answered like revoked ones
    (§2.2); a live token of another client is refused with ``invalid_grant``.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        return
    if _looks_like_jwt(token):
        try:
            claims, grant = live_access_token(session, provider, token, now)
        except InvalidToken:
            return
        if claims["client_id"] != client.client_id:
            raise InvalidGrant("The token was issued to another client.")
        expires = dt.datetime.fromtimestamp(float(claims["exp"]), dt.UTC)
        grants.revoke_access_token(session, str(claims["jti"]), expires)
        return
    grant = grants.refresh_token_grant(session, token, now=now)
    if grant is None:
        return
    if grant.client_id != client.client_id:
        raise InvalidGrant("The token was issued to another client.")
    grants.revoke_grant(session, grant.id, reason="revoked_by_client", now=now)
