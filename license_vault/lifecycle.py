"""Status of a license over time: status codes, changes, expiry and renewal.

Status codes (GB/T 36903 style): 01 valid, 02 suspended, 03 withdrawn,
04 cancelled, 05 expired, 06 transferred, 07 revoked, 99 other. Only the
issuing department changes them, always with a reason, and each change is
an event (who, when, why). Rules:

* 03, 04, 06 and 07 are final;
* 05 is never set by hand: a valid or suspended license *is* expired from the
  day after its last valid day (in China), so "valid" is never reported past
  its end date, whatever the stored status;
* renewal or change issues version n+1 with the same serial and printed
  number; version n becomes 99 (other), superseded, and can change no more.

The reason of the current status is public: verifiers, anonymous ones
included, see it word for word. It is one line of printable text
(:mod:`license_vault.printable`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from license_vault import catalogue, identifiers, issuance
from license_vault.errors import Conflict, InvalidField, InvalidStatus, NotAllowed
from license_vault.holders import resolve_holder, unseal_id
from license_vault.models import Department, License, LicenseEvent
from license_vault.printable import unprintable
from license_vault.validity import china_date, end_of_validity
from yiwang.database import begin_write

__all__ = ["FINAL", "STATUSES", "LicenseStatus", "renew", "set_status", "status_at",
           "successor_identifier"]

STATUSES: dict[str, tuple[str, str]] = {
    "01": ("valid", "有效"),
    "02": ("suspended", "暂停"),
    "03": ("withdrawn", "撤销"),
    "04": ("cancelled", "注销"),
    "05": ("expired", "过期"),
    "06": ("transferred", "转移"),
    "07": ("revoked", "吊销"),
    "99": ("other", "其他"),
}
FINAL = frozenset({"03", "04", "06", "07"})
MAX_REASON = 500


@dataclasses.dataclass(frozen=True)
class LicenseStatus:
    """A license's status at one moment, as a verifier should report it."""

    code: str
    since: dt.datetime
    reason: str | None
    in_period: bool  # the moment falls between valid_from and valid_until (China dates)
    superseded_by: str | None = None  # identifier of the newer version, if renewed

    @property
    def name(self) -> str:
        return STATUSES[self.code][0]

    @property
    def label(self) -> str:
        return STATUSES[self.code][1]

    @property
    def is_valid(self) -> bool:
        """In force: status 01 and within its validity period."""
        return self.code == "01" and self.in_period

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "label": self.label,
                "since": self.since.isoformat(), "reason": self.reason,
                "in_period": self.in_period, "superseded_by": self.superseded_by}


def status_at(session: Session, license: License, at: dt.datetime) -> LicenseStatus | None:
    """The status in effect at ``at`` (None before issuance), expiry applied by date."""
    if at < license.issued_at:
        return None
    if at >= license.status_changed_at:
        code, since, reason = license.status, license.status_changed_at, license.status_reason
    else:
        event = session.scalars(
            select(LicenseEvent).where(LicenseEvent.license_id == license.id,
                                       LicenseEvent.at <= at)
            .order_by(LicenseEvent.at.desc(), LicenseEvent.id.desc()).limit(1)).first()
        if event is None:  # history precedes every status; only a damaged row lacks it
            return None
        code, since, reason = event.to_status, event.at, event.reason
    day = china_date(at)
    expired = license.valid_until is not None and day > license.valid_until
    if expired and code in ("01", "02"):
        assert license.valid_until is not None
        code, since = "05", end_of_validity(license.valid_until)
        reason = f"the validity period ended on {license.valid_until.isoformat()}"
    successor = None
    if code == issuance.SUPERSEDED:
        successor = session.scalar(select(License.identifier).where(
            License.predecessor_id == license.id, License.issued_at <= at))
    return LicenseStatus(code, since, reason, license.valid_from <= day and not expired,
                         successor)


def _check_reason(reason: object) -> str:
    """A reason is one line of printable text, 1 to MAX_REASON characters; runs of spaces
    become one."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidStatus("a reason is required", field="reason")
    problem = unprintable(reason.strip(), on_face=False)
    if problem is not None:
        raise InvalidStatus(f"the reason contains {problem}", field="reason")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise InvalidStatus(f"the reason has more than {MAX_REASON} characters", field="reason")
    return reason


def _check_changeable(session: Session, license: License, current: LicenseStatus) -> None:
    if current.superseded_by is not None or successor_identifier(session, license) is not None:
        raise Conflict(f"license {license.identifier} is superseded by a newer version; "
                       "change the current version")
    if current.code in FINAL:
        raise Conflict(f"license {license.identifier} is {current.name} ({current.code}), "
                       "which is final")


def _after_last_change(license: License, now: dt.datetime) -> dt.datetime:
    """``now``, or the license's last status change if that is later.

    Concurrent requests take their time before they wait for one another. A
    request that waited for a change stamped later than its own time comes
    after that change: it must decide on the status that change set (not on
    the history at its earlier time, which would let it leave a final status)
    and its event must not precede it in the history.
    """
    return max(now, license.status_changed_at)


def successor_identifier(session: Session, license: License) -> str | None:
    """The identifier of the version that renewed ``license``, if any (whenever issued)."""
    return session.scalar(select(License.identifier).where(License.predecessor_id == license.id))


def set_status(session: Session, license: License, code: object, *, reason: object,
               actor: str, now: dt.datetime) -> LicenseStatus:
    """Change the status (flushed, not committed); the caller checked it is the issuer's.

    Commits what the session has pending, then reads the license again in a
    transaction that holds the write lock (``yiwang.database.begin_write``):
    the reads decide the write, and on SQLite a read snapshot cannot become a
    write once another connection has committed. On PostgreSQL the UPDATE
    is conditional on the status read, so a change made meanwhile answers
    :class:`Conflict`.
    """
    if not isinstance(code, str) or code not in STATUSES:
        raise InvalidStatus(f"status must be one of {', '.join(STATUSES)}", field="status")
    if code == "05":
        raise InvalidStatus("05 (expired) follows the validity dates and cannot be set",
                            field="status")
    reason = _check_reason(reason)
    begin_write(session)
    session.refresh(license)
    now = _after_last_change(license, now)
    current = status_at(session, license, now)
    assert current is not None  # ``now`` is after issuance
    _check_changeable(session, license, current)
    if current.code == "05" and code in ("01", "02"):
        raise Conflict(f"license {license.identifier} expired on {license.valid_until}; "
                       "renew it instead")
    if current.code == code:
        raise Conflict(f"license {license.identifier} is already {current.name} ({code})")
    previous = license.status
    changed = session.execute(
        update(License).where(License.id == license.id, License.status == previous)
        .values(status=code, status_reason=reason, status_changed_at=now)
        .execution_options(synchronize_session=False))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"license {license.identifier} changed concurrently (its status is no "
                       f"longer {previous}); reload it")
    session.add(LicenseEvent(license_id=license.id, at=now, action="status",
                             from_status=previous, to_status=code, actor=actor, reason=reason))
    session.flush()
    session.refresh(license)
    result = status_at(session, license, now)
    assert result is not None
    return result


def renew(session: Session, vault: issuance.Vault, license: License, *,
          department: Department, changes: Mapping[str, object], reason: object, actor: str,
          now: dt.datetime, valid_from: dt.date | None = None,
          valid_until: dt.date | None = None) -> License:
    """Issue version n+1 of ``license`` with ``changes`` to its face data; commits.

    The new version keeps the serial, printed number, type and holder; its
    period starts again (by the type's validity rule unless dates are given).
    Fields not named in ``changes`` keep their values; an empty value clears
    an optional field.
    """
    reason = _check_reason(reason)
    now = _after_last_change(license, now)
    current = status_at(session, license, now)
    assert current is not None
    _check_changeable(session, license, current)
    if current.code == "02":
        raise Conflict(f"license {license.identifier} is suspended; resume it (01) before "
                       "renewing or changing it")
    if license.version >= identifiers.VERSION_MAX:
        raise Conflict(f"license {license.identifier} has reached the last version number")
    spec, allowed = catalogue.type_for_issuer(session, license.type_code, department.id)
    if not allowed:
        raise NotAllowed(f"department {department.uscc} may no longer issue {spec.name}",
                         field="type")
    if not isinstance(changes, Mapping):
        raise InvalidField("fields must be an object of field key to value", field="fields")
    holder = resolve_holder(vault.keystore, license.holder_kind,
                            unseal_id(vault.keystore, license.holder_id_sealed),
                            type_name=spec.name)
    draft = issuance.make_draft(session, vault, spec, department, holder,
                                {**license.face, **changes}, valid_from=valid_from,
                                valid_until=valid_until, now=now, version=license.version + 1,
                                predecessor=license, reason=reason)
    session.commit()  # ends the read; nothing was written
    identifier = str(identifiers.parse(license.identifier).with_version(draft.version))
    produced = issuance.produce(draft, issuer=vault.issuer, identifier=identifier,
                                number=license.license_number, now=now)
    try:
        new = issuance.commit_license(session, vault, draft, produced, actor=actor, now=now)
    except issuance.IdentifierTaken:
        raise Conflict(f"license {license.identifier} was renewed meanwhile") from None
    session.refresh(license)
    return new
