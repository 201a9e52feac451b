"""The license catalogue: definitions checked member by member, added once."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from license_vault import catalogue, departments
from license_vault.definitions import read_stored_definition
from license_vault.demo import demo_type_definitions
from license_vault.errors import (
    InvalidField,
    InvalidLicenseType,
    LicenseTypeExists,
    UnknownDepartment,
)
from license_vault.models import Department, LicenseType, LicenseTypeIssuer, NumberCounter
from tests.license_vault.helpers import (
    BUSINESS,
    DEMO_FIELDS,
    FOOD,
    PHYSICIAN,
    SAMR_USCC,
    World,
    access_token,
    bearer,
    catalogue_manager,
    entity_id,
)
from yiwang.cli import cli
from yiwang.database import utcnow


def _business() -> dict[str, Any]:
    return copy.deepcopy(demo_type_definitions()[0])


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(definition: dict[str, Any]) -> None:
        target: Any = definition
        parts = path.replace("[", ".").replace("]", "").split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is ...:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


BAD_DEFINITIONS = [
    ("code", _set("code", ...)),
    ("code", _set("code", "11100000000013127D0A1")),
    ("name", _set("name", "  ")),
    ("holder_kind", _set("holder_kind", "robot")),
    ("fields", _set("fields", [])),
    ("fields[1].key", _set("fields[1].key", "Entity Type")),
    ("fields[2].key", _set("fields[2].key", "name")),
    ("fields[1].options", _set("fields[1].options", ...)),
    ("fields[0].options", _set("fields[0].options", ["甲"])),
    ("fields[0].max_length", _set("fields[0].max_length", 0)),
    ("fields[3].type", _set("fields[3].type", "currency")),
    ("fields[2].required", _set("fields[2].required", "yes")),
    ("fields[0].colour", _set("fields[0].colour", "red")),
    ("fields[2].not_after_issue_date", _set("fields[2].not_after_issue_date", True)),
    ("holder_name_field", _set("holder_name_field", "nickname")),
    ("holder_name_field", _set("holder_name_field", "established")),
    ("validity.rule", _set("validity", {"rule": "forever"})),
    ("validity.years", _set("validity", {"rule": "years", "years": 0})),
    ("validity.years", _set("validity", {"rule": "permanent", "years": 5})),
    ("number_prefix", _set("number_prefix", "jy1")),
    ("valid_from_field", _set("valid_from_field", "address")),
    ("issuers", _set("issuers", "113501000031763279")),
    ("homepage", _set("homepage", "https://example.gov.cn")),
    # Parts of an ID number: a person's, on fields of the matching kind.
    ("fields[4].holder_id_part", _set("fields[4].holder_id_part", "birth_date")),  # an entity
    ("fields[2].holder_id_part", _set("fields[2].holder_id_part", "birth_date")),  # a text
    ("fields[1].holder_id_part", _set("fields[1].holder_id_part", "sex")),  # not 男/女
    ("fields[4].holder_id_part", _set("fields[4].holder_id_part", "region")),
    # Texts must be printable; what is printed on the face, printable by its font.
    ("name", _set("name", "营业\u202e照执")),
    ("name", _set("name", "😀😀")),
    ("name", _set("name", "营业\u3164执照")),
    ("fields[0].label", _set("fields[0].label", "名称\x00")),
    ("fields[2].label", _set("fields[2].label", "\U00020000")),
    ("fields[1].options", _set("fields[1].options", ["个人独资\u2028企业", "普通合伙企业"])),
    ("holder_id_label", _set("holder_id_label", "统一\u2029社会信用代码")),
    ("validity_label", _set("validity_label", "\u115f营业期限")),
    ("definer", _set("definer", "国家市场\u200b监督管理总局")),
    ("description", _set("description", "private \ue000 use")),
]


@pytest.mark.parametrize(("field", "change"), BAD_DEFINITIONS,
                         ids=[f"{field}-{i}" for i, (field, _) in enumerate(BAD_DEFINITIONS)])
def test_bad_definition_names_the_member_at_fault(field: str,
                                                  change: Callable[[dict[str, Any]], None]
                                                  ) -> None:
    definition = _business()
    change(definition)
    with pytest.raises(InvalidLicenseType) as refused:
        catalogue.parse_definition(definition)
    assert refused.value.field == field, refused.value.message


def test_demo_types_have_realistic_faces() -> None:
    specs = {spec.code: spec for spec in map(catalogue.parse_definition,
                                             demo_type_definitions())}
    assert {code: (spec.name, spec.holder_kind) for code, spec in specs.items()} == {
        BUSINESS: ("营业执照", "entity"), FOOD: ("食品经营许可证", "entity"),
        PHYSICIAN: ("医师执业证书", "person")}
    assert [f.label for f in specs[BUSINESS].fields][:4] == ["名称", "类型", "法定代表人",
                                                             "注册资本"]
    assert {f.type for spec in specs.values() for f in spec.fields} == set(catalogue.FIELD_TYPES)
    assert specs[FOOD].validity.years == 5 and specs[FOOD].number_prefix == "JY"


def test_face_check_refuses_unknown_missing_and_oversized_fields() -> None:
    spec = catalogue.parse_definition(_business())
    today = dt.date(2024, 6, 3)
    good = {"name": "某某科技有限公司", "entity_type": "个人独资企业",
            "legal_representative": "李四", "established": "2020-01-02", "address": "福州市",
            "business_scope": "软件开发\n技术服务"}
    assert spec.check_face({**good, "registered_capital": " "}, issue_date=today) == good
    for values, field in (({**good, "extra": "x"}, "extra"),
                          ({k: v for k, v in good.items() if k != "address"}, "address"),
                          ({**good, "legal_representative": "李" * 51}, "legal_representative")):
        with pytest.raises(InvalidField) as refused:
            spec.check_face(values, issue_date=today)
        assert refused.value.field == field


def test_adding_a_type_twice_changes_nothing_but_a_different_one_is_refused(
        world: World) -> None:
    with world.session() as session:
        again = catalogue.add_license_type(session, _business(), now=utcnow())
        assert again.code == BUSINESS
        assert catalogue.issuers_of(session, BUSINESS) == (world.samr.uscc,)
    changed = _business()
    changed["fields"][0]["max_length"] = 120
    with world.session() as session, pytest.raises(LicenseTypeExists):
        catalogue.add_license_type(session, changed, now=utcnow())


def test_issuers_must_be_registered_departments(world: World) -> None:
    definition = _business()
    definition.update(code="11100000000013127D090", issuers=[world.samr.uscc,
                                                             "91350100M000100Y43"])
    with world.session() as session, pytest.raises(UnknownDepartment) as refused:
        catalogue.add_license_type(session, definition, now=utcnow())
    assert refused.value.field == "issuers[1]"


def test_issuer_named_twice_is_added_once(world: World) -> None:
    definition = _business()
    definition.update(code="11100000000013127D094", issuers=[world.samr.uscc] * 2)
    with world.session() as session:
        catalogue.add_license_type(session, definition, now=utcnow())
    with world.session() as session:
        assert catalogue.issuers_of(session, "11100000000013127D094") == (world.samr.uscc,)


def test_license_type_add_command_reads_a_json_file(world: World, tmp_path: Path) -> None:
    definition = _business()
    definition.update(code="11100000000013127D091", name="分公司营业执照")
    file = tmp_path / "branch.json"
    file.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    settings = world.settings
    env = {"YIWANG_INSTANCE": str(settings.instance), "YIWANG_DATABASE_URL": settings.database_url,
           "YIWANG_MASTER_KEY_FILE": str(settings.master_key_file),
           "YIWANG_ISSUER": settings.issuer}
    result = CliRunner(env=env).invoke(cli, ["license-type", "add", str(file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["issuers"] == [world.samr.uscc]
    listed = CliRunner(env=env).invoke(cli, ["license-type", "list"])
    assert "分公司营业执照" in listed.output and "医师执业证书" in listed.output
    file.write_text("{\"code\": 1}")
    refused = CliRunner(env=env).invoke(cli, ["license-type", "add", str(file)])
    assert refused.exit_code == 1 and "code" in refused.output
    file.write_text("{\"code\": 1, \"code\": 2}")  # read as strictly as the API reads it
    repeated = CliRunner(env=env).invoke(cli, ["license-type", "add", str(file)])
    assert repeated.exit_code == 1 and 'repeats the member "code"' in repeated.output


def test_type_with_an_unprintable_name_is_refused_at_registration(world: World) -> None:
    definition = _business()
    definition.update(code="11100000000013127D092", name="营业\u202e照执")
    api = world.client()
    response = api.post("/api/v1/license-types", json=definition, headers=catalogue_manager(world))
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_license_type"
    assert response.json["field"] == "name"
    assert "U+202E" in response.json["error_description"]
    assert api.get("/api/v1/license-types/11100000000013127D092").status_code == 404


def test_type_stored_before_the_printable_rule_is_listed_but_not_issued(
        fresh_world: World) -> None:
    definition = _business()
    definition.update(code="11100000000013127D093", name="😀营业执照")
    spec = read_stored_definition(definition)
    with fresh_world.session() as session:  # as the catalogue kept it before the rule
        session.add(LicenseType(code=spec.code, name=spec.name, definer=spec.definer,
                                holder_kind=spec.holder_kind, definition=spec.definition(),
                                created_at=utcnow()))
        session.flush()
        department = departments.get_department(session, SAMR_USCC)
        session.add(LicenseTypeIssuer(type_code=spec.code, department_id=department.id))
    api = fresh_world.client()
    assert api.get("/api/v1/license-types").status_code == 200
    assert api.get("/api/v1/license-types/11100000000013127D093").json["name"] == "😀营业执照"

    response = api.post("/api/v1/licenses", headers=bearer(access_token(api, fresh_world.samr)),
                        json={"type": spec.code, "holder": entity_id(900),
                              "fields": DEMO_FIELDS[BUSINESS]})
    assert response.status_code == 400, response.json
    assert (response.json["error"], response.json["field"]) == ("invalid_license_type", "name")
    with fresh_world.session() as session:  # refused before a printed number was taken
        assert session.scalar(select(func.count()).select_from(NumberCounter)) == 0
    assert fresh_world.license_count() == 0


@pytest.mark.parametrize("name", ["福州市\u2028市场监督管理局", "福州市\u3164市场监督管理局",
                                  "福州市市场监督管理局\U0001f600"])
def test_department_with_an_unprintable_name_is_refused(world: World, name: str) -> None:
    with world.session() as session, pytest.raises(InvalidField) as refused:
        departments.register_department(session, world.runtime.keystore,
                                        uscc=entity_id(950), name=name, now=utcnow())
    assert refused.value.field == "name"
    with world.session() as session:
        assert session.scalar(select(Department).where(
            Department.uscc == entity_id(950))) is None
