"""The version-1 QR payload as a value, and its CBOR form.

The payload is a CBOR map with small integer keys, in deterministic
encoding (RFC 8949 §4.2.1), carried as the payload of a COSE_Sign1::

    0  format version, uint 1
    1  license identifier (GB/T 36904 style), text
    2  holder name, masked (张**; 北京****公司), text
    3  holder ID number or USCC, masked by the issuer (contains "*"), text
    4  valid from, uint YYYYMMDD
    5  valid until, uint YYYYMMDD; absent for permanent (长期) licenses
    6  issued at, uint seconds since the epoch
    7  face digest, bstr: the first 16 bytes of SHA-256 over the canonical
       JSON of the face data

There is no issuer field: the issuing department's USCC is the 7th
dot-separated component of the identifier (:attr:`QrPayload.issuer_uscc`).
Constructing a :class:`QrPayload` validates it, so a built payload and a
decoded one obey the same rules.

Decoding reads a map written exactly as :func:`encode_payload` writes one in
a single pass that checks the shortest-form heads, key order and value types
as it goes; anything else goes through the general strict decoder of
:mod:`keys.cose` and the checks that say precisely what is wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
import struct
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError as StdnumValidationError

from keys import cose
from keys.errors import TokenInvalidError
from signing.errors import PayloadError

__all__ = [
    "FACE_DIGEST_BYTES",
    "IDENTIFIER_PREFIX",
    "KEY_FACE_DIGEST",
    "KEY_HOLDER_ID",
    "KEY_HOLDER_NAME",
    "KEY_IDENTIFIER",
    "KEY_ISSUED_AT",
    "KEY_VALID_FROM",
    "KEY_VALID_UNTIL",
    "KEY_VERSION",
    "MAX_HOLDER_NAME_LENGTH",
    "MAX_IDENTIFIER_LENGTH",
    "MAX_MASKED_ID_LENGTH",
    "PAYLOAD_VERSION",
    "QrPayload",
    "decode_payload",
    "encode_payload",
]

PAYLOAD_VERSION = 1
FACE_DIGEST_BYTES = 16
MAX_IDENTIFIER_LENGTH = 160
MAX_HOLDER_NAME_LENGTH = 64
MAX_MASKED_ID_LENGTH = 32
IDENTIFIER_PREFIX = "1.2.156.3005.2."
# 1.2.156.3005.2 . type . issuer USCC . serial . version . check
_IDENTIFIER_PARTS = 10
_ISSUER_PART = 6

KEY_VERSION = 0
KEY_IDENTIFIER = 1
KEY_HOLDER_NAME = 2
KEY_HOLDER_ID = 3
KEY_VALID_FROM = 4
KEY_VALID_UNTIL = 5
KEY_ISSUED_AT = 6
KEY_FACE_DIGEST = 7
_REQUIRED_KEYS = frozenset({KEY_VERSION, KEY_IDENTIFIER, KEY_HOLDER_NAME, KEY_HOLDER_ID,
                            KEY_VALID_FROM, KEY_ISSUED_AT, KEY_FACE_DIGEST})
_KNOWN_KEYS = _REQUIRED_KEYS | {KEY_VALID_UNTIL}

# The fixed bytes of a payload as encode_payload writes it.
_VERSION_1 = bytes((KEY_VERSION, PAYLOAD_VERSION))
_UINT32 = 0x1A  # the head of a four-byte unsigned integer
_DIGEST_HEAD = bytes((KEY_FACE_DIGEST, 0x40 + FACE_DIGEST_BYTES))


def _tail_layout(keys: tuple[int, ...]) -> tuple[tuple[bytes, ...], struct.Struct]:
    """What follows the three texts: ``keys`` each with a four-byte unsigned
    integer, then key 7 and the digest. Its key-and-head pairs, and the struct
    that reads it."""
    heads = (*(bytes((key, _UINT32)) for key in keys), _DIGEST_HEAD)
    return heads, struct.Struct(">" + "2sI" * len(keys) + f"2s{FACE_DIGEST_BYTES}s")


# By the map's head: 7 keys for a permanent license, 8 with key 5.
_TAILS = {0xA0 + len(_REQUIRED_KEYS): _tail_layout((KEY_VALID_FROM, KEY_ISSUED_AT)),
          0xA0 + len(_KNOWN_KEYS): _tail_layout((KEY_VALID_FROM, KEY_VALID_UNTIL, KEY_ISSUED_AT))}

_MAX_YYYYMMDD = 99991231
_MAX_EPOCH_SECONDS = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)).timestamp())
_UTC_OFFSET = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# GB 32100-2015 as python-stdnum implements it: 18 characters of this alphabet, the
# first eight digits, the last a check character over the other seventeen.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC = re.compile(f"[0-9]{{8}}[{_USCC_ALPHABET}]{{10}}")
_USCC_VALUES = bytes.maketrans(_USCC_ALPHABET.encode("ascii"), bytes(range(31)))
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclasses.dataclass(frozen=True)
class QrPayload:
    """What a license's QR code asserts, signed by the issuing department.

    ``issued_at`` is in UTC with whole seconds; ``valid_until`` is None for
    permanent (长期) licenses; ``face_digest`` is 16 bytes (see
    :func:`signing.payload.face_digest`). ``issuer_uscc`` is not an argument:
    it is the issuing department's USCC, the identifier's 7th dot-separated
    component.
    """

    version: int
    identifier: str
    holder_name_masked: str
    holder_id_masked: str
    valid_from: date
    valid_until: date | None
    issued_at: datetime
    face_digest: bytes
    issuer_uscc: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.version) is not int or self.version != PAYLOAD_VERSION:
            raise PayloadError(f"unsupported payload format version {self.version!r}")
        if not isinstance(self.holder_name_masked, str):
            raise PayloadError("the masked holder name must be text")
        # Exactly dates: a datetime is a date too, but cannot be compared with one.
        if type(self.valid_from) is not date:
            raise PayloadError("valid_from must be a datetime.date")
        if self.valid_until is not None and type(self.valid_until) is not date:
            raise PayloadError("valid_until must be a datetime.date")
        _check_issued_at(self.issued_at)
        if not isinstance(self.face_digest, bytes) or len(self.face_digest) != FACE_DIGEST_BYTES:
            raise PayloadError(f"the face digest must be {FACE_DIGEST_BYTES} bytes")
        # Kept from the identifier's check, as every verification reads it; a frozen
        # dataclass sets a derived field with object.__setattr__.
        object.__setattr__(self, "issuer_uscc", _checked_issuer(
            self.identifier, self.holder_name_masked, self.holder_id_masked, self.valid_from,
            self.valid_until))

    @classmethod
    def _of_decoded(cls, identifier: str, holder_name_masked: str, holder_id_masked: str,
                    valid_from: date, valid_until: date | None, issued_at: datetime,
                    face_digest: bytes) -> QrPayload:
        """``cls(PAYLOAD_VERSION, ...)`` for :func:`decode_payload`, at half the cost.

        The decoder's values always have their types (a UTC time in whole
        seconds after 1970, a 16-byte digest), so only the rules on the values
        are checked. The same frozen value, built without the generated
        ``__init__``, which sets each field through ``object.__setattr__``:
        every scan decodes a payload.
        """
        issuer_uscc = _checked_issuer(identifier, holder_name_masked, holder_id_masked,
                                      valid_from, valid_until)
        payload = object.__new__(cls)
        payload.__dict__.update(
            version=PAYLOAD_VERSION, identifier=identifier,
            holder_name_masked=holder_name_masked, holder_id_masked=holder_id_masked,
            valid_from=valid_from, valid_until=valid_until, issued_at=issued_at,
            face_digest=face_digest, issuer_uscc=issuer_uscc)
        return payload


def _checked_issuer(identifier: object, holder_name_masked: str, holder_id_masked: object,
                    valid_from: date, valid_until: date | None) -> str:
    """The issuer USCC of a payload with these values; :class:`PayloadError` if one is wrong."""
    issuer_uscc = _identifier_issuer(identifier)
    if not 0 < len(holder_name_masked) <= MAX_HOLDER_NAME_LENGTH:
        raise PayloadError(f"the masked holder name must be 1 to {MAX_HOLDER_NAME_LENGTH} "
                           "characters of text")
    if (not isinstance(holder_id_masked, str)
            or not 0 < len(holder_id_masked) <= MAX_MASKED_ID_LENGTH):
        raise PayloadError("holder_id_masked must be a short non-empty string")
    if "*" not in holder_id_masked:
        raise PayloadError("holder_id_masked must be masked (contain '*'), never a full ID")
    if valid_until is not None and valid_until < valid_from:
        raise PayloadError("valid_until is before valid_from")
    return issuer_uscc


def encode_payload(payload: QrPayload) -> bytes:
    """The deterministic CBOR map of ``payload``."""
    fields: dict[int, Any] = {
        KEY_VERSION: payload.version,
        KEY_IDENTIFIER: payload.identifier,
        KEY_HOLDER_NAME: payload.holder_name_masked,
        KEY_HOLDER_ID: payload.holder_id_masked,
        KEY_VALID_FROM: _yyyymmdd(payload.valid_from),
        KEY_ISSUED_AT: int(payload.issued_at.timestamp()),
        KEY_FACE_DIGEST: payload.face_digest,
    }
    if payload.valid_until is not None:
        fields[KEY_VALID_UNTIL] = _yyyymmdd(payload.valid_until)
    return cose.dumps_deterministic(fields)


def decode_payload(data: bytes) -> QrPayload:
    """The payload encoded in ``data``; :class:`PayloadError` unless it is exactly version 1."""
    try:
        identifier, holder_name, holder_id, valid_from, valid_until, issued_at, digest = (
            _exact_fields(data))
        # Four-byte integers need no range check as times (they end in 2106); as
        # dates, one that is not (20261301) goes the checked way for its message.
        valid_from_date = _calendar_date(valid_from)
        valid_until_date = None if valid_until is None else _calendar_date(valid_until)
    except (_NotExact, IndexError, KeyError, UnicodeDecodeError, ValueError):
        return _decode_checked(data)
    return QrPayload._of_decoded(identifier, holder_name, holder_id, valid_from_date,
                                 valid_until_date, datetime.fromtimestamp(issued_at, UTC), digest)


class _NotExact(Exception):
    """The payload is not in the exact shape the signer writes (it may still be valid)."""


_ExactFields = tuple[str, str, str, int, int | None, int, bytes]


def _exact_fields(data: bytes) -> _ExactFields:
    """The values of a map written exactly as :func:`encode_payload` writes one.

    ``a7`` (``a8`` with key 5), ``00 01`` (version 1), keys 1 to 3 with text
    of up to 255 bytes, keys 4 to 6 with four-byte unsigned integers (every
    date and issue time since 1970), ``07 50`` and the 16-byte digest, the
    end. Every head is checked for its shortest form on the way, so such
    bytes are deterministic CBOR and the general decoder would read the same
    values. Raises :class:`_NotExact`, :class:`IndexError`, :class:`KeyError`
    or :class:`UnicodeDecodeError` for anything else.
    """
    if type(data) is not bytes or not data.startswith(_VERSION_1, 1):
        raise _NotExact
    heads, tail = _TAILS[data[0]]
    identifier, offset = _text_at(data, 1 + len(_VERSION_1), KEY_IDENTIFIER)
    holder_name, offset = _text_at(data, offset, KEY_HOLDER_NAME)
    holder_id, offset = _text_at(data, offset, KEY_HOLDER_ID)
    if len(data) - offset != tail.size:
        raise _NotExact
    values = tail.unpack_from(data, offset)
    # values alternate key-and-head pairs and what follows them; a four-byte
    # integer below 2**16 would not be in its shortest form.
    numbers = values[1:-1:2]
    if values[::2] != heads or min(numbers) <= 0xFFFF:
        raise _NotExact
    valid_until = numbers[1] if len(numbers) == 3 else None
    return (identifier, holder_name, holder_id, numbers[0], valid_until, numbers[-1],
            values[-1])


def _text_at(data: bytes, offset: int, key: int) -> tuple[str, int]:
    """Key ``key`` and a text of up to 255 bytes, its length in shortest form."""
    if data[offset] != key:
        raise _NotExact
    initial = data[offset + 1]
    if 0x60 <= initial < 0x78:
        start, end = offset + 2, offset + 2 + initial - 0x60
    elif initial == 0x78 and data[offset + 2] >= 24:
        start, end = offset + 3, offset + 3 + data[offset + 2]
    else:
        raise _NotExact
    if end > len(data):
        raise _NotExact
    return data[start:end].decode("utf-8"), end


def _decode_checked(data: bytes) -> QrPayload:
    """Any deterministic CBOR map of a version-1 payload; the precise refusal otherwise."""
    try:
        fields = cose.loads_deterministic(data)
    except TokenInvalidError as exc:
        raise PayloadError(f"the payload is not deterministic CBOR: {exc}") from None
    if not isinstance(fields, dict):
        raise PayloadError("the payload is not a CBOR map")
    unknown = [key for key in fields if type(key) is not int or key not in _KNOWN_KEYS]
    if unknown:
        raise PayloadError(f"the payload has unknown keys {unknown!r}")
    version = fields.get(KEY_VERSION)
    if type(version) is not int:
        raise PayloadError("key 0 (format version) is missing or not an integer")
    if version != PAYLOAD_VERSION:
        raise PayloadError(f"unsupported payload format version {version}")
    missing = sorted(_REQUIRED_KEYS - fields.keys())
    if missing:
        raise PayloadError(f"the payload lacks keys {missing}")
    valid_until = fields.get(KEY_VALID_UNTIL)
    return QrPayload(
        version=version,
        identifier=_typed(fields, KEY_IDENTIFIER, str),
        holder_name_masked=_typed(fields, KEY_HOLDER_NAME, str),
        holder_id_masked=_typed(fields, KEY_HOLDER_ID, str),
        valid_from=_date(fields[KEY_VALID_FROM], KEY_VALID_FROM),
        valid_until=None if valid_until is None else _date(valid_until, KEY_VALID_UNTIL),
        issued_at=_epoch(fields[KEY_ISSUED_AT], KEY_ISSUED_AT),
        face_digest=_typed(fields, KEY_FACE_DIGEST, bytes),
    )


def _identifier_issuer(identifier: object) -> str:
    """The issuer USCC of an identifier that has the structure it is derived from."""
    if (
        not isinstance(identifier, str)
        or not 0 < len(identifier) <= MAX_IDENTIFIER_LENGTH
        # printable ASCII without spaces: "!" to "~"
        or not (identifier.isascii() and identifier.isprintable()) or " " in identifier
    ):
        raise PayloadError("the license identifier must be printable ASCII without spaces")
    parts = identifier.split(".")
    if not identifier.startswith(IDENTIFIER_PREFIX) or len(parts) != _IDENTIFIER_PARTS:
        raise PayloadError(f"the license identifier must be {IDENTIFIER_PREFIX}<type>.<issuer "
                           "USCC>.<serial>.<version>.<check>")
    issuer = parts[_ISSUER_PART]
    if _is_canonical_uscc(issuer):
        return issuer
    # python-stdnum says what is wrong with any other issuer code.
    try:
        canonical = stdnum_uscc.validate(issuer)
    except StdnumValidationError as exc:
        raise PayloadError(f"the identifier's issuer {issuer!r} is not a valid USCC: {exc}") \
            from None
    if canonical != issuer:
        raise PayloadError("the identifier's issuer USCC is not in canonical form")
    return issuer


# Every code a department prints carries its USCC, so the few that verifiers see
# are remembered: a pure function of the string, bounded like urllib's caches.
@functools.lru_cache(maxsize=256)
def _is_canonical_uscc(code: str) -> bool:
    """True when python-stdnum's ``uscc.validate`` accepts ``code`` and returns it unchanged.

    The same rule without the separator cleaning and upper-casing, which only
    matter for codes that are not canonical, and with the character values
    looked up in a table: the common case, every scan, costs a fraction of the
    library call. Whatever this refuses goes to python-stdnum.
    """
    if not _USCC.fullmatch(code):
        return False
    values = code.encode("ascii").translate(_USCC_VALUES)
    return values[-1] == -sum(map(operator.mul, values, _USCC_WEIGHTS)) % 31


def _check_issued_at(value: object) -> None:
    if (
        not isinstance(value, datetime)
        or value.utcoffset() != _UTC_OFFSET
        or value.microsecond
        # Whole seconds at offset 0 cannot be later than _MAX_EPOCH_SECONDS.
        or value < _EPOCH
    ):
        raise PayloadError("issued_at must be a UTC datetime in whole seconds, after 1970")


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _typed(fields: dict[Any, Any], key: int, kind: type) -> Any:
    value = fields[key]
    if type(value) is not kind:
        raise PayloadError(f"key {key} must be a {'text' if kind is str else 'byte'} string")
    return value


def _date(value: object, key: int) -> date:
    if type(value) is not int or not 0 <= value <= _MAX_YYYYMMDD:
        raise PayloadError(f"key {key} is not a date as an unsigned integer YYYYMMDD")
    try:
        return _calendar_date(value)
    except ValueError:
        raise PayloadError(f"key {key} ({value}) is not a calendar date") from None


def _calendar_date(yyyymmdd: int) -> date:
    """The date an integer YYYYMMDD names; ValueError if there is no such day."""
    return date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100)


def _epoch(value: object, key: int) -> datetime:
    if type(value) is not int or not 0 <= value <= _MAX_EPOCH_SECONDS:
        raise PayloadError(f"key {key} is not seconds since the epoch as an unsigned integer")
    return datetime.fromtimestamp(value, UTC)
