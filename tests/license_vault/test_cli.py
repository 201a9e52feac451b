"""``yiwang department|license`` through the real command group and settings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from idp import clients
from idp.identifiers import uscc
from license_vault.demo import DEMO_LICENSES
from tests.license_vault.helpers import (
    FOOD,
    PHYSICIAN,
    World,
    demo_fields,
    entity_id,
    person_id,
)
from yiwang.cli import cli

Run = Callable[..., Result]


@pytest.fixture
def run(world: World) -> Run:
    settings = world.settings
    env = {"YIWANG_INSTANCE": str(settings.instance), "YIWANG_DATABASE_URL": settings.database_url,
           "YIWANG_MASTER_KEY_FILE": str(settings.master_key_file),
           "YIWANG_ISSUER": settings.issuer}

    def invoke(*args: str) -> Result:
        return CliRunner(env=env).invoke(cli, list(args))

    return invoke


def test_department_add_creates_keys_certificate_and_a_client_credentials_client(
        run: Run, world: World) -> None:
    body = "00317633"
    partial = "11350102" + body + uscc.calc_organisation_check_digit(body)
    code = partial + uscc.calc_check_digit(partial)
    result = run("department", "add", "--uscc", code, "--name", "福州市鼓楼区市场监督管理局",
                 "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["name"] == "福州市鼓楼区市场监督管理局" and data["client_secret"]
    with world.session() as session:
        client = clients.get_client(session, data["client_id"])
        assert client.grant_types == ["client_credentials"]
        assert client.scopes == ["licenses:issue", "licenses:read"]
        certificate = world.runtime.keystore.pdf_signer(session, data["uscc"]).signing_cert
    assert format(certificate.serial_number, "x") == data["certificate_serial"]
    again = run("department", "add", "--uscc", data["uscc"], "--name", "重复")
    assert again.exit_code == 1 and "already registered" in again.output


def test_issue_get_list_set_status_and_renew_from_the_command_line(
        run: Run, tmp_path: Path) -> None:
    holder = person_id(400)
    fields = demo_fields(PHYSICIAN, holder)
    issued = run("license", "issue", "--type", PHYSICIAN, "--holder", holder,
                 "--department", "11350100003178197K", "--json",
                 *(f"--field={key}={value}" for key, value in fields.items()))
    assert issued.exit_code == 0, issued.output
    data = json.loads(issued.output)
    identifier = data["identifier"]
    assert data["status"]["code"] == "01" and holder not in issued.output

    pdf = tmp_path / "license.pdf"
    got = run("license", "get", identifier, "--pdf", str(pdf))
    assert got.exit_code == 0 and f"PDF written to {pdf}" in got.output
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == data["pdf"]["sha256"]
    assert "verify: https://yiwang.test/v/" in got.output

    listed = run("license", "list", "--holder", holder, "--json")
    assert [item["identifier"] for item in json.loads(listed.output)] == [identifier]

    status = run("license", "set-status", identifier, "02", "--reason", "注册信息核查中")
    assert status.exit_code == 0 and "status 02 suspended" in status.output
    refused = run("license", "renew", identifier, "--reason", "换证")
    assert refused.exit_code == 1 and "suspended" in refused.output
    assert run("license", "set-status", identifier, "01", "--reason", "核查完毕").exit_code == 0
    renewed = run("license", "renew", identifier, "--field", "practice_place=福建省厦门市",
                  "--reason", "变更执业地点", "--json")
    assert renewed.exit_code == 0, renewed.output
    assert json.loads(renewed.output)["fields"]["practice_place"] == "福建省厦门市"


def test_bad_input_is_one_line_naming_the_field(run: Run) -> None:
    fields = next(f for _, code, _, f in DEMO_LICENSES if code == FOOD)
    result = run("license", "issue", "--type", FOOD, "--holder", entity_id(401),
                 "--department", "113501000031763279",
                 *(f"--field={key}={value}" for key, value in fields.items()),
                 "--field", "business_form=路边摊")
    assert result.exit_code == 1
    assert result.output.startswith("Error: business_form (主体业态) must be one of")
    missing = run("license", "get", "1.2.156.3005.2.11100000000013127D001.113501000031763279."
                                    "AAAAAAAAAAAAAAAAAAAA.001.0")
    assert missing.exit_code == 1 and "Error:" in missing.output
