"""Rotation: the newest key signs, retired keys verify and stay published for a while."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from keys import KeyNotFoundError, KeyStoreError, Purpose, TokenInvalidError, jws
from tests.keys.conftest import DEPARTMENT_NAME, DEPARTMENT_USCC, Store

DAY = dt.timedelta(days=1)


def _kids(jwks: dict) -> set[str]:
    return {entry["kid"] for entry in jwks["keys"]}


def test_retired_key_verifies_until_publish_until(pki: Store, pki_session: Session) -> None:
    keystore, now = pki.keystore, pki.now + dt.timedelta(hours=1)
    old = keystore.active_key(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC)
    claims = {"lic": "1.2.156.3005.2.x", "exp": now + 30 * DAY}
    old_token = jws.sign(claims, old)

    new_kid = keystore.rotate(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC,
                              now=now, publish_for=DAY)
    new = keystore.active_key(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC)
    assert new.kid == new_kid != old.kid and new.algorithm == "ES256"
    new_token = jws.sign(claims, new)

    during = now + DAY - dt.timedelta(seconds=1)
    keys = keystore.verification_keys(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC, now=during)
    assert list(keys) == [new.kid, old.kid]
    assert _kids(keystore.jwks(pki_session, [Purpose.DEPT_QR], now=during)) >= {new.kid, old.kid}
    for token in (old_token, new_token):
        assert jws.verify(token, keys, ["ES256"], at=during)["lic"] == claims["lic"]

    after = now + DAY
    keys = keystore.verification_keys(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC, now=after)
    assert list(keys) == [new.kid]
    assert old.kid not in _kids(keystore.jwks(pki_session, [Purpose.DEPT_QR], now=after))
    with pytest.raises(TokenInvalidError, match="unknown kid"):
        jws.verify(old_token, keys, ["ES256"], at=after)
    assert jws.verify(new_token, keys, ["ES256"], at=after)
    # A retired key can still be looked up by kid (e.g. to explain a verdict).
    assert keystore.key(pki_session, old.kid).kid == old.kid


def test_idp_token_rotation_names_its_algorithm(pki: Store, pki_session: Session) -> None:
    keystore, now = pki.keystore, pki.now
    with pytest.raises(KeyStoreError, match="several algorithms"):
        keystore.rotate(pki_session, Purpose.IDP_TOKEN, now=now, publish_for=DAY)
    es = keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="ES256")
    rs = keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="RS256")
    kid = keystore.rotate(pki_session, Purpose.IDP_TOKEN, now=now, publish_for=DAY,
                          algorithm="RS256")
    assert keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="RS256").kid == kid
    assert keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="ES256").kid == es.kid
    jwks = keystore.jwks(pki_session, [Purpose.IDP_TOKEN], now=now)
    assert _kids(jwks) == {es.kid, rs.kid, kid}
    assert {entry["alg"] for entry in jwks["keys"]} == {"ES256", "RS256"}


def test_department_signing_rotation_issues_a_new_certificate(
    pki: Store, pki_session: Session
) -> None:
    keystore, now = pki.keystore, pki.now
    old = keystore.active_key(pki_session, Purpose.DEPT_SIGNING, DEPARTMENT_USCC)
    old_signer = keystore.pdf_signer(pki_session, DEPARTMENT_USCC)
    kid = keystore.rotate(pki_session, Purpose.DEPT_SIGNING, DEPARTMENT_USCC,
                          now=now, publish_for=DAY)
    new = keystore.key(pki_session, kid)
    assert new.certificate is not None and old.certificate is not None
    assert new.certificate.serial_number != old.certificate.serial_number
    assert new.certificate.subject == old.certificate.subject
    organisation = new.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert organisation[0].value == DEPARTMENT_NAME
    signer = keystore.pdf_signer(pki_session, DEPARTMENT_USCC)
    assert signer is not old_signer
    assert signer.signing_cert is not None
    assert signer.signing_cert.serial_number == new.certificate.serial_number
    serial = format(old.certificate.serial_number, "x")
    assert keystore.certificate(pki_session, serial).revoked_at is None  # retired, not revoked


def test_tsa_rotation_issues_a_new_certificate(pki: Store, pki_session: Session) -> None:
    keystore = pki.keystore
    old = keystore.active_key(pki_session, Purpose.TSA)
    kid = keystore.rotate(pki_session, Purpose.TSA, now=pki.now, publish_for=DAY)
    new = keystore.active_key(pki_session, Purpose.TSA)
    assert new.kid == kid != old.kid and new.certificate is not None
    assert new.algorithm == "RSA-2048"
    assert keystore.timestamper(pki_session).tsa_cert.serial_number == (
        new.certificate.serial_number)


def test_ca_keys_and_unknown_purposes_do_not_rotate(pki: Store, pki_session: Session) -> None:
    for purpose in (Purpose.ROOT_CA, Purpose.ISSUING_CA):
        with pytest.raises(KeyStoreError, match="cannot be rotated"):
            pki.keystore.rotate(pki_session, purpose, now=pki.now, publish_for=DAY)
    with pytest.raises(KeyNotFoundError):
        pki.keystore.rotate(pki_session, "dept-qr", "91110000MA0000001L",
                            now=pki.now, publish_for=DAY)
    with pytest.raises(KeyStoreError, match="negative"):
        pki.keystore.rotate(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC,
                            now=pki.now, publish_for=-DAY)


def test_department_keys_are_created_once_per_uscc(pki: Store, pki_session: Session) -> None:
    again = pki.keystore.create_department_keys(
        pki_session, uscc=DEPARTMENT_USCC.lower(), name="Another name", now=pki.now)
    assert again == pki.department
    with pytest.raises(KeyStoreError, match="unified social credit code"):
        pki.keystore.create_department_keys(
            pki_session, uscc="91110000MA0000001X", name="Bad", now=pki.now)


def test_department_materials_follow_rotation(pki: Store, pki_session: Session) -> None:
    keystore = pki.keystore
    before = keystore.department_materials(pki_session, DEPARTMENT_USCC)
    signing = keystore.rotate(pki_session, Purpose.DEPT_SIGNING, DEPARTMENT_USCC,
                              now=pki.now, publish_for=DAY)
    qr = keystore.rotate(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC,
                         now=pki.now, publish_for=DAY)
    tsa = keystore.rotate(pki_session, Purpose.TSA, now=pki.now, publish_for=DAY)
    after = keystore.department_materials(pki_session, DEPARTMENT_USCC)
    assert (after.signing.kid, after.qr.kid, after.tsa.kid) == (signing, qr, tsa)
    assert after.sm2 is before.sm2
    assert after.signer is not before.signer and after.timestamper is not before.timestamper
    assert after.signer.signing_cert is not None and after.signing.certificate is not None
    assert after.signer.signing_cert.serial_number == after.signing.certificate.serial_number
