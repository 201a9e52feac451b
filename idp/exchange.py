"""The token endpoint's grants: authorization_code, refresh_token, client_credentials.

Each handler takes the authenticated client and the form, and returns the
JSON body of a successful response (RFC 6749 §5.1) or raises the protocol
error. The client_credentials path is kept lean: no database writes, one
ES256 signature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from idp import accounts, grants
from idp.clients import USER_SCOPES
from idp.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from idp.models import Client, Grant, Person
from idp.provider import Provider
from idp.tokens import (
    access_token_claims,
    id_token_claims,
    issue_access_token,
    subject_for,
)

__all__ = ["CONSUMING_GRANTS", "GRANT_HANDLERS", "token_response"]


def check_grant_type_allowed(client: Client, grant_type: str) -> None:
    """RFC 6749 §5.2: the client must be registered for the grant type it uses."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"The client may not use the {grant_type} grant.")


def check_requested_scope(requested: str | None, allowed: set[str]) -> list[str] | None:
    """RFC 6749 §6: a narrower scope may be asked for, never a wider one."""
    if requested is None:
        return None
    scopes = list(dict.fromkeys(requested.split()))
    if not scopes:
        raise InvalidScope("scope is empty.")
    extra = [s for s in scopes if s not in allowed]
    if extra:
        raise InvalidScope("Scope exceeds what was granted: " + " ".join(extra) + ".")
    return scopes


def _person_of(redeemed: grants.Redeemed) -> Person:
    person = redeemed.person
    if person is None or person.disabled_at is not None:
        raise InvalidGrant("The person behind this grant can no longer log in.")
    return person


def check_acting_still_allowed(session: Session, grant: Grant, now: dt.datetime) -> None:
    """An agent whose authorisation has ended (or was revoked) no longer acts for the entity."""
    if grant.acting and grant.person_id is not None and accounts.may_act_for(
            session, grant.person_id, grant.acting["entity_id"], now=now) is None:
        raise InvalidGrant("The authorisation to act for the entity has ended.")


def _user_tokens(session: Session, provider: Provider, client: Client,
                 redeemed: grants.Redeemed, scope: str, *, refresh_token: str | None,
                 nonce: str | None, now: dt.datetime) -> dict[str, Any]:
    grant, person = redeemed.grant, _person_of(redeemed)
    subject = subject_for(client, person, provider.pairwise_secret)
    settings = provider.settings
    access_token = issue_access_token(provider.keys, session, access_token_claims(
        issuer=provider.issuer, client_id=client.client_id, subject=subject, scope=scope,
        grant=grant, now=now, ttl=settings.access_token_ttl))
    body: dict[str, Any] = {
        "access_token": access_token, "token_type": "Bearer",
        "expires_in": settings.access_token_ttl, "scope": scope,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if "openid" in scope.split():
        body["id_token"] = provider.keys.sign(session, id_token_claims(
            issuer=provider.issuer, client=client, subject=subject, grant=grant,
            access_token=access_token, nonce=nonce, now=now, ttl=settings.id_token_ttl),
            client.id_token_alg)
    return body


def authorization_code(session: Session, provider: Provider, client: Client,
                       form: Mapping[str, str], now: dt.datetime) -> dict[str, Any]:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5)."""
    code = form.get("code")
    if not code:
        raise InvalidRequest("code is required.")
    redeemed = grants.redeem_code(session, code=code, client_id=client.client_id,
                                  redirect_uri=form.get("redirect_uri"),
                                  code_verifier=form.get("code_verifier"), now=now)
    grant = redeemed.grant
    refresh = None
    if "refresh_token" in client.grant_types:
        refresh = grants.issue_refresh_token(session, grant, parent_hash=None, now=now)
    return _user_tokens(session, provider, client, redeemed, grant.scope,
                        refresh_token=refresh, nonce=grant.nonce, now=now)


def refresh_token(session: Session, provider: Provider, client: Client,
                  form: Mapping[str, str], now: dt.datetime) -> dict[str, Any]:
    """RFC 6749 §6, rotating the refresh token on every use (RFC 9700 §4.14.2)."""
    token = form.get("refresh_token")
    if not token:
        raise InvalidRequest("refresh_token is required.")
    redeemed, successor = grants.rotate_refresh_token(
        session, token=token, client_id=client.client_id, now=now,
        grace=provider.refresh_grace)
    grant = redeemed.grant
    scopes = check_requested_scope(form.get("scope"), set(grant.scope.split()))
    check_acting_still_allowed(session, grant, now)
    scope = " ".join(scopes) if scopes is not None else grant.scope
    # OIDC Core §12.2: a refreshed ID token carries no nonce.
    return _user_tokens(session, provider, client, redeemed, scope,
                        refresh_token=successor, nonce=None, now=now)


def client_credentials(session: Session, provider: Provider, client: Client,
                       form: Mapping[str, str], now: dt.datetime) -> dict[str, Any]:
    """RFC 6749 §4.4: a department back end acting for itself; API scopes only."""
    if client.public:
        raise UnauthorizedClient("A public client cannot use client_credentials.")
    allowed = {s for s in client.scopes if s not in USER_SCOPES}
    scopes = check_requested_scope(form.get("scope"), allowed)
    if scopes is None:
        scopes = [s for s in client.scopes if s in allowed]
    scope = " ".join(scopes)
    ttl = provider.settings.access_token_ttl
    access_token = issue_access_token(provider.keys, session, access_token_claims(
        issuer=provider.issuer, client_id=client.client_id, subject=client.client_id,
        scope=scope, grant=None, now=now, ttl=ttl))
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl,
            "scope": scope}


Handler = Callable[[Session, Provider, Client, Mapping[str, str], dt.datetime], dict[str, Any]]

# Grants that consume a single-use token (and so write); client_credentials writes nothing.
CONSUMING_GRANTS = frozenset({"authorization_code", "refresh_token"})

GRANT_HANDLERS: dict[str, Handler] = {
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    "client_credentials": client_credentials,
}


def token_response(session: Session, provider: Provider, client: Client,
                   form: Mapping[str, str], now: dt.datetime) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required.")
    handler = GRANT_HANDLERS.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType(f"The grant type {grant_type[:64]!r} is not supported.")
    check_grant_type_allowed(client, grant_type)
    return handler(session, provider, client, form, now)
