"""The printed-number counter: one atomic statement on both backends (SQLite ≥ 3.35, PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from license_vault.models import NumberCounter

__all__ = ["next_in_sequence"]


def next_in_sequence(session: Session, stem: str) -> int:
    """Increment the counter of ``stem`` and return its new value (1 for a new stem).

    One ``UPDATE ... RETURNING``: the database serialises concurrent callers
    on the row, so no two get the same value. A missing row is inserted;
    when two callers insert at once, the loser's savepoint rolls back and it
    increments the winner's row.
    """
    increment = (update(NumberCounter).where(NumberCounter.stem == stem)
                 .values(last_value=NumberCounter.last_value + 1)
                 .returning(NumberCounter.last_value))
    value = session.connection().execute(increment).scalar_one_or_none()
    if value is not None:
        return int(value)
    try:
        with session.begin_nested():
            session.add(NumberCounter(stem=stem, last_value=1))
        return 1
    except IntegrityError:
        return int(session.connection().execute(increment).scalar_one())
