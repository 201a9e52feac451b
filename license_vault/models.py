"""License vault tables: departments, the catalogue, licenses, their history and bytes.

Personal data: a person holder's ID number is sealed (``holder_id_sealed``)
and found through the identity provider's keyed blind index
(``holder_key``), so a person's licenses are found from their account; an
entity holder is found by its USCC, which is public. Only masked forms are
shown. The PDF bytes live in the blob store (filesystem or the
``vault_blobs`` table), encrypted (a face can print a full ID number) and
keyed by the SHA-256 of the PDF; a license row names its blob by that digest
and is committed only after the blob is durable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.database import Base

__all__ = [
    "Department",
    "License",
    "LicenseEvent",
    "LicenseType",
    "LicenseTypeIssuer",
    "NumberCounter",
    "StoredBlob",
    "ValidationItem",
]


class Department(Base):
    """An issuing (or requesting) department: its USCC, keys and back-end client."""

    __tablename__ = "vault_departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The OAuth client (client_credentials) its back end uses; tokens name it.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Key ids at registration (rotation makes newer keys active; keys/ knows).
    signing_kid: Mapped[str] = mapped_column(String(64))
    qr_kid: Mapped[str] = mapped_column(String(64))
    sm2_kid: Mapped[str] = mapped_column(String(64))
    certificate_serial: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<Department {self.uscc} {self.name}>"


class LicenseType(Base):
    """A catalogue entry (证照目录): what a license of this type says and who issues it."""

    __tablename__ = "vault_license_types"
    __table_args__ = (
        CheckConstraint("holder_kind IN ('person', 'entity')", name="holder_kind"),
    )

    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    definer: Mapped[str] = mapped_column(String(200))
    holder_kind: Mapped[str] = mapped_column(String(6))
    # The definition as accepted (see license_vault.definitions), issuers excluded.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<LicenseType {self.code} {self.name}>"


class LicenseTypeIssuer(Base):
    """A department allowed to issue a license type."""

    __tablename__ = "vault_license_type_issuers"

    type_code: Mapped[str] = mapped_column(
        ForeignKey("vault_license_types.code", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("vault_departments.id", ondelete="CASCADE"), primary_key=True)


class NumberCounter(Base):
    """The last printed-number sequence handed out per number stem.

    A stem is the printed number without its sequence: type prefix, the
    department's region, the year and the type's number, so each
    (department region, type, year) counts on its own. Incremented with one
    ``UPDATE ... RETURNING``, which the database serialises.
    """

    __tablename__ = "vault_number_counters"

    stem: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class License(Base):
    """One issued version of a license, with everything needed to prove it later."""

    __tablename__ = "vault_licenses"
    __table_args__ = (
        UniqueConstraint("license_number", "version"),
        CheckConstraint("holder_kind IN ('person', 'entity')", name="holder_kind"),
        CheckConstraint("status IN ('01', '02', '03', '04', '05', '06', '07', '99')",
                        name="status"),
        CheckConstraint("version >= 1 AND version <= 999", name="version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    type_code: Mapped[str] = mapped_column(ForeignKey("vault_license_types.code"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("vault_departments.id"), index=True)
    # The version this one renews or changes; it is superseded by this one.
    predecessor_id: Mapped[int | None] = mapped_column(
        ForeignKey("vault_licenses.id"), unique=True)
    license_number: Mapped[str] = mapped_column(String(40))

    holder_kind: Mapped[str] = mapped_column(String(6))
    # Persons: the identity provider's blind index of the ID number; entities: the USCC.
    holder_key: Mapped[str] = mapped_column(String(64), index=True)
    holder_id_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    holder_id_masked: Mapped[str] = mapped_column(String(32))
    holder_name: Mapped[str] = mapped_column(String(200))

    # Face data (照面): field key → value as validated; what the QR face digest covers.
    face: Mapped[dict[str, str]] = mapped_column(JSON)
    face_digest: Mapped[str] = mapped_column(String(32))  # hex, 16 bytes
    issue_date: Mapped[dt.date] = mapped_column(Date)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)  # None: permanent (长期)
    issued_at: Mapped[dt.datetime]

    status: Mapped[str] = mapped_column(String(2))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[dt.datetime]

    # The signed PDF: its blob (SHA-256 of the whole file, which is the signed revision).
    pdf_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    pdf_sm3: Mapped[str] = mapped_column(String(64))
    pdf_size: Mapped[int] = mapped_column(Integer)
    signing_certificate_serial: Mapped[str] = mapped_column(String(64))
    qr_kid: Mapped[str] = mapped_column(String(64))
    qr_url: Mapped[str] = mapped_column(Text)
    # The seal record: SM2 (user ID 1234567812345678) over SM3(pdf) || identifier.
    seal_kid: Mapped[str] = mapped_column(String(64))
    seal_signature: Mapped[bytes] = mapped_column(LargeBinary)
    # Validation material as of signing time: SHA-256 of vault_validation_items rows, in
    # order (signer certificate, issuing CA, root, TSA certificate, then the CRLs).
    validation_items: Mapped[list[str]] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<License {self.identifier} {self.status}>"


class LicenseEvent(Base):
    """Who did what to a license, when and why: issuance and every status change."""

    __tablename__ = "vault_license_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("vault_licenses.id"), index=True)
    at: Mapped[dt.datetime]
    action: Mapped[str] = mapped_column(String(20))  # issued, status, superseded
    from_status: Mapped[str | None] = mapped_column(String(2))
    to_status: Mapped[str] = mapped_column(String(2))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))


class ValidationItem(Base):
    """A certificate or CRL (DER) kept as validation material; stored once by SHA-256."""

    __tablename__ = "vault_validation_items"
    __table_args__ = (CheckConstraint("kind IN ('certificate', 'crl')", name="kind"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(11))
    der: Mapped[bytes] = mapped_column(LargeBinary)


class StoredBlob(Base):
    """A blob in the database backend (several app nodes share it).

    ``data`` is the AES-256-GCM sealed PDF (see ``license_vault.blobs``);
    ``sha256``, ``sm3`` and ``size`` describe the PDF itself.
    """

    __tablename__ = "vault_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    sm3: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
