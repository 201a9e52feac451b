"""Concurrent issuance never duplicates identifiers or printed numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from license_vault import departments, issuance
from license_vault.models import License
from tests.license_vault.helpers import DEMO_FIELDS, FOOD, SAMR_USCC, World, entity_id
from yiwang.database import utcnow

THREADS = 8


def test_concurrent_issuance_never_duplicates_identifiers_or_numbers(fresh_world: World) -> None:
    barrier = threading.Barrier(THREADS)

    def issue(sequence: int) -> tuple[str, str]:
        with fresh_world.session() as session:
            department = departments.get_department(session, SAMR_USCC)
            barrier.wait()
            license: License = issuance.issue(
                session, fresh_world.vault, department=department, actor="operator",
                now=utcnow(), request=issuance.IssueRequest(FOOD, entity_id(500 + sequence),
                                                            DEMO_FIELDS[FOOD]))
            return license.identifier, license.license_number

    with ThreadPoolExecutor(THREADS) as pool:
        issued = list(pool.map(issue, range(THREADS)))
    identifiers = {identifier for identifier, _ in issued}
    numbers = sorted(number for _, number in issued)
    assert len(identifiers) == THREADS and len(set(numbers)) == THREADS
    assert [int(number[-6:]) for number in numbers] == list(range(1, THREADS + 1))
    assert fresh_world.license_count() == THREADS
