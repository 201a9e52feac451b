"""``POST /token`` as a plain WSGI application, in front of Flask.

Department back ends call the token endpoint for every API session, so its
cost per request is a product target. Measured under gunicorn, Flask's
request and response machinery (context push, proxies, hooks, header
objects) cost more than the ``client_credentials`` grant itself, so this
endpoint answers before Flask sees the request. It does explicitly what the
app does for every JSON endpoint: the same form rules (``idp.views.forms``),
the security headers, ``no-store``, one database session per request,
protocol errors as JSON and unexpected ones logged and answered
``server_error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from sqlalchemy.orm import Session

from idp import clients, exchange
from idp.errors import OAuthError
from idp.provider import Provider
from idp.views.common import refusal, settle
from idp.views.forms import read_form
from yiwang.database import utcnow
from yiwang.web import HSTS, SECURITY_HEADERS, SERVER_ERROR, served_over_https

log = logging.getLogger("idp")

PATH = "/token"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


class TokenEndpoint:
    """Answers ``/token``; every other path goes on to ``app``."""

    def __init__(self, provider: Provider, sessions: Callable[[], Session], app: WsgiApp) -> None:
        self.provider = provider
        self.sessions = sessions
        self.app = app
        self.audiences = (provider.issuer, provider.url("token_endpoint"))

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        status, extra, body = self.answer(environ)
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode() + b"\n"
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                   *_NO_STORE, *SECURITY_HEADERS, *extra.items()]
        if served_over_https(environ):
            headers.append(HSTS)
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    def answer(self, environ: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        session = self.sessions()
        try:
            return 200, {}, self.grant(session, environ)
        except OAuthError as error:
            settle(session, error)
            body, headers = refusal(error, self.provider.issuer, path=PATH,
                                    authorization=environ.get("HTTP_AUTHORIZATION"))
            return error.status, headers, body
        except Exception:  # any failure: logged in full, answered without internals
            log.exception("unhandled error on %s %s", environ.get("REQUEST_METHOD"), PATH)
            session.rollback()
            return 500, {}, SERVER_ERROR
        finally:
            session.close()

    def grant(self, session: Session, environ: dict[str, Any]) -> dict[str, Any]:
        form = read_form(environ)
        now = utcnow()
        credentials = clients.parse_credentials(environ.get("HTTP_AUTHORIZATION"), form)
        client = clients.authenticate(session, credentials, audiences=self.audiences, now=now,
                                      cache=self.provider.clients)
        if form.get("grant_type") in exchange.CONSUMING_GRANTS:
            # End the read transaction: consuming a code or refresh token starts
            # with its conditional UPDATE (see idp.grants and yiwang.database.begin_write).
            session.commit()
        body = exchange.token_response(session, self.provider, client, form, now)
        if session.in_transaction():  # client_credentials with held keys and client: no query
            session.commit()
        return body
