"""JSON request bodies, read strictly: one reader for every API that takes JSON.

``json.loads`` lets through what a JSON API must not take: duplicate member
names (it keeps the last, so a proxy or a log reading the first would see
another request), NaN and Infinity, numbers of any length, lone surrogates,
and nesting until a ``RecursionError``. :func:`json_body` refuses each with a
precise 400 ``invalid_request``, never a 500.
"""

from __future__ import annotations

import json
import math
import re
from types import MappingProxyType
from typing import Any, NoReturn

from flask import abort, request

from yiwang.web import json_error, request_body

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_NUMBER_LENGTH", "JsonBodyError", "json_body",
           "parse_json"]

MAX_JSON_DEPTH = 32  # arrays and objects; the deepest body an API takes nests four levels
MAX_JSON_NUMBER_LENGTH = 40  # characters of one number literal; no API needs more

# A \u escape of a surrogate; only then can a parsed string hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonBodyError(ValueError):
    """A request body that is not strict JSON; the message says precisely why."""


def json_body() -> Any:
    """The request's JSON body read by :func:`parse_json`, else a 400 ``invalid_request``.

    Every API that takes JSON reads it here, so no body, however malformed,
    costs a 500 or a traceback in the log, and all of them refuse the same
    things with the same words.
    """
    if not request.is_json:
        _refuse_body("the request body must be JSON (Content-Type: application/json)")
    try:
        return parse_json(request_body())
    except JsonBodyError as exc:
        _refuse_body(str(exc))


def _refuse_body(description: str) -> NoReturn:
    abort(json_error("invalid_request", description, 400))


def parse_json(data: bytes) -> Any:
    r"""``data`` as JSON (RFC 8259), refusing what ``json.loads`` would let through.

    * text other than UTF-8 (RFC 8259 §8.1; a leading byte order mark is ignored,
      as §8.1 allows);
    * arrays and objects nested more than :data:`MAX_JSON_DEPTH` deep (the
      parser's own limit is its recursion limit, and a ``RecursionError`` is
      no answer);
    * a member name twice in one object, at any depth: ``json.loads`` keeps the
      last, so a proxy or a log reading the first would see another request;
    * ``NaN`` and ``Infinity`` (not JSON), numbers longer than
      :data:`MAX_JSON_NUMBER_LENGTH` characters or beyond the float range;
    * escapes of lone surrogates (``"\ud800"``): not Unicode text, and
      PostgreSQL cannot store them.

    >>> parse_json(b'{"a": [1, 2.5, "x]"], "b": {"c": null}}')
    {'a': [1, 2.5, 'x]'], 'b': {'c': None}}
    >>> parse_json(b'{"a": {"b": 1, "b": 2}}')
    Traceback (most recent call last):
        ...
    yiwang.json_bodies.JsonBodyError: the JSON repeats the member "b" in one object
    >>> parse_json(b'[' * 33 + b']' * 33)
    Traceback (most recent call last):
        ...
    yiwang.json_bodies.JsonBodyError: the JSON nests arrays and objects more than
        32 levels deep
    >>> parse_json(b'{"a": 1' + b'0' * 40 + b'}')
    Traceback (most recent call last):
        ...
    yiwang.json_bodies.JsonBodyError: the JSON has a number of 41 characters; at most 40 are
        allowed
    >>> parse_json(b'{"a": "\\ud800"}')
    Traceback (most recent call last):
        ...
    yiwang.json_bodies.JsonBodyError: the JSON has a string with the lone surrogate \ud800
        (escapes of surrogates must come in pairs)
    >>> parse_json('{"a": "审计"}'.encode("utf-16"))
    Traceback (most recent call last):
        ...
    yiwang.json_bodies.JsonBodyError: the JSON is not UTF-8: byte 0xff at offset 0 cannot
        start a character
    """
    text = _utf8(data)
    if not text.strip():
        raise JsonBodyError("the JSON is empty")
    try:
        value = json.loads(text, object_pairs_hook=_object_once, parse_int=_integer,
                           parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise JsonBodyError(f"the text is not JSON: {exc.msg} at line {exc.lineno}, "
                            f"column {exc.colno}") from None
    except RecursionError:  # the parser's own guard, hundreds of levels down
        raise _too_deep() from None
    # Only a body with enough brackets can nest too deep, and only one with a
    # surrogate escape can hold a lone surrogate: the usual body is not walked.
    strings = _SURROGATE_ESCAPE.search(text) is not None
    if strings or text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        _walk(value, strings=strings)
    return value


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JsonBodyError(f"the JSON is not UTF-8: byte 0x{data[exc.start]:02x} at "
                            f"offset {exc.start} {_UTF8_PROBLEMS.get(exc.reason, exc.reason)}"
                            ) from None


# The UTF-8 codec's reasons, in words a client can act on.
_UTF8_PROBLEMS = MappingProxyType({
    "invalid start byte": "cannot start a character",
    "invalid continuation byte": "does not continue the character before it",
    "unexpected end of data": "ends inside a character",
})


def _too_deep() -> JsonBodyError:
    return JsonBodyError(f"the JSON nests arrays and objects more than "
                         f"{MAX_JSON_DEPTH} levels deep")


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise JsonBodyError(f"the JSON repeats the member {_shown(name)} in one "
                                "object")
        result[name] = value
    return result


def _shown(name: str) -> str:
    return json.dumps(name[:40])  # escaped: a name may hold anything


def _integer(literal: str) -> int:
    _check_number_length(literal)
    return int(literal)


def _float(literal: str) -> float:
    _check_number_length(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise JsonBodyError(f"the JSON has the number {literal}, beyond the range of "
                            "a double")
    return value


def _check_number_length(literal: str) -> None:
    if len(literal) > MAX_JSON_NUMBER_LENGTH:
        raise JsonBodyError(f"the JSON has a number of {len(literal)} characters; at "
                            f"most {MAX_JSON_NUMBER_LENGTH} are allowed")


def _constant(name: str) -> NoReturn:
    raise JsonBodyError(f"the JSON has {name}, which is not a JSON number")


def _walk(value: Any, *, strings: bool) -> None:
    """Refuse nesting beyond MAX_JSON_DEPTH and, with ``strings``, strings and member names
    holding a lone surrogate.

    Level by level rather than recursively (the parser allows hundreds of
    levels), and with list operations rather than a Python step per item
    where possible: a 20 MB body of small arrays must not cost more than
    parsing it did.
    """
    level = [value]
    for depth in range(MAX_JSON_DEPTH + 1):
        if strings:
            for item in level:
                if isinstance(item, str):
                    _refuse_lone_surrogate(item)
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return
        if depth == MAX_JSON_DEPTH:
            raise _too_deep()
        level = []
        for container in containers:
            if isinstance(container, dict):
                level.extend(container)  # the member names
                level.extend(container.values())
            else:
                level.extend(container)


def _refuse_lone_surrogate(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonBodyError(f"the JSON has a string with the lone surrogate "
                            f"\\u{ord(text[exc.start]):04x} (escapes of surrogates must "
                            "come in pairs)") from None
