"""Errors raised by the identity provider.

Every error the ``idp`` package raises on purpose derives from :class:`IdpError`,
so callers can catch the package's failures without catching programming
errors. Identifier errors also derive from :class:`ValueError`, because a bad
ID number is a bad value, and code that already expects ``ValueError`` (form
validation, python-stdnum users) keeps working.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AccountError",
    "AccountSelectionRequired",
    "ClientConfigError",
    "ClientNotFoundError",
    "ConsentRequired",
    "EntityExistsError",
    "EntityNotFoundError",
    "IdentifierError",
    "IdpError",
    "InsufficientScope",
    "InteractionRequired",
    "InvalidAuthorityCode",
    "InvalidBirthDate",
    "InvalidChecksum",
    "InvalidClient",
    "InvalidFormat",
    "InvalidGrant",
    "InvalidLength",
    "InvalidRegion",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "LoginRequired",
    "OAuthError",
    "PersonExistsError",
    "PersonNotFoundError",
    "RegistrationNotSupported",
    "RequestNotSupported",
    "RequestUriNotSupported",
    "ServerError",
    "TemporarilyUnavailable",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedResponseType",
    "UnsupportedTokenType",
    "WeakPasswordError",
]


class IdpError(Exception):
    """Root of every error the idp package raises on purpose."""


class IdentifierError(IdpError, ValueError):
    """A resident ID number or unified social credit code was refused.

    The message is meant for users and logs alike, so it never contains a
    full resident ID number: ID numbers are personal information and only
    their masked form (``110**************X``) may appear.
    """

    default_message = "The identifier is not valid."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidLength(IdentifierError):
    """The identifier has the wrong number of characters."""

    default_message = "The identifier has the wrong length."


class InvalidFormat(IdentifierError):
    """The identifier contains a character that is not allowed where it is."""

    default_message = "The identifier contains a character that is not allowed."


class InvalidChecksum(IdentifierError):
    """A check digit or check character does not match the rest of the identifier."""

    default_message = "The identifier's check character is wrong."


class InvalidBirthDate(IdentifierError):
    """The birth date in a resident ID number is impossible, too early or in the future."""

    default_message = "The birth date in the ID number is not possible."


class InvalidRegion(IdentifierError):
    """The administrative region code is unknown or malformed."""

    default_message = "The region code is not valid."


class InvalidAuthorityCode(IdentifierError):
    """A USCC's registration-authority or entity-type code is not assigned (GB 32100)."""

    default_message = "The registration authority or entity type code is not valid."


# --- Accounts, entities and clients -----------------------------------------------------


class AccountError(IdpError):
    """A person, entity or client operation was refused (CLI and services)."""


class PersonExistsError(AccountError):
    """A person with this ID number already exists."""


class PersonNotFoundError(AccountError):
    """No person has this ID number."""


class EntityExistsError(AccountError):
    """An entity with this unified social credit code already exists."""


class EntityNotFoundError(AccountError):
    """No entity has this unified social credit code."""


class ClientNotFoundError(AccountError):
    """No client has this client_id."""


class ClientConfigError(AccountError):
    """A client registration is inconsistent (redirect URIs, grant types, auth method)."""


class WeakPasswordError(AccountError):
    """A new password is too short or otherwise unacceptable."""


# --- OAuth 2.0 / OpenID Connect protocol errors -------------------------------------------
#
# One class per error code. ``error`` is the code sent on the wire; ``status`` the
# HTTP status used when the error is answered directly (token, introspection,
# revocation, userinfo) rather than redirected to the client.


class OAuthError(IdpError):
    """An OAuth 2.0 / OpenID Connect error response.

    ``description`` is a short English sentence safe to show the client: it
    never contains secrets, tokens, ID numbers or internals.
    """

    error = "invalid_request"
    status = 400

    def __init__(self, description: str = "", *, persist: bool = False) -> None:
        self.description = description
        # True when the refusal itself changed state that must be kept: the
        # revocation that follows a replayed code or a reused refresh token.
        self.persist = persist
        super().__init__(f"{self.error}: {description}" if description else self.error)


class InvalidRequest(OAuthError):
    """RFC 6749 §4.1.2.1 / §5.2: "The request is missing a required parameter,
    includes an invalid parameter value, includes a parameter more than once,
    or is otherwise malformed." """

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: "Client authentication failed (e.g., unknown client, no
    client authentication included, or unsupported authentication method)."
    Answered with 401 and a ``WWW-Authenticate`` header."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2: "The provided authorization grant (e.g., authorization
    code, resource owner credentials) or refresh token is invalid, expired,
    revoked, does not match the redirection URI used in the authorization
    request, or was issued to another client." """

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """RFC 6749 §4.1.2.1 / §5.2: "The authenticated client is not authorized to
    use this authorization grant type." """

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2: "The authorization grant type is not supported by the
    authorization server." """

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """RFC 6749 §4.1.2.1 / §5.2: "The requested scope is invalid, unknown,
    malformed, or exceeds the scope granted by the resource owner." """

    error = "invalid_scope"


class AccessDenied(OAuthError):
    """RFC 6749 §4.1.2.1: "The resource owner or authorization server denied
    the request." """

    error = "access_denied"
    status = 403


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1: "The authorization server does not support obtaining
    an authorization code using this method." """

    error = "unsupported_response_type"


class ServerError(OAuthError):
    """RFC 6749 §4.1.2.1: "The authorization server encountered an unexpected
    condition that prevented it from fulfilling the request." """

    error = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    """RFC 6749 §4.1.2.1: "The authorization server is currently unable to
    handle the request due to a temporary overloading or maintenance of the
    server." """

    error = "temporarily_unavailable"
    status = 503


class InteractionRequired(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The Authorization Server requires End-User
    interaction of some form to proceed." """

    error = "interaction_required"


class LoginRequired(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The Authorization Server requires End-User
    authentication." """

    error = "login_required"


class AccountSelectionRequired(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The End-User is REQUIRED to select a
    session at the Authorization Server." Used when the person must choose
    whom to act for (oneself or an entity)."""

    error = "account_selection_required"


class ConsentRequired(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The Authorization Server requires End-User
    consent." """

    error = "consent_required"


class RequestNotSupported(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The OP does not support use of the
    ``request`` parameter." """

    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The OP does not support use of the
    ``request_uri`` parameter." """

    error = "request_uri_not_supported"


class RegistrationNotSupported(OAuthError):
    """OpenID Connect Core §3.1.2.6: "The OP does not support use of the
    ``registration`` parameter." """

    error = "registration_not_supported"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: "The access token provided is expired, revoked,
    malformed, or invalid for other reasons." Answered with 401 and a
    ``WWW-Authenticate: Bearer`` header."""

    error = "invalid_token"
    status = 401


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1: "The request requires higher privileges than provided by
    the access token." """

    error = "insufficient_scope"
    status = 403


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1: "The authorization server does not support the
    revocation of the presented token type." """

    error = "unsupported_token_type"
