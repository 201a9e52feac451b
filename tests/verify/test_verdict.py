"""Verdict values: one bottom line, fail closed, never VALID because something was skipped."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from tests.license_vault.helpers import World
from tests.verify.conftest import Issued
from verify import MESSAGES, Facet, Outcome, PdfVerdict, QrVerdict, Reason, Verifier
from verify.errors import VerifyError

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def passed_pdf(**changes: Facet) -> PdfVerdict:
    facets: dict[str, Any] = {name: Facet.ok() for name in PdfVerdict.FACETS}
    return PdfVerdict(at=NOW, online=True, **{**facets, **changes})


def test_all_facets_passed_is_valid() -> None:
    verdict = passed_pdf()
    assert verdict.bottom_line is Reason.VALID and verdict.valid
    assert verdict.message.headline == "有效"


def test_bottom_line_is_the_first_failure_in_check_order() -> None:
    verdict = passed_pdf(
        status=Facet.fail(Reason.REVOKED, "revoked"),
        covers_document=Facet.fail(Reason.MODIFIED_AFTER_SIGNING, "changed"),
        trusted=Facet.fail(Reason.UNTRUSTED_SIGNER, "not ours"))
    assert verdict.bottom_line is Reason.MODIFIED_AFTER_SIGNING
    assert verdict.detail == "changed"


def test_a_required_facet_not_checked_is_never_valid() -> None:
    verdict = passed_pdf(seal_ok=Facet.skip("the vault could not be consulted"))
    assert verdict.bottom_line is Reason.UNAVAILABLE and not verdict.valid
    assert verdict.detail == "the vault could not be consulted"
    assert PdfVerdict(at=NOW, online=True).bottom_line is Reason.UNAVAILABLE


def test_offline_qr_rests_on_signature_and_dates_only() -> None:
    checked: dict[str, Any] = {name: Facet.ok() for name in QrVerdict.OFFLINE_REQUIRED}
    assert QrVerdict(at=NOW, online=False, **checked).bottom_line is Reason.VALID
    assert QrVerdict(at=NOW, online=True, **checked).bottom_line is Reason.UNAVAILABLE
    unsigned = {**checked, "signature": Facet.skip()}
    assert QrVerdict(at=NOW, online=False, **unsigned).bottom_line is Reason.UNAVAILABLE


def test_facets_hold_a_reason_exactly_when_failed() -> None:
    with pytest.raises(ValueError):
        Facet(Outcome.FAILED)
    with pytest.raises(ValueError):
        Facet(Outcome.PASSED, Reason.REVOKED)
    with pytest.raises(ValueError):
        Facet.fail(Reason.VALID, "a failure cannot mean valid")


def test_verdicts_are_frozen_values() -> None:
    verdict = passed_pdf()
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.status = Facet.fail(Reason.REVOKED, "x")  # type: ignore[misc]


def test_every_reason_has_words_for_the_page_and_the_api() -> None:
    assert set(MESSAGES) == set(Reason)
    for message in MESSAGES.values():
        assert message.headline and message.zh and message.en


def test_json_form_names_the_bottom_line_and_every_facet() -> None:
    body = passed_pdf(status=Facet.fail(Reason.SUSPENDED, "status 02")).to_json()
    assert body["valid"] is False and body["bottom_line"] == "SUSPENDED"
    assert body["message"]["headline"] == "已暂停"
    assert body["facets"]["status"] == {"outcome": "failed", "reason": "SUSPENDED",
                                        "detail": "status 02"}
    assert list(body["facets"]) == list(PdfVerdict.FACETS)


def test_naive_time_is_refused(verify_world: World, genuine: Issued) -> None:
    with verify_world.session() as session:
        verifier = Verifier(session, verify_world.runtime.keystore,
                            issuer=verify_world.settings.issuer)
        with pytest.raises(VerifyError):
            verifier.verify_qr(genuine.qr_url, at=dt.datetime(2030, 1, 1))


@pytest.mark.parametrize("kind", ["pdf", "qr"])
def test_vault_failure_gives_no_verdict_rather_than_a_wrong_one(
        verify_world: World, genuine: Issued, kind: str) -> None:
    with verify_world.session() as session:
        # a real failure inside the verifier's transaction (undone by its rollback)
        session.execute(text("ALTER TABLE vault_licenses RENAME TO vault_licenses_away"))
        verifier = Verifier(session, verify_world.runtime.keystore,
                            issuer=verify_world.settings.issuer)
        verdict = (verifier.verify_pdf(genuine.pdf) if kind == "pdf"
                   else verifier.verify_qr(genuine.qr_url))
    assert verdict.bottom_line is Reason.UNAVAILABLE
    assert verdict.in_vault.outcome is Outcome.NOT_CHECKED
    assert verdict.license is None
    with verify_world.session() as session:  # and the vault is intact afterwards
        assert session.execute(text("SELECT count(*) FROM vault_licenses")).scalar()
