"""The signed QR payload: digest, masking, CBOR form, signing, tampering, URL handling, QR size."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.iso7064 import mod_37_36

from idp.identifiers import uscc
from keys import cose
from keys.errors import TokenInvalidError
from keys.material import SigningKey
from signing import cbor_payload
from signing import payload as signing_payload
from signing.cbor_payload import decode_payload, encode_payload
from signing.errors import PayloadError, PayloadSignatureError, PayloadTooLargeError
from signing.payload import (
    MAX_QR_TEXT_BYTES,
    QrPayload,
    VerifiedPayload,
    build_payload,
    canonical_face_json,
    face_digest,
    mask_holder_name,
    parse_qr_url,
    qr_url,
    sign_payload,
    verify_payload,
)
from signing.qrsymbol import MAX_PRINTABLE_VERSION, qr_version

ISSUED_AT = dt.datetime(2024, 6, 3, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ISSUED_AT_SECONDS = 1717378200
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
FACE = {"name": "北京云栖数智科技有限公司", "uscc": "91110108MA01W8XK8G",
        "capital": "10000000", "founded": "2019-03-15"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_for(department, **changes: object) -> QrPayload:
    arguments: dict[str, object] = {
        "identifier": department.identifier, "holder_name": "北京云栖数智科技有限公司",
        "holder_is_entity": True, "holder_id_masked": "91110108**********",
        "valid_from": dt.date(2019, 3, 15), "valid_until": None,
        "issued_at": ISSUED_AT, "face_fields": FACE,
    }
    arguments.update(changes)
    return build_payload(**arguments)  # type: ignore[arg-type]


def fields_for(department, **changes: object) -> dict[int, Any]:
    """The CBOR map of a genuine payload, with keys changed (None removes one)."""
    fields = cbor2.loads(encode_payload(payload_for(department)))
    fields.update(changes_by_key(changes))
    return {key: value for key, value in fields.items() if value is not None}


def changes_by_key(changes: dict[str, object]) -> dict[int, object]:
    return {int(name.removeprefix("k")): value for name, value in changes.items()}


def token_over(payload: bytes, key: SigningKey) -> str:
    """A token genuinely signed over arbitrary payload bytes."""
    return b64(cose.sign1(payload, key))


def keyring(*keys: SigningKey) -> dict:
    return {key.kid: key.public_key for key in keys}


# ---------------------------------------------------------------------------
# Face digest


def test_face_digest_is_sha256_of_sorted_compact_utf8_json_truncated_to_16_bytes() -> None:
    canonical = '{"capital":"10000000","founded":"2019-03-15","name":"北京云栖数智科技有限公司",' \
                '"uscc":"91110108MA01W8XK8G"}'
    assert canonical_face_json(FACE) == canonical.encode("utf-8")
    assert face_digest(FACE) == hashlib.sha256(canonical.encode()).digest()[:16]
    assert len(face_digest(FACE)) == 16


def test_face_digest_ignores_key_order_but_not_values() -> None:
    reordered = dict(reversed(list(FACE.items())))
    assert face_digest(reordered) == face_digest(FACE)
    assert face_digest({**FACE, "capital": "10000001"}) != face_digest(FACE)


def test_canonical_json_escapes_like_json_stringify() -> None:
    fields = {"b": 'quote " backslash \\ tab \t nl \n ctl \x01', "a": "é中😀"}
    assert canonical_face_json(fields) == (
        '{"a":"é中😀","b":"quote \\" backslash \\\\ tab \\t nl \\n ctl \\u0001"}'
    ).encode()


def test_canonical_json_sorts_keys_by_utf16_code_units_as_rfc8785() -> None:
    # By code point U+FF61 comes first; in UTF-16 U+1F600 is D83D DE00 and comes first.
    fields = {"\uff61": "1", "\U0001f600": "2", "a": "3"}
    order = [key for key in json.loads(canonical_face_json(fields))]
    assert order == sorted(fields, key=lambda key: key.encode("utf-16-be"))
    assert order == ["a", "\U0001f600", "\uff61"]


def test_the_documented_worked_example_holds() -> None:
    face = {"name": "北京云栖数智科技有限公司", "uscc": "91110108MA01W8XK31",
            "registered_capital": "10000000", "established": "2019-03-15"}
    assert len(canonical_face_json(face)) == 134
    assert face_digest(face).hex() == "2f57700cf0bdc0d57d0d48194a978d43"


@pytest.mark.parametrize("fields", [{"a": 1}, {1: "a"}, ["a"], {"a": "\ud800"}])
def test_face_data_that_is_not_strings_is_refused(fields: object) -> None:
    with pytest.raises(PayloadError):
        face_digest(fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Masking and building


@pytest.mark.parametrize(
    ("name", "entity", "masked"),
    [
        ("张三", False, "张*"),
        ("张三丰", False, "张**"),
        ("欧阳娜娜", False, "欧***"),
        ("李", False, "李"),
        ("北京云栖数智科技有限公司", True, "北京****公司"),
        ("某某小商店", True, "某某*商店"),
        ("某某商店", True, "某***"),
    ],
)
def test_holder_names_are_masked(name: str, entity: bool, masked: str) -> None:
    assert mask_holder_name(name, entity=entity) == masked


def test_payload_holds_exactly_the_version_1_fields(department) -> None:
    payload = payload_for(department, valid_until=dt.date(2039, 3, 14))
    assert payload == QrPayload(
        version=1, identifier=department.identifier, holder_name_masked="北京****公司",
        holder_id_masked="91110108**********", valid_from=dt.date(2019, 3, 15),
        valid_until=dt.date(2039, 3, 14),
        issued_at=dt.datetime(2024, 6, 3, 1, 30, tzinfo=dt.UTC), face_digest=face_digest(FACE),
    )
    assert payload.issued_at.tzinfo is dt.UTC


def test_the_fictitious_codes_of_these_tests_pass_the_projects_own_checks(department) -> None:
    assert uscc.validate(department.uscc) == department.uscc
    assert uscc.validate(FACE["uscc"]) == FACE["uscc"]
    *_, type_code, issuer, serial, version, check = department.identifier.split(".")
    assert mod_37_36.calc_check_digit(type_code + issuer + serial + version) == check


def test_issuer_uscc_is_the_seventh_component_of_the_identifier(department) -> None:
    payload = payload_for(department)
    assert payload.issuer_uscc == department.uscc == department.identifier.split(".")[6]


def test_issuer_uscc_is_derived_from_the_identifier_never_given(department) -> None:
    payload = payload_for(department)
    other = "1.2.156.3005.2.11100000000013127D001.11110108000044943U.7K3M9Q2X4B8N1P5R6T0W.001.P"
    assert dataclasses.replace(payload, identifier=other).issuer_uscc == "11110108000044943U"
    with pytest.raises(TypeError):
        QrPayload(**{field.name: getattr(payload, field.name)  # type: ignore[arg-type]
                     for field in dataclasses.fields(payload)})


def test_issue_time_is_kept_in_utc_to_the_second(department) -> None:
    payload = payload_for(department, issued_at=ISSUED_AT.replace(microsecond=999_999))
    assert payload.issued_at == ISSUED_AT and payload.issued_at.microsecond == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"holder_id_masked": "91110108000044943K"}, "masked"),
        ({"identifier": "1.2.156.3005.2.11100000000013127D001.11110108000044943T"
                        ".7K3M9Q2X4B8N1P5R6T0W.001.P"}, "USCC"),
        ({"identifier": "1.2.156.3005.2.11100000000013127D001.11110108000044943u"
                        ".7K3M9Q2X4B8N1P5R6T0W.001.P"}, "canonical"),
        ({"identifier": "1.2.156 3005"}, "identifier"),
        ({"identifier": "1.2.156.3005.2.11100000000013127D001.11110108000044943U"}, "<type>"),
        ({"identifier": "2.16.840.1.101.3.4.2.1.1"}, "<type>"),
        ({"issued_at": dt.datetime(2024, 6, 3)}, "timezone-aware"),
        ({"issued_at": dt.datetime(1969, 12, 31, tzinfo=dt.UTC)}, "after 1970"),
        ({"valid_from": dt.datetime(2019, 3, 15)}, "datetime.date"),
        ({"valid_until": dt.date(2000, 1, 1)}, "before"),
        ({"holder_name": " "}, "holder name"),
        ({"holder_name": "张" * 65, "holder_is_entity": False}, "masked holder name"),
    ],
)
def test_bad_payload_inputs_are_refused(department, changes: dict, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        payload_for(department, **changes)


def test_a_payload_cannot_be_constructed_inconsistent(department) -> None:
    payload = payload_for(department)
    for change in ({"version": 2}, {"version": True}, {"face_digest": bytes(15)},
                   {"face_digest": "00" * 16}, {"holder_name_masked": ""},
                   {"issued_at": dt.datetime(2024, 6, 3, 9, 30, tzinfo=dt.timezone(
                       dt.timedelta(hours=8)))}):
        with pytest.raises(PayloadError):
            dataclasses.replace(payload, **change)


# ---------------------------------------------------------------------------
# The CBOR form


def test_payload_is_a_cbor_map_with_small_integer_keys(department) -> None:
    encoded = encode_payload(payload_for(department, valid_until=dt.date(2039, 3, 14)))
    assert cbor2.loads(encoded) == {
        0: 1, 1: department.identifier, 2: "北京****公司", 3: "91110108**********",
        4: 20190315, 5: 20390314, 6: ISSUED_AT_SECONDS, 7: face_digest(FACE),
    }
    assert encoded[:3] == b"\xa8\x00\x01"  # a map of eight, key 0 first, version 1
    assert list(cbor2.loads(encoded)) == sorted(cbor2.loads(encoded))


def test_permanent_licenses_carry_no_valid_until(department) -> None:
    payload = payload_for(department, valid_until=None)
    assert payload.valid_until is None
    assert 5 not in cbor2.loads(encode_payload(payload))
    assert decode_payload(encode_payload(payload)) == payload


@pytest.mark.parametrize("valid_until", [None, dt.date(2039, 3, 14)])
def test_a_decoded_payload_is_the_frozen_value_the_constructor_makes(
        department, valid_until: dt.date | None) -> None:
    # decode_payload builds its value without the generated __init__ (for speed).
    payload = payload_for(department, valid_until=valid_until)
    decoded = decode_payload(encode_payload(payload))
    assert vars(decoded) == vars(payload)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.identifier = "x"  # type: ignore[misc]


def test_token_is_base64url_of_a_tagged_cose_sign1_naming_the_kid(department,
                                                                   qr_key: SigningKey) -> None:
    token = sign_payload(payload_for(department), qr_key)
    assert "=" not in token and "." not in token
    tagged = cbor2.loads(unb64(token))
    assert tagged.tag == 18
    protected, unprotected, payload, signature = tagged.value
    assert cbor2.loads(protected) == {1: -7, 4: qr_key.kid.encode()}
    assert unprotected == {} and len(signature) == 64
    assert payload == encode_payload(payload_for(department))


def test_signature_checks_out_with_only_cbor2_and_cryptography(department,
                                                               qr_key: SigningKey) -> None:
    # What a third party does by hand, following docs/qr-payload.md.
    protected, _, payload, signature = cbor2.loads(unb64(
        sign_payload(payload_for(department), qr_key))).value
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    assert isinstance(qr_key.public_key, ec.EllipticCurvePublicKey)
    qr_key.public_key.verify(der, to_be_signed, ec.ECDSA(hashes.SHA256()))
    assert cbor2.loads(payload)[1].split(".")[6] == department.uscc


# The complete example of docs/qr-payload.md §6, signed once with a throw-away key.
DOC_EXAMPLE_TOKEN = (
    "0oRQogEmBEtxSjN2WDlrTG0yQaBYnKcAAQF4UjEuMi4xNTYuMzAwNS4yLjExMTAwMDAwMDAwMDEzMTI3RDAwMS4x"
    "MTExMDEwODAwMDA0NDkzOEEuN0szTTlRMlg0QjhOMVA1UjZUMFcuMDAxLjcCcOWMl-S6rCoqKirlhazlj7gDcjkx"
    "MTEwMTA4KioqKioqKioqKgQaATQUawYaZl0cmAdQL1dwDPC9wNV9DUgZSpeNQ1hAD5xIGx1FRcISe4jABHS4KXqc"
    "VYd8sYVnsVGtekuKPSS3Xhgo5n3EVrGULYUn0mUJgN3u7eQHRifYQmbClVeeEQ"
)
DOC_EXAMPLE_JWK = {"kty": "EC", "crv": "P-256", "kid": "qJ3vX9kLm2A",
                   "x": "AW2-eYpc0pOAmX_L1JsXawV23JWVbUlWAJkislTSJuc",
                   "y": "7oHC8C12t1dHCWMP_Iz4FaXSbjQtgTKQVb_ms04WtDo"}
# The identifier the documented token was signed over. Its issuer code predates the
# organisation-code check and fails idp.identifiers.uscc; it stays until the document's
# example is signed again (payloads check the USCC with python-stdnum, which does not look
# at the organisation code).
DOC_EXAMPLE_IDENTIFIER = (
    "1.2.156.3005.2.11100000000013127D001.11110108000044938A.7K3M9Q2X4B8N1P5R6T0W.001.7"
)


def test_the_documented_example_verifies_with_its_published_jwk(department) -> None:
    public_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64(DOC_EXAMPLE_JWK["x"]), "big"),
        int.from_bytes(unb64(DOC_EXAMPLE_JWK["y"]), "big"), ec.SECP256R1()).public_key()
    verified = verify_payload(DOC_EXAMPLE_TOKEN, {DOC_EXAMPLE_JWK["kid"]: public_key})
    face = {"name": "北京云栖数智科技有限公司", "uscc": "91110108MA01W8XK31",
            "registered_capital": "10000000", "established": "2019-03-15"}
    assert verified == VerifiedPayload("qJ3vX9kLm2A", build_payload(
        identifier=DOC_EXAMPLE_IDENTIFIER, holder_name="北京云栖数智科技有限公司",
        holder_is_entity=True, holder_id_masked="91110108**********",
        valid_from=dt.date(2019, 3, 15), valid_until=None, issued_at=ISSUED_AT,
        face_fields=face))
    assert verified.payload.issuer_uscc == DOC_EXAMPLE_IDENTIFIER.split(".")[6]
    assert qr_version(qr_url(department.issuer, DOC_EXAMPLE_TOKEN)) == 14


# ---------------------------------------------------------------------------
# Signing and verifying


def test_signed_payload_round_trips(department, qr_key: SigningKey) -> None:
    payload = payload_for(department, valid_until=dt.date(2039, 3, 14))
    token = sign_payload(payload, qr_key)
    assert verify_payload(token, keyring(qr_key)) == VerifiedPayload(qr_key.kid, payload)


def test_verification_picks_the_key_by_kid(department, qr_key, other_qr_key) -> None:
    token = sign_payload(payload_for(department), other_qr_key)
    verified = verify_payload(token, keyring(qr_key, other_qr_key))
    assert verified.kid == other_qr_key.kid
    assert verified.payload.identifier == department.identifier


def test_an_edited_field_is_refused(department, qr_key: SigningKey) -> None:
    message = unb64(sign_payload(payload_for(department), qr_key))
    genuine = encode_payload(payload_for(department))
    edited = encode_payload(payload_for(department, holder_name="北京云栖数智科技有限司"))
    assert len(edited) == len(genuine) and edited != genuine
    forged = b64(message.replace(genuine, edited))
    with pytest.raises(PayloadSignatureError, match="signature"):
        verify_payload(forged, keyring(qr_key))


def test_a_token_signed_by_another_key_under_the_same_kid_is_refused(department, qr_key,
                                                                     other_qr_key) -> None:
    impostor = dataclasses.replace(other_qr_key, kid=qr_key.kid)
    token = sign_payload(payload_for(department), impostor)
    with pytest.raises(PayloadSignatureError):
        verify_payload(token, keyring(qr_key))


def test_a_token_from_an_unknown_key_is_refused(department, qr_key, other_qr_key) -> None:
    token = sign_payload(payload_for(department), other_qr_key)
    with pytest.raises(PayloadSignatureError, match="kid"):
        verify_payload(token, keyring(qr_key))


@pytest.mark.parametrize("alg", [-8, -35, 5, None])
def test_other_algorithms_are_refused_even_when_signed_correctly(department, qr_key,
                                                                alg: int | None) -> None:
    header = {4: qr_key.kid.encode()} if alg is None else {1: alg, 4: qr_key.kid.encode()}
    protected = cbor2.dumps(header)
    payload = encode_payload(payload_for(department))
    assert isinstance(qr_key.private_key, ec.EllipticCurvePrivateKey)
    der = qr_key.private_key.sign(cbor2.dumps(["Signature1", protected, b"", payload]),
                                  ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    token = b64(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature])))
    with pytest.raises(PayloadSignatureError, match="algorithm"):
        verify_payload(token, keyring(qr_key))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k0": 2}, "version 2"),
        ({"k0": "1"}, "format version"),
        ({"k0": None}, "format version"),
        ({"k0": None, "k5": 20390314}, "format version"),  # still seven keys
        ({"k7": None}, r"lacks keys \[7\]"),
        ({"k1": None, "k3": None}, r"lacks keys \[1, 3\]"),
        ({"k8": 0}, "unknown keys"),
        ({"k4": "2019-03-15"}, "key 4"),
        ({"k4": 20190230}, "calendar date"),
        ({"k4": -20190315}, "key 4"),
        ({"k5": 20000101}, "before"),
        ({"k6": -1}, "key 6"),
        ({"k6": 1 << 40}, "key 6"),
        ({"k6": "1717378200"}, "key 6"),
        ({"k7": bytes(15)}, "16 bytes"),
        ({"k7": "00" * 16}, "key 7"),
        ({"k2": 5}, "key 2"),
        ({"k2": b"x"}, "key 2"),
        ({"k2": ""}, "holder name"),
        ({"k3": "91110108000044943K"}, "masked"),
        ({"k1": "1.2.156.3005.2.example"}, "<type>"),
        ({"k1": "1.2.156.3005.2.11100000000013127D001.11110108000044943T"
                ".7K3M9Q2X4B8N1P5R6T0W.001.P"}, "USCC"),
    ],
)
def test_genuinely_signed_but_malformed_payloads_are_refused(
    department, qr_key: SigningKey, changes: dict, message: str
) -> None:
    token = token_over(cose.dumps_deterministic(fields_for(department, **changes)), qr_key)
    with pytest.raises(PayloadError, match=message) as caught:
        verify_payload(token, keyring(qr_key))
    assert not isinstance(caught.value, PayloadSignatureError)


def test_a_text_key_is_an_unknown_key(department, qr_key: SigningKey) -> None:
    fields: dict[Any, Any] = {**fields_for(department), "v": 1}
    with pytest.raises(PayloadError, match="unknown keys"):
        verify_payload(token_over(cose.dumps_deterministic(fields), qr_key), keyring(qr_key))


def test_genuinely_signed_but_non_deterministic_payloads_are_refused(department,
                                                                     qr_key) -> None:
    genuine = encode_payload(payload_for(department))
    fields = cbor2.loads(genuine)
    rest: dict[int, Any] = {key: value for key, value in fields.items() if key}
    version_last = cbor2.dumps({**rest, 0: 1})
    long_version = b"\xa7\x00\x18\x01" + genuine[3:]  # 1 written as 0x18 0x01
    duplicated = b"\xa8\x00\x01\x00\x01" + genuine[3:]  # key 0 twice: map of 8 entries
    float_version = b"\xa7\x00\xf9\x3c\x00" + genuine[3:]  # 1.0 as a half float
    indefinite = b"\xbf" + genuine[1:] + b"\xff"
    for payload in (version_last, long_version, duplicated, float_version, indefinite,
                    genuine + b"\x00", b"", cbor2.dumps([1, 2])):
        with pytest.raises(PayloadError, match="CBOR") as caught:
            verify_payload(token_over(payload, qr_key), keyring(qr_key))
        assert not isinstance(caught.value, PayloadSignatureError), payload.hex()


def long_form(fields: dict[int, Any], key: int, width: int) -> bytes:
    """The payload map with the head of key's value written with a ``width``-byte argument."""
    encoded = bytearray([0xA0 + len(fields)])
    for label in sorted(fields):
        value = fields[label]
        item = cbor2.dumps(value)
        if label == key:
            body = value.encode() if isinstance(value, str) else value
            argument = value if isinstance(value, int) else len(body)
            info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
            item = (bytes([item[0] & 0xE0 | info]) + argument.to_bytes(width, "big")
                    + (b"" if isinstance(value, int) else body))
        encoded += bytes([label]) + item
    return bytes(encoded)


@pytest.mark.parametrize(
    ("changes", "key", "width"),
    [
        ({}, 1, 2), ({}, 1, 8),  # the identifier's length (82) in two or eight bytes
        ({}, 2, 1), ({}, 3, 1),  # the masked name's (16) and ID's (18) in one
        ({}, 4, 8), ({"k5": 20390314}, 5, 8), ({}, 6, 8),  # dates and time in eight
        ({"k6": 100}, 6, 4), ({"k6": 20}, 6, 1),  # small times in four bytes, in one
        ({}, 7, 1), ({}, 7, 2),  # the digest's length (16)
    ],
)
def test_genuinely_signed_long_form_heads_are_refused(department, qr_key: SigningKey,
                                                      changes: dict, key: int,
                                                      width: int) -> None:
    fields = fields_for(department, **changes)
    assert cbor2.loads(long_form(fields, key, width)) == fields  # the same value, re-encoded
    token = token_over(long_form(fields, key, width), qr_key)
    with pytest.raises(PayloadError, match="shortest form") as caught:
        verify_payload(token, keyring(qr_key))
    assert not isinstance(caught.value, PayloadSignatureError)


def outcome(decode: Any, data: bytes) -> object:
    try:
        return decode(data)
    except PayloadError as exc:
        return str(exc)


@FUZZ
@given(data=st.data())
def test_the_one_pass_payload_reading_agrees_with_the_general_decoder(department,
                                                                     data: st.DataObject) -> None:
    # Payloads written as the signer writes them take a single pass; whatever it reads,
    # the general strict decoder and its checks must read (or refuse) the same way.
    numbers = st.integers(0, 24) | st.integers(0xFFFF, 0x10000) | st.integers(0, 1 << 33)
    changes = {
        "k1": data.draw(st.sampled_from([None, "1.2.156.3005.2.x", department.identifier])),
        "k2": data.draw(st.text(max_size=90) | st.binary(max_size=3)),
        "k3": data.draw(st.sampled_from(["*", "9" * 17 + "*", "*" * 33, ""])),
        "k4": data.draw(numbers | st.sampled_from([20190315, 20200230, "x"])),
        "k5": data.draw(st.none() | numbers | st.sampled_from([20390314, -1])),
        "k6": data.draw(numbers | st.sampled_from([ISSUED_AT_SECONDS, -1])),
        "k7": data.draw(st.binary(min_size=15, max_size=17)),
    }
    chosen = data.draw(st.lists(st.sampled_from(sorted(changes)), unique=True))
    fields = fields_for(department, **{name: changes[name] for name in chosen})
    encoded = bytearray(cose.dumps_deterministic(fields))
    if data.draw(st.booleans()):
        encoded[data.draw(st.integers(0, len(encoded) - 1))] ^= data.draw(st.integers(1, 255))
    assert outcome(decode_payload, bytes(encoded)) == outcome(cbor_payload._decode_checked,
                                                              bytes(encoded))


USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@st.composite
def well_formed_usccs(draw: st.DrawFn) -> str:
    body = (draw(st.text("0123456789", min_size=8, max_size=8))
            + draw(st.text(USCC_CHARACTERS, min_size=9, max_size=9)))
    return body + stdnum_uscc.calc_check_digit(body)


@FUZZ
@given(code=well_formed_usccs() | st.text(USCC_CHARACTERS + "IOSVZaz-*. ", min_size=16,
                                          max_size=19))
def test_the_table_uscc_check_agrees_with_python_stdnum(code: str) -> None:
    try:
        canonical = stdnum_uscc.validate(code) == code
    except StdnumValidationError:
        canonical = False
    assert cbor_payload._is_canonical_uscc(code) is canonical


@FUZZ
@given(token=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                     min_size=1, max_size=14))
def test_only_canonical_base64url_is_decoded(token: str) -> None:
    # The last character must not carry stray bits: exactly the tokens that re-encode to
    # themselves decode, to exactly what a general base64 decoder reads.
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        canonical = len(token) % 4 != 1 and b64(data) == token
    except ValueError:
        canonical = False
    if canonical:
        assert signing_payload.token_message(token) == data
    else:
        with pytest.raises(TokenInvalidError):
            signing_payload.token_message(token)


@FUZZ
@given(text=st.text(signing_payload._BASE64URL_ALPHABET + "+/=. \n\x00\x7fé政", max_size=8))
def test_the_base64url_alphabet_check_agrees_with_a_regular_expression(text: str) -> None:
    assert signing_payload._is_base64url(text) is (re.fullmatch(r"[A-Za-z0-9_-]+", text)
                                                   is not None)


@pytest.mark.parametrize(
    "token",
    ["", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "0oRDoQEm=", "0oRDoQEm+", "0oRDoQEmA",
     "0oRDoQF", "政务", "A" * 2048],
)
def test_tokens_that_are_not_cose_are_refused_as_not_genuine(qr_key, token: str) -> None:
    with pytest.raises(PayloadSignatureError):
        verify_payload(token, keyring(qr_key))


@FUZZ
@given(data=st.data())
def test_any_change_to_a_genuine_token_is_refused(department, qr_key: SigningKey,
                                                  data: st.DataObject) -> None:
    token = list(sign_payload(payload_for(department), qr_key))
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("AQgw_-9zZ"))
    if token[position] == replacement:
        return
    token[position] = replacement
    with pytest.raises(PayloadSignatureError):
        verify_payload("".join(token), keyring(qr_key))


@FUZZ
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(b64))
def test_hostile_tokens_raise_only_payload_errors(qr_key: SigningKey, text: str) -> None:
    with pytest.raises(PayloadError):
        verify_payload(text, keyring(qr_key))


def test_a_license_past_its_dates_still_verifies(department, qr_key) -> None:
    # The payload has no lifetime: whether the license is in force is the caller's judgement.
    token = sign_payload(payload_for(department, valid_until=dt.date(2020, 1, 1)), qr_key)
    assert verify_payload(token, keyring(qr_key)).payload.valid_until == dt.date(2020, 1, 1)


def test_only_es256_keys_sign_payloads(department, qr_key: SigningKey) -> None:
    rsa_like = SigningKey(kid="r", algorithm="RS256", purpose="x", owner=None,
                          private_key=qr_key.private_key, public_key=qr_key.public_key)
    with pytest.raises(PayloadError, match="ES256"):
        sign_payload(payload_for(department), rsa_like)


def test_only_payload_values_are_signed(department, qr_key: SigningKey) -> None:
    with pytest.raises(PayloadError, match="QrPayload"):
        sign_payload(cbor2.loads(encode_payload(payload_for(department))), qr_key)  # type: ignore[arg-type]


def test_oversized_tokens_are_refused_before_any_parsing(qr_key: SigningKey) -> None:
    with pytest.raises(PayloadTooLargeError):
        verify_payload("a" * (MAX_QR_TEXT_BYTES + 1), keyring(qr_key))


# ---------------------------------------------------------------------------
# The URL


def test_qr_url_round_trips(department) -> None:
    url = qr_url(department.issuer + "/", "0oRDoQEm-_")
    assert url == department.issuer + "/v/0oRDoQEm-_"
    assert parse_qr_url(url) == (department.issuer, "0oRDoQEm-_")
    assert parse_qr_url(" " + url + "\r\n") == (department.issuer, "0oRDoQEm-_")


def test_issuer_with_a_path_prefix_round_trips() -> None:
    url = qr_url("https://gov.example.cn/yiwang", "0oRDoQEm")
    assert parse_qr_url(url) == ("https://gov.example.cn/yiwang", "0oRDoQEm")


def test_plain_http_is_accepted_only_for_loopback_development_hosts() -> None:
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        assert parse_qr_url(f"http://{host}/v/0oRD") == (f"http://{host}", "0oRD")
    with pytest.raises(PayloadError, match="https"):
        parse_qr_url("http://yiwang.example.gov.cn/v/0oRD")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://yiwang.example.gov.cn/v/0oRD", "https"),
        ("yiwang.example.gov.cn/v/0oRD", "https"),
        ("https://yiwang.example.gov.cn/verify/0oRD", "/v/"),
        ("https://yiwang.example.gov.cn/v/a.b.c", "base64url"),
        ("https://yiwang.example.gov.cn/v/0oRD=", "base64url"),
        ("https://yiwang.example.gov.cn/v/0o+RD", "base64url"),
        ("https://yiwang.example.gov.cn/v/", "base64url"),
        ("https://yiwang.example.gov.cn/v/0oRD/d", "base64url"),
        ("https://yiwang.example.gov.cn/v/0oRD?x=1", "base64url"),
        ("https://yiwang.example.gov.cn?x=/v/0oRD", "query"),
        ("https://yiwang.example.gov.cn#/v/0oRD", "fragment"),
        ("https://yiwang.example.gov.cn@evil.example/v/0oRD", "user information"),
        ("https:///v/0oRD", "no host"),
        ("https://yiwang.example.gov.cn:99999/v/0oRD", "not a valid URL"),
        ("https://政务.cn/v/0oRD", "ASCII"),
        ("WIFI:S:home;T:WPA;P:secret;;", "/v/"),
        ("", "/v/"),
    ],
)
def test_anything_but_a_verification_url_is_refused_precisely(text: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_qr_url(text)


def test_qr_url_refuses_tokens_that_are_not_base64url(department) -> None:
    for token in ("a.b.c", "0oRD=", "", "0o RD"):
        with pytest.raises(PayloadError, match="base64url"):
            qr_url(department.issuer, token)


def test_oversized_qr_text_is_refused_as_too_large() -> None:
    text = "https://yiwang.example.gov.cn/v/0oRD" + "c" * MAX_QR_TEXT_BYTES
    with pytest.raises(PayloadTooLargeError):
        parse_qr_url(text)
    with pytest.raises(PayloadTooLargeError):
        parse_qr_url(text.encode())


# ---------------------------------------------------------------------------
# QR size of the worst realistic case

ISSUER_29 = "https://yiwang.example.gov.cn"
ISSUER_40 = "https://zwfw.yiwang.example-province.gov"
LONG_ENTITY = ("新疆维吾尔自治区乌鲁木齐市高新技术产业开发区"
               "某某国际能源科技集团股份有限公司第一分公司")
VAULT_SERIAL_LENGTH = 20  # license_vault.identifiers.SERIAL_LENGTH: every serial the vault makes
FORMAT_MAX_SERIAL_LENGTH = 64  # what the identifier format accepts at most


def identifier_with_serial(serial_length: int) -> str:
    type_code, issuer, version = "11100000000013127D001", "11110108000044943U", "001"
    serial = ("7K3M9Q2X4B8N1P5R6T0W" * 4)[:serial_length]
    check = mod_37_36.calc_check_digit(type_code + issuer + serial + version)
    return f"1.2.156.3005.2.{type_code}.{issuer}.{serial}.{version}.{check}"


HOLDERS = {
    "person 张三": ("张三", False, "110***********123X"),
    "person 欧阳娜娜": ("欧阳娜娜", False, "110***********123X"),
    "entity, 44 characters": (LONG_ENTITY, True, "91650100**********"),
}


def measured_url(key: SigningKey, *, issuer: str, serial_length: int, holder: str,
                 valid_until: dt.date | None) -> str:
    name, entity, masked_id = HOLDERS[holder]
    payload = build_payload(
        identifier=identifier_with_serial(serial_length), holder_name=name,
        holder_is_entity=entity, holder_id_masked=masked_id, valid_from=dt.date(2024, 6, 3),
        valid_until=valid_until, issued_at=ISSUED_AT, face_fields=FACE)
    return qr_url(issuer, sign_payload(payload, key))


def test_worst_case_qr_fits_version_15_at_level_m(qr_key: SigningKey) -> None:
    # 40-character issuer, the vault's identifiers, the longest masked name, an end date.
    assert len(ISSUER_40) == 40
    for holder in HOLDERS:
        url = measured_url(qr_key, issuer=ISSUER_40, serial_length=VAULT_SERIAL_LENGTH,
                           holder=holder, valid_until=dt.date(2044, 6, 2))
        version = qr_version(url)
        print(f"worst case, {holder}: {len(url)} characters, version {version} at M")
        assert version <= 15, (holder, len(url), version)


@pytest.mark.parametrize("issuer", [ISSUER_29, ISSUER_40])
@pytest.mark.parametrize("serial_length", [VAULT_SERIAL_LENGTH, FORMAT_MAX_SERIAL_LENGTH])
def test_every_case_stays_within_the_printable_version(qr_key, issuer: str,
                                                       serial_length: int) -> None:
    for holder in HOLDERS:
        for valid_until in (None, dt.date(2044, 6, 2)):
            url = measured_url(qr_key, issuer=issuer, serial_length=serial_length,
                               holder=holder, valid_until=valid_until)
            version = qr_version(url)
            print(f"issuer {len(issuer)}, serial {serial_length}, {holder}, "
                  f"{'vu' if valid_until else '长期'}: {len(url)} characters, version {version}")
            assert version <= MAX_PRINTABLE_VERSION, (holder, len(url), version)
            assert len(url) == len(measured_url(qr_key, issuer=issuer, holder=holder,
                                                serial_length=serial_length,
                                                valid_until=valid_until))
