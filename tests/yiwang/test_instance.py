"""``yiwang init``: migrations from empty, idempotence, master-key safety."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from keys import KeyRecord, MasterKeyMissingError, WrongMasterKeyError, create_master_key
from tests.helpers import POSTGRES_URL, drop_database, empty_database_url, make_settings
from yiwang import migrate
from yiwang.cli import cli
from yiwang.database import utcnow
from yiwang.instance import initialise
from yiwang.models import metadata
from yiwang.runtime import Runtime
from yiwang.settings import Settings


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Settings]:
    folder = tmp_path / "instance"
    url = empty_database_url(tmp_path, f"empty{os.getpid()}")
    yield make_settings(folder, url)
    if POSTGRES_URL is not None:
        drop_database(make_url(url).database)


def row_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.session() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) or 0
                for table in metadata.sorted_tables}


def test_migrations_create_every_table_from_empty(empty: Settings) -> None:
    runtime = Runtime(empty)
    migrate.upgrade(runtime.engine)
    assert migrate.current_revision(runtime.engine) == migrate.head_revision()
    with runtime.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    runtime.dispose()


def test_init_twice_changes_nothing(empty: Settings) -> None:
    runtime = Runtime(empty)
    first = initialise(runtime)
    counts = row_counts(runtime)
    key_file = empty.master_key_file.read_bytes()
    second = initialise(runtime)
    assert first.created_master_key and not second.created_master_key
    assert row_counts(runtime) == counts
    assert empty.master_key_file.read_bytes() == key_file
    assert oct(empty.master_key_file.stat().st_mode & 0o777) == "0o600"
    runtime.dispose()


def test_wrong_master_key_is_refused_and_creates_nothing(empty: Settings) -> None:
    runtime = Runtime(empty)
    initialise(runtime)
    counts = row_counts(runtime)
    runtime.dispose()
    empty.master_key_file.unlink()
    create_master_key(empty.master_key_file)
    impostor = Runtime(empty)
    with pytest.raises(WrongMasterKeyError):
        initialise(impostor)
    assert row_counts(impostor) == counts
    impostor.dispose()


def test_missing_master_key_is_never_replaced_over_existing_keys(empty: Settings) -> None:
    runtime = Runtime(empty)
    initialise(runtime)
    runtime.dispose()
    empty.master_key_file.unlink()
    again = Runtime(empty)
    with pytest.raises(MasterKeyMissingError):
        initialise(again)
    assert not empty.master_key_file.exists()
    again.dispose()


def _private_key_encodings(runtime: Runtime) -> list[bytes]:
    encodings = []
    with runtime.session() as session:
        for kid in session.scalars(select(KeyRecord.kid)):
            key = runtime.keystore.key(session, kid)
            private = key.private_key
            if isinstance(private, bytes):  # SM2 keys are raw scalars
                encodings.append(private)
                continue
            encodings.append(private.private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                   NoEncryption()))
            numbers = private.private_numbers()
            scalar = getattr(numbers, "private_value", None) or getattr(numbers, "d", None)
            encodings.append(scalar.to_bytes((scalar.bit_length() + 7) // 8, "big"))
    return encodings


def test_no_private_key_rests_in_plaintext(settings: Settings) -> None:
    runtime = Runtime(settings)
    with runtime.session() as session:
        runtime.keystore.create_department_keys(
            session, uscc="11110105MB0123457J", name="测试市市场监督管理局",
            now=utcnow())
    secrets = _private_key_encodings(runtime)
    assert len(secrets) >= 10
    runtime.dispose()
    stored = [path.read_bytes() for path in settings.instance.rglob("*") if path.is_file()
              and path != settings.master_key_file]
    if POSTGRES_URL is not None:
        stored.append(_postgres_dump(settings))
    for blob in stored:
        assert b"PRIVATE KEY" not in blob
        for secret in secrets:
            assert secret not in blob


def _postgres_dump(settings: Settings) -> bytes:
    runtime = Runtime(settings)
    dump = []
    with runtime.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for value in row:
                    dump.append(value if isinstance(value, bytes) else str(value).encode())
    runtime.dispose()
    return b"\x00".join(dump)


def test_cli_init_is_idempotent_and_reports_json(empty: Settings) -> None:
    env = {"YIWANG_INSTANCE": str(empty.instance), "YIWANG_DATABASE_URL": empty.database_url}
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--json"], env=env)
    assert first.exit_code == 0, first.output
    assert '"created_master_key": true' in first.output
    second = runner.invoke(cli, ["init", "--json"], env=env)
    assert second.exit_code == 0, second.output
    assert '"created_master_key": false' in second.output


def test_cli_names_a_malformed_setting(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init"], env={"YIWANG_ISSUER": "nonsense"})
    assert result.exit_code != 0
    assert "YIWANG_ISSUER" in str(result.exception) + result.output
