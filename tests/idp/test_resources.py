"""Userinfo, introspection and revocation: which tokens count, and the exact refusals."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from idp.tokens import PURPOSE
from keys import jws
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import Live, add_client
from tests.idp.test_token import code_request, get_code, secret_auth, token
from yiwang.database import utcnow


def tokens(live: Live, person: Account, rp: Registered) -> dict[str, Any]:
    code, verifier = get_code(live, person, rp)
    response = token(live, code_request(code, verifier), auth=secret_auth(rp))
    assert response.status_code == 200
    return response.json()


def userinfo(live: Live, access_token: str | None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": "Bearer " + access_token} if access_token else {}
    return requests.get(live.url + "/userinfo", headers=headers, timeout=5, **kwargs)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token_value: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token_value.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")),
            json.loads(base64.urlsafe_b64decode(payload + "==")))


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode()) + "."
            + b64(signature))


def introspect(live: Live, rp: Registered, value: str) -> dict[str, Any]:
    response = requests.post(live.url + "/introspect", data={"token": value},
                             auth=secret_auth(rp), timeout=5)  # type: ignore[arg-type]
    assert response.status_code == 200
    return response.json()


def assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_userinfo_without_token_asks_for_one(live: Live) -> None:
    response = userinfo(live, None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{live.url}"'


def test_userinfo_with_another_scheme_asks_for_a_bearer_token(live: Live) -> None:
    # RFC 6750 §3.1: an unsupported authentication method gets no error code.
    response = requests.get(live.url + "/userinfo", auth=("someone", "secret"), timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{live.url}"'


@pytest.mark.parametrize("kid", [[], {"a": 1}, 7, None])
def test_token_with_an_invented_kid_is_invalid(live: Live, person: Account, rp: Registered,
                                              kid: Any) -> None:
    issued = tokens(live, person, rp)
    header, claims = parts(issued["access_token"])
    invented = forge({**header, "kid": kid}, claims) + issued["access_token"].split(".")[2]
    assert_invalid_token(userinfo(live, invented))
    assert introspect(live, rp, invented) == {"active": False}


def test_userinfo_refuses_tokens_outside_the_header(live: Live, person: Account,
                                                   rp: Registered) -> None:
    issued = tokens(live, person, rp)
    query = requests.get(live.url + "/userinfo", params={"access_token": issued["access_token"]},
                         timeout=5)
    assert query.status_code == 400 and query.json()["error"] == "invalid_request"
    body = requests.post(live.url + "/userinfo", data={"access_token": issued["access_token"]},
                         timeout=5)
    assert body.status_code == 400 and body.json()["error"] == "invalid_request"


def test_tampered_token_is_invalid(live: Live, person: Account, rp: Registered) -> None:
    issued = tokens(live, person, rp)
    header, claims = parts(issued["access_token"])
    claims["scope"] = "openid profile id_number"
    signature = issued["access_token"].split(".")[2]
    tampered = forge(header, claims) + signature
    assert_invalid_token(userinfo(live, tampered))
    assert introspect(live, rp, tampered) == {"active": False}


def test_unsigned_token_is_invalid(live: Live, person: Account, rp: Registered) -> None:
    issued = tokens(live, person, rp)
    header, claims = parts(issued["access_token"])
    unsigned = forge({**header, "alg": "none"}, claims)
    assert_invalid_token(userinfo(live, unsigned))
    assert introspect(live, rp, unsigned) == {"active": False}


def test_hmac_with_the_public_key_is_invalid(live: Live, person: Account,
                                             rp: Registered) -> None:
    issued = tokens(live, person, rp)
    header, claims = parts(issued["access_token"])
    with live.session() as session:
        public = live.runtime.keystore.active_key(session, PURPOSE, None, "ES256").public_key
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    forged_header = {**header, "alg": "HS256"}
    signing_input = (b64(json.dumps(forged_header).encode()) + "."
                     + b64(json.dumps(claims).encode())).encode()
    signature = hmac.new(pem, signing_input, hashlib.sha256).digest()
    assert_invalid_token(userinfo(live, signing_input.decode() + "." + b64(signature)))


def test_expired_token_is_invalid(live: Live, person: Account, rp: Registered) -> None:
    issued = tokens(live, person, rp)
    _header, claims = parts(issued["access_token"])
    claims["exp"] = int((utcnow() - dt.timedelta(seconds=5)).timestamp())
    with live.session() as session:
        key = live.runtime.keystore.active_key(session, PURPOSE, None, "ES256")
    expired = jws.sign(claims, key, {"typ": "at+jwt"})
    assert_invalid_token(userinfo(live, expired))
    assert introspect(live, rp, expired) == {"active": False}


def test_access_token_for_another_audience_is_invalid(live: Live, person: Account,
                                                      rp: Registered) -> None:
    issued = tokens(live, person, rp)
    _header, claims = parts(issued["access_token"])
    claims["aud"] = "https://elsewhere.example"
    with live.session() as session:
        key = live.runtime.keystore.active_key(session, PURPOSE, None, "ES256")
    elsewhere = jws.sign(claims, key, {"typ": "at+jwt"})
    assert_invalid_token(userinfo(live, elsewhere))
    assert introspect(live, rp, elsewhere) == {"active": False}


def test_id_token_is_not_an_access_token(live: Live, person: Account, rp: Registered) -> None:
    issued = tokens(live, person, rp)
    assert_invalid_token(userinfo(live, issued["id_token"]))


def test_client_credentials_token_has_no_userinfo(live: Live) -> None:
    client_id, secret = add_client(live.runtime, redirect_uris=[],
                                   grant_types=["client_credentials"], scopes=["vault.read"])
    issued = token(live, {"grant_type": "client_credentials"}, auth=(client_id, secret)).json()
    response = userinfo(live, issued["access_token"])
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_introspection_of_another_clients_token_is_inactive(live: Live, person: Account,
                                                            rp: Registered) -> None:
    issued = tokens(live, person, rp)
    other = Registered(*add_client(live.runtime))
    assert introspect(live, other, issued["access_token"]) == {"active": False}
    assert introspect(live, other, issued["refresh_token"]) == {"active": False}
    assert introspect(live, rp, "no-such-token") == {"active": False}


@pytest.mark.parametrize("data", [{}, {"token": ""}])
def test_introspection_needs_a_token(live: Live, rp: Registered, data: dict[str, str]) -> None:
    response = requests.post(live.url + "/introspect", data=data, auth=secret_auth(rp),
                             timeout=5)  # type: ignore[arg-type]
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_introspection_needs_client_authentication(live: Live) -> None:
    response = requests.post(live.url + "/introspect", data={"token": "x"}, timeout=5)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_revoking_another_clients_token_is_refused(live: Live, person: Account,
                                                   rp: Registered) -> None:
    issued = tokens(live, person, rp)
    other = Registered(*add_client(live.runtime))
    response = requests.post(live.url + "/revoke", data={"token": issued["access_token"]},
                             auth=secret_auth(other), timeout=5)  # type: ignore[arg-type]
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert introspect(live, rp, issued["access_token"])["active"] is True


def test_revoking_unknown_tokens_succeeds_quietly(live: Live, rp: Registered) -> None:
    response = requests.post(live.url + "/revoke", data={"token": "never-issued"},
                             auth=secret_auth(rp), timeout=5)  # type: ignore[arg-type]
    assert response.status_code == 200


def test_unknown_token_type_hint_is_unsupported(live: Live, rp: Registered) -> None:
    response = requests.post(live.url + "/revoke",
                             data={"token": "x", "token_type_hint": "id_token"},
                             auth=secret_auth(rp), timeout=5)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_token_type"


def test_public_client_revokes_its_refresh_token(live: Live, person: Account) -> None:
    public = Registered(*add_client(live.runtime, public=True))
    code, verifier = get_code(live, person, public)
    data = code_request(code, verifier)
    data["client_id"] = public.client_id
    issued = token(live, data).json()
    response = requests.post(live.url + "/revoke", timeout=5, data={
        "token": issued["refresh_token"], "client_id": public.client_id})
    assert response.status_code == 200
    again = token(live, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                         "client_id": public.client_id})
    assert again.json()["error"] == "invalid_grant"
    assert_invalid_token(userinfo(live, issued["access_token"]))


def test_public_clients_cannot_introspect(live: Live, person: Account) -> None:
    public = Registered(*add_client(live.runtime, public=True))
    response = requests.post(live.url + "/introspect", timeout=5,
                             data={"token": "x", "client_id": public.client_id})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_tokens_of_a_disabled_person_are_inactive_everywhere(live: Live, person: Account,
                                                             rp: Registered) -> None:
    from idp.models import Person

    issued = tokens(live, person, rp)
    assert introspect(live, rp, issued["refresh_token"])["active"] is True
    with live.session() as session:
        session.get(Person, person.person_id).disabled_at = utcnow()
    assert introspect(live, rp, issued["access_token"]) == {"active": False}
    assert introspect(live, rp, issued["refresh_token"]) == {"active": False}
    assert_invalid_token(userinfo(live, issued["access_token"]))
