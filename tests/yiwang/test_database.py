"""The database layer: UTC datetimes and write transactions on SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, update
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from yiwang.database import UTCDateTime, begin_write, make_engine, make_session_factory

Factory = sessionmaker[Session]
metadata = MetaData()
counter = Table("counter", metadata, Column("id", Integer, primary_key=True),
                Column("value", Integer), Column("at", UTCDateTime))


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Factory]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(counter).values(id=1, value=0,
                                                  at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    factory = make_session_factory(engine)
    yield factory
    engine.dispose()


def test_read_then_write_after_another_commit_fails_without_begin_write(sessions: Factory) -> None:
    reader, writer = sessions(), sessions()
    reader.scalar(select(counter.c.value))
    writer.execute(update(counter).values(value=1))
    writer.commit()
    with pytest.raises(OperationalError, match="locked"):
        reader.execute(update(counter).values(value=counter.c.value + 1))
    reader.rollback()


def test_begin_write_waits_for_the_lock_instead_of_failing(sessions: Factory) -> None:
    reader, writer = sessions(), sessions()
    reader.scalar(select(counter.c.value))
    writer.execute(update(counter).values(value=1))
    writer.commit()
    begin_write(reader)
    reader.execute(update(counter).values(value=counter.c.value + 1))
    reader.commit()
    assert writer.scalar(select(counter.c.value)) == 2


def test_datetimes_come_back_aware_in_utc(sessions: Factory) -> None:
    session = sessions()
    beijing = dt.timezone(dt.timedelta(hours=8))
    session.execute(update(counter).values(at=dt.datetime(2026, 11, 27, 8, 0, tzinfo=beijing)))
    assert session.scalar(select(counter.c.at)) == dt.datetime(2026, 11, 27, 0, 0, tzinfo=dt.UTC)


def test_naive_datetimes_are_refused(sessions: Factory) -> None:
    session = sessions()
    with pytest.raises(StatementError, match="naive"):
        session.execute(update(counter).values(at=dt.datetime(2026, 11, 27)))
