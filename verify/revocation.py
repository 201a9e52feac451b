"""Was a certificate revoked at a given moment? Answered from CRLs and the trust list.

A :class:`RevocationList` is what one issuer said at one moment about the
certificates it revoked: a CRL whose signature verified against a CA we
trust, or the revocation data of a verified trust list. The answer for a
certificate at time *t* is

* **revoked** if any list records its revocation at or before *t*;
* **good** if a list of its issuer dated at or after *t* does not (a list
  from after *t* would name every revocation before *t*);
* **unknown** otherwise: nothing was said after *t*, so nothing is proven.

Revocations after *t* do not matter: the signature timestamp proves the
signature existed before them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["Answer", "RevocationList", "from_crl", "status_at"]

# A CRL of our CAs is a few hundred bytes per thousand revocations; anything
# far beyond that is not one of theirs and is not parsed.
MAX_CRL_BYTES = 1024 * 1024


class Answer(enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class RevocationList:
    """Revoked serials of one issuer (by its DER name) as of ``this_update``."""

    issuer: bytes
    this_update: dt.datetime
    revoked: Mapping[int, dt.datetime]  # serial → revocation time
    source: str  # "embedded CRL", "served CRL", "trust list"
    # The serials the list speaks for; None for all the issuer's (a complete CRL).
    covers: frozenset[int] | None = None

    def speaks_for(self, certificate: x509.Certificate) -> bool:
        return self.issuer == certificate.issuer.public_bytes() and (
            self.covers is None or certificate.serial_number in self.covers)


def from_crl(der: bytes, authorities: Iterable[x509.Certificate],
             source: str) -> RevocationList | None:
    """The list in a DER CRL, if one of ``authorities`` signed it; None otherwise."""
    if not isinstance(der, bytes) or len(der) > MAX_CRL_BYTES:
        return None
    try:
        crl = x509.load_der_x509_crl(der)
        issuer_name = crl.issuer.public_bytes()
    except ValueError:
        return None
    for authority in authorities:
        if authority.subject.public_bytes() != issuer_name:
            continue
        public_key = authority.public_key()
        if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            continue
        try:
            if not crl.is_signature_valid(public_key):
                continue
            revoked = {entry.serial_number: entry.revocation_date_utc for entry in crl}
        except (ValueError, TypeError):
            continue
        return RevocationList(issuer_name, crl.last_update_utc, revoked, source)
    return None


@dataclasses.dataclass(frozen=True)
class Finding:
    answer: Answer
    revoked_at: dt.datetime | None = None
    source: str | None = None


def status_at(certificate: x509.Certificate, moment: dt.datetime,
              lists: Iterable[RevocationList]) -> Finding:
    """Revoked, good or unknown at ``moment``, from the lists of the certificate's issuer."""
    serial = certificate.serial_number
    proof: str | None = None
    for entry in lists:
        if not entry.speaks_for(certificate):
            continue
        revoked_at = entry.revoked.get(serial)
        if revoked_at is not None and revoked_at <= moment:
            return Finding(Answer.REVOKED, revoked_at, entry.source)
        if proof is None and entry.this_update >= moment:
            proof = entry.source
    if proof is not None:
        return Finding(Answer.GOOD, None, proof)
    return Finding(Answer.UNKNOWN)
