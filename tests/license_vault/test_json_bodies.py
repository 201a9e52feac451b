"""Malformed JSON bodies: a precise 400 on every endpoint that reads JSON, never a 500.

All of them read bodies with ``yiwang.json_bodies.json_body``; the verification API
(``POST /api/v1/verify``) is checked here too, as the vault's verifiers call it.
"""

from __future__ import annotations

import json
import logging

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from license_vault.models import License, LicenseEvent, LicenseType, NumberCounter
from tests.license_vault.helpers import (
    DEMO_FIELDS,
    FOOD,
    World,
    access_token,
    bearer,
    catalogue_manager,
    entity_id,
)

GOOD = json.dumps({"type": FOOD, "holder": entity_id(800), "fields": DEMO_FIELDS[FOOD]},
                  ensure_ascii=False).encode()

# (what is wrong, body, words the error description must hold)
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("arrays nested 100000 deep", b'{"fields":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "more than 32 levels deep"),
    ("objects nested 1000 deep", b'{"fields":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}",
     "more than 32 levels deep"),
    ("a member given twice, the second one bad", GOOD[:-1] + b', "holder": "bad"}',
     'repeats the member "holder"'),
    ("a member given twice, the first one bad", b'{"type": "xx", ' + GOOD[1:],
     'repeats the member "type"'),
    ("a member given twice inside a nested object",
     GOOD.replace(b'"fields": {', b'"fields": {"operator": "x", '),
     'repeats the member "operator"'),
    ("an integer of 5001 digits", GOOD[:-1] + b', "valid_from": 1' + b"0" * 5000 + b"}",
     "a number of 5001 characters"),
    ("a number beyond the double range", GOOD[:-1] + b', "valid_from": 1e999}',
     "beyond the range of a double"),
    ("NaN", GOOD[:-1] + b', "valid_from": NaN}', "NaN, which is not a JSON number"),
    ("bytes that are not UTF-8", GOOD.replace("示例".encode(), b"\xff\xfe", 1),
     "not UTF-8: byte 0xff at offset"),
    ("UTF-16", GOOD.decode().encode("utf-16"), "not UTF-8: byte 0xff at offset 0"),
    ("a lone surrogate escape", GOOD[:-1] + b', "valid_from": "\\ud800"}',
     "lone surrogate \\ud800"),
    ("not JSON at all", b"{not json", "not JSON: Expecting property name"),
    ("nothing", b"", "the JSON is empty"),
]


@pytest.fixture(scope="module")
def samr(world: World) -> dict[str, str]:
    return bearer(access_token(world.client(), world.samr))


@pytest.fixture(scope="module")
def manager(world: World) -> dict[str, str]:
    return catalogue_manager(world)


@pytest.fixture(scope="module")
def license_path(world: World, samr: dict[str, str]) -> str:
    response = world.client().post("/api/v1/licenses", data=GOOD, headers=samr,
                                   content_type="application/json")
    assert response.status_code == 201, response.json
    return f"/api/v1/licenses/{response.json['identifier']}"


def _stored(world: World) -> tuple[int, ...]:
    with world.session() as session:
        counts = tuple(int(session.scalar(select(func.count()).select_from(model)) or 0)
                       for model in (License, LicenseEvent, LicenseType))
        numbers = int(session.scalar(select(func.coalesce(func.sum(NumberCounter.last_value),
                                                          0))) or 0)
        blobs = len(list(world.vault.blobs.entries(session)))
    return (*counts, numbers, blobs)


@pytest.mark.parametrize("endpoint", ["issue", "status", "versions", "license-types", "verify"])
@pytest.mark.parametrize(("what", "body", "words"), BAD_BODIES,
                         ids=[case[0] for case in BAD_BODIES])
def test_malformed_json_body_is_refused_precisely_and_stores_nothing(
        world: World, api: FlaskClient, samr: dict[str, str], manager: dict[str, str],
        license_path: str, caplog: pytest.LogCaptureFixture, endpoint: str, what: str,
        body: bytes, words: str) -> None:
    path, headers = {
        "issue": ("/api/v1/licenses", samr),
        "status": (f"{license_path}/status", samr),
        "versions": (f"{license_path}/versions", samr),
        "license-types": ("/api/v1/license-types", manager),
        "verify": ("/api/v1/verify", {}),
    }[endpoint]
    before = _stored(world)

    with caplog.at_level(logging.INFO):
        response = api.post(path, data=body, headers=headers, content_type="application/json")

    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
    assert words in response.json["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert _stored(world) == before


def test_json_body_with_a_byte_order_mark_or_a_json_media_type_is_read(
        world: World, api: FlaskClient, samr: dict[str, str]) -> None:
    # RFC 8259 §8.1 lets a parser ignore a byte order mark; +json types are JSON.
    body = b"\xef\xbb\xbf" + GOOD.replace(entity_id(800).encode(), entity_id(801).encode())
    response = api.post("/api/v1/licenses", data=body, headers=samr,
                        content_type="application/merge-patch+json")
    assert response.status_code == 201, response.json


def test_body_of_another_media_type_is_refused(world: World, api: FlaskClient,
                                               samr: dict[str, str]) -> None:
    before = _stored(world)
    response = api.post("/api/v1/licenses", data=GOOD, headers=samr, content_type="text/plain")
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert "Content-Type: application/json" in response.json["error_description"]
    assert _stored(world) == before
