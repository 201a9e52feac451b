"""Departments: who issues licenses, with which keys, through which back-end client.

Registering a department creates its keys through the key store (a
document-signing certificate for PDFs, an ES256 key for QR payloads, an SM2
key for seal records) and an OAuth client for its back end: grant type
``client_credentials``, scopes ``licenses:issue licenses:read``. The client
secret is returned once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp import clients
from idp.errors import IdentifierError, IdpError
from idp.identifiers import uscc as uscc_codes
from keys import DepartmentKeys
from license_vault.errors import DepartmentExists, InvalidField, UnknownDepartment
from license_vault.models import Department
from license_vault.printable import unprintable
from yiwang.database import begin_write

__all__ = [
    "DEPARTMENT_SCOPES",
    "RegisteredDepartment",
    "department_by_id",
    "department_for_client",
    "get_department",
    "list_departments",
    "register_department",
]

DEPARTMENT_SCOPES = ("licenses:issue", "licenses:read")
MAX_NAME_LENGTH = 100


class DepartmentKeyStore(Protocol):
    def create_department_keys(self, session: Session, *, uscc: str, name: str,
                               now: dt.datetime) -> DepartmentKeys: ...


@dataclasses.dataclass(frozen=True)
class RegisteredDepartment:
    department: Department
    client_secret: str

    def to_json(self) -> dict[str, Any]:
        return {**department_json(self.department), "client_secret": self.client_secret}


def department_json(department: Department) -> dict[str, Any]:
    return {"uscc": department.uscc, "name": department.name,
            "client_id": department.client_id, "signing_kid": department.signing_kid,
            "qr_kid": department.qr_kid, "sm2_kid": department.sm2_kid,
            "certificate_serial": department.certificate_serial,
            "created_at": department.created_at.isoformat()}


def canonical_uscc(code: object, field: str = "uscc") -> str:
    if not isinstance(code, str):
        raise InvalidField(f"{field} must be a unified social credit code", field=field)
    try:
        return uscc_codes.validate(code)
    except IdentifierError as exc:
        raise InvalidField(f"{field}: {exc}", field=field) from None


def register_department(session: Session, keystore: DepartmentKeyStore, *, uscc: str,
                        name: str, now: dt.datetime,
                        client_secret: str | None = None) -> RegisteredDepartment:
    """Register a department with its keys and back-end client (secret shown once).

    ``client_secret`` fixes the secret (the demo only); by default it is random.
    The name is printed on every license the department issues, so it must be
    printable (:mod:`license_vault.printable`). Commits what the session has
    pending: the check that the USCC is new and the writes run in one write
    transaction (``yiwang.database.begin_write``).
    """
    code = canonical_uscc(uscc)
    name = name.strip() if isinstance(name, str) else ""
    problem = unprintable(name, on_face=True)
    if problem is not None:
        raise InvalidField(f"the department name contains {problem}", field="name")
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidField(f"a department name has 1 to {MAX_NAME_LENGTH} characters",
                           field="name")
    begin_write(session)
    if session.scalar(select(Department.id).where(Department.uscc == code)) is not None:
        raise DepartmentExists(f"a department with USCC {code} is already registered",
                               field="uscc")
    keys = keystore.create_department_keys(session, uscc=code, name=name, now=now)
    try:
        client, secret = clients.register_client(session, clients.ClientSpec(
            name=f"{name}（证照业务系统）", grant_types=["client_credentials"],
            scopes=list(DEPARTMENT_SCOPES), redirect_uris=[],
        ), now=now, secret=client_secret)
    except IdpError as exc:  # only a bug of ours could make this spec invalid
        raise InvalidField(f"the department's client could not be registered: {exc}",
                           field="name") from exc
    assert secret is not None  # client_secret_basic clients always get one
    department = Department(uscc=code, name=name, client_id=client.client_id,
                            signing_kid=keys.signing_kid, qr_kid=keys.qr_kid,
                            sm2_kid=keys.sm2_kid, certificate_serial=keys.certificate_serial,
                            created_at=now)
    session.add(department)
    session.flush()
    return RegisteredDepartment(department, secret)


def get_department(session: Session, uscc: object) -> Department:
    """The department with this USCC, or :class:`UnknownDepartment`."""
    code = canonical_uscc(uscc, "department")
    department = session.scalar(select(Department).where(Department.uscc == code))
    if department is None:
        raise UnknownDepartment(f"no department has USCC {code}")
    return department


def department_for_client(session: Session, client_id: str) -> Department | None:
    """The department whose back end is this OAuth client, if any."""
    return session.scalar(select(Department).where(Department.client_id == client_id))


def list_departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.uscc)))


def department_by_id(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise UnknownDepartment(f"no department has id {department_id}")
    return department
