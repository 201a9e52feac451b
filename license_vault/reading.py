"""Finding and reading licenses: by identifier, by file, by holder; seal and validation data.

These are the calls the verification package makes:

* :func:`find_license` (identifier) and :func:`find_by_signed_revision`
  (SHA-256 of a file's signed revision, see ``signing.signed_revision_digest``);
* :func:`license_status` — the status at a time T (``lifecycle.status_at``);
* :func:`face_data` — the face data the QR face digest covers;
* :func:`seal_record` — the SM2 seal, with what is needed to check it anywhere;
* :func:`validation_material` — the certificates and CRLs as of signing time;
* :func:`read_pdf` — the stored bytes, checked against their digest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import select
from sqlalchemy.orm import Session

from keys import sm2
from license_vault import identifiers, lifecycle
from license_vault.blobs import BlobStore
from license_vault.errors import BlobStoreError, InvalidLicenseIdentifier, NotFound
from license_vault.holders import SealingBox, holder_key
from license_vault.issuance import SEAL_USER_ID, seal_message
from license_vault.models import (
    Department,
    License,
    LicenseEvent,
    LicenseType,
    ValidationItem,
)

__all__ = [
    "SealRecord",
    "Sm2Keys",
    "ValidationMaterial",
    "face_data",
    "find_by_signed_revision",
    "find_license",
    "history",
    "holder_licenses",
    "issued_license",
    "license_status",
    "licenses_of_person_index",
    "list_licenses",
    "read_pdf",
    "seal_record",
    "validation_material",
]


class Sm2Keys(Protocol):
    """What reading a seal record needs of ``keys.KeyStore``."""

    def sm2_public_key(self, session: Session, kid: str) -> bytes: ...


def find_license(session: Session, identifier: object) -> License | None:
    """The license with this identifier (any case or spacing), or None, also for nonsense."""
    if not isinstance(identifier, str) or len(identifier) > 200:
        return None
    try:
        canonical = identifiers.validate(identifier)
    except InvalidLicenseIdentifier:
        return None
    return session.scalar(select(License).where(License.identifier == canonical))


def find_by_signed_revision(session: Session, sha256_hex: str) -> License | None:
    """The license whose issued file (signed revision) has this SHA-256, or None."""
    if not isinstance(sha256_hex, str) or len(sha256_hex) != 64:
        return None
    return session.scalar(select(License).where(License.pdf_sha256 == sha256_hex.lower()))


def issued_license(session: Session, identifier: object, department: Department) -> License:
    """A license the department issued; unknown and foreign ones raise the same NotFound."""
    license = find_license(session, identifier)
    if license is None or license.department_id != department.id:
        raise NotFound("no such license")
    return license


def license_status(session: Session, license: License,
                   at: dt.datetime) -> lifecycle.LicenseStatus | None:
    """The status at ``at``; None before the license was issued."""
    return lifecycle.status_at(session, license, at)


def face_data(license: License) -> dict[str, str]:
    """The face data (照面) as stored: field key → value."""
    return dict(license.face)


def history(session: Session, license: License) -> list[LicenseEvent]:
    return list(session.scalars(select(LicenseEvent).where(LicenseEvent.license_id == license.id)
                                .order_by(LicenseEvent.at, LicenseEvent.id)))


def predecessor_identifier(session: Session, license: License) -> str | None:
    if license.predecessor_id is None:
        return None
    return session.scalar(select(License.identifier).where(License.id == license.predecessor_id))


@dataclasses.dataclass(frozen=True)
class SealRecord:
    """The SM2 seal: ``signature`` (DER) over ``SM3(pdf) || identifier``.

    SM2 with SM3 and the default user ID 1234567812345678 (GM/T 0009).
    """

    identifier: str
    kid: str
    pdf_sm3: bytes
    signature: bytes
    public_key: bytes  # 65 bytes, 04 || X || Y
    user_id: str = SEAL_USER_ID

    @property
    def message(self) -> bytes:
        return seal_message(self.pdf_sm3, self.identifier)

    def verify(self, pdf: bytes | None = None) -> bool:
        """Whether the signature holds (and, given the file, that it is this file's)."""
        if pdf is not None and sm2.sm3(pdf) != self.pdf_sm3:
            return False
        return sm2.verify(self.public_key, self.message, self.signature,
                          self.user_id.encode("ascii"))

    def to_json(self) -> dict[str, Any]:
        r, s = decode_dss_signature(self.signature)
        return {
            "algorithm": "SM2", "hash": "SM3", "user_id": self.user_id, "kid": self.kid,
            "signed_data": "SM3(pdf) || identifier (32 bytes, then the identifier in ASCII)",
            "pdf_sm3": self.pdf_sm3.hex(), "message": self.message.hex(),
            "signature": self.signature.hex(), "signature_rs": f"{r:064x}{s:064x}",
            "public_key": self.public_key.hex(), "public_key_pem": sm2.public_key_pem(
                self.public_key),
        }


def seal_record(session: Session, keystore: Sm2Keys, license: License) -> SealRecord:
    return SealRecord(license.identifier, license.seal_kid, bytes.fromhex(license.pdf_sm3),
                      bytes(license.seal_signature),
                      keystore.sm2_public_key(session, license.seal_kid))


@dataclasses.dataclass(frozen=True)
class ValidationMaterial:
    """Certificates (signer, issuing CA, root, TSA) and CRLs (DER) as of signing time."""

    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]


def validation_material(session: Session, license: License) -> ValidationMaterial:
    found = {sha256: (kind, bytes(der)) for sha256, kind, der in session.execute(
        select(ValidationItem.sha256, ValidationItem.kind, ValidationItem.der)
        .where(ValidationItem.sha256.in_(license.validation_items)))}
    rows = [found[sha256] for sha256 in license.validation_items if sha256 in found]
    return ValidationMaterial(
        tuple(der for kind, der in rows if kind == "certificate"),
        tuple(der for kind, der in rows if kind == "crl"))


def read_pdf(session: Session, blobs: BlobStore, license: License) -> bytes:
    """The license's PDF, checked against its recorded SHA-256 (BlobStoreError otherwise)."""
    data = blobs.get(session, license.pdf_sha256)
    if len(data) != license.pdf_size:
        raise BlobStoreError(f"blob {license.pdf_sha256} has an unexpected size")
    return data


def holder_licenses(session: Session, box: SealingBox, holder_id: str) -> list[License]:
    """Every license held by this ID number or USCC (none for an invalid ID)."""
    found = holder_key(box, holder_id)
    if found is None:
        return []
    kind, key = found
    return list_licenses(session, holder_kind=kind, holder_key=key)


def licenses_of_person_index(session: Session, id_number_index: str) -> list[License]:
    """A person's licenses from their account (``idp`` Person.id_number_index)."""
    return list_licenses(session, holder_kind="person", holder_key=id_number_index)


def list_licenses(session: Session, *, holder_kind: str | None = None,
                  holder_key: str | None = None,
                  department: Department | None = None) -> list[License]:
    stmt = select(License)
    if holder_kind is not None:
        stmt = stmt.where(License.holder_kind == holder_kind)
    if holder_key is not None:
        stmt = stmt.where(License.holder_key == holder_key)
    if department is not None:
        stmt = stmt.where(License.department_id == department.id)
    return list(session.scalars(stmt.order_by(License.issued_at, License.id)))


def license_json(session: Session, keystore: Sm2Keys, license: License, *, at: dt.datetime,
                 base_url: str) -> dict[str, Any]:
    """The API and ``--json`` form of a license: metadata, status, seal, history, links."""
    license_type = session.get(LicenseType, license.type_code)
    department = session.get(Department, license.department_id)
    assert license_type is not None and department is not None
    status = lifecycle.status_at(session, license, at)
    link = f"{base_url}/api/v1/licenses/{license.identifier}"
    return {
        "identifier": license.identifier,
        "license_number": license.license_number,
        "version": license.version,
        "type": {"code": license_type.code, "name": license_type.name},
        "issuer": {"uscc": department.uscc, "name": department.name},
        "holder": {"kind": license.holder_kind, "id": license.holder_id_masked,
                   "name": license.holder_name},
        "fields": face_data(license),
        "issue_date": license.issue_date.isoformat(),
        "valid_from": license.valid_from.isoformat(),
        "valid_until": license.valid_until.isoformat() if license.valid_until else None,
        "issued_at": license.issued_at.isoformat(),
        "status": status.to_json() if status is not None else None,
        "predecessor": predecessor_identifier(session, license),
        "successor": lifecycle.successor_identifier(session, license),
        "pdf": {"sha256": license.pdf_sha256, "sm3": license.pdf_sm3, "size": license.pdf_size,
                "signing_certificate_serial": license.signing_certificate_serial},
        "seal": seal_record(session, keystore, license).to_json(),
        "history": [{"at": event.at.isoformat(), "action": event.action,
                     "from": event.from_status, "to": event.to_status, "actor": event.actor,
                     "reason": event.reason} for event in history(session, license)],
        "links": {"self": link, "pdf": f"{link}/pdf", "status": f"{link}/status",
                  "versions": f"{link}/versions", "verify": license.qr_url},
    }
