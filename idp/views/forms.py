"""The request bodies of the token, introspection and revocation endpoints.

Read straight from the WSGI environ, so the token endpoint (plain WSGI) and
the Flask views apply the same rules to the same bytes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from idp.errors import InvalidRequest

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Far above any honest request (a client assertion is a few KiB), far below harm.
MAX_BODY = 64 * 1024
MAX_FIELDS = 100
MAX_VALUE = 4096
MAX_NAME = 64


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_form(environ: dict[str, Any]) -> dict[str, str]:
    """RFC 6749 §3.2: a form-encoded POST body; every parameter at most once."""
    if environ.get("REQUEST_METHOD") != "POST":
        raise InvalidRequest("Use POST.")
    if media_type(environ.get("CONTENT_TYPE")) != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"The body must be {FORM_CONTENT_TYPE}.")
    try:
        text = _read_body(environ).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise InvalidRequest("The body is not valid UTF-8.") from None
    except ValueError:
        raise InvalidRequest("The body has too many parameters.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"{name[:40]} is included more than once.")
        if len(value) > MAX_VALUE or len(name) > MAX_NAME:
            raise InvalidRequest(f"{name[:40]} is too long.")
        form[name] = value
    return form


def _read_body(environ: dict[str, Any]) -> bytes:
    """At most MAX_BODY bytes, never more read into memory."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise InvalidRequest("Content-Length is malformed.") from None
        if length > MAX_BODY:
            raise InvalidRequest("The request body is too large.")
        body: bytes = stream.read(length) if length > 0 else b""
        return body
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and no end marker: WSGI says the body is empty
    body = stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise InvalidRequest("The request body is too large.")
    return body
