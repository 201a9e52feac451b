"""The signed QR payload printed on every license (format version 1).

The QR code holds ``<issuer>/v/<token>``: ``token`` is base64url (unpadded)
of a tagged COSE_Sign1 (RFC 9052, ES256, deterministic CBOR) whose payload is
the CBOR map of a :class:`QrPayload`, signed with the issuing department's QR
key. The map's integer keys and the rules a payload obeys are in
:mod:`signing.cbor_payload`; the envelope is :mod:`keys.cose`.

There is no expiry: whether a license is in force is a question for the
vault's status, not for a token lifetime. ``docs/qr-payload.md`` is the
normative description for third-party verifiers.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import json
import re
import string
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from keys import cose
from keys.errors import KeyStoreError, TokenInvalidError
from keys.material import Algorithm, PublicKey, SigningKey
from signing.cbor_payload import (
    FACE_DIGEST_BYTES,
    PAYLOAD_VERSION,
    QrPayload,
    decode_payload,
    encode_payload,
)
from signing.errors import PayloadError, PayloadSignatureError, PayloadTooLargeError

__all__ = [
    "MAX_QR_TEXT_BYTES",
    "PAYLOAD_VERSION",
    "QrPayload",
    "VerifiedPayload",
    "build_payload",
    "canonical_face_json",
    "face_digest",
    "mask_entity_name",
    "mask_holder_name",
    "mask_person_name",
    "parse_qr_url",
    "qr_url",
    "sign_payload",
    "token_message",
    "verify_payload",
]

ALGORITHM = Algorithm.ES256
VERIFY_SEGMENT = "/v/"
# No genuine QR text comes near this; refusing early bounds the work an attacker can cause.
MAX_QR_TEXT_BYTES = 2048
MAX_ENTITY_STARS = 4

_BASE64URL_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_BASE64URL_BYTES = _BASE64URL_ALPHABET.encode("ascii")
# A token of 2 or 3 characters modulo 4 ends in a character carrying 4 or 2 spare
# bits, which must be zero: only every 16th or every 4th letter of the alphabet.
_CANONICAL_LAST = {2: frozenset(_BASE64URL_ALPHABET[::16]),
                   3: frozenset(_BASE64URL_ALPHABET[::4])}
_PADDING = (b"", b"", b"==", b"=")
# base64url to base64 for strict decoding: "-" and "_" become "+" and "/", and the
# characters base64 has but base64url lacks become "*", which strict decoding refuses
# like everything else outside the alphabet.
_TO_BASE64 = bytes.maketrans(b"-_+/=", b"+/***")
_WHITESPACE = re.compile(r"\s")  # what str.isspace() calls whitespace
_LOOPBACK_NAMES = frozenset({"localhost"})


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
        raise PayloadError("face data contains a lone surrogate, not Unicode text") from None


def face_digest(face_fields: Mapping[str, str]) -> bytes:
    """The first 16 bytes of SHA-256 over the canonical face JSON.

    >>> face_digest({"name": "张三", "number": "110108012345678"}).hex()
    'b5b5259008487d263cd692d5de0bc16f'
    """
    return hashlib.sha256(canonical_face_json(face_fields)).digest()[:FACE_DIGEST_BYTES]


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
    """Mask a holder name the way the payload carries it (key 2)."""
    return mask_entity_name(name) if entity else mask_person_name(name)


def _holder_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PayloadError("holder name must be a non-empty string")
    return "".join(name.split())


# ---------------------------------------------------------------------------
# Building, signing and verifying


class VerifiedPayload(NamedTuple):
    """A payload whose signature verified, and the kid of the key that signed it.

    The caller still checks that ``kid`` belongs to the department whose USCC
    is ``payload.issuer_uscc``, and judges whether the license is in force.
    """

    kid: str
    payload: QrPayload


def build_payload(
    *,
    identifier: str,
    holder_name: str,
    holder_is_entity: bool,
    holder_id_masked: str,
    valid_from: date,
    valid_until: date | None,
    issued_at: datetime,
    face_fields: Mapping[str, str],
) -> QrPayload:
    """The version-1 QR payload of a license, ready for :func:`sign_payload`.

    ``holder_name`` is the full name (masked here); ``holder_id_masked`` must
    already be masked (it must contain ``*``), so a full ID number can never
    reach a printed code by mistake. ``issued_at`` must be timezone-aware; it
    is kept in UTC to the second. The issuer is not an argument: it is the
    USCC inside ``identifier``.
    """
    if not isinstance(issued_at, datetime) or issued_at.utcoffset() is None:
        raise PayloadError("issued_at must be a timezone-aware datetime")
    return QrPayload(
        version=PAYLOAD_VERSION,
        identifier=identifier,
        holder_name_masked=mask_holder_name(holder_name, entity=holder_is_entity),
        holder_id_masked=holder_id_masked,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=issued_at.astimezone(UTC).replace(microsecond=0),
        face_digest=face_digest(face_fields),
    )


def sign_payload(payload: QrPayload, key: SigningKey) -> str:
    """The token: base64url of the COSE_Sign1 of ``payload`` signed with the QR key (ES256)."""
    if not isinstance(payload, QrPayload):
        raise PayloadError("sign a QrPayload made by build_payload")
    if key.algorithm != ALGORITHM:
        raise PayloadError(f"QR payloads are signed with {ALGORITHM}, not {key.algorithm}")
    try:
        message = cose.sign1(encode_payload(payload), key)
    except KeyStoreError as exc:
        raise PayloadError(f"cannot sign the QR payload: {exc}") from exc
    return base64.urlsafe_b64encode(message).rstrip(b"=").decode("ascii")


def verify_payload(token: str, keys: Mapping[str, PublicKey]) -> VerifiedPayload:
    """The payload of a QR token signed by one of ``keys`` (kid to public key).

    Raises :class:`PayloadSignatureError` when the token is not a genuine
    COSE_Sign1 from one of the offered keys (malformed, unknown kid, another
    algorithm, forged or altered) and :class:`PayloadError` when a genuinely
    signed payload is not a valid version-1 payload. The payload has no
    lifetime, so the answer does not depend on the time; whether the license
    is in force (dates, vault status) is for the caller to judge.
    """
    if not isinstance(token, str):
        raise PayloadError("the token must be a string")
    if len(token) > MAX_QR_TEXT_BYTES:
        raise PayloadTooLargeError(f"the token is longer than {MAX_QR_TEXT_BYTES} bytes")
    try:
        verified = cose.verify1(token_message(token), keys)
    except TokenInvalidError as exc:
        raise PayloadSignatureError(f"the QR token is not genuine: {exc}") from exc
    except KeyStoreError as exc:
        raise PayloadError(f"cannot verify the QR token: {exc}") from exc
    return VerifiedPayload(verified.kid, decode_payload(verified.payload))


def _is_base64url(text: str) -> bool:
    """True for a non-empty string of base64url characters only."""
    # Deleting the alphabet must leave nothing: over a 300-character token, half
    # the time of the equivalent regular expression, and every scan does it.
    return (bool(text) and text.isascii()
            and not text.encode("ascii").translate(None, _BASE64URL_BYTES))


def token_message(token: str) -> bytes:
    """The COSE message a token encodes; :class:`TokenInvalidError` unless canonical base64url."""
    # Strict: the base64url alphabet, no padding, and no stray bits in the last character.
    spare = len(token) % 4
    if not token or spare == 1 or not token.isascii():
        raise TokenInvalidError("the token is not unpadded base64url")
    if spare and token[-1] not in _CANONICAL_LAST[spare]:
        raise TokenInvalidError("the token is not canonical base64url")
    try:
        return binascii.a2b_base64(
            token.encode("ascii").translate(_TO_BASE64) + _PADDING[spare], strict_mode=True)
    except binascii.Error:
        raise TokenInvalidError("the token is not unpadded base64url") from None


# ---------------------------------------------------------------------------
# The URL in the QR code


def qr_url(issuer: str, token: str) -> str:
    """``<issuer>/v/<token>``, the text encoded in the QR code.

    >>> qr_url("https://yiwang.example.gov.cn/", "0oRDoQEm")
    'https://yiwang.example.gov.cn/v/0oRDoQEm'
    """
    base = _check_issuer(issuer)
    if not isinstance(token, str) or not _is_base64url(token):
        raise PayloadError("the token is not base64url")
    url = f"{base}{VERIFY_SEGMENT}{token}"
    if len(url) > MAX_QR_TEXT_BYTES:
        raise PayloadTooLargeError(f"the QR URL is longer than {MAX_QR_TEXT_BYTES} bytes")
    return url


def parse_qr_url(text: str | bytes) -> tuple[str, str]:
    """Split scanned QR text into ``(issuer, token)``, refusing anything else precisely.

    >>> parse_qr_url("https://yiwang.example.gov.cn/v/0oRDoQEm\\n")
    ('https://yiwang.example.gov.cn', '0oRDoQEm')
    >>> parse_qr_url("http://yiwang.example.gov.cn/v/0oRDoQEm")
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
    if not _is_base64url(token):
        raise PayloadError("the part after /v/ is not a base64url token")
    return issuer, token


def _check_issuer(issuer: object) -> str:
    """Return the issuer base URL without a trailing slash, if it is acceptable.

    https only, except plain http to a loopback host so a development instance works.
    """
    if not isinstance(issuer, str) or not issuer.isascii():
        raise PayloadError("the issuer must be an ASCII URL")
    return _canonical_issuer(issuer)


# Every code a service prints starts with the same issuer, so the answer for a
# string is remembered, as urllib remembers urlsplit's: a pure function of the
# string (never of the token), and a refusal, being an exception, is not cached.
@functools.lru_cache(maxsize=64)
def _canonical_issuer(issuer: str) -> str:
    """:func:`_check_issuer` for an ASCII string."""
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
    if _WHITESPACE.search(issuer):
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
