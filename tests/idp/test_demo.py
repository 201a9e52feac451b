"""``seed_demo``: a client and a person able to log in; seeding twice adds nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from idp import accounts
from idp.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ID_NUMBER, DEMO_PASSWORD, seed_demo
from idp.grants import digest
from idp.models import Client, Entity, Person
from yiwang.runtime import Runtime


def test_seed_demo_is_idempotent_and_usable(runtime: Runtime) -> None:
    with runtime.session() as session:
        lines = seed_demo(session, runtime.keystore, runtime.settings)
    assert any(DEMO_CLIENT_ID in line for line in lines)
    assert any("never use in production" in line for line in lines)
    with runtime.session() as session:
        again = seed_demo(session, runtime.keystore, runtime.settings)
    assert again == lines
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        assert session.scalar(select(func.count()).select_from(Entity)) == 1
        assert session.scalar(select(func.count()).select_from(Client)) == 1
        client = session.get(Client, DEMO_CLIENT_ID)
        assert client is not None and client.secret_hash == digest(DEMO_CLIENT_SECRET)
        person = accounts.lookup_person(session, runtime.keystore, DEMO_ID_NUMBER)
        assert person is not None and accounts.verify_password(person, DEMO_PASSWORD)
