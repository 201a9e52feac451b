"""Content-addressed blob store for license PDFs: each distinct file is kept once.

A blob is named by the SHA-256 of its bytes (lower-case hex); SM3 is
computed alongside and recorded by the caller. Two backends:

* :class:`FilesystemBlobStore` (embedded default): ``<root>/ab/cd/<sha256>``.
  A write goes to a temporary file in the same folder, is fsynced, then
  renamed into place and the folder fsynced, so a blob file is either
  complete or absent. Writing bytes that are already there only refreshes
  the file's time (so ``vault fsck`` never takes it for an old stray).
* :class:`DatabaseBlobStore` (several app nodes): rows of ``vault_blobs``,
  written in the caller's transaction, so they commit or vanish with it.

Every method takes the caller's session (the filesystem backend ignores it).
Reading checks the digest: a damaged blob raises :class:`BlobStoreError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from keys.sm2 import sm3
from license_vault.errors import BlobStoreError
from license_vault.models import StoredBlob
from license_vault.sql import insert_ignore

__all__ = [
    "BlobEntry",
    "BlobInfo",
    "BlobStore",
    "DatabaseBlobStore",
    "FilesystemBlobStore",
    "describe",
    "open_blob_store",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")
TEMPORARY_SUFFIX = ".tmp"


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    """What a stored blob is: its digests and size."""

    sha256: str
    sm3: str
    size: int


@dataclasses.dataclass(frozen=True)
class BlobEntry:
    """A blob as listed by the store (for ``vault fsck``)."""

    sha256: str
    stored_at: dt.datetime
    temporary: str | None = None  # file name of an unfinished write (filesystem backend)


def describe(data: bytes) -> BlobInfo:
    return BlobInfo(hashlib.sha256(data).hexdigest(), sm3(data).hex(), len(data))


def _check_name(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BlobStoreError(f"{str(sha256)[:70]!r} is not a SHA-256 blob name")
    return sha256


class BlobStore(Protocol):
    """What issuance, reading and fsck need of a backend."""

    name: str

    def put(self, session: Session, data: bytes, *, now: dt.datetime) -> BlobInfo:
        """Store the bytes: durable (filesystem) or in the caller's transaction (database)."""
        ...
    def get(self, session: Session, sha256: str) -> bytes: ...
    def exists(self, session: Session, sha256: str) -> bool: ...
    def delete(self, session: Session, entry: BlobEntry) -> bool:
        """Delete a listed blob unless it changed since it was listed; True if deleted."""
        ...
    def entries(self, session: Session) -> Iterator[BlobEntry]: ...


class FilesystemBlobStore:
    """Blobs as files under ``root`` with a two-level fan-out."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"<FilesystemBlobStore {self.root}>"

    def path(self, sha256: str) -> Path:
        _check_name(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, session: Session, data: bytes, *, now: dt.datetime) -> BlobInfo:
        info = describe(data)
        target = self.path(info.sha256)
        try:
            if target.exists():
                os.utime(target)  # a fresh time keeps fsck's hands off until we commit
                return info
            self._make_folders(target.parent)
            temporary = target.parent / f".{info.sha256}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)  # atomic; a racing writer renames equal bytes
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            _fsync_folder(target.parent)
        except OSError as exc:
            raise BlobStoreError(f"cannot store blob {info.sha256}: {exc.strerror}") from exc
        return info

    def _make_folders(self, folder: Path) -> None:
        missing = [part for part in (folder.parent, folder) if not part.is_dir()]
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for part in missing:  # a new folder entry is durable once its parent is synced
            _fsync_folder(part.parent)

    def get(self, session: Session, sha256: str) -> bytes:
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobStoreError(f"blob {sha256} is missing") from None
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob {sha256}: {exc.strerror}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobStoreError(f"blob {sha256} is damaged: its bytes have another digest")
        return data

    def exists(self, session: Session, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, session: Session, entry: BlobEntry) -> bool:
        path = self.path(entry.sha256)
        if entry.temporary is not None:
            path = path.parent / entry.temporary
            if not (path.name.startswith(f".{entry.sha256}.")
                    and path.name.endswith(TEMPORARY_SUFFIX)):
                return False
        try:
            if path.stat().st_mtime > entry.stored_at.timestamp() + 0.001:
                return False  # written again since it was listed: an issuance in flight
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def entries(self, session: Session) -> Iterator[BlobEntry]:
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir() or len(first.name) != 2:
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir() or len(second.name) != 2:
                    continue
                for item in sorted(second.iterdir()):
                    entry = _entry(item)
                    if entry is not None:
                        yield entry


def _entry(item: Path) -> BlobEntry | None:
    name = item.name
    temporary = name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)
    digest = name[1:65] if temporary else name
    if not _SHA256.fullmatch(digest) or not item.is_file():
        return None
    try:
        stored_at = dt.datetime.fromtimestamp(item.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        return None
    return BlobEntry(digest, stored_at, name if temporary else None)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class DatabaseBlobStore:
    """Blobs as rows of ``vault_blobs``, in the caller's transaction."""

    name = "database"

    def __repr__(self) -> str:
        return "<DatabaseBlobStore>"

    def put(self, session: Session, data: bytes, *, now: dt.datetime) -> BlobInfo:
        info = describe(data)
        # Insert-or-nothing, so equal bytes stored concurrently end up as one row.
        insert_ignore(session, StoredBlob, [{
            "sha256": info.sha256, "sm3": info.sm3, "size": info.size, "data": data,
            "created_at": now}], key="sha256")
        return info

    def get(self, session: Session, sha256: str) -> bytes:
        data = session.scalar(select(StoredBlob.data).where(StoredBlob.sha256 ==
                                                            _check_name(sha256)))
        if data is None:
            raise BlobStoreError(f"blob {sha256} is missing")
        data = bytes(data)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobStoreError(f"blob {sha256} is damaged: its bytes have another digest")
        return data

    def exists(self, session: Session, sha256: str) -> bool:
        return session.scalar(select(StoredBlob.sha256).where(
            StoredBlob.sha256 == _check_name(sha256))) is not None

    def delete(self, session: Session, entry: BlobEntry) -> bool:
        result = session.execute(delete(StoredBlob).where(StoredBlob.sha256 == entry.sha256))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def entries(self, session: Session) -> Iterator[BlobEntry]:
        rows = session.execute(select(StoredBlob.sha256, StoredBlob.created_at)
                               .order_by(StoredBlob.sha256))
        for sha256, created_at in rows.all():
            yield BlobEntry(sha256, created_at)


def open_blob_store(backend: str, folder: Path) -> BlobStore:
    """The store a setting names: ``filesystem`` (under ``folder``) or ``database``."""
    if backend == "filesystem":
        return FilesystemBlobStore(folder)
    if backend == "database":
        return DatabaseBlobStore()
    raise BlobStoreError(f"unknown blob backend {backend!r}")
