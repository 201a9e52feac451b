"""The issuing API (``/api/v1``): JSON, bearer tokens, never cached.

Department back ends call it with a client-credentials access token: scope
``licenses:issue`` to issue, renew and change status, ``licenses:read`` to
read. A department sees only the licenses it issued; any other identifier,
known or not, answers the same 404. The catalogue is public to read; adding
a type needs scope ``license-types:manage``. ``docs/licenses-api.md`` is the
reference.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from idp import resources
from idp.errors import InsufficientScope, InvalidToken, OAuthError
from license_vault import catalogue, departments, issuance, lifecycle, reading
from license_vault.errors import InvalidRequest, LicenseVaultError, NotAllowed, NotFound
from license_vault.models import Department, License, LicenseType
from license_vault.validity import parse_date
from yiwang.database import current_session, utcnow
from yiwang.json_bodies import json_body

__all__ = ["blueprint", "init_app"]

log = logging.getLogger("license_vault")

SCOPE_ISSUE = "licenses:issue"
SCOPE_READ = "licenses:read"
SCOPE_MANAGE_TYPES = "license-types:manage"
ISSUE_MEMBERS = frozenset({"type", "holder", "fields", "valid_from", "valid_until"})
RENEW_MEMBERS = frozenset({"fields", "reason", "valid_from", "valid_until"})
STATUS_MEMBERS = frozenset({"status", "reason"})

blueprint = Blueprint("license_vault_api", __name__, url_prefix="/api/v1")


def init_app(app: Flask) -> None:
    """Build the vault from the app's runtime and register the API."""
    runtime = app.extensions["yiwang"]
    app.extensions["license_vault"] = issuance.open_vault(runtime.keystore, runtime.settings)
    app.register_blueprint(blueprint)


def _vault() -> issuance.Vault:
    vault: issuance.Vault = current_app.extensions["license_vault"]
    return vault


# --- answers and errors -------------------------------------------------------------------


def _json(body: Any, status: int = 200, location: str | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    if location is not None:
        response.headers["Location"] = location
    return response


@blueprint.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@blueprint.errorhandler(LicenseVaultError)
def _vault_error(exc: LicenseVaultError) -> Response:
    current_session().rollback()
    if exc.status >= 500:
        log.error("license API %s %s failed: %s", request.method, request.path, exc)
    return _json(exc.to_json(), exc.status)


@blueprint.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError) -> Response:
    current_session().rollback()
    response = _json({"error": exc.error, "error_description": exc.description}, exc.status)
    if isinstance(exc, InvalidToken | InsufficientScope):
        response.headers["WWW-Authenticate"] = resources.bearer_challenge(
            exc, current_app.extensions["yiwang"].settings.issuer,
            authorization=request.headers.get("Authorization"))
    return response


# --- who is calling -------------------------------------------------------------------------


def _scopes(scope: str) -> dict[str, Any]:
    """The claims of the request's live access token, if it carries ``scope``."""
    claims, _ = resources.live_access_token(current_session(), current_app.extensions["idp"],
                                            resources.bearer_token(request.headers.get("Authorization")),
                                            utcnow())
    if scope not in str(claims.get("scope", "")).split():
        raise InsufficientScope(f"This request needs the scope {scope}.")
    return claims


def _department(scope: str) -> tuple[Department, str]:
    """The calling department and the actor recorded in the history."""
    claims = _scopes(scope)
    client_id = str(claims["client_id"])
    department = departments.department_for_client(current_session(), client_id)
    if department is None:
        raise NotAllowed("the client is not the back end of a registered department")
    return department, f"client:{client_id}"


def _body(members: frozenset[str]) -> dict[str, Any]:
    body = json_body()  # strict: malformed, too deep or repeated members answer 400
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - members)
    if unknown:
        raise InvalidRequest(f"unknown member {unknown[0][:40]!r}; expected "
                             f"{', '.join(sorted(members))}", field=unknown[0][:40])
    return body


def _optional_date(body: dict[str, Any], name: str) -> dt.date | None:
    value = body.get(name)
    return None if value is None else parse_date(value, name)


def _license_answer(license: License, status: int = 200) -> Response:
    settings = current_app.extensions["yiwang"].settings
    body = reading.license_json(current_session(), _vault().keystore, license, at=utcnow(),
                                base_url=settings.issuer)
    location = body["links"]["self"] if status == 201 else None
    return _json(body, status, location)


# --- licenses -------------------------------------------------------------------------------


@blueprint.post("/licenses")
def issue_license() -> Response:
    department, actor = _department(SCOPE_ISSUE)
    body = _body(ISSUE_MEMBERS)
    fields = body.get("fields", {})
    license = issuance.issue(current_session(), _vault(), department=department, request=(
        issuance.IssueRequest(type_code=body.get("type"),  # type: ignore[arg-type]
                              holder_id=body.get("holder"),  # type: ignore[arg-type]
                              fields=fields, valid_from=_optional_date(body, "valid_from"),
                              valid_until=_optional_date(body, "valid_until"))),
        actor=actor, now=utcnow())
    log.info("issued %s (%s) by %s", license.identifier, license.type_code, actor)
    return _license_answer(license, 201)


@blueprint.get("/licenses/<identifier>")
def get_license(identifier: str) -> Response:
    department, _ = _department(SCOPE_READ)
    return _license_answer(reading.issued_license(current_session(), identifier, department))


@blueprint.get("/licenses/<identifier>/pdf")
def get_license_pdf(identifier: str) -> Response:
    department, _ = _department(SCOPE_READ)
    session = current_session()
    license = reading.issued_license(session, identifier, department)
    data = reading.read_pdf(session, _vault().blobs, license)
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="license-{license.license_number}-v{license.version:03d}.pdf"')
    digest = base64.b64encode(bytes.fromhex(license.pdf_sha256)).decode("ascii")
    response.headers["Digest"] = f"sha-256={digest}"  # RFC 3230: base64 of the digest
    return response


@blueprint.post("/licenses/<identifier>/status")
def change_status(identifier: str) -> Response:
    department, actor = _department(SCOPE_ISSUE)
    session = current_session()
    license = reading.issued_license(session, identifier, department)
    body = _body(STATUS_MEMBERS)
    lifecycle.set_status(session, license, body.get("status"), reason=body.get("reason"),
                         actor=actor, now=utcnow())
    session.commit()
    log.info("status of %s set to %s by %s", license.identifier, license.status, actor)
    return _license_answer(license)


@blueprint.post("/licenses/<identifier>/versions")
def renew_license(identifier: str) -> Response:
    department, actor = _department(SCOPE_ISSUE)
    session = current_session()
    license = reading.issued_license(session, identifier, department)
    body = _body(RENEW_MEMBERS)
    new = lifecycle.renew(session, _vault(), license, department=department,
                          changes=body.get("fields", {}), reason=body.get("reason"),
                          actor=actor, now=utcnow(),
                          valid_from=_optional_date(body, "valid_from"),
                          valid_until=_optional_date(body, "valid_until"))
    log.info("renewed %s as %s by %s", license.identifier, new.identifier, actor)
    return _license_answer(new, 201)


# --- the catalogue ----------------------------------------------------------------------------


@blueprint.get("/license-types")
def list_license_types() -> Response:
    session = current_session()
    return _json({"license_types": [catalogue.type_spec(session, record).to_json()
                                    for record in catalogue.list_types(session)]})


@blueprint.get("/license-types/<code>")
def get_license_type(code: str) -> Response:
    session = current_session()
    try:
        record = catalogue.get_type(session, code)
    except LicenseVaultError:
        raise NotFound("no such license type") from None
    return _json(catalogue.type_spec(session, record).to_json())


@blueprint.post("/license-types")
def add_license_type() -> Response:
    _scopes(SCOPE_MANAGE_TYPES)
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a license-type definition (JSON object)")
    session = current_session()
    existed = session.get(LicenseType, str(body.get("code", ""))[:21].upper())
    record = catalogue.add_license_type(session, body, now=utcnow())
    session.commit()
    spec = catalogue.type_spec(session, record)
    settings = current_app.extensions["yiwang"].settings
    return _json(spec.to_json(), 200 if existed else 201,
                 f"{settings.issuer}/api/v1/license-types/{spec.code}")
