"""The authorization endpoint: every malformed request gets its precise error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from idp.models import AuthorizationCode, Grant, Interaction
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import (
    REDIRECT_URI,
    Live,
    add_client,
    add_person,
    id_number,
    pkce_pair,
    redirect_params,
)


def params(rp: Registered, **overrides: Any) -> dict[str, Any]:
    _, challenge = pkce_pair()
    values: dict[str, Any] = {
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile", "state": "s-123", "nonce": "n-456",
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def authorize(live: Live, query: dict[str, Any] | list[tuple[str, str]]) -> requests.Response:
    return requests.get(live.url + "/authorize?" + urlencode(query), allow_redirects=False,
                        timeout=5)


def rows(live: Live) -> tuple[int, int, int]:
    with live.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))  # type: ignore
                     for model in (Interaction, Grant, AuthorizationCode))


def assert_page_error(response: requests.Response, error: str) -> None:
    """Shown to the person, never redirected (RFC 6749 §4.1.2.1)."""
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert f"<code>{error}</code>" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.text


def assert_redirect_error(live: Live, response: requests.Response, error: str,
                          state: str | None = "s-123") -> None:
    answer = redirect_params(response)
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert answer["error"] == error
    assert answer["iss"] == live.url
    assert answer.get("state") == state


def test_unknown_client_is_shown_not_redirected(live: Live, rp: Registered) -> None:
    assert_page_error(authorize(live, params(rp, client_id="nobody")), "invalid_client")


def test_missing_client_id_is_shown(live: Live, rp: Registered) -> None:
    assert_page_error(authorize(live, params(rp, client_id=None)), "invalid_request")


def test_disabled_client_is_shown(live: Live, rp: Registered) -> None:
    from idp.clients import disable_client
    from yiwang.database import utcnow

    with live.session() as session:
        disable_client(session, rp.client_id, now=utcnow())
    assert_page_error(authorize(live, params(rp)), "invalid_client")


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1:9/callback/other", "http://127.0.0.1:10/callback",
    "https://evil.example/callback", "http://127.0.0.1:9/callback?x=1",
    "http://127.0.0.1:9/CALLBACK", None, "x" * 3000,
])
def test_redirect_uri_must_match_exactly(live: Live, rp: Registered,
                                         redirect_uri: str | None) -> None:
    assert_page_error(authorize(live, params(rp, redirect_uri=redirect_uri)), "invalid_request")


def test_repeated_redirect_uri_is_shown(live: Live, rp: Registered) -> None:
    query = [*list(params(rp).items()), ("redirect_uri", REDIRECT_URI)]
    assert_page_error(authorize(live, query), "invalid_request")


def test_loopback_port_is_free_for_native_clients_only(live: Live) -> None:
    native = Registered(*add_client(live.runtime, public=True,
                                    redirect_uris=["http://127.0.0.1/native-cb"]))
    response = authorize(live, params(native, redirect_uri="http://127.0.0.1:53124/native-cb"))
    assert response.status_code == 303
    assert response.headers["Location"].startswith(live.url + "/login/")
    # Not redirected, not even with an error: the browser would go to attacker.example.
    assert_page_error(authorize(live, params(
        native, redirect_uri="http://127.0.0.1:1@attacker.example/native-cb")), "invalid_request")
    web = Registered(*add_client(live.runtime, redirect_uris=["http://127.0.0.1/web-cb"]))
    assert_page_error(authorize(live, params(web, redirect_uri="http://127.0.0.1:53124/web-cb")),
                      "invalid_request")


@pytest.mark.parametrize(("overrides", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"scope": None}, "invalid_scope"),
    ({"scope": "openid email"}, "invalid_scope"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "select_account"}, "invalid_request"),
    ({"max_age": "soon"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"nonce": "n" * 600}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://rp.example/request.jwt"}, "request_uri_not_supported"),
    ({"registration": "{}"}, "registration_not_supported"),
])
def test_malformed_requests_are_redirected_with_their_error(
        live: Live, rp: Registered, overrides: dict[str, Any], error: str) -> None:
    before = rows(live)
    assert_redirect_error(live, authorize(live, params(rp, **overrides)), error)
    assert rows(live) == before


def test_repeated_parameter_is_invalid_request(live: Live, rp: Registered) -> None:
    query = [*list(params(rp).items()), ("scope", "openid")]
    assert_redirect_error(live, authorize(live, query), "invalid_request")


def test_oversized_state_is_refused_and_not_echoed(live: Live, rp: Registered) -> None:
    response = authorize(live, params(rp, state="s" * 3000))
    assert_redirect_error(live, response, "invalid_request", state=None)


def test_client_without_code_grant_is_unauthorized(live: Live) -> None:
    backend = Registered(*add_client(live.runtime, grant_types=["client_credentials"],
                                     scopes=["openid", "vault.read"]))
    assert_redirect_error(live, authorize(live, params(backend)), "unauthorized_client")


def test_prompt_none_without_session_is_login_required(live: Live, rp: Registered) -> None:
    before = rows(live)
    assert_redirect_error(live, authorize(live, params(rp, prompt="none")), "login_required")
    assert rows(live) == before


def test_post_to_authorize_is_accepted_without_csrf(live: Live, rp: Registered) -> None:
    response = requests.post(live.url + "/authorize", data=params(rp), allow_redirects=False,
                             timeout=5)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(live.url + "/login/")


def _logged_in(live: Live, person: Account, rp: Registered) -> Any:
    browser = live.browser()
    page = browser.get("/authorize?" + urlencode(params(rp)))
    assert "code" in redirect_params(browser.log_in(page, person.id_number))
    return browser


def test_prompt_none_with_session_returns_a_code(live: Live, person: Account,
                                                 rp: Registered) -> None:
    browser = _logged_in(live, person, rp)
    answer = redirect_params(browser.get("/authorize?" + urlencode(params(rp, prompt="none"))))
    assert "code" in answer and answer["iss"] == live.url


def test_prompt_none_without_consent_is_consent_required(live: Live, person: Account,
                                                         rp: Registered) -> None:
    browser = _logged_in(live, person, rp)
    third = Registered(*add_client(live.runtime, first_party=False))
    response = browser.get("/authorize?" + urlencode(params(third, prompt="none")))
    assert redirect_params(response)["error"] == "consent_required"


@pytest.mark.parametrize("overrides", [{"prompt": "login"}, {"max_age": "0"},
                                       {"login_hint": "someone-else"}])
def test_reauthentication_is_asked_for(live: Live, person: Account, rp: Registered,
                                       overrides: dict[str, str]) -> None:
    browser = _logged_in(live, person, rp)
    import time

    time.sleep(1.01 if "max_age" in overrides else 0)
    page = browser.get("/authorize?" + urlencode(params(rp, **overrides)))
    assert page.status_code == 200 and 'name="password"' in page.text
    answer = redirect_params(browser.log_in(page, person.id_number))
    assert "code" in answer


def test_login_hint_naming_the_person_keeps_the_session(live: Live, person: Account,
                                                        rp: Registered) -> None:
    browser = _logged_in(live, person, rp)
    response = browser.get("/authorize?" + urlencode(params(rp, login_hint=person.id_number)))
    assert "code" in redirect_params(response)
    none = browser.get("/authorize?" + urlencode(params(rp, prompt="none",
                                                        login_hint="someone-else")))
    assert redirect_params(none)["error"] == "login_required"


def _id_token(live: Live, person: Account, rp: Registered, browser: Any) -> str:
    from tests.idp.test_token import code_request, get_code, secret_auth, token

    code, verifier = get_code(live, person, rp, browser=browser)
    return str(token(live, code_request(code, verifier), auth=secret_auth(rp)).json()["id_token"])


def test_id_token_hint_names_who_must_be_logged_in(live: Live, person: Account,
                                                   rp: Registered) -> None:
    # OIDC Core §3.1.2.1: another person's session is no positive answer.
    browser = live.browser()
    own_hint = _id_token(live, person, rp, browser)
    same = browser.get("/authorize?" + urlencode(params(rp, prompt="none",
                                                        id_token_hint=own_hint)))
    assert "code" in redirect_params(same)
    other = Account(id_number(2), add_person(live.runtime, id_number(2), name="赵六"))
    other_hint = _id_token(live, other, rp, live.browser())
    refused = browser.get("/authorize?" + urlencode(params(rp, prompt="none",
                                                           id_token_hint=other_hint)))
    assert redirect_params(refused)["error"] == "login_required"
    page = browser.get("/authorize?" + urlencode(params(rp, id_token_hint=other_hint)))
    assert page.status_code == 200 and 'name="password"' in page.text


def test_id_token_hint_must_be_ours_and_for_this_client(live: Live, person: Account,
                                                        rp: Registered) -> None:
    browser = live.browser()
    hint = _id_token(live, person, rp, browser)
    another = Registered(*add_client(live.runtime))
    for client, value in ((another, hint), (rp, hint[:-4] + "AAAA"), (rp, "not-a-token")):
        answer = redirect_params(browser.get("/authorize?" + urlencode(
            params(client, prompt="none", id_token_hint=value))))
        assert answer["error"] == "invalid_request" and answer["state"] == "s-123"
    both = browser.get("/authorize?" + urlencode(params(rp, id_token_hint=hint,
                                                        login_hint=person.id_number)))
    assert redirect_params(both)["error"] == "invalid_request"


def test_existing_redirect_query_is_kept(live: Live) -> None:
    rp = Registered(*add_client(live.runtime,
                                redirect_uris=["http://127.0.0.1:9/callback?tenant=7"]))
    response = authorize(live, params(rp, redirect_uri="http://127.0.0.1:9/callback?tenant=7",
                                      response_type="token"))
    assert response.headers["Location"].startswith("http://127.0.0.1:9/callback?tenant=7&")
