"""What no request may cause: stacks in answers, ID numbers in logs, insecure cookies."""

from __future__ import annotations

import datetime as dt
import logging
import re
from urllib.parse import urlencode

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from idp import grants, sessions
from idp.models import AuthorizationCode, Grant, Interaction, RefreshToken
from tests.helpers import ISSUER
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import (
    PASSWORD,
    REDIRECT_URI,
    Live,
    add_client,
    add_person,
    id_number,
    pkce_pair,
)
from tests.idp.test_token import code_request, get_code, secret_auth, token
from yiwang.database import utcnow


def test_unexpected_failure_is_server_error_without_internals(live: Live, person: Account,
                                                              rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    with live.session() as session:
        session.execute(text("DROP TABLE idp_refresh_tokens"))
    response = token(live, code_request(code, verifier), auth=secret_auth(rp))
    assert response.status_code == 500
    assert response.json() == {"error": "server_error",
                               "error_description": "The server could not complete the request."}
    assert "idp_refresh_tokens" not in response.text and "Traceback" not in response.text


def test_id_numbers_never_reach_the_idp_log(live: Live, person: Account, rp: Registered,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp")
    browser = live.browser()
    _, challenge = pkce_pair()
    query = urlencode({"response_type": "code", "client_id": rp.client_id,
                       "redirect_uri": REDIRECT_URI, "scope": "openid",
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    browser.log_in(browser.get("/authorize?" + query), person.id_number, "wrong password")
    browser.log_in(browser.get("/authorize?" + query), person.id_number)
    idp_records = [r.getMessage() for r in caplog.records if r.name == "idp"]
    assert idp_records, "log-ins are logged"
    assert all(person.id_number not in message for message in idp_records)
    assert any(re.search(r"\d{3}\*{14}[\dX]", message) for message in idp_records)


def test_https_issuer_gives_secure_cookies(client: FlaskClient, app: object) -> None:
    runtime = app.extensions["yiwang"]  # type: ignore[attr-defined]
    number = id_number(3)
    add_person(runtime, number)
    rp = Registered(*add_client(runtime, redirect_uris=["https://rp.example/cb"]))
    _, challenge = pkce_pair()
    # Absolute URLs: the cookies then belong to the issuer's host.
    first = client.get(ISSUER + "/authorize?" + urlencode({
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": "https://rp.example/cb",
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert first.status_code == 303
    interaction = [c for c in first.headers.getlist("Set-Cookie")
                   if c.startswith("yiwang_interaction=")]
    assert interaction and "Secure" in interaction[0] and "HttpOnly" in interaction[0]
    page = client.get(first.headers["Location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None, (page.status_code, page.text[:2000])
    done = client.post(first.headers["Location"], data={
        "csrf_token": csrf.group(1), "username": number, "password": PASSWORD})
    assert done.status_code == 303 and done.headers["Location"].startswith("https://rp.example/cb?")
    cookie = next(c for c in done.headers.getlist("Set-Cookie") if c.startswith("yiwang_sso="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Strict-Transport-Security" in done.headers


def test_purge_removes_only_what_can_no_longer_be_used(live: Live, person: Account,
                                                       rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    issued = token(live, code_request(code, verifier), auth=secret_auth(rp)).json()
    # An abandoned log-in and an old, expired grant.
    live.browser().get("/authorize?" + urlencode({
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid", "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}))
    now = utcnow()
    with live.session() as session:
        old = grants.create_grant(session, grants.NewGrant(
            client_id=rp.client_id, person_id=person.person_id, session_sid=None, scope="openid",
            acting=None, auth_time=now, acr="L2", amr=["pwd"], nonce=None),
            now=now - dt.timedelta(days=40), lifetime=dt.timedelta(days=30))
        grants.issue_refresh_token(session, old, parent_hash=None, now=now)
    with live.session() as session:
        sessions.purge_expired(session, now=now + dt.timedelta(minutes=30))
    with live.session() as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 0
        assert session.get(Grant, old.id) is None
        assert session.scalar(select(func.count()).select_from(RefreshToken)) == 1
        assert session.scalar(select(func.count()).select_from(AuthorizationCode)) == 1
    answer = requests.get(live.url + "/userinfo", timeout=5,
                          headers={"Authorization": "Bearer " + issued["access_token"]})
    assert answer.status_code == 200


def test_id_number_login_hint_is_not_stored_in_clear(live: Live, person: Account,
                                                     rp: Registered) -> None:
    _, challenge = pkce_pair()
    page = live.browser().get("/authorize?" + urlencode({
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256",
        "login_hint": person.id_number}))
    assert page.status_code == 200
    assert person.id_number not in page.text
    with live.session() as session:
        stored = session.execute(text("SELECT request FROM idp_interactions")).scalar_one()
    assert person.id_number not in str(stored)
