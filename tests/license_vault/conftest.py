"""Fixtures for the license vault: an initialised instance with the demo catalogue.

``world`` is built once per module on its own copy of the template instance
(SQLite file or PostgreSQL database): two departments with real keys and
clients, the three demo license types. Tests that need a pristine store
(fsck, counters, concurrency) use ``fresh_world``, built on the per-test
``settings`` copy instead.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from tests.helpers import POSTGRES_URL, copy_database, drop_database, make_settings
from tests.license_vault.helpers import World, build_world
from yiwang.settings import Settings

_copies = itertools.count()


@contextmanager
def instance_copy(template: Settings, folder: Path) -> Iterator[Settings]:
    """A private copy of the initialised template instance (as tests/conftest.py makes)."""
    shutil.copytree(template.instance, folder)
    if POSTGRES_URL is None:
        yield make_settings(folder)
        return
    url = make_url(template.database_url)
    assert url.database is not None
    copy = f"{url.database}_lv{os.getpid()}_{next(_copies)}"
    copy_database(url.database, copy)
    try:
        yield make_settings(folder, url.set(database=copy).render_as_string(False))
    finally:
        drop_database(copy)


@pytest.fixture(scope="module")
def world(template_instance: Settings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("vault") / "instance"
    with instance_copy(template_instance, folder) as settings:
        built = build_world(settings)
        try:
            yield built
        finally:
            built.close()


@pytest.fixture
def fresh_world(settings: Settings) -> Iterator[World]:
    built = build_world(settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def api(world: World) -> FlaskClient:
    return world.client()


@pytest.fixture(scope="module")
def nss_db(world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An NSS database trusting only this instance's root, for pdfsig."""
    from tests.keys.conftest import make_nss_db

    folder = tmp_path_factory.mktemp("nss")
    with world.runtime.session() as session:
        root = world.runtime.keystore.root_certificate(session)
    root_pem = folder / "root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return make_nss_db(folder / "db", root_pem)
