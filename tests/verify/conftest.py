"""Fixtures for the verification tests: a real instance with issued licenses.

``verify_world`` is built once per session on its own copy of the template
instance (SQLite file or PostgreSQL database) with the vault's demo world:
two departments with real keys, the demo catalogue. ``genuine`` is one food
business license issued through the vault, with its PDF as stored. Tests
that change a license's status issue their own license; tests that revoke
certificates register their own department.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from license_vault import departments, issuance, reading
from license_vault.models import License
from tests.helpers import instance_copy
from tests.license_vault.helpers import (
    FOOD,
    ISSUER_OF,
    PHYSICIAN,
    World,
    build_world,
    demo_fields,
    entity_id,
    person_id,
)
from verify import PdfVerdict, QrVerdict, TrustList, Verifier
from yiwang.database import utcnow
from yiwang.settings import Settings


@dataclasses.dataclass(frozen=True)
class Issued:
    """A license as the vault issued it: its record and its PDF bytes."""

    license: License
    pdf: bytes

    @property
    def qr_url(self) -> str:
        return self.license.qr_url

    @property
    def identifier(self) -> str:
        return self.license.identifier


_holders = itertools.count(500)


def issue(world: World, type_code: str = FOOD, *, department: str | None = None,
          now: dt.datetime | None = None, **options: Any) -> Issued:
    """Issue a license of ``type_code`` to a new holder through the vault.

    ``department`` (a USCC) issues it instead of the type's demo issuer.
    """
    holder = person_id(next(_holders)) if type_code == PHYSICIAN else entity_id(next(_holders))
    request = issuance.IssueRequest(type_code, holder, demo_fields(type_code, holder), **options)
    with world.session() as session:
        issuer = departments.get_department(session, department or ISSUER_OF[type_code])
        license = issuance.issue(session, world.vault, department=issuer, request=request,
                                 actor="operator", now=now or utcnow())
    with world.session() as session:
        pdf = reading.read_pdf(session, world.vault.blobs, license)
    return Issued(license, pdf)


@pytest.fixture(scope="session")
def verify_world(template_instance: Settings, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("verify") / "instance"
    with instance_copy(template_instance, folder) as settings:
        built = build_world(settings)
        try:
            yield built
        finally:
            built.close()


@pytest.fixture(scope="session")
def genuine(verify_world: World) -> Issued:
    """A genuine food business license: read it, never change its status."""
    return issue(verify_world)


@pytest.fixture
def db_session(verify_world: World) -> Iterator[Session]:
    with verify_world.session() as session:
        yield session


class FreshVerifier:
    """A :class:`Verifier` on a new session for every call, as each web request has.

    A session that stays open would keep reading its first snapshot, and miss
    status changes made meanwhile.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self._trust: TrustList | None = None

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.world.session() as session:
            verifier = Verifier(session, self.world.runtime.keystore,
                                issuer=self.world.settings.issuer, trust=self._trust)
            result = getattr(verifier, method)(*args, **kwargs)
            self._trust = verifier.trust
            return result

    def verify_pdf(self, data: object, at: dt.datetime | None = None,
                   online: bool = True) -> PdfVerdict:
        verdict: PdfVerdict = self._run("verify_pdf", data, at, online)
        return verdict

    def verify_qr(self, text: object, at: dt.datetime | None = None,
                  online: bool = True) -> QrVerdict:
        verdict: QrVerdict = self._run("verify_qr", text, at, online)
        return verdict

    def verify_image(self, data: object, at: dt.datetime | None = None,
                     online: bool = True) -> QrVerdict:
        verdict: QrVerdict = self._run("verify_image", data, at, online)
        return verdict

    def offline_trust_list(self) -> TrustList:
        trust: TrustList = self._run("offline_trust_list")
        return trust


@pytest.fixture
def verifier(verify_world: World) -> FreshVerifier:
    return FreshVerifier(verify_world)


@pytest.fixture(scope="session")
def root_pem(verify_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with verify_world.session() as session:
        root = verify_world.runtime.keystore.root_certificate(session)
    path = tmp_path_factory.mktemp("root") / "root.pem"
    path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="session")
def nss_db(root_pem: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An NSS database trusting only this instance's root, for pdfsig."""
    from tests.keys.conftest import make_nss_db

    return make_nss_db(tmp_path_factory.mktemp("nss") / "db", root_pem)
