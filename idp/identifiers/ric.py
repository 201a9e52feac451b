"""Resident ID number (公民身份号码, GB 11643-1999).

An ID number has 18 characters: a 6-digit administrative region code
(GB/T 2260) of the place of registration when the number was assigned, the
birth date as YYYYMMDD, a 3-digit sequence code (odd for men, even for women)
and an ISO 7064 MOD 11-2 check character, a digit or ``X``. The residence
permits of Hong Kong, Macao and Taiwan residents use the same scheme with the
region codes 810000, 820000 and 830000.

python-stdnum's ``stdnum.cn.ric`` supplies the check digit, the birth date
parsing and the region table. This module adds what an identity provider needs
on top: spaces and dashes are stripped, birth dates before 1900 or after today
are refused, every refusal has its own error class and a message that never
contains the full number, and :func:`mask` gives the form to show on screens.
Legacy 15-digit numbers are not accepted.

>>> validate('11010519491231002X')
'11010519491231002X'
>>> validate('110105 19491231 002x')
'11010519491231002X'
>>> validate('3604-2619-9101-0100-71')
'360426199101010071'
>>> mask('11010519491231002X')
'110**************X'
>>> validate('110105194912310021')
Traceback (most recent call last):
    ...
idp.errors.InvalidChecksum: ID number 110**************1 has a wrong check digit.
>>> validate('440524188001010014')
Traceback (most recent call last):
    ...
idp.errors.InvalidBirthDate: ID number 440**************4 has a birth date before 1900.
>>> validate('440305200106203145', today=datetime.date(2001, 6, 19))
Traceback (most recent call last):
    ...
idp.errors.InvalidBirthDate: ID number 440**************5 has a birth date in the future.
>>> validate('110105194902300020')
Traceback (most recent call last):
    ...
idp.errors.InvalidBirthDate: ID number 110**************0 has an impossible birth date.
>>> validate('990000199001011239')
Traceback (most recent call last):
    ...
idp.errors.InvalidRegion: ID number 990**************9 has an unknown region code.
>>> validate('11010519491231002')
Traceback (most recent call last):
    ...
idp.errors.InvalidLength: An ID number has 18 characters, this one has 17.
>>> validate('110105194912A1002X')
Traceback (most recent call last):
    ...
idp.errors.InvalidFormat: Character 13 of ID number 110**************X must be a digit.
"""

from __future__ import annotations

import datetime
import unicodedata

from stdnum import numdb
from stdnum.cn import ric as _stdnum_ric
from stdnum.exceptions import ValidationError
from stdnum.util import clean

from idp.errors import (
    IdentifierError,
    InvalidBirthDate,
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    InvalidRegion,
)

__all__ = ["calc_check_digit", "compact", "format", "is_valid", "mask", "validate"]

LENGTH = 18
EARLIEST_BIRTH_YEAR = 1900

# China observes one time zone without daylight saving, and a birth date is a
# date in China: a child born just after midnight in Beijing is born "today"
# even while UTC is still on the previous day.
CHINA_TIME = datetime.timezone(datetime.timedelta(hours=8), "CST")

_DIGITS = frozenset("0123456789")

# Taiwan residents' residence permits (since 2018) use 830000, a code assigned
# for these permits rather than a GB/T 2260 division, so python-stdnum's
# region table lacks it.
_PERMIT_REGIONS = frozenset({"830000"})


def compact(number: str) -> str:
    """Return the number without spaces and dashes, with ``x`` upper-cased.

    Full-width characters, as typed with a Chinese input method, become ASCII.

    >>> compact(' 110105-19491231-002x ')
    '11010519491231002X'
    >>> compact('１１０１０５　１９４９１２３１　００２Ｘ')
    '11010519491231002X'
    """
    if not isinstance(number, str):
        raise InvalidFormat("An ID number must be given as text.")
    return clean(unicodedata.normalize("NFKC", number), " -").strip().upper()


def calc_check_digit(number: str) -> str:
    """Return the check character for the first 17 digits of ``number``.

    >>> calc_check_digit('11010519491231002')
    'X'
    """
    digits = compact(number)[:17]
    if len(digits) != LENGTH - 1 or not all(char in _DIGITS for char in digits):
        raise InvalidFormat("The check digit is computed over 17 digits.")
    # python-stdnum expects the check position to be present and ignores it.
    return _stdnum_ric.calc_check_digit(digits + "0")


def mask(number: str) -> str:
    """Return the number with all but its first three and last characters hidden.

    The birth date and the sequence number are both hidden: a license face
    often shows the birth date, and beside it the usual ``110105********002X``
    would give the whole number away. With this mask and the birth date, the
    hidden county and sequence digits still leave hundreds to thousands of
    candidates (about 3,600 for ``110``), not one. Anything that is not 18
    characters long is hidden completely, since we cannot tell which parts
    would be safe to show.

    >>> mask('110105 19491231 002X')
    '110**************X'
    >>> mask('1101051949')
    '**********'
    """
    number = compact(number)
    if len(number) != LENGTH:
        return "*" * len(number)
    return number[:3] + "*" * 14 + number[-1:]


def birth_date(number: str) -> datetime.date:
    """The birth date a valid number encodes (characters 7 to 14).

    >>> birth_date('11010519491231002X')
    datetime.date(1949, 12, 31)
    """
    return _stdnum_ric.get_birth_date(compact(number))


def is_male(number: str) -> bool:
    """GB 11643: the sequence code (characters 15 to 17) is odd for men, even for women.

    >>> is_male('11010519491231002X')
    False
    """
    return int(compact(number)[16]) % 2 == 1


def validate(number: str, today: datetime.date | None = None) -> str:
    """Return the canonical form of ``number`` or raise an :class:`IdentifierError`.

    ``today`` is the date birth dates are compared with (default: the
    current date in China).

    >>> validate('310115199503150128', today=datetime.date(2024, 1, 1))
    '310115199503150128'
    """
    number = compact(number)
    _check_length(number)
    _check_characters(number)
    _check_check_digit(number)
    birth_date = _check_birth_date(number, _as_china_date(today))
    _check_region(number, birth_date.year)
    return number


def is_valid(number: str, today: datetime.date | None = None) -> bool:
    """Tell whether ``number`` is a valid ID number.

    >>> is_valid('11010519491231002X')
    True
    >>> is_valid('11010519491231002Y')
    False
    """
    try:
        return bool(validate(number, today))
    except IdentifierError:
        return False


def format(number: str) -> str:  # shadows the builtin: python-stdnum's name
    """Return the number in its printed form, which is the compact form.

    >>> format('110105 1949 1231 002x')
    '11010519491231002X'
    """
    return compact(number)


def _check_length(number: str) -> None:
    """An ID number has exactly 18 characters."""
    if len(number) != LENGTH:
        raise InvalidLength(f"An ID number has {LENGTH} characters, this one has {len(number)}.")


def _check_characters(number: str) -> None:
    """The first 17 characters are ASCII digits; the last is a digit or X."""
    # str.isdigit() would let full-width and other Unicode digits through.
    for position, char in enumerate(number[:-1], start=1):
        if char not in _DIGITS:
            raise InvalidFormat(
                f"Character {position} of ID number {mask(number)} must be a digit."
            )
    if number[-1] not in _DIGITS and number[-1] != "X":
        raise InvalidFormat(f"The last character of ID number {mask(number)} must be a digit or X.")


def _check_check_digit(number: str) -> None:
    """The 18th character is the ISO 7064 MOD 11-2 check of the first 17."""
    if number[-1] != calc_check_digit(number):
        raise InvalidChecksum(f"ID number {mask(number)} has a wrong check digit.")


def _check_birth_date(number: str, today: datetime.date) -> datetime.date:
    """The birth date exists, is not before 1900 and is not after today."""
    # The date itself never goes into the message: it is personal data.
    try:
        birth_date = _stdnum_ric.get_birth_date(number)
    except (ValidationError, ValueError):
        raise InvalidBirthDate(f"ID number {mask(number)} has an impossible birth date.") from None
    if birth_date.year < EARLIEST_BIRTH_YEAR:
        raise InvalidBirthDate(
            f"ID number {mask(number)} has a birth date before {EARLIEST_BIRTH_YEAR}."
        )
    if birth_date > today:
        raise InvalidBirthDate(f"ID number {mask(number)} has a birth date in the future.")
    return birth_date


def _check_region(number: str, birth_year: int) -> None:
    """The region code is known and was not abolished before the birth year.

    python-stdnum's own check (``get_birth_place``) also refuses a county
    created after the birth year, but the region code records where the
    person was registered when the number was assigned, which can be years
    after birth: someone born in 1980 who received a first number in Pudong
    (created 1992) has 310115. It also fails with ``KeyError`` for an unknown
    county of a known province. So the table is read here directly, and only
    a county abolished before the person was born is impossible.
    """
    code = number[:6]
    if code in _PERMIT_REGIONS:
        return
    info: dict[str, str] = {}
    for _part, properties in numdb.get("cn/loc").info(code):
        info.update(properties)
    counties = info.get("county")
    if not counties:
        raise InvalidRegion(f"ID number {mask(number)} has an unknown region code.")
    for county in counties.split(","):
        if not _abolished_before(county, birth_year):
            return
    raise InvalidRegion(
        f"ID number {mask(number)} has a region code that was abolished before the birth date."
    )


def _abolished_before(county: str, year: int) -> bool:
    """Tell whether a table entry like ``[1983-1989]南头区办事处`` ended before ``year``."""
    if not county.startswith("["):
        return False
    years = county[1:].split("]", 1)[0]
    end = years.partition("-")[2]
    return bool(end) and int(end) < year


def _as_china_date(today: datetime.date | None) -> datetime.date:
    """Return ``today`` as a plain date, defaulting to the current date in China."""
    if today is None:
        return datetime.datetime.now(CHINA_TIME).date()
    if isinstance(today, datetime.datetime):
        # A naive datetime is taken as already being China time.
        if today.tzinfo is not None:
            today = today.astimezone(CHINA_TIME)
        return today.date()
    return today
