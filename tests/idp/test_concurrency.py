"""Simultaneous use of single-use things on PostgreSQL: one winner, never two live branches.

Skipped on SQLite (one writer at a time makes the race impossible there); run
with ``YIWANG_TEST_DATABASE_URL`` set.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from idp.models import Grant, RefreshToken
from tests.helpers import POSTGRES_URL
from tests.idp.conftest import Registered
from tests.idp.helpers import Live, add_client, add_person, id_number, live_server
from tests.idp.test_token import code_request, get_code, secret_auth
from yiwang.settings import Settings

pytestmark = pytest.mark.skipif(POSTGRES_URL is None, reason="needs PostgreSQL")

RACERS = 8


def race(live: Live, rp: Registered, data: dict[str, str]) -> list[requests.Response]:
    barrier = threading.Barrier(RACERS)

    def send(_: int) -> requests.Response:
        barrier.wait()
        return requests.post(live.url + "/token", data=data, auth=secret_auth(rp),  # type: ignore
                             timeout=30)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(send, range(RACERS)))


def live_tokens(live: Live) -> int:
    with live.session() as session:
        return session.scalar(
            select(func.count()).select_from(RefreshToken).join(Grant)
            .where(RefreshToken.rotated_at.is_(None), Grant.revoked_at.is_(None))) or 0


def first_tokens(live: Live) -> tuple[Registered, dict[str, str]]:
    number = id_number(11)
    person_id = add_person(live.runtime, number)
    rp = Registered(*add_client(live.runtime))
    from tests.idp.conftest import Account

    code, verifier = get_code(live, Account(number, person_id), rp)
    issued = requests.post(live.url + "/token", data=code_request(code, verifier),
                           auth=secret_auth(rp), timeout=5).json()  # type: ignore[arg-type]
    return rp, issued


@pytest.mark.parametrize("grace", [0, 10])
def test_simultaneous_refreshes_leave_at_most_one_live_token(settings: Settings,
                                                             grace: int) -> None:
    with live_server(settings, refresh_grace_seconds=grace) as live:
        rp, issued = first_tokens(live)
        answers = race(live, rp, {"grant_type": "refresh_token",
                                  "refresh_token": issued["refresh_token"]})
        statuses = sorted(answer.status_code for answer in answers)
        assert set(statuses) <= {200, 400}
        assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
        assert live_tokens(live) <= 1
        if grace == 0:
            # The first use wins; the others are reuse, which revokes the family.
            assert statuses.count(200) <= 1
            assert live_tokens(live) == 0
        winners = [a.json()["refresh_token"] for a in answers if a.status_code == 200]
        usable = [token for token in winners if requests.post(
            live.url + "/token", auth=secret_auth(rp), timeout=5,  # type: ignore[arg-type]
            data={"grant_type": "refresh_token", "refresh_token": token}).status_code == 200]
        assert len(usable) <= 1


def test_simultaneous_code_redemptions_issue_once(settings: Settings) -> None:
    with live_server(settings) as live:
        number = id_number(12)
        person_id = add_person(live.runtime, number)
        rp = Registered(*add_client(live.runtime))
        from tests.idp.conftest import Account

        code, verifier = get_code(live, Account(number, person_id), rp)
        answers = race(live, rp, code_request(code, verifier))
        assert [a.status_code for a in answers].count(200) <= 1
        assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code != 200)
        # Every loser was a replay: the grant is revoked, so no token from it lives.
        assert live_tokens(live) == 0
