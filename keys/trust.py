"""What a published trust list needs from the key store, and the key that signs it.

Verifiers cache a signed trust list (``docs/trust-list.md``) so they can check
QR codes offline, and check QR codes and PDFs online against the same records.
This module gives them what :class:`KeyStore` does not:

* :func:`published_keys` lists the keys of a purpose that verify at a moment,
  with their owner and validity window (``verification_keys`` gives only
  kid → key); :func:`published_key` answers the same for one kid;
* :func:`issued_certificates` and :func:`revocation_times` read the issued
  certificates and their revocation, as the CRLs are signed from them;
* :func:`trust_list_signer` (called as :meth:`KeyStore.trust_list_key`)
  returns the ES256 key that signs the trust list, creating it on first use.
  Its certificate is issued by the issuing CA with the ETSI TS 119 612
  extended key usage ``tslSigning``, so a verifier that pins only the root
  certificate can check the list's ``x5c`` chain.

Public keys come from the key store (:meth:`KeyStore.verification_keys`,
:meth:`KeyStore.key`), which authenticates them against the wrapped private
key, never from the table in clear.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import authority, pki
from .material import PublicKey, SigningKey
from .models import ACTIVE, RETIRED, IssuedCertificate, KeyRecord, Purpose
from .records import KeyRecords, parse_certificate, require_aware

if TYPE_CHECKING:
    from .services import KeyStore

__all__ = [
    "TRUST_LIST_PURPOSE",
    "TSL_SIGNING",
    "IssuedCertificateInfo",
    "PublishedKey",
    "issued_certificates",
    "published_key",
    "published_keys",
    "revocation_times",
    "trust_list_signer",
]

# A purpose of its own: the trust-list key signs nothing else.
TRUST_LIST_PURPOSE = Purpose.TRUST_LIST
TSL_SIGNING = pki.TSL_SIGNING
TRUST_LIST_SIGNER_DAYS = 1096
# A new signer is made this long before the current certificate ends, so a
# list signed today still verifies for as long as verifiers cache it.
RENEW_BEFORE = dt.timedelta(days=30)


@dataclasses.dataclass(frozen=True)
class PublishedKey:
    """A key that verifies at the moment asked, with its owner and window."""

    kid: str
    purpose: str
    owner: str | None
    algorithm: str
    public_key: PublicKey
    created_at: dt.datetime
    retired_at: dt.datetime | None
    publish_until: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class IssuedCertificateInfo:
    """A certificate our CA issued for a key of ``purpose``, with its revocation."""

    serial: str
    purpose: str
    owner: str | None
    certificate: x509.Certificate
    revoked_at: dt.datetime | None
    revocation_reason: str | None


def published_keys(
    keystore: KeyStore, session: Session, purpose: str, *, now: dt.datetime
) -> list[PublishedKey]:
    """Every key of ``purpose`` that verifies at ``now`` (active, or retired but published)."""
    verifying = keystore.verification_keys(session, purpose, None, now=now)
    if not verifying:
        return []
    rows = session.scalars(select(KeyRecord).where(KeyRecord.kid.in_(list(verifying))))
    by_kid = {record.kid: record for record in rows}
    return [
        PublishedKey(
            kid=kid, purpose=purpose, owner=by_kid[kid].owner,
            algorithm=by_kid[kid].algorithm, public_key=public_key,
            created_at=by_kid[kid].created_at, retired_at=by_kid[kid].retired_at,
            publish_until=by_kid[kid].publish_until,
        )
        for kid, public_key in verifying.items()
    ]


def published_key(
    keystore: KeyStore, session: Session, kid: str, purpose: str, *, now: dt.datetime
) -> PublishedKey | None:
    """The key ``kid`` if it is of ``purpose`` and verifies at ``now``; else None."""
    require_aware(now)
    if not isinstance(kid, str) or not kid or len(kid) > 64:
        return None
    record = session.get(KeyRecord, kid)
    if record is None or record.purpose != purpose or not (
        record.status == ACTIVE
        or (record.status == RETIRED and record.publish_until is not None
            and record.publish_until > now)
    ):
        return None
    return PublishedKey(
        kid=kid, purpose=purpose, owner=record.owner, algorithm=record.algorithm,
        public_key=keystore.key(session, kid).public_key, created_at=record.created_at,
        retired_at=record.retired_at, publish_until=record.publish_until,
    )


def issued_certificates(session: Session, purpose: str) -> list[IssuedCertificateInfo]:
    """The certificates of every key of ``purpose`` (any status), oldest first."""
    # A certificate authenticates itself (the CA signed it), so it is read as
    # stored; the verifier checks it against the CA like any other.
    rows = session.execute(
        select(KeyRecord.kid, KeyRecord.owner, KeyRecord.certificate_der,
               IssuedCertificate.serial, IssuedCertificate.revoked_at,
               IssuedCertificate.revocation_reason)
        .join(IssuedCertificate, IssuedCertificate.kid == KeyRecord.kid)
        .where(KeyRecord.purpose == purpose)
        .order_by(KeyRecord.created_at, KeyRecord.kid)
    ).all()
    return [
        IssuedCertificateInfo(serial, purpose, owner, parse_certificate(der, kid), revoked_at,
                              reason)
        for kid, owner, der, serial, revoked_at, reason in rows
        if der is not None
    ]


def revocation_times(session: Session, serials: Iterable[int]) -> dict[int, dt.datetime | None]:
    """For each serial our CAs issued: when it was revoked, or None. Others are absent.

    This is what the CRLs at ``/pki/*.crl`` are signed from, as of now, in one query.
    """
    wanted = {format(serial, "x"): serial for serial in serials}
    if not wanted:
        return {}
    rows = session.execute(select(IssuedCertificate.serial, IssuedCertificate.revoked_at)
                           .where(IssuedCertificate.serial.in_(list(wanted))))
    return {wanted[serial]: revoked_at for serial, revoked_at in rows}


def trust_list_signer(records: KeyRecords, locations: authority.PkiLocations,
                      session: Session, *, now: dt.datetime) -> SigningKey:
    """The key that signs the trust list; created (flushed, not committed) when missing.

    The newest active key whose certificate is valid for at least
    :data:`RENEW_BEFORE` is used; otherwise a new one is made and older ones
    retire (still published for as long as their certificates last).
    Call it through :meth:`KeyStore.trust_list_key`.
    """
    for kid in records.active_kids(session, TRUST_LIST_PURPOSE, None):
        key = records.load(session, kid)
        certificate = key.certificate
        if certificate is not None and (
            certificate.not_valid_before_utc <= now
            and now + RENEW_BEFORE < certificate.not_valid_after_utc
        ):
            return key
    key = authority.create_trust_list_signer(records, session, locations, now=now,
                                             validity_days=TRUST_LIST_SIGNER_DAYS)
    for record in session.scalars(select(KeyRecord).where(
            KeyRecord.purpose == TRUST_LIST_PURPOSE, KeyRecord.status == ACTIVE,
            KeyRecord.kid != key.kid)):
        record.status = RETIRED
        record.retired_at = now
        old = records.load(session, record.kid).certificate
        record.publish_until = old.not_valid_after_utc if old is not None else now
    session.flush()
    return key
