"""The issuing API as a department back end uses it: real tokens from the token endpoint."""

from __future__ import annotations

import copy
import hashlib

import pytest
from flask.testing import FlaskClient

from idp import clients
from keys import sm2
from license_vault.demo import demo_type_definitions
from tests.license_vault.helpers import (
    BUSINESS,
    DEMO_FIELDS,
    FOOD,
    DepartmentInfo,
    World,
    access_token,
    bearer,
    entity_id,
)
from yiwang.database import utcnow


@pytest.fixture(scope="module")
def samr(world: World) -> dict[str, str]:
    return bearer(access_token(world.client(), world.samr))


@pytest.fixture(scope="module")
def health(world: World) -> dict[str, str]:
    return bearer(access_token(world.client(), world.health))


def _issue(api: FlaskClient, headers: dict[str, str], holder: str) -> dict:  # type: ignore[type-arg]
    response = api.post("/api/v1/licenses", headers=headers, json={
        "type": FOOD, "holder": holder, "fields": DEMO_FIELDS[FOOD]})
    assert response.status_code == 201, response.json
    body: dict = response.json  # type: ignore[type-arg]
    return body


def test_department_back_end_issues_reads_and_downloads_a_license(
        world: World, api: FlaskClient, samr: dict[str, str]) -> None:
    response = api.post("/api/v1/licenses", headers=samr, json={
        "type": FOOD, "holder": entity_id(300), "fields": DEMO_FIELDS[FOOD]})
    assert response.status_code == 201
    body = response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Location"] == body["links"]["self"]
    assert body["identifier"].startswith(f"1.2.156.3005.2.{FOOD}.{world.samr.uscc}.")
    assert body["license_number"].startswith("JY350100")
    assert body["status"]["code"] == "01" and body["status"]["name"] == "valid"
    assert body["links"]["self"] == f"{world.settings.issuer}/api/v1/licenses/{body['identifier']}"
    assert body["links"]["verify"].startswith(f"{world.settings.issuer}/v/")
    assert body["history"][0]["actor"] == f"client:{world.samr.client_id}"
    assert body["holder"]["id"] == entity_id(300) and body["fields"] == DEMO_FIELDS[FOOD]

    again = api.get(f"/api/v1/licenses/{body['identifier']}", headers=samr)
    assert again.status_code == 200 and again.json["identifier"] == body["identifier"]

    pdf = api.get(body["links"]["pdf"].removeprefix(world.settings.issuer), headers=samr)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("attachment; filename=")
    assert pdf.headers["Cache-Control"] == "no-store"
    assert hashlib.sha256(pdf.data).hexdigest() == body["pdf"]["sha256"]

    seal = body["seal"]
    assert sm2.verify(bytes.fromhex(seal["public_key"]), sm2.sm3(pdf.data)
                      + body["identifier"].encode(), bytes.fromhex(seal["signature"]))


def test_status_changes_and_new_versions_through_the_api(
        world: World, api: FlaskClient, samr: dict[str, str]) -> None:
    issued = _issue(api, samr, entity_id(301))
    path = f"/api/v1/licenses/{issued['identifier']}"
    suspended = api.post(f"{path}/status", headers=samr,
                         json={"status": "02", "reason": "食品安全抽检不合格"})
    assert suspended.status_code == 200 and suspended.json["status"]["code"] == "02"
    assert suspended.json["history"][-1] == {
        **suspended.json["history"][-1], "action": "status", "from": "01", "to": "02",
        "actor": f"client:{world.samr.client_id}", "reason": "食品安全抽检不合格"}
    no_reason = api.post(f"{path}/status", headers=samr, json={"status": "01"})
    assert no_reason.status_code == 400 and no_reason.json["field"] == "reason"
    assert api.post(f"{path}/status", headers=samr,
                    json={"status": "01", "reason": "复检合格"}).status_code == 200

    renewed = api.post(f"{path}/versions", headers=samr, json={
        "fields": {"premises": "福建省福州市鼓楼区五四路158号2层"}, "reason": "变更经营场所"})
    assert renewed.status_code == 201, renewed.json
    assert renewed.json["version"] == 2 and renewed.json["predecessor"] == issued["identifier"]
    old = api.get(path, headers=samr).json
    assert old["status"]["code"] == "99" and old["successor"] == renewed.json["identifier"]
    assert old["status"]["superseded_by"] == renewed.json["identifier"]
    stale = api.post(f"{path}/status", headers=samr, json={"status": "07", "reason": "吊销"})
    assert stale.status_code == 409 and stale.json["error"] == "conflict"


def test_renewal_with_a_date_out_of_range_is_refused_and_stores_nothing(
        world: World, api: FlaskClient, samr: dict[str, str]) -> None:
    issued = _issue(api, samr, entity_id(304))
    before = world.license_count()
    for body, field in (({"reason": "换发", "valid_from": "9999-01-01"}, "valid_from"),
                        ({"reason": "换发", "valid_until": "2026-W52-1"}, "valid_until")):
        response = api.post(f"/api/v1/licenses/{issued['identifier']}/versions", json=body,
                            headers=samr)
        assert response.status_code == 400, response.json
        assert (response.json["error"], response.json["field"]) == ("invalid_field", field)
    assert world.license_count() == before


def test_foreign_and_unknown_licenses_answer_the_same_404(
        api: FlaskClient, samr: dict[str, str], health: dict[str, str]) -> None:
    identifier = _issue(api, samr, entity_id(302))["identifier"]
    unknown = identifier[:-8] + "AAAA.001"
    for path in (identifier, unknown, "not-an-identifier"):
        for method, suffix, body in (("get", "", None), ("get", "/pdf", None),
                                     ("post", "/status", {"status": "07", "reason": "x"}),
                                     ("post", "/versions", {"reason": "x"})):
            response = getattr(api, method)(f"/api/v1/licenses/{path}{suffix}",
                                            headers=health, json=body)
            assert response.status_code == 404, (path, suffix)
            assert response.json == {"error": "not_found",
                                     "error_description": "no such license"}


def test_requests_without_a_fitting_token_are_refused(
        world: World, api: FlaskClient, samr: dict[str, str]) -> None:
    body = {"type": FOOD, "holder": entity_id(303), "fields": DEMO_FIELDS[FOOD]}
    missing = api.post("/api/v1/licenses", json=body)
    assert missing.status_code == 401 and missing.json["error"] == "invalid_token"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer realm=")
    forged = api.post("/api/v1/licenses", json=body, headers=bearer("a.b.c"))
    assert forged.status_code == 401 and 'error="invalid_token"' in \
        forged.headers["WWW-Authenticate"]
    read_only = bearer(access_token(api, world.samr, scope="licenses:read"))
    refused = api.post("/api/v1/licenses", json=body, headers=read_only)
    assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope"

    with world.session() as session:
        client, secret = clients.register_client(session, clients.ClientSpec(
            name="某银行核验系统", grant_types=["client_credentials"],
            scopes=["licenses:issue"]), now=utcnow())
        outsider = DepartmentInfo("", "", client.client_id, secret or "")
    denied = api.post("/api/v1/licenses", json=body,
                      headers=bearer(access_token(api, outsider, scope="licenses:issue")))
    assert denied.status_code == 403 and denied.json["error"] == "not_allowed"


def test_catalogue_is_public_to_read_and_extended_with_a_scope(
        world: World, api: FlaskClient) -> None:
    listed = api.get("/api/v1/license-types")
    assert listed.status_code == 200
    assert {t["name"] for t in listed.json["license_types"]} >= {
        "营业执照", "食品经营许可证", "医师执业证书"}
    business = api.get(f"/api/v1/license-types/{BUSINESS}")
    assert business.json["issuers"] == [world.samr.uscc]
    assert business.json["fields"][0] == {"key": "name", "label": "名称", "type": "text",
                                          "required": True, "max_length": 100}
    assert api.get("/api/v1/license-types/11100000000013127D999").status_code == 404

    definition = copy.deepcopy(demo_type_definitions()[0])
    definition.update(code="11100000000013127D050", name="个体工商户营业执照")
    assert api.post("/api/v1/license-types", json=definition).status_code == 401
    with world.session() as session:
        client, secret = clients.register_client(session, clients.ClientSpec(
            name="证照目录管理", grant_types=["client_credentials"],
            scopes=["license-types:manage"]), now=utcnow())
    manager = bearer(access_token(api, DepartmentInfo("", "", client.client_id, secret or ""),
                                  scope="license-types:manage"))
    created = api.post("/api/v1/license-types", json=definition, headers=manager)
    assert created.status_code == 201, created.json
    assert created.headers["Location"].endswith("/api/v1/license-types/11100000000013127D050")
    assert api.post("/api/v1/license-types", json=definition,
                    headers=manager).status_code == 200
    definition["fields"][2]["type"] = "colour"
    definition["code"] = "11100000000013127D051"
    broken = api.post("/api/v1/license-types", json=definition, headers=manager)
    assert broken.status_code == 400
    assert broken.json["error"] == "invalid_license_type"
    assert broken.json["field"] == "fields[2].type"
