"""Helpers for the license vault tests: the demo world, holders, tokens, external tools."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp import clients
from idp.identifiers import ric, uscc
from license_vault import departments, issuance
from license_vault.blobs import open_blob_store
from license_vault.demo import DEMO_LICENSES, demo_type_definitions
from license_vault.models import License
from tests.helpers import issuer_client
from yiwang.app import create_app
from yiwang.database import utcnow
from yiwang.runtime import Runtime
from yiwang.settings import Settings

BUSINESS = "11100000000013127D001"
FOOD = "11100000000013127D002"
PHYSICIAN = "1110000000001930X6001"
SAMR_USCC = "113501000031763279"
HEALTH_USCC = "11350100003178197K"
# The demo face data of each type, keyed by type code.
DEMO_FIELDS: dict[str, dict[str, str]] = {code: fields for _, code, _, fields in DEMO_LICENSES}
ISSUER_OF = {BUSINESS: SAMR_USCC, FOOD: SAMR_USCC, PHYSICIAN: HEALTH_USCC}


def person_id(sequence: int, birth: str = "19800101", region: str = "350102") -> str:
    """A valid resident ID number, distinct per sequence."""
    body = f"{region}{birth}{sequence:03d}"
    return body + ric.calc_check_digit(body)


def entity_id(sequence: int, region: str = "350100") -> str:
    """A valid USCC of a company (91...), distinct per sequence."""
    body = f"{sequence:08d}"
    partial = f"91{region}{body}{uscc.calc_organisation_check_digit(body)}"
    return partial + uscc.calc_check_digit(partial)


def demo_fields(type_code: str, holder: str) -> dict[str, str]:
    """The demo face data of a type for ``holder``: a physician's sex and birth date are
    those in the ID number, as the vault requires."""
    fields = dict(DEMO_FIELDS[type_code])
    if type_code == PHYSICIAN:
        fields["sex"] = "男" if ric.is_male(holder) else "女"
        fields["birth_date"] = ric.birth_date(holder).isoformat()
    return fields


def holder_for(type_code: str, sequence: int) -> str:
    return person_id(sequence) if type_code == PHYSICIAN else entity_id(sequence)


@dataclasses.dataclass(frozen=True)
class DepartmentInfo:
    uscc: str
    name: str
    client_id: str
    client_secret: str


@dataclasses.dataclass
class World:
    """An instance with two departments and the demo catalogue, plus ways in."""

    settings: Settings
    runtime: Runtime
    vault: issuance.Vault
    samr: DepartmentInfo
    health: DepartmentInfo
    _app: Flask | None = None

    @property
    def app(self) -> Flask:
        if self._app is None:
            self._app = create_app(self.settings)
        return self._app

    def client(self) -> FlaskClient:
        return issuer_client(self.app)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.runtime.session() as session:
            yield session

    def department(self, uscc_code: str) -> DepartmentInfo:
        return self.samr if uscc_code == self.samr.uscc else self.health

    def issue(self, type_code: str, holder: str, fields: Mapping[str, Any] | None = None,
              **options: Any) -> License:
        """Issue through the service as an operator of the type's demo issuer."""
        now = options.pop("now", None) or utcnow()
        request = issuance.IssueRequest(type_code, holder, dict(
            demo_fields(type_code, holder) if fields is None else fields), **options)
        with self.session() as session:
            department = departments.get_department(session, ISSUER_OF[type_code])
            return issuance.issue(session, self.vault, department=department, request=request,
                                  actor="operator", now=now)

    def license_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(License)) or 0)

    def close(self) -> None:
        if self._app is not None:
            self._app.extensions["yiwang"].dispose()
        self.runtime.dispose()


def build_world(settings: Settings) -> World:
    from license_vault import catalogue

    runtime = Runtime(settings)
    infos = []
    with runtime.session() as session:
        now = utcnow()
        for code, name in ((SAMR_USCC, "福州市市场监督管理局"),
                           (HEALTH_USCC, "福州市卫生健康委员会")):
            registered = departments.register_department(session, runtime.keystore, uscc=code,
                                                         name=name, now=now)
            infos.append(DepartmentInfo(code, name, registered.department.client_id,
                                        registered.client_secret))
        for definition in demo_type_definitions():
            catalogue.add_license_type(session, definition, now=now)
    vault = issuance.Vault(runtime.keystore,
                           open_blob_store(settings.blob_backend, settings.blob_dir,
                                           runtime.keystore),
                           settings.issuer)
    return World(settings, runtime, vault, infos[0], infos[1])


def access_token(client: FlaskClient, department: DepartmentInfo,
                 scope: str = "licenses:issue licenses:read") -> str:
    """A client-credentials token from the instance's own token endpoint."""
    basic = base64.b64encode(f"{department.client_id}:{department.client_secret}".encode())
    response = client.post("/token", data={"grant_type": "client_credentials", "scope": scope},
                           headers={"Authorization": "Basic " + basic.decode()})
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.json["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def catalogue_manager(world: World) -> dict[str, str]:
    """The bearer header of a new back end allowed to manage the catalogue."""
    with world.session() as session:
        client, secret = clients.register_client(session, clients.ClientSpec(
            name="证照目录管理", grant_types=["client_credentials"],
            scopes=["license-types:manage"]), now=utcnow())
    return bearer(access_token(world.client(), DepartmentInfo("", "", client.client_id,
                                                                secret or ""),
                               scope="license-types:manage"))


def pdfsig(pdf: bytes, nss_db: str, folder: Path) -> list[str]:
    """pdfsig's report lines (it exits 0 even for a modified file, so read them)."""
    path = folder / "license.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfsig", "-nssdir", nss_db, "-no-ocsp", str(path)],
                         capture_output=True, text=True, check=False, timeout=60)
    return [line.strip(" -") for line in out.stdout.splitlines()]


def rasterise(pdf: bytes, folder: Path, dpi: int = 150) -> Path:
    source = folder / "page.pdf"
    source.write_bytes(pdf)
    stem = folder / f"page-{dpi}"
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(source), str(stem)],
                   check=True, timeout=60)
    return stem.with_suffix(".png")
