"""Shared fixtures: one initialised instance per session, copied per test.

Initialising (migrations, CA, TSA and token keys) takes a second or two, so it
runs once; each test gets its own copy: a file copy on SQLite, a database
created from a template on PostgreSQL (``YIWANG_TEST_DATABASE_URL`` names the
run's database, used as the template).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.helpers import (
    POSTGRES_URL,
    drop_database,
    empty_database_url,
    instance_copy,
    issuer_client,
    make_settings,
)
from yiwang.app import create_app
from yiwang.instance import initialise
from yiwang.runtime import Runtime
from yiwang.settings import Settings

_copies = itertools.count()


@pytest.fixture(scope="session")
def template_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """An initialised instance nobody uses directly: the source of every copy."""
    folder = tmp_path_factory.mktemp("template")
    database_url = None
    if POSTGRES_URL is not None:
        # A template of our own, so a run never meets what an earlier one left.
        database_url = empty_database_url(folder, f"tpl{os.getpid()}")
    settings = make_settings(folder, database_url)
    runtime = Runtime(settings)
    initialise(runtime)
    runtime.dispose()
    yield settings
    if database_url is not None:
        drop_database(make_url(database_url).database)


@pytest.fixture
def settings(template_instance: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A fresh copy of the initialised instance for one test."""
    with instance_copy(template_instance, tmp_path / "instance") as copy:
        yield copy


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings)
    yield runtime
    runtime.dispose()


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.session() as session:
        yield session


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    app.extensions["yiwang"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return issuer_client(app)
