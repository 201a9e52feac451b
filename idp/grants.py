"""Grants and the single-use things issued from them: codes and refresh tokens.

Consuming a code or rotating a refresh token is one conditional UPDATE whose
row count decides who won, so two nodes (or two threads) can never both
succeed. The UPDATE comes first in its transaction: on PostgreSQL it takes
the row lock before anything is read; on SQLite it takes the write lock
before a read snapshot exists (a stale snapshot could not be upgraded).
Every later check that fails raises, and the caller's rollback puts the
code or token back untouched.

Refusals that must leave a trace (a replayed code, a reused refresh token)
revoke the grant and raise an error with ``persist=True``: the caller
commits before answering.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from idp.errors import InvalidGrant, InvalidRequest
from idp.models import AuthorizationCode, Grant, Person, RefreshToken, RevokedToken
from yiwang.database import insert_ignore

__all__ = [
    "NewGrant",
    "active_grant",
    "create_grant",
    "digest",
    "is_token_revoked",
    "issue_code",
    "issue_refresh_token",
    "new_token",
    "redeem_code",
    "refresh_token_grant",
    "revoke_access_token",
    "revoke_grant",
    "revoke_session_grants",
    "rotate_refresh_token",
]

CODE_KIND = "authorization_code"


def digest(value: str) -> str:
    """SHA-256 hex: how codes, refresh tokens, secrets and cookies are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    """A random 256-bit value, base64url without padding (43 characters)."""
    return secrets.token_urlsafe(32)


@dataclasses.dataclass(frozen=True)
class NewGrant:
    """What an authorization decided: who, for which client, with which scope."""

    client_id: str
    person_id: int | None
    session_sid: str | None
    scope: str
    acting: dict[str, Any] | None
    auth_time: dt.datetime | None
    acr: str | None
    amr: list[str] | None
    nonce: str | None
    kind: str = CODE_KIND
    parent_id: str | None = None


def create_grant(session: Session, new: NewGrant, *, now: dt.datetime,
                 lifetime: dt.timedelta) -> Grant:
    grant = Grant(
        id=new_token(), kind=new.kind, client_id=new.client_id, person_id=new.person_id,
        session_sid=new.session_sid, parent_id=new.parent_id, scope=new.scope,
        acting=new.acting, auth_time=new.auth_time, acr=new.acr, amr=new.amr, nonce=new.nonce,
        created_at=now, expires_at=now + lifetime,
    )
    session.add(grant)
    session.flush()
    return grant


def issue_code(session: Session, grant: Grant, *, redirect_uri: str,
               code_challenge: str | None, code_challenge_method: str | None,
               now: dt.datetime, ttl: dt.timedelta) -> str:
    code = new_token()
    session.add(AuthorizationCode(
        code_hash=digest(code), grant_id=grant.id, client_id=grant.client_id,
        redirect_uri=redirect_uri, code_challenge=code_challenge,
        code_challenge_method=code_challenge_method, expires_at=now + ttl,
    ))
    session.flush()
    return code


# --- checks made when a code is redeemed ---------------------------------------------------


def check_code_client(row: AuthorizationCode, client_id: str) -> None:
    """RFC 6749 §4.1.3: the code must have been issued to the authenticated client."""
    if not hmac.compare_digest(row.client_id, client_id):
        raise InvalidGrant("The authorization code was issued to another client.")


def check_code_fresh(row: AuthorizationCode, now: dt.datetime) -> None:
    """RFC 6749 §4.1.2: codes are short-lived (``YIWANG_CODE_TTL``, 60 seconds by default)."""
    if row.expires_at <= now:
        raise InvalidGrant("The authorization code has expired.")


def check_code_redirect_uri(row: AuthorizationCode, redirect_uri: str | None) -> None:
    """RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's."""
    if redirect_uri is None:
        raise InvalidRequest("redirect_uri is required.")
    if redirect_uri != row.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request.")


def check_pkce(row: AuthorizationCode, code_verifier: str | None) -> None:
    """RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the code_challenge.

    A verifier sent for a code issued without a challenge is refused too, so
    a client cannot be tricked into believing PKCE protected it.
    """
    if row.code_challenge is None:
        if code_verifier is not None:
            raise InvalidGrant("The code was issued without a code_challenge; "
                               "code_verifier must not be sent.")
        return
    if code_verifier is None:
        raise InvalidRequest("code_verifier is required.")
    if not 43 <= len(code_verifier) <= 128 or not _is_unreserved(code_verifier):
        raise InvalidRequest("code_verifier must be 43 to 128 unreserved characters.")
    computed = base64.urlsafe_b64encode(
        hashlib.sha256(code_verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(computed, row.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge.")


def _is_unreserved(value: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "-._~") for c in value)


# The token path's statements are built once (building them costs more than running them).
_CONSUME_CODE = (
    update(AuthorizationCode)
    .where(AuthorizationCode.code_hash == bindparam("hash"),
           AuthorizationCode.consumed_at.is_(None))
    .values(consumed_at=bindparam("moment"))
    .execution_options(synchronize_session=False))
# One query for the code, its grant and the person (the token response needs all three).
_CODE_GRANT_PERSON = (
    select(AuthorizationCode, Grant, Person)
    .join(Grant, Grant.id == AuthorizationCode.grant_id)
    .outerjoin(Person, Person.id == Grant.person_id)
    .where(AuthorizationCode.code_hash == bindparam("hash"))
    .execution_options(populate_existing=True))
_ROTATE_REFRESH = (
    update(RefreshToken)
    .where(RefreshToken.token_hash == bindparam("hash"), RefreshToken.rotated_at.is_(None))
    .values(rotated_at=bindparam("moment"))
    .execution_options(synchronize_session=False))
_REFRESH_GRANT_PERSON = (
    select(RefreshToken, Grant, Person)
    .join(Grant, Grant.id == RefreshToken.grant_id)
    .outerjoin(Person, Person.id == Grant.person_id)
    .where(RefreshToken.token_hash == bindparam("hash"))
    .execution_options(populate_existing=True))
_INSERT_REFRESH = insert(RefreshToken)


@dataclasses.dataclass(frozen=True)
class Redeemed:
    """A grant brought back by a code or refresh token, and its person.

    Both come from one query; holding the person here also keeps it in the
    session (whose identity map holds objects weakly), so nothing loads it again.
    """

    grant: Grant
    person: Person | None


def redeem_code(session: Session, *, code: str, client_id: str, redirect_uri: str | None,
                code_verifier: str | None, now: dt.datetime) -> Redeemed:
    """Consume a code once and return its grant; a replay revokes the grant."""
    code_hash = digest(code)
    consumed = session.execute(_CONSUME_CODE, {"hash": code_hash, "moment": now}).rowcount  # type: ignore[attr-defined]
    found = session.execute(_CODE_GRANT_PERSON, {"hash": code_hash}).first()
    if found is None:
        raise InvalidGrant("The authorization code is invalid.")
    row, grant = found[0], found[1]
    check_code_client(row, client_id)
    if consumed != 1:
        revoke_grant(session, row.grant_id, reason="code_replay", now=now)
        raise InvalidGrant("The authorization code was already used; "
                           "the tokens issued from it are revoked.", persist=True)
    check_code_fresh(row, now)
    check_code_redirect_uri(row, redirect_uri)
    check_pkce(row, code_verifier)
    if grant.revoked_at is not None:
        raise InvalidGrant("The authorization code is no longer valid.")
    return Redeemed(grant, found[2])


# --- refresh tokens ------------------------------------------------------------------------


def issue_refresh_token(session: Session, grant: Grant, *, parent_hash: str | None,
                        now: dt.datetime) -> str:
    token = new_token()
    session.execute(_INSERT_REFRESH, {
        "token_hash": digest(token), "grant_id": grant.id, "parent_hash": parent_hash,
        "created_at": now, "expires_at": grant.expires_at, "rotated_at": None})
    return token


def rotate_refresh_token(session: Session, *, token: str, client_id: str, now: dt.datetime,
                         grace: dt.timedelta) -> tuple[Redeemed, str]:
    """Exchange a refresh token for its successor; reuse revokes the family.

    A token already rotated less than ``grace`` ago (a client retrying after a
    lost response, or two tabs racing) is honoured once more: its live
    successor is superseded and a new one issued, so the family never has two
    live branches. Later reuse revokes the grant and every token from it.
    """
    token_hash = digest(token)
    rotated = session.execute(_ROTATE_REFRESH, {"hash": token_hash, "moment": now}).rowcount  # type: ignore[attr-defined]
    found = session.execute(_REFRESH_GRANT_PERSON, {"hash": token_hash}).first()
    if found is None:
        raise InvalidGrant("The refresh token is invalid.")
    row, grant = found[0], found[1]
    if not hmac.compare_digest(grant.client_id, client_id):
        raise InvalidGrant("The refresh token was issued to another client.")
    if grant.revoked_at is not None:
        raise InvalidGrant("The refresh token has been revoked.")
    if row.expires_at <= now or grant.expires_at <= now:
        raise InvalidGrant("The refresh token has expired.")
    if rotated != 1:
        _check_retry_within_grace(session, row, grant, now=now, grace=grace)
    successor = issue_refresh_token(session, grant, parent_hash=token_hash, now=now)
    return Redeemed(grant, found[2]), successor


def _check_retry_within_grace(session: Session, row: RefreshToken, grant: Grant, *,
                              now: dt.datetime, grace: dt.timedelta) -> None:
    """Rule: a rotated token is reused; honour it only inside the grace window."""
    assert row.rotated_at is not None
    # A racer may have rotated the token after this request read the clock,
    # so the difference can be negative: that is inside any positive window.
    if grace <= dt.timedelta(0) or now - row.rotated_at >= grace:
        revoke_grant(session, grant.id, reason="refresh_reuse", now=now)
        raise InvalidGrant("The refresh token was already used; its whole family is revoked.",
                           persist=True)
    superseded = session.execute(
        update(RefreshToken)
        .where(RefreshToken.parent_hash == row.token_hash, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if superseded != 1:
        # The successor was used or superseded already: the client has moved on.
        raise InvalidGrant("The refresh token was already used.")


# --- revocation ----------------------------------------------------------------------------


def revoke_grant(session: Session, grant_id: str, *, reason: str, now: dt.datetime) -> bool:
    """Revoke a grant: its refresh tokens and access tokens stop working at once."""
    result = session.execute(
        update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_session_grants(session: Session, sid: str, *, reason: str,
                          now: dt.datetime) -> int:
    """Revoke every grant made in an SSO session (logout); how many were live."""
    result = session.execute(
        update(Grant).where(Grant.session_sid == sid, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def active_grant(session: Session, grant_id: str, *, now: dt.datetime) -> Grant | None:
    grant = session.get(Grant, grant_id)
    if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
        return None
    return grant


def refresh_token_grant(session: Session, token: str, *, now: dt.datetime) -> Grant | None:
    """The live grant of a refresh token that has not been rotated, for introspection."""
    row = session.get(RefreshToken, digest(token))
    if row is None or row.rotated_at is not None or row.expires_at <= now:
        return None
    return active_grant(session, row.grant_id, now=now)


def revoke_access_token(session: Session, jti: str, expires_at: dt.datetime) -> None:
    # Insert-or-nothing: two revocations of one token at once must not collide.
    insert_ignore(session, RevokedToken, [{"jti": jti, "expires_at": expires_at}], key="jti")


def is_token_revoked(session: Session, jti: str) -> bool:
    return session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None
