"""What an authorization still needs from the person, and issuing the code.

:func:`next_step` looks at the request, the SSO session and the interaction
(if the person is already part-way through) and names the one thing still
missing: log in, second factor, choose whom to act for, consent, or nothing.
With ``prompt=none`` anything missing is an error sent back to the client.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp import accounts, grants
from idp.authorize import AuthorizationRequest, PageError, RedirectError, response_uri
from idp.errors import (
    AccountSelectionRequired,
    ConsentRequired,
    InvalidRequest,
    LoginRequired,
    OAuthError,
)
from idp.logout import check_id_token_hint
from idp.models import Client, Consent, Interaction, Person, SsoSession
from idp.provider import Provider
from idp.tokens import audiences_of, subject_for

__all__ = [
    "Step",
    "apply_id_token_hint",
    "error_uri",
    "finish",
    "grant_consent",
    "next_step",
    "prompt_none_error",
    "protect_login_hint",
]


class Step(enum.Enum):
    """The one thing an authorization still needs, or DONE."""

    LOGIN = "login"
    TOTP = "totp"
    ENTITY = "entity"
    CONSENT = "consent"
    DONE = "done"


def needs_login(session: Session, provider: Provider, client: Client,
                request: AuthorizationRequest, sso: SsoSession | None,
                interaction: Interaction | None, now: dt.datetime) -> bool:
    """A fresh log-in is due without a session, for prompt=login, past max_age,
    or when login_hint names someone else; authenticating during this very
    interaction satisfies all of them."""
    if sso is None:
        return True
    if interaction is not None and interaction.session_sid == sso.sid:
        return False
    if "login" in request.prompt:
        return True
    if request.max_age is not None and \
            (now - sso.auth_time).total_seconds() > request.max_age:
        return True
    if request.login_hint is not None:
        person = session.get(Person, sso.person_id)
        return person is None or not hint_matches(provider, client, person, request.login_hint)
    return False


_INDEXED_HINT = "idx:"


def protect_login_hint(provider: Provider, request: AuthorizationRequest) -> AuthorizationRequest:
    """An ID number given as login_hint is kept only as its blind index (it is stored
    with the pending interaction, and ID numbers are never stored in clear)."""
    if request.login_hint is None:
        return request
    index = accounts.lookup_index(provider.keystore, request.login_hint)
    if index is None:
        return request
    return dataclasses.replace(request, login_hint=_INDEXED_HINT + index)


def apply_id_token_hint(session: Session, provider: Provider, request: AuthorizationRequest,
                        hint: str | None, now: dt.datetime) -> AuthorizationRequest:
    """OIDC Core §3.1.2.1: an id_token_hint names the person the client expects.

    It must be an ID token we issued to this client; its ``sub`` then acts as
    a login_hint, so another person's session means a fresh log-in, and with
    prompt=none the answer is login_required.
    """
    if hint is None:
        return request
    if request.login_hint is not None:
        raise RedirectError(InvalidRequest("Send login_hint or id_token_hint, not both."),
                            request.redirect_uri, request.state)
    try:
        claims = check_id_token_hint(session, provider, hint, now)
    except PageError as exc:
        raise RedirectError(exc.error, request.redirect_uri, request.state) from None
    subject = claims["sub"]
    if request.client_id not in audiences_of(claims) or not isinstance(subject, str):
        raise RedirectError(InvalidRequest("id_token_hint was not issued to this client."),
                            request.redirect_uri, request.state)
    return dataclasses.replace(request, login_hint=subject)


def hint_matches(provider: Provider, client: Client, person: Person, hint: str) -> bool:
    """A login_hint is the person's ``sub`` for this client or their ID number."""
    if hint.startswith(_INDEXED_HINT):
        return hint[len(_INDEXED_HINT):] == person.id_number_index
    return hint == subject_for(client, person, provider.pairwise_secret)


def needs_entity_choice(session: Session, request: AuthorizationRequest, sso: SsoSession,
                        interaction: Interaction | None, now: dt.datetime) -> bool:
    """With the entity scope, a person who represents entities chooses whom to act for."""
    if "entity" not in request.scope:
        return False
    if interaction is not None and interaction.acting is not None:
        return False
    return bool(accounts.representations(session, sso.person_id, now=now))


def needs_consent(session: Session, client: Client, request: AuthorizationRequest,
                  sso: SsoSession, interaction: Interaction | None) -> bool:
    """Clients not marked first-party need the person's consent to the scopes,
    remembered once given; prompt=consent asks again."""
    if client.first_party:
        return False
    if interaction is not None and interaction.consented:
        return False
    if "consent" in request.prompt:
        return True
    granted = session.scalar(select(Consent.scopes).where(
        Consent.person_id == sso.person_id, Consent.client_id == client.client_id))
    return granted is None or not set(request.scope) <= set(granted)


def next_step(session: Session, provider: Provider, client: Client,
              request: AuthorizationRequest, sso: SsoSession | None,
              interaction: Interaction | None, now: dt.datetime) -> Step:
    """The first thing still missing, in the order the pages ask for them."""
    if interaction is not None and interaction.pending_person_id is not None:
        return Step.TOTP
    if needs_login(session, provider, client, request, sso, interaction, now):
        return Step.LOGIN
    assert sso is not None
    if needs_entity_choice(session, request, sso, interaction, now):
        return Step.ENTITY
    if needs_consent(session, client, request, sso, interaction):
        return Step.CONSENT
    return Step.DONE


_PROMPT_NONE_ERRORS: dict[Step, tuple[type[OAuthError], str]] = {
    Step.LOGIN: (LoginRequired, "The person is not logged in (or must log in again)."),
    Step.TOTP: (LoginRequired, "The person is not logged in."),
    Step.ENTITY: (AccountSelectionRequired, "The person must choose whom to act for."),
    Step.CONSENT: (ConsentRequired, "The person has not consented to the requested scopes."),
}


def prompt_none_error(step: Step) -> OAuthError:
    """OIDC Core §3.1.2.6: with prompt=none, what is missing is the error."""
    error, description = _PROMPT_NONE_ERRORS[step]
    return error(description)


def grant_consent(session: Session, client: Client, person_id: int, scopes: tuple[str, ...],
                  *, now: dt.datetime) -> None:
    """Remember the scopes, added to any the person granted the client before."""
    consent = session.scalar(select(Consent).where(
        Consent.person_id == person_id, Consent.client_id == client.client_id))
    if consent is None:
        session.add(Consent(person_id=person_id, client_id=client.client_id,
                            scopes=sorted(set(scopes)), granted_at=now))
    else:
        consent.scopes = sorted(set(consent.scopes) | set(scopes))
        consent.granted_at = now
    session.flush()


def finish(session: Session, provider: Provider, client: Client,
           request: AuthorizationRequest, sso: SsoSession, interaction: Interaction | None,
           now: dt.datetime) -> str:
    """Create the grant and its code; the URI to send the browser to (RFC 9207 ``iss``)."""
    acting = None
    if interaction is not None and interaction.acting and \
            interaction.acting.get("kind") == "entity":
        acting = {k: v for k, v in interaction.acting.items() if k != "kind"}
    grant = grants.create_grant(session, grants.NewGrant(
        client_id=client.client_id, person_id=sso.person_id, session_sid=sso.sid,
        scope=request.scope_string, acting=acting, auth_time=sso.auth_time, acr=sso.acr,
        amr=list(sso.amr), nonce=request.nonce,
    ), now=now, lifetime=provider.grant_ttl)
    code = grants.issue_code(session, grant, redirect_uri=request.redirect_uri,
                             code_challenge=request.code_challenge,
                             code_challenge_method=request.code_challenge_method,
                             now=now, ttl=provider.code_ttl)
    if interaction is not None:
        session.delete(interaction)
    session.flush()
    return response_uri(request.redirect_uri,
                        {"code": code, "state": request.state, "iss": provider.issuer})


def error_uri(provider: Provider, redirect_uri: str, state: str | None,
              error: OAuthError) -> str:
    """RFC 6749 §4.1.2.1: the error at the client's redirect URI, with RFC 9207 ``iss``."""
    return response_uri(redirect_uri, {
        "error": error.error, "error_description": error.description or None,
        "state": state, "iss": provider.issuer,
    })
