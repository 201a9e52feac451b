"""The one declarative base, engine creation and the per-request session.

Domain packages import :class:`Base` for their models and
:func:`current_session` in their views; services take a ``Session`` argument
so they never depend on Flask.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no timezone type, so values are stored naive in UTC and given
    their ``tzinfo`` back on load; naive input is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (what every datetime column holds)."""
    return dt.datetime.now(dt.UTC)


def make_engine(url: str) -> Engine:
    """An engine with the connection settings each backend needs.

    Statement parameters are kept out of error messages (``hide_parameters``):
    they may be personal data, and those messages reach the logs.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         hide_parameters=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_IMMEDIATE = "yiwang_write_transaction"


def _sqlite_begin(connection: Any) -> None:
    # pysqlite would defer BEGIN until the first write; we emit it ourselves so
    # reads and writes share one transaction, IMMEDIATE when asked for (see begin_write).
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session) -> None:
    """Commit what is pending and open a transaction that holds the write lock.

    On SQLite in WAL mode a transaction that reads first and writes later fails
    at once with "database is locked" when another connection committed in
    between (its snapshot cannot become a write; the busy timeout does not
    apply). A transaction begun IMMEDIATE waits for the lock instead. Call this
    where a unit of work turns from reading to writing; keep slow work (password
    hashing, signing) before it. PostgreSQL needs nothing: the commit only ends
    the read.
    """
    session.commit()
    session.connection(execution_options={_IMMEDIATE: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def current_session() -> Session:
    """The request's session (opened lazily, closed at teardown)."""
    from flask import current_app, g

    session: Session | None = g.get("_yiwang_db_session")
    if session is None:
        session = current_app.extensions["yiwang"].session_factory()
        g._yiwang_db_session = session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    from flask import g

    session: Session | None = g.pop("_yiwang_db_session", None)
    if session is not None:
        session.close()


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
