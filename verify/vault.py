"""The vault's side of a verdict: is the license known, does it match, what is its status.

Everything here reads through ``license_vault.reading`` and
``license_vault.lifecycle``; nothing is written. The face data a verifier
page shows comes from the vault's record, never from the file or code
being checked.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from license_vault import catalogue, lifecycle, reading
from license_vault.errors import LicenseVaultError
from license_vault.holders import mask_uscc
from license_vault.models import Department, License, LicenseType
from license_vault.validity import china_date
from signing.cbor_payload import QrPayload
from verify.verdict import Facet, LicenseView, Reason

__all__ = ["STATUS_REASONS", "license_view", "match_pdf", "match_qr", "seal_facet",
           "status_facets"]

STATUS_REASONS = {
    "02": Reason.SUSPENDED,
    "03": Reason.WITHDRAWN,
    "04": Reason.CANCELLED,
    "05": Reason.EXPIRED,
    "06": Reason.TRANSFERRED,
    "07": Reason.REVOKED,
    "99": Reason.OTHER_STATUS,
}


def match_pdf(session: Session, *, digest: str, identifier: str | None,
              signer_serial: int, signer_uscc: str | None
              ) -> tuple[Facet, Facet, License | None]:
    """(in_vault, matches_vault, license) for a genuinely signed file.

    The vault knows the license if it recorded this signed revision, or an
    issuance under the identifier the file carries. It matches if the
    signed revision is exactly the recorded file, under that identifier,
    signed with the certificate recorded for it by the issuing department.
    """
    by_digest = reading.find_by_signed_revision(session, digest)
    license = by_digest or (reading.find_license(session, identifier) if identifier else None)
    if license is None:
        return (Facet.fail(Reason.UNKNOWN_LICENSE,
                           f"no license was issued as this file (signed revision {digest[:16]}…)"
                           + (f" or under identifier {identifier}" if identifier else "")),
                Facet.skip(), None)
    in_vault = Facet.ok(f"license {license.identifier}")
    if by_digest is None:
        return in_vault, Facet.fail(
            Reason.DOES_NOT_MATCH_VAULT,
            f"the vault issued {license.identifier} as another file than this one"), license
    if identifier != license.identifier:
        return in_vault, Facet.fail(
            Reason.DOES_NOT_MATCH_VAULT,
            f"the file names {identifier!r}, the vault recorded {license.identifier}"), license
    if format(signer_serial, "x") != license.signing_certificate_serial.lower().lstrip("0"):
        return in_vault, Facet.fail(
            Reason.DOES_NOT_MATCH_VAULT,
            f"signed with certificate {signer_serial:x}, the vault recorded "
            f"{license.signing_certificate_serial}"), license
    issuer_uscc = _issuer_uscc(license)
    if signer_uscc != issuer_uscc:
        return in_vault, Facet.fail(
            Reason.DOES_NOT_MATCH_VAULT,
            f"signed by department {signer_uscc}, the license's issuer is {issuer_uscc}"), license
    return in_vault, Facet.ok("the file is the one the vault issued"), license


def match_qr(session: Session, payload: QrPayload, *, token: str, kid: str
             ) -> tuple[Facet, Facet, License | None]:
    """(in_vault, matches_vault, license) for a code whose signature verified."""
    license = reading.find_license(session, payload.identifier)
    if license is None:
        return (Facet.fail(Reason.UNKNOWN_LICENSE,
                           f"the vault has no license {payload.identifier}"), Facet.skip(), None)
    in_vault = Facet.ok(f"license {license.identifier}")
    differences = []
    if license.qr_kid != kid:
        differences.append(f"key {kid} instead of {license.qr_kid}")
    if license.face_digest != payload.face_digest.hex():
        differences.append("face data")
    if (license.valid_from, license.valid_until) != (payload.valid_from, payload.valid_until):
        differences.append("validity period")
    if license.issued_at.replace(microsecond=0) != payload.issued_at:
        differences.append("issue time")
    if not differences and not license.qr_url.endswith("/v/" + token):
        differences.append("signature (not the code the vault issued)")
    if differences:
        return in_vault, Facet.fail(Reason.DOES_NOT_MATCH_VAULT,
                                    "the code differs from the vault's record in: "
                                    + ", ".join(differences)), license
    return in_vault, Facet.ok("the code is the one the vault issued"), license


def seal_facet(session: Session, keystore: reading.Sm2Keys, license: License,
               signed_revision: bytes) -> Facet:
    """The SM2 seal record verifies over this very file and identifier."""
    try:
        record = reading.seal_record(session, keystore, license)
        ok = record.verify(signed_revision)
    except Exception as exc:  # a damaged record or key is a mismatch, not a crash
        return Facet.fail(Reason.DOES_NOT_MATCH_VAULT, f"the seal record cannot be checked: {exc}")
    if not ok:
        return Facet.fail(Reason.DOES_NOT_MATCH_VAULT,
                          "the vault's SM2 seal record does not verify over this file")
    return Facet.ok(f"SM2 seal by key {record.kid} verifies")


def status_facets(session: Session, license: License, at: dt.datetime
                  ) -> tuple[Facet, Facet, lifecycle.LicenseStatus | None]:
    """(status, in_force, the status) at ``at``."""
    status = reading.license_status(session, license, at)
    if status is None:
        not_yet = Facet.fail(Reason.NOT_YET_VALID,
                             f"not issued yet at {at.isoformat()} "
                             f"(issued {license.issued_at.isoformat()})")
        return not_yet, not_yet, None
    label = f"{status.code} {status.name}"
    if status.code == "01":
        status_facet = Facet.ok(f"status {label} since {status.since.isoformat()}")
    elif status.code == "99" and status.superseded_by is not None:
        status_facet = Facet.fail(Reason.SUPERSEDED,
                                  f"superseded by {status.superseded_by}")
    else:
        status_facet = Facet.fail(STATUS_REASONS[status.code],
                                  f"status {label} since {status.since.isoformat()}"
                                  + (f": {status.reason}" if status.reason else ""))
    day = china_date(at)
    if status.in_period:
        in_force = Facet.ok(f"within {_period(license)} on {day}")
    elif day < license.valid_from:
        in_force = Facet.fail(Reason.NOT_YET_VALID, f"valid {_period(license)}; today is {day}")
    else:
        in_force = Facet.fail(Reason.EXPIRED, f"valid {_period(license)}; today is {day}")
    return status_facet, in_force, status


def license_view(session: Session, license: License,
                 status: lifecycle.LicenseStatus | None) -> LicenseView:
    """The face data as the vault recorded it, labelled as the license type prints it."""
    labels, holder_label, type_name = _type_labels(session, license.type_code)
    department = session.get(Department, license.department_id)
    face = reading.face_data(license)
    holder_id = masked_holder_id(license)
    order = {key: index for index, key in enumerate(labels)}
    keys = sorted(face, key=lambda key: order.get(key, len(order)))  # stable: unknown keys last
    fields = ((holder_label, holder_id), *((labels.get(key, key), face[key]) for key in keys))
    return LicenseView(
        source="vault", identifier=license.identifier,
        type_name=type_name,
        license_number=license.license_number,
        issuer_uscc=_issuer_uscc(license),
        issuer_name=department.name if department is not None else None,
        holder_name=license.holder_name, holder_id_masked=holder_id, fields=fields,
        valid_from=license.valid_from, valid_until=license.valid_until,
        issued_at=license.issued_at,
        status_code=None if status is None else status.code,
        status_label=None if status is None else status.label,
        superseded_by=None if status is None else status.superseded_by)


# code → (field labels, holder ID label, type name). A type's definition never
# changes under its code (the catalogue refuses another), so this may live as
# long as the process.
_TYPE_LABELS: dict[str, tuple[dict[str, str], str, str]] = {}
_MAX_CACHED_TYPES = 1024


def _type_labels(session: Session, code: str) -> tuple[dict[str, str], str, str | None]:
    cached = _TYPE_LABELS.get(code)
    if cached is not None:
        return cached
    record = session.get(LicenseType, code)
    if record is None:
        return {}, "持证者", None
    try:
        spec = catalogue.parse_definition(record.definition)
    except LicenseVaultError:
        return {}, "持证者", record.name
    found = ({field.key: field.label for field in spec.fields}, spec.holder_id_label,
             record.name)
    if len(_TYPE_LABELS) < _MAX_CACHED_TYPES:
        _TYPE_LABELS[code] = found
    return found


def masked_holder_id(license: License) -> str:
    """The holder's ID as a verifier page shows it: always masked.

    The vault keeps a person's ID masked; an entity's USCC is public and kept
    whole, so it is masked here as the QR payload masks it (first eight kept).
    """
    shown = license.holder_id_masked
    return shown if "*" in shown else mask_uscc(shown)


def _issuer_uscc(license: License) -> str:
    # The 7th dot-separated part of an identifier the vault itself validated.
    return license.identifier.split(".")[6]


def _period(license: License) -> str:
    until = "长期" if license.valid_until is None else license.valid_until.isoformat()
    return f"{license.valid_from.isoformat()} to {until}"
