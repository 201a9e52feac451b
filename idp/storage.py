"""Starting write transactions so that they wait instead of failing on SQLite.

On SQLite in WAL mode a transaction that reads first and writes later fails
at once with "database is locked" when another connection committed a write
in between: its read snapshot cannot become a write transaction, and the
busy timeout does not apply. A transaction whose first statement writes
waits for the lock instead. :func:`begin_write` ends any open (read)
transaction and takes the write lock with a statement that changes nothing.
PostgreSQL needs none of this (row locks and READ COMMITTED), so there it
only ends the read transaction.

Single-use consumption (codes, refresh tokens, TOTP steps, throttle counts)
does not rely on this: those begin with their own conditional write.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["begin_write"]

_TAKE_WRITE_LOCK = text("UPDATE idp_throttle SET failures = failures WHERE 1 = 0")


def begin_write(session: Session) -> None:
    """Commit what is pending, then open a transaction that holds the write lock."""
    session.commit()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(_TAKE_WRITE_LOCK)
