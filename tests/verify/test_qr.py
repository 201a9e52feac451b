"""QR codes: genuine ones verify online and offline; every edited or forged one fails exactly."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy.orm import Session

from keys import Purpose, pki
from keys.material import SigningKey
from license_vault import identifiers
from signing.cbor_payload import KEY_FACE_DIGEST, KEY_IDENTIFIER, KEY_VALID_UNTIL
from tests.license_vault.helpers import FOOD, HEALTH_USCC, World
from tests.verify import forgeries
from tests.verify.conftest import FreshVerifier, Issued
from verify import Outcome, QrVerdict, Reason, TrustList, trust_list, verify_qr_offline
from yiwang.database import utcnow


@pytest.fixture(scope="module")
def cached_trust_list(verify_world: World, genuine: Issued) -> TrustList:
    """The trust list as an offline app holds it: downloaded, verified against the root."""
    client = verify_world.client()
    response = client.get("/trust-list.jws")
    assert response.status_code == 200
    with verify_world.session() as session:
        root = verify_world.runtime.keystore.root_certificate(session)
    return trust_list.load(response.get_data(as_text=True), root=root, at=utcnow())


def both(verifier: FreshVerifier, cached: TrustList, text: object) -> tuple[QrVerdict, QrVerdict]:
    return verifier.verify_qr(text), verify_qr_offline(text, cached)


def new_key(kid: str, owner: str | None = None) -> SigningKey:
    key = pki.new_ec_key()
    return SigningKey(kid, "ES256", "dept-qr", owner, key, key.public_key())


# -- genuine --------------------------------------------------------------------------------------


def test_genuine_code_is_valid_online_with_the_vaults_face_data(
        verifier: FreshVerifier, genuine: Issued) -> None:
    verdict = verifier.verify_qr(genuine.qr_url)
    assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    assert all(facet.passed for _, facet in verdict.facets())
    assert verdict.online and verdict.identifier == genuine.identifier
    view = verdict.license
    assert view is not None and view.source == "vault"
    assert dict(view.fields)["经营者名称"] == genuine.license.face["operator"]
    assert "*" in view.holder_id_masked


def test_genuine_code_is_valid_offline_from_the_payload_alone(
        cached_trust_list: TrustList, genuine: Issued) -> None:
    verdict = verify_qr_offline(genuine.qr_url, cached_trust_list)
    assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    assert not verdict.online
    assert verdict.status.outcome is Outcome.NOT_CHECKED
    assert verdict.in_vault.outcome is Outcome.NOT_CHECKED
    view = verdict.license
    assert view is not None and view.source == "payload" and view.fields == ()
    assert view.holder_name.count("*") >= 1 and "*" in view.holder_id_masked
    assert view.issuer_name == "福州市市场监督管理局"


@pytest.mark.parametrize("genuine_code", [True, False])
def test_offline_verdicts_are_the_frozen_values_the_constructor_makes(
        cached_trust_list: TrustList, genuine: Issued, genuine_code: bool) -> None:
    # verify_qr_offline builds its verdict without the generated __init__ (for speed):
    # every field must still be set, and the value must stay frozen.
    verdict = verify_qr_offline(genuine.qr_url if genuine_code else "no code", cached_trust_list)
    assert vars(verdict) == vars(dataclasses.replace(verdict))
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.online = True  # type: ignore[misc]


def test_offline_verdict_names_the_key_and_the_issuing_department(
        cached_trust_list: TrustList, genuine: Issued) -> None:
    verdict = verify_qr_offline(genuine.qr_url, cached_trust_list)
    key = cached_trust_list.qr_key(str(verdict.kid))
    assert key is not None and verdict.license is not None
    assert verdict.license.issuer_uscc == key.owner == genuine.identifier.split(".")[6]
    assert verdict.to_json()["kid"] == key.kid


def test_verifier_offline_mode_signs_and_checks_its_own_trust_list(
        verifier: FreshVerifier, genuine: Issued) -> None:
    verdict = verifier.verify_qr(genuine.qr_url, online=False)
    assert verdict.bottom_line is Reason.VALID and not verdict.online


# -- edited and forged codes ----------------------------------------------------------------------


def test_payload_edited_after_signing(verifier: FreshVerifier, cached_trust_list: TrustList,
                                      genuine: Issued) -> None:
    forged = forgeries.edit_payload(genuine.qr_url, KEY_VALID_UNTIL, 20991231)
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID
        assert verdict.license is None


def test_face_digest_swapped(verifier: FreshVerifier, cached_trust_list: TrustList,
                             genuine: Issued) -> None:
    forged = forgeries.edit_payload(genuine.qr_url, KEY_FACE_DIGEST, bytes(16))
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID


def test_signed_by_an_unknown_key(verifier: FreshVerifier, cached_trust_list: TrustList,
                                  genuine: Issued) -> None:
    forged = forgeries.resign(genuine.qr_url, new_key("Xx9unknownK"))
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_UNKNOWN_KEY
        assert verdict.known_key.failed and verdict.license is None


def test_unknown_key_reusing_a_genuine_kid(verifier: FreshVerifier, cached_trust_list: TrustList,
                                           genuine: Issued) -> None:
    kid = verifier.verify_qr(genuine.qr_url).kid
    assert kid is not None
    forged = forgeries.resign(genuine.qr_url, new_key(kid))
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID


@pytest.mark.parametrize("alg", [None, 0, "none", -8, -35], ids=["absent", "zero", "text-none",
                                                                  "eddsa", "es384"])
def test_alg_none_and_other_algorithms(verifier: FreshVerifier, cached_trust_list: TrustList,
                                       genuine: Issued, alg: object) -> None:
    forged = forgeries.unsigned(genuine.qr_url, alg=alg)
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID, verdict.to_json()


def test_key_confusion_hmac_with_the_public_key(
        verify_world: World, verifier: FreshVerifier, db_session: Session,
        cached_trust_list: TrustList,
        genuine: Issued) -> None:
    kid = verifier.verify_qr(genuine.qr_url).kid
    public_key = verify_world.runtime.keystore.key(db_session, str(kid)).public_key
    forged = forgeries.hmac_with_public_key(genuine.qr_url, public_key)  # type: ignore[arg-type]
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID


def test_kid_only_in_the_unprotected_header(verifier: FreshVerifier, cached_trust_list: TrustList,
                                            genuine: Issued) -> None:
    forged = forgeries.kid_only_unprotected(genuine.qr_url)
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID


def test_another_departments_key_cannot_vouch_for_this_issuer(
        verify_world: World, verifier: FreshVerifier, db_session: Session,
        cached_trust_list: TrustList,
        genuine: Issued) -> None:
    other = verify_world.runtime.keystore.active_key(db_session, Purpose.DEPT_QR,
                                                     HEALTH_USCC)
    forged = forgeries.resign(genuine.qr_url, other)
    for verdict in both(verifier, cached_trust_list, forged):
        assert verdict.bottom_line is Reason.QR_SIGNATURE_INVALID
        assert "another" in verdict.signature.detail or HEALTH_USCC in verdict.signature.detail


def test_jws_token_with_alg_none_is_not_a_verification_code(
        verifier: FreshVerifier, cached_trust_list: TrustList, genuine: Issued) -> None:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'none'})}.{part({'id': genuine.identifier})}."
    for verdict in both(verifier, cached_trust_list, f"https://yiwang.test/v/{token}"):
        assert verdict.bottom_line is Reason.MALFORMED


# -- genuine keys, wrong content ------------------------------------------------------------------


def test_department_key_misused_for_a_license_the_vault_never_issued(
        verify_world: World, verifier: FreshVerifier, db_session: Session,
        cached_trust_list: TrustList,
        genuine: Issued) -> None:
    key = verify_world.runtime.keystore.active_key(db_session, Purpose.DEPT_QR,
                                                   genuine.identifier.split(".")[6])
    payload = forgeries.payload_of(genuine.qr_url)
    payload[KEY_IDENTIFIER] = identifiers.generate(FOOD, genuine.identifier.split(".")[6], 1)
    forged = forgeries.resign(genuine.qr_url, key, payload=payload)

    online, offline = both(verifier, cached_trust_list, forged)

    assert online.bottom_line is Reason.UNKNOWN_LICENSE
    # offline there is no vault: a genuinely signed code is all an app can see
    assert offline.bottom_line is Reason.VALID and offline.status.outcome is Outcome.NOT_CHECKED


def test_department_key_misused_to_change_a_real_license(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued) -> None:
    key = verify_world.runtime.keystore.active_key(db_session, Purpose.DEPT_QR,
                                                   genuine.identifier.split(".")[6])
    payload = forgeries.payload_of(genuine.qr_url)
    payload[KEY_VALID_UNTIL] = 20991231
    forged = forgeries.resign(genuine.qr_url, key, payload=payload)

    verdict = verifier.verify_qr(forged)

    assert verdict.bottom_line is Reason.DOES_NOT_MATCH_VAULT
    assert "validity period" in verdict.matches_vault.detail
    assert verdict.license is None


def test_genuine_code_resigned_by_its_own_key_is_not_the_issued_code(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued) -> None:
    key = verify_world.runtime.keystore.active_key(db_session, Purpose.DEPT_QR,
                                                   genuine.identifier.split(".")[6])
    verdict = verifier.verify_qr(forgeries.resign(genuine.qr_url, key))
    assert verdict.bottom_line is Reason.DOES_NOT_MATCH_VAULT


# -- garbage --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "", "hello", "https://yiwang.test/", "https://yiwang.test/v/", "https://yiwang.test/v/@@@",
    "https://yiwang.test/v/AAAA", "https://yiwang.test/v/" + "A" * 5000,
    "http://yiwang.test/v/AAAA", "https://yiwang.test/v/0oRD\u4e2d", b"\xff\xfe", None, 42,
    "javascript:alert(1)//v/AAAA",
], ids=["empty", "word", "root", "no-token", "bad-chars", "short", "huge", "http", "non-ascii",
        "bytes", "none", "int", "javascript"])
def test_garbage_is_malformed(verifier: FreshVerifier, cached_trust_list: TrustList,
                              text: object) -> None:
    for verdict in both(verifier, cached_trust_list, text):
        assert verdict.bottom_line is Reason.MALFORMED
        assert verdict.license is None


def test_token_with_stray_bits_in_its_last_character_is_malformed(
        verifier: FreshVerifier, cached_trust_list: TrustList, genuine: Issued) -> None:
    # The same bytes to a lenient decoder, but not the canonical encoding (qr-payload.md §1).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = genuine.qr_url.rsplit("/v/", 1)[1]
    assert len(token) % 4 != 0, "the test needs a token with spare bits"
    last = token[-1]
    stray = genuine.qr_url[:-1] + alphabet[alphabet.index(last) + 1]
    for verdict in both(verifier, cached_trust_list, stray):
        assert verdict.bottom_line is Reason.MALFORMED
        assert "canonical base64url" in verdict.well_formed.detail


def test_code_checked_before_it_was_issued_is_not_yet_valid(
        verifier: FreshVerifier, cached_trust_list: TrustList, genuine: Issued) -> None:
    before = genuine.license.issued_at - dt.timedelta(seconds=1)
    online = verifier.verify_qr(genuine.qr_url, before)
    offline = verify_qr_offline(genuine.qr_url, cached_trust_list, at=before)
    assert online.bottom_line is offline.bottom_line is Reason.NOT_YET_VALID


def test_genuine_token_behind_another_host_is_refused(
        verifier: FreshVerifier, cached_trust_list: TrustList, genuine: Issued) -> None:
    moved = genuine.qr_url.replace("https://yiwang.test", "https://yiwang.evil.example")
    for verdict in both(verifier, cached_trust_list, moved):
        assert verdict.bottom_line is Reason.MALFORMED
        assert "not at this service" in verdict.well_formed.detail

