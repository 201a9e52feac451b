"""Fixtures for the key store tests: real SQLite databases, a real PKI.

``pki`` is built once per session (an initialised store with one department)
and tests that only read from it, or roll back (``pki_session``), share it.
``store`` is a fresh initialised store per test, for tests that commit or
tamper with rows. The plain helpers (``make_nss_db``, ``run``) are imported by
the tests as ``tests.keys.conftest``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from keys import DepartmentKeys, IssuedCertificate, KeyRecord, KeyStore, KeyStoreMeta
from yiwang.database import Base, make_engine, make_session_factory

PKI_BASE_URL = "https://yiwang.example/pki"
DEPARTMENT_USCC = "11100000000013127D"
DEPARTMENT_NAME = "北京市市场监督管理局"
OTHER_USCC = "12100000MA0000002Q"
OTHER_NAME = "上海市公安局"


@dataclasses.dataclass
class Store:
    """An initialised key store over its own SQLite file."""

    directory: Path
    database: Path
    engine: Engine
    sessions: sessionmaker[Session]
    master_key: bytes
    keystore: KeyStore
    now: dt.datetime
    department: DepartmentKeys


def make_store(
    directory: Path,
    *,
    now: dt.datetime,
    wrap_algorithm: str = "aes-256-gcm",
    master_key: bytes | None = None,
) -> Store:
    """Create the tables, initialise the key store and one department; commit."""
    database = directory / "yiwang.db"
    engine = make_engine(f"sqlite:///{database}")
    create_key_tables(engine)
    sessions = make_session_factory(engine)
    master_key = master_key or secrets.token_bytes(32)
    keystore = KeyStore(master_key, wrap_algorithm=wrap_algorithm, pki_base_url=PKI_BASE_URL)
    with sessions.begin() as session:
        keystore.initialise(session, now=now)
        department = keystore.create_department_keys(
            session, uscc=DEPARTMENT_USCC, name=DEPARTMENT_NAME, now=now
        )
    return Store(directory, database, engine, sessions, master_key, keystore, now, department)


def create_key_tables(engine: Engine) -> None:
    # Only our tables: other packages' models share Base when the whole suite runs.
    tables = [Base.metadata.tables[model.__tablename__]
              for model in (KeyRecord, IssuedCertificate, KeyStoreMeta)]
    Base.metadata.create_all(engine, tables=tables)


def clock() -> dt.datetime:
    # Certificates are checked by pdfsig and openssl against the real clock,
    # so the fixed "now" of a run is taken from it once, to the second.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = make_store(tmp_path_factory.mktemp("pki"), now=clock())
    yield store
    store.engine.dispose()


@pytest.fixture
def pki_session(pki: Store) -> Iterator[Session]:
    """A session on the shared PKI whose changes are rolled back."""
    with pki.sessions() as session:
        yield session
        session.rollback()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = make_store(tmp_path, now=clock())
    yield store
    store.engine.dispose()


def run(*command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=check, timeout=60
    )


def require_tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")


def write_pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def make_nss_db(directory: Path, root_pem: Path) -> str:
    """An NSS database trusting ``root_pem`` as a CA; returns its ``sql:`` spec for pdfsig."""
    require_tool("certutil")
    directory.mkdir(parents=True, exist_ok=True)
    spec = f"sql:{directory}"
    run("certutil", "-N", "--empty-password", "-d", spec)
    run("certutil", "-A", "-n", "root", "-t", "CT,C,C", "-i", root_pem, "-d", spec)
    return spec
