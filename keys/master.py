"""The master key file: 32 random bytes that wrap every private key.

The file holds one comment line and the key in base64. It is created with
mode 0600 and never overwritten: losing the old key would make every wrapped
private key unreadable, so an existing file is an error, not something to
replace.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from .errors import MasterKeyFileError, MasterKeyMissingError

MASTER_KEY_SIZE = 32
_HEADER = (
    "# Yiwang master key: wraps every private key in the key store. "
    "Keep it secret (mode 0600) and back it up apart from the database.\n"
)


def create_master_key(path: str | os.PathLike[str]) -> bytes:
    """Create a new master key file at ``path`` and return the key.

    The key is written to a temporary file in the same folder (created with
    ``O_EXCL`` and mode 0600, fsynced) and then hard-linked into place: the
    link fails if ``path`` exists, so a complete file appears atomically or not
    at all, and an existing key is never overwritten.
    """
    target = Path(path)
    if target.exists():
        raise MasterKeyFileError(f"{target} already exists; refusing to overwrite a master key")
    if not target.parent.is_dir():
        raise MasterKeyFileError(f"folder {target.parent} does not exist")
    key = secrets.token_bytes(MASTER_KEY_SIZE)
    content = (_HEADER + base64.b64encode(key).decode("ascii") + "\n").encode("ascii")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask may only have removed bits; make it exact
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise MasterKeyFileError(
                f"{target} already exists; refusing to overwrite a master key"
            ) from None
        _fsync_folder(target.parent)
    finally:
        temporary.unlink(missing_ok=True)
    return key


def load_master_key(path: str | os.PathLike[str]) -> bytes:
    """Read the master key, refusing files that others can read."""
    source = Path(path)
    try:
        info = source.stat()
        raw = source.read_bytes()
    except FileNotFoundError:
        raise MasterKeyMissingError(
            f"master key file {source} does not exist; initialise the service first"
        ) from None
    except OSError as exc:
        raise MasterKeyFileError(f"cannot read master key file {source}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyFileError(
            f"master key file {source} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {source}"
        )
    return _parse(raw, source)


def _parse(raw: bytes, source: Path) -> bytes:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise MasterKeyFileError(f"master key file {source} is not ASCII text") from None
    body = "".join(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyFileError(f"master key file {source} does not hold base64 text") from None
    if len(key) != MASTER_KEY_SIZE:
        raise MasterKeyFileError(
            f"master key file {source} holds {len(key)} bytes; expected {MASTER_KEY_SIZE}"
        )
    return key


def _fsync_folder(folder: Path) -> None:
    # Make the new directory entry durable too; not every platform allows it.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
