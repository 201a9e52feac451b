"""Settings: the only module that reads the environment.

Every setting is a ``YIWANG_*`` variable with a one-line description and a
safe default. A malformed value raises :class:`SettingsError` naming the
variable, so the service refuses to start rather than guess.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(Exception):
    """A setting is malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    description: str
    parse: Callable[[str], Any]
    default: Callable[[dict[str, Any]], Any]


def _issuer(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value.rstrip("/")


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError("must be a sqlite: or postgresql+psycopg: URL")
    if value.startswith("postgresql:"):
        # psycopg 3 is the driver we install; SQLAlchemy would default to psycopg2.
        value = "postgresql+psycopg:" + value[len("postgresql:"):]
    return value


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or a positive whole number")
    return number


def _choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in options:
            raise ValueError("must be one of " + ", ".join(options))
        return value

    return parse


def _optional_url(value: str) -> str | None:
    if not value:
        return None
    if urlsplit(value).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL or empty")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("instance", "Instance folder: SQLite database, blobs, master key.",
            lambda v: Path(v).resolve(), lambda s: Path("instance").resolve()),
    Setting("database_url", "SQLAlchemy URL (sqlite:/// or postgresql+psycopg://).",
            _database_url, lambda s: f"sqlite:///{s['instance'] / 'yiwang.db'}"),
    Setting("issuer", "Public base URL of the service; the OpenID issuer identifier.",
            _issuer, lambda s: "http://127.0.0.1:5000"),
    Setting("master_key_file", "File holding the master key that wraps every private key.",
            lambda v: Path(v).resolve(), lambda s: s["instance"] / "master.key"),
    Setting("key_wrap", "Cipher wrapping private keys at rest: aes-256-gcm or sm4-gcm.",
            _choice("aes-256-gcm", "sm4-gcm"), lambda s: "aes-256-gcm"),
    Setting("blob_backend", "Where license PDFs live: filesystem (instance folder) or database.",
            _choice("filesystem", "database"), lambda s: "filesystem"),
    Setting("tsa_url", "External RFC 3161 timestamping URL; empty uses the service's own TSA.",
            _optional_url, lambda s: None),
    Setting("access_token_ttl", "Access token lifetime in seconds.",
            _positive_int, lambda s: 300),
    Setting("id_token_ttl", "ID token lifetime in seconds.", _positive_int, lambda s: 600),
    Setting("refresh_token_ttl", "Refresh token lifetime in seconds.",
            _positive_int, lambda s: 30 * 24 * 3600),
    Setting("refresh_grace_seconds",
            "Seconds a rotated refresh token may be retried before reuse revokes its family.",
            _non_negative_int, lambda s: 10),
    Setting("code_ttl", "Authorization code lifetime in seconds.", _positive_int, lambda s: 60),
    Setting("client_cache_seconds",
            "Seconds a process may reuse a client record it read; a disabled client is "
            "refused at most this much later.",
            _non_negative_int, lambda s: 5),
    Setting("session_ttl", "Single sign-on session lifetime in seconds.",
            _positive_int, lambda s: 8 * 3600),
    Setting("max_upload_bytes", "Largest request body accepted, in bytes.",
            _positive_int, lambda s: 20 * 1024 * 1024),
    Setting("log_level", "Logging level: DEBUG, INFO, WARNING or ERROR.",
            _choice("DEBUG", "INFO", "WARNING", "ERROR"), lambda s: "INFO"),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    instance: Path
    database_url: str
    issuer: str
    master_key_file: Path
    key_wrap: str
    blob_backend: str
    tsa_url: str | None
    access_token_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    refresh_grace_seconds: int
    code_ttl: int
    client_cache_seconds: int
    session_ttl: int
    max_upload_bytes: int
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``YIWANG_*`` variables; keyword overrides win (used by tests)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting.name in overrides:
                values[setting.name] = overrides[setting.name]
                continue
            variable = env_name(setting.name)
            raw = environ.get(variable)
            if raw is None or raw.strip() == "":
                values[setting.name] = setting.default(values)
                continue
            try:
                values[setting.name] = setting.parse(raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{variable}={raw!r}: {exc}") from None
        return cls(**values)

    @property
    def blob_dir(self) -> Path:
        return self.instance / "blobs"

    def dev_warnings(self) -> list[str]:
        """Defaults that are fine on a laptop and wrong in production."""
        warnings = []
        if self.issuer.startswith("http://"):
            warnings.append(
                f"YIWANG_ISSUER is plain http ({self.issuer}): cookies are not Secure; "
                "use https in production."
            )
        if self.master_key_file.parent == self.instance:
            warnings.append(
                "The master key lives in the instance folder next to the data it protects; "
                "set YIWANG_MASTER_KEY_FILE to a separate, protected location in production."
            )
        return warnings


def env_name(setting_name: str) -> str:
    return "YIWANG_" + setting_name.upper()


def describe() -> list[tuple[str, str]]:
    """(variable, description) for every setting, for docs and ``--help``."""
    return [(env_name(s.name), s.description) for s in SETTINGS]
