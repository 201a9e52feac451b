"""Test helpers shared by every test package (fixtures are in conftest.py)."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from yiwang.settings import Settings

ISSUER = "https://yiwang.test"
POSTGRES_URL = os.environ.get("YIWANG_TEST_DATABASE_URL")


def admin_connection() -> psycopg.Connection:
    url = make_url(POSTGRES_URL).set(drivername="postgresql", database="postgres")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def copy_database(template: str, copy: str) -> None:
    with admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')


def drop_database(name: str) -> None:
    with admin_connection() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(instance: Path, database_url: str | None = None, **overrides: object) -> Settings:
    return Settings.from_env(
        {}, instance=instance,
        database_url=database_url or f"sqlite:///{instance / 'yiwang.db'}",
        master_key_file=instance / "master.key",
        issuer=overrides.pop("issuer", ISSUER),
        **overrides,
    )


def with_settings(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, **changes)


def issuer_client(app: Flask, issuer: str = ISSUER) -> FlaskClient:
    """A test client whose requests arrive as if at the issuer's public URL."""
    client = app.test_client()
    scheme, _, host = issuer.partition("://")
    client.environ_base.update({"wsgi.url_scheme": scheme, "HTTP_HOST": host})
    return client


def empty_database_url(folder: Path, name: str) -> str:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if POSTGRES_URL is None:
        return f"sqlite:///{folder / 'yiwang.db'}"
    url = make_url(POSTGRES_URL)
    database = f"{url.database}_{name}"
    drop_database(database)
    with admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return url.set(database=database).render_as_string(hide_password=False)


_copies = itertools.count()


@contextmanager
def instance_copy(template: Settings, folder: Path, **overrides: Any) -> Iterator[Settings]:
    """A private copy of the initialised template instance.

    A file copy on SQLite; on PostgreSQL a database created from the template's
    (PostgreSQL copies the files, which is much faster than migrating again).
    """
    shutil.copytree(template.instance, folder)
    if POSTGRES_URL is None:
        yield make_settings(folder, **overrides)
        return
    url = make_url(template.database_url)
    assert url.database is not None
    copy = f"{url.database}_c{os.getpid()}_{next(_copies)}"
    copy_database(url.database, copy)
    try:
        yield make_settings(folder, url.set(database=copy).render_as_string(False), **overrides)
    finally:
        drop_database(copy)
