"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414): exactly what is supported."""

from __future__ import annotations

from typing import Any

from idp.clients import ASSERTION_ALGORITHMS, AUTH_METHODS, GRANT_TYPES, USER_SCOPES
from idp.models import LEVELS
from idp.provider import ENDPOINTS, Provider
from idp.tokens import ID_TOKEN_ALGS

__all__ = ["CLAIMS", "metadata"]

CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash",
          "sid", "name", "id_number", "entity")
AUTHENTICATED_METHODS = [m for m in AUTH_METHODS if m != "none"]


def metadata(provider: Provider) -> dict[str, Any]:
    """The discovery document: endpoints under the issuer, then what each one supports."""
    issuer = provider.issuer
    document: dict[str, Any] = {"issuer": issuer}
    for name, path in ENDPOINTS.items():
        document[name] = issuer + path
    document.update({
        "scopes_supported": list(USER_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": AUTHENTICATED_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "acr_values_supported": list(LEVELS),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["zh-CN"],
        "claims_locales_supported": ["zh-CN"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
    })
    return document
