"""Unified social credit code (统一社会信用代码, GB 32100-2015).

A USCC has 18 characters from ``0-9`` and upper-case letters other than
I, O, S, V and Z:

* 1: registration-authority code (登记管理部门代码), e.g. 9 for market regulation;
* 2: entity-type code (机构类别代码), whose meaning depends on the authority;
* 3-8: region code of the registration authority (GB/T 2260; 100000 is national);
* 9-17: organisation code (组织机构代码, GB 11714), itself ending in a check character;
* 18: check character (ISO 7064 MOD 31-3 over the first 17).

python-stdnum's ``stdnum.cn.uscc`` supplies :func:`compact` and the check
character. Its ``validate`` is not used: it demands eight leading digits and
so refuses every code of authorities A, N and Y, and it checks neither the
authority and entity-type codes nor the embedded organisation code.

>>> validate('91110000600037341L')
'91110000600037341L'
>>> validate('n2330106-mf0a1b2c0m')
'N2330106MF0A1B2C0M'
>>> validate('91110000600037341M')
Traceback (most recent call last):
    ...
idp.errors.InvalidChecksum: USCC 91110000600037341M has a wrong check character (expected L).
>>> validate('94110000600037341M')
Traceback (most recent call last):
    ...
idp.errors.InvalidAuthorityCode: USCC 94110000600037341M: entity type 4 is not defined
    for registration authority 9 (allowed: 1, 2, 3).
>>> validate('B1110000600037341L')
Traceback (most recent call last):
    ...
idp.errors.InvalidAuthorityCode: USCC B1110000600037341L: registration authority code B
    is not assigned.
>>> validate('91110000600037342P')
Traceback (most recent call last):
    ...
idp.errors.InvalidChecksum: USCC 91110000600037342P: the organisation code 600037342
    has a wrong check character (expected 1).
>>> validate('9111000060003734IL')
Traceback (most recent call last):
    ...
idp.errors.InvalidFormat: USCC 9111000060003734IL: character 17 is not allowed
    (USCCs use 0-9 and A-Z without I, O, S, V, Z).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

from stdnum.cn import uscc as _stdnum_uscc

from idp.errors import (
    IdentifierError,
    InvalidAuthorityCode,
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    InvalidRegion,
)

__all__ = [
    "ENTITY_TYPES",
    "calc_check_digit",
    "calc_organisation_check_digit",
    "compact",
    "format",
    "is_valid",
    "mask",
    "validate",
]

LENGTH = 18
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# Entity-type codes allowed for each registration authority: GB 32100-2015
# table 1 with its amendments (A: military, N: agriculture, Y: others).
ENTITY_TYPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "1": frozenset("1239"),  # 机构编制: 机关, 事业单位, 中央编办直管群众团体, 其他
        "2": frozenset("19"),  # 外交: 外国常驻新闻机构, 其他
        "3": frozenset("123459"),  # 司法行政: 律所, 公证处, 基层法律服务所, 司法鉴定, 仲裁委, 其他
        "4": frozenset("19"),  # 文化: 外国在华文化中心, 其他
        "5": frozenset("1239"),  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
        "6": frozenset("129"),  # 旅游: 外国旅游部门代表机构, 港澳台旅游部门代表机构, 其他
        "7": frozenset("129"),  # 宗教: 宗教活动场所, 宗教院校, 其他
        "8": frozenset("19"),  # 工会: 基层工会, 其他
        "9": frozenset("123"),  # 工商: 企业, 个体工商户, 农民专业合作社
        "A": frozenset("19"),  # 中央军委改革和编制办公室: 军队事业单位, 其他
        "N": frozenset("1239"),  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
        "Y": frozenset("1"),  # 其他: not subdivided
    }
)

# GB 11714 organisation codes use the full Latin alphabet with A = 10 ... Z = 35,
# unlike the USCC check, which skips I, O, S, V and Z.
_ORGANISATION_VALUES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_DIGITS = frozenset("0123456789")


def compact(number: str) -> str:
    """Return the code without spaces and dashes, upper-cased.

    Full-width characters, as typed with a Chinese input method, become ASCII.

    >>> compact('9 1 110000 600037341l')
    '91110000600037341L'
    >>> compact('９１１１００００６０００３７３４１Ｌ')
    '91110000600037341L'
    """
    if not isinstance(number, str):
        raise InvalidFormat("A USCC must be given as text.")
    return _stdnum_uscc.compact(unicodedata.normalize("NFKC", number))


def calc_check_digit(number: str) -> str:
    """Return the check character for the first 17 characters of ``number``.

    >>> calc_check_digit('91110000600037341')
    'L'
    """
    characters = compact(number)[:17]
    if len(characters) != LENGTH - 1 or not all(char in ALPHABET for char in characters):
        raise InvalidFormat("The check character is computed over 17 USCC characters.")
    return _stdnum_uscc.calc_check_digit(characters)


def calc_organisation_check_digit(body: str) -> str:
    """Return the GB 11714 check character for an 8-character organisation code body.

    >>> calc_organisation_check_digit('60003734')
    '1'
    >>> calc_organisation_check_digit('MA5F8K3Q')
    'X'
    """
    if len(body) != 8 or not all(char in _ORGANISATION_VALUES for char in body):
        raise InvalidFormat("An organisation code body has 8 characters from 0-9 and A-Z.")
    total = sum(
        _ORGANISATION_VALUES.index(char) * weight
        for char, weight in zip(body, _ORGANISATION_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def mask(number: str) -> str:
    """Return the code unchanged (compacted).

    USCCs identify organisations and are printed on business licences and
    published in the national enterprise credit registry, so hiding digits
    protects nothing. The function exists so that code handling both kinds
    of holder can mask any identifier the same way.

    >>> mask('91110000600037341L')
    '91110000600037341L'
    """
    return compact(number)


def validate(number: str) -> str:
    """Return the canonical form of ``number`` or raise an :class:`IdentifierError`.

    >>> validate('12440600MB2C07549J')
    '12440600MB2C07549J'
    """
    number = compact(number)
    _check_length(number)
    _check_characters(number)
    _check_authority(number)
    _check_region(number)
    _check_check_character(number)
    _check_organisation_code(number)
    return number


def is_valid(number: str) -> bool:
    """Tell whether ``number`` is a valid USCC.

    >>> is_valid('91110000600037341L')
    True
    >>> is_valid('91110000600037341A')
    False
    """
    try:
        return bool(validate(number))
    except IdentifierError:
        return False


def format(number: str) -> str:  # shadows the builtin: python-stdnum's name
    """Return the code in its printed form, which is the compact form.

    >>> format('9111 0000 6000 3734 1L')
    '91110000600037341L'
    """
    return compact(number)


def _check_length(number: str) -> None:
    """A USCC has exactly 18 characters."""
    if len(number) != LENGTH:
        raise InvalidLength(f"A USCC has {LENGTH} characters, this one has {len(number)}.")


def _check_characters(number: str) -> None:
    """Every character is a digit or a letter other than I, O, S, V and Z."""
    for position, char in enumerate(number, start=1):
        if char not in ALPHABET:
            raise InvalidFormat(
                f"USCC {number}: character {position} is not allowed "
                "(USCCs use 0-9 and A-Z without I, O, S, V, Z)."
            )


def _check_authority(number: str) -> None:
    """The authority code is assigned and the entity type is defined for it."""
    authority, entity_type = number[0], number[1]
    allowed = ENTITY_TYPES.get(authority)
    if allowed is None:
        raise InvalidAuthorityCode(
            f"USCC {number}: registration authority code {authority} is not assigned."
        )
    if entity_type not in allowed:
        raise InvalidAuthorityCode(
            f"USCC {number}: entity type {entity_type} is not defined for registration "
            f"authority {authority} (allowed: {', '.join(sorted(allowed))})."
        )


def _check_region(number: str) -> None:
    """Characters 3-8 are the six digits of an administrative region code."""
    # Only the shape is checked: registrations keep the code of a region that
    # has since been renamed or merged, and 100000 (national) is no GB/T 2260 entry.
    if not all(char in _DIGITS for char in number[2:8]):
        raise InvalidRegion(f"USCC {number}: the region code {number[2:8]} must be six digits.")


def _check_check_character(number: str) -> None:
    """The 18th character is the MOD 31-3 check of the first 17."""
    expected = calc_check_digit(number)
    if number[-1] != expected:
        raise InvalidChecksum(f"USCC {number} has a wrong check character (expected {expected}).")


def _check_organisation_code(number: str) -> None:
    """Characters 9-17 are a GB 11714 organisation code with a correct check character."""
    # Checked after the USCC's own check so that a plain typo is reported as
    # such; a code that passes that check but fails this one was made up.
    organisation_code = number[8:17]
    expected = calc_organisation_check_digit(organisation_code[:8])
    if organisation_code[-1] != expected:
        raise InvalidChecksum(
            f"USCC {number}: the organisation code {organisation_code} has a wrong "
            f"check character (expected {expected})."
        )
