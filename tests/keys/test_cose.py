"""COSE_Sign1 with ES256: round trips, other implementations, and every way a message is refused."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from keys import KeyStoreError, SigningKey, TokenInvalidError, cose
from keys.material import Algorithm, PublicKey, generate
from tests.keys.conftest import DEPARTMENT_USCC, OTHER_NAME, OTHER_USCC, Store

PAYLOAD = cbor2.dumps({0: 1, 1: "1.2.156.3005.2.example", 7: bytes(16)})
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclasses.dataclass(frozen=True)
class QrKeys:
    own: SigningKey  # this department's QR key
    other: SigningKey  # another department's QR key
    keys: dict[str, PublicKey]  # every published QR key, as a verifier holds them


@pytest.fixture
def qr_keys(pki: Store, pki_session: Session) -> QrKeys:
    keystore = pki.keystore
    keystore.create_department_keys(pki_session, uscc=OTHER_USCC, name=OTHER_NAME, now=pki.now)
    own = keystore.active_key(pki_session, "dept-qr", DEPARTMENT_USCC)
    other = keystore.active_key(pki_session, "dept-qr", OTHER_USCC)
    keys = keystore.verification_keys(pki_session, "dept-qr", now=pki.now)
    assert own.algorithm == other.algorithm == Algorithm.ES256 and len(keys) == 2
    return QrKeys(own, other, keys)


def raw_signature(key: SigningKey, to_be_signed: bytes) -> bytes:
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(key.private_key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def hand_made(key: SigningKey, protected: Any, unprotected: Any = None,
              payload: bytes = PAYLOAD, *, tag: int = 18) -> bytes:
    """A COSE_Sign1 assembled with cbor2 alone, correctly signed over whatever headers it has.

    ``protected`` may be a map (encoded here) or the exact bytes to wrap, so
    a test can vary one thing while the signature stays genuine.
    """
    protected_bytes = (protected if isinstance(protected, bytes)
                       else cose.dumps_deterministic(protected))
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    parts = [protected_bytes, {} if unprotected is None else unprotected, payload,
             raw_signature(key, to_be_signed)]
    return cbor2.dumps(cbor2.CBORTag(tag, parts))


def keyring_of(key: SigningKey) -> dict[str, PublicKey]:
    return {key.kid: key.public_key}


def kid_header(key: SigningKey) -> dict[int, Any]:
    return {1: -7, 4: key.kid.encode()}


def parts_of(message: bytes) -> list[Any]:
    tagged = cbor2.loads(message)
    assert isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18
    return list(tagged.value)


# ---------------------------------------------------------------------------
# Round trip and exact shape


def test_signed_message_round_trips(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    assert cose.verify1(message, qr_keys.keys) == cose.Verified(qr_keys.own.kid, PAYLOAD)


def test_verification_picks_the_key_by_kid(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.other)
    assert cose.verify1(message, qr_keys.keys).kid == qr_keys.other.kid


def test_message_is_tagged_sign1_with_alg_and_kid_protected_and_nothing_unprotected(
    qr_keys: QrKeys,
) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    kid = qr_keys.own.kid.encode()
    protected = bytes([0xA2, 0x01, 0x26, 0x04, 0x40 + len(kid)]) + kid  # {1: -7, 4: h'kid'}
    assert message.startswith(bytes([0xD2, 0x84, 0x40 + len(protected)]) + protected + b"\xa0")
    assert message.endswith(b"\x58\x40" + message[-64:])
    assert parts_of(message)[2] == PAYLOAD
    parts = cose.loads_deterministic(message, tag=18)
    assert cose.dumps_deterministic(cbor2.CBORTag(18, parts)) == message


def test_signature_verifies_with_a_hand_built_sig_structure_and_plain_cryptography(
    qr_keys: QrKeys,
) -> None:
    protected, unprotected, payload, signature = parts_of(cose.sign1(PAYLOAD, qr_keys.own))
    assert cbor2.loads(protected) == {1: -7, 4: qr_keys.own.kid.encode()} and unprotected == {}
    # RFC 9052 §4.4, written out: an array of four, context text, two bstrs and an empty one.
    sig_structure = (b"\x84\x6aSignature1" + cbor2.dumps(protected) + b"\x40"
                     + cbor2.dumps(payload))
    assert sig_structure == cbor2.dumps(["Signature1", protected, b"", payload])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    public_key = qr_keys.own.public_key
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(der, sig_structure, ec.ECDSA(hashes.SHA256()))  # raises if wrong


def _pycose_key(public_key: PublicKey) -> Any:
    from pycose.keys import EC2Key

    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    pem = public_key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return EC2Key.from_pem_public_key(pem.decode())


def test_pycose_decodes_and_verifies_our_message(qr_keys: QrKeys) -> None:
    pytest.importorskip("pycose")
    from pycose.algorithms import Es256
    from pycose.headers import KID
    from pycose.headers import Algorithm as AlgorithmHeader
    from pycose.messages import Sign1Message

    tagged = cbor2.loads(cose.sign1(PAYLOAD, qr_keys.own))
    # pycose 1.1 expects lists where cbor2 6 yields a tuple and a frozendict
    # inside a tag, so the array is handed over as a list; pycose parses the
    # headers, builds the Sig_structure and verifies on its own.
    protected, unprotected, payload, signature = tagged.value
    message = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)
    assert message.phdr[AlgorithmHeader] is Es256
    assert message.phdr[KID] == qr_keys.own.kid.encode() and message.uhdr == {}
    assert message.payload == PAYLOAD
    message.key = _pycose_key(qr_keys.own.public_key)
    assert message.verify_signature()
    message.key = _pycose_key(qr_keys.other.public_key)
    assert not message.verify_signature()


def test_a_message_made_by_pycose_verifies_here(qr_keys: QrKeys) -> None:
    pytest.importorskip("pycose")
    from pycose.algorithms import Es256
    from pycose.headers import KID
    from pycose.headers import Algorithm as AlgorithmHeader
    from pycose.keys import EC2Key
    from pycose.messages import Sign1Message

    message = Sign1Message(phdr={AlgorithmHeader: Es256, KID: qr_keys.own.kid.encode()},
                           payload=PAYLOAD)
    assert isinstance(qr_keys.own.private_key, ec.EllipticCurvePrivateKey)
    message.key = EC2Key.from_pem_private_key(qr_keys.own.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    assert cose.verify1(message.encode(), qr_keys.keys).payload == PAYLOAD


# ---------------------------------------------------------------------------
# Forgeries and alterations


def test_an_edited_payload_byte_is_refused(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    start = message.index(PAYLOAD)
    forged = bytearray(message)
    forged[start + len(PAYLOAD) - 1] ^= 0x01  # the last byte of the face digest
    with pytest.raises(TokenInvalidError, match="signature"):
        cose.verify1(bytes(forged), qr_keys.keys)


def test_an_edited_protected_header_is_refused(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    kid = qr_keys.own.kid.encode()
    forged = message.replace(kid, kid[:-1] + bytes([kid[-1] ^ 0x01]), 1)
    with pytest.raises(TokenInvalidError, match="unknown kid"):
        cose.verify1(forged, qr_keys.keys)


def test_the_kid_of_another_department_is_refused(qr_keys: QrKeys) -> None:
    # Signed by this department's key, but naming the other department's kid.
    forged = hand_made(qr_keys.own, kid_header(qr_keys.other))
    with pytest.raises(TokenInvalidError, match="signature"):
        cose.verify1(forged, qr_keys.keys)


def test_a_signature_from_another_key_under_the_same_kid_is_refused(qr_keys: QrKeys) -> None:
    impostor = dataclasses.replace(qr_keys.other, kid=qr_keys.own.kid)
    with pytest.raises(TokenInvalidError, match="signature"):
        cose.verify1(cose.sign1(PAYLOAD, impostor), qr_keys.keys)


def test_an_unknown_kid_is_refused(qr_keys: QrKeys) -> None:
    private, public = generate(Algorithm.ES256)
    stranger = SigningKey("stranger", "ES256", "dept-qr", None, private, public)
    with pytest.raises(TokenInvalidError, match="unknown kid"):
        cose.verify1(cose.sign1(PAYLOAD, stranger), qr_keys.keys)
    with pytest.raises(TokenInvalidError, match="unknown kid"):
        cose.verify1(cose.sign1(PAYLOAD, qr_keys.own), keyring_of(qr_keys.other))


@pytest.mark.parametrize("alg", [-8, -35, -36, -37, -257, 5, 0, "ES256", b"\x26"])
def test_any_algorithm_but_es256_is_refused_even_when_correctly_signed(qr_keys: QrKeys,
                                                                      alg: object) -> None:
    with pytest.raises(TokenInvalidError, match="algorithm"):
        cose.verify1(hand_made(qr_keys.own, kid_header(qr_keys.own) | {1: alg}), qr_keys.keys)


def test_a_missing_algorithm_is_refused(qr_keys: QrKeys) -> None:
    with pytest.raises(TokenInvalidError, match="algorithm None"):
        cose.verify1(hand_made(qr_keys.own, {4: qr_keys.own.kid.encode()}), qr_keys.keys)


def test_hmac_keyed_with_the_public_key_is_refused(qr_keys: QrKeys) -> None:
    # COSE_Mac0-style confusion: alg 5 (HMAC 256/256) in a Sign1, keyed with the public key.
    public_key = qr_keys.own.public_key
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    secret = public_key.public_bytes(serialization.Encoding.X962,
                                     serialization.PublicFormat.UncompressedPoint)
    protected = cbor2.dumps({1: 5, 4: qr_keys.own.kid.encode()})
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", PAYLOAD])
    mac = hmac.new(secret, to_be_signed, hashlib.sha256).digest()
    for signature in (mac, mac + mac):
        forged = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, PAYLOAD, signature]))
        with pytest.raises(TokenInvalidError):
            cose.verify1(forged, qr_keys.keys)


@pytest.mark.parametrize(
    ("protected", "unprotected"),
    [
        ({4: "kid"}, {1: -7}),  # alg moved out of the signed header
        ({1: -7}, {4: "kid"}),  # kid moved out of the signed header
        ({1: -7, 4: "kid"}, {1: -7}),  # a duplicate, even an agreeing one
        ({1: -7, 4: "kid"}, {4: "kid"}),
        ({1: -7, 4: "kid"}, {33: b"x"}),  # x5chain or anything else
    ],
)
def test_alg_and_kid_count_only_in_the_protected_header(qr_keys: QrKeys, protected: dict,
                                                        unprotected: dict) -> None:
    kid = qr_keys.own.kid.encode()
    fill = {label: kid if value == "kid" else value for label, value in protected.items()}
    loose = {label: kid if value == "kid" else value for label, value in unprotected.items()}
    with pytest.raises(TokenInvalidError, match="unprotected header"):
        cose.verify1(hand_made(qr_keys.own, fill, loose), qr_keys.keys)


@pytest.mark.parametrize("extra", [{2: [1]}, {3: 0}, {5: b"iv"}, {-70000: 1}, {"x": 1}])
def test_other_protected_headers_are_refused(qr_keys: QrKeys, extra: dict) -> None:
    with pytest.raises(TokenInvalidError, match="exactly alg and kid"):
        cose.verify1(hand_made(qr_keys.own, kid_header(qr_keys.own) | extra), qr_keys.keys)


@pytest.mark.parametrize(
    "kid",
    [b"", b"\xff\xfe", "qJ3vX9kLm2A"],  # empty, not UTF-8, text instead of bytes
)
def test_malformed_kids_are_refused(qr_keys: QrKeys, kid: object) -> None:
    with pytest.raises(TokenInvalidError, match="kid"):
        cose.verify1(hand_made(qr_keys.own, {1: -7, 4: kid}), qr_keys.keys)


def test_truncated_messages_are_refused(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    for length in range(len(message)):
        with pytest.raises(TokenInvalidError):
            cose.verify1(message[:length], qr_keys.keys)


@pytest.mark.parametrize("garbage", [b"\x00", b"\xa0", b"\xff", b"\xd2\x84"])
def test_trailing_bytes_are_refused(qr_keys: QrKeys, garbage: bytes) -> None:
    with pytest.raises(TokenInvalidError, match="trailing"):
        cose.verify1(cose.sign1(PAYLOAD, qr_keys.own) + garbage, qr_keys.keys)


@pytest.mark.parametrize("tag", [17, 98, 96, 61, 19])
def test_other_tags_are_refused(qr_keys: QrKeys, tag: int) -> None:
    with pytest.raises(TokenInvalidError, match="tagged 18"):
        cose.verify1(hand_made(qr_keys.own, kid_header(qr_keys.own), tag=tag), qr_keys.keys)


def test_an_untagged_or_doubly_tagged_message_is_refused(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    for variant in (message[1:],  # the bare array, as RFC 9052 allows where context says so
                    b"\xd8\x12" + message[1:],  # tag 18 in a long form
                    b"\xd2" + message,  # 18(18([...]))
                    b"\xd9\xd9\xf7" + message):  # self-described CBOR
        with pytest.raises(TokenInvalidError):
            cose.verify1(variant, qr_keys.keys)


def test_non_deterministic_encodings_are_refused_even_with_a_genuine_signature(
    qr_keys: QrKeys,
) -> None:
    kid = qr_keys.own.kid.encode()
    unsorted = b"\xa2\x04" + bytes([0x40 + len(kid)]) + kid + b"\x01\x26"  # {4: kid, 1: -7}
    long_int = b"\xa2\x01\x38\x06\x04" + bytes([0x40 + len(kid)]) + kid  # -7 as 0x38 0x06
    long_bstr = b"\xa2\x01\x26\x04\x58" + bytes([len(kid)]) + kid  # kid length in a long form
    duplicated = b"\xa3\x01\x26\x01\x26\x04" + bytes([0x40 + len(kid)]) + kid
    indefinite = b"\xbf\x01\x26\x04" + bytes([0x40 + len(kid)]) + kid + b"\xff"
    for protected in (unsorted, long_int, long_bstr, duplicated, indefinite):
        with pytest.raises(TokenInvalidError):
            cose.verify1(hand_made(qr_keys.own, protected), qr_keys.keys)


def test_a_non_deterministic_envelope_is_refused(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    protected, _, payload, signature = parts_of(message)
    head = bytes([0x40 + len(protected)]) + protected + b"\xa0"
    genuine_payload = cbor2.dumps(payload)
    variants = [
        b"\xd2\x9f" + head + genuine_payload + cbor2.dumps(signature) + b"\xff",  # indefinite
        b"\xd2\x98\x04" + head + genuine_payload + cbor2.dumps(signature),  # long array count
        b"\xd2\x84" + head + b"\x59\x00" + bytes([len(payload)]) + payload
        + cbor2.dumps(signature),  # long bstr length for the payload
        b"\xd2\x84" + head + b"\x5f" + genuine_payload + b"\xff"
        + cbor2.dumps(signature),  # indefinite-length payload bstr
    ]
    assert parts_of(variants[1]) == parts_of(message)  # the same value, re-encoded
    for variant in variants:
        with pytest.raises(TokenInvalidError):
            cose.verify1(variant, qr_keys.keys)


@pytest.mark.parametrize(
    ("protected_head", "payload_head"),
    [
        (b"\x58", b""),  # the protected header's length (below 24) in one byte
        (b"\x59", b""),  # in two bytes
        (b"\x5a", b""),  # in four
        (b"", b"\x59"),  # the payload's (24 to 255) in two bytes
        (b"", b"\x5a"),  # in four
    ],
    ids=["protected-1", "protected-2", "protected-4", "payload-2", "payload-4"],
)
def test_long_form_lengths_are_refused_even_when_signed_over_exactly_those_bytes(
    qr_keys: QrKeys, protected_head: bytes, payload_head: bytes
) -> None:
    # A holder of the key could sign a Sig_structure that repeats a non-shortest
    # length; the message is still not deterministic CBOR and is refused.
    def bstr(head: bytes, content: bytes) -> bytes:
        if not head:
            return cbor2.dumps(content)
        width = {0x58: 1, 0x59: 2, 0x5A: 4}[head[0]]
        return head + len(content).to_bytes(width, "big") + content

    protected = cose.dumps_deterministic(kid_header(qr_keys.own))
    assert len(protected) < 24 and 24 <= len(PAYLOAD) < 256
    protected_bstr, payload_bstr = bstr(protected_head, protected), bstr(payload_head, PAYLOAD)
    to_be_signed = b"\x84\x6aSignature1" + protected_bstr + b"\x40" + payload_bstr
    message = (b"\xd2\x84" + protected_bstr + b"\xa0" + payload_bstr + b"\x58\x40"
               + raw_signature(qr_keys.own, to_be_signed))
    with pytest.raises(TokenInvalidError, match="shortest form"):
        cose.verify1(message, qr_keys.keys)


@pytest.mark.parametrize(
    "parts",
    [
        ["protected-as-text", {}, PAYLOAD, bytes(64)],
        [{1: -7}, {}, PAYLOAD, bytes(64)],  # protected header not wrapped in a bstr
        [b"", {}, PAYLOAD, bytes(64)],  # no protected header at all
        ["P", [], PAYLOAD, bytes(64)],  # unprotected header as an array
        ["P", {}, None, bytes(64)],  # detached payload
        ["P", {}, "text payload", bytes(64)],
        ["P", {}, PAYLOAD, "signature"],
        ["P", {}, PAYLOAD, bytes(63)],
        ["P", {}, PAYLOAD, bytes(65)],
        ["P", {}, PAYLOAD],
        ["P", {}, PAYLOAD, bytes(64), b""],
        ["P", {}, PAYLOAD, 1.5],
        ["P", {}, PAYLOAD, True],
    ],
)
def test_wrong_types_in_the_envelope_are_refused(qr_keys: QrKeys, parts: list) -> None:
    protected = cbor2.dumps(kid_header(qr_keys.own))
    parts = [protected if part == "P" else part for part in parts]
    with pytest.raises(TokenInvalidError):
        cose.verify1(cbor2.dumps(cbor2.CBORTag(18, parts)), qr_keys.keys)


def test_an_all_zero_signature_is_refused(qr_keys: QrKeys) -> None:
    protected, unprotected, payload, _ = parts_of(cose.sign1(PAYLOAD, qr_keys.own))
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, bytes(64)]))
    with pytest.raises(TokenInvalidError, match="signature"):
        cose.verify1(forged, qr_keys.keys)


def test_a_non_p256_key_under_the_kid_is_refused(qr_keys: QrKeys) -> None:
    _, rsa_public = generate(Algorithm.RS256)
    message = cose.sign1(PAYLOAD, qr_keys.own)
    for wrong in (rsa_public, ec.generate_private_key(ec.SECP384R1()).public_key(), bytes(65)):
        with pytest.raises(TokenInvalidError, match="does not match"):
            cose.verify1(message, {qr_keys.own.kid: wrong})


# ---------------------------------------------------------------------------
# Hostile input: only TokenInvalidError, and quickly


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xd2",
        b"\xd2" + b"\x81" * 5000,  # deep nesting
        b"\xd2" + b"\x9b" + b"\xff" * 8,  # an array of 2**64-1 items
        b"\xd2\x84\x5b" + b"\x7f" + b"\xff" * 7,  # a byte string of 2**63 bytes
        b"\xd2\x84\x7b" + b"\x00" * 7 + b"\x02\xc3\x28",  # text that is not UTF-8 (long form)
        b"\xd2\x84\x62\xc3\x28",  # text that is not UTF-8
        b"\xd2\x84\xc2\x41\x01",  # a bignum
        b"\xd2\x84\xd8\x23\x63abc",  # a regular expression tag
        b"\xd2\x84\xf9\x7e\x00",  # a half-precision NaN
        b"\xd2\x84\xf7",  # undefined
        b"\xd2\x84\x1c",  # reserved additional information
        b"\xd2\xa1\x81\x00\x00",  # a map keyed by an array
    ],
)
def test_hostile_bytes_raise_only_token_invalid(qr_keys: QrKeys, data: bytes) -> None:
    with pytest.raises(TokenInvalidError):
        cose.verify1(data, qr_keys.keys)


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_raise_only_token_invalid(qr_keys: QrKeys, data: bytes) -> None:
    with pytest.raises(TokenInvalidError):
        cose.verify1(b"\xd2" + data, qr_keys.keys)


@FUZZ
@given(data=st.data())
def test_any_change_to_a_genuine_message_is_refused(qr_keys: QrKeys, data: st.DataObject) -> None:
    message = bytearray(cose.sign1(PAYLOAD, qr_keys.own))
    position = data.draw(st.integers(0, len(message) - 1))
    action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
    if action == "flip":
        message[position] ^= data.draw(st.integers(1, 255))
    elif action == "insert":
        message.insert(position, data.draw(st.integers(0, 255)))
    else:
        del message[position]
    with pytest.raises(TokenInvalidError):
        cose.verify1(bytes(message), qr_keys.keys)


def test_oversized_messages_are_refused_before_parsing(qr_keys: QrKeys) -> None:
    with pytest.raises(TokenInvalidError, match="longer"):
        cose.verify1(b"\xd2" + b"\x00" * cose.MAX_MESSAGE_BYTES, qr_keys.keys)


def test_only_bytes_are_verified(qr_keys: QrKeys) -> None:
    message = cose.sign1(PAYLOAD, qr_keys.own)
    for wrong in (message.hex(), bytearray(message), None):
        with pytest.raises(TokenInvalidError):
            cose.verify1(wrong, qr_keys.keys)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Signing


def test_only_es256_keys_sign(pki: Store, pki_session: Session, qr_keys: QrKeys) -> None:
    keystore = pki.keystore
    for purpose in ("dept-sm2", "dept-signing"):
        with pytest.raises(KeyStoreError, match="not an ES256"):
            cose.sign1(PAYLOAD, keystore.active_key(pki_session, purpose, DEPARTMENT_USCC))
    rsa_token_key = keystore.active_key(pki_session, "idp-token", algorithm="RS256")
    with pytest.raises(KeyStoreError, match="not an ES256"):
        cose.sign1(PAYLOAD, rsa_token_key)
    relabelled = dataclasses.replace(rsa_token_key, algorithm="ES256")
    with pytest.raises(KeyStoreError, match="not an ES256"):
        cose.sign1(PAYLOAD, relabelled)
    with pytest.raises(KeyStoreError, match="bytes"):
        cose.sign1("text", qr_keys.own)  # type: ignore[arg-type]


def test_signatures_are_randomised_but_all_verify(qr_keys: QrKeys) -> None:
    first, second = cose.sign1(PAYLOAD, qr_keys.own), cose.sign1(PAYLOAD, qr_keys.own)
    assert first != second and first[:-64] == second[:-64]
    assert cose.verify1(first, qr_keys.keys) == cose.verify1(second, qr_keys.keys)


@pytest.mark.parametrize("kid_length", [1, 18, 19, 23, 24, 255, 256])
@pytest.mark.parametrize("payload_length", [0, 23, 24, 255, 256, 3000])
def test_every_length_form_of_kid_and_payload_round_trips(qr_keys: QrKeys, kid_length: int,
                                                          payload_length: int) -> None:
    # Lengths either side of where CBOR switches to a one- and a two-byte length.
    key = dataclasses.replace(qr_keys.own, kid="k" * kid_length)
    payload = bytes(range(256)) * (payload_length // 256) + bytes(payload_length % 256)
    message = cose.sign1(payload, key)
    assert cose.verify1(message, keyring_of(key)) == cose.Verified(key.kid, payload)
    parts = cose.loads_deterministic(message, tag=18)
    assert parts[2] == payload and cose.loads_deterministic(parts[0])[4] == key.kid.encode()
    # Kids of up to 18 bytes (a protected header with a one-byte length) take the one pass.
    assert (cose._exact_sign1(message) is not None) == (kid_length <= 18)


@FUZZ
@given(data=st.data())
def test_the_one_pass_reading_agrees_with_the_general_decoder(qr_keys: QrKeys,
                                                            data: st.DataObject) -> None:
    # verify1 reads the one shape sign1 writes in a single pass and hands everything else
    # to the general strict decoder: whatever the single pass accepts, the general decoder
    # must read the same way, so the fast path can never accept more.
    key = dataclasses.replace(qr_keys.own, kid=data.draw(st.sampled_from(
        ["k", "qJ3vX9kLm2A", "k" * 18, "k" * 19, "k" * 23, "k" * 24, "k" * 255, "k" * 256,
         "密钥"])))
    message = bytearray(cose.sign1(data.draw(st.binary(max_size=300)), key))
    for _ in range(data.draw(st.integers(0, 2))):
        position = data.draw(st.integers(0, len(message) - 1))
        message[position] ^= data.draw(st.integers(1, 255))
    exact = cose._exact_sign1(bytes(message))
    if exact is not None:
        assert exact == cose._general_sign1(bytes(message))


@FUZZ
@given(r=st.integers(0, (1 << 256) - 1) | st.sampled_from([0, 1, 0x7F, 0x80, (1 << 255)]),
       s=st.integers(0, 1 << 64) | st.integers(0, (1 << 256) - 1))
def test_raw_signatures_become_the_der_cryptography_writes(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert cose._der_signature(raw) == encode_dss_signature(r, s)


# ---------------------------------------------------------------------------
# Deterministic CBOR helpers


def test_deterministic_encoding_sorts_map_keys_bytewise() -> None:
    # RFC 8949 §4.2.1 sorts by encoded bytes: 24 (0x18 0x18) before -1 (0x20);
    # RFC 7049's length-first order, cbor2's canonical mode, would put -1 first.
    assert cose.dumps_deterministic({-1: 0, 24: 0, 1: 0}) == b"\xa3\x01\x00\x18\x18\x00\x20\x00"
    assert cose.loads_deterministic(b"\xa3\x01\x00\x18\x18\x00\x20\x00") == {1: 0, 24: 0, -1: 0}
    with pytest.raises(TokenInvalidError, match="unsorted"):
        cose.loads_deterministic(b"\xa3\x01\x00\x20\x00\x18\x18\x00")


@pytest.mark.parametrize("value", [1.5, True, None, (1, 2), {(1, 2): 1}, {None: 1}, 1 << 64])
def test_deterministic_encoding_refuses_what_the_decoder_would(value: object) -> None:
    with pytest.raises(KeyStoreError):
        cose.dumps_deterministic({"inner": value})


_SCALARS = (st.integers(-(1 << 64), (1 << 64) - 1) | st.binary(max_size=30)
            | st.text(max_size=30))
_KEYS = st.integers(-(1 << 64), (1 << 64) - 1) | st.binary(max_size=4) | st.text(max_size=4)


def _containing(members: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (_SCALARS | st.lists(members, max_size=4)
            | st.dictionaries(_KEYS, members, max_size=4))


# Three levels of arrays and maps: as deep as the decoder allows.
CBOR_VALUES = _containing(_containing(_containing(_SCALARS)))


@FUZZ
@given(value=CBOR_VALUES, data=st.data())
def test_the_strict_decoder_reads_back_exactly_what_the_encoder_writes(value: Any,
                                                                      data: st.DataObject) -> None:
    encoded = cose.dumps_deterministic(value)
    assert cose.loads_deterministic(encoded) == value
    changed = bytearray(encoded)
    changed[data.draw(st.integers(0, len(encoded) - 1))] ^= data.draw(st.integers(1, 255))
    try:
        decoded = cose.loads_deterministic(bytes(changed))
    except TokenInvalidError:
        return
    # One pass, no re-encoding: anything it accepts is the one encoding of what it returns.
    assert cose.dumps_deterministic(decoded) == changed
    assert cbor2.loads(bytes(changed)) == decoded
