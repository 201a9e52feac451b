"""Fixtures for the identity provider: the app served for real on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from tests.idp.helpers import Live, add_client, add_person, id_number, live_server
from yiwang.settings import Settings


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    with live_server(settings) as server:
        yield server


@dataclasses.dataclass(frozen=True)
class Account:
    id_number: str
    person_id: int


@dataclasses.dataclass(frozen=True)
class Registered:
    client_id: str
    client_secret: str | None


@pytest.fixture
def person(live: Live) -> Account:
    number = id_number(1)
    return Account(number, add_person(live.runtime, number, name="王五"))


@pytest.fixture
def rp(live: Live) -> Registered:
    """A confidential first-party web client (client_secret_basic)."""
    return Registered(*add_client(live.runtime))
