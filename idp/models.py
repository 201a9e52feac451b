"""Identity provider tables: accounts, clients, sessions, grants and their tokens.

Secrets never appear here in clear: ID numbers are sealed and found through a
keyed blind index, passwords are Argon2id hashes, client secrets, codes,
refresh tokens and session cookies are SHA-256 digests (they are random
256-bit values, so a fast hash is enough and keeps token requests cheap).

Shapes chosen so later features fit without new concepts:

* an :class:`SsoSession` is one browser's authentication; its public ``sid``
  goes into ID tokens (back-channel logout will address sessions by it);
* a :class:`Grant` is one authorization of one client by one person (or a
  device, or an exchanged token: ``kind`` and ``parent_id``). Codes, refresh
  tokens and access tokens all point at it, so revoking the grant revokes
  everything issued from it; step-up only needs a new grant with a higher
  ``acr``;
* an :class:`Interaction` is a pending authorization request between the
  browser's first visit and the code (device authorization will use it with
  a user code instead of a redirect).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.database import Base

LEVELS = ("L1", "L2", "L3")


class Person(Base):
    """A natural person, keyed on the resident ID number."""

    __tablename__ = "idp_persons"
    __table_args__ = (CheckConstraint("level IN ('L1', 'L2', 'L3')", name="level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Opaque, random and stable: the public ``sub`` (pairwise subs derive from it).
    subject: Mapped[str] = mapped_column(String(43), unique=True)
    # HMAC-SHA256 of the canonical ID number under a key derived from the master key.
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # ``110**************X``: enough for an operator to recognise, not to identify.
    id_number_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(2))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The last accepted TOTP time step: a code is never accepted twice (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.id_number_masked} {self.level}>"


class Entity(Base):
    """A legal entity (enterprise, institution), keyed on its USCC."""

    __tablename__ = "idp_entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_rep_id: Mapped[int] = mapped_column(ForeignKey("idp_persons.id"), index=True)
    created_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<Entity {self.uscc}>"


class EntityAgent(Base):
    """A person an entity has authorised to act for it (经办人) until a date."""

    __tablename__ = "idp_entity_agents"
    __table_args__ = (UniqueConstraint("entity_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("idp_entities.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("idp_persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    # Space-separated business scopes the agent may handle; "*" for all.
    scope: Mapped[str] = mapped_column(String(500))
    # Last day (China Standard Time) on which the authorisation holds.
    valid_until: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class Client(Base):
    """A relying party: portal, app, kiosk or department back end."""

    __tablename__ = "idp_clients"
    __table_args__ = (
        CheckConstraint(
            "auth_method IN ('client_secret_basic', 'client_secret_post', "
            "'private_key_jwt', 'none')", name="auth_method"),
        CheckConstraint("subject_type IN ('public', 'pairwise')", name="subject_type"),
        CheckConstraint("id_token_alg IN ('RS256', 'ES256')", name="id_token_alg"),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 hex of the secret; NULL for public and private_key_jwt clients.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    public: Mapped[bool] = mapped_column(Boolean)
    auth_method: Mapped[str] = mapped_column(String(32))
    first_party: Mapped[bool] = mapped_column(Boolean)
    id_token_alg: Mapped[str] = mapped_column(String(8))
    subject_type: Mapped[str] = mapped_column(String(8))
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    # Public keys for private_key_jwt, as a JWK Set.
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    secret_rotated_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<Client {self.client_id} {self.name!r}>"


class SsoSession(Base):
    """One browser's single sign-on session, found by the digest of its cookie."""

    __tablename__ = "idp_sessions"

    # Public session id: the ``sid`` claim of ID tokens. Not the cookie.
    sid: Mapped[str] = mapped_column(String(43), primary_key=True)
    cookie_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("idp_persons.id"), index=True)
    auth_time: Mapped[dt.datetime]
    amr: Mapped[list[str]] = mapped_column(JSON)
    acr: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]


class Interaction(Base):
    """A validated authorization request waiting for the person (log-in, consent...)."""

    __tablename__ = "idp_interactions"

    uid: Mapped[str] = mapped_column(String(43), primary_key=True)
    # SHA-256 of a cookie set on the browser that started the request: the
    # steps only continue in that browser.
    browser_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(ForeignKey("idp_clients.client_id"))
    # The checked authorization parameters (redirect_uri, scope, state, nonce, PKCE...).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set once the password is right while a second factor is still due.
    pending_person_id: Mapped[int | None] = mapped_column(ForeignKey("idp_persons.id"))
    # Set once the person authenticated during this interaction.
    session_sid: Mapped[str | None] = mapped_column(String(43))
    # {"kind": "self"} or the entity chosen: {"kind": "entity", "entity_id": .., "role": ..}
    acting: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    consented: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class Grant(Base):
    """One authorization: the root of every code and token issued from it."""

    __tablename__ = "idp_grants"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    # authorization_code today; device_code and token_exchange later.
    kind: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(ForeignKey("idp_clients.client_id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("idp_persons.id"), index=True)
    session_sid: Mapped[str | None] = mapped_column(String(43), index=True)
    # The grant this one was derived from (token exchange, step-up).
    parent_id: Mapped[str | None] = mapped_column(String(43))
    scope: Mapped[str] = mapped_column(String(1000))
    # Whom the person acts for: None (oneself) or entity id, USCC, name, role, scope.
    acting: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auth_time: Mapped[dt.datetime | None]
    acr: Mapped[str | None] = mapped_column(String(16))
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    nonce: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    # code_replay, refresh_reuse, revoked_by_client, logout
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class AuthorizationCode(Base):
    """A single-use code: consumed by a conditional UPDATE, never deleted early."""

    __tablename__ = "idp_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("idp_grants.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    expires_at: Mapped[dt.datetime]
    consumed_at: Mapped[dt.datetime | None]


class RefreshToken(Base):
    """One member of a refresh-token family (the family is the grant)."""

    __tablename__ = "idp_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("idp_grants.id"), index=True)
    parent_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    # Set when the token was exchanged for its successor (or superseded in the grace window).
    rotated_at: Mapped[dt.datetime | None]


class Consent(Base):
    """The scopes a person granted a client that is not first-party."""

    __tablename__ = "idp_consents"
    __table_args__ = (UniqueConstraint("person_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("idp_persons.id"))
    client_id: Mapped[str] = mapped_column(ForeignKey("idp_clients.client_id"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    granted_at: Mapped[dt.datetime]


class ThrottleCounter(Base):
    """Failed log-in attempts per account or per source address, shared by all nodes."""

    __tablename__ = "idp_throttle"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None]
    blocked_until: Mapped[dt.datetime | None]


class RevokedToken(Base):
    """Access tokens revoked one by one (RFC 7009), kept until they expire."""

    __tablename__ = "idp_revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class UsedAssertion(Base):
    """``jti`` of private_key_jwt client assertions already accepted (no replay)."""

    __tablename__ = "idp_used_assertions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


Index("ix_idp_interactions_expires_at", Interaction.expires_at)
Index("ix_idp_codes_expires_at", AuthorizationCode.expires_at)
