"""The certificate authority on top of key records: issue, revoke, publish CRLs.

Root CA → issuing CA → {TSA, department document-signing certificates}. Every
certificate issued is recorded in ``issued_certificates``; a CRL is signed
fresh on request and lists every revoked serial its CA issued.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import pki
from .errors import CertificateNotFoundError, CorruptKeyRecordError, KeyStoreError
from .material import Algorithm, PrivateKey, PublicKey, SigningKey
from .models import ACTIVE, RETIRED, IssuedCertificate, KeyRecord, Purpose
from .records import KeyRecords

CRL_VALIDITY = dt.timedelta(days=1)
# End-entity keys stop signing when their certificate is revoked; CA keys are
# left alone (revoking the issuing CA is a disaster handled by hand).
_RETIRE_ON_REVOCATION = frozenset({Purpose.DEPT_SIGNING, Purpose.TSA, Purpose.TRUST_LIST})


@dataclasses.dataclass(frozen=True)
class PkiLocations:
    """Where the CA certificates and CRLs are published."""

    base_url: str

    @property
    def root_crl(self) -> str:
        return f"{self.base_url.rstrip('/')}/root.crl"

    @property
    def issuing_crl(self) -> str:
        return f"{self.base_url.rstrip('/')}/issuing.crl"

    @property
    def root_certificate(self) -> str:
        return f"{self.base_url.rstrip('/')}/root.crt"

    @property
    def issuing_certificate(self) -> str:
        return f"{self.base_url.rstrip('/')}/issuing.crt"


@dataclasses.dataclass(frozen=True)
class CertificateInfo:
    serial: str
    subject: str
    issuer_kid: str
    kid: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str | None


def create_root(
    records: KeyRecords, session: Session, *, common_name: str, now: dt.datetime
) -> SigningKey:
    return records.create(
        session, Purpose.ROOT_CA, Algorithm.EC_P256, None, now=now,
        certify=lambda key, _: pki.make_root_ca(_ec(key), common_name=common_name, now=now),
    )


def create_issuing_ca(
    records: KeyRecords, session: Session, where: PkiLocations, *, now: dt.datetime
) -> SigningKey:
    root = records.active(session, Purpose.ROOT_CA)
    return records.create(
        session, Purpose.ISSUING_CA, Algorithm.EC_P256, None, now=now, issuer=root,
        certify=lambda key, _: pki.make_issuing_ca(
            _ec(key), root_key=_ec(root.private_key), root_cert=certificate_of(root),
            crl_url=where.root_crl, now=now),
    )


def create_tsa(
    records: KeyRecords, session: Session, where: PkiLocations, *, now: dt.datetime
) -> SigningKey:
    ca = records.active(session, Purpose.ISSUING_CA)
    return records.create(
        session, Purpose.TSA, Algorithm.RSA_2048, None, now=now, issuer=ca,
        certify=lambda key, _: pki.make_tsa_certificate(
            _rsa(key), ca_key=_ec(ca.private_key), ca_cert=certificate_of(ca),
            crl_url=where.issuing_crl, now=now),
    )


def create_department_signing(
    records: KeyRecords,
    session: Session,
    where: PkiLocations,
    *,
    uscc: str,
    name: str,
    now: dt.datetime,
) -> SigningKey:
    ca = records.active(session, Purpose.ISSUING_CA)
    return records.create(
        session, Purpose.DEPT_SIGNING, Algorithm.EC_P256, uscc, now=now, issuer=ca,
        certify=lambda _, public: pki.make_document_signing_certificate(
            _ec_public(public), organisation=name, uscc=uscc, ca_key=_ec(ca.private_key),
            ca_cert=certificate_of(ca), crl_url=where.issuing_crl, now=now),
    )


def create_trust_list_signer(
    records: KeyRecords,
    session: Session,
    where: PkiLocations,
    *,
    now: dt.datetime,
    validity_days: int,
) -> SigningKey:
    ca = records.active(session, Purpose.ISSUING_CA)
    return records.create(
        session, Purpose.TRUST_LIST, Algorithm.ES256, None, now=now, issuer=ca,
        certify=lambda _, public: pki.make_trust_list_certificate(
            _ec_public(public), ca_key=_ec(ca.private_key), ca_cert=certificate_of(ca),
            crl_url=where.issuing_crl, now=now, validity_days=validity_days),
    )


def revoke(session: Session, serial_hex: str, *, reason: str, now: dt.datetime) -> CertificateInfo:
    """Mark a certificate revoked (idempotent: the first revocation stands).

    A revoked department, TSA or trust-list signer certificate also retires
    its key, unpublished, so nothing new is signed with it.
    """
    pki.reason_flag(reason)  # refuse unknown reasons before touching anything
    issued = session.get(IssuedCertificate, _canonical_serial(serial_hex))
    if issued is None:
        raise CertificateNotFoundError(f"no certificate with serial {serial_hex}")
    if issued.kid is not None and issued.kid == issued.issuer_kid:
        raise KeyStoreError("a self-signed root certificate cannot be revoked by its own CRL")
    if issued.revoked_at is None:
        issued.revoked_at = now
        issued.revocation_reason = reason
        record = session.get(KeyRecord, issued.kid) if issued.kid is not None else None
        if record is not None and record.purpose in _RETIRE_ON_REVOCATION and (
            record.status == ACTIVE
        ):
            record.status = RETIRED
            record.retired_at = now
            record.publish_until = now
        session.flush()
    return _info(issued)


def certificate_info(session: Session, serial_hex: str) -> CertificateInfo:
    issued = session.get(IssuedCertificate, _canonical_serial(serial_hex))
    if issued is None:
        raise CertificateNotFoundError(f"no certificate with serial {serial_hex}")
    return _info(issued)


def crl(ca: SigningKey, session: Session, *, now: dt.datetime) -> bytes:
    """A freshly signed DER CRL of everything ``ca`` issued and that is revoked."""
    rows = session.execute(
        select(
            IssuedCertificate.serial,
            IssuedCertificate.revoked_at,
            IssuedCertificate.revocation_reason,
        ).where(IssuedCertificate.issuer_kid == ca.kid, IssuedCertificate.revoked_at.is_not(None))
        .order_by(IssuedCertificate.revoked_at, IssuedCertificate.serial)
    )
    revoked = [
        (int(serial, 16), revoked_at, reason)
        for serial, revoked_at, reason in rows
        if revoked_at is not None  # always true here; narrows the type
    ]
    document = pki.make_crl(
        _ec(ca.private_key), certificate_of(ca), revoked, now=now, next_update=now + CRL_VALIDITY
    )
    return document.public_bytes(serialization.Encoding.DER)


def certificate_of(key: SigningKey) -> x509.Certificate:
    if key.certificate is None:
        raise CorruptKeyRecordError(f"key {key.kid} ({key.purpose}) has no certificate")
    return key.certificate


def organisation_of(key: SigningKey) -> str:
    names = certificate_of(key).subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    if not names:
        raise CorruptKeyRecordError(f"key {key.kid}: certificate names no organisation")
    return str(names[0].value)


def _canonical_serial(serial_hex: str) -> str:
    text = serial_hex.strip().lower().replace(":", "")
    text = text.removeprefix("0x")
    try:
        return format(int(text, 16), "x")
    except ValueError:
        raise CertificateNotFoundError(f"{serial_hex!r} is not a hexadecimal serial") from None


def _info(issued: IssuedCertificate) -> CertificateInfo:
    return CertificateInfo(
        serial=issued.serial, subject=issued.subject, issuer_kid=issued.issuer_kid,
        kid=issued.kid, not_before=issued.not_before, not_after=issued.not_after,
        revoked_at=issued.revoked_at, revocation_reason=issued.revocation_reason,
    )


def _ec(key: PrivateKey) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CorruptKeyRecordError("expected a P-256 private key")
    return key


def _ec_public(key: PublicKey) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CorruptKeyRecordError("expected a P-256 public key")
    return key


def _rsa(key: PrivateKey) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CorruptKeyRecordError("expected an RSA private key")
    return key
