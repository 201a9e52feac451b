"""The authorization request, checked step by step.

Each check is a small function named after what it checks, opening with the
rule it enforces. Checks before the redirect URI is trusted raise
:class:`PageError` (shown to the person, never redirected: RFC 6749
§4.1.2.1); the others raise protocol errors that are sent back to the
validated redirect URI with ``state`` and ``iss``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from idp.clients import redirect_uri_matches
from idp.errors import (
    IdpError,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    RegistrationNotSupported,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from idp.models import Client

__all__ = [
    "MAX_PARAMETER",
    "PROMPTS",
    "AuthorizationRequest",
    "PageError",
    "RedirectError",
    "check_authorization_request",
    "response_uri",
]

PROMPTS = frozenset({"none", "login", "consent"})
MAX_PARAMETER = 2048
# RFC 7636 §4.2: S256 challenges are 43 base64url characters.
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_SINGLE = ("client_id", "redirect_uri", "response_type", "response_mode", "scope", "state",
           "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age",
           "login_hint", "id_token_hint", "acr_values", "request", "request_uri",
           "registration")


class PageError(IdpError):
    """An authorization error that must be shown, not redirected."""

    def __init__(self, error: OAuthError) -> None:
        self.error = error
        super().__init__(str(error))


class RedirectError(IdpError):
    """An authorization error to send to the client's validated redirect URI."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None) -> None:
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state
        super().__init__(str(error))


@dataclasses.dataclass(frozen=True)
class AuthorizationRequest:
    """The parameters that survived every check, ready to store in an interaction."""

    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    acr_values: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["scope"], data["prompt"] = list(self.scope), sorted(self.prompt)
        data["acr_values"] = list(self.acr_values)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorizationRequest:
        values = dict(data)
        values["scope"] = tuple(values["scope"])
        values["prompt"] = frozenset(values["prompt"])
        values["acr_values"] = tuple(values["acr_values"])
        return cls(**values)

    @property
    def scope_string(self) -> str:
        return " ".join(self.scope)


def response_uri(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """RFC 6749 §3.1.2: keep the redirect URI's own query, append ours."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


# --- checks shown as a page --------------------------------------------------------------


def check_single_values(params: Mapping[str, Sequence[str]], names: Sequence[str]) -> None:
    """RFC 6749 §3.1: parameters must not be included more than once."""
    for name in names:
        if len(params.get(name, ())) > 1:
            raise InvalidRequest(f"{name} is included more than once.")


def check_sizes(values: Mapping[str, str], names: Sequence[str]) -> None:
    """Parameters longer than any sensible value are refused before they are stored."""
    for name in names:
        if len(values.get(name) or "") > MAX_PARAMETER:
            raise InvalidRequest(f"{name} is too long.")


def check_client(session: Session, client_id: str | None) -> Client:
    """The client must exist and be enabled; otherwise there is nobody to redirect to."""
    if not client_id:
        raise InvalidRequest("client_id is required.")
    client = session.get(Client, client_id)
    if client is None or client.disabled_at is not None:
        raise InvalidClient("The client is unknown or disabled.")
    return client


def check_redirect_uri(client: Client, redirect_uri: str | None) -> str:
    """OIDC Core §3.1.2.1: redirect_uri is required and must match a registered one exactly."""
    if not redirect_uri:
        raise InvalidRequest("redirect_uri is required.")
    if not redirect_uri_matches(client, redirect_uri):
        raise InvalidRequest("redirect_uri is not registered for this client.")
    return redirect_uri


# --- checks answered at the redirect URI ------------------------------------------------


def check_no_request_objects(values: Mapping[str, str]) -> None:
    """OIDC Core §6: request objects and dynamic registration are not supported."""
    if "request" in values:
        raise RequestNotSupported("The request parameter is not supported.")
    if "request_uri" in values:
        raise RequestUriNotSupported("The request_uri parameter is not supported.")
    if "registration" in values:
        raise RegistrationNotSupported("The registration parameter is not supported.")


def check_response_type(values: Mapping[str, str]) -> None:
    """Only the authorization code flow: response_type=code."""
    response_type = values.get("response_type")
    if not response_type:
        raise InvalidRequest("response_type is required.")
    if response_type != "code":
        raise UnsupportedResponseType("Only response_type=code is supported.")


def check_response_mode(values: Mapping[str, str]) -> None:
    """Responses go in the query string only."""
    mode = values.get("response_mode")
    if mode is not None and mode != "query":
        raise InvalidRequest("Only response_mode=query is supported.")


def check_client_may_use_code(client: Client) -> None:
    """RFC 6749 §4.1.2.1: the client must be registered for authorization_code."""
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("The client may not use the authorization code grant.")


def check_scope(client: Client, values: Mapping[str, str]) -> tuple[str, ...]:
    """Scope is required, and every value must be one the client is allowed."""
    raw = values.get("scope", "")
    scopes = tuple(dict.fromkeys(raw.split()))
    if not scopes:
        raise InvalidScope("scope is required.")
    refused = [s for s in scopes if s not in client.scopes]
    if refused:
        raise InvalidScope("The client may not request scope " + " ".join(refused) + ".")
    return scopes


def check_pkce(values: Mapping[str, str]) -> tuple[str, str]:
    """RFC 7636 (and RFC 9700 §2.1.1): every client sends an S256 code_challenge.

    A missing method means ``plain`` (RFC 7636 §4.3), which is refused like an
    explicit one; an unsupported method is ``invalid_request`` (§4.4.1).
    """
    challenge = values.get("code_challenge")
    if not challenge:
        raise InvalidRequest("code_challenge is required (PKCE with S256).")
    method = values.get("code_challenge_method", "plain")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256.")
    if not _S256_CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge must be 43 base64url characters.")
    return challenge, method


def check_prompt(values: Mapping[str, str]) -> frozenset[str]:
    """OIDC Core §3.1.2.1: known values only, and none stands alone."""
    prompt = frozenset(values.get("prompt", "").split())
    unknown = prompt - PROMPTS
    if unknown:
        raise InvalidRequest("Unsupported prompt value " + " ".join(sorted(unknown)) + ".")
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")
    return prompt


def check_max_age(values: Mapping[str, str]) -> int | None:
    """OIDC Core §3.1.2.1: max_age is a non-negative number of seconds."""
    raw = values.get("max_age")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        raise InvalidRequest("max_age must be a non-negative integer.")
    return int(raw)


def check_nonce_and_login_hint(values: Mapping[str, str]) -> None:
    """nonce (echoed in the ID token) and login_hint (kept with the interaction) are
    of sensible length."""
    if len(values.get("nonce") or "") > 512:
        raise InvalidRequest("nonce is too long.")
    if len(values.get("login_hint") or "") > 256:
        raise InvalidRequest("login_hint is too long.")


def check_authorization_request(session: Session,
                                params: Mapping[str, Sequence[str]]) -> AuthorizationRequest:
    """Run every check; raises :class:`PageError` or :class:`RedirectError`."""
    values = {name: items[0] for name, items in params.items() if items}
    try:
        check_single_values(params, ("client_id", "redirect_uri"))
        check_sizes(values, ("client_id", "redirect_uri"))
        client = check_client(session, values.get("client_id"))
        redirect_uri = check_redirect_uri(client, values.get("redirect_uri"))
    except OAuthError as exc:
        raise PageError(exc) from None
    state = values.get("state")
    try:
        check_single_values(params, _SINGLE)
        check_sizes(values, _SINGLE)
        check_no_request_objects(values)
        check_response_type(values)
        check_response_mode(values)
        check_client_may_use_code(client)
        scope = check_scope(client, values)
        challenge, method = check_pkce(values)
        prompt = check_prompt(values)
        max_age = check_max_age(values)
        check_nonce_and_login_hint(values)
    except OAuthError as exc:
        echo = state if state and len(state) <= MAX_PARAMETER else None
        raise RedirectError(exc, redirect_uri, echo) from None
    return AuthorizationRequest(
        client_id=client.client_id, redirect_uri=redirect_uri, scope=scope, state=state,
        nonce=values.get("nonce"), code_challenge=challenge, code_challenge_method=method,
        prompt=prompt, max_age=max_age, login_hint=values.get("login_hint") or None,
        acr_values=tuple(values.get("acr_values", "").split()),
    )
