"""The token endpoint: client authentication and grants, refusals with exact codes."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select, update

from idp import grants
from idp.models import AuthorizationCode, Grant, RefreshToken
from keys import jws
from keys.material import SigningKey
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import REDIRECT_URI, Live, add_client, pkce_pair, redirect_params
from yiwang.database import utcnow


def get_code(live: Live, person: Account, rp: Registered, *,
             browser: Any = None) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    browser = browser or live.browser()
    page = browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile", "state": "s", "code_challenge": challenge,
        "code_challenge_method": "S256"}))
    if page.status_code == 200:
        page = browser.log_in(page, person.id_number)
    return redirect_params(page)["code"], verifier


def token(live: Live, data: dict[str, str], auth: tuple[str, str | None] | None = None,
          **kwargs: Any) -> requests.Response:
    return requests.post(live.url + "/token", data=data, auth=auth, timeout=5,  # type: ignore
                         **kwargs)


def code_request(code: str, verifier: str,
                 overrides: dict[str, str | None] | None = None) -> dict[str, str]:
    data: dict[str, str | None] = {"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    data.update(overrides or {})
    return {k: v for k, v in data.items() if v is not None}


def assert_error(response: requests.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.text


def counts(live: Live) -> tuple[int, int, int]:
    with live.session() as session:
        return (session.scalar(select(func.count()).select_from(RefreshToken)) or 0,
                session.scalar(select(func.count()).where(Grant.revoked_at.is_not(None))) or 0,
                session.scalar(select(func.count()).where(
                    AuthorizationCode.consumed_at.is_not(None))) or 0)


def secret_auth(rp: Registered) -> tuple[str, str | None]:
    return (rp.client_id, rp.client_secret)


# --- client authentication ------------------------------------------------------------------


@pytest.mark.parametrize("auth", [("unknown", "secret"), ("RP", "wrong-secret"), None])
def test_failed_client_authentication_is_401_invalid_client(
        live: Live, rp: Registered, auth: tuple[str, str] | None) -> None:
    if auth is not None and auth[0] == "RP":
        auth = (rp.client_id, auth[1])
    response = token(live, {"grant_type": "client_credentials"}, auth=auth)
    assert_error(response, "invalid_client", 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_basic_and_post_are_two_ways_of_sending_one_secret(live: Live) -> None:
    for registered in ("client_secret_basic", "client_secret_post"):
        client_id, secret = add_client(live.runtime, redirect_uris=[], auth_method=registered,
                                       grant_types=["client_credentials"], scopes=["vault.read"])
        assert secret is not None
        posted = token(live, {"grant_type": "client_credentials", "client_id": client_id,
                              "client_secret": secret})
        basic = token(live, {"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert posted.status_code == basic.status_code == 200, (registered, posted.text)


def test_two_authentication_methods_are_invalid_request(live: Live, rp: Registered) -> None:
    response = token(live, {"grant_type": "client_credentials",
                            "client_secret": rp.client_secret or ""}, auth=secret_auth(rp))
    assert_error(response, "invalid_request")


def test_disabled_client_cannot_authenticate(live: Live, rp: Registered) -> None:
    from idp.clients import disable_client

    with live.session() as session:
        disable_client(session, rp.client_id, now=utcnow())
    assert_error(token(live, {"grant_type": "refresh_token", "refresh_token": "x"},
                       auth=secret_auth(rp)), "invalid_client", 401)


# --- request format -------------------------------------------------------------------------


def test_wrong_content_type_is_invalid_request(live: Live, rp: Registered) -> None:
    response = requests.post(live.url + "/token", data=json.dumps({"grant_type": "x"}),
                             headers={"Content-Type": "application/json"},
                             auth=secret_auth(rp), timeout=5)  # type: ignore[arg-type]
    assert_error(response, "invalid_request")


def test_get_is_invalid_request(live: Live) -> None:
    assert_error(requests.get(live.url + "/token?grant_type=client_credentials", timeout=5),
                 "invalid_request")


def test_repeated_parameter_is_invalid_request(live: Live, rp: Registered) -> None:
    body = "grant_type=authorization_code&code=a&code=b"
    response = requests.post(live.url + "/token", data=body, auth=secret_auth(rp),  # type: ignore
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             timeout=5)
    assert_error(response, "invalid_request")


@pytest.mark.parametrize("size", [5000, 200_000])
def test_oversized_parameters_are_invalid_request(live: Live, rp: Registered, size: int) -> None:
    response = token(live, {"grant_type": "authorization_code", "code": "c" * size},
                     auth=secret_auth(rp))
    assert_error(response, "invalid_request")


@pytest.mark.parametrize(("grant_type", "error"), [
    (None, "invalid_request"), ("password", "unsupported_grant_type"),
    ("urn:ietf:params:oauth:grant-type:device_code", "unsupported_grant_type"),
    ("client_credentials", "unauthorized_client"),
])
def test_grant_type_must_be_supported_and_allowed(live: Live, rp: Registered,
                                                  grant_type: str | None, error: str) -> None:
    data = {"grant_type": grant_type} if grant_type else {}
    assert_error(token(live, data, auth=secret_auth(rp)), error)


# --- authorization code ---------------------------------------------------------------------


def test_wrong_verifier_is_invalid_grant_and_leaves_the_code_usable(
        live: Live, person: Account, rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    before = counts(live)
    wrong, _ = pkce_pair()
    assert_error(token(live, code_request(code, wrong), auth=secret_auth(rp)), "invalid_grant")
    assert counts(live) == before
    assert token(live, code_request(code, verifier), auth=secret_auth(rp)).status_code == 200


@pytest.mark.parametrize(("overrides", "error"), [
    ({"code_verifier": None}, "invalid_request"),
    ({"code_verifier": "short"}, "invalid_request"),
    ({"redirect_uri": None}, "invalid_request"),
    ({"redirect_uri": "http://127.0.0.1:9/other"}, "invalid_grant"),
    ({"code": "not-a-code"}, "invalid_grant"),
    ({"code": None}, "invalid_request"),
])
def test_code_request_errors_change_nothing(live: Live, person: Account, rp: Registered,
                                            overrides: dict[str, str | None],
                                            error: str) -> None:
    code, verifier = get_code(live, person, rp)
    before = counts(live)
    assert_error(token(live, code_request(code, verifier, overrides), auth=secret_auth(rp)),
                 error)
    assert counts(live) == before


def test_code_of_another_client_is_invalid_grant(live: Live, person: Account,
                                                 rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    other = Registered(*add_client(live.runtime))
    assert_error(token(live, code_request(code, verifier), auth=secret_auth(other)),
                 "invalid_grant")
    assert token(live, code_request(code, verifier), auth=secret_auth(rp)).status_code == 200


def test_expired_code_is_invalid_grant(live: Live, person: Account, rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    with live.session() as session:
        session.execute(update(AuthorizationCode).values(
            expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert_error(token(live, code_request(code, verifier), auth=secret_auth(rp)),
                 "invalid_grant")


def test_code_reuse_revokes_tokens(live: Live, person: Account, rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    first = token(live, code_request(code, verifier), auth=secret_auth(rp)).json()
    replay = token(live, code_request(code, verifier), auth=secret_auth(rp))
    assert_error(replay, "invalid_grant")
    userinfo = requests.get(live.url + "/userinfo", timeout=5,
                            headers={"Authorization": "Bearer " + first["access_token"]})
    assert userinfo.status_code == 401
    refresh = token(live, {"grant_type": "refresh_token",
                           "refresh_token": first["refresh_token"]}, auth=secret_auth(rp))
    assert_error(refresh, "invalid_grant")


def test_verifier_for_a_code_issued_without_challenge_is_refused(
        live: Live, person: Account, rp: Registered) -> None:
    now = utcnow()
    with live.session() as session:
        grant = grants.create_grant(session, grants.NewGrant(
            client_id=rp.client_id, person_id=person.person_id, session_sid=None,
            scope="openid", acting=None, auth_time=now, acr="L2", amr=["pwd"], nonce=None),
            now=now, lifetime=dt.timedelta(days=1))
        code = grants.issue_code(session, grant, redirect_uri=REDIRECT_URI, code_challenge=None,
                                 code_challenge_method=None, now=now,
                                 ttl=dt.timedelta(seconds=60))
    verifier, _ = pkce_pair()
    assert_error(token(live, code_request(code, verifier), auth=secret_auth(rp)),
                 "invalid_grant")


# --- refresh and client credentials ---------------------------------------------------------


def test_refresh_errors(live: Live, person: Account, rp: Registered) -> None:
    code, verifier = get_code(live, person, rp)
    issued = token(live, code_request(code, verifier), auth=secret_auth(rp)).json()
    refresh = issued["refresh_token"]
    assert_error(token(live, {"grant_type": "refresh_token"}, auth=secret_auth(rp)),
                 "invalid_request")
    assert_error(token(live, {"grant_type": "refresh_token", "refresh_token": "nope"},
                       auth=secret_auth(rp)), "invalid_grant")
    wider = {"grant_type": "refresh_token", "refresh_token": refresh,
             "scope": "openid profile id_number"}
    assert_error(token(live, wider, auth=secret_auth(rp)), "invalid_scope")
    other = Registered(*add_client(live.runtime))
    assert_error(token(live, {"grant_type": "refresh_token", "refresh_token": refresh},
                       auth=secret_auth(other)), "invalid_grant")
    # None of the refusals used the token up.
    narrower = token(live, {"grant_type": "refresh_token", "refresh_token": refresh,
                            "scope": "openid"}, auth=secret_auth(rp))
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid"


@pytest.mark.parametrize("scope", ["openid", "vault.admin", "vault.read openid"])
def test_client_credentials_scope_is_limited_to_the_clients(live: Live, scope: str) -> None:
    backend = Registered(*add_client(live.runtime, redirect_uris=[],
                                     grant_types=["client_credentials"],
                                     scopes=["vault.read"]))
    assert_error(token(live, {"grant_type": "client_credentials", "scope": scope},
                       auth=secret_auth(backend)), "invalid_scope")


def test_token_response_is_not_cacheable(live: Live) -> None:
    backend = Registered(*add_client(live.runtime, redirect_uris=[],
                                     grant_types=["client_credentials"], scopes=["vault.read"]))
    response = token(live, {"grant_type": "client_credentials"}, auth=secret_auth(backend))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


# --- private_key_jwt ------------------------------------------------------------------------


def _jwt_client(live: Live) -> tuple[str, SigningKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    key = SigningKey(kid="rp-key-1", algorithm="ES256", purpose="client", owner=None,
                     private_key=private, public_key=private.public_key())
    jwks = {"keys": [jws.public_jwk("rp-key-1", private.public_key(), "ES256")]}
    client_id, _ = add_client(live.runtime, redirect_uris=[], auth_method="private_key_jwt",
                              grant_types=["client_credentials"], scopes=["vault.read"],
                              jwks=jwks)
    return client_id, key


def _assertion(live: Live, client_id: str, key: SigningKey, **overrides: Any) -> str:
    now = int(utcnow().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": live.url + "/token",
              "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
    claims.update(overrides)
    return jws.sign(claims, key)


def _assertion_request(client_id: str, assertion: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}


def test_private_key_jwt_authenticates_once_per_assertion(live: Live) -> None:
    client_id, key = _jwt_client(live)
    assertion = _assertion(live, client_id, key)
    assert token(live, _assertion_request(client_id, assertion)).status_code == 200
    assert_error(token(live, _assertion_request(client_id, assertion)), "invalid_client", 401)


def test_private_key_jwt_may_leave_the_client_id_to_the_assertion(live: Live) -> None:
    # RFC 7523 §3: the assertion's sub names the client; client_id is optional.
    client_id, key = _jwt_client(live)
    request = _assertion_request(client_id, _assertion(live, client_id, key))
    del request["client_id"]
    assert token(live, request).status_code == 200
    other_id, _ = _jwt_client(live)
    # Names the other client, but is signed with the first client's key.
    forged = _assertion_request(other_id, _assertion(live, other_id, key))
    del forged["client_id"]
    assert_error(token(live, forged), "invalid_client", 401)


def test_authlib_private_key_jwt_with_its_defaults(live: Live) -> None:
    # Authlib signs RS256 for an hour and names no kid: fine for a client with one key.
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = {"keys": [jws.public_jwk("rp-rsa-1", private.public_key(), "RS256")]}
    client_id, _ = add_client(live.runtime, redirect_uris=[], auth_method="private_key_jwt",
                              grant_types=["client_credentials"], scopes=["vault.read"],
                              jwks=jwks)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    session = OAuth2Session(client_id, pem, token_endpoint_auth_method="private_key_jwt",
                            scope="vault.read")
    session.register_client_auth_method(PrivateKeyJWT(live.url + "/token"))
    issued = session.fetch_token(live.url + "/token", grant_type="client_credentials")
    assert issued["token_type"].lower() == "bearer" and issued["scope"] == "vault.read"


@pytest.mark.parametrize("overrides", [
    {"aud": "https://elsewhere.example/token"}, {"iss": "someone"}, {"exp": 1},
    {"exp": None}, {"jti": None}, {"exp": 1e300}, {"exp": float("nan")}, {"exp": 10**400},
    {"aud": {"a": 1}}, {"aud": [{"a": 1}]},
])
def test_bad_client_assertions_are_invalid_client(live: Live,
                                                  overrides: dict[str, Any]) -> None:
    client_id, key = _jwt_client(live)
    claims = {k: v for k, v in overrides.items() if v is not None}
    assertion = _assertion(live, client_id, key, **claims)
    if None in overrides.values():
        missing = [k for k, v in overrides.items() if v is None]
        assertion = _resign_without(assertion, key, missing)
    assert_error(token(live, _assertion_request(client_id, assertion)), "invalid_client", 401)


def _resign_without(assertion: str, key: SigningKey, names: list[str]) -> str:
    payload = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    for name in names:
        payload.pop(name, None)
    return jws.sign(payload, key)


def test_unsigned_client_assertion_is_invalid_client(live: Live) -> None:
    client_id, _key = _jwt_client(live)

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(utcnow().timestamp())
    unsigned = b64({"alg": "none", "kid": "rp-key-1"}) + "." + b64(
        {"iss": client_id, "sub": client_id, "aud": live.url + "/token", "exp": now + 60,
         "jti": "x"}) + "."
    assert_error(token(live, _assertion_request(client_id, unsigned)), "invalid_client", 401)


def test_key_based_client_cannot_fall_back_to_a_secret(live: Live) -> None:
    client_id, _ = _jwt_client(live)
    response = token(live, {"grant_type": "client_credentials"}, auth=(client_id, "guess"))
    assert_error(response, "invalid_client", 401)
