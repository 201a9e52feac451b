"""Every kind of bad issuance request: a precise error naming the field, and nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from license_vault.models import NumberCounter
from license_vault.validity import china_date
from tests.license_vault.helpers import (
    BUSINESS,
    DEMO_FIELDS,
    FOOD,
    PHYSICIAN,
    World,
    access_token,
    bearer,
    demo_fields,
    entity_id,
    person_id,
)
from yiwang.database import utcnow

TODAY = china_date(utcnow())
HOLDER = entity_id(700)


def _with(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(DEMO_FIELDS[BUSINESS])
    for key, value in changes.items():
        if value is None:
            fields.pop(key)
        else:
            fields[key] = value
    return fields


def _days(days: int) -> str:
    return (TODAY + dt.timedelta(days=days)).isoformat()


# (what is wrong, request body changes, status, error code, field)
CASES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("unknown type", {"type": "11100000000013127D009"}, 400, "unknown_type", "type"),
    ("malformed type code", {"type": "not-a-code"}, 400, "unknown_type", "type"),
    ("missing type", {"type": None}, 400, "unknown_type", "type"),
    ("type the department may not issue",
     {"type": PHYSICIAN, "holder": person_id(700), "fields": DEMO_FIELDS[PHYSICIAN]},
     403, "not_allowed", "type"),
    ("holder ID with a wrong check character", {"holder": HOLDER[:-1] + "0"
                                                if HOLDER[-1] != "0" else HOLDER[:-1] + "1"},
     400, "invalid_holder", "holder"),
    ("a person's ID number for an entity license", {"holder": person_id(701)},
     400, "invalid_holder", "holder"),
    ("an entity's USCC for a person's license",
     {"type": PHYSICIAN, "holder": entity_id(702), "fields": DEMO_FIELDS[PHYSICIAN],
      "as": "health"},
     400, "invalid_holder", "holder"),
    ("a birth date other than the ID number's",
     {"type": PHYSICIAN, "holder": person_id(704), "fields": DEMO_FIELDS[PHYSICIAN],
      "as": "health"},
     400, "invalid_field", "birth_date"),
    ("a sex other than the ID number's",
     {"type": PHYSICIAN, "holder": person_id(705),
      "fields": {**demo_fields(PHYSICIAN, person_id(705)), "sex": "女"}, "as": "health"},
     400, "invalid_field", "sex"),
    ("missing holder", {"holder": None}, 400, "invalid_holder", "holder"),
    ("missing required field", {"fields": _with(legal_representative=None)},
     400, "invalid_field", "legal_representative"),
    ("blank required field", {"fields": _with(address="   ")}, 400, "invalid_field", "address"),
    ("unknown field", {"fields": _with(colour="红")}, 400, "invalid_field", "colour"),
    ("oversized field", {"fields": _with(name="某" * 101)}, 400, "invalid_field", "name"),
    ("value outside the enumeration", {"fields": _with(entity_type="外星公司")},
     400, "invalid_field", "entity_type"),
    ("impossible date", {"fields": _with(established="2019-02-30")},
     400, "invalid_field", "established"),
    ("date written another way", {"fields": _with(established="2019/03/15")},
     400, "invalid_field", "established"),
    ("establishment after the issue date", {"fields": _with(established=_days(3))},
     400, "invalid_field", "established"),
    ("money that is not an amount", {"fields": _with(registered_capital="一千万")},
     400, "invalid_field", "registered_capital"),
    ("money given as a number", {"fields": _with(registered_capital=10000000)},
     400, "invalid_field", "registered_capital"),
    ("line break in a one-line field", {"fields": _with(address="鼓楼区\n五四路")},
     400, "invalid_field", "address"),
    ("control character", {"fields": _with(legal_representative="张\x07三")},
     400, "invalid_field", "legal_representative"),
    ("character the face font cannot print", {"fields": _with(name="示例\U0002a6a5公司")},
     400, "invalid_field", "name"),
    ("valid_until before valid_from",
     {"valid_from": _days(30), "valid_until": _days(10)}, 400, "invalid_field", "valid_until"),
    ("valid_until already past", {"valid_until": "2020-01-01"},
     400, "invalid_field", "valid_until"),
    ("valid_until not a date", {"valid_until": "next year"}, 400, "invalid_field", "valid_until"),
    ("valid_from not a date", {"valid_from": 20240101}, 400, "invalid_field", "valid_from"),
    ("longer than the type allows",
     {"type": FOOD, "fields": DEMO_FIELDS[FOOD], "valid_until": _days(6 * 366)},
     400, "invalid_field", "valid_until"),
    ("fields not an object", {"fields": ["name"]}, 400, "invalid_field", "fields"),
    ("unknown request member", {"color": "red"}, 400, "invalid_request", "color"),
    # Dates: exactly YYYY-MM-DD in ASCII digits, from 1900-01-01 to 2199-12-31.
    ("ISO week date", {"valid_from": "2026-W01-1"}, 400, "invalid_field", "valid_from"),
    ("date without dashes", {"valid_until": "20991231"}, 400, "invalid_field", "valid_until"),
    ("date with full-width digits", {"valid_from": "２０２６-１２-０１"},
     400, "invalid_field", "valid_from"),
    ("date with spaces around it", {"valid_from": f" {_days(1)} "},
     400, "invalid_field", "valid_from"),
    ("valid_from in year 9999 on a five-year type",
     {"type": FOOD, "fields": DEMO_FIELDS[FOOD], "valid_from": "9999-12-31"},
     400, "invalid_field", "valid_from"),
    ("valid_from whose period would end after 2199",
     {"type": FOOD, "fields": DEMO_FIELDS[FOOD], "valid_from": "2199-06-01"},
     400, "invalid_field", "valid_from"),
    ("valid_until after 2199", {"valid_until": "2200-01-01"},
     400, "invalid_field", "valid_until"),
    ("face date as an ISO week", {"fields": _with(established="2019-W11-5")},
     400, "invalid_field", "established"),
    ("face date before 1900", {"fields": _with(established="1899-12-31")},
     400, "invalid_field", "established"),
    # Money: ASCII digits in the documented form.
    ("money in full-width digits", {"fields": _with(registered_capital="９９")},
     400, "invalid_field", "registered_capital"),
    ("money in Arabic-Indic digits", {"fields": _with(registered_capital="٩٩")},
     400, "invalid_field", "registered_capital"),
    ("money with leading zeros", {"fields": _with(registered_capital="000000000001")},
     400, "invalid_field", "registered_capital"),
    # One-line face text: nothing invisible, nothing the font cannot print.
    *[(f"face text with {what}", {"fields": _with(name=f"示例{char}公司")},
       400, "invalid_field", "name")
      for what, char in (("a line separator", "\u2028"), ("a paragraph separator", "\u2029"),
                         ("the Hangul filler U+3164", "\u3164"),
                         ("the Hangul filler U+115F", "\u115f"),
                         ("the halfwidth Hangul filler", "\uffa0"),
                         ("a right-to-left override", "\u202e"),
                         ("a zero-width space", "\u200b"), ("NUL", "\x00"),
                         ("a private-use character", "\ue000"), ("an emoji", "😀"))],
    # Found only when printing, after the number is taken: the number is given back.
    ("face too long to print on one page",
     {"fields": _with(business_scope="经营\n" * 499 + "经营")}, 400, "invalid_field", "fields"),
]


def _stored(world: World) -> tuple[int, int, int]:
    with world.session() as session:
        counters = session.scalar(select(func.coalesce(func.sum(NumberCounter.last_value), 0)))
        blobs = len(list(world.vault.blobs.entries(session)))
    return world.license_count(), int(counters or 0), blobs


@pytest.fixture(scope="module")
def samr_token(world: World) -> str:
    return access_token(world.client(), world.samr)


@pytest.fixture(scope="module")
def health_token(world: World) -> str:
    return access_token(world.client(), world.health)


@pytest.mark.parametrize(("what", "changes", "status", "error", "field"), CASES,
                         ids=[case[0] for case in CASES])
def test_bad_request_is_refused_precisely_and_stores_nothing(
        world: World, api: FlaskClient, samr_token: str, health_token: str, what: str,
        changes: dict[str, Any], status: int, error: str, field: str) -> None:
    body: dict[str, Any] = {"type": BUSINESS, "holder": HOLDER, "fields": DEMO_FIELDS[BUSINESS]}
    body.update(changes)
    token = health_token if body.pop("as", None) == "health" else samr_token
    body = {key: value for key, value in body.items() if value is not None}
    before = _stored(world)

    response = api.post("/api/v1/licenses", json=body, headers=bearer(token))

    assert response.status_code == status, response.json
    assert response.json["error"] == error
    assert response.json["field"] == field
    assert response.headers["Cache-Control"] == "no-store"
    if field not in ("type", "holder"):
        assert field in response.json["error_description"]
    assert _stored(world) == before


def test_wrong_kind_of_holder_says_which_kind_is_needed(api: FlaskClient, samr_token: str
                                                        ) -> None:
    response = api.post("/api/v1/licenses", headers=bearer(samr_token), json={
        "type": BUSINESS, "holder": person_id(703), "fields": DEMO_FIELDS[BUSINESS]})
    description = response.json["error_description"]
    assert "营业执照" in description and "entity" in description and "person" in description
    assert person_id(703) not in description


def test_body_that_is_not_json_is_refused(world: World, api: FlaskClient, samr_token: str
                                          ) -> None:
    before = _stored(world)
    response = api.post("/api/v1/licenses", data="type=x", headers=bearer(samr_token),
                        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert _stored(world) == before
