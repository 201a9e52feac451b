"""Persons and entities: creation, passwords, TOTP, and whom a person may act for.

A person's ID number is sealed under a key derived from the master key and
found through a keyed blind index; only its masked form is ever shown.
Passwords are Argon2id hashes. TOTP secrets (RFC 6238) are sealed too, and a
code is accepted at most once.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hmac
import secrets
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from idp.errors import (
    AccountError,
    EntityExistsError,
    EntityNotFoundError,
    PersonExistsError,
    PersonNotFoundError,
    WeakPasswordError,
)
from idp.identifiers import ric, uscc
from idp.identifiers.ric import CHINA_TIME
from idp.models import LEVELS, Entity, EntityAgent, Person

__all__ = [
    "Acting",
    "SecretBox",
    "add_agent",
    "china_date",
    "create_entity",
    "create_person",
    "enroll_totp",
    "find_entity",
    "find_person",
    "id_number_of",
    "lookup_index",
    "lookup_person",
    "may_act_for",
    "representations",
    "set_password",
    "totp_secret_base32",
    "verify_password",
    "verify_totp",
]

ID_NUMBER_INDEX = "idp id-number index"
ID_NUMBER_SEAL = "idp id-number seal"
TOTP_SEAL = "idp totp seal"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_ISSUER = "一网 Yiwang"

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


class SecretBox(Protocol):
    """What the key store offers for personal data (see ``keys.secrets``)."""

    def seal(self, label: str, plaintext: bytes, context: bytes = b"") -> bytes: ...
    def unseal(self, label: str, sealed: bytes, context: bytes = b"") -> bytes: ...
    def blind_index(self, label: str, value: str) -> str: ...
    def derive_secret(self, label: str) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class Acting:
    """An entity a person may act for, and in which role."""

    entity_id: int
    uscc: str
    name: str
    role: str  # legal_representative, or the agent's role
    scope: str  # "*" for a legal representative

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def china_date(now: dt.datetime) -> dt.date:
    """The calendar date in China at ``now`` (agent authorisations end on a date there)."""
    return now.astimezone(CHINA_TIME).date()


# --- persons ------------------------------------------------------------------------------


def _index(box: SecretBox, id_number: str) -> str:
    return box.blind_index(ID_NUMBER_INDEX, id_number)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def create_person(session: Session, box: SecretBox, *, id_number: str, name: str,
                  password: str | None, level: str = "L1", now: dt.datetime) -> Person:
    """A new person; the ID number is validated, sealed and indexed."""
    canonical = ric.validate(id_number)
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("a name has 1 to 100 characters")
    if level not in LEVELS:
        raise AccountError(f"level must be one of {', '.join(LEVELS)}")
    index = _index(box, canonical)
    if session.scalar(select(Person.id).where(Person.id_number_index == index)) is not None:
        raise PersonExistsError(f"a person with ID number {ric.mask(canonical)} already exists")
    if password is not None:
        _check_password(password)
    person = Person(
        subject=secrets.token_urlsafe(24),
        id_number_index=index,
        id_number_sealed=box.seal(ID_NUMBER_SEAL, canonical.encode(), b"person"),
        id_number_masked=ric.mask(canonical),
        name=name,
        level=level,
        password_hash=_hasher.hash(password) if password is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    session.flush()
    return person


def lookup_index(box: SecretBox, id_number: str) -> str | None:
    """The blind index of an ID number, or None if it is not a valid one."""
    try:
        return _index(box, ric.validate(id_number))
    except ValueError:
        return None


def _person_by_index(session: Session, index: str) -> Person | None:
    return session.scalar(select(Person).where(Person.id_number_index == index))


def lookup_person(session: Session, box: SecretBox, id_number: str) -> Person | None:
    """The person with this ID number, or None (also for malformed input)."""
    index = lookup_index(box, id_number)
    return _person_by_index(session, index) if index is not None else None


def find_person(session: Session, box: SecretBox, id_number: str) -> Person:
    """Like :func:`lookup_person`, raising :class:`PersonNotFoundError` (CLI use).

    A malformed ID number raises its :class:`~idp.errors.IdentifierError`.
    """
    canonical = ric.validate(id_number)
    person = _person_by_index(session, _index(box, canonical))
    if person is None:
        raise PersonNotFoundError(f"no person has ID number {ric.mask(canonical)}")
    return person


def id_number_of(box: SecretBox, person: Person) -> str:
    """The person's ID number in clear: only for the ``id_number`` claim."""
    return box.unseal(ID_NUMBER_SEAL, person.id_number_sealed, b"person").decode()


def set_password(session: Session, person: Person, password: str, *, now: dt.datetime) -> None:
    """Replace the person's password (length rules as at creation)."""
    _check_password(password)
    person.password_hash = _hasher.hash(password)
    person.updated_at = now
    session.flush()


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(person: Person | None, password: str) -> bool:
    """Whether ``password`` is the person's; as slow for unknown persons as for known.

    Only the first :data:`MAX_PASSWORD_LENGTH` characters count (no stored
    password is longer). An upgraded hash (new Argon2 parameters) is written
    back on success, of exactly the text that was verified.
    """
    candidate = password[:MAX_PASSWORD_LENGTH]
    if person is None or person.password_hash is None or person.disabled_at is not None:
        try:
            _hasher.verify(_dummy_hash(), candidate)
        except VerificationError:
            pass
        return False
    try:
        _hasher.verify(person.password_hash, candidate)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(person.password_hash):
        person.password_hash = _hasher.hash(candidate)
    return True


# --- TOTP ---------------------------------------------------------------------------------


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_STEP, enforce_key_length=True)


def _totp_context(person: Person) -> bytes:
    """Sealed TOTP secrets are bound to their person: a copied column does not unseal."""
    return str(person.id).encode()


def _totp_secret(box: SecretBox, person: Person) -> bytes:
    assert person.totp_sealed is not None
    return box.unseal(TOTP_SEAL, person.totp_sealed, _totp_context(person))


def enroll_totp(session: Session, box: SecretBox, person: Person, *, now: dt.datetime) -> str:
    """Give the person a new TOTP secret; returns the ``otpauth://`` provisioning URI."""
    secret = secrets.token_bytes(20)
    person.totp_sealed = box.seal(TOTP_SEAL, secret, _totp_context(person))
    person.totp_last_step = None
    person.updated_at = now
    session.flush()
    return _totp(secret).get_provisioning_uri(person.id_number_masked, TOTP_ISSUER)


def totp_secret_base32(box: SecretBox, person: Person) -> str:
    """The enrolled secret in base32, for authenticator apps without QR scanning."""
    return base64.b32encode(_totp_secret(box, person)).decode().rstrip("=")


def verify_totp(session: Session, box: SecretBox, person: Person, code: str, *,
                now: dt.datetime) -> bool:
    """Accept a code of the current step or one step either side, once only.

    Recording the step is a conditional UPDATE, so two simultaneous uses of
    one code cannot both succeed, on any node.
    """
    if person.totp_sealed is None or len(code) != TOTP_DIGITS or not code.isascii() \
            or not code.isdigit():
        return False
    totp = _totp(_totp_secret(box, person))
    current = int(now.timestamp()) // TOTP_STEP
    for step in (current - 1, current, current + 1):
        expected = totp.generate(step * TOTP_STEP)
        if hmac.compare_digest(expected, code.encode()):
            result = session.execute(
                update(Person)
                .where(Person.id == person.id,
                       or_(Person.totp_last_step.is_(None), Person.totp_last_step < step))
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]
    return False


# --- entities -----------------------------------------------------------------------------


def create_entity(session: Session, box: SecretBox, *, code: str, name: str,
                  legal_rep_id_number: str, now: dt.datetime) -> Entity:
    """A new entity; the USCC is validated and the legal representative must exist."""
    canonical = uscc.validate(code)
    name = name.strip()
    if not name or len(name) > 200:
        raise AccountError("an entity name has 1 to 200 characters")
    if session.scalar(select(Entity.id).where(Entity.uscc == canonical)) is not None:
        raise EntityExistsError(f"an entity with USCC {canonical} already exists")
    representative = find_person(session, box, legal_rep_id_number)
    entity = Entity(uscc=canonical, name=name, legal_rep_id=representative.id, created_at=now)
    session.add(entity)
    session.flush()
    return entity


def find_entity(session: Session, code: str) -> Entity:
    """The entity with this USCC, or :class:`EntityNotFoundError`."""
    canonical = uscc.validate(code)
    entity = session.scalar(select(Entity).where(Entity.uscc == canonical))
    if entity is None:
        raise EntityNotFoundError(f"no entity has USCC {canonical}")
    return entity


def add_agent(session: Session, box: SecretBox, *, code: str, id_number: str,
              until: dt.date, role: str = "agent", scope: str = "*",
              now: dt.datetime) -> EntityAgent:
    """Authorise a person to act for an entity until a date (re-adding updates it)."""
    entity = find_entity(session, code)
    person = find_person(session, box, id_number)
    if until < china_date(now):
        raise AccountError("the authorisation would already have ended")
    agent = session.scalar(select(EntityAgent).where(
        EntityAgent.entity_id == entity.id, EntityAgent.person_id == person.id))
    if agent is None:
        agent = EntityAgent(entity_id=entity.id, person_id=person.id, created_at=now)
        session.add(agent)
    agent.role, agent.scope, agent.valid_until, agent.revoked_at = role, scope, until, None
    session.flush()
    return agent


def representations(session: Session, person_id: int, *, now: dt.datetime) -> list[Acting]:
    """Every entity the person may act for today: as legal representative or agent."""
    today = china_date(now)
    options: dict[int, Acting] = {}
    for entity in session.scalars(
            select(Entity).where(Entity.legal_rep_id == person_id, Entity.disabled_at.is_(None))
            .order_by(Entity.name)):
        options[entity.id] = Acting(entity.id, entity.uscc, entity.name,
                                    "legal_representative", "*")
    rows = session.execute(
        select(Entity, EntityAgent).join(EntityAgent, EntityAgent.entity_id == Entity.id)
        .where(EntityAgent.person_id == person_id, EntityAgent.revoked_at.is_(None),
               EntityAgent.valid_until >= today, Entity.disabled_at.is_(None))
        .order_by(Entity.name))
    for entity, agent in rows:
        options.setdefault(entity.id, Acting(entity.id, entity.uscc, entity.name,
                                             agent.role, agent.scope))
    return list(options.values())


def may_act_for(session: Session, person_id: int, entity_id: int, *,
                now: dt.datetime) -> Acting | None:
    """The current authorisation to act for one entity, if it still holds."""
    for option in representations(session, person_id, now=now):
        if option.entity_id == entity_id:
            return option
    return None
