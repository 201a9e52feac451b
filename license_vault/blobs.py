"""Content-addressed, encrypted blob store for license PDFs: each distinct file is kept once.

A blob is named by the SHA-256 of its plaintext bytes (lower-case hex); SM3
is computed alongside and recorded by the caller. A license PDF can print a
person's full ID number, so what is stored is never the plaintext: it is
sealed with AES-256-GCM (``keys.secrets.seal``: version byte, random nonce,
ciphertext and tag) under a key derived from the master key once per store
(label :data:`BLOB_KEY_LABEL`), with the blob's address as associated data.
A ciphertext therefore opens only under its own name: one moved or copied
to another address fails to decrypt, as does a damaged one. Naming by the
plaintext keeps "the same bytes are stored once" (the nonce differs per
write, the address does not).

Two backends:

* :class:`FilesystemBlobStore` (embedded default): ``<root>/ab/cd/<sha256>``.
  A write goes to a temporary file in the same folder, is fsynced, then
  renamed into place and the folder fsynced, so a blob file is either
  complete or absent; a folder the write creates is made durable in its
  parent, folders that exist are not synced again. Writing bytes that are
  already there only refreshes the file's time (so ``vault fsck`` never
  takes it for an old stray).
* :class:`DatabaseBlobStore` (several app nodes): rows of ``vault_blobs``,
  written in the caller's transaction, so they commit or vanish with it.

A blob whose license did not commit is taken back with ``discard``: the
filesystem backend deletes its file, the database backend has nothing left
to do (the row rolled back with the transaction).

Every method takes the caller's session (the filesystem backend ignores it).
Reading decrypts and then checks the digest of the plaintext: a damaged,
swapped or foreign blob raises :class:`BlobStoreError` ("damaged").
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

from keys import secrets as sealing
from keys.errors import KeyStoreError
from keys.sm2 import sm3
from license_vault.errors import BlobStoreError
from license_vault.models import StoredBlob
from yiwang.database import insert_ignore

__all__ = [
    "BLOB_KEY_LABEL",
    "BlobCipher",
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
BLOB_KEY_LABEL = "vault blob contents"
_ADDRESS_CONTEXT = b"yiwang vault blob sha256:"


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


class SecretSource(Protocol):
    """What a store needs of ``keys.KeyStore``: a secret derived from the master key."""

    def derive_secret(self, label: str) -> bytes: ...


class BlobCipher:
    """AES-256-GCM sealing of blob contents, each bound to its SHA-256 address.

    The key is derived once (HKDF from the master key, :data:`BLOB_KEY_LABEL`),
    not per blob; the AES-GCM itself runs in ``keys.secrets``.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise BlobStoreError("the blob key must be 32 bytes (AES-256)")
        self._key = key

    @classmethod
    def from_keystore(cls, keystore: SecretSource) -> BlobCipher:
        return cls(keystore.derive_secret(BLOB_KEY_LABEL))

    def __repr__(self) -> str:
        return "<BlobCipher AES-256-GCM>"

    def seal(self, sha256: str, data: bytes) -> bytes:
        return sealing.seal(self._key, data, _address(sha256))

    def unseal(self, sha256: str, sealed: bytes) -> bytes:
        """The plaintext of the blob stored at ``sha256``, checked against that digest."""
        try:
            data = sealing.unseal(self._key, sealed, _address(sha256))
        except KeyStoreError:
            raise BlobStoreError(f"blob {sha256} is damaged: it does not decrypt as the blob "
                                 "stored under this name (altered, moved or foreign)") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobStoreError(f"blob {sha256} is damaged: its bytes have another digest")
        return data


def _address(sha256: str) -> bytes:
    return _ADDRESS_CONTEXT + _check_name(sha256).encode("ascii")


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
    def discard(self, session: Session, sha256: str) -> None:
        """Take back a blob ``put`` for a transaction that rolled back (no license names it)."""
        ...
    def get(self, session: Session, sha256: str) -> bytes: ...
    def exists(self, session: Session, sha256: str) -> bool: ...
    def delete(self, session: Session, entry: BlobEntry) -> bool:
        """Delete a listed blob unless it changed since it was listed; True if deleted."""
        ...
    def entries(self, session: Session) -> Iterator[BlobEntry]: ...


class FilesystemBlobStore:
    """Encrypted blobs as files under ``root`` with a two-level fan-out."""

    name = "filesystem"

    def __init__(self, root: Path, cipher: BlobCipher) -> None:
        self.root = Path(root)
        self.cipher = cipher

    def __repr__(self) -> str:
        return f"<FilesystemBlobStore {self.root}>"

    def path(self, sha256: str) -> Path:
        _check_name(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, session: Session, data: bytes, *, now: dt.datetime) -> BlobInfo:
        info = describe(data)
        target = self.path(info.sha256)
        try:
            if target.exists() and self._holds(target, info.sha256):
                os.utime(target)  # a fresh time keeps fsck's hands off until we commit
                return info
            sealed = self.cipher.seal(info.sha256, data)
            created = self._make_folders(target.parent)
            temporary = target.parent / f".{info.sha256}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(sealed)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)  # atomic; a racing writer renames equal bytes
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            # The new name, then the entries of folders this write created (their
            # parents); folders that already existed are durable already.
            for folder in (target.parent, *(part.parent for part in reversed(created))):
                _fsync_folder(folder)
        except OSError as exc:
            raise BlobStoreError(f"cannot store blob {info.sha256}: {exc.strerror}") from exc
        return info

    def _holds(self, target: Path, sha256: str) -> bool:
        """Whether an existing file opens to the bytes it is named after.

        A damaged file (disk rot, a bad copy) is replaced rather than named by
        a new license.
        """
        try:
            self.cipher.unseal(sha256, target.read_bytes())  # checks the digest too
        except (OSError, BlobStoreError):
            return False
        return True

    def _make_folders(self, folder: Path) -> list[Path]:
        """Create the fan-out folders of a blob; returns those created, outermost first."""
        missing = [part for part in (folder.parent, folder) if not part.is_dir()]
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return missing

    def discard(self, session: Session, sha256: str) -> None:
        # Not synced: should the deletion be lost in a crash, fsck finds the orphan.
        try:
            self.path(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot delete blob {sha256}: {exc.strerror}") from exc

    def get(self, session: Session, sha256: str) -> bytes:
        try:
            sealed = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobStoreError(f"blob {sha256} is missing") from None
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob {sha256}: {exc.strerror}") from exc
        return self.cipher.unseal(sha256, sealed)

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
    """Encrypted blobs as rows of ``vault_blobs`` (``data`` holds the sealed bytes,
    ``size`` and ``sm3`` describe the plaintext), in the caller's transaction."""

    name = "database"

    def __init__(self, cipher: BlobCipher) -> None:
        self.cipher = cipher

    def __repr__(self) -> str:
        return "<DatabaseBlobStore>"

    def put(self, session: Session, data: bytes, *, now: dt.datetime) -> BlobInfo:
        info = describe(data)
        # Insert-or-nothing, so equal bytes stored concurrently end up as one row.
        insert_ignore(session, StoredBlob, [{
            "sha256": info.sha256, "sm3": info.sm3, "size": info.size,
            "data": self.cipher.seal(info.sha256, data), "created_at": now}], key="sha256")
        return info

    def discard(self, session: Session, sha256: str) -> None:
        pass  # the row was written in the transaction that rolled back, and went with it

    def get(self, session: Session, sha256: str) -> bytes:
        sealed = session.scalar(select(StoredBlob.data).where(StoredBlob.sha256 ==
                                                              _check_name(sha256)))
        if sealed is None:
            raise BlobStoreError(f"blob {sha256} is missing")
        return self.cipher.unseal(sha256, bytes(sealed))

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


def open_blob_store(backend: str, folder: Path, keystore: SecretSource) -> BlobStore:
    """The store a setting names: ``filesystem`` (under ``folder``) or ``database``.

    ``keystore`` (``keys.KeyStore``) gives the blob key, derived here once.
    """
    if backend not in ("filesystem", "database"):
        raise BlobStoreError(f"unknown blob backend {backend!r}")
    cipher = BlobCipher.from_keystore(keystore)
    if backend == "filesystem":
        return FilesystemBlobStore(folder, cipher)
    return DatabaseBlobStore(cipher)
