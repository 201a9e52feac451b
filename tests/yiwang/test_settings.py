from pathlib import Path

import pytest

from yiwang.settings import Settings, SettingsError, describe


def test_defaults_are_an_embedded_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.instance == tmp_path / "instance"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'yiwang.db'}"
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.master_key_file == tmp_path / "instance" / "master.key"


def test_instance_folder_moves_database_and_master_key(tmp_path: Path) -> None:
    settings = Settings.from_env({"YIWANG_INSTANCE": str(tmp_path / "data")})
    assert settings.database_url.endswith(str(tmp_path / "data" / "yiwang.db"))
    assert settings.master_key_file == tmp_path / "data" / "master.key"


@pytest.mark.parametrize(("variable", "value"), [
    ("YIWANG_ISSUER", "ftp://example.org"),
    ("YIWANG_ISSUER", "https://example.org/?x=1"),
    ("YIWANG_DATABASE_URL", "mysql://root@localhost/yiwang"),
    ("YIWANG_ACCESS_TOKEN_TTL", "five minutes"),
    ("YIWANG_ACCESS_TOKEN_TTL", "-3"),
    ("YIWANG_KEY_WRAP", "des"),
    ("YIWANG_BLOB_BACKEND", "s3"),
])
def test_malformed_setting_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert str(error.value).startswith(variable + "=")


def test_plain_postgresql_url_uses_psycopg_3() -> None:
    settings = Settings.from_env({"YIWANG_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_dev_defaults_warn_and_production_settings_do_not(tmp_path: Path) -> None:
    assert len(Settings.from_env({"YIWANG_INSTANCE": str(tmp_path)}).dev_warnings()) == 2
    production = Settings.from_env({
        "YIWANG_INSTANCE": str(tmp_path / "data"),
        "YIWANG_ISSUER": "https://yiwang.example.gov.cn",
        "YIWANG_MASTER_KEY_FILE": str(tmp_path / "secrets" / "master.key"),
    })
    assert production.dev_warnings() == []


def test_every_setting_is_described() -> None:
    for variable, description in describe():
        assert variable.startswith("YIWANG_") and description.endswith(".")
