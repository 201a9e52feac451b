"""Operator commands: ``yiwang department``, ``license-type``, ``license`` and ``vault``.

Holder ID numbers are printed masked only; a department's client secret is
printed once, when the department is registered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import Any, Protocol

import click
from sqlalchemy.orm import Session

from idp.cli import emit, json_option
from license_vault import catalogue, departments, issuance, lifecycle, reading
from license_vault.errors import InvalidField, InvalidRequest, NotFound
from license_vault.fsck import DEFAULT_GRACE, fsck
from license_vault.models import License
from yiwang.database import utcnow
from yiwang.json_bodies import JsonBodyError, parse_json
from yiwang.settings import Settings

__all__ = ["department", "license", "license_type", "make_vault", "vault"]

OPERATOR = "operator"


class RuntimeLike(Protocol):
    """What the commands need of ``yiwang.runtime.Runtime`` (the click object)."""

    settings: Settings

    @property
    def keystore(self) -> Any: ...

    def session(self) -> contextlib.AbstractContextManager[Session]: ...


def make_vault(runtime: RuntimeLike) -> issuance.Vault:
    return issuance.open_vault(runtime.keystore, runtime.settings)


date_type = click.DateTime(["%Y-%m-%d"])


def _json_file(path: Path) -> object:
    """A JSON file read as strictly as the API reads bodies (no repeated members, ...)."""
    try:
        return parse_json(path.read_bytes())
    except (OSError, JsonBodyError) as exc:
        raise InvalidRequest(f"cannot read {path}: {exc}") from None


def _fields(pairs: tuple[str, ...], fields_file: Path | None) -> dict[str, str]:
    fields: dict[str, str] = {}
    if fields_file is not None:
        loaded = _json_file(fields_file)
        if not isinstance(loaded, dict):
            raise InvalidRequest(f"{fields_file} must hold a JSON object of field values")
        fields.update(loaded)
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise InvalidField(f"--field takes key=value, got {pair[:40]!r}", field="fields")
        fields[key.strip()] = value
    return fields


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


# --- departments -----------------------------------------------------------------------


@click.group()
def department() -> None:
    """Issuing departments: keys, certificate and back-end client."""


@department.command("add")
@click.option("--uscc", required=True, help="The department's unified social credit code.")
@click.option("--name", required=True, help="Its name as printed on licenses.")
@json_option
@click.pass_obj
def department_add(runtime: RuntimeLike, uscc: str, name: str, as_json: bool) -> None:
    """Register a department: its keys, certificate and client (secret shown once)."""
    with runtime.session() as session:
        data = departments.register_department(session, runtime.keystore, uscc=uscc,
                                               name=name, now=utcnow()).to_json()
    emit(data, as_json, [
        f"department {data['uscc']} ({data['name']}) registered",
        f"document-signing certificate serial: {data['certificate_serial']}",
        f"keys: signing {data['signing_kid']}, QR {data['qr_kid']}, SM2 {data['sm2_kid']}",
        f"back-end client_id: {data['client_id']}",
        f"client_secret: {data['client_secret']}",
        "(the secret is shown only now; token requests use grant_type=client_credentials)",
    ])


@department.command("list")
@json_option
@click.pass_obj
def department_list(runtime: RuntimeLike, as_json: bool) -> None:
    """Every registered department."""
    with runtime.session() as session:
        data = [departments.department_json(d) for d in departments.list_departments(session)]
    emit(data, as_json, [f"{d['uscc']}  {d['name']}  client {d['client_id']}" for d in data])


# --- license types ---------------------------------------------------------------------


@click.group("license-type")
def license_type() -> None:
    """The license catalogue (证照目录)."""


@license_type.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
def license_type_add(runtime: RuntimeLike, file: Path, as_json: bool) -> None:
    """Add a license type from a JSON definition (see docs/license-types.md)."""
    definition = _json_file(file)
    with runtime.session() as session:
        record = catalogue.add_license_type(session, definition, now=utcnow())
        data = catalogue.type_spec(session, record).to_json()
    emit(data, as_json, [f"license type {data['code']} ({data['name']}, {data['holder_kind']}) "
                         f"in the catalogue; issuers: {', '.join(data['issuers']) or 'none'}"])


@license_type.command("list")
@json_option
@click.pass_obj
def license_type_list(runtime: RuntimeLike, as_json: bool) -> None:
    """Every license type."""
    with runtime.session() as session:
        data = [catalogue.type_spec(session, r).to_json() for r in catalogue.list_types(session)]
    emit(data, as_json, [f"{t['code']}  {t['name']}  ({t['holder_kind']}; "
                         f"{len(t['fields'])} fields; issuers {', '.join(t['issuers'])})"
                         for t in data])


@license_type.command("show")
@click.argument("code")
@json_option
@click.pass_obj
def license_type_show(runtime: RuntimeLike, code: str, as_json: bool) -> None:
    """One license type with its face fields."""
    with runtime.session() as session:
        data = catalogue.type_spec(session, catalogue.get_type(session, code)).to_json()
    lines = [f"{data['code']}  {data['name']}  defined by {data['definer']}",
             f"holder: {data['holder_kind']}; validity: {data['validity']}"]
    lines += [f"  {f['key']}  {f['label']}  {f['type']}"
              + ("  required" if f["required"] else "") + f"  max {f['max_length']}"
              for f in data["fields"]]
    emit(data, as_json, lines)


# --- licenses --------------------------------------------------------------------------


@click.group()
def license() -> None:
    """Licenses: issue, read, change status, renew."""


def _summary(session: Session, runtime: RuntimeLike, found: License) -> dict[str, Any]:
    return reading.license_json(session, runtime.keystore, found, at=utcnow(),
                                base_url=runtime.settings.issuer)


def _lines(data: dict[str, Any]) -> list[str]:
    status = data["status"]
    return [
        f"{data['type']['name']} {data['license_number']} (version {data['version']})",
        f"identifier: {data['identifier']}",
        f"holder: {data['holder']['name']} ({data['holder']['id']})",
        f"issuer: {data['issuer']['name']} ({data['issuer']['uscc']})",
        f"valid: {data['valid_from']} to {data['valid_until'] or '长期 (permanent)'}",
        f"status: {status['code']} {status['name']}" if status else "status: not yet issued",
        f"pdf: sha256 {data['pdf']['sha256']} ({data['pdf']['size']} bytes)",
        f"verify: {data['links']['verify']}",
    ]


@license.command("issue")
@click.option("--type", "type_code", required=True, help="License type code (21 characters).")
@click.option("--holder", required=True, help="Holder's resident ID number or USCC.")
@click.option("--field", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A face field; repeat for each.")
@click.option("--fields-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON object of face fields (--field values override it).")
@click.option("--department", "department_uscc", required=True,
              help="USCC of the issuing department.")
@click.option("--valid-from", type=date_type, help="First valid day (default: today).")
@click.option("--valid-until", type=date_type, help="Last valid day (default: by type).")
@json_option
@click.pass_obj
def license_issue(runtime: RuntimeLike, type_code: str, holder: str, pairs: tuple[str, ...],
                  fields_file: Path | None, department_uscc: str, valid_from: dt.datetime | None,
                  valid_until: dt.datetime | None, as_json: bool) -> None:
    """Issue a license: validate, render, sign, store; prints its identifier and links."""
    request = issuance.IssueRequest(type_code=type_code, holder_id=holder,
                                    fields=_fields(pairs, fields_file),
                                    valid_from=_date(valid_from), valid_until=_date(valid_until))
    with runtime.session() as session:
        issuer = departments.get_department(session, department_uscc)
        issued = issuance.issue(session, make_vault(runtime), department=issuer,
                                request=request, actor=OPERATOR, now=utcnow())
        data = _summary(session, runtime, issued)
    emit(data, as_json, ["issued " + _lines(data)[0], *_lines(data)[1:]])


@license.command("list")
@click.option("--holder", help="Only this holder's (ID number or USCC).")
@click.option("--department", "department_uscc", help="Only this department's.")
@json_option
@click.pass_obj
def license_list(runtime: RuntimeLike, holder: str | None, department_uscc: str | None,
                 as_json: bool) -> None:
    """Licenses, oldest first."""
    with runtime.session() as session:
        if holder is not None:
            found = reading.holder_licenses(session, runtime.keystore, holder)
        else:
            found = reading.list_licenses(session)
        if department_uscc is not None:
            issuer = departments.get_department(session, department_uscc)
            found = [item for item in found if item.department_id == issuer.id]
        now = utcnow()
        data = []
        for item in found:
            status = lifecycle.status_at(session, item, now)
            data.append({"identifier": item.identifier, "license_number": item.license_number,
                         "version": item.version, "type_code": item.type_code,
                         "holder": item.holder_id_masked, "holder_name": item.holder_name,
                         "status": status.code if status else None,
                         "valid_until": item.valid_until.isoformat()
                         if item.valid_until else None})
    emit(data, as_json, [f"{d['identifier']}  {d['license_number']}  v{d['version']}  "
                         f"{d['holder_name']} ({d['holder']})  status {d['status']}"
                         for d in data])


def _find(session: Session, identifier: str) -> License:
    found = reading.find_license(session, identifier)
    if found is None:
        raise NotFound(f"no license has the identifier {identifier[:100]}")
    return found


@license.command("get")
@click.argument("identifier")
@click.option("--pdf", "pdf_file", type=click.Path(dir_okay=False, writable=True,
                                                    path_type=Path),
              help="Write the signed PDF to this file.")
@json_option
@click.pass_obj
def license_get(runtime: RuntimeLike, identifier: str, pdf_file: Path | None,
                as_json: bool) -> None:
    """One license: metadata, status, seal and history; optionally its PDF."""
    with runtime.session() as session:
        found = _find(session, identifier)
        data = _summary(session, runtime, found)
        if pdf_file is not None:
            pdf = reading.read_pdf(session, make_vault(runtime).blobs, found)
            pdf_file.write_bytes(pdf)
    lines = _lines(data) + ([f"PDF written to {pdf_file}"] if pdf_file is not None else [])
    emit(data, as_json, lines)


@license.command("set-status")
@click.argument("identifier")
@click.argument("code", type=click.Choice(sorted(lifecycle.STATUSES)))
@click.option("--reason", required=True, help="Why (kept in the license's history).")
@json_option
@click.pass_obj
def license_set_status(runtime: RuntimeLike, identifier: str, code: str, reason: str,
                       as_json: bool) -> None:
    """Change a license's status on behalf of its issuing department."""
    with runtime.session() as session:
        found = _find(session, identifier)
        status = lifecycle.set_status(session, found, code, reason=reason, actor=OPERATOR,
                                      now=utcnow())
        data = {"identifier": found.identifier, "status": status.to_json()}
    emit(data, as_json, [f"{data['identifier']}: status {status.code} {status.name}"])


@license.command("renew")
@click.argument("identifier")
@click.option("--field", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A changed face field; repeat for each (empty clears an optional one).")
@click.option("--reason", required=True, help="Why (renewal, change of address, ...).")
@click.option("--valid-from", type=date_type)
@click.option("--valid-until", type=date_type)
@json_option
@click.pass_obj
def license_renew(runtime: RuntimeLike, identifier: str, pairs: tuple[str, ...], reason: str,
                  valid_from: dt.datetime | None, valid_until: dt.datetime | None,
                  as_json: bool) -> None:
    """Issue the next version of a license; the current one becomes superseded."""
    with runtime.session() as session:
        found = _find(session, identifier)
        issuer = departments.department_by_id(session, found.department_id)
        new = lifecycle.renew(session, make_vault(runtime), found, department=issuer,
                              changes=_fields(pairs, None), reason=reason, actor=OPERATOR,
                              now=utcnow(), valid_from=_date(valid_from),
                              valid_until=_date(valid_until))
        data = _summary(session, runtime, new)
    emit(data, as_json, ["issued " + _lines(data)[0], *_lines(data)[1:]])


# --- the store -------------------------------------------------------------------------


@click.group()
def vault() -> None:
    """The license store."""


@vault.command("fsck")
@click.option("--dry-run", is_flag=True, help="Report only; delete nothing.")
@click.option("--grace-minutes", type=click.IntRange(1),
              default=DEFAULT_GRACE // dt.timedelta(minutes=1), show_default=True,
              help="Leave unreferenced blobs younger than this.")
@json_option
@click.pass_obj
def vault_fsck(runtime: RuntimeLike, dry_run: bool, grace_minutes: int, as_json: bool) -> None:
    """Check blobs against license records; delete old blobs no license names."""
    with runtime.session() as session:
        report = fsck(session, make_vault(runtime).blobs, now=utcnow(),
                      grace=dt.timedelta(minutes=grace_minutes), repair=not dry_run)
    verb = "would delete" if dry_run else "deleted"
    emit(report.to_json(), as_json, [
        f"checked {report.checked_licenses} licenses and {report.checked_blobs} blobs",
        f"{verb} {len(report.orphans_deleted)} unreferenced blobs and "
        f"{len(report.temporary_deleted)} unfinished writes",
        f"kept {len(report.orphans_kept)} unreferenced blobs younger than {grace_minutes} min",
        *(f"MISSING blob of {i} ({s})" for i, s in report.missing),
        *(f"DAMAGED blob of {i} ({s})" for i, s in report.damaged),
    ])
    if not report.consistent:
        sys.exit(1)
