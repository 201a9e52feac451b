"""The master key file: created 0600 and atomically, never overwritten, checked on load."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keys import MasterKeyFileError, MasterKeyMissingError, create_master_key, load_master_key


def test_master_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_master_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert load_master_key(path) == key
    assert path.read_text().startswith("# ")  # the one-line header says what the file is
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary left behind


def test_master_key_mode_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_master_key(tmp_path / "master.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600


def test_existing_master_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_master_key(path)
    with pytest.raises(MasterKeyFileError, match="refusing to overwrite"):
        create_master_key(path)
    assert load_master_key(path) == key


def test_missing_master_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyMissingError, match="does not exist"):
        load_master_key(tmp_path / "absent.key")


def test_group_readable_master_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    create_master_key(path)
    path.chmod(0o640)
    with pytest.raises(MasterKeyFileError, match="chmod 600"):
        load_master_key(path)


@pytest.mark.parametrize("content", [
    "# header\nbm90IGJhc2U2NCE=\n",  # 13 bytes, not 32
    "# header\n!!! not base64 !!!\n",
    "",
])
def test_malformed_master_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(MasterKeyFileError):
        load_master_key(path)


def test_master_key_error_messages_hold_no_key_material(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_master_key(path)
    path.chmod(0o644)
    with pytest.raises(MasterKeyFileError) as caught:
        load_master_key(path)
    assert key.hex() not in str(caught.value)
    assert path.read_text().splitlines()[1] not in str(caught.value)
