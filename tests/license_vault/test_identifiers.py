"""License identifiers: 1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc
from stdnum.iso7064 import mod_37_36

from idp.errors import IdentifierError
from license_vault import identifiers
from license_vault.errors import InvalidLicenseIdentifier, LicenseVaultError
from license_vault.identifiers import LicenseIdentifier

DEFINER = "11100000000013127D"  # a ministry (authority 1, type 1: state organ)
TYPE_CODE = DEFINER + "001"
ISSUER = "11440300007503866T"  # a Shenzhen municipal bureau
OTHER_ISSUER = "91110000600037341L"
SERIAL = "7K3M9Q2X4B8N1P5R6T0W"
PREFIX = "1.2.156.3005.2"
EXAMPLE = f"{PREFIX}.{TYPE_CODE}.{ISSUER}.{SERIAL}.001.4"

SERIAL_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def organisation_check(body: str) -> str:
    """GB 11714 check character, written out independently of the code under test."""
    check = (
        11 - sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    )
    return "X" if check == 10 else "0" if check == 11 else str(check)


def make_uscc(first16: str) -> str:
    first17 = first16 + organisation_check(first16[8:])
    return first17 + stdnum_uscc.calc_check_digit(first17)


def identifier(
    type_code: str = TYPE_CODE,
    issuer: str = ISSUER,
    serial: str = SERIAL,
    version: str = "001",
    check: str | None = None,
) -> str:
    """Build an identifier text, computing the check with python-stdnum unless given."""
    if check is None:
        check = mod_37_36.calc_check_digit(type_code + issuer + serial + version)
    return f"{PREFIX}.{type_code}.{issuer}.{serial}.{version}.{check}"


def refusal(text: str) -> InvalidLicenseIdentifier:
    with pytest.raises(InvalidLicenseIdentifier) as caught:
        identifiers.validate(text)
    return caught.value


def test_example_check_character_matches_python_stdnum() -> None:
    assert identifier() == EXAMPLE
    assert identifiers.validate(EXAMPLE) == EXAMPLE


def test_generated_identifier_validates_and_has_a_random_serial() -> None:
    first = identifiers.parse(identifiers.generate(TYPE_CODE, ISSUER))
    second = identifiers.parse(identifiers.generate(TYPE_CODE, ISSUER))
    assert first.serial != second.serial
    assert len(first.serial) == identifiers.SERIAL_LENGTH >= 16
    assert set(first.serial) <= set(SERIAL_ALPHABET)
    assert (first.type_code, first.issuer_uscc, first.version) == (TYPE_CODE, ISSUER, 1)


def test_generate_canonicalises_its_inputs() -> None:
    generated = identifiers.generate(TYPE_CODE.lower(), " 1144-0300-0075-0386-6t ", version=12)
    parsed = identifiers.parse(generated)
    assert (parsed.type_code, parsed.issuer_uscc, parsed.version) == (TYPE_CODE, ISSUER, 12)
    assert f".{ISSUER}." in generated and ".012." in generated


@pytest.mark.parametrize("version", [0, 1000, -1, True, "1", 1.0])
def test_generate_refuses_a_bad_version(version: object) -> None:
    with pytest.raises(InvalidLicenseIdentifier) as caught:
        identifiers.generate(TYPE_CODE, ISSUER, version=version)  # type: ignore[arg-type]
    assert caught.value.part == "version"


def test_generate_refuses_a_bad_issuer() -> None:
    with pytest.raises(InvalidLicenseIdentifier) as caught:
        identifiers.generate(TYPE_CODE, "11440300007503866U")
    assert caught.value.part == "issuer"
    assert isinstance(caught.value.__cause__, IdentifierError)


def test_generate_refuses_a_bad_type_code() -> None:
    with pytest.raises(InvalidLicenseIdentifier) as caught:
        identifiers.generate(DEFINER, ISSUER)
    assert caught.value.part == "type_code"


def test_parse_returns_the_parts() -> None:
    parsed = identifiers.parse(EXAMPLE)
    assert parsed == LicenseIdentifier(TYPE_CODE, ISSUER, SERIAL, 1, "4")
    assert str(parsed) == EXAMPLE


def test_lower_case_and_whitespace_are_canonicalised() -> None:
    written = " " + EXAMPLE.lower().replace(".", ". ", 3) + "\n"
    assert identifiers.validate(written) == EXAMPLE
    assert str(identifiers.parse(written)) == EXAMPLE


def test_renewal_keeps_the_serial_and_recomputes_the_check() -> None:
    original = identifiers.parse(EXAMPLE)
    renewed = original.with_version(2)
    assert (renewed.serial, renewed.version) == (original.serial, 2)
    assert renewed.check == mod_37_36.calc_check_digit(TYPE_CODE + ISSUER + SERIAL + "002")
    assert identifiers.validate(str(renewed)) == str(renewed)
    assert original.version == 1  # frozen: the original is unchanged


@pytest.mark.parametrize("version", [0, 1000])
def test_renewal_beyond_the_version_range_is_refused(version: int) -> None:
    with pytest.raises(InvalidLicenseIdentifier, match="from 1 to 999"):
        identifiers.parse(EXAMPLE).with_version(version)


def test_license_identifier_is_frozen() -> None:
    parsed = identifiers.parse(EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.version = 2  # type: ignore[misc]


def test_license_identifier_with_inconsistent_parts_cannot_be_built() -> None:
    with pytest.raises(InvalidLicenseIdentifier) as caught:
        LicenseIdentifier(TYPE_CODE, ISSUER, SERIAL, 2, "4")
    assert caught.value.part == "check"
    with pytest.raises(InvalidLicenseIdentifier) as caught:
        LicenseIdentifier(TYPE_CODE, ISSUER, SERIAL.lower(), 1, "4")
    assert caught.value.part == "parts"


@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE.replace("1.2.156.3005.2.", "1.2.156.3005.1.", 1),
        EXAMPLE.replace("1.2.156.3005.2.", "", 1),
        EXAMPLE.replace("1.2.156.3005.2.", "1.2.156.3005.2", 1),
        "urn:" + EXAMPLE,
        "",
    ],
)
def test_wrong_prefix_is_refused(text: str) -> None:
    error = refusal(text)
    assert error.part == "prefix"
    assert "starts with 1.2.156.3005.2" in str(error)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        (f"{PREFIX}.{TYPE_CODE}.{ISSUER}.{SERIAL}.001", 4),
        (f"{PREFIX}.{TYPE_CODE}.{ISSUER}.{SERIAL}.001.4.4", 6),
        (f"{PREFIX}.{TYPE_CODE}.{ISSUER}.{SERIAL}001.4", 4),
        (f"{PREFIX}.", 1),
    ],
)
def test_wrong_number_of_parts_is_refused(text: str, count: int) -> None:
    error = refusal(text)
    assert error.part == "parts"
    assert f"this one has {count}" in str(error)


@pytest.mark.parametrize(
    ("type_code", "message"),
    [
        (DEFINER + "01", "21 characters"),
        (DEFINER + "0001", "21 characters"),
        (DEFINER + "0A1", "end in 3 digits"),
        ("11100000000013127E001", "Bad definer USCC"),
        ("B1100000000013127D001", "Bad definer USCC"),
    ],
)
def test_bad_type_code_is_refused(type_code: str, message: str) -> None:
    error = refusal(identifier(type_code=type_code))
    assert error.part == "type_code"
    assert message in str(error)
    with pytest.raises(InvalidLicenseIdentifier, match=message):
        identifiers.validate_type_code(type_code)


def test_validate_type_code_returns_the_canonical_form() -> None:
    assert identifiers.validate_type_code(" " + TYPE_CODE.lower()) == TYPE_CODE


@pytest.mark.parametrize(
    "issuer",
    [
        "11440300007503866U",  # wrong check character
        "1144030000750386",  # too short
        "94440300007503866T",  # entity type 4 does not exist for authority 9
        "1144030000750386IT",  # I is not used in USCCs
    ],
)
def test_bad_issuer_uscc_is_refused_with_the_uscc_reason(issuer: str) -> None:
    error = refusal(identifier(issuer=issuer))
    assert error.part == "issuer"
    assert isinstance(error.__cause__, IdentifierError)
    assert str(error) == f"Bad issuer USCC: {error.__cause__.message}"


@pytest.mark.parametrize(
    ("serial", "message"),
    [
        ("7K3M9Q2X4B8N1P5", "16 to 64 characters"),  # 15 characters
        ("7" * 65, "16 to 64 characters"),
        ("7K3M9Q2X-4B8N1P5R6", "only the characters 0-9 and A-Z"),
        ("7K3M9Q2X_4B8N1P5R6", "only the characters 0-9 and A-Z"),
        ("7K3M9Q2X\u00c44B8N1P5R6", "only the characters 0-9 and A-Z"),
    ],
)
def test_bad_serial_is_refused(serial: str, message: str) -> None:
    error = refusal(identifier(serial=serial, check="0"))
    assert error.part == "serial"
    assert message in str(error)


def test_serial_of_minimum_length_is_accepted() -> None:
    text = identifier(serial="0123456789ABCDEF")
    assert identifiers.validate(text) == text


@pytest.mark.parametrize("version", ["000", "01", "0001", "1000", "A01", "-01", ""])
def test_bad_version_is_refused(version: str) -> None:
    error = refusal(identifier(version=version, check="0"))
    assert error.part == "version"


@pytest.mark.parametrize("check", ["5", "", "44", "-"])
def test_bad_check_character_is_refused(check: str) -> None:
    error = refusal(identifier(check=check))
    assert error.part == "check"
    assert "expected 4" in str(error)


def test_bad_check_character_message_is_bounded() -> None:
    error = refusal(identifier(check="X" * 1000))
    assert len(str(error)) < 100


@pytest.mark.parametrize(
    "text",
    [
        "",
        EXAMPLE[:-1] + "5",
        identifier(issuer="11440300007503866U"),
        identifier(serial="SHORT", check="0"),
    ],
)
def test_errors_belong_to_the_license_vault_and_are_value_errors(text: str) -> None:
    error = refusal(text)
    assert isinstance(error, LicenseVaultError)
    assert isinstance(error, ValueError)
    assert not identifiers.is_valid(text)


def test_identifier_that_is_not_text_is_refused() -> None:
    assert not identifiers.is_valid(None)  # type: ignore[arg-type]


def test_round_trip_through_parse_and_str() -> None:
    for version in (1, 2, 57, 999):
        text = str(identifiers.parse(EXAMPLE).with_version(version))
        assert str(identifiers.parse(text)) == text == identifiers.validate(text)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from("123456789ANY"))
    entity_type = {"9": "1", "Y": "1"}.get(authority, draw(st.sampled_from("19")))
    region = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=6, max_size=6)))
    body = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=8, max_size=8)))
    return make_uscc(authority + entity_type + region + body)


@st.composite
def generated_identifiers(draw: st.DrawFn) -> str:
    type_code = draw(usccs()) + f"{draw(st.integers(min_value=0, max_value=999)):03d}"
    issuer = draw(st.one_of(st.just(ISSUER), st.just(OTHER_ISSUER), usccs()))
    version = draw(st.integers(min_value=1, max_value=999))
    return identifiers.generate(type_code, issuer, version=version)


@given(generated_identifiers())
def test_generate_always_validates(text: str) -> None:
    assert identifiers.validate(text) == text
    assert str(identifiers.parse(text)) == text


@given(generated_identifiers(), st.data())
def test_any_single_character_change_is_detected(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    # Lower case is not a change: it canonicalises to the same identifier.
    replacement = data.draw(
        st.sampled_from(SERIAL_ALPHABET + ".").filter(lambda c: c != text[position])
    )
    changed = text[:position] + replacement + text[position + 1 :]
    assert not identifiers.is_valid(changed)
