"""License identifiers in the style of GB/T 36904 (电子证照标识).

An identifier names one issued license for good::

    1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>

* type code (21): the USCC of the body that defines the license type
  followed by three digits numbering that body's types;
* issuer USCC (18): the issuing department;
* serial (16 to 64 of ``0-9A-Z``): random, so identifiers cannot be guessed
  or enumerated, and they reveal nothing about issuance volume;
* version (3 digits, 001 to 999): bumped on renewal;
* check (1): ISO 7064 MOD 37,36 check character over type code, issuer,
  serial and version written together without dots.

The identifier is not the license number printed on the face of the license.

>>> example = ('1.2.156.3005.2.11100000000013127D001.11440300007503866T'
...            '.7K3M9Q2X4B8N1P5R6T0W.001.4')
>>> validate(example)
'1.2.156.3005.2.11100000000013127D001.11440300007503866T.7K3M9Q2X4B8N1P5R6T0W.001.4'
>>> lid = parse(example.lower())
>>> lid.serial, lid.version
('7K3M9Q2X4B8N1P5R6T0W', 1)
>>> str(lid.with_version(2))
'1.2.156.3005.2.11100000000013127D001.11440300007503866T.7K3M9Q2X4B8N1P5R6T0W.002.2'
>>> validate(example[:-1] + '5')
Traceback (most recent call last):
    ...
license_vault.errors.InvalidLicenseIdentifier: The check character 5 is wrong (expected 4).
>>> validate(example.replace('3005.2.', '3005.1.'))
Traceback (most recent call last):
    ...
license_vault.errors.InvalidLicenseIdentifier: A license identifier starts with 1.2.156.3005.2.
>>> validate(example.replace('7503866T', '7503866U'))
Traceback (most recent call last):
    ...
license_vault.errors.InvalidLicenseIdentifier: Bad issuer USCC: USCC 11440300007503866U has a wrong
    check character (expected T).
>>> validate(example.replace('.001.', '.000.'))
Traceback (most recent call last):
    ...
license_vault.errors.InvalidLicenseIdentifier: The version must be three digits from 001 to 999,
    got 000.
>>> validate(example.replace('.7K3M9Q', '.Q'))
Traceback (most recent call last):
    ...
license_vault.errors.InvalidLicenseIdentifier: The serial must have 16 to 64 characters,
    this one has 15.
"""

from __future__ import annotations

import dataclasses
import secrets
import string

from stdnum.iso7064 import mod_37_36

from idp.errors import IdentifierError
from idp.identifiers import uscc
from license_vault.errors import InvalidLicenseIdentifier

__all__ = [
    "PREFIX",
    "LicenseIdentifier",
    "compact",
    "generate",
    "is_valid",
    "parse",
    "validate",
    "validate_type_code",
]

PREFIX = "1.2.156.3005.2"
TYPE_CODE_LENGTH = 21
SERIAL_ALPHABET = string.digits + string.ascii_uppercase
# 20 characters of 36 give about 103 bits, beyond guessing. Validation accepts
# 16 (about 83 bits) and caps the length so that a hostile input cannot make
# us hash megabytes.
SERIAL_LENGTH = 20
SERIAL_MIN_LENGTH = 16
SERIAL_MAX_LENGTH = 64
VERSION_MIN, VERSION_MAX = 1, 999

_DIGITS = frozenset(string.digits)
_SERIAL_CHARACTERS = frozenset(SERIAL_ALPHABET)
_PART_COUNT = 5  # type code, issuer, serial, version, check


@dataclasses.dataclass(frozen=True)
class LicenseIdentifier:
    """A parsed, valid license identifier; ``str()`` gives the identifier.

    Construction validates, so an instance is always consistent; use
    :func:`parse` to read one and :meth:`with_version` to renew one.
    """

    type_code: str
    issuer_uscc: str
    serial: str
    version: int
    check: str

    def __post_init__(self) -> None:
        _check_version_number(self.version)
        text = str(self)
        if validate(text) != text:
            raise InvalidLicenseIdentifier(
                "The parts of a license identifier must be in canonical form "
                "(upper case, no spaces).",
                part="parts",
            )

    def __str__(self) -> str:
        return _join(
            self.type_code, self.issuer_uscc, self.serial, f"{self.version:03d}", self.check
        )

    def with_version(self, version: int) -> LicenseIdentifier:
        """Return the identifier of the renewed license: same serial, new version and check."""
        _check_version_number(version)
        check = _calc_check(self.type_code, self.issuer_uscc, self.serial, version)
        return dataclasses.replace(self, version=version, check=check)


def compact(identifier: str) -> str:
    """Return the identifier without whitespace, upper-cased.

    >>> compact(' 1.2.156.3005.2.11100000000013127d001. 11440300007503866t ')
    '1.2.156.3005.2.11100000000013127D001.11440300007503866T'
    """
    if not isinstance(identifier, str):
        raise InvalidLicenseIdentifier("A license identifier must be given as text.", part="parts")
    return "".join(identifier.split()).upper()


def generate(type_code: str, issuer_uscc: str, version: int = 1) -> str:
    """Return a new identifier with a random serial.

    >>> identifier = generate('11100000000013127D001', '11440300007503866T')
    >>> is_valid(identifier), parse(identifier).version, len(parse(identifier).serial)
    (True, 1, 20)
    >>> generate('11100000000013127D001', '11440300007503866T', version=0)
    Traceback (most recent call last):
        ...
    license_vault.errors.InvalidLicenseIdentifier: The version must be an integer from 1 to 999.
    """
    type_code = validate_type_code(type_code)
    issuer = _validate_issuer(issuer_uscc)
    _check_version_number(version)
    serial = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(SERIAL_LENGTH))
    check = _calc_check(type_code, issuer, serial, version)
    return str(LicenseIdentifier(type_code, issuer, serial, version, check))


def validate(identifier: str) -> str:
    """Return the canonical form of ``identifier`` or raise :class:`InvalidLicenseIdentifier`."""
    return _join(*_split(identifier))


def is_valid(identifier: str) -> bool:
    """Tell whether ``identifier`` is a valid license identifier.

    >>> is_valid('1.2.156.3005.2.11100000000013127D001.11440300007503866T'
    ...          '.7K3M9Q2X4B8N1P5R6T0W.001.4')
    True
    >>> is_valid('1.2.156.3005.2.11100000000013127D001.11440300007503866T'
    ...          '.7K3M9Q2X4B8N1P5R6T0W.001')
    False
    """
    try:
        return bool(validate(identifier))
    except InvalidLicenseIdentifier:
        return False


def parse(identifier: str) -> LicenseIdentifier:
    """Validate ``identifier`` and return its parts."""
    type_code, issuer, serial, version, check = _split(identifier)
    return LicenseIdentifier(type_code, issuer, serial, int(version), check)


def validate_type_code(code: str) -> str:
    """Return the canonical form of a license type code or raise :class:`InvalidLicenseIdentifier`.

    A type code is the defining body's USCC followed by three digits.

    >>> validate_type_code('11100000000013127d001')
    '11100000000013127D001'
    >>> validate_type_code('11100000000013127D01')
    Traceback (most recent call last):
        ...
    license_vault.errors.InvalidLicenseIdentifier: A license type code has 21 characters
        (definer USCC and 3 digits), this one has 20.
    """
    code = compact(code)
    if len(code) != TYPE_CODE_LENGTH:
        raise InvalidLicenseIdentifier(
            f"A license type code has {TYPE_CODE_LENGTH} characters (definer USCC and 3 digits), "
            f"this one has {len(code)}.",
            part="type_code",
        )
    try:
        uscc.validate(code[:18])
    except IdentifierError as exc:
        raise InvalidLicenseIdentifier(
            f"Bad definer USCC in type code: {exc.message}", part="type_code"
        ) from exc
    if not all(char in _DIGITS for char in code[18:]):
        raise InvalidLicenseIdentifier(
            f"The type code must end in 3 digits, got {code[18:]}.", part="type_code"
        )
    return code


def _split(identifier: str) -> tuple[str, str, str, str, str]:
    """Check every rule and return the canonical parts, the version still as text."""
    identifier = compact(identifier)
    if not identifier.startswith(PREFIX + "."):
        raise InvalidLicenseIdentifier(f"A license identifier starts with {PREFIX}.", part="prefix")
    parts = identifier[len(PREFIX) + 1 :].split(".")
    if len(parts) != _PART_COUNT:
        raise InvalidLicenseIdentifier(
            f"A license identifier has {_PART_COUNT} parts after {PREFIX} (type code, issuer, "
            f"serial, version, check), this one has {len(parts)}.",
            part="parts",
        )
    type_code, issuer, serial, version, check = parts
    type_code = validate_type_code(type_code)
    issuer = _validate_issuer(issuer)
    _check_serial(serial)
    _check_version_text(version)
    _check_check_character(check, _calc_check(type_code, issuer, serial, int(version)))
    return type_code, issuer, serial, version, check


def _join(type_code: str, issuer: str, serial: str, version: str, check: str) -> str:
    return f"{PREFIX}.{type_code}.{issuer}.{serial}.{version}.{check}"


def _validate_issuer(issuer: str) -> str:
    """The issuer is a valid USCC."""
    try:
        return uscc.validate(issuer)
    except IdentifierError as exc:
        raise InvalidLicenseIdentifier(f"Bad issuer USCC: {exc.message}", part="issuer") from exc


def _check_serial(serial: str) -> None:
    """The serial has 16 to 64 characters from 0-9 and A-Z."""
    if not SERIAL_MIN_LENGTH <= len(serial) <= SERIAL_MAX_LENGTH:
        raise InvalidLicenseIdentifier(
            f"The serial must have {SERIAL_MIN_LENGTH} to {SERIAL_MAX_LENGTH} characters, "
            f"this one has {len(serial)}.",
            part="serial",
        )
    if not all(char in _SERIAL_CHARACTERS for char in serial):
        raise InvalidLicenseIdentifier(
            "The serial may contain only the characters 0-9 and A-Z.", part="serial"
        )


def _check_version_text(version: str) -> None:
    """The version is written as three digits, 001 to 999."""
    if len(version) != 3 or not all(char in _DIGITS for char in version) or version == "000":
        raise InvalidLicenseIdentifier(
            f"The version must be three digits from 001 to 999, got {version[:8]}.",
            part="version",
        )


def _check_version_number(version: int) -> None:
    """A version number is an integer from 1 to 999."""
    # bool is an int subclass; True as a version is a bug in the caller.
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not VERSION_MIN <= version <= VERSION_MAX
    ):
        raise InvalidLicenseIdentifier(
            f"The version must be an integer from {VERSION_MIN} to {VERSION_MAX}.",
            part="version",
        )


def _check_check_character(check: str, expected: str) -> None:
    """The last part is the MOD 37,36 check character of the four middle parts."""
    if check != expected:
        shown = check if len(check) <= 4 else check[:4] + "..."
        raise InvalidLicenseIdentifier(
            f"The check character {shown} is wrong (expected {expected}).", part="check"
        )


def _calc_check(type_code: str, issuer: str, serial: str, version: int) -> str:
    return mod_37_36.calc_check_digit(f"{type_code}{issuer}{serial}{version:03d}")
