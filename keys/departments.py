"""A department's keys: PDF signing (with certificate), QR signing, SM2.

A department is known to the key store only by its USCC (the ``owner`` of its
keys) and the name its certificate carries. :class:`DepartmentKeys` names a
department's keys (what registration records); :class:`DepartmentMaterials`
holds them parsed, with the TSA key and the pyHanko objects, for signing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps import DummyTimeStamper
from sqlalchemy.orm import Session
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError

from . import authority
from .errors import KeyStoreError
from .material import Algorithm, SigningKey
from .models import Purpose
from .records import KeyRecords


@dataclasses.dataclass(frozen=True)
class DepartmentKeys:
    """The kids of a department's active keys and its certificate serial."""

    uscc: str
    signing_kid: str  # dept-signing: P-256 with a document-signing certificate
    qr_kid: str  # dept-qr: ES256
    sm2_kid: str  # dept-sm2: SM2
    certificate_serial: str  # hex, of the document-signing certificate


@dataclasses.dataclass(frozen=True)
class DepartmentMaterials:
    """A department's active keys and the TSA's, as :meth:`KeyStore.department_materials`
    loads them together (one query) to sign a license."""

    uscc: str
    signing: SigningKey  # dept-signing, with its document-signing certificate
    qr: SigningKey  # dept-qr: ES256
    sm2: SigningKey  # dept-sm2: SM2
    tsa: SigningKey  # the service's time-stamping key, with its certificate
    signer: SimpleSigner  # pyHanko signer of ``signing``, embedding issuing CA and root
    timestamper: DummyTimeStamper  # in-process RFC 3161 stamper signing with ``tsa``


def canonical_uscc(uscc: str) -> str:
    """The USCC in canonical form, or :class:`KeyStoreError` if it is not one."""
    try:
        return stdnum_uscc.validate(uscc)
    except ValidationError as exc:
        raise KeyStoreError(f"{uscc!r} is not a valid unified social credit code: {exc}") from None


def create_department_keys(
    records: KeyRecords,
    session: Session,
    where: authority.PkiLocations,
    *,
    uscc: str,
    name: str,
    now: dt.datetime,
) -> DepartmentKeys:
    """Create whichever of the department's three keys it lacks.

    Idempotent per USCC: a key that is already active is kept, so calling
    again (even with another name) changes nothing. After a revocation or a
    lapse the missing key is created afresh.
    """
    uscc = canonical_uscc(uscc)
    name = name.strip()
    if not name:
        raise KeyStoreError("a department needs a name for its certificate")
    signing_kids = records.active_kids(session, Purpose.DEPT_SIGNING, uscc)
    if signing_kids:
        signing = records.load(session, signing_kids[0])
    else:
        signing = authority.create_department_signing(
            records, session, where, uscc=uscc, name=name, now=now
        )
    qr_kids = records.active_kids(session, Purpose.DEPT_QR, uscc)
    qr_kid = qr_kids[0] if qr_kids else records.create(
        session, Purpose.DEPT_QR, Algorithm.ES256, uscc, now=now
    ).kid
    sm2_kids = records.active_kids(session, Purpose.DEPT_SM2, uscc)
    sm2_kid = sm2_kids[0] if sm2_kids else records.create(
        session, Purpose.DEPT_SM2, Algorithm.SM2, uscc, now=now
    ).kid
    return DepartmentKeys(
        uscc=uscc,
        signing_kid=signing.kid,
        qr_kid=qr_kid,
        sm2_kid=sm2_kid,
        certificate_serial=format(authority.certificate_of(signing).serial_number, "x"),
    )
