"""The license catalogue (证照目录): license types and the departments that issue them.

Definitions are parsed and face data checked by :mod:`license_vault.definitions`;
this module keeps the accepted definitions and their issuers in the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from license_vault import identifiers
from license_vault.definitions import (
    FIELD_TYPES,
    FieldSpec,
    TypeSpec,
    parse_definition,
    read_stored_definition,
)
from license_vault.errors import (
    Conflict,
    InvalidLicenseIdentifier,
    LicenseTypeExists,
    UnknownDepartment,
    UnknownType,
)
from license_vault.models import Department, LicenseType, LicenseTypeIssuer
from yiwang.database import begin_write

ADD_ATTEMPTS = 3  # a lost race on PostgreSQL is retried; each retry sees the winner's rows

__all__ = [
    "FIELD_TYPES",
    "FieldSpec",
    "TypeSpec",
    "add_license_type",
    "get_type",
    "issuers_of",
    "list_types",
    "parse_definition",
    "type_for_issuer",
    "type_spec",
]


# --- the catalogue in the database ----------------------------------------------------------


def add_license_type(session: Session, definition: object, *, now: dt.datetime) -> LicenseType:
    """Add a license type (flushed, not committed); the same definition again changes nothing.

    Every issuer must be a registered department. A different definition
    under an existing code is refused (:class:`LicenseTypeExists`); issuers
    named anew for an existing identical definition are added. The reads
    that decide the writes run in a write transaction
    (``yiwang.database.begin_write``): on SQLite a read snapshot cannot
    become a write once another connection has committed. On PostgreSQL two
    requests adding the same type or issuer at once meet the primary key;
    the loser reads again and finds the other's rows.
    """
    spec = parse_definition(definition)
    for _ in range(ADD_ATTEMPTS):
        begin_write(session)
        try:
            return _add(session, spec, now)
        except IntegrityError:
            session.rollback()
    raise Conflict(f"license type {spec.code} kept changing while it was being added; send "
                   "the definition again", field="code")


def _add(session: Session, spec: TypeSpec, now: dt.datetime) -> LicenseType:
    departments = _departments(session, spec.issuers)
    existing = session.get(LicenseType, spec.code)
    if existing is not None:
        if existing.definition != spec.definition():
            raise LicenseTypeExists(f"license type {spec.code} ({existing.name}) already exists "
                                    "with another definition", field="code")
        record = existing
    else:
        record = LicenseType(code=spec.code, name=spec.name, definer=spec.definer,
                             holder_kind=spec.holder_kind, definition=spec.definition(),
                             created_at=now)
        session.add(record)
        session.flush()
    allowed = set(session.scalars(select(LicenseTypeIssuer.department_id)
                                  .where(LicenseTypeIssuer.type_code == spec.code)))
    for department in departments:
        if department.id not in allowed:  # also when the definition names it twice
            session.add(LicenseTypeIssuer(type_code=spec.code, department_id=department.id))
            allowed.add(department.id)
    session.flush()
    return record


def _departments(session: Session, usccs: Sequence[str]) -> list[Department]:
    found = []
    for index, uscc in enumerate(usccs):
        department = session.scalar(select(Department).where(Department.uscc == uscc))
        if department is None:
            raise UnknownDepartment(f"issuers[{index}]: no department has USCC {uscc[:18]!r} "
                                    "(register it with yiwang department add)",
                                    field=f"issuers[{index}]")
        found.append(department)
    return found


def get_type(session: Session, code: object) -> LicenseType:
    """The catalogue entry with this code, or :class:`UnknownType`."""
    canonical = _type_code(code)
    record = session.get(LicenseType, canonical)
    if record is None:
        raise UnknownType(f"no license type has the code {canonical}")
    return record


def type_for_issuer(session: Session, code: object, department_id: int) -> tuple[TypeSpec, bool]:
    """The spec of the type with this code (issuers not included) and whether the
    department may issue it, in one query; :class:`UnknownType` as :func:`get_type`."""
    canonical = _type_code(code)
    row = session.execute(_TYPE_FOR_ISSUER, {"code": canonical,
                                             "department_id": department_id}).first()
    if row is None:
        raise UnknownType(f"no license type has the code {canonical}")
    definition, issuer = row
    return _spec(definition), issuer is not None


_TYPE_FOR_ISSUER = (
    select(LicenseType.definition, LicenseTypeIssuer.department_id)
    .outerjoin(LicenseTypeIssuer, and_(
        LicenseTypeIssuer.type_code == LicenseType.code,
        LicenseTypeIssuer.department_id == bindparam("department_id")))
    .where(LicenseType.code == bindparam("code")))


def _type_code(code: object) -> str:
    if not isinstance(code, str) or not code.strip():
        raise UnknownType("type is required: the code of a license type")
    try:
        return identifiers.validate_type_code(code)
    except InvalidLicenseIdentifier as exc:
        raise UnknownType(f"type {code[:30]!r} is not a license type code: {exc.message}") \
            from None


def issuers_of(session: Session, code: str) -> tuple[str, ...]:
    return tuple(session.scalars(
        select(Department.uscc).join(LicenseTypeIssuer,
                                     LicenseTypeIssuer.department_id == Department.id)
        .where(LicenseTypeIssuer.type_code == code).order_by(Department.uscc)))


def type_spec(session: Session, record: LicenseType, *, with_issuers: bool = True) -> TypeSpec:
    """The :class:`TypeSpec` of a catalogue entry, issuers included unless not wanted."""
    spec = _spec(record.definition)
    if not with_issuers:
        return spec
    return dataclasses.replace(spec, issuers=issuers_of(session, record.code))


def _spec(definition: dict[str, Any]) -> TypeSpec:
    return _parsed(json.dumps(definition, sort_keys=True, ensure_ascii=False))


@functools.lru_cache(maxsize=256)
def _parsed(definition: str) -> TypeSpec:
    # Stored definitions were accepted once; parsing one per issuance is wasted work.
    return read_stored_definition(json.loads(definition))


def list_types(session: Session) -> list[LicenseType]:
    return list(session.scalars(select(LicenseType).order_by(LicenseType.code)))
