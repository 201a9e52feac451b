"""Two statements both supported backends (SQLite ≥ 3.35, PostgreSQL) run atomically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from license_vault.models import NumberCounter

__all__ = ["insert_ignore", "next_in_sequence"]


def insert_ignore(session: Session, model: type[Any], rows: Sequence[dict[str, Any]], *,
                  key: str) -> None:
    """INSERT the rows, skipping those whose ``key`` exists (``ON CONFLICT DO NOTHING``).

    A write without a read first: on SQLite a transaction that starts with a
    read and then writes fails if another connection committed in between.
    """
    if not rows:
        return
    connection = session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(insert(model).on_conflict_do_nothing(index_elements=[key]),
                       list(rows))


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
