"""Validity periods: the calendar in China, validity rules, and the period of one license.

License dates are calendar dates in China (UTC+8): a license valid until
2029-06-02 is in force through that whole day in Beijing, and expired from
2029-06-03 00:00 Beijing time, whatever the server's time zone.

Every date the vault takes (``valid_from``, ``valid_until``, date face
fields) is written exactly ``YYYY-MM-DD`` in ASCII digits and lies between
:data:`FIRST_DATE` and :data:`LAST_DATE`; so does the end of every period.
Python's own bounds (year 1 to 9999) are far wider, and a date near them
overflows later: a period added to it, the instant after its last day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from idp.identifiers.ric import CHINA_TIME
from license_vault.errors import InvalidField, InvalidLicenseType

__all__ = ["CHINA", "FIRST_DATE", "LAST_DATE", "Period", "ValidityRule", "check_in_range",
           "china_date", "end_of_validity", "parse_date"]

CHINA = CHINA_TIME  # one definition of Beijing time, shared with the ID-number checks
_CHINA_OFFSET = CHINA.utcoffset(None)  # a fixed offset: the same at every moment
RULES = ("permanent", "years")
MAX_YEARS = 50
FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2199, 12, 31)
# Exactly YYYY-MM-DD in ASCII digits: date.fromisoformat also takes 20260101 and
# 2026-W01-1, and int() (which it uses) takes ２０２６.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def china_date(moment: dt.datetime) -> dt.date:
    """The calendar date in China at ``moment`` (timezone-aware).

    >>> china_date(dt.datetime(2024, 6, 2, 16, 30, tzinfo=dt.UTC))
    datetime.date(2024, 6, 3)
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a naive datetime has no date in China")
    # Shifting the wall time is exact and costs a fifth of astimezone: every QR
    # code checked offline asks.
    return (moment + (_CHINA_OFFSET - offset)).date()


def end_of_validity(valid_until: dt.date) -> dt.datetime:
    """The instant a license valid through ``valid_until`` stops being in force (UTC).

    >>> end_of_validity(dt.date(2029, 6, 2)).isoformat()
    '2029-06-02T16:00:00+00:00'
    """
    next_day = valid_until + dt.timedelta(days=1)
    return dt.datetime.combine(next_day, dt.time(), CHINA).astimezone(dt.UTC)


def parse_date(value: object, field: str, *, name: str | None = None) -> dt.date:
    """A date written ``YYYY-MM-DD`` (or a ``date``) within the vault's range.

    :class:`InvalidField` names ``field``; ``name`` is how the message calls
    it (a face field's key and label), ``field`` by default.

    >>> parse_date("2026-12-01", "valid_from")
    datetime.date(2026, 12, 1)
    >>> parse_date("2026-W01-1", "valid_from")
    Traceback (most recent call last):
        ...
    license_vault.errors.InvalidField: valid_from must be a date written YYYY-MM-DD
        (ASCII digits), got '2026-W01-1'
    >>> parse_date("9999-12-31", "valid_from")
    Traceback (most recent call last):
        ...
    license_vault.errors.InvalidField: valid_from 9999-12-31 is outside the dates the vault
        accepts (1900-01-01 to 2199-12-31)
    """
    name = name or field
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return check_in_range(value, field, name=name)
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        shown = f", got {value[:20]!r}" if isinstance(value, str) else ""
        raise InvalidField(f"{name} must be a date written YYYY-MM-DD (ASCII digits){shown}",
                           field=field)
    try:
        day = dt.date(int(value[:4]), int(value[5:7]), int(value[8:]))
    except ValueError:
        raise InvalidField(f"{name} {value!r} is not a calendar date (YYYY-MM-DD)",
                           field=field) from None
    return check_in_range(day, field, name=name)


def check_in_range(day: dt.date, field: str, *, name: str | None = None) -> dt.date:
    """``day`` if it lies from FIRST_DATE to LAST_DATE, else :class:`InvalidField`."""
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidField(f"{name or field} {day.isoformat()} is outside the dates the vault "
                           f"accepts ({FIRST_DATE} to {LAST_DATE})", field=field)
    return day


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none: the anniversary is 1 March
        return dt.date(day.year + years, 3, 1)


@dataclasses.dataclass(frozen=True)
class Period:
    valid_from: dt.date
    valid_until: dt.date | None  # None: permanent (长期)


@dataclasses.dataclass(frozen=True)
class ValidityRule:
    """How long a license of a type is valid.

    * ``permanent``: 长期 unless the issuer gives an end date;
    * ``years``: at most ``years`` years (the last day is the day before the
      anniversary of ``valid_from``), which is also the default.
    """

    rule: str
    years: int | None = None

    @classmethod
    def parse(cls, data: object, path: str = "validity") -> ValidityRule:
        if not isinstance(data, Mapping):
            raise InvalidLicenseType(f"{path} must be an object such as "
                                     '{"rule": "years", "years": 5}', field=path)
        unknown = sorted(set(data) - {"rule", "years"})
        if unknown:
            raise InvalidLicenseType(f"{path} has unknown member {unknown[0]!r}",
                                     field=f"{path}.{unknown[0]}")
        rule = data.get("rule")
        if rule not in RULES:
            raise InvalidLicenseType(f"{path}.rule must be one of {', '.join(RULES)}",
                                     field=f"{path}.rule")
        if rule == "permanent":
            if "years" in data:
                raise InvalidLicenseType(f"{path}.years is only for the years rule",
                                         field=f"{path}.years")
            return cls("permanent")
        years = data.get("years")
        if type(years) is not int or not 1 <= years <= MAX_YEARS:
            raise InvalidLicenseType(f"{path}.years must be a whole number from 1 to {MAX_YEARS}",
                                     field=f"{path}.years")
        return cls("years", years)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule} if self.years is None else {"rule": self.rule,
                                                                "years": self.years}

    def longest(self, valid_from: dt.date) -> dt.date | None:
        """The last day the rule allows, None for permanent.

        >>> ValidityRule("years", 5).longest(dt.date(2024, 6, 3))
        datetime.date(2029, 6, 2)
        >>> ValidityRule("years", 1).longest(dt.date(2024, 2, 29))
        datetime.date(2025, 2, 28)
        """
        if self.years is None:
            return None
        return _add_years(valid_from, self.years) - dt.timedelta(days=1)

    def period(self, *, issue_date: dt.date, valid_from: dt.date | None,
               valid_until: dt.date | None) -> Period:
        """The period of a license issued on ``issue_date``; checks the dates' order.

        ``valid_from`` defaults to the issue date. An end date, given or by
        default, must not be before ``valid_from`` nor already past on the
        issue date, and may not exceed what the rule allows. Both ends lie
        within FIRST_DATE to LAST_DATE.
        """
        start = check_in_range(valid_from or issue_date, "valid_from")
        longest = self.longest(start)
        if valid_until is None:
            end = longest
            if end is not None and end > LAST_DATE:
                raise InvalidField(f"valid_from {start} is too late: the period would end on "
                                   f"{end}, after {LAST_DATE}, the last date the vault "
                                   "accepts", field="valid_from")
        else:
            check_in_range(valid_until, "valid_until")
            if valid_until < start:
                raise InvalidField(f"valid_until {valid_until} is before valid_from {start}",
                                   field="valid_until")
            if longest is not None and valid_until > longest:
                raise InvalidField(f"valid_until {valid_until} is beyond what this license type "
                                   f"allows ({self.years} years, until {longest})",
                                   field="valid_until")
            end = valid_until
        if end is not None and end < issue_date:
            raise InvalidField(f"valid_until {end} is before the issue date {issue_date}: "
                               "the license would be expired already", field="valid_until")
        return Period(start, end)
