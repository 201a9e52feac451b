"""Throttling: growing delays, capped, forgotten after a quiet day, shared through the DB."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from idp.models import ThrottleCounter
from idp.throttle import ACCOUNT, ADDRESS, Throttle

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ZERO = dt.timedelta(0)


def test_delays_grow_after_free_failures_and_are_capped() -> None:
    assert [ACCOUNT.delay(n).total_seconds() for n in range(1, 10)] == [
        0, 0, 0, 0, 0, 2, 4, 8, 16]
    assert ACCOUNT.delay(50) == dt.timedelta(minutes=5)
    assert ADDRESS.delay(1000) == dt.timedelta(minutes=15)


def test_blocked_account_waits_and_blocked_attempts_do_not_count(session: Session) -> None:
    throttle = Throttle(b"k" * 32)
    keys = [(ACCOUNT, "110105198001010016")]
    for _ in range(6):
        assert throttle.attempt(session, keys, now=NOW) == ZERO
    assert throttle.attempt(session, keys, now=NOW) == dt.timedelta(seconds=2)
    assert throttle.attempt(session, keys, now=NOW + dt.timedelta(seconds=1)) == \
        dt.timedelta(seconds=1)
    assert throttle.attempt(session, keys, now=NOW + dt.timedelta(seconds=2)) == ZERO
    row = session.get(ThrottleCounter, throttle.key(ACCOUNT, "110105198001010016"))
    assert row is not None and row.failures == 7
    assert "110105198001010016" not in row.key


def test_success_resets_and_a_quiet_day_forgets(session: Session) -> None:
    throttle = Throttle(b"k" * 32)
    keys = [(ACCOUNT, "a")]
    for _ in range(8):
        throttle.attempt(session, keys, now=NOW)
    throttle.succeeded(session, ACCOUNT, "a")
    assert throttle.attempt(session, keys, now=NOW) == ZERO
    for _ in range(10):
        throttle.attempt(session, keys, now=NOW + dt.timedelta(hours=1))
    assert throttle.attempt(session, keys, now=NOW + dt.timedelta(hours=1)) > ZERO
    assert throttle.attempt(session, keys, now=NOW + dt.timedelta(hours=26)) == ZERO


def test_an_address_is_throttled_across_accounts(session: Session) -> None:
    throttle = Throttle(b"k" * 32)
    for n in range(30):
        assert throttle.attempt(session, [(ACCOUNT, f"user{n}"), (ADDRESS, "203.0.113.9")],
                                now=NOW) == ZERO
    assert throttle.attempt(session, [(ACCOUNT, "user31"), (ADDRESS, "203.0.113.9")],
                            now=NOW) == ZERO
    assert throttle.attempt(session, [(ACCOUNT, "user32"), (ADDRESS, "203.0.113.9")],
                            now=NOW) > ZERO
    assert throttle.attempt(session, [(ACCOUNT, "user33"), (ADDRESS, "198.51.100.1")],
                            now=NOW) == ZERO
