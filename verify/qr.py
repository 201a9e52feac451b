"""What a scanned QR code proves by itself: the checks that need only the published keys.

``well_formed``: the text is ``<issuer>/v/<token>`` of this service and the
token a COSE_Sign1 (``signing.payload``, ``docs/qr-payload.md``);
``known_key``: its protected header names a key the key source publishes;
``signature``: that key signed it, the key belongs to the department whose
USCC is in the license identifier, and the code does not claim to be
issued after the key was retired. Offline, ``in_force`` then follows from
the dates the payload carries; online the vault decides (services).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from keys import cose
from keys.errors import TokenInvalidError
from keys.material import PublicKey
from license_vault.validity import china_date
from signing.errors import PayloadError, PayloadSignatureError, PayloadTooLargeError
from signing.payload import (
    MAX_QR_TEXT_BYTES,
    QrPayload,
    parse_qr_url,
    token_message,
    verify_payload,
)
from verify.trust_list import QrKey
from verify.verdict import NOT_CHECKED, Facet, Reason

__all__ = ["KeySource", "QrFindings", "examine", "in_force_by_dates"]

# Facets whose wording never changes: built once, they are frozen values. The
# key's kid and department are in the verdict itself (``kid``, and the license
# view's issuer), so the passed facets need not repeat them.
_WELL_FORMED = Facet.ok("a version-1 verification code")
_KNOWN_KEY = Facet.ok("a published QR key")
_KEY_FITS = Facet.ok("signed with a key of the issuing department, active when it was issued")
_IN_FORCE_BY_DATES = Facet.ok(
    "within the validity period the code states (status not checked offline)")


class KeySource(Protocol):
    """Where QR keys come from: the cached trust list, or the live key store."""

    def qr_key(self, kid: str) -> QrKey | None: ...

    def department_name(self, uscc: str) -> str | None: ...


@dataclasses.dataclass
class QrFindings:
    """The code facets of a :class:`~verify.verdict.QrVerdict`, and what they found."""

    well_formed: Facet = NOT_CHECKED
    known_key: Facet = NOT_CHECKED
    signature: Facet = NOT_CHECKED
    token: str | None = None
    kid: str | None = None
    payload: QrPayload | None = None  # set only when the code is genuine and its key fits

    def facets(self) -> dict[str, Facet]:
        return {"well_formed": self.well_formed, "known_key": self.known_key,
                "signature": self.signature}


def examine(text: object, keys: KeySource, *, issuer: str, at: dt.datetime) -> QrFindings:
    """Run the code checks on scanned ``text``; never raises for bad input."""
    findings = QrFindings()
    try:
        found_issuer, token = parse_qr_url(text)  # type: ignore[arg-type]
    except PayloadTooLargeError:
        findings.well_formed = Facet.fail(
            Reason.MALFORMED, f"longer than any verification code ({MAX_QR_TEXT_BYTES} bytes)")
        return findings
    except PayloadError as exc:
        findings.well_formed = Facet.fail(Reason.MALFORMED, f"not a verification URL: {exc}")
        return findings
    if found_issuer != issuer and found_issuer.lower() != issuer.rstrip("/").lower():
        findings.well_formed = Facet.fail(
            Reason.MALFORMED, f"the code points at {found_issuer}, not at this service ({issuer})")
        return findings
    findings.token = token
    lookup = _KeyLookup(keys, at)
    try:
        verified = verify_payload(token, lookup)
    except PayloadSignatureError as exc:
        _refused(findings, token, lookup, str(exc))
        return findings
    except PayloadError as exc:  # genuinely signed, but not a version-1 payload
        findings.kid = lookup.kid
        findings.well_formed = Facet.fail(Reason.MALFORMED, f"signed, but {exc}")
        if lookup.key is not None:
            findings.known_key = _KNOWN_KEY
            findings.signature = Facet.ok("the signature verifies")
        return findings
    key = lookup.key
    assert key is not None  # verify_payload found it through the lookup
    findings.kid = key.kid
    payload = verified.payload
    findings.well_formed = _WELL_FORMED
    findings.known_key = _KNOWN_KEY
    findings.signature = signature = _key_fits(key, payload)
    if signature.passed:
        findings.payload = payload
    return findings


class _KeyLookup(Mapping[str, PublicKey]):
    """The key mapping handed to ``verify_payload``: the key source at one moment.

    It remembers the kid it was asked for and the key it found, so a refused
    code is classified without parsing the token again, unless it failed
    before its kid was looked up.
    """

    def __init__(self, keys: KeySource, at: dt.datetime) -> None:
        self._keys = keys
        self._at = at
        self.kid: str | None = None
        self.key: QrKey | None = None

    def get(self, kid: str, default: Any = None) -> Any:  # type: ignore[override]
        self.kid = kid
        key = self._keys.qr_key(kid) if isinstance(kid, str) else None
        if key is None or not key.published_at(self._at):
            return default
        self.key = key
        return key.public_key

    def found(self, kid: str) -> QrKey | None:
        self.get(kid)
        return self.key

    def __getitem__(self, kid: str) -> PublicKey:
        found = self.get(kid)
        if found is None:
            raise KeyError(kid)
        return found  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _refused(findings: QrFindings, token: str, lookup: _KeyLookup, why: str) -> None:
    """Say why a code did not verify: not a COSE_Sign1, no key, unknown key, or bad signature."""
    kid = lookup.kid if lookup.kid is not None else _claimed_kid(token)
    if kid is None:
        findings.well_formed = Facet.fail(
            Reason.MALFORMED, "the token is not a COSE_Sign1 in canonical base64url")
        return
    findings.well_formed = Facet.ok("a COSE_Sign1 verification code")
    if kid == "":
        findings.known_key = Facet.fail(
            Reason.QR_SIGNATURE_INVALID,
            "the protected header names no key, or is not deterministic CBOR")
        return
    findings.kid = kid
    key = lookup.key if lookup.kid is not None else lookup.found(kid)
    if key is None:
        findings.known_key = Facet.fail(
            Reason.QR_UNKNOWN_KEY, f"key {kid!r} is not in the trust list (forged, or the "
            "trust list is out of date)")
        return
    findings.known_key = _KNOWN_KEY
    findings.signature = Facet.fail(Reason.QR_SIGNATURE_INVALID, why)


def _key_fits(key: QrKey, payload: QrPayload) -> Facet:
    """The signing key must be the issuing department's, and active when the code was issued."""
    if key.owner != payload.issuer_uscc:
        return Facet.fail(
            Reason.QR_SIGNATURE_INVALID,
            f"signed with the key of department {key.owner}, but the license names issuer "
            f"{payload.issuer_uscc}")
    if key.retired_at is not None and payload.issued_at > key.retired_at:
        return Facet.fail(
            Reason.QR_SIGNATURE_INVALID,
            f"the code claims issuance at {payload.issued_at.isoformat()}, after its key "
            f"retired ({key.retired_at.isoformat()})")
    return _KEY_FITS


def _claimed_kid(token: str) -> str | None:
    """The kid in the protected header; "" if there is none; None if not a COSE_Sign1."""
    try:
        parts = cose.loads_deterministic(token_message(token), tag=cose.COSE_SIGN1_TAG)
    except TokenInvalidError:
        return None
    if not isinstance(parts, list) or len(parts) != 4 or not isinstance(parts[0], bytes):
        return None
    try:
        header = cose.loads_deterministic(parts[0]) if parts[0] else {}
    except TokenInvalidError:
        return ""
    kid = header.get(cose.HEADER_KID) if isinstance(header, dict) else None
    if not isinstance(kid, bytes) or not kid:
        return ""
    try:
        return kid.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def in_force_by_dates(payload: QrPayload, at: dt.datetime) -> Facet:
    """Offline: within the validity period the signed payload states (dates in China)."""
    day = china_date(at)
    if at < payload.issued_at:  # as the vault answers online: the code did not exist yet
        return Facet.fail(Reason.NOT_YET_VALID,
                          f"issued at {payload.issued_at.isoformat()}, after the time checked")
    if day < payload.valid_from:
        return Facet.fail(Reason.NOT_YET_VALID,
                          f"valid from {payload.valid_from.isoformat()}, checked on {day}")
    if payload.valid_until is not None and day > payload.valid_until:
        return Facet.fail(Reason.EXPIRED,
                          f"valid until {payload.valid_until.isoformat()}, checked on {day}")
    return _IN_FORCE_BY_DATES

