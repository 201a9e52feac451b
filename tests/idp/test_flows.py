"""Whole flows driven by a real OAuth/OIDC client (Authlib) against the served app."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError as OAuth2Error
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from tests.idp.conftest import Account, Registered
from tests.idp.helpers import (
    POST_LOGOUT_URI,
    REDIRECT_URI,
    Live,
    add_client,
    add_person,
    form_posting_to,
    id_number,
    live_server,
    redirect_params,
)
from yiwang.settings import Settings


def discover(live: Live) -> dict[str, Any]:
    response = requests.get(live.url + "/.well-known/openid-configuration", timeout=5)
    assert response.status_code == 200
    return response.json()


def oauth_session(rp: Registered, scope: str = "openid profile",
                  **kwargs: Any) -> OAuth2Session:
    return OAuth2Session(rp.client_id, rp.client_secret, scope=scope, redirect_uri=REDIRECT_URI,
                         code_challenge_method="S256", **kwargs)


def sign_in(live: Live, oauth: OAuth2Session, number: str, *, browser: Any = None,
            **params: str) -> tuple[dict[str, Any], str, str]:
    """Authorize through the HTML form; the token response, the nonce and the code_verifier."""
    config = discover(live)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = oauth.create_authorization_url(config["authorization_endpoint"],
                                                code_verifier=verifier, nonce=nonce, **params)
    browser = browser or live.browser()
    page = browser.get(url)
    if page.status_code == 200:  # the login form (absent when the SSO session answers)
        login = form_posting_to(page.text, page.url[len(live.url):])
        assert {"username", "password", "csrf_token"} <= set(login.fields)
        page = browser.log_in(page, number)
    answer = redirect_params(page)
    assert answer["state"] == state
    assert answer["iss"] == config["issuer"]
    location = page.headers["Location"]
    token = oauth.fetch_token(config["token_endpoint"], authorization_response=location,
                              code_verifier=verifier)
    return token, nonce, verifier


def validate_id_token(live: Live, id_token: str, *, client_id: str, nonce: str | None,
                      access_token: str) -> dict[str, Any]:
    config = discover(live)
    jwks = requests.get(config["jwks_uri"], timeout=5).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks),
                       algorithms=config["id_token_signing_alg_values_supported"])
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": config["issuer"]},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True}, "exp": {"essential": True}, "iat": {"essential": True},
        "auth_time": {"essential": True}, "sid": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    JWTClaimsRegistry(**options).validate(token.claims)
    alg = token.header["alg"]
    assert token.claims["at_hash"] == create_half_hash(access_token, alg).decode()
    return token.claims


def test_discovery_describes_exactly_what_is_supported(live: Live) -> None:
    config = discover(live)
    assert config["issuer"] == live.url
    assert config["response_types_supported"] == ["code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["authorization_response_iss_parameter_supported"] is True
    assert set(config["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials"}
    assert config["request_uri_parameter_supported"] is False
    assert set(config["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    jwks = requests.get(config["jwks_uri"], timeout=5).json()
    assert {key["alg"] for key in jwks["keys"]} == {"RS256", "ES256"}
    assert all("d" not in key for key in jwks["keys"])


def test_code_flow_with_pkce_through_the_login_form(live: Live, person: Account,
                                                    rp: Registered) -> None:
    oauth = oauth_session(rp)
    token, nonce, _ = sign_in(live, oauth, person.id_number)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid profile"
    claims = validate_id_token(live, token["id_token"], client_id=rp.client_id, nonce=nonce,
                               access_token=token["access_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "L2"
    assert person.id_number not in token["id_token"]

    info = oauth.get(discover(live)["userinfo_endpoint"])
    assert info.status_code == 200
    assert info.json() == {"sub": claims["sub"], "name": "王五"}


def test_access_token_is_an_rfc9068_jwt(live: Live, person: Account, rp: Registered) -> None:
    token, _, _ = sign_in(live, oauth_session(rp), person.id_number)
    jwks = requests.get(live.url + "/jwks.json", timeout=5).json()
    decoded = jwt.decode(token["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    for claim in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope", "auth_time"):
        assert claim in decoded.claims
    assert decoded.claims["client_id"] == rp.client_id
    assert decoded.claims["exp"] - decoded.claims["iat"] == 300


def test_userinfo_accepts_post_with_bearer_header(live: Live, person: Account,
                                                  rp: Registered) -> None:
    token, _, _ = sign_in(live, oauth_session(rp), person.id_number)
    response = requests.post(live.url + "/userinfo", timeout=5,
                             headers={"Authorization": "Bearer " + token["access_token"]})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_id_number_released_only_with_its_scope(live: Live, person: Account,
                                                rp: Registered) -> None:
    oauth = oauth_session(rp, scope="openid id_number")
    sign_in(live, oauth, person.id_number)
    info = oauth.get(live.url + "/userinfo").json()
    assert info["id_number"] == person.id_number
    assert "name" not in info


def test_refresh_rotates_and_reuse_revokes_the_family(settings: Settings) -> None:
    with live_server(settings, refresh_grace_seconds=0) as live:
        number = id_number(7)
        add_person(live.runtime, number)
        rp = Registered(*add_client(live.runtime))
        oauth = oauth_session(rp)
        token, _, _ = sign_in(live, oauth, number)
        first = token["refresh_token"]
        refreshed = oauth.refresh_token(live.url + "/token", refresh_token=first)
        assert refreshed["refresh_token"] != first
        validate_id_token(live, refreshed["id_token"], client_id=rp.client_id, nonce=None,
                          access_token=refreshed["access_token"])
        with pytest.raises(OAuth2Error) as refused:
            oauth.refresh_token(live.url + "/token", refresh_token=first)
        assert refused.value.error == "invalid_grant"
        # The whole family is revoked: the newest refresh token and its access token too.
        with pytest.raises(OAuth2Error) as family:
            oauth.refresh_token(live.url + "/token", refresh_token=refreshed["refresh_token"])
        assert family.value.error == "invalid_grant"
        answer = requests.get(live.url + "/userinfo", timeout=5,
                              headers={"Authorization": "Bearer " + refreshed["access_token"]})
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_refresh_retry_within_grace_keeps_one_live_branch(live: Live, person: Account,
                                                          rp: Registered) -> None:
    oauth = oauth_session(rp)
    token, _, _ = sign_in(live, oauth, person.id_number)
    first = token["refresh_token"]
    lost = oauth.refresh_token(live.url + "/token", refresh_token=first)
    retried = oauth.refresh_token(live.url + "/token", refresh_token=first)
    assert retried["refresh_token"] != lost["refresh_token"]
    # The response that was lost is superseded; only the retry's token lives on.
    with pytest.raises(OAuth2Error) as superseded:
        oauth.refresh_token(live.url + "/token", refresh_token=lost["refresh_token"])
    assert superseded.value.error == "invalid_grant"
    again = oauth.refresh_token(live.url + "/token", refresh_token=retried["refresh_token"])
    assert again["access_token"]


def test_introspection_and_revocation(live: Live, person: Account, rp: Registered) -> None:
    oauth = oauth_session(rp)
    token, _, _ = sign_in(live, oauth, person.id_number)
    endpoint = live.url + "/introspect"
    active = oauth.introspect_token(endpoint, token=token["access_token"]).json()
    assert active["active"] is True
    assert active["client_id"] == rp.client_id
    assert active["scope"] == "openid profile"
    refresh = oauth.introspect_token(endpoint, token=token["refresh_token"],
                                     token_type_hint="refresh_token").json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"

    revoked = oauth.revoke_token(live.url + "/revoke", token=token["access_token"],
                                 token_type_hint="access_token")
    assert revoked.status_code == 200
    assert oauth.introspect_token(endpoint, token=token["access_token"]).json() == {
        "active": False}
    # Revoking the refresh token revokes its whole grant.
    oauth.revoke_token(live.url + "/revoke", token=token["refresh_token"])
    assert oauth.introspect_token(endpoint, token=token["refresh_token"]).json() == {
        "active": False}


def test_client_credentials_for_a_department_back_end(live: Live) -> None:
    client_id, secret = add_client(live.runtime, redirect_uris=[], grant_types=[
        "client_credentials"], scopes=["vault.read", "vault.write"],
        post_logout_redirect_uris=[])
    oauth = OAuth2Session(client_id, secret, scope="vault.read")
    token = oauth.fetch_token(live.url + "/token", grant_type="client_credentials")
    assert token["scope"] == "vault.read"
    assert "refresh_token" not in token and "id_token" not in token
    answer = oauth.introspect_token(live.url + "/introspect", token=token["access_token"]).json()
    assert answer["active"] is True and answer["sub"] == client_id
    default = OAuth2Session(client_id, secret).fetch_token(live.url + "/token",
                                                           grant_type="client_credentials")
    assert default["scope"] == "vault.read vault.write"


def test_client_secret_post_and_public_clients(live: Live, person: Account) -> None:
    post = Registered(*add_client(live.runtime, auth_method="client_secret_post"))
    token, _, _ = sign_in(live, oauth_session(post, token_endpoint_auth_method=
                                              "client_secret_post"), person.id_number)
    assert token["access_token"]
    public = Registered(*add_client(live.runtime, public=True))
    assert public.client_secret is None
    token, _, _ = sign_in(live, oauth_session(public, token_endpoint_auth_method="none"),
                          person.id_number)
    assert token["access_token"]


def test_second_client_logs_in_without_a_password(live: Live, person: Account,
                                                  rp: Registered) -> None:
    browser = live.browser()
    sign_in(live, oauth_session(rp), person.id_number, browser=browser)
    other = Registered(*add_client(live.runtime, name="另一个应用"))
    token, nonce, _ = sign_in(live, oauth_session(other), "unused", browser=browser)
    first = browser.last
    assert first is not None and first.status_code == 303  # no form was shown
    claims = validate_id_token(live, token["id_token"], client_id=other.client_id, nonce=nonce,
                               access_token=token["access_token"])
    assert claims["sid"]


def test_logout_ends_the_session_and_revokes_its_tokens(live: Live, person: Account,
                                                        rp: Registered) -> None:
    browser = live.browser()
    oauth = oauth_session(rp)
    token, _, _ = sign_in(live, oauth, person.id_number, browser=browser)
    # The hint names this browser's session: no question asked (RP-Initiated Logout §2).
    done = browser.get("/logout?" + requests.compat.urlencode({
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": POST_LOGOUT_URI,
        "state": "bye-1"}))
    assert done.status_code == 303
    assert done.headers["Location"] == POST_LOGOUT_URI + "?state=bye-1"
    assert oauth.introspect_token(live.url + "/introspect", token=token["access_token"]).json() \
        == {"active": False}
    # The SSO session is gone: the next authorization shows the login form again.
    verifier = secrets.token_urlsafe(48)
    url, _ = oauth.create_authorization_url(live.url + "/authorize", code_verifier=verifier)
    assert browser.get(url).status_code == 200
    assert "username" in browser.last.text  # type: ignore[union-attr]


def test_consent_is_asked_once_for_third_party_clients(live: Live, person: Account) -> None:
    third = Registered(*add_client(live.runtime, first_party=False))
    oauth = oauth_session(third)
    browser = live.browser()
    verifier = secrets.token_urlsafe(48)
    url, _ = oauth.create_authorization_url(live.url + "/authorize", code_verifier=verifier)
    page = browser.log_in(browser.get(url), person.id_number)
    assert page.status_code == 200 and "授权确认" in page.text
    answer = redirect_params(browser.submit(page, "/consent", decision="allow"))
    assert "code" in answer
    # Remembered: the next authorization goes straight back with a code.
    url, _ = oauth.create_authorization_url(live.url + "/authorize", code_verifier=verifier)
    assert "code" in redirect_params(browser.get(url))


def test_consent_refused_is_access_denied(live: Live, person: Account) -> None:
    third = Registered(*add_client(live.runtime, first_party=False))
    oauth = oauth_session(third)
    browser = live.browser()
    url, state = oauth.create_authorization_url(live.url + "/authorize",
                                                code_verifier=secrets.token_urlsafe(48))
    page = browser.log_in(browser.get(url), person.id_number)
    answer = redirect_params(browser.submit(page, "/consent", decision="deny"))
    assert answer["error"] == "access_denied"
    assert answer["state"] == state and answer["iss"] == live.url
