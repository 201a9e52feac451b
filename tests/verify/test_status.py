"""The vault's status decides a genuine license's verdict: revoked, suspended, expired..."""

from __future__ import annotations

import datetime as dt

import pytest

from license_vault import departments, lifecycle, reading
from license_vault.validity import china_date, end_of_validity
from tests.license_vault.helpers import World
from tests.verify.conftest import FreshVerifier, Issued, issue
from verify import Outcome, Reason, verify_qr_offline
from yiwang.database import utcnow


def set_status(world: World, issued: Issued, code: str, reason: str = "依法处理") -> None:
    with world.session() as session:
        license = reading.find_license(session, issued.identifier)
        assert license is not None
        lifecycle.set_status(session, license, code, reason=reason, actor="operator",
                             now=utcnow())


@pytest.mark.parametrize(("code", "reason"), [
    ("07", Reason.REVOKED), ("02", Reason.SUSPENDED), ("03", Reason.WITHDRAWN),
    ("04", Reason.CANCELLED), ("06", Reason.TRANSFERRED), ("99", Reason.OTHER_STATUS),
], ids=["revoked", "suspended", "withdrawn", "cancelled", "transferred", "other"])
def test_status_changed_in_the_vault_after_signing(
        verify_world: World, verifier: FreshVerifier, code: str, reason: Reason) -> None:
    issued = issue(verify_world)
    assert verifier.verify_pdf(issued.pdf).bottom_line is Reason.VALID
    set_status(verify_world, issued, code)

    pdf_verdict = verifier.verify_pdf(issued.pdf)
    qr_verdict = verifier.verify_qr(issued.qr_url)

    for verdict in (pdf_verdict, qr_verdict):
        assert verdict.bottom_line is reason, verdict.to_json()
        assert verdict.status.failed
        # the signature and the match with the vault still hold: only the status fails
        assert [name for name, facet in verdict.facets() if facet.failed] == ["status"]
        assert verdict.license is not None
        assert verdict.license.status_code == code


def test_revoked_license_is_still_valid_offline_because_status_is_not_checked(
        verify_world: World, verifier: FreshVerifier) -> None:
    issued = issue(verify_world)
    set_status(verify_world, issued, "07")
    cached = verifier.offline_trust_list()

    offline = verify_qr_offline(issued.qr_url, cached)

    assert offline.bottom_line is Reason.VALID
    assert offline.status.outcome is Outcome.NOT_CHECKED
    assert verifier.verify_qr(issued.qr_url).bottom_line is Reason.REVOKED


def test_status_is_judged_at_the_time_asked(verify_world: World, verifier: FreshVerifier) -> None:
    issued = issue(verify_world)
    before = utcnow()
    set_status(verify_world, issued, "02")

    assert verifier.verify_pdf(issued.pdf, at=before).bottom_line is Reason.VALID
    assert verifier.verify_qr(issued.qr_url, at=before).bottom_line is Reason.VALID
    assert verifier.verify_qr(issued.qr_url).bottom_line is Reason.SUSPENDED


def test_expired_license(verify_world: World, verifier: FreshVerifier) -> None:
    today = china_date(utcnow())
    issued = issue(verify_world, valid_until=today)
    after = end_of_validity(today) + dt.timedelta(minutes=1)
    last_moment = end_of_validity(today) - dt.timedelta(seconds=1)

    assert verifier.verify_qr(issued.qr_url, at=last_moment).bottom_line is Reason.VALID
    for verdict in (verifier.verify_pdf(issued.pdf, at=after),
                    verifier.verify_qr(issued.qr_url, at=after),
                    verify_qr_offline(issued.qr_url, verifier.offline_trust_list(), at=after)):
        assert verdict.bottom_line is Reason.EXPIRED, verdict.to_json()
        assert verdict.in_force.failed


def test_not_yet_issued_at_the_time_asked(verify_world: World, verifier: FreshVerifier) -> None:
    issued = issue(verify_world)
    earlier = issued.license.issued_at - dt.timedelta(days=1)
    assert verifier.verify_qr(issued.qr_url, at=earlier).bottom_line is Reason.NOT_YET_VALID


def test_not_yet_valid_by_its_dates(verify_world: World, verifier: FreshVerifier) -> None:
    today = china_date(utcnow())
    issued = issue(verify_world, valid_from=today + dt.timedelta(days=10))
    verdict = verifier.verify_qr(issued.qr_url)
    assert verdict.bottom_line is Reason.NOT_YET_VALID
    offline = verify_qr_offline(issued.qr_url, verifier.offline_trust_list())
    assert offline.bottom_line is Reason.NOT_YET_VALID


def test_renewed_license_is_superseded_and_its_successor_valid(
        verify_world: World, verifier: FreshVerifier) -> None:
    issued = issue(verify_world)
    with verify_world.session() as session:
        license = reading.find_license(session, issued.identifier)
        assert license is not None
        department = departments.department_by_id(session, license.department_id)
        renewed = lifecycle.renew(session, verify_world.vault, license, department=department,
                                  changes={"hotline": "12315"}, reason="变更投诉电话",
                                  actor="operator", now=utcnow())
        new_pdf = reading.read_pdf(session, verify_world.vault.blobs, renewed)
        new_url, new_identifier = renewed.qr_url, renewed.identifier

    old = verifier.verify_qr(issued.qr_url)
    assert old.bottom_line is Reason.SUPERSEDED
    assert old.license is not None and old.license.superseded_by == new_identifier
    assert verifier.verify_pdf(issued.pdf).bottom_line is Reason.SUPERSEDED
    assert verifier.verify_qr(new_url).bottom_line is Reason.VALID
    assert verifier.verify_pdf(new_pdf).bottom_line is Reason.VALID
