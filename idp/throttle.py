"""Log-in throttling: growing delays per account and per source address.

Counters live in the database so every app node sees the same numbers. An
attempt is counted *before* the password is checked (and forgiven on
success), so a burst of parallel guesses cannot slip past the check. Delays
grow by doubling after a few free failures and are capped, and counters
forget after a quiet day: an attacker can slow a real person down but never
lock them out for good.

Account keys are keyed hashes of what was typed, whether or not such an
account exists, so throttling reveals nothing about which accounts exist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from idp.models import ThrottleCounter

__all__ = ["ACCOUNT", "ADDRESS", "Policy", "Throttle"]


@dataclasses.dataclass(frozen=True)
class Policy:
    """How many failures are free under one kind of key, and how the wait grows after."""

    prefix: str
    free_failures: int
    first_delay: dt.timedelta
    max_delay: dt.timedelta
    forget_after: dt.timedelta = dt.timedelta(hours=24)

    def delay(self, failures: int) -> dt.timedelta:
        """No delay for the first free failures, then 1×, 2×, 4×... capped."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return dt.timedelta(0)
        return min(self.first_delay * (2 ** min(beyond - 1, 30)), self.max_delay)


ACCOUNT = Policy("account", free_failures=5, first_delay=dt.timedelta(seconds=2),
                 max_delay=dt.timedelta(minutes=5))
ADDRESS = Policy("address", free_failures=30, first_delay=dt.timedelta(seconds=1),
                 max_delay=dt.timedelta(minutes=15))


class Throttle:
    """Counts attempts under keys derived with a secret (no raw IDs or addresses stored)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def key(self, policy: Policy, value: str) -> str:
        mac = hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()
        return f"{policy.prefix}:{mac}"

    def attempt(self, session: Session, keys: list[tuple[Policy, str]], *,
                now: dt.datetime) -> dt.timedelta:
        """Count one attempt under every key; the wait required first, or zero.

        Returns a positive wait (and counts nothing) while any key is blocked.
        The first statement is a write, which serialises concurrent attempts on
        both databases.
        """
        rows = []
        for policy, value in keys:
            key = self.key(policy, value)
            _insert_missing(session, key)
            row = session.scalar(select(ThrottleCounter).where(ThrottleCounter.key == key)
                                 .with_for_update().execution_options(populate_existing=True))
            assert row is not None
            if row.last_failure_at is not None and now - row.last_failure_at > policy.forget_after:
                row.failures, row.blocked_until = 0, None
            rows.append((policy, row))
        waits = [row.blocked_until - now for _, row in rows
                 if row.blocked_until is not None and row.blocked_until > now]
        if waits:
            return max(waits)
        for policy, row in rows:
            row.failures += 1
            row.last_failure_at = now
            delay = policy.delay(row.failures)
            row.blocked_until = now + delay if delay else None
        session.flush()
        return dt.timedelta(0)

    def succeeded(self, session: Session, policy: Policy, value: str) -> None:
        """Forgive the counted attempts: the account starts afresh."""
        session.execute(update(ThrottleCounter)
                        .where(ThrottleCounter.key == self.key(policy, value))
                        .values(failures=0, blocked_until=None)
                        .execution_options(synchronize_session=False))

    def forgive_one(self, session: Session, policy: Policy, value: str) -> None:
        """Undo the attempt counted for a success (the address keeps its other failures)."""
        session.execute(update(ThrottleCounter)
                        .where(ThrottleCounter.key == self.key(policy, value),
                               ThrottleCounter.failures > 0)
                        .values(failures=ThrottleCounter.failures - 1)
                        .execution_options(synchronize_session=False))


def _insert_missing(session: Session, key: str) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(ThrottleCounter).values(key=key, failures=0)
                    .on_conflict_do_nothing(index_elements=["key"]))
