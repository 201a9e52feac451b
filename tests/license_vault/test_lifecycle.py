"""Status changes, expiry by date, status at a time T, renewal and supersession."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete

from license_vault import departments, identifiers, lifecycle, reading
from license_vault.errors import Conflict, InvalidField, InvalidStatus, NotAllowed
from license_vault.models import License, LicenseTypeIssuer
from license_vault.validity import CHINA, china_date, end_of_validity
from tests.license_vault.helpers import (
    BUSINESS,
    DEMO_FIELDS,
    FOOD,
    World,
    entity_id,
)
from yiwang.database import utcnow

HOUR = dt.timedelta(hours=1)


def _set(world: World, license: License, code: str, reason: str = "现场检查发现问题",
         *, actor: str = "client:dept-backend",
         now: dt.datetime | None = None) -> lifecycle.LicenseStatus:
    with world.session() as session:
        fresh = session.get(License, license.id)
        assert fresh is not None
        return lifecycle.set_status(session, fresh, code, reason=reason, actor=actor,
                                    now=now or utcnow())


def _status(world: World, license: License, at: dt.datetime) -> lifecycle.LicenseStatus | None:
    with world.session() as session:
        fresh = session.get(License, license.id)
        assert fresh is not None
        return lifecycle.status_at(session, fresh, at)


def _renew(world: World, license: License, changes: dict[str, str] | None = None, *,
           reason: str = "换发新证", now: dt.datetime | None = None,
           **dates: dt.date) -> License:
    with world.session() as session:
        fresh = session.get(License, license.id)
        assert fresh is not None
        department = departments.department_by_id(session, fresh.department_id)
        return lifecycle.renew(session, world.vault, fresh, department=department,
                               changes=changes or {}, reason=reason, actor="operator",
                               now=now or utcnow(), **dates)


def test_suspension_and_resumption_are_recorded_with_who_when_and_why(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(100))
    suspended = _set(world, license, "02", "涉嫌虚假登记，立案调查")
    assert (suspended.code, suspended.name, suspended.label) == ("02", "suspended", "暂停")
    assert not suspended.is_valid
    resumed = _set(world, license, "01", "调查结束", actor="operator")
    assert resumed.is_valid
    with world.session() as session:
        events = reading.history(session, license)
    assert [(e.action, e.from_status, e.to_status, e.actor, e.reason) for e in events] == [
        ("issued", None, "01", "operator", None),
        ("status", "01", "02", "client:dept-backend", "涉嫌虚假登记，立案调查"),
        ("status", "02", "01", "operator", "调查结束"),
    ]
    assert events[1].at <= events[2].at


@pytest.mark.parametrize("final", ["03", "04", "06", "07"])
def test_final_statuses_cannot_be_left(world: World, final: str) -> None:
    license = world.issue(BUSINESS, entity_id(110 + int(final)))
    assert _set(world, license, final).code == final
    with pytest.raises(Conflict, match="final"):
        _set(world, license, "01")


@pytest.mark.parametrize(("code", "reason", "field"), [
    ("08", "原因", "status"),
    ("05", "到期", "status"),
    (1, "原因", "status"),
    ("02", "   ", "reason"),
    ("02", "很" * 501, "reason"),
])
def test_status_change_needs_a_known_settable_code_and_a_reason(
        world: World, code: object, reason: str, field: str) -> None:
    license = world.issue(BUSINESS, entity_id(120))
    with pytest.raises(InvalidStatus) as refused:
        _set(world, license, code, reason)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert _status(world, license, utcnow()).code == "01"  # type: ignore[union-attr]


def test_setting_the_current_status_again_is_a_conflict(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(121))
    with pytest.raises(Conflict, match="already"):
        _set(world, license, "01")


def test_valid_is_never_reported_past_the_end_date(world: World) -> None:
    today = china_date(utcnow())
    license = world.issue(FOOD, entity_id(130), valid_until=today + dt.timedelta(days=10))
    last_moment = dt.datetime.combine(today + dt.timedelta(days=10), dt.time(23, 59, 59),
                                      CHINA)
    assert _status(world, license, last_moment).is_valid  # type: ignore[union-attr]
    expired = _status(world, license, last_moment + dt.timedelta(seconds=1))
    assert expired is not None and (expired.code, expired.name) == ("05", "expired")
    assert expired.since == end_of_validity(today + dt.timedelta(days=10))
    assert not expired.in_period and not expired.is_valid

    _set(world, license, "02", "暂停营业整改")
    assert _status(world, license, last_moment + HOUR).code == "05"  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="renew"):
        _set(world, license, "01", "整改完成", now=last_moment + HOUR)
    assert _set(world, license, "07", "吊销", now=last_moment + HOUR).code == "07"


def test_status_at_a_past_time_follows_the_history(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(140))
    start = license.issued_at
    _set(world, license, "02", "暂停", now=start + HOUR)
    _set(world, license, "01", "恢复", now=start + 2 * HOUR)
    assert _status(world, license, start - HOUR) is None
    assert _status(world, license, start + HOUR / 2).code == "01"  # type: ignore[union-attr]
    at_suspension = _status(world, license, start + 1.5 * HOUR)
    assert at_suspension is not None and at_suspension.code == "02"
    assert at_suspension.reason == "暂停" and at_suspension.since == start + HOUR
    assert _status(world, license, start + 3 * HOUR).code == "01"  # type: ignore[union-attr]


def test_renewal_issues_the_next_version_and_supersedes_the_old_one(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(150))
    renewed = _renew(world, license, {"address": "福建省福州市台江区江滨中大道1号"},
                     reason="变更住所")
    old_id, new_id = identifiers.parse(license.identifier), identifiers.parse(renewed.identifier)
    assert (new_id.serial, new_id.version) == (old_id.serial, 2)
    assert renewed.version == 2 and renewed.predecessor_id == license.id
    assert renewed.license_number == license.license_number
    assert renewed.face == {**DEMO_FIELDS[BUSINESS], "address": "福建省福州市台江区江滨中大道1号"}
    assert renewed.pdf_sha256 != license.pdf_sha256 and renewed.status == "01"

    now = utcnow()
    old = _status(world, license, now)
    assert old is not None and old.code == "99" and old.superseded_by == renewed.identifier
    assert _status(world, license, renewed.issued_at - dt.timedelta(microseconds=1)).code \
        == "01"  # type: ignore[union-attr]
    with world.session() as session:
        old_history = reading.history(session, license)
        [issued] = reading.history(session, renewed)
    assert old_history[-1].action == "superseded" and old_history[-1].to_status == "99"
    assert issued.reason == "变更住所"

    with pytest.raises(Conflict, match="superseded"):
        _set(world, license, "07")
    with pytest.raises(Conflict, match="superseded"):
        _renew(world, license)
    third = _renew(world, renewed, reason="换发")
    assert third.version == 3 and identifiers.parse(third.identifier).serial == old_id.serial


def test_renewal_restarts_the_validity_period(world: World) -> None:
    license = world.issue(FOOD, entity_id(160))
    later = utcnow() + dt.timedelta(days=400)
    renewed = _renew(world, license, now=later)
    start = china_date(later)
    assert renewed.valid_from == start
    if (start.month, start.day) != (2, 29):
        assert renewed.valid_until == start.replace(year=start.year + 5) - dt.timedelta(days=1)


def test_suspended_license_is_resumed_before_it_is_renewed(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(170))
    _set(world, license, "02")
    with pytest.raises(Conflict, match="suspended"):
        _renew(world, license)


def test_renewal_can_clear_an_optional_field_and_refuses_bad_changes(world: World) -> None:
    license = world.issue(FOOD, entity_id(180))
    before = world.license_count()
    with pytest.raises(InvalidField) as refused:
        _renew(world, license, {"business_form": "夜市摊点"})
    assert refused.value.field == "business_form"
    with pytest.raises(InvalidField):
        _renew(world, license, {"operator": ""})
    assert world.license_count() == before
    assert _status(world, license, utcnow()).code == "01"  # type: ignore[union-attr]
    renewed = _renew(world, license, {"hotline": ""}, reason="删除投诉电话")
    assert "hotline" not in renewed.face


def test_renewal_is_refused_once_the_department_may_no_longer_issue_the_type(
        fresh_world: World) -> None:
    license = fresh_world.issue(FOOD, entity_id(190))
    with fresh_world.session() as session:
        session.execute(delete(LicenseTypeIssuer).where(LicenseTypeIssuer.type_code == FOOD))
    with pytest.raises(NotAllowed, match="may no longer issue"):
        _renew(fresh_world, license)


@pytest.mark.parametrize("reason", ["暂停\u2028营业", "暂停\u2029营业", "暂\u3164停", "暂\u1160停",
                                    "暂停\u202e业营", "暂停\u200b营业", "暂停\x00", "暂停\n营业"],
                         ids=["line separator", "paragraph separator", "Hangul filler",
                              "Hangul jungseong filler", "right-to-left override",
                              "zero-width space", "NUL", "line break"])
def test_status_reason_is_one_line_of_printable_text(world: World, reason: str) -> None:
    license = world.issue(BUSINESS, entity_id(200))
    with pytest.raises(InvalidStatus) as refused:
        _set(world, license, "02", reason)
    assert refused.value.field == "reason" and "U+" in refused.value.message
    with world.session() as session:
        fresh = session.get(License, license.id)
        assert fresh is not None and fresh.status == "01"
        assert [event.action for event in reading.history(session, fresh)] == ["issued"]


def test_renewal_dates_must_lie_in_the_vault_range(world: World) -> None:
    license = world.issue(FOOD, entity_id(210))
    before = world.license_count()
    for dates, field in (({"valid_from": dt.date(9999, 12, 31)}, "valid_from"),
                         ({"valid_from": dt.date(2199, 6, 1)}, "valid_from"),
                         ({"valid_until": dt.date(2200, 1, 1)}, "valid_until")):
        with pytest.raises(InvalidField) as refused:
            _renew(world, license, **dates)
        assert refused.value.field == field
    assert world.license_count() == before
