"""The signed trust list: what an offline verifier caches to check QR codes.

Published at ``<issuer>/.well-known/yiwang-trust-list.json`` as a JWS (ES256)
in the flattened JSON serialization, and at ``<issuer>/trust-list.jws`` as the
same JWS in compact form. Its protected header carries ``x5c`` = [trust-list
signer certificate, issuing CA], so a verifier that pins only the root
certificate can check it. The claims are
the list itself: issuing departments, their document-signing certificates
with revocation state, their QR keys with kids and validity, the CA
certificates and CRL URLs. ``docs/trust-list.md`` is the normative format.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from keys import KeyStore, Purpose, jws
from keys import trust as key_trust
from keys.errors import KeyStoreError, TokenInvalidError
from license_vault.models import Department
from verify.errors import TrustListError
from verify.revocation import RevocationList

__all__ = [
    "FORMAT",
    "JWS_TYPE",
    "MEDIA_TYPE",
    "VERSION",
    "DepartmentEntry",
    "QrKey",
    "SigningCertificate",
    "TrustList",
    "build_document",
    "compact",
    "flattened",
    "load",
    "parse_document",
    "publish",
]

FORMAT = "yiwang-trust-list"
VERSION = 1
JWS_TYPE = "yiwang-trust-list+jwt"
MEDIA_TYPE = "application/jose"
WELL_KNOWN_PATH = "/.well-known/yiwang-trust-list.json"
COMPACT_PATH = "/trust-list.jws"
# How long a verifier may rely on a cached list (the JWT exp) and when it
# should fetch a new one.
LIFETIME = dt.timedelta(days=7)
REFRESH = dt.timedelta(days=1)
MAX_TOKEN_BYTES = 4 * 1024 * 1024
# The one algorithm of the trust list and of the QR keys it lists.
_ES256 = "ES256"


@dataclasses.dataclass(frozen=True)
class QrKey:
    """A department's QR key: it verifies codes issued while it was active."""

    kid: str
    owner: str  # the department's USCC
    public_key: ec.EllipticCurvePublicKey
    valid_from: dt.datetime
    retired_at: dt.datetime | None = None
    valid_until: dt.datetime | None = None  # published until; None while active

    def published_at(self, moment: dt.datetime) -> bool:
        return self.valid_until is None or moment < self.valid_until


@dataclasses.dataclass(frozen=True)
class SigningCertificate:
    serial: int
    certificate: x509.Certificate
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class DepartmentEntry:
    uscc: str
    name: str | None
    signing_certificates: tuple[SigningCertificate, ...]
    qr_kids: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TrustList:
    """A parsed trust list (verified by :func:`load`, or built live from the key store)."""

    issuer: str
    sequence: int
    issued_at: dt.datetime
    next_update: dt.datetime
    root: x509.Certificate
    issuing: x509.Certificate
    tsa: tuple[x509.Certificate, ...]
    root_crl_url: str
    issuing_crl_url: str
    departments: Mapping[str, DepartmentEntry]
    qr_keys: Mapping[str, QrKey]

    def qr_key(self, kid: str) -> QrKey | None:
        return self.qr_keys.get(kid)

    def department_name(self, uscc: str) -> str | None:
        entry = self.departments.get(uscc)
        return None if entry is None else entry.name

    def revocation_lists(self, certificates: object = None) -> list[RevocationList]:
        """The departments' signing-certificate revocations as of the list's date.

        Each list speaks only for the certificates the trust list names.
        ``certificates`` is not needed: the parameter lets this method serve
        as :attr:`verify.pdf.PdfTrust.revocation`, which passes the
        certificates in question.
        """
        revoked: dict[bytes, dict[int, dt.datetime]] = {}
        known: dict[bytes, set[int]] = {}
        for entry in self.departments.values():
            for item in entry.signing_certificates:
                issuer = item.certificate.issuer.public_bytes()
                known.setdefault(issuer, set()).add(item.serial)
                if item.revoked_at is not None:
                    revoked.setdefault(issuer, {})[item.serial] = item.revoked_at
        return [RevocationList(issuer, self.issued_at, revoked.get(issuer, {}), "trust list",
                               frozenset(serials))
                for issuer, serials in known.items()]


# -- publishing -----------------------------------------------------------------------------------


def build_document(session: Session, keystore: KeyStore, *, issuer: str,
                   now: dt.datetime) -> dict[str, Any]:
    """The trust list as a JSON object, from the key store and the vault's departments."""
    names: dict[str, str | None] = {
        uscc: name for uscc, name in session.execute(select(Department.uscc, Department.name))}
    certificates: dict[str, list[dict[str, Any]]] = {}
    for info in key_trust.issued_certificates(session, Purpose.DEPT_SIGNING):
        if info.owner is None:
            continue
        certificates.setdefault(info.owner, []).append({
            "serial": info.serial, "certificate": _b64(info.certificate),
            "not_before": _iso(info.certificate.not_valid_before_utc),
            "not_after": _iso(info.certificate.not_valid_after_utc),
            "revoked_at": None if info.revoked_at is None else _iso(info.revoked_at),
            "revocation_reason": info.revocation_reason,
        })
        names.setdefault(info.owner, _organisation(info.certificate))
    qr_keys: dict[str, list[dict[str, Any]]] = {}
    for key in key_trust.published_keys(keystore, session, Purpose.DEPT_QR, now=now):
        if key.owner is None or key.algorithm != _ES256:
            continue
        qr_keys.setdefault(key.owner, []).append({
            "kid": key.kid, "jwk": jws.public_jwk(key.kid, key.public_key, _ES256),
            "valid_from": _iso(key.created_at),
            "retired_at": None if key.retired_at is None else _iso(key.retired_at),
            "valid_until": None if key.publish_until is None else _iso(key.publish_until),
        })
    departments = [
        {"uscc": uscc, "name": names.get(uscc), "signing_certificates": certificates.get(uscc, []),
         "qr_keys": qr_keys.get(uscc, [])}
        for uscc in sorted(set(certificates) | set(qr_keys))
    ]
    locations = keystore.locations
    return {
        "type": FORMAT, "version": VERSION, "sequence": int(now.timestamp()),
        "issuer": issuer, "verify_url_prefix": f"{issuer}/v/",
        "issued_at": _iso(now), "next_update": _iso(now + REFRESH),
        "ca": {
            "root": {"certificate": _b64(keystore.root_certificate(session)),
                     "crl_url": locations.root_crl},
            "issuing": {"certificate": _b64(keystore.issuing_certificate(session)),
                        "crl_url": locations.issuing_crl},
            "tsa": [_b64(info.certificate)
                    for info in key_trust.issued_certificates(session, Purpose.TSA)
                    if info.revoked_at is None],
        },
        "departments": departments,
    }


def publish(session: Session, keystore: KeyStore, *, issuer: str, now: dt.datetime) -> str:
    """The signed trust list (compact JWS); may create the signing key (flushed)."""
    document = build_document(session, keystore, issuer=issuer, now=now)
    signer = keystore.trust_list_key(session, now=now)
    assert signer.certificate is not None
    chain = [_b64(signer.certificate), _b64(keystore.issuing_certificate(session))]
    claims = {**document, "iss": issuer, "iat": int(now.timestamp()),
              "exp": int((now + LIFETIME).timestamp())}
    return jws.sign(claims, signer, headers={"typ": JWS_TYPE, "x5c": chain})


# -- reading --------------------------------------------------------------------------------------


def flattened(token: str) -> dict[str, str]:
    """The compact JWS in the flattened JSON serialization (RFC 7515 §7.2.2)."""
    protected, payload, signature = token.split(".")
    return {"protected": protected, "payload": payload, "signature": signature}


def compact(published: object) -> str:
    """A compact JWS from either serialization (text, or the parsed JSON object)."""
    if isinstance(published, str) and published.lstrip().startswith("{"):
        try:
            published = json.loads(published)
        except ValueError:
            raise TrustListError("the trust list is not JSON") from None
    if isinstance(published, Mapping):
        parts = [published.get(name) for name in ("protected", "payload", "signature")]
        if not all(isinstance(part, str) and part for part in parts) or (
                set(published) - {"protected", "payload", "signature"}):
            raise TrustListError("the trust list is not a flattened JWS")
        return ".".join(str(part) for part in parts)
    if not isinstance(published, str):
        raise TrustListError("the trust list is not a JWS")
    return published.strip()


def load(token: object, *, root: x509.Certificate, at: dt.datetime,
         minimum_sequence: int | None = None) -> TrustList:
    """Verify a published trust list against the pinned ``root``; :class:`TrustListError` if not.

    ``token`` is the list in either serialization: the compact JWS, or the
    flattened JSON (as text or parsed).

    Checks the ``x5c`` chain (signer ← issuing CA ← root, each valid at
    ``at``, the signer with the tslSigning key usage), the ES256 signature,
    that the list is not expired at ``at``, that its root is the pinned one
    and, given ``minimum_sequence`` (the cached list's), that it is not older.
    """
    if isinstance(token, str) and len(token) > MAX_TOKEN_BYTES:
        raise TrustListError("the trust list is larger than any genuine one")
    text = compact(token)
    if not text or len(text) > MAX_TOKEN_BYTES or text.count(".") != 2:
        raise TrustListError("the trust list is not a JWS")
    header = _header(text)
    chain = header.get("x5c")
    kid = header.get("kid")
    if header.get("typ") != JWS_TYPE or not isinstance(kid, str):
        raise TrustListError("the JWS is not a Yiwang trust list")
    if not isinstance(chain, list) or len(chain) != 2 or not all(
            isinstance(item, str) for item in chain):
        raise TrustListError("the trust list's x5c must hold its signer and the issuing CA")
    signer, issuing = (_certificate(item) for item in chain)
    _check_chain(signer, issuing, root, at)
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TrustListError("the trust list signer's key is not an EC P-256 key")
    try:
        claims = jws.verify(text, {kid: public_key}, [_ES256],
                            require=("iat", "exp"), at=at)
    except (TokenInvalidError, KeyStoreError) as exc:
        raise TrustListError(f"the trust list does not verify: {exc}") from None
    trust_list = parse_document(claims)
    if trust_list.root != root:
        raise TrustListError("the trust list names another root than the pinned one")
    if minimum_sequence is not None and trust_list.sequence < minimum_sequence:
        raise TrustListError(f"the trust list (sequence {trust_list.sequence}) is older than "
                             f"the cached one ({minimum_sequence})")
    return trust_list


def parse_document(document: Mapping[str, Any]) -> TrustList:
    """A :class:`TrustList` from its JSON object; :class:`TrustListError` if malformed."""
    try:
        return _parse(document)
    except TrustListError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrustListError(f"the trust list is malformed: {exc!r}") from None


def _parse(document: Mapping[str, Any]) -> TrustList:
    if document.get("type") != FORMAT or document.get("version") != VERSION:
        raise TrustListError(f"not a version {VERSION} {FORMAT}")
    ca = document["ca"]
    departments: dict[str, DepartmentEntry] = {}
    qr_keys: dict[str, QrKey] = {}
    for entry in document["departments"]:
        uscc = _text(entry["uscc"])
        kids = []
        for item in entry["qr_keys"]:
            key = QrKey(
                kid=_text(item["kid"]), owner=uscc, public_key=_jwk_key(item["jwk"]),
                valid_from=_time(item["valid_from"]), retired_at=_optional_time(
                    item.get("retired_at")), valid_until=_optional_time(item.get("valid_until")))
            if key.kid in qr_keys:
                raise TrustListError(f"kid {key.kid!r} appears twice")
            qr_keys[key.kid] = key
            kids.append(key.kid)
        certificates = tuple(
            SigningCertificate(int(_text(item["serial"]), 16), _certificate(item["certificate"]),
                               _optional_time(item.get("revoked_at")),
                               item.get("revocation_reason"))
            for item in entry["signing_certificates"])
        name = entry.get("name")
        departments[uscc] = DepartmentEntry(uscc, name if isinstance(name, str) else None,
                                            certificates, tuple(kids))
    sequence = document["sequence"]
    if type(sequence) is not int:
        raise TrustListError("sequence must be an integer")
    return TrustList(
        issuer=_text(document["issuer"]).rstrip("/"), sequence=sequence,
        issued_at=_time(document["issued_at"]), next_update=_time(document["next_update"]),
        root=_certificate(ca["root"]["certificate"]),
        issuing=_certificate(ca["issuing"]["certificate"]),
        tsa=tuple(_certificate(item) for item in ca["tsa"]),
        root_crl_url=_text(ca["root"]["crl_url"]),
        issuing_crl_url=_text(ca["issuing"]["crl_url"]),
        departments=departments, qr_keys=qr_keys)


def _check_chain(signer: x509.Certificate, issuing: x509.Certificate, root: x509.Certificate,
                 at: dt.datetime) -> None:
    try:
        issuing.verify_directly_issued_by(root)
        signer.verify_directly_issued_by(issuing)
    except (ValueError, TypeError, InvalidSignature):
        raise TrustListError("the trust list's certificates do not chain to the root") from None
    for certificate in (signer, issuing):
        if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
            raise TrustListError(f"{certificate.subject.rfc4514_string()} is not valid at "
                                 f"{at.isoformat()}")
    try:
        constraints = issuing.extensions.get_extension_for_class(x509.BasicConstraints).value
        usages = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise TrustListError("the trust list's certificates lack required extensions") from None
    if not constraints.ca or key_trust.TSL_SIGNING not in usages:
        raise TrustListError("the trust list is not signed by a trust-list signing certificate")


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise TrustListError("the trust list's JWS header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise TrustListError("the trust list's JWS header is not an object")
    return header


def _jwk_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or jwk.get("alg", _ES256) != _ES256:
        raise TrustListError("QR keys must be ES256 (EC P-256) JWKs")
    x, y = (int.from_bytes(_b64url(jwk[name]), "big") for name in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def _certificate(value: object) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(base64.b64decode(_text(value), validate=True))
    except (ValueError, binascii.Error):
        raise TrustListError("a certificate in the trust list does not parse") from None


def _b64url(value: object) -> bytes:
    text = _text(value)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TrustListError(f"expected text, found {type(value).__name__}")
    return value


def _time(value: object) -> dt.datetime:
    moment = dt.datetime.fromisoformat(_text(value))
    if moment.utcoffset() is None:
        raise TrustListError("times in the trust list must carry a UTC offset")
    return moment.astimezone(dt.UTC)


def _optional_time(value: object) -> dt.datetime | None:
    return None if value is None else _time(value)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _organisation(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None
