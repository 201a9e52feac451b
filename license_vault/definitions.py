"""License-type definitions: the JSON schema of a type, and face data checked against it.

A type is defined by a JSON document (``docs/license-types.md``). Parsing it
checks every member and names the one at fault (``fields[3].max_length``).
The resulting :class:`TypeSpec` then checks face data at issuance, naming the
face field at fault. Every text, of the definition and of the face data,
must be printable (:mod:`license_vault.printable`): a title or label the
face cannot print would fail every issuance of the type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any, get_args

from idp.identifiers import ric
from license_vault import identifiers
from license_vault.errors import InvalidField, InvalidLicenseIdentifier, InvalidLicenseType
from license_vault.printable import unprintable
from license_vault.validity import ValidityRule, parse_date
from signing.render import RowKind

__all__ = ["FIELD_TYPES", "HOLDER_KINDS", "FieldSpec", "TypeSpec", "parse_definition",
           "read_stored_definition"]

# A face field is printed as a row of its type: the types are the renderer's row kinds.
FIELD_TYPES: tuple[str, ...] = get_args(RowKind)
HOLDER_KINDS = ("person", "entity")
DEFAULT_MAX_LENGTH = {"text": 100, "date": 10, "money": 16, "enumeration": 50,
                      "multiline": 2000}
MAX_FIELD_LENGTH = 4000
MAX_FIELDS = 30
DEFAULT_HOLDER_ID_LABEL = {"person": "公民身份号码", "entity": "统一社会信用代码"}
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_PREFIX = re.compile(r"[A-Z]{0,4}")
# Yuan below 10^12 with at most two decimals, in ASCII digits (\d would take ９９ and ٩٩),
# without leading zeros (0001 is not how an amount is written; 0.50 is).
_MONEY = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")
_TOP_LEVEL = frozenset({"code", "name", "definer", "holder_kind", "holder_name_field",
                        "holder_id_label", "validity", "validity_label", "number_prefix",
                        "issuers", "fields", "description", "valid_from_field"})
_FIELD_MEMBERS = frozenset({"key", "label", "type", "required", "max_length", "options",
                            "not_after_issue_date", "holder_id_part"})
# What a person's ID number says (GB 11643) that a face may repeat: kept consistent.
HOLDER_ID_PARTS = ("birth_date", "sex")
_SEXES = {True: "男", False: "女"}  # is_male


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One face field (照面项): key, Chinese label, kind of value and limits."""

    key: str
    label: str
    type: str
    required: bool
    max_length: int
    options: tuple[str, ...] = ()
    not_after_issue_date: bool = False  # a date in the past, e.g. 成立日期, 出生日期
    holder_id_part: str | None = None  # one of HOLDER_ID_PARTS: must agree with the ID number

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "label": self.label, "type": self.type,
                                "required": self.required, "max_length": self.max_length}
        if self.options:
            data["options"] = list(self.options)
        if self.not_after_issue_date:
            data["not_after_issue_date"] = True
        if self.holder_id_part:
            data["holder_id_part"] = self.holder_id_part
        return data

    def check(self, raw: object, *, issue_date: dt.date) -> str | None:
        """The value as stored, None when an optional field is left empty."""
        name = f"{self.key} ({self.label})"
        if not isinstance(raw, str):
            raise InvalidField(f"{name} must be given as text", field=self.key)
        value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
        value = "\n".join(line.strip() for line in value.split("\n"))
        if not value:
            if self.required:
                raise InvalidField(f"{name} is required", field=self.key)
            return None
        if len(value) > self.max_length:
            raise InvalidField(f"{name} has {len(value)} characters; at most "
                               f"{self.max_length} are allowed", field=self.key)
        # The kind's own check first: a date or an amount in other digits is told so.
        check = getattr(self, f"_check_{self.type}")
        result: str = check(value, name, issue_date)
        problem = unprintable(result, on_face=True, multiline=self.type == "multiline")
        if problem is not None:
            raise InvalidField(f"{name} contains {problem}", field=self.key)
        return result

    def _check_text(self, value: str, _name: str, _issue_date: dt.date) -> str:
        return value  # one line: the printable rule refused line breaks

    def _check_multiline(self, value: str, _name: str, _issue_date: dt.date) -> str:
        return value

    def _check_date(self, value: str, name: str, issue_date: dt.date) -> str:
        day = parse_date(value, self.key, name=name)
        if self.not_after_issue_date and day > issue_date:
            raise InvalidField(f"{name} {value} is after the issue date {issue_date}",
                               field=self.key)
        return day.isoformat()

    def _check_money(self, value: str, name: str, _issue_date: dt.date) -> str:
        if _MONEY.fullmatch(value):
            return value
        foreign = [char for char in value if char.isdigit() and not char.isascii()]
        if foreign:
            raise InvalidField(f"{name} must be written with the digits 0-9, not "
                               f"{foreign[0]!r} (U+{ord(foreign[0]):04X})", field=self.key)
        if re.match(r"0[0-9]", value):
            raise InvalidField(f"{name} {value!r} starts with a zero; write the amount "
                               "without leading zeros", field=self.key)
        raise InvalidField(f"{name} must be an amount of yuan such as 10000000 or 12.50 "
                           "(digits 0-9, at most two decimals, below 10^12)", field=self.key)

    def _check_enumeration(self, value: str, name: str, _issue_date: dt.date) -> str:
        if value not in self.options:
            raise InvalidField(f"{name} must be one of: {'、'.join(self.options)}",
                               field=self.key)
        return value


@dataclasses.dataclass(frozen=True)
class TypeSpec:
    """A license type as defined; ``issuers`` are department USCCs."""

    code: str
    name: str
    definer: str
    holder_kind: str
    holder_name_field: str
    holder_id_label: str
    validity: ValidityRule
    validity_label: str
    number_prefix: str
    fields: tuple[FieldSpec, ...]
    issuers: tuple[str, ...] = ()
    description: str = ""
    valid_from_field: str = ""  # a date field the validity starts on by default (成立日期)

    def field(self, key: str) -> FieldSpec:
        for spec in self.fields:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def definition(self) -> dict[str, Any]:
        """The JSON definition without issuers (what the catalogue row keeps)."""
        data = {"code": self.code, "name": self.name, "definer": self.definer,
                "holder_kind": self.holder_kind, "holder_name_field": self.holder_name_field,
                "holder_id_label": self.holder_id_label, "validity": self.validity.to_json(),
                "validity_label": self.validity_label, "number_prefix": self.number_prefix,
                "fields": [spec.to_json() for spec in self.fields]}
        if self.description:
            data["description"] = self.description
        if self.valid_from_field:
            data["valid_from_field"] = self.valid_from_field
        return data

    def to_json(self) -> dict[str, Any]:
        return {**self.definition(), "issuers": list(self.issuers)}

    def default_valid_from(self, face: Mapping[str, str]) -> dt.date | None:
        """Where the validity starts unless the issuer says: ``valid_from_field``'s date."""
        value = face.get(self.valid_from_field) if self.valid_from_field else None
        return dt.date.fromisoformat(value) if value else None

    def check_printable(self) -> None:
        """Refuse texts that may not be shown (:func:`unprintable`), naming the member.

        Parsing a new definition calls it; issuance calls it again for types
        stored before the rule was this strict, so that such a type is refused
        before a printed number is taken for it.
        """
        for path, text, on_face, multiline in self._texts():
            problem = unprintable(text, on_face=on_face, multiline=multiline)
            if problem is not None:
                raise InvalidLicenseType(f"{path} contains {problem}", field=path)

    def _texts(self) -> Iterator[tuple[str, str, bool, bool]]:
        """(path, text, printed on the face, multiline) of every text of the definition."""
        yield "name", self.name, True, False
        yield "definer", self.definer, False, False
        yield "holder_id_label", self.holder_id_label, True, False
        yield "validity_label", self.validity_label, True, False
        yield "description", self.description, False, True
        for index, field in enumerate(self.fields):
            yield f"fields[{index}].label", field.label, True, False
            for option in field.options:
                yield f"fields[{index}].options", option, True, False

    def check_against_holder(self, face: Mapping[str, str], id_number: str) -> None:
        """Face fields that repeat part of a person's ID number must agree with it."""
        for spec in self.fields:
            value = face.get(spec.key)
            if spec.holder_id_part is None or value is None:
                continue
            encoded = (ric.birth_date(id_number).isoformat() if spec.holder_id_part == "birth_date"
                       else _SEXES[ric.is_male(id_number)])
            if value != encoded:
                raise InvalidField(f"{spec.key} ({spec.label}) {value} does not agree with the "
                                   "holder's ID number", field=spec.key)

    def check_face(self, values: Mapping[str, object], *, issue_date: dt.date) -> dict[str, str]:
        """Face data as stored: every field checked, unknown keys refused, empty ones dropped."""
        if not isinstance(values, Mapping):
            raise InvalidField("fields must be an object of field key to value", field="fields")
        known = {spec.key for spec in self.fields}
        for key in values:
            if key not in known:
                shown = str(key)[:40]
                raise InvalidField(f"unknown field {shown!r}: {self.name} has the fields "
                                   f"{', '.join(spec.key for spec in self.fields)}",
                                   field=shown)
        face: dict[str, str] = {}
        for spec in self.fields:
            value = spec.check(values.get(spec.key, ""), issue_date=issue_date)
            if value is not None:
                face[spec.key] = value
        return face


# --- parsing a definition ------------------------------------------------------------------


def _text(data: Mapping[str, Any], name: str, path: str, *, limit: int,
          required: bool = True, default: str = "") -> str:
    value = data.get(name, None)
    if value is None and not required:
        return default
    if not isinstance(value, str) or not value.strip():
        raise InvalidLicenseType(f"{path} must be non-empty text", field=path)
    value = value.strip()
    if len(value) > limit:
        raise InvalidLicenseType(f"{path} has more than {limit} characters", field=path)
    return value


def _parse_field(data: object, index: int) -> FieldSpec:
    path = f"fields[{index}]"
    if not isinstance(data, Mapping):
        raise InvalidLicenseType(f"{path} must be an object", field=path)
    unknown = sorted(set(data) - _FIELD_MEMBERS)
    if unknown:
        raise InvalidLicenseType(f"{path} has unknown member {unknown[0]!r}",
                                 field=f"{path}.{unknown[0]}")
    key = data.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidLicenseType(f"{path}.key must be lower-case ASCII letters, digits and "
                                 "underscores, starting with a letter (at most 40)",
                                 field=f"{path}.key")
    label = _text(data, "label", f"{path}.label", limit=20)
    kind = data.get("type")
    if kind not in FIELD_TYPES:
        raise InvalidLicenseType(f"{path}.type must be one of {', '.join(FIELD_TYPES)}",
                                 field=f"{path}.type")
    required = data.get("required", False)
    if not isinstance(required, bool):
        raise InvalidLicenseType(f"{path}.required must be true or false",
                                 field=f"{path}.required")
    max_length = data.get("max_length", DEFAULT_MAX_LENGTH[kind])
    if type(max_length) is not int or not 1 <= max_length <= MAX_FIELD_LENGTH:
        raise InvalidLicenseType(f"{path}.max_length must be a whole number from 1 to "
                                 f"{MAX_FIELD_LENGTH}", field=f"{path}.max_length")
    if kind == "date" and max_length < 10:
        raise InvalidLicenseType(f"{path}.max_length must be at least 10 for a date",
                                 field=f"{path}.max_length")
    options = data.get("options")
    if kind == "enumeration":
        if (not isinstance(options, list) or not options
                or not all(isinstance(o, str) and o.strip() for o in options)):
            raise InvalidLicenseType(f"{path}.options must list the allowed values",
                                     field=f"{path}.options")
        options = [option.strip() for option in options]
        if len(set(options)) != len(options):
            raise InvalidLicenseType(f"{path}.options repeats a value", field=f"{path}.options")
        if any(len(option) > max_length for option in options):
            raise InvalidLicenseType(f"{path}.options has a value longer than max_length",
                                     field=f"{path}.options")
    elif options is not None:
        raise InvalidLicenseType(f"{path}.options is only for enumeration fields",
                                 field=f"{path}.options")
    past = data.get("not_after_issue_date", False)
    if not isinstance(past, bool) or (past and kind != "date"):
        raise InvalidLicenseType(f"{path}.not_after_issue_date is true or false, for dates",
                                 field=f"{path}.not_after_issue_date")
    part = data.get("holder_id_part")
    birth_date = part == "birth_date" and kind == "date"
    sex = part == "sex" and kind == "enumeration" and set(options or ()) == set(_SEXES.values())
    if part is not None and not (birth_date or sex):
        raise InvalidLicenseType(f"{path}.holder_id_part is birth_date (for a date) or sex "
                                 "(for an enumeration of 男 and 女)",
                                 field=f"{path}.holder_id_part")
    return FieldSpec(key, label, kind, required, max_length, tuple(options or ()), past, part)


def parse_definition(data: object) -> TypeSpec:
    """The :class:`TypeSpec` of a new definition; :class:`InvalidLicenseType` names the path."""
    spec = read_stored_definition(data)
    spec.check_printable()
    return spec


def read_stored_definition(data: object) -> TypeSpec:
    """The :class:`TypeSpec` of a definition, its texts not checked for printing.

    For definitions the catalogue accepted before :meth:`TypeSpec.check_printable`
    was part of parsing: they stay readable and listed, and issuance refuses them.
    """
    if not isinstance(data, Mapping):
        raise InvalidLicenseType("a license type definition is a JSON object", field="$")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise InvalidLicenseType(f"unknown member {unknown[0]!r}", field=unknown[0])
    try:
        code = identifiers.validate_type_code(data.get("code"))  # type: ignore[arg-type]
    except InvalidLicenseIdentifier as exc:
        raise InvalidLicenseType(f"code: {exc.message}", field="code") from None
    name = _text(data, "name", "name", limit=20)
    definer = _text(data, "definer", "definer", limit=200)
    holder_kind = data.get("holder_kind")
    if holder_kind not in HOLDER_KINDS:
        raise InvalidLicenseType("holder_kind must be person or entity", field="holder_kind")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not 1 <= len(raw_fields) <= MAX_FIELDS:
        raise InvalidLicenseType(f"fields must list 1 to {MAX_FIELDS} face fields",
                                 field="fields")
    fields = tuple(_parse_field(item, index) for index, item in enumerate(raw_fields))
    seen: set[str] = set()
    for index, spec in enumerate(fields):
        if spec.key in seen:
            raise InvalidLicenseType(f"field key {spec.key!r} appears twice",
                                     field=f"fields[{index}].key")
        seen.add(spec.key)
    if holder_kind != "person":
        for index, spec in enumerate(fields):
            if spec.holder_id_part is not None:
                raise InvalidLicenseType("holder_id_part is for types held by persons",
                                         field=f"fields[{index}].holder_id_part")
    holder_field = data.get("holder_name_field")
    candidates = [spec for spec in fields if spec.key == holder_field]
    if not candidates or candidates[0].type != "text" or not candidates[0].required:
        raise InvalidLicenseType("holder_name_field must name a required text field (the "
                                 "holder's name printed first on the face)",
                                 field="holder_name_field")
    if candidates[0].max_length > 200:
        raise InvalidLicenseType("the holder name field allows at most 200 characters",
                                 field="holder_name_field")
    prefix = data.get("number_prefix", "")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidLicenseType("number_prefix is 0 to 4 upper-case letters (JY)",
                                 field="number_prefix")
    valid_from_field = data.get("valid_from_field", "")
    if valid_from_field and not any(spec.key == valid_from_field and spec.type == "date"
                                    for spec in fields):
        raise InvalidLicenseType("valid_from_field must name a date field",
                                 field="valid_from_field")
    issuers = data.get("issuers", [])
    if not isinstance(issuers, list) or not all(isinstance(i, str) for i in issuers):
        raise InvalidLicenseType("issuers must list department USCCs", field="issuers")
    return TypeSpec(
        code=code, name=name, definer=definer, holder_kind=str(holder_kind),
        holder_name_field=str(holder_field),
        holder_id_label=_text(data, "holder_id_label", "holder_id_label", limit=20,
                              required=False,
                              default=DEFAULT_HOLDER_ID_LABEL[str(holder_kind)]),
        validity=ValidityRule.parse(data.get("validity")),
        validity_label=_text(data, "validity_label", "validity_label", limit=20,
                             required=False, default="有效期限"),
        number_prefix=prefix, fields=fields,
        issuers=tuple(i.strip().upper() for i in issuers),
        description=_text(data, "description", "description", limit=1000, required=False),
        valid_from_field=str(valid_from_field),
    )
