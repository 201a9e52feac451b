"""Single sign-on sessions and pending interactions, both kept in the database.

The browser holds only random cookie values; rows are found by their SHA-256
digest, so a database leak yields no usable cookie. Any app node can serve
any step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.grants import digest, new_token
from idp.models import (
    AuthorizationCode,
    Grant,
    Interaction,
    Person,
    RefreshToken,
    RevokedToken,
    SsoSession,
    UsedAssertion,
)

__all__ = [
    "INTERACTION_TTL",
    "authenticate_session",
    "end_session",
    "find_interaction",
    "find_session",
    "purge_expired",
    "start_interaction",
]

INTERACTION_TTL = dt.timedelta(minutes=15)


def authenticate_session(session: Session, *, current: SsoSession | None, person: Person,
                         amr: list[str], now: dt.datetime,
                         ttl: dt.timedelta) -> tuple[SsoSession, str | None]:
    """Record a fresh authentication; returns the session and a new cookie value if any.

    The same person re-authenticating (``prompt=login``, ``max_age``) keeps
    the session and its ``sid`` with a new ``auth_time``; the cookie value is
    replaced all the same (no session fixation). Another person ends the old
    session and starts a new one.
    """
    cookie = new_token()
    if current is not None and current.person_id == person.id and current.ended_at is None:
        current.cookie_hash = digest(cookie)
        current.auth_time = now
        current.amr = amr
        current.acr = person.level
        current.expires_at = now + ttl
        session.flush()
        return current, cookie
    if current is not None:
        end_session(session, current, now=now)
    sso = SsoSession(sid=new_token(), cookie_hash=digest(cookie), person_id=person.id,
                     auth_time=now, amr=amr, acr=person.level, created_at=now,
                     expires_at=now + ttl)
    session.add(sso)
    session.flush()
    return sso, cookie


def find_session(session: Session, cookie: str | None, *, now: dt.datetime) -> SsoSession | None:
    """The live session this cookie belongs to, or None."""
    if not cookie or len(cookie) > 100:
        return None
    sso = session.scalar(select(SsoSession).where(SsoSession.cookie_hash == digest(cookie)))
    if sso is None or sso.ended_at is not None or sso.expires_at <= now:
        return None
    return sso


def end_session(session: Session, sso: SsoSession, *, now: dt.datetime) -> None:
    """Mark the session ended: its cookie finds nothing from now on."""
    session.execute(update(SsoSession).where(SsoSession.sid == sso.sid,
                                             SsoSession.ended_at.is_(None))
                    .values(ended_at=now).execution_options(synchronize_session=False))
    sso.ended_at = now


def start_interaction(session: Session, *, client_id: str, request: dict[str, Any],
                      now: dt.datetime) -> tuple[Interaction, str]:
    """A pending authorization request; returns it and the browser-binding cookie value."""
    browser_secret = new_token()
    interaction = Interaction(uid=new_token(), browser_hash=digest(browser_secret),
                              client_id=client_id, request=request, consented=False,
                              created_at=now, expires_at=now + INTERACTION_TTL)
    session.add(interaction)
    session.flush()
    return interaction, browser_secret


def find_interaction(session: Session, uid: str, browser_secret: str | None, *,
                     now: dt.datetime) -> Interaction | None:
    """The interaction, if it is live and was started by this browser."""
    if not browser_secret or len(uid) > 64:
        return None
    interaction = session.get(Interaction, uid)
    if interaction is None or interaction.expires_at <= now:
        return None
    if interaction.browser_hash != digest(browser_secret):
        return None
    return interaction


def purge_expired(session: Session, *, now: dt.datetime,
                  keep: dt.timedelta = dt.timedelta(days=1)) -> None:
    """Delete what can no longer be used (run from a periodic job on one node).

    Records are kept ``keep`` past their expiry so late replays are still
    recognised as replays for a while.
    """
    horizon = now - keep
    session.execute(delete(Interaction).where(Interaction.expires_at <= now))
    session.execute(delete(SsoSession).where(SsoSession.expires_at <= horizon))
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= horizon))
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at <= now))
    expired = select(Grant.id).where(Grant.expires_at <= horizon).scalar_subquery()
    session.execute(delete(RefreshToken).where(RefreshToken.grant_id.in_(expired)))
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.grant_id.in_(expired)))
    session.execute(delete(Grant).where(Grant.expires_at <= horizon))
