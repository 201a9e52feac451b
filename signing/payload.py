"""The signed QR payload printed on every license (format version 1).

The QR code holds ``<issuer>/v/<token>``: ``token`` is a JWS compact
serialization (ES256) signed with the issuing department's QR key. Claim names
are short because every byte enlarges the printed symbol::

    v    format version, 1
    id   license identifier (GB/T 36904 style)
    hn   holder name, masked (张**; 北京****公司)
    hi   holder ID number or USCC, masked by the caller
    iss  issuing department's USCC
    vf   valid from, ISO date
    vu   valid until, ISO date; absent for permanent (长期) licenses
    iat  issue time, seconds since the epoch
    fd   face digest: base64url of the first 16 bytes of SHA-256 over the
         canonical JSON of the face data

There is no ``exp``: whether a license is in force is a question for the
vault's status, not for a token lifetime. ``docs/qr-payload.md`` is the
normative description for third-party verifiers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError as StdnumValidationError

from keys import jws
from keys.errors import KeyStoreError, TokenInvalidError
from keys.material import PublicKey, SigningKey
from signing.errors import PayloadError, PayloadSignatureError, PayloadTooLargeError

PAYLOAD_VERSION = 1
ALGORITHM = "ES256"
VERIFY_SEGMENT = "/v/"
# No genuine QR text comes near this; refusing early bounds the work an attacker can cause.
MAX_QR_TEXT_BYTES = 2048
FACE_DIGEST_BYTES = 16
MAX_IDENTIFIER_LENGTH = 160
MAX_MASKED_ID_LENGTH = 32
MAX_ENTITY_STARS = 4

_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_FACE_DIGEST = re.compile(r"[A-Za-z0-9_-]{22}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_IDENTIFIER = re.compile(r"[\x21-\x7e]+")
_LOOPBACK_NAMES = frozenset({"localhost"})
_REQUIRED_CLAIMS = ("v", "id", "hn", "hi", "iss", "vf", "iat", "fd")


# ---------------------------------------------------------------------------
# Face digest


def canonical_face_json(face_fields: Mapping[str, str]) -> bytes:
    """The canonical UTF-8 JSON of the face data: sorted keys, no whitespace.

    Keys are ordered by their UTF-16 code units and strings escaped as
    ``JSON.stringify`` does, so for an object of strings this is exactly
    RFC 8785 (JCS) and any JCS library reproduces it.

    >>> canonical_face_json({"name": "张三", "b": "x\\ny"}).decode()
    '{"b":"x\\\\ny","name":"张三"}'
    """
    if not isinstance(face_fields, Mapping):
        raise PayloadError("face data must be a mapping of field name to string")
    for key, value in face_fields.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise PayloadError(f"face field {key!r} must map a string to a string")
    members = [
        json.dumps(key, ensure_ascii=False) + ":" + json.dumps(face_fields[key], ensure_ascii=False)
        for key in sorted(face_fields, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
    ]
    try:
        return ("{" + ",".join(members) + "}").encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError("face data contains a lone surrogate, which is not Unicode text") from None


def face_digest(face_fields: Mapping[str, str]) -> str:
    """base64url (unpadded) of the first 16 bytes of SHA-256 over the canonical face JSON.

    >>> face_digest({"name": "张三", "number": "110108012345678"})
    'tbUlkAhIfSY81pLV3gvBbw'
    """
    digest = hashlib.sha256(canonical_face_json(face_fields)).digest()[:FACE_DIGEST_BYTES]
    return _b64url(digest)


def _b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------
# Masking


def mask_person_name(name: str) -> str:
    """Keep a person's first character and star the rest.

    >>> mask_person_name("张三丰")
    '张**'
    >>> mask_person_name("欧阳娜娜")
    '欧***'
    """
    name = _holder_name(name)
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else name


def mask_entity_name(name: str) -> str:
    """Keep an entity's first two and last two characters; at most four stars between.

    Capping the stars keeps long names (30 characters and more are common)
    from growing the QR code.

    >>> mask_entity_name("北京云栖数智科技有限公司")
    '北京****公司'
    >>> mask_entity_name("某某小商店")
    '某某*商店'
    >>> mask_entity_name("某某商店")
    '某***'
    """
    name = _holder_name(name)
    if len(name) <= 4:  # keeping four characters would reveal the whole name
        return mask_person_name(name)
    return name[:2] + "*" * min(len(name) - 4, MAX_ENTITY_STARS) + name[-2:]


def mask_holder_name(name: str, *, entity: bool) -> str:
    """Mask a holder name the way the payload carries it (``hn``)."""
    return mask_entity_name(name) if entity else mask_person_name(name)


def _holder_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PayloadError("holder name must be a non-empty string")
    return "".join(name.split())


# ---------------------------------------------------------------------------
# Building, signing and verifying


def build_payload(
    *,
    identifier: str,
    holder_name: str,
    holder_is_entity: bool,
    holder_id_masked: str,
    issuer_uscc: str,
    valid_from: date,
    valid_until: date | None,
    issued_at: datetime,
    face_fields: Mapping[str, str],
) -> dict[str, Any]:
    """The claims of a version-1 QR payload, ready for :func:`sign_payload`.

    ``holder_name`` is the full name (masked here); ``holder_id_masked`` must
    already be masked (it must contain ``*``), so a full ID number can never
    reach a printed code by mistake. ``issued_at`` must be timezone-aware.
    """
    _check_identifier(identifier)
    _check_masked_id(holder_id_masked)
    iss = _check_uscc(issuer_uscc)
    _check_date("valid_from", valid_from)
    if valid_until is not None:
        _check_date("valid_until", valid_until)
        if valid_until < valid_from:
            raise PayloadError("valid_until is before valid_from")
    if not isinstance(issued_at, datetime) or issued_at.utcoffset() is None:
        raise PayloadError("issued_at must be a timezone-aware datetime")
    claims: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "id": identifier,
        "hn": mask_holder_name(holder_name, entity=holder_is_entity),
        "hi": holder_id_masked,
        "iss": iss,
        "vf": valid_from.isoformat(),
    }
    if valid_until is not None:
        claims["vu"] = valid_until.isoformat()
    claims["iat"] = int(issued_at.timestamp())
    claims["fd"] = face_digest(face_fields)
    return claims


def sign_payload(claims: Mapping[str, Any], key: SigningKey) -> str:
    """Sign ``claims`` with the department's QR key (ES256) and return the compact JWS."""
    if key.algorithm != ALGORITHM:
        raise PayloadError(f"QR payloads are signed with {ALGORITHM}, not {key.algorithm}")
    try:
        return jws.sign(claims, key)
    except KeyStoreError as exc:
        raise PayloadError(f"cannot sign the QR payload: {exc}") from exc


def verify_payload(
    token: str, keys: Mapping[str, PublicKey], *, at: datetime | None = None
) -> dict[str, Any]:
    """Return the claims of a QR token signed by one of ``keys`` (kid to public key).

    Raises :class:`PayloadSignatureError` when no offered key verifies the
    token (unknown kid, forged or altered, other algorithm) and
    :class:`PayloadError` when a verified payload is not a valid version-1
    payload. Whether the license is in force (``vf``/``vu``, vault status) is
    for the caller to judge.
    """
    if not isinstance(token, str):
        raise PayloadError("the token must be a string")
    if len(token.encode("utf-8")) > MAX_QR_TEXT_BYTES:
        raise PayloadTooLargeError(f"the token is longer than {MAX_QR_TEXT_BYTES} bytes")
    try:
        claims = jws.verify(token, keys, [ALGORITHM], require=(), at=at)
    except TokenInvalidError as exc:
        raise PayloadSignatureError(f"the QR token is not genuine: {exc}") from exc
    except KeyStoreError as exc:
        raise PayloadError(f"cannot verify the QR token: {exc}") from exc
    _check_claims(claims)
    return claims


def _check_claims(claims: Mapping[str, Any]) -> None:
    version = claims.get("v")
    if type(version) is not int:  # bool is an int subclass; true must not pass as 1
        raise PayloadError("claim v (format version) is missing or not an integer")
    if version != PAYLOAD_VERSION:
        raise PayloadError(f"unsupported payload format version {version}")
    missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise PayloadError(f"payload lacks claims {', '.join(missing)}")
    for name in ("id", "hn", "hi", "iss", "vf", "fd"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise PayloadError(f"claim {name} must be a non-empty string")
    _check_identifier(claims["id"])
    _check_uscc(claims["iss"], canonical_only=True)
    valid_from = _claim_date(claims, "vf")
    if "vu" in claims and _claim_date(claims, "vu") < valid_from:
        raise PayloadError("claim vu is before vf")
    if type(claims["iat"]) is not int or claims["iat"] < 0:
        raise PayloadError("claim iat must be a non-negative integer")
    if not _FACE_DIGEST.fullmatch(claims["fd"]):
        raise PayloadError("claim fd is not 16 bytes of base64url")


def _claim_date(claims: Mapping[str, Any], name: str) -> date:
    value = claims[name]
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise PayloadError(f"claim {name} is not an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"claim {name} is not a calendar date") from None


def _check_identifier(identifier: object) -> None:
    if (
        not isinstance(identifier, str)
        or not _IDENTIFIER.fullmatch(identifier)
        or len(identifier) > MAX_IDENTIFIER_LENGTH
    ):
        raise PayloadError("the license identifier must be printable ASCII without spaces")


def _check_masked_id(masked: object) -> None:
    if not isinstance(masked, str) or not masked or len(masked) > MAX_MASKED_ID_LENGTH:
        raise PayloadError("holder_id_masked must be a short non-empty string")
    if "*" not in masked:
        raise PayloadError("holder_id_masked must be masked (contain '*'), never a full ID")


def _check_uscc(value: object, *, canonical_only: bool = False) -> str:
    if not isinstance(value, str):
        raise PayloadError("the issuer USCC must be a string")
    try:
        canonical = str(stdnum_uscc.validate(value))
    except StdnumValidationError as exc:
        raise PayloadError(f"{value!r} is not a valid USCC: {exc}") from None
    if canonical_only and canonical != value:
        raise PayloadError("claim iss is not a USCC in canonical form")
    return canonical


def _check_date(name: str, value: object) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise PayloadError(f"{name} must be a datetime.date")


# ---------------------------------------------------------------------------
# The URL in the QR code


def qr_url(issuer: str, token: str) -> str:
    """``<issuer>/v/<token>``, the text encoded in the QR code.

    >>> qr_url("https://yiwang.example.gov.cn/", "aaa.bbb.ccc")
    'https://yiwang.example.gov.cn/v/aaa.bbb.ccc'
    """
    base = _check_issuer(issuer)
    if not isinstance(token, str) or not _JWS_COMPACT.fullmatch(token):
        raise PayloadError("the token is not a JWS compact serialization")
    url = f"{base}{VERIFY_SEGMENT}{token}"
    if len(url) > MAX_QR_TEXT_BYTES:
        raise PayloadTooLargeError(f"the QR URL is longer than {MAX_QR_TEXT_BYTES} bytes")
    return url


def parse_qr_url(text: str | bytes) -> tuple[str, str]:
    """Split scanned QR text into ``(issuer, token)``, refusing anything else precisely.

    >>> parse_qr_url("https://yiwang.example.gov.cn/v/aaa.bbb.ccc\\n")
    ('https://yiwang.example.gov.cn', 'aaa.bbb.ccc')
    >>> parse_qr_url("http://yiwang.example.gov.cn/v/aaa.bbb.ccc")
    Traceback (most recent call last):
        ...
    signing.errors.PayloadError: the verification URL must use https (got 'http')
    """
    if isinstance(text, bytes):
        if len(text) > MAX_QR_TEXT_BYTES:
            raise PayloadTooLargeError(f"QR text is longer than {MAX_QR_TEXT_BYTES} bytes")
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise PayloadError("QR text is not an ASCII URL") from None
    if not isinstance(text, str):
        raise PayloadError("QR text must be a string")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_QR_TEXT_BYTES:
        raise PayloadTooLargeError(f"QR text is longer than {MAX_QR_TEXT_BYTES} bytes")
    text = text.strip()
    if not text.isascii():
        raise PayloadError("QR text is not an ASCII URL")
    head, separator, token = text.rpartition(VERIFY_SEGMENT)
    if not separator:
        raise PayloadError("the URL has no /v/<token> path")
    issuer = _check_issuer(head)
    if not _JWS_COMPACT.fullmatch(token):
        raise PayloadError("the part after /v/ is not a JWS compact serialization")
    return issuer, token


def _check_issuer(issuer: object) -> str:
    """Return the issuer base URL without a trailing slash, if it is acceptable.

    https only, except plain http to a loopback host so a development instance works.
    """
    if not isinstance(issuer, str) or not issuer.isascii():
        raise PayloadError("the issuer must be an ASCII URL")
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise PayloadError(f"{issuer!r} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise PayloadError(f"the verification URL must use https (got {parts.scheme!r})")
    if not host:
        raise PayloadError("the verification URL has no host")
    if scheme == "http" and not _is_loopback(host):
        raise PayloadError(f"the verification URL must use https (got {parts.scheme!r})")
    if "@" in parts.netloc:
        raise PayloadError("the verification URL must not carry user information")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise PayloadError("the verification URL must not have a query or fragment")
    if any(char.isspace() for char in issuer):
        raise PayloadError("the verification URL must not contain whitespace")
    netloc = parts.netloc.lower()
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
