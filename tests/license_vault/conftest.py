"""Fixtures for the license vault: an initialised instance with the demo catalogue.

``world`` is built once per module on its own copy of the template instance
(SQLite file or PostgreSQL database): two departments with real keys and
clients, the three demo license types. Tests that need a pristine store
(fsck, counters, concurrency) use ``fresh_world``, built on the per-test
``settings`` copy instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from flask.testing import FlaskClient

from tests.helpers import instance_copy
from tests.license_vault.helpers import World, build_world
from yiwang.settings import Settings


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
