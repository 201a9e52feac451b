"""COSE_Sign1 (RFC 9052) with ES256 over deterministic CBOR, the safe way.

The compact sibling of :mod:`keys.jws`, for payloads that must fit a printed
QR code. One profile only:

* the message is ``18([protected, unprotected, payload, signature])``, tag 18
  included, in RFC 8949 §4.2.1 core deterministic encoding (shortest
  arguments, definite lengths, map keys in bytewise order, no duplicates);
* ``protected`` is the bstr-wrapped map ``{1: -7, 4: kid}`` (alg ES256, kid
  as UTF-8 bytes), ``unprotected`` is the empty map;
* ``signature`` is the raw 64-byte ``r‖s`` of ECDSA P-256 / SHA-256 over
  ``Sig_structure = ["Signature1", protected, h'', payload]`` (RFC 9052 §4.4).

Verification takes the kid only from the protected header, accepts only
alg -7 there, refuses every other header, every other tag, trailing bytes,
floats, simple values and any encoding that is not the deterministic one,
before the signature is checked. Everything wrong with a message is one
:class:`TokenInvalidError`, whatever the input.

The deterministic encoding of a message of this profile is fixed byte for
byte apart from the kid, the payload and three lengths, so :func:`verify1`
reads it in one pass against that shape, checking each length for its
shortest form as it goes, and builds the ``Sig_structure`` from the bytes it
found: the protected and payload byte strings, heads included, are already
the encodings it needs. Anything else goes to the general strict decoder,
which says precisely what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, cast

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .errors import KeyStoreError, TokenInvalidError
from .material import Algorithm, PublicKey, SigningKey

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_KID = 4
ALG_ES256 = -7
SIGNATURE_CONTEXT = "Signature1"
# Far above any QR payload, low enough that hostile input costs nothing to refuse.
MAX_MESSAGE_BYTES = 4096
# An array holding a map of scalars is as deep as this profile goes.
_MAX_DEPTH = 3
_COORDINATE_BYTES = 32
# ECDSA with SHA-256 holds no state: one parameter object serves every call.
_ES256 = ec.ECDSA(hashes.SHA256())
# The exact bytes of the one message shape (RFC 9052 §4.2, §4.4 with this profile's headers).
_TAGGED_ARRAY_OF_FOUR = b"\xd2\x84"  # 18([...4 items])
_PROTECTED_ALG_ES256_KID = b"\xa2\x01\x26\x04"  # {1: -7, 4: followed by the kid bstr
_EMPTY_MAP = 0xA0
_SIGNATURE_HEAD = b"\x58\x40"  # bstr of 64 bytes
_SIG_STRUCTURE_HEAD = b"\x84\x6aSignature1"  # ["Signature1", followed by protected
_EMPTY_BSTR = b"\x40"  # external_aad h''
_NO_SPAN = (-1, -1)
_KID_START = 3 + len(_PROTECTED_ALG_ES256_KID) + 1  # after d2 84, the two heads and the map
_MAX_SHORT_KID = 0x17 - 5  # a protected bstr of at most 23 bytes has a one-byte head
# Tag and array, the two headers, an empty map, an empty payload bstr and the signature.
_SHORTEST_EXACT = _KID_START + 1 + 1 + 1 + len(_SIGNATURE_HEAD) + 2 * _COORDINATE_BYTES

# What verification needs of a message: kid, Sig_structure bytes, payload, raw signature.
_Sign1Parts = tuple[str, bytes, bytes, bytes]


class Verified(NamedTuple):
    """A message whose signature verified: the signer's kid and the payload bytes.

    A named tuple, not a dataclass: made on every scan, it costs a fifth as much.
    """

    kid: str
    payload: bytes


def sign1(payload: bytes, key: SigningKey) -> bytes:
    """The tagged COSE_Sign1 of ``payload`` signed by ``key`` (an ES256 key)."""
    if not isinstance(payload, bytes):
        raise KeyStoreError("the COSE payload must be bytes")
    private_key = key.private_key
    if (
        key.algorithm != Algorithm.ES256
        or not isinstance(private_key, ec.EllipticCurvePrivateKey)
        or not isinstance(private_key.curve, ec.SECP256R1)
    ):
        raise KeyStoreError(f"key {key.kid} ({key.algorithm}) is not an ES256 signing key")
    try:
        kid = key.kid.encode("utf-8")
    except UnicodeEncodeError:
        raise KeyStoreError("the kid is not Unicode text") from None
    protected = dumps_deterministic({HEADER_ALG: ALG_ES256, HEADER_KID: kid})
    der = private_key.sign(_sig_structure(protected, payload), _ES256)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
    return dumps_deterministic(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def verify1(message: bytes, keys: Mapping[str, PublicKey]) -> Verified:
    """The kid and payload of ``message`` if one of ``keys`` (kid to public key) signed it."""
    if not isinstance(message, bytes):
        raise TokenInvalidError("the COSE message must be bytes")
    if len(message) > MAX_MESSAGE_BYTES:
        raise TokenInvalidError(f"the COSE message is longer than {MAX_MESSAGE_BYTES} bytes")
    kid, to_be_signed, payload, signature = _exact_sign1(message) or _general_sign1(message)
    public_key = keys.get(kid)
    if public_key is None:
        raise TokenInvalidError(f"unknown kid {kid!r}")
    # Of the public key types only elliptic-curve keys have a curve: one plain
    # isinstance check, where the key type's goes through an abstract base class.
    if not isinstance(getattr(public_key, "curve", None), ec.SECP256R1):
        raise TokenInvalidError(f"algorithm ES256 does not match the key {kid!r}")
    try:
        cast(ec.EllipticCurvePublicKey, public_key).verify(
            _der_signature(signature), to_be_signed, _ES256)
    except InvalidSignature:
        raise TokenInvalidError("signature verification failed") from None
    return Verified(kid, payload)


def _exact_sign1(message: bytes) -> _Sign1Parts | None:
    """The parts of a message in exactly the shape :func:`sign1` writes; None for anything else.

    ``d2 84``, the protected bstr (``40+n``) holding ``a2 01 26 04`` and the
    kid bstr (``40+k``, ``n = 5 + k``), ``a0``, the payload bstr, ``58 40`` and
    64 bytes, the end. Every length is checked to be in its shortest form, so
    such a message is in deterministic encoding by construction and the
    general decoder would return the same parts. Kids of 1 to 18 bytes keep
    both headers' lengths in one byte each; the key store's kids have 11, and
    longer ones go the general way.
    """
    if not message.startswith(_TAGGED_ARRAY_OF_FOUR) or len(message) < _SHORTEST_EXACT:
        return None
    kid_end = 3 + message[2] - 0x40  # where the protected bstr ends, with the kid
    kid_length = kid_end - _KID_START
    if (
        not 0 < kid_length <= _MAX_SHORT_KID
        or message[_KID_START - 1] != 0x40 + kid_length
        or not message.startswith(_PROTECTED_ALG_ES256_KID, 3)
        or message[kid_end] != _EMPTY_MAP
    ):
        return None
    payload_start, payload_end = _bstr_at(message, kid_end + 1)
    if (
        payload_end != len(message) - len(_SIGNATURE_HEAD) - 2 * _COORDINATE_BYTES
        or not message.startswith(_SIGNATURE_HEAD, payload_end)
    ):
        return None
    try:
        kid = message[_KID_START:kid_end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    to_be_signed = b"".join((_SIG_STRUCTURE_HEAD, message[2:kid_end], _EMPTY_BSTR,
                             message[kid_end + 1:payload_end]))
    return (kid, to_be_signed, message[payload_start:payload_end],
            message[payload_end + len(_SIGNATURE_HEAD):])


def _bstr_at(data: bytes, offset: int) -> tuple[int, int]:
    """Where the content of the byte string at ``offset`` starts and ends; ``(-1, -1)``
    unless its length (up to 65535) is in its shortest form and it fits the data."""
    if offset >= len(data):
        return _NO_SPAN
    initial = data[offset]
    if 0x40 <= initial < 0x58:
        start, length = offset + 1, initial - 0x40
    elif initial == 0x58 and offset + 1 < len(data) and data[offset + 1] >= 24:
        start, length = offset + 2, data[offset + 1]
    elif initial == 0x59 and offset + 2 < len(data) and data[offset + 1]:
        start, length = offset + 3, data[offset + 1] << 8 | data[offset + 2]
    else:
        return _NO_SPAN
    end = start + length
    return (start, end) if end <= len(data) else _NO_SPAN


def _general_sign1(message: bytes) -> _Sign1Parts:
    """The parts of any deterministic COSE_Sign1 of this profile; the precise refusal otherwise."""
    protected, payload, signature = _sign1_parts(loads_deterministic(message, tag=COSE_SIGN1_TAG))
    return _protected_kid(protected), _sig_structure(protected, payload), payload, signature


def _der_signature(signature: bytes) -> bytes:
    """The DER ``SEQUENCE {r, s}`` OpenSSL verifies, from the raw 64-byte ``r‖s``."""
    # Each integer minimal big-endian, with a zero byte in front when the top bit
    # would make it negative; %c writes a one-byte length (at most 70).
    r = signature[:_COORDINATE_BYTES].lstrip(b"\x00")
    s = signature[_COORDINATE_BYTES:].lstrip(b"\x00")
    if not r or r[0] & 0x80:
        r = b"\x00" + r
    if not s or s[0] & 0x80:
        s = b"\x00" + s
    return b"\x30%c\x02%c%s\x02%c%s" % (len(r) + len(s) + 4, len(r), r, len(s), s)


def loads_deterministic(data: bytes, *, tag: int | None = None) -> Any:
    """Decode one CBOR item that is in core deterministic encoding, and nothing after it.

    Only integers, byte and text strings, arrays and maps are accepted. With
    ``tag``, the item must be exactly that tag around such an item, and the
    tagged content is returned. Raises :class:`TokenInvalidError` for anything
    else, including encodings other decoders accept (indefinite lengths, long
    forms, unsorted or duplicated keys, other tags, trailing bytes).

    One pass checks each head as it decodes: every argument in its shortest
    form and definite, map keys in bytewise order of their encodings and never
    repeated. Those are all the ways two encodings of the same value of these
    types can differ, so what this accepts is what :func:`dumps_deterministic`
    writes for the value it returns.
    """
    if not isinstance(data, bytes):
        raise TokenInvalidError("CBOR input must be bytes")
    start = 0
    if tag is not None:
        major, number, start = _head(data, 0)
        if major != 6 or number != tag:
            raise TokenInvalidError(f"the CBOR item is not tagged {tag}")
    content = data[start:]
    item, end = _decode(content, 0, depth=0)
    if end != len(content):
        raise TokenInvalidError("trailing bytes after the CBOR item")
    return item


def dumps_deterministic(item: Any) -> bytes:
    """Encode ``item`` in core deterministic CBOR (RFC 8949 §4.2.1).

    Only ints, str, bytes, lists, dicts and :class:`cbor2.CBORTag` are
    accepted: the subset :func:`loads_deterministic` reads back.
    """
    # cbor2's own canonical mode sorts map keys length-first (RFC 7049 §3.9);
    # RFC 8949 §4.2.1 sorts by the encoded keys' bytes, so the maps are put in
    # that order here and written as they are.
    return cbor2.dumps(_in_deterministic_order(item))


def _in_deterministic_order(item: Any) -> Any:
    if isinstance(item, dict):
        return {key: _in_deterministic_order(item[key]) for key in sorted(item, key=_map_key)}
    if isinstance(item, list):
        return [_in_deterministic_order(member) for member in item]
    if isinstance(item, cbor2.CBORTag):
        return cbor2.CBORTag(item.tag, _in_deterministic_order(item.value))
    if isinstance(item, (str, bytes)) or _is_cbor_int(item):
        return item
    raise KeyStoreError(f"{type(item).__name__} has no place in deterministic COSE CBOR")


def _map_key(key: Any) -> bytes:
    if not (isinstance(key, (str, bytes)) or _is_cbor_int(key)):
        raise KeyStoreError("map keys must be integers or strings")
    return cbor2.dumps(key)


def _is_cbor_int(item: Any) -> bool:
    # Beyond 64 bits cbor2 would write a bignum tag, which the decoder refuses.
    return type(item) is int and -(1 << 64) <= item < (1 << 64)


def _sign1_parts(parts: Any) -> tuple[bytes, bytes, bytes]:
    if not isinstance(parts, list) or len(parts) != 4:
        raise TokenInvalidError("a COSE_Sign1 is an array of four items")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes) or not protected:
        raise TokenInvalidError("the protected header is missing")
    if unprotected != {}:
        # alg or kid here would be unauthenticated; nothing else belongs here either.
        raise TokenInvalidError("the unprotected header must be empty")
    if not isinstance(payload, bytes):
        raise TokenInvalidError("the payload must be embedded as a byte string")
    if not isinstance(signature, bytes) or len(signature) != 2 * _COORDINATE_BYTES:
        raise TokenInvalidError("an ES256 signature is 64 bytes r||s")
    return protected, payload, signature


def _protected_kid(protected: bytes) -> str:
    header = loads_deterministic(protected)
    if not isinstance(header, dict):
        raise TokenInvalidError("the protected header is not a map")
    alg = header.get(HEADER_ALG)
    if type(alg) is not int or alg != ALG_ES256:
        raise TokenInvalidError(f"algorithm {alg!r} is not accepted")
    if set(header) != {HEADER_ALG, HEADER_KID}:
        raise TokenInvalidError("the protected header must hold exactly alg and kid")
    kid = header[HEADER_KID]
    if not isinstance(kid, bytes) or not kid:
        raise TokenInvalidError("the kid is not a non-empty byte string")
    try:
        return kid.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenInvalidError("the kid is not UTF-8") from None


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return dumps_deterministic([SIGNATURE_CONTEXT, protected, b"", payload])


def _decode(data: bytes, offset: int, *, depth: int) -> tuple[Any, int]:
    """Decode the item at ``offset``; return it and where it ends.

    Refuses indefinite lengths and long-form arguments (in :func:`_head`),
    keys out of bytewise order or repeated, keys that are not integers or
    strings, text that is not UTF-8, deep nesting, tags and major type 7.
    """
    if depth > _MAX_DEPTH:
        raise TokenInvalidError("the CBOR item nests too deeply")
    major, argument, offset = _head(data, offset)
    if major == 0:
        return argument, offset
    if major == 1:
        return -1 - argument, offset
    if major == 2 or major == 3:
        end = offset + argument
        if end > len(data):
            raise TokenInvalidError("a CBOR string runs past the end of the input")
        if major == 2:
            return data[offset:end], end
        try:
            return data[offset:end].decode("utf-8"), end
        except UnicodeDecodeError:
            raise TokenInvalidError("a CBOR text string is not UTF-8") from None
    if major == 4:
        items: list[Any] = []
        for _ in range(argument):
            item, offset = _decode(data, offset, depth=depth + 1)
            items.append(item)
        return items, offset
    if major == 5:
        mapping: dict[Any, Any] = {}
        previous: bytes | None = None
        for _ in range(argument):
            if offset < len(data) and data[offset] >> 5 > 3:
                raise TokenInvalidError("CBOR map keys must be integers or strings")
            key, key_end = _decode(data, offset, depth=depth + 1)
            encoded_key = data[offset:key_end]
            if previous is not None and encoded_key <= previous:
                raise TokenInvalidError("CBOR map keys are unsorted or duplicated")
            previous = encoded_key
            value, offset = _decode(data, key_end, depth=depth + 1)
            mapping[key] = value
        return mapping, offset
    if major == 6:
        raise TokenInvalidError(f"CBOR tag {argument} is not allowed here")
    raise TokenInvalidError("CBOR floats and simple values are not allowed")


def _head(data: bytes, offset: int) -> tuple[int, int, int]:
    """Major type, argument and the offset after the head; shortest form only."""
    if offset >= len(data):
        raise TokenInvalidError("the CBOR input ends early")
    initial = data[offset]
    major, info = initial >> 5, initial & 0x1F
    offset += 1
    if info < 24:
        return major, info, offset
    if major == 7:
        raise TokenInvalidError("CBOR floats and simple values are not allowed")
    if info == 31:
        raise TokenInvalidError("indefinite-length CBOR items are not allowed")
    if info > 27:
        raise TokenInvalidError("reserved CBOR additional information")
    size = 1 << (info - 24)
    if offset + size > len(data):
        raise TokenInvalidError("the CBOR input ends early")
    argument = int.from_bytes(data[offset:offset + size], "big")
    if argument < (24 if size == 1 else 1 << (4 * size)):
        raise TokenInvalidError("a CBOR argument is not in its shortest form")
    offset += size
    # A count of items or bytes larger than the input cannot be honest.
    if major in (2, 3, 4, 5) and argument > len(data) - offset:
        raise TokenInvalidError("a CBOR length runs past the end of the input")
    return major, argument, offset
