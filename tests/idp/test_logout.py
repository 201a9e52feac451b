"""RP-initiated logout: exact post-logout URIs, confirmation, tolerance of old hints."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import requests

from idp.tokens import PURPOSE
from keys import jws
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import POST_LOGOUT_URI, Live, add_client
from tests.idp.test_token import code_request, get_code, secret_auth, token


def sign_in(live: Live, person: Account, rp: Registered) -> tuple[Any, dict[str, Any]]:
    browser = live.browser()
    code, verifier = get_code(live, person, rp, browser=browser)
    return browser, token(live, code_request(code, verifier), auth=secret_auth(rp)).json()


def logout(live: Live, **params: str) -> requests.Response:
    return requests.get(live.url + "/logout?" + urlencode(params), allow_redirects=False,
                        timeout=5)


def assert_page_error(response: requests.Response) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "<code>invalid_request</code>" in response.text


def test_unregistered_post_logout_uri_is_shown_not_followed(live: Live, person: Account,
                                                            rp: Registered) -> None:
    _, issued = sign_in(live, person, rp)
    assert_page_error(logout(live, id_token_hint=issued["id_token"],
                             post_logout_redirect_uri="https://evil.example/"))


def test_post_logout_uri_needs_an_identified_client(live: Live) -> None:
    assert_page_error(logout(live, post_logout_redirect_uri=POST_LOGOUT_URI))


def test_tampered_id_token_hint_is_refused(live: Live, person: Account,
                                           rp: Registered) -> None:
    _, issued = sign_in(live, person, rp)
    header, payload, signature = issued["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["aud"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_page_error(logout(live, id_token_hint=f"{header}.{forged}.{signature}",
                             post_logout_redirect_uri=POST_LOGOUT_URI))


def test_id_token_hint_with_an_absurd_iat_is_refused(live: Live) -> None:
    def segment(value: str) -> str:
        return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()

    # An integer too large for a float: refused as a bad hint, not a server error.
    hint = segment('{"alg": "RS256"}') + "." + segment('{"iat": 1' + "0" * 400 + "}") + ".x"
    assert_page_error(logout(live, id_token_hint=hint))


def test_client_id_must_match_the_hint(live: Live, person: Account, rp: Registered) -> None:
    _, issued = sign_in(live, person, rp)
    other, _ = add_client(live.runtime)
    assert_page_error(logout(live, id_token_hint=issued["id_token"], client_id=other))


def test_expired_id_token_hint_is_still_accepted(live: Live, person: Account,
                                                 rp: Registered) -> None:
    _, issued = sign_in(live, person, rp)
    claims = json.loads(base64.urlsafe_b64decode(issued["id_token"].split(".")[1] + "=="))
    claims["iat"] -= 3600
    claims["exp"] = claims["iat"] + 600
    with live.session() as session:
        key = live.runtime.keystore.active_key(session, PURPOSE, None, "RS256")
    old = jws.sign(claims, key)
    response = logout(live, id_token_hint=old, post_logout_redirect_uri=POST_LOGOUT_URI,
                      state="z")
    # Nobody is logged in in this browser-less request: straight back to the client.
    assert response.status_code == 303
    assert response.headers["Location"] == POST_LOGOUT_URI + "?state=z"


def test_logout_without_hint_is_confirmed_with_csrf(live: Live, person: Account,
                                                   rp: Registered) -> None:
    browser, issued = sign_in(live, person, rp)
    page = browser.get("/logout?" + urlencode({"client_id": rp.client_id}))
    assert page.status_code == 200 and "退出登录" in page.text
    refused = browser.post("/logout/confirm", {"client_id": rp.client_id})
    assert refused.status_code == 400
    done = browser.submit(page, "/logout/confirm")
    assert done.status_code == 200 and "您已退出登录" in done.text
    userinfo = requests.get(live.url + "/userinfo", timeout=5,
                            headers={"Authorization": "Bearer " + issued["access_token"]})
    assert userinfo.status_code == 401


def test_logout_accepts_post(live: Live, person: Account, rp: Registered) -> None:
    browser, issued = sign_in(live, person, rp)
    done = browser.post("/logout", {"id_token_hint": issued["id_token"],
                                    "post_logout_redirect_uri": POST_LOGOUT_URI})
    assert done.status_code == 303 and done.headers["Location"] == POST_LOGOUT_URI


def test_hint_of_another_session_asks_first(live: Live, person: Account,
                                            rp: Registered) -> None:
    _, elsewhere = sign_in(live, person, rp)
    browser, issued = sign_in(live, person, rp)
    page = browser.get("/logout?" + urlencode({"id_token_hint": elsewhere["id_token"],
                                                "post_logout_redirect_uri": POST_LOGOUT_URI}))
    assert page.status_code == 200 and "退出登录" in page.text
    done = browser.submit(page, "/logout/confirm")
    assert done.headers["Location"] == POST_LOGOUT_URI
    userinfo = requests.get(live.url + "/userinfo", timeout=5,
                            headers={"Authorization": "Bearer " + issued["access_token"]})
    assert userinfo.status_code == 401
