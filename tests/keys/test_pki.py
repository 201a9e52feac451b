"""The PKI: certificate profiles, chains checked by OpenSSL, revocation and CRLs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.orm import Session

from keys import CertificateNotFoundError, KeyStoreError, Purpose
from keys import pki as builders
from tests.keys.conftest import (
    DEPARTMENT_NAME,
    DEPARTMENT_USCC,
    PKI_BASE_URL,
    Store,
    require_tool,
    run,
    write_pem,
)


def _crl_urls(certificate: x509.Certificate) -> list[str]:
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return [name.value for point in points for name in point.full_name or []]


def _ec_public(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _chain_files(directory: Path, store: Store, session: Session) -> tuple[Path, Path]:
    root = write_pem(directory / "root.pem", store.keystore.root_certificate(session))
    issuing = write_pem(directory / "issuing.pem", store.keystore.issuing_certificate(session))
    return root, issuing


def test_department_certificate_chains_to_the_root(
    pki: Store, pki_session: Session, tmp_path: Path
) -> None:
    require_tool("openssl")
    root, issuing = _chain_files(tmp_path, pki, pki_session)
    signing = pki.keystore.active_key(pki_session, Purpose.DEPT_SIGNING, DEPARTMENT_USCC)
    assert signing.certificate is not None
    leaf = write_pem(tmp_path / "department.pem", signing.certificate)
    tsa = write_pem(tmp_path / "tsa.pem",
                    pki.keystore.active_key(pki_session, Purpose.TSA).certificate)  # type: ignore[arg-type]
    for certificate in (leaf, tsa):
        result = run("openssl", "verify", "-x509_strict", "-CAfile", root,
                     "-untrusted", issuing, certificate)
        assert result.stdout.strip() == f"{certificate}: OK"
    # Without the root as anchor the chain does not verify.
    refused = run("openssl", "verify", "-CAfile", issuing, leaf, check=False)
    assert refused.returncode != 0


def test_department_certificate_carries_the_signing_profile(
    pki: Store, pki_session: Session
) -> None:
    certificate = pki.keystore.active_key(
        pki_session, Purpose.DEPT_SIGNING, DEPARTMENT_USCC).certificate
    assert certificate is not None
    extensions = certificate.extensions
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    document_signing = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336
    assert set(eku) == {document_signing, ExtendedKeyUsageOID.EMAIL_PROTECTION}
    assert _crl_urls(certificate) == [f"{PKI_BASE_URL}/issuing.crl"]
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == DEPARTMENT_NAME
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEPARTMENT_NAME
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == DEPARTMENT_USCC
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    assert certificate.serial_number.bit_length() <= 159


def test_ca_and_tsa_certificates_have_their_profiles(pki: Store, pki_session: Session) -> None:
    root = pki.keystore.root_certificate(pki_session)
    issuing = pki.keystore.issuing_certificate(pki_session)
    tsa = pki.keystore.active_key(pki_session, Purpose.TSA).certificate
    assert tsa is not None
    root_bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert root_bc.critical and root_bc.value.ca
    issuing_bc = issuing.extensions.get_extension_for_class(x509.BasicConstraints)
    assert issuing_bc.critical and issuing_bc.value.ca and issuing_bc.value.path_length == 0
    for ca in (root, issuing):
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert root.not_valid_after_utc - root.not_valid_before_utc >= dt.timedelta(days=365 * 20)
    assert issuing.not_valid_after_utc - issuing.not_valid_before_utc >= dt.timedelta(days=3650)
    assert _crl_urls(issuing) == [f"{PKI_BASE_URL}/root.crl"]
    aki = issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    tsa_eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_eku.critical and list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    tsa_key = tsa.public_key()
    assert isinstance(tsa_key, rsa.RSAPublicKey) and tsa_key.key_size == 2048


def test_revoked_certificate_is_listed_in_a_valid_crl(store: Store, tmp_path: Path) -> None:
    keystore = store.keystore
    serial = store.department.certificate_serial
    revoked_at = store.now + dt.timedelta(hours=1)
    with store.sessions.begin() as session:
        info = keystore.revoke_certificate(
            session, serial.upper(), reason="keyCompromise", now=revoked_at)
        assert info.revoked_at == revoked_at and info.revocation_reason == "keyCompromise"
        crl_der = keystore.crl(session, "issuing", now=revoked_at)
        issuing = keystore.issuing_certificate(session)
        root_crl = x509.load_der_x509_crl(keystore.crl(session, "root", now=revoked_at))
        root = keystore.root_certificate(session)
    crl = x509.load_der_x509_crl(crl_der)
    assert crl.is_signature_valid(_ec_public(issuing))
    assert crl.issuer == issuing.subject
    assert crl.next_update_utc == revoked_at + dt.timedelta(days=1)
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert entry.revocation_date_utc == revoked_at
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise)
    assert root_crl.is_signature_valid(_ec_public(root))
    assert len(root_crl) == 0


def test_openssl_rejects_a_revoked_department_certificate(store: Store, tmp_path: Path) -> None:
    require_tool("openssl")
    keystore = store.keystore
    with store.sessions.begin() as session:
        root, issuing = _chain_files(tmp_path, store, session)
        old = keystore.active_key(session, Purpose.DEPT_SIGNING, DEPARTMENT_USCC)
        leaf = write_pem(tmp_path / "revoked.pem", old.certificate)  # type: ignore[arg-type]
        keystore.revoke_certificate(
            session, store.department.certificate_serial, reason="superseded", now=store.now)
        # The revoked key stops signing; the department gets a new key on request.
        with pytest.raises(KeyStoreError):
            keystore.pdf_signer(session, DEPARTMENT_USCC)
        renewed = keystore.create_department_keys(
            session, uscc=DEPARTMENT_USCC, name=DEPARTMENT_NAME, now=store.now)
        assert renewed.signing_kid != old.kid and renewed.qr_kid == store.department.qr_kid
        fresh = write_pem(tmp_path / "fresh.pem",
                          keystore.key(session, renewed.signing_kid).certificate)  # type: ignore[arg-type]
        crl = x509.load_der_x509_crl(keystore.crl(session, now=store.now))
    crl_pem = tmp_path / "issuing.crl.pem"
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    check = ("openssl", "verify", "-crl_check", "-CAfile", root, "-untrusted", issuing,
             "-CRLfile", crl_pem)
    refused = run(*check, leaf, check=False)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    assert run(*check, fresh).stdout.strip() == f"{fresh}: OK"


def test_revocation_needs_a_known_serial_and_reason(store: Store) -> None:
    with store.sessions() as session:
        with pytest.raises(CertificateNotFoundError):
            store.keystore.revoke_certificate(session, "abc123", reason="keyCompromise",
                                              now=store.now)
        with pytest.raises(CertificateNotFoundError):
            store.keystore.revoke_certificate(session, "not hex", reason="keyCompromise",
                                              now=store.now)
        with pytest.raises(KeyStoreError, match="unknown revocation reason"):
            store.keystore.revoke_certificate(session, store.department.certificate_serial,
                                              reason="bored", now=store.now)
        root_serial = format(store.keystore.root_certificate(session).serial_number, "x")
        with pytest.raises(KeyStoreError, match="self-signed"):
            store.keystore.revoke_certificate(session, root_serial, reason="keyCompromise",
                                              now=store.now)


def test_revoking_twice_keeps_the_first_revocation(store: Store) -> None:
    serial = store.department.certificate_serial
    with store.sessions() as session:
        first = store.keystore.revoke_certificate(
            session, serial, reason="keyCompromise", now=store.now)
        second = store.keystore.revoke_certificate(
            session, serial, reason="superseded", now=store.now + dt.timedelta(days=1))
        assert second == first


def test_revoking_the_trust_list_signer_certificate_stops_its_key_signing(store: Store) -> None:
    # Like a department's or the TSA's: a revoked end-entity certificate must not
    # keep signing, or verifiers that check the CRL would refuse every new list.
    keystore = store.keystore
    with store.sessions.begin() as session:
        revoked = keystore.trust_list_key(session, now=store.now)
        assert revoked.certificate is not None
        keystore.revoke_certificate(session, format(revoked.certificate.serial_number, "x"),
                                    reason="keyCompromise", now=store.now)
        later = store.now + dt.timedelta(minutes=1)
        signer = keystore.trust_list_key(session, now=later)
        assert signer.kid != revoked.kid and signer.certificate is not None
        assert signer.certificate.serial_number != revoked.certificate.serial_number
        assert revoked.kid not in keystore.verification_keys(session, "trust-list", now=later)


def test_certificates_never_outlive_their_issuer() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    root_key, issuing_key = builders.new_ec_key(), builders.new_ec_key()
    root = builders.make_root_ca(root_key, common_name="Test Root", now=now)
    issuing = builders.make_issuing_ca(issuing_key, root_key=root_key, root_cert=root,
                                  crl_url="https://x/root.crl",
                                  now=now + dt.timedelta(days=365 * 19))
    assert issuing.not_valid_after_utc == root.not_valid_after_utc
    with pytest.raises(KeyStoreError, match="expired"):
        builders.make_document_signing_certificate(
            builders.new_ec_key().public_key(), organisation="Dept", uscc=DEPARTMENT_USCC,
            ca_key=issuing_key, ca_cert=issuing, crl_url="https://x/issuing.crl",
            now=now + dt.timedelta(days=365 * 21))
