"""The token endpoint as plain WSGI: what a Flask view would have added, and body rules."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp import clients, exchange
from idp.errors import InvalidRequest, TemporarilyUnavailable
from idp.views.forms import MAX_BODY, MAX_FIELDS, read_form
from tests.idp.helpers import add_client
from yiwang.web import SERVER_ERROR

FORM = "application/x-www-form-urlencoded"


def back_end(app: Flask) -> tuple[str, str]:
    client_id, secret = add_client(app.extensions["yiwang"], redirect_uris=[],
                                   post_logout_redirect_uris=[],
                                   grant_types=["client_credentials"], scopes=["vault.read"])
    assert secret is not None
    return client_id, secret


def test_answers_carry_the_security_headers_of_every_response(client: FlaskClient) -> None:
    response = client.post("/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json == {"error": "invalid_client",
                             "error_description": "Client authentication is required."}
    headers = response.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["WWW-Authenticate"] == 'Basic realm="https://yiwang.test"'
    assert headers["Strict-Transport-Security"] == "max-age=31536000"  # served over https


def test_client_credentials_through_the_app(app: Flask, client: FlaskClient) -> None:
    client_id, secret = back_end(app)
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret))
    assert response.status_code == 200, response.text
    assert response.json["scope"] == "vault.read"
    assert response.headers["Content-Length"] == str(len(response.data))


def test_an_unexpected_failure_is_logged_and_answered_without_internals(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    client_id, secret = back_end(app)

    def broken(*_args: Any) -> dict[str, Any]:
        raise RuntimeError("internal detail /srv/secret")

    monkeypatch.setattr(exchange, "token_response", broken)
    with caplog.at_level(logging.ERROR, logger="idp"):
        response = client.post("/token", data={"grant_type": "client_credentials"},
                               auth=(client_id, secret))
    assert response.status_code == 500
    assert response.json == SERVER_ERROR
    assert "internal detail" not in response.text
    assert "internal detail" in caplog.text


def test_other_paths_go_on_to_the_app(client: FlaskClient) -> None:
    assert client.get("/.well-known/openid-configuration").status_code == 200
    assert client.get("/token/").status_code == 404


def test_client_ids_are_letters_and_digits() -> None:
    for _ in range(200):
        assert re.fullmatch(r"[A-Za-z0-9]{24}", clients.new_client_id())


# --- body rules ------------------------------------------------------------------------------


class Unreadable(io.BytesIO):
    def read(self, *_args: Any) -> bytes:
        raise AssertionError("the body must not be read")


def environ(body: bytes = b"", **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": FORM,
                              "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    values.update(extra)
    return values


def test_a_chunked_body_is_read_up_to_the_limit() -> None:
    chunked = environ(b"grant_type=client_credentials&scope=", CONTENT_LENGTH="",
                      **{"wsgi.input_terminated": True})
    assert read_form(chunked) == {"grant_type": "client_credentials", "scope": ""}
    too_long = environ(b"a=" + b"b" * MAX_BODY, CONTENT_LENGTH="",
                       **{"wsgi.input_terminated": True})
    with pytest.raises(InvalidRequest, match="too large"):
        read_form(too_long)


def test_a_body_without_length_or_end_is_empty() -> None:
    assert read_form(environ(CONTENT_LENGTH="", **{"wsgi.input": Unreadable()})) == {}


@pytest.mark.parametrize(("changes", "message"), [
    ({"CONTENT_LENGTH": str(MAX_BODY + 1), "wsgi.input": Unreadable()}, "too large"),
    ({"CONTENT_LENGTH": "12x"}, "Content-Length"),
    ({"CONTENT_TYPE": "application/json"}, FORM),
    ({"REQUEST_METHOD": "PUT"}, "Use POST"),
])
def test_malformed_requests_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        read_form(environ(b"grant_type=x", **changes))


@pytest.mark.parametrize(("body", "message"), [
    (b"grant_type=\xff", "UTF-8"),
    (b"grant_type=%FF", "UTF-8"),
    (b"&".join(b"p%d=1" % i for i in range(MAX_FIELDS + 1)), "too many"),
    (b"code=a&code=b", "more than once"),
    (b"code=" + b"c" * 4097, "too long"),
])
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        read_form(environ(body))


def test_a_charset_parameter_is_accepted() -> None:
    form = read_form(environ(b"grant_type=x", CONTENT_TYPE=FORM + "; charset=UTF-8"))
    assert form == {"grant_type": "x"}


def test_a_refusal_with_any_status_is_answered(app: Flask, client: FlaskClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    client_id, secret = back_end(app)

    def busy(*_args: Any) -> dict[str, Any]:
        raise TemporarilyUnavailable("Try again shortly.")

    monkeypatch.setattr(exchange, "token_response", busy)
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, secret))
    assert response.status == "503 Service Unavailable"
    assert response.json["error"] == "temporarily_unavailable"
