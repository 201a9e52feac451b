"""The printed-number counter: atomic statements on both backends (SQLite ≥ 3.35, PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import exists, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from license_vault.models import License, NumberCounter

__all__ = ["give_back", "next_in_sequence"]


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


def give_back(session: Session, stem: str, value: int, number: str) -> bool:
    """Undo :func:`next_in_sequence`'s ``value`` of ``stem``; True if it was (not committed).

    One conditional ``UPDATE``, so it is atomic like the increment: only while
    ``value`` is still the last handed out (once a later number is taken the
    gap stays, as in a paper register) and no license carries ``number`` (a
    commit whose answer was lost may have stored it after all).
    """
    undo = (update(NumberCounter)
            .where(NumberCounter.stem == stem, NumberCounter.last_value == value,
                   ~exists().where(License.license_number == number))
            .values(last_value=value - 1))
    return bool(session.connection().execute(undo).rowcount)
