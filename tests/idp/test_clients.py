"""Client registration rules, redirect URI matching and secret handling."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from idp import clients
from idp.clients import ClientSpec
from idp.errors import ClientConfigError, InvalidClient, InvalidRequest
from idp.models import Client

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WEB = "https://portal.example.gov.cn/callback"


def register(session: Session, **kwargs: object) -> tuple[Client, str | None]:
    values: dict[str, object] = {"name": "门户", "redirect_uris": [WEB]}
    values.update(kwargs)
    return clients.register_client(session, ClientSpec(**values), now=NOW)  # type: ignore[arg-type]


def test_secret_is_random_and_stored_as_sha256(session: Session) -> None:
    client, secret = register(session)
    assert secret is not None and len(secret) >= 43
    assert client.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert client.auth_method == "client_secret_basic"
    rotated = clients.rotate_secret(session, client.client_id, now=NOW)
    assert rotated != secret and client.secret_hash != hashlib.sha256(secret.encode()).hexdigest()


@pytest.mark.parametrize(("changes", "reason"), [
    ({"redirect_uris": ["http://portal.example.gov.cn/cb"]}, "https"),
    ({"redirect_uris": ["https://portal.example.gov.cn/cb#x"]}, "fragment"),
    ({"redirect_uris": ["/relative"]}, "absolute"),
    ({"redirect_uris": ["com.example.app:/cb"]}, "private-use scheme for a web client"),
    ({"redirect_uris": []}, "authorization_code needs a redirect URI"),
    ({"grant_types": ["refresh_token"]}, "refresh without code"),
    ({"grant_types": ["password"]}, "unknown grant type"),
    ({"public": True, "grant_types": ["client_credentials"]}, "public back end"),
    ({"public": True, "auth_method": "client_secret_basic"}, "public with a secret"),
    ({"auth_method": "none"}, "confidential without authentication"),
    ({"auth_method": "private_key_jwt"}, "private_key_jwt without keys"),
    ({"scopes": ["Bad Scope"]}, "malformed scope"),
    ({"subject_type": "pairwise", "redirect_uris": [WEB, "https://other.example/cb"]},
     "pairwise across hosts"),
    ({"id_token_alg": "HS256"}, "symmetric ID tokens"),
])
def test_inconsistent_registrations_are_refused(session: Session, changes: dict[str, object],
                                                reason: str) -> None:
    with pytest.raises(ClientConfigError):
        register(session, **changes)


def test_native_clients_may_use_private_schemes_and_loopback(session: Session) -> None:
    client, secret = register(session, public=True,
                              redirect_uris=["cn.gov.yiwang.app:/cb", "http://127.0.0.1/cb"])
    assert secret is None and client.auth_method == "none"
    assert clients.redirect_uri_matches(client, "cn.gov.yiwang.app:/cb")
    assert clients.redirect_uri_matches(client, "http://127.0.0.1:61000/cb")
    assert not clients.redirect_uri_matches(client, "http://127.0.0.1:61000/cb/x")
    assert not clients.redirect_uri_matches(client, "http://localhost:61000/cb")


def test_native_clients_may_vary_the_port_of_an_ipv6_loopback(session: Session) -> None:
    client, _ = register(session, public=True, redirect_uris=["http://[::1]/cb"])
    assert clients.redirect_uri_matches(client, "http://[::1]:61000/cb")
    assert not clients.redirect_uri_matches(client, "http://[::1]:61000/other")


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:1@attacker.example/cb",  # user-info: the host is attacker.example
    "http://127.0.0.1@attacker.example/cb",
    "http://user@127.0.0.1/cb",
    "http://127.0.0.1:abc/cb",
    "http://127.0.0.1:99999/cb",
    "http://127.0.0.1:0/cb",
    "http://127.0.0.1:/cb",
    "http://127.0.0.1:６１０００/cb",
    "http://[::1:61000/cb",
    "http://[::1]:1@attacker.example/cb",
])
def test_only_the_port_of_a_loopback_redirect_uri_may_vary(session: Session, uri: str) -> None:
    # RFC 8252 §7.3: the port, and nothing else; a string that merely starts
    # with the loopback address is no loopback URI.
    client, _ = register(session, public=True,
                         redirect_uris=["http://127.0.0.1/cb", "http://[::1]/cb"])
    assert not clients.redirect_uri_matches(client, uri)


@pytest.mark.parametrize("uri", [
    "https://user@portal.example.gov.cn/cb", "http://127.0.0.1:1@attacker.example/cb",
    "https://portal.example.gov.cn:0/cb", "https://portal.example.gov.cn:x/cb", "https://[::1/cb",
])
def test_redirect_uris_with_user_info_or_a_bad_port_are_not_registered(
        session: Session, uri: str) -> None:
    with pytest.raises(ClientConfigError):
        register(session, public=True, redirect_uris=[uri])


def test_native_loopback_redirect_uri_with_a_fragment_is_refused(session: Session) -> None:
    # RFC 6749 §3.1.2: a redirection endpoint has no fragment; only the port may vary.
    client, _ = register(session, public=True, redirect_uris=["http://127.0.0.1/cb"])
    assert not clients.redirect_uri_matches(client, "http://127.0.0.1:61000/cb#x")
    assert not clients.redirect_uri_matches(client, "http://127.0.0.1/cb#x")


def test_web_clients_match_exactly(session: Session) -> None:
    client, _ = register(session, redirect_uris=[WEB, "http://127.0.0.1:8000/cb"])
    assert clients.redirect_uri_matches(client, WEB)
    assert not clients.redirect_uri_matches(client, WEB + "/")
    assert not clients.redirect_uri_matches(client, "http://127.0.0.1:8001/cb")


def test_pairwise_sector_defaults_to_the_redirect_host(session: Session) -> None:
    client, _ = register(session, subject_type="pairwise")
    assert client.sector_identifier == "portal.example.gov.cn"


def test_basic_credentials_are_form_decoded(session: Session) -> None:
    import base64

    header = "Basic " + base64.b64encode(b"my%3Aclient:s%2Bcret").decode()
    parsed = clients.parse_credentials(header, {})
    assert (parsed.client_id, parsed.secret, parsed.method) == (
        "my:client", "s+cret", "client_secret_basic")
    with pytest.raises(InvalidClient):
        clients.parse_credentials("Basic !!!", {})
    with pytest.raises(InvalidClient):
        clients.parse_credentials("Bearer abc", {})
    with pytest.raises(InvalidRequest):
        clients.parse_credentials(header, {"client_secret": "x"})
    with pytest.raises(InvalidClient):
        clients.parse_credentials(header, {"client_id": "other"})


def test_wrong_secret_and_disabled_client_fail(session: Session) -> None:
    client, secret = register(session)
    good = clients.Credentials("client_secret_basic", client.client_id, secret=secret)
    uncached = clients.ClientCache(0)
    assert clients.authenticate(session, good, audiences=(), now=NOW,
                                cache=uncached).client_id == client.client_id
    with pytest.raises(InvalidClient):
        clients.authenticate(session, clients.Credentials(
            "client_secret_basic", client.client_id, secret=(secret or "") + "x"),
            audiences=(), now=NOW, cache=uncached)
    clients.disable_client(session, client.client_id, now=NOW)
    with pytest.raises(InvalidClient):
        clients.authenticate(session, good, audiences=(), now=NOW, cache=uncached)


def count_client_queries(session: Session) -> list[str]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "idp_clients" in statement:
            seen.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", record)
    return seen


def test_cache_holds_a_client_and_a_rotated_secret_works_at_once(session: Session) -> None:
    client, secret = register(session)
    cache = clients.ClientCache(60)
    queries = count_client_queries(session)
    old = clients.Credentials("client_secret_basic", client.client_id, secret=secret)
    clients.authenticate(session, old, audiences=(), now=NOW, cache=cache)
    clients.authenticate(session, old, audiences=(), now=NOW, cache=cache)
    assert len(queries) == 1

    # A failure against the held record asks the database before refusing.
    rotated = clients.rotate_secret(session, client.client_id, now=NOW)
    queries.clear()
    new = clients.Credentials("client_secret_basic", client.client_id, secret=rotated)
    assert clients.authenticate(session, new, audiences=(), now=NOW,
                                cache=cache).client_id == client.client_id
    assert len(queries) == 1
    with pytest.raises(InvalidClient):
        clients.authenticate(session, old, audiences=(), now=NOW, cache=cache)


def test_cache_refuses_a_disabled_client_once_its_record_expires(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    client, secret = register(session)
    cache = clients.ClientCache(5)
    good = clients.Credentials("client_secret_basic", client.client_id, secret=secret)
    clients.authenticate(session, good, audiences=(), now=NOW, cache=cache)
    clients.disable_client(session, client.client_id, now=NOW)
    later = time.monotonic() + 5
    monkeypatch.setattr(clients.time, "monotonic", lambda: later)
    with pytest.raises(InvalidClient):
        clients.authenticate(session, good, audiences=(), now=NOW, cache=cache)


def test_cache_never_holds_an_unknown_client(session: Session) -> None:
    cache = clients.ClientCache(60)
    assert cache.load(session, "no-such-client") is None
    assert cache.held("no-such-client") is None


