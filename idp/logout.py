"""RP-Initiated Logout 1.0: checking the request and ending the SSO session."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from idp import grants, sessions
from idp.authorize import MAX_PARAMETER, PageError, response_uri
from idp.errors import InvalidRequest
from idp.models import Client, SsoSession
from idp.provider import Provider
from idp.tokens import ID_TOKEN_ALGS, audiences_of, unverified_claims
from keys.errors import TokenInvalidError

__all__ = ["LogoutIntent", "check_logout_request", "end_sso"]

_PARAMETERS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id",
               "logout_hint", "ui_locales")


@dataclasses.dataclass(frozen=True)
class LogoutIntent:
    client_id: str | None
    client_name: str | None
    post_logout_redirect_uri: str | None
    state: str | None
    # The ``sid`` of a valid id_token_hint: the session the relying party knows.
    hinted_sid: str | None = None

    def redirect_location(self) -> str | None:
        if self.post_logout_redirect_uri is None:
            return None
        return response_uri(self.post_logout_redirect_uri, {"state": self.state})


def check_id_token_hint(session: Session, provider: Provider, hint: str,
                        now: dt.datetime) -> dict[str, Any]:
    """§2: the hint is an ID token we issued. An expired one is accepted (§4: the
    RP may well send the one it got hours ago), but not one older than a session."""
    try:
        issued = float(unverified_claims(hint)["iat"])
    except (KeyError, TypeError, ValueError, OverflowError, TokenInvalidError):
        raise PageError(InvalidRequest("id_token_hint is not a valid ID token.")) from None
    limit = provider.settings.session_ttl + provider.settings.id_token_ttl
    if not 0 <= now.timestamp() - issued <= limit:
        raise PageError(InvalidRequest("id_token_hint is too old."))
    moment = dt.datetime.fromtimestamp(issued, dt.UTC)
    try:
        # Verified as of its own issue time: the signature is what matters here.
        return provider.keys.verify(session, hint, ID_TOKEN_ALGS, issuer=provider.issuer,
                                    now=now, at=moment,
                                    require=("exp", "iat", "aud", "sub"))
    except TokenInvalidError:
        raise PageError(InvalidRequest("id_token_hint is not a valid ID token.")) from None


def check_logout_request(session: Session, provider: Provider,
                         params: Mapping[str, Sequence[str]], *,
                         now: dt.datetime) -> LogoutIntent:
    """§2–3: a post_logout_redirect_uri needs an identified client and an exact match."""
    for name in _PARAMETERS:
        values = params.get(name, ())
        if len(values) > 1:
            raise PageError(InvalidRequest(f"{name} is included more than once."))
        if values and len(values[0]) > MAX_PARAMETER * 4:
            raise PageError(InvalidRequest(f"{name} is too long."))
    first = {name: items[0] for name, items in params.items() if items}
    client_id = first.get("client_id") or None
    hint = first.get("id_token_hint")
    hinted_sid = None
    if hint:
        claims = check_id_token_hint(session, provider, hint, now)
        hinted_sid = str(claims["sid"]) if claims.get("sid") else None
        audiences = audiences_of(claims)
        if client_id is not None and client_id not in audiences:
            raise PageError(InvalidRequest("client_id does not match id_token_hint."))
        client_id = client_id or str(audiences[0])
    client = session.get(Client, client_id) if client_id else None
    if client_id and (client is None or client.disabled_at is not None):
        raise PageError(InvalidRequest("The client is unknown or disabled."))
    uri = first.get("post_logout_redirect_uri") or None
    if uri is not None:
        if client is None:
            raise PageError(InvalidRequest(
                "post_logout_redirect_uri needs id_token_hint or client_id."))
        if uri not in client.post_logout_redirect_uris:
            raise PageError(InvalidRequest(
                "post_logout_redirect_uri is not registered for this client."))
    state = first.get("state")
    if state is not None and len(state) > MAX_PARAMETER:
        raise PageError(InvalidRequest("state is too long."))
    return LogoutIntent(client_id=client.client_id if client else None,
                        client_name=client.name if client else None,
                        post_logout_redirect_uri=uri, state=state if uri else None,
                        hinted_sid=hinted_sid)


def end_sso(session: Session, sso: SsoSession, *, now: dt.datetime) -> None:
    """End the session and revoke every grant made in it (their tokens go inactive)."""
    grants.revoke_session_grants(session, sso.sid, reason="logout", now=now)
    sessions.end_session(session, sso, now=now)
