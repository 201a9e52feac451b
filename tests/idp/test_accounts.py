"""Persons, entities and agents: sealed ID numbers, Argon2id, TOTP used once."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import text
from sqlalchemy.orm import Session

from idp import accounts
from idp.errors import (
    AccountError,
    EntityExistsError,
    IdentifierError,
    PersonExistsError,
    PersonNotFoundError,
    WeakPasswordError,
)
from idp.models import Person
from tests.idp.helpers import PASSWORD, id_number
from yiwang.runtime import Runtime

NOW = dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.UTC)


def make(session: Session, runtime: Runtime, sequence: int = 1, **kwargs: object) -> Person:
    values: dict[str, object] = {"name": "赵六", "password": PASSWORD, "level": "L1"}
    values.update(kwargs)
    return accounts.create_person(session, runtime.keystore, id_number=id_number(sequence),
                                  now=NOW, **values)  # type: ignore[arg-type]


def test_id_number_is_stored_sealed_and_found_by_blind_index(session: Session,
                                                             runtime: Runtime) -> None:
    number = id_number(1)
    person = make(session, runtime)
    session.flush()
    raw = session.execute(text("SELECT * FROM idp_persons")).mappings().one()
    assert number not in str(dict(raw))
    assert raw["id_number_masked"] == number[:3] + "*" * 14 + number[-1:]
    assert accounts.lookup_person(session, runtime.keystore, number.lower()).id == person.id
    assert accounts.id_number_of(runtime.keystore, person) == number
    assert accounts.lookup_person(session, runtime.keystore, id_number(2)) is None


def test_password_is_argon2id(session: Session, runtime: Runtime) -> None:
    person = make(session, runtime)
    assert person.password_hash is not None and person.password_hash.startswith("$argon2id$")
    assert accounts.verify_password(person, PASSWORD)
    assert not accounts.verify_password(person, PASSWORD + "!")
    assert not accounts.verify_password(None, PASSWORD)


def test_upgraded_hash_keeps_a_longest_password_working(session: Session,
                                                        runtime: Runtime) -> None:
    # Typed text beyond the longest allowed password is ignored; the hash
    # written back on upgrade must be of the text that was verified, or the
    # person's real password stops working.
    longest = "p" * accounts.MAX_PASSWORD_LENGTH
    person = make(session, runtime, password=longest)
    person.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(longest)
    assert accounts.verify_password(person, longest + "typed on")
    assert person.password_hash.startswith("$argon2id$") and "t=1," not in person.password_hash
    assert accounts.verify_password(person, longest)


def test_duplicate_and_invalid_persons_are_refused(session: Session, runtime: Runtime) -> None:
    make(session, runtime)
    with pytest.raises(PersonExistsError):
        make(session, runtime)
    with pytest.raises(IdentifierError):
        accounts.create_person(session, runtime.keystore, id_number="110105194912310021",
                               name="x", password=PASSWORD, now=NOW)
    with pytest.raises(WeakPasswordError):
        make(session, runtime, 2, password="short")
    with pytest.raises(AccountError):
        make(session, runtime, 3, level="L9")
    with pytest.raises(PersonNotFoundError):
        accounts.find_person(session, runtime.keystore, id_number(4))


def test_disabled_person_cannot_log_in(session: Session, runtime: Runtime) -> None:
    person = make(session, runtime)
    person.disabled_at = NOW
    assert not accounts.verify_password(person, PASSWORD)


def test_totp_code_is_accepted_once(session: Session, runtime: Runtime) -> None:
    person = make(session, runtime)
    uri = accounts.enroll_totp(session, runtime.keystore, person, now=NOW)
    assert uri.startswith("otpauth://totp/")
    secret = accounts.totp_secret_base32(runtime.keystore, person)
    assert secret not in str(person.totp_sealed)
    totp = TOTP(base64.b32decode(secret + "=" * (-len(secret) % 8)), 6, SHA1(), 30)
    code = totp.generate(NOW.timestamp()).decode()
    assert accounts.verify_totp(session, runtime.keystore, person, code, now=NOW)
    assert not accounts.verify_totp(session, runtime.keystore, person, code, now=NOW)
    previous = totp.generate(NOW.timestamp() - 30).decode()
    assert not accounts.verify_totp(session, runtime.keystore, person, previous, now=NOW)
    later = NOW + dt.timedelta(seconds=30)
    assert accounts.verify_totp(session, runtime.keystore, person,
                                totp.generate(later.timestamp()).decode(), now=later)
    assert not accounts.verify_totp(session, runtime.keystore, person, "12345x", now=later)


def test_representations_by_role_and_expiry(session: Session, runtime: Runtime) -> None:
    representative = make(session, runtime, 1)
    agent = make(session, runtime, 2)
    entity = accounts.create_entity(session, runtime.keystore, code="91350100M000100Y43",
                                    name="示例科技有限公司",
                                    legal_rep_id_number=id_number(1), now=NOW)
    with pytest.raises(EntityExistsError):
        accounts.create_entity(session, runtime.keystore, code="91350100M000100Y43",
                               name="again", legal_rep_id_number=id_number(1), now=NOW)
    # NOW is 12:00 in China on 1 March: the authorisation holds through that day.
    accounts.add_agent(session, runtime.keystore, code=entity.uscc, id_number=id_number(2),
                       until=dt.date(2026, 3, 1), role="经办人", scope="license:apply", now=NOW)
    [own] = accounts.representations(session, representative.id, now=NOW)
    assert own.role == "legal_representative"
    [acting] = accounts.representations(session, agent.id, now=NOW)
    assert (acting.uscc, acting.role, acting.scope) == (entity.uscc, "经办人", "license:apply")
    china_midnight = dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)
    assert accounts.representations(session, agent.id, now=china_midnight) == []
    with pytest.raises(AccountError):
        accounts.add_agent(session, runtime.keystore, code=entity.uscc, id_number=id_number(2),
                           until=dt.date(2026, 2, 28), now=NOW)
