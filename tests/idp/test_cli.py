"""``yiwang person|entity|client`` through the real command group and settings."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from idp import accounts
from idp.grants import digest
from idp.models import Client
from tests.idp.helpers import PASSWORD, id_number
from yiwang.cli import cli
from yiwang.runtime import Runtime
from yiwang.settings import Settings


@pytest.fixture
def run(settings: Settings):  # type: ignore[no-untyped-def]
    env = {"YIWANG_INSTANCE": str(settings.instance),
           "YIWANG_DATABASE_URL": settings.database_url,
           "YIWANG_MASTER_KEY_FILE": str(settings.master_key_file),
           "YIWANG_ISSUER": settings.issuer}

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner(env=env).invoke(cli, list(args), input=stdin, catch_exceptions=False)

    return invoke


def test_person_add_prints_json_without_the_id_number(run, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    number = id_number(5)
    result = run("person", "add", "--id-number", number, "--name", "孙七", "--level", "L2",
                 "--password-stdin", "--json", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["level"] == "L2" and data["name"] == "孙七"
    assert number not in result.output and data["id_number"] == number[:3] + "*" * 14 + number[-1:]
    with runtime.session() as session:
        person = accounts.lookup_person(session, runtime.keystore, number)
        assert person is not None and accounts.verify_password(person, PASSWORD)


def test_person_errors_are_one_line(run) -> None:  # type: ignore[no-untyped-def]
    result = run("person", "add", "--id-number", "110105194912310021", "--name", "x",
                 "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "check digit" in result.output
    assert "110105194912310021" not in result.output


def test_set_password_and_totp_enroll(run, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    number = id_number(6)
    run("person", "add", "--id-number", number, "--name", "周八", "--password-stdin",
        stdin=PASSWORD + "\n")
    result = run("person", "set-password", "--id-number", number, "--password-stdin",
                 stdin="another long password\n")
    assert result.exit_code == 0, result.output
    enrolled = run("person", "totp", "enroll", "--id-number", number, "--json")
    assert enrolled.exit_code == 0, enrolled.output
    assert json.loads(enrolled.output)["otpauth_uri"].startswith("otpauth://totp/")
    with runtime.session() as session:
        person = accounts.find_person(session, runtime.keystore, number)
        assert accounts.verify_password(person, "another long password")
        assert person.totp_sealed is not None


def test_entity_and_agent(run, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    for sequence in (7, 8):
        run("person", "add", "--id-number", id_number(sequence), "--name", "吴九",
            "--password-stdin", stdin=PASSWORD + "\n")
    added = run("entity", "add", "--uscc", "91350100M000100Y43", "--name", "示例科技有限公司",
                "--legal-rep", id_number(7), "--json")
    assert added.exit_code == 0, added.output
    agent = run("entity", "add-agent", "--uscc", "91350100M000100Y43", "--id-number",
                id_number(8), "--until", "2099-12-31", "--json")
    assert agent.exit_code == 0, agent.output
    assert json.loads(agent.output)["until"] == "2099-12-31"


def test_client_add_list_show_rotate_disable(run, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    added = run("client", "add", "--name", "政务门户", "--redirect-uri",
                "https://portal.example.gov.cn/cb", "--redirect-uri", "http://127.0.0.1:8000/cb",
                "--post-logout-redirect-uri", "https://portal.example.gov.cn/",
                "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                "--scope", "openid", "--scope", "profile", "--first-party", "--json")
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    client_id, secret = data["client_id"], data["client_secret"]
    with runtime.session() as session:
        client = session.get(Client, client_id)
        assert client is not None and client.secret_hash == digest(secret)
        assert client.redirect_uris == ["https://portal.example.gov.cn/cb",
                                        "http://127.0.0.1:8000/cb"]
    plain = run("client", "add", "--name", "App", "--redirect-uri", "cn.gov.app:/cb",
                "--public", "--scope", "openid")
    assert plain.exit_code == 0 and "client_id:" in plain.output
    assert "client_secret" not in plain.output
    listed = json.loads(run("client", "list", "--json").output)
    assert {c["client_id"] for c in listed} >= {client_id}
    shown = run("client", "show", client_id)
    assert secret not in shown.output and "政务门户" in shown.output
    rotated = json.loads(run("client", "rotate-secret", client_id, "--json").output)
    assert rotated["client_secret"] != secret
    assert run("client", "disable", client_id).exit_code == 0
    assert json.loads(run("client", "show", client_id, "--json").output)["disabled"] is True
    missing = run("client", "show", "nobody")
    assert missing.exit_code == 1 and "nobody" in missing.output


def test_client_add_refuses_inconsistent_options(run) -> None:  # type: ignore[no-untyped-def]
    result = run("client", "add", "--name", "Bad", "--redirect-uri", "http://example.com/cb")
    assert result.exit_code == 1 and "https" in result.output


def test_client_add_accepts_a_space_separated_scope_and_defaults(run) -> None:  # type: ignore[no-untyped-def]
    listed = json.loads(run("client", "add", "--name", "RP", "--redirect-uri",
                            "https://rp.example/cb", "--scope", "openid profile id_number",
                            "--json").output)
    assert listed["scopes"] == ["openid", "profile", "id_number"]
    default = json.loads(run("client", "add", "--name", "RP", "--redirect-uri",
                             "https://rp.example/cb", "--json").output)
    assert default["scopes"] == ["openid", "profile"]
    assert default["grant_types"] == ["authorization_code"]
