"""Concurrent requests (SQLite and PostgreSQL): issuance never duplicates identifiers or
printed numbers; status changes at once answer 200 or 409, never a 500."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from license_vault import catalogue, departments, issuance, reading
from license_vault.demo import demo_type_definitions
from license_vault.models import License
from tests.license_vault.helpers import (
    DEMO_FIELDS,
    FOOD,
    SAMR_USCC,
    World,
    access_token,
    bearer,
    entity_id,
)
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


def _issued(world: World, count: int, first: int) -> list[str]:
    return [world.issue(FOOD, entity_id(first + n)).identifier for n in range(count)]


def _race(world: World, requests: list[tuple[str, dict[str, str]]]) -> list[tuple[int, str]]:
    """POST each (path, body) from its own thread and client, all released at once."""
    token = access_token(world.client(), world.samr)
    barrier = threading.Barrier(len(requests))

    def post(request: tuple[str, dict[str, str]]) -> tuple[int, str]:
        path, body = request
        client = world.client()
        barrier.wait()
        response = client.post(path, json=body, headers=bearer(token))
        return response.status_code, str(response.json.get("error", ""))

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(post, requests))


def _events(world: World, identifier: str) -> list[str]:
    with world.session() as session:
        license = session.scalar(select(License).where(License.identifier == identifier))
        assert license is not None
        return [event.to_status for event in reading.history(session, license)]


def test_status_changes_of_different_licenses_at_once_all_succeed(fresh_world: World) -> None:
    identifiers = _issued(fresh_world, THREADS, 600)
    answers = _race(fresh_world, [(f"/api/v1/licenses/{identifier}/status",
                                   {"status": "02", "reason": "抽检不合格"})
                                  for identifier in identifiers])
    assert answers == [(200, "")] * THREADS
    assert all(_events(fresh_world, identifier) == ["01", "02"] for identifier in identifiers)


def test_status_changes_of_one_license_at_once_answer_200_or_409_and_keep_the_history(
        fresh_world: World) -> None:
    # Revoke (final) against suspend, and two revokes: never a 500, and the
    # history holds exactly one change per 200.
    for round_, codes in enumerate((["07", "02"], ["02", "07"], ["07", "07"])):
        [identifier] = _issued(fresh_world, 1, 610 + round_)
        answers = _race(fresh_world, [(f"/api/v1/licenses/{identifier}/status",
                                       {"status": code, "reason": "现场检查"})
                                      for code in codes])
        assert set(answers) <= {(200, ""), (409, "conflict")}, answers
        assert (200, "") in answers
        history = _events(fresh_world, identifier)
        assert len(history) == 1 + answers.count((200, ""))
        with fresh_world.session() as session:
            stored = session.scalar(select(License.status)
                                    .where(License.identifier == identifier))
        assert stored == history[-1]


def test_license_types_added_at_once_are_all_added(fresh_world: World) -> None:
    # Reads decide the writes (is the code taken? which issuers are there?), as
    # in a status change; half the threads add the same type, which changes nothing.
    barrier = threading.Barrier(THREADS)
    business = demo_type_definitions()[0]

    def add(sequence: int) -> str:
        code = f"11100000000013127D{100 + sequence // 2:03d}"
        with fresh_world.session() as session:
            session.scalar(select(License.id).limit(1))  # a read, as the API's token check
            barrier.wait()
            return catalogue.add_license_type(session, {**business, "code": code},
                                              now=utcnow()).code

    with ThreadPoolExecutor(THREADS) as pool:
        added = list(pool.map(add, range(THREADS)))
    with fresh_world.session() as session:
        listed = {record.code for record in catalogue.list_types(session)}
    assert set(added) <= listed and len(set(added)) == THREADS // 2


def test_renewal_racing_a_revocation_lets_exactly_one_through(fresh_world: World) -> None:
    for round_ in range(3):
        [identifier] = _issued(fresh_world, 1, 620 + round_)
        path = f"/api/v1/licenses/{identifier}"
        answers = _race(fresh_world, [(f"{path}/versions", {"reason": "换发新证"}),
                                      (f"{path}/status", {"status": "07", "reason": "吊销"})])
        assert sorted(answers) in ([(200, ""), (409, "conflict")],
                                   [(201, ""), (409, "conflict")]), answers
        with fresh_world.session() as session:
            licenses = session.scalars(select(License)).all()
            blobs = [entry.sha256 for entry in fresh_world.vault.blobs.entries(session)]
        assert sorted(blobs) == sorted(license.pdf_sha256 for license in licenses)
