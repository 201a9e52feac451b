"""The identity provider's process-wide objects, built once per app.

Only derived secrets and short-lived caches of keys and clients live here; every piece of
state another node would need is in the database.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Protocol

from idp.accounts import SecretBox
from idp.clients import ClientCache
from idp.throttle import Throttle
from idp.tokens import PAIRWISE_LABEL, KeySource, TokenKeys

__all__ = ["ENDPOINTS", "Provider", "ProviderSettings"]

ENDPOINTS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "jwks_uri": "/jwks.json",
    "end_session_endpoint": "/logout",
    "introspection_endpoint": "/introspect",
    "revocation_endpoint": "/revoke",
}


class ProviderSettings(Protocol):
    """The settings the provider reads (``yiwang.settings.Settings`` has them)."""

    @property
    def issuer(self) -> str: ...
    @property
    def access_token_ttl(self) -> int: ...
    @property
    def id_token_ttl(self) -> int: ...
    @property
    def refresh_token_ttl(self) -> int: ...
    @property
    def refresh_grace_seconds(self) -> int: ...
    @property
    def code_ttl(self) -> int: ...
    @property
    def client_cache_seconds(self) -> int: ...
    @property
    def session_ttl(self) -> int: ...


class ProviderKeyStore(SecretBox, KeySource, Protocol):
    """The key store seals personal data and holds the token keys (``keys.KeyStore``)."""


class Provider:
    """Settings, key store and the objects derived from them, shared by every request."""

    def __init__(self, settings: ProviderSettings, keystore: ProviderKeyStore) -> None:
        self.settings = settings
        self.keystore = keystore
        self.keys = TokenKeys(keystore)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    def url(self, endpoint: str) -> str:
        return self.issuer + ENDPOINTS[endpoint]

    @functools.cached_property
    def clients(self) -> ClientCache:
        return ClientCache(self.settings.client_cache_seconds)

    @functools.cached_property
    def throttle(self) -> Throttle:
        return Throttle(self.keystore.derive_secret("idp throttle"))

    @functools.cached_property
    def pairwise_secret(self) -> bytes:
        return self.keystore.derive_secret(PAIRWISE_LABEL)

    @property
    def code_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.code_ttl)

    @property
    def grant_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.refresh_token_ttl)

    @property
    def session_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.session_ttl)

    @property
    def refresh_grace(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.refresh_grace_seconds)
