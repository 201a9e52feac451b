"""Store once, encrypted: the blob store backends, all-or-nothing issuance and ``vault fsck``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from license_vault import issuance, lifecycle
from license_vault.blobs import (
    BLOB_KEY_LABEL,
    BlobEntry,
    BlobStore,
    DatabaseBlobStore,
    FilesystemBlobStore,
    open_blob_store,
)
from license_vault.errors import BlobStoreError
from license_vault.fsck import fsck
from license_vault.models import License, LicenseEvent, StoredBlob
from tests.helpers import with_settings
from tests.license_vault.helpers import (
    BUSINESS,
    FOOD,
    PHYSICIAN,
    World,
    access_token,
    bearer,
    build_world,
    entity_id,
    person_id,
)
from yiwang.cli import cli
from yiwang.database import utcnow
from yiwang.settings import Settings

PDF = b"%PDF-1.7\n% not really a license, just bytes to store\n%%EOF\n"
LATER = dt.timedelta(hours=1)


@pytest.fixture(params=["filesystem", "database"])
def backend_world(request: pytest.FixtureRequest, settings: Settings) -> Iterator[World]:
    built = build_world(with_settings(settings, blob_backend=request.param))
    try:
        yield built
    finally:
        built.close()


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def _stored(world: World) -> dict[str, bytes]:
    """What is at rest, by blob name: file contents or ``vault_blobs.data``."""
    blobs = world.vault.blobs
    if isinstance(blobs, FilesystemBlobStore):
        return {path.name: path.read_bytes() for path in _files(blobs.root)}
    with world.session() as session:
        return {sha256: bytes(data) for sha256, data in session.execute(
            select(StoredBlob.sha256, StoredBlob.data))}


def _replace_stored(world: World, sha256: str, data: bytes) -> None:
    blobs = world.vault.blobs
    if isinstance(blobs, FilesystemBlobStore):
        blobs.path(sha256).write_bytes(data)
    else:
        with world.session() as session:
            session.execute(update(StoredBlob).where(StoredBlob.sha256 == sha256)
                            .values(data=data))
            session.commit()


def test_same_bytes_are_stored_once(backend_world: World) -> None:
    blobs = backend_world.vault.blobs
    with backend_world.session() as session:
        first = blobs.put(session, PDF, now=utcnow())
        second = blobs.put(session, PDF, now=utcnow())
        assert first == second
        assert first.sha256 == hashlib.sha256(PDF).hexdigest() and first.size == len(PDF)
        assert [entry.sha256 for entry in blobs.entries(session)] == [first.sha256]
        assert blobs.get(session, first.sha256) == PDF
    if isinstance(blobs, FilesystemBlobStore):
        assert _files(blobs.root) == [blobs.root / first.sha256[:2] / first.sha256[2:4]
                                      / first.sha256]
    else:
        with backend_world.session() as session:
            assert session.scalar(select(func.count()).select_from(StoredBlob)) == 1


def test_equal_bytes_written_at_once_by_several_threads_end_up_as_one_blob(
        fresh_world: World) -> None:
    blobs = fresh_world.vault.blobs
    assert isinstance(blobs, FilesystemBlobStore)
    barrier = threading.Barrier(8)

    def put() -> None:
        barrier.wait()
        with fresh_world.session() as session:
            blobs.put(session, PDF, now=utcnow())

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_files(blobs.root)) == 1


def test_damaged_blob_is_refused_on_read_and_reported_by_fsck(backend_world: World) -> None:
    license = backend_world.issue(BUSINESS, entity_id(1))
    blobs = backend_world.vault.blobs
    sealed = _stored(backend_world)[license.pdf_sha256]
    middle = len(sealed) // 2
    _replace_stored(backend_world, license.pdf_sha256,
                    sealed[:middle] + bytes([sealed[middle] ^ 1]) + sealed[middle + 1:])
    with backend_world.session() as session:
        with pytest.raises(BlobStoreError, match="damaged"):
            blobs.get(session, license.pdf_sha256)
        report = fsck(session, blobs, now=utcnow() + LATER)
    assert report.damaged == [(license.identifier, license.pdf_sha256)]
    assert not report.consistent and not report.orphans_deleted


def test_storing_bytes_again_repairs_a_damaged_file(fresh_world: World) -> None:
    blobs = fresh_world.vault.blobs
    assert isinstance(blobs, FilesystemBlobStore)
    with fresh_world.session() as session:
        info = blobs.put(session, PDF, now=utcnow())
    path = blobs.path(info.sha256)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with fresh_world.session() as session:
        with pytest.raises(BlobStoreError, match="damaged"):
            blobs.get(session, info.sha256)
        blobs.put(session, PDF, now=utcnow())
        assert blobs.get(session, info.sha256) == PDF


def test_no_plaintext_pdf_or_id_number_is_at_rest(backend_world: World) -> None:
    holder = person_id(7)
    license = backend_world.issue(PHYSICIAN, holder)  # the 医师执业证书 face prints the ID
    with backend_world.session() as session:
        pdf = backend_world.vault.blobs.get(session, license.pdf_sha256)
    assert pdf.startswith(b"%PDF")
    stored = _stored(backend_world)
    assert list(stored) == [license.pdf_sha256]
    at_rest = stored[license.pdf_sha256]
    assert len(at_rest) == len(pdf) + 1 + 12 + 16  # version, nonce, GCM tag
    for plaintext in (b"%PDF", holder.encode(), holder.encode("utf-16-be"),
                      *(pdf[start:start + 32] for start in range(0, len(pdf) - 32, 997))):
        assert plaintext not in at_rest


def test_a_ciphertext_moved_to_another_blob_name_does_not_open(backend_world: World) -> None:
    first = backend_world.issue(BUSINESS, entity_id(5))
    second = backend_world.issue(BUSINESS, entity_id(6))
    stored = _stored(backend_world)
    _replace_stored(backend_world, first.pdf_sha256, stored[second.pdf_sha256])
    _replace_stored(backend_world, second.pdf_sha256, stored[first.pdf_sha256])
    blobs = backend_world.vault.blobs
    with backend_world.session() as session:
        for license in (first, second):
            with pytest.raises(BlobStoreError, match=r"damaged.*moved"):
                blobs.get(session, license.pdf_sha256)
        report = fsck(session, blobs, now=utcnow() + LATER)
    assert sorted(report.damaged) == sorted([(first.identifier, first.pdf_sha256),
                                             (second.identifier, second.pdf_sha256)])


def test_fsck_checks_the_digest_of_what_decrypts(backend_world: World) -> None:
    # A ciphertext that opens under its name (only the key's holder can make one)
    # but holds other bytes is still damaged.
    license = backend_world.issue(BUSINESS, entity_id(8))
    blobs = backend_world.vault.blobs
    assert isinstance(blobs, FilesystemBlobStore | DatabaseBlobStore)
    _replace_stored(backend_world, license.pdf_sha256, blobs.cipher.seal(license.pdf_sha256, PDF))
    with backend_world.session() as session:
        with pytest.raises(BlobStoreError, match="another digest"):
            blobs.get(session, license.pdf_sha256)
        report = fsck(session, blobs, now=utcnow() + LATER)
    assert report.damaged == [(license.identifier, license.pdf_sha256)]


def test_blobs_written_under_another_master_key_do_not_open(backend_world: World) -> None:
    class OtherKeys:
        def derive_secret(self, label: str) -> bytes:
            return hashlib.sha256(b"another instance " + label.encode()).digest()

    settings = backend_world.settings
    foreign = open_blob_store(settings.blob_backend, settings.blob_dir, OtherKeys())
    with backend_world.session() as session:
        info = foreign.put(session, PDF, now=utcnow())
        assert foreign.get(session, info.sha256) == PDF
        with pytest.raises(BlobStoreError, match="damaged"):
            backend_world.vault.blobs.get(session, info.sha256)


def test_the_blob_key_is_derived_once_per_store(settings: Settings) -> None:
    class CountingKeys:
        def __init__(self) -> None:
            self.labels: list[str] = []

        def derive_secret(self, label: str) -> bytes:
            self.labels.append(label)
            return bytes(32)

    keys = CountingKeys()
    store: BlobStore = open_blob_store("filesystem", settings.blob_dir, keys)
    for _ in range(3):
        info = store.put(None, PDF, now=utcnow())  # type: ignore[arg-type]
        assert store.get(None, info.sha256) == PDF  # type: ignore[arg-type]
    assert keys.labels == [BLOB_KEY_LABEL]


def test_fsck_reports_a_license_whose_blob_is_missing(backend_world: World) -> None:
    license = backend_world.issue(BUSINESS, entity_id(2))
    blobs = backend_world.vault.blobs
    with backend_world.session() as session:
        blobs.delete(session, BlobEntry(license.pdf_sha256, utcnow()))
    with backend_world.session() as session:
        report = fsck(session, blobs, now=utcnow())
    assert report.missing == [(license.identifier, license.pdf_sha256)]
    assert not report.consistent


def _crash_before_commit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make issuance fail after the blob is written and the rows inserted, before commit."""
    written: list[str] = []
    real_record = issuance.record

    def record_then_crash(*args: Any, **kwargs: Any) -> License:
        license = real_record(*args, **kwargs)
        written.append(license.pdf_sha256)
        raise RuntimeError("power cut between blob write and commit")

    monkeypatch.setattr(issuance, "record", record_then_crash)
    return written


def test_failure_between_blob_write_and_commit_stores_nothing(
        backend_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    written = _crash_before_commit(monkeypatch)
    with pytest.raises(RuntimeError, match="power cut"):
        backend_world.issue(BUSINESS, entity_id(3))
    monkeypatch.undo()

    assert backend_world.license_count() == 0 and len(written) == 1
    blobs = backend_world.vault.blobs
    with backend_world.session() as session:
        assert session.scalar(select(func.count()).select_from(LicenseEvent)) == 0
        assert list(blobs.entries(session)) == []  # the blob was taken back at once
        report = fsck(session, blobs, now=utcnow() + LATER, repair=False)
    assert report.consistent and not report.orphans_deleted and not report.orphans_kept

    issued = backend_world.issue(BUSINESS, entity_id(3))  # the next issuance is unaffected
    assert issued.license_number.endswith("000001")  # and the number was given back
    with backend_world.session() as session:
        assert blobs.get(session, issued.pdf_sha256)
        assert fsck(session, blobs, now=utcnow() + LATER).consistent


def test_crash_between_blob_write_and_commit_leaves_a_blob_fsck_deletes_later(
        backend_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    written = _crash_before_commit(monkeypatch)
    # A crash, unlike an exception, leaves no chance to take the blob back.
    monkeypatch.setattr(issuance, "discard_blob", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError, match="power cut"):
        backend_world.issue(BUSINESS, entity_id(4))
    monkeypatch.undo()

    blobs = backend_world.vault.blobs
    with backend_world.session() as session:
        stray = [entry.sha256 for entry in blobs.entries(session)]
        right_away = fsck(session, blobs, now=utcnow())
    if isinstance(blobs, FilesystemBlobStore):
        # The blob was durable before the commit failed: an orphan fsck can see ...
        assert stray == written
        assert right_away.orphans_kept == written and not right_away.orphans_deleted
        with backend_world.session() as session:
            later = fsck(session, blobs, now=utcnow() + LATER)
        assert later.orphans_deleted == written and later.consistent
        assert _files(blobs.root) == []
    else:  # ... while the database backend's blob rolled back with the rows.
        assert stray == []
    assert right_away.consistent


def test_renewal_that_loses_a_race_answers_409_and_leaves_no_blob(
        backend_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    license = backend_world.issue(FOOD, entity_id(5))
    real_produce = issuance.produce

    def produce_while_another_request_suspends(*args: Any, **kwargs: Any) -> Any:
        produced = real_produce(*args, **kwargs)
        with backend_world.session() as other:
            current = other.get(License, license.id)
            assert current is not None
            lifecycle.set_status(other, current, "02", reason="抽检不合格", actor="operator",
                                 now=utcnow())
        return produced

    monkeypatch.setattr(issuance, "produce", produce_while_another_request_suspends)
    api = backend_world.client()
    token = access_token(api, backend_world.samr)
    response = api.post(f"/api/v1/licenses/{license.identifier}/versions",
                        json={"reason": "换发新证"}, headers=bearer(token))
    monkeypatch.undo()

    assert response.status_code == 409 and response.json["error"] == "conflict"
    assert backend_world.license_count() == 1
    with backend_world.session() as session:
        assert [entry.sha256 for entry in backend_world.vault.blobs.entries(session)] == [
            license.pdf_sha256]
        assert session.scalar(select(License.status).where(License.id == license.id)) == "02"


def test_fsck_deletes_old_unfinished_writes_and_keeps_recent_ones(fresh_world: World) -> None:
    blobs = fresh_world.vault.blobs
    assert isinstance(blobs, FilesystemBlobStore)
    digest = hashlib.sha256(b"x").hexdigest()
    folder = blobs.root / digest[:2] / digest[2:4]
    folder.mkdir(parents=True)
    old = folder / f".{digest}.aaaaaaaaaaaa.tmp"
    young = folder / f".{digest}.bbbbbbbbbbbb.tmp"
    old.write_bytes(b"half a PDF")
    young.write_bytes(b"half a PDF")
    hour_ago = (utcnow() - LATER).timestamp()
    os.utime(old, (hour_ago, hour_ago))
    with fresh_world.session() as session:
        report = fsck(session, blobs, now=utcnow())
    assert report.temporary_deleted == [digest]
    assert not old.exists() and young.exists()  # the young one may be a write in flight
    assert report.consistent


def test_rewriting_an_old_orphan_refreshes_it_so_fsck_leaves_it_alone(fresh_world: World
                                                                      ) -> None:
    blobs = fresh_world.vault.blobs
    assert isinstance(blobs, FilesystemBlobStore)
    with fresh_world.session() as session:
        info = blobs.put(session, PDF, now=utcnow())
    hour_ago = (utcnow() - LATER).timestamp()
    os.utime(blobs.path(info.sha256), (hour_ago, hour_ago))
    with fresh_world.session() as session:
        blobs.put(session, PDF, now=utcnow())  # an issuance in flight wrote the same bytes
        report = fsck(session, blobs, now=utcnow())
    assert report.orphans_kept == [info.sha256] and blobs.path(info.sha256).exists()


def test_vault_fsck_command_cleans_strays_and_fails_on_missing_blobs(fresh_world: World) -> None:
    settings = fresh_world.settings
    env = {"YIWANG_INSTANCE": str(settings.instance), "YIWANG_DATABASE_URL": settings.database_url,
           "YIWANG_MASTER_KEY_FILE": str(settings.master_key_file),
           "YIWANG_ISSUER": settings.issuer}
    blobs = fresh_world.vault.blobs
    assert isinstance(blobs, FilesystemBlobStore)
    with fresh_world.session() as session:
        stray = blobs.put(session, PDF, now=utcnow())
    hour_ago = (utcnow() - LATER).timestamp()
    os.utime(blobs.path(stray.sha256), (hour_ago, hour_ago))

    dry = CliRunner(env=env).invoke(cli, ["vault", "fsck", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["orphans_deleted"] == [stray.sha256]
    assert blobs.path(stray.sha256).exists()
    done = CliRunner(env=env).invoke(cli, ["vault", "fsck"])
    assert done.exit_code == 0 and "deleted 1 unreferenced blobs" in done.output
    assert not blobs.path(stray.sha256).exists()

    license = fresh_world.issue(BUSINESS, entity_id(4))
    blobs.path(license.pdf_sha256).unlink()
    broken = CliRunner(env=env).invoke(cli, ["vault", "fsck"])
    assert broken.exit_code == 1 and f"MISSING blob of {license.identifier}" in broken.output
