"""Helpers for the identity provider tests: accounts, a browser, the live server."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from idp import accounts, clients
from idp.identifiers import ric
from tests.helpers import with_settings
from yiwang.app import create_app
from yiwang.database import utcnow
from yiwang.runtime import Runtime
from yiwang.settings import Settings

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:9/callback"
POST_LOGOUT_URI = "http://127.0.0.1:9/bye"


def id_number(sequence: int, birth: str = "19800101", region: str = "110105") -> str:
    """A valid resident ID number (check digit computed), distinct per sequence."""
    body = f"{region}{birth}{sequence:03d}"
    return body + ric.calc_check_digit(body)


def add_person(runtime: Runtime, number: str, *, name: str = "李四", level: str = "L2",
               password: str = PASSWORD) -> int:
    with runtime.session() as session:
        person = accounts.create_person(session, runtime.keystore, id_number=number,
                                        name=name, password=password, level=level,
                                        now=utcnow())
        return person.id


def add_client(runtime: Runtime, **overrides: Any) -> tuple[str, str | None]:
    spec: dict[str, Any] = {
        "name": "测试应用", "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [POST_LOGOUT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "id_number", "entity"], "first_party": True,
    }
    spec.update(overrides)
    with runtime.session() as session:
        client, secret = clients.register_client(session, clients.ClientSpec(**spec),
                                                 now=utcnow())
        return client.client_id, secret


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


# --- HTML --------------------------------------------------------------------------------


@dataclasses.dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    buttons: list[tuple[str, str]]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower(), {}, []))
        elif self.forms and tag == "input":
            kind = a.get("type", "text")
            if kind == "radio" and "checked" not in a:
                return
            if "name" in a:
                self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and "name" in a:
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_posting_to(html: str, suffix: str) -> Form:
    for form in forms(html):
        if form.action.endswith(suffix):
            return form
    raise AssertionError(f"no form posting to *{suffix} in page")


# --- a browser ---------------------------------------------------------------------------


class Browser:
    """requests.Session that follows redirects only while they stay on the provider."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self.last: requests.Response | None = None

    def _follow(self, response: requests.Response) -> requests.Response:
        while response.status_code in (301, 302, 303, 307, 308):
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.base + "/"):
                break
            response = self.http.get(location, allow_redirects=False)
        self.last = response
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._follow(self.http.get(urljoin(self.base + "/", url), allow_redirects=False,
                                          **kwargs))

    def post(self, url: str, data: dict[str, str]) -> requests.Response:
        return self._follow(self.http.post(urljoin(self.base + "/", url), data=data,
                                           allow_redirects=False))

    def submit(self, page: requests.Response, suffix: str, **values: str) -> requests.Response:
        form = form_posting_to(page.text, suffix)
        data = dict(form.fields)
        data.update(values)
        return self.post(form.action, data)

    def log_in(self, page: requests.Response, number: str,
               password: str = PASSWORD) -> requests.Response:
        return self.submit(page, page.url[len(self.base):], username=number, password=password)


def redirect_params(response: requests.Response) -> dict[str, str]:
    """The query of a redirect that left the provider (to the client)."""
    assert response.status_code == 303, (response.status_code, response.text[:500])
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# --- live server -------------------------------------------------------------------------


@dataclasses.dataclass
class Live:
    url: str
    app: Flask
    runtime: Runtime

    def session(self) -> Any:
        return self.runtime.session()

    def browser(self) -> Browser:
        return Browser(self.url)


def _placeholder(environ: Any, start_response: Any) -> Sequence[bytes]:
    start_response("503 Service Unavailable", [])
    return [b""]


@contextmanager
def live_server(settings: Settings, **changes: Any) -> Iterator[Live]:
    """The real app on a loopback port, issuer ``http://127.0.0.1:<port>``."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _placeholder, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(with_settings(settings, issuer=url, **changes))
    server.app = app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Live(url, app, app.extensions["yiwang"])
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        app.extensions["yiwang"].dispose()


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def one(session: Session, statement: Any) -> Any:
    return session.scalar(statement)
