"""Key store tables: key records, issued certificates, key store metadata.

Private keys are stored only wrapped (see :mod:`keys.wrapping`). A record is
immutable once written except for its status fields: retiring a key sets
``status``, ``retired_at`` and ``publish_until``, nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.database import Base

ACTIVE = "active"
RETIRED = "retired"


class Purpose(enum.StrEnum):
    """What a key is for; stored in ``keys.purpose``."""

    ROOT_CA = "root-ca"
    ISSUING_CA = "issuing-ca"
    TSA = "tsa"
    IDP_TOKEN = "idp-token"  # ID and access tokens (RS256 and ES256)
    DEPT_SIGNING = "dept-signing"  # a department's license PDFs (P-256 + certificate)
    DEPT_QR = "dept-qr"  # a department's QR payloads (ES256)
    DEPT_SM2 = "dept-sm2"  # a department's SM2 signatures
    TRUST_LIST = "trust-list"  # the published trust list (ES256 + certificate), nothing else


class KeyRecord(Base):
    """One key pair: public part in clear, private part wrapped."""

    __tablename__ = "keys"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        Index("ix_keys_purpose_owner_status", "purpose", "owner", "status"),
    )

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Looked up through ix_keys_purpose_owner_status (purpose is its leading column).
    purpose: Mapped[str] = mapped_column(String(32))
    # The USCC of the department that owns the key; NULL for service keys.
    owner: Mapped[str | None] = mapped_column(String(18))
    algorithm: Mapped[str] = mapped_column(String(16))
    # SubjectPublicKeyInfo DER; for SM2 the raw point 04||X||Y.
    public_der: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_private: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(8), default=ACTIVE)
    created_at: Mapped[dt.datetime]
    retired_at: Mapped[dt.datetime | None]
    # A retired key still verifies and is published until this instant.
    publish_until: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<KeyRecord {self.kid} {self.purpose} {self.algorithm} {self.status}>"


class IssuedCertificate(Base):
    """Every certificate our CAs issued, with its revocation state."""

    __tablename__ = "issued_certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # lower-case hex
    issuer_kid: Mapped[str] = mapped_column(ForeignKey("keys.kid"), index=True)
    subject: Mapped[str] = mapped_column(String(512))
    kid: Mapped[str | None] = mapped_column(ForeignKey("keys.kid"))
    not_before: Mapped[dt.datetime]
    not_after: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    # RFC 5280 CRLReason name, e.g. keyCompromise; NULL means unspecified.
    revocation_reason: Mapped[str | None] = mapped_column(String(32))

    def __repr__(self) -> str:
        return f"<IssuedCertificate {self.serial} {self.subject}>"


class KeyStoreMeta(Base):
    """Named values about the key store itself (the master-key check value)."""

    __tablename__ = "keystore_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
