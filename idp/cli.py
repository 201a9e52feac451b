"""``yiwang person``, ``yiwang entity`` and ``yiwang client``: operator commands.

ID numbers are printed masked only. A client secret is printed once, when it
is created or rotated; only its SHA-256 digest is kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Protocol

import click
from sqlalchemy.orm import Session

from idp import accounts, clients
from idp.errors import AccountError
from idp.models import LEVELS, Client, Person
from idp.tokens import ID_TOKEN_ALGS
from yiwang.database import utcnow

__all__ = ["client", "emit", "entity", "json_option", "person"]


class RuntimeLike(Protocol):
    """What the CLI needs of ``yiwang.runtime.Runtime`` (passed as the click object)."""

    @property
    def keystore(self) -> Any: ...

    @property
    def settings(self) -> Any: ...

    def session(self) -> contextlib.AbstractContextManager[Session]: ...


def emit(data: dict[str, Any] | list[Any], as_json: bool, lines: list[str]) -> None:
    """Print a result as JSON (``--json``) or as readable lines."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        for line in lines:
            click.echo(line)


def read_password(from_stdin: bool) -> str:
    """One line of standard input, or a hidden prompt asked twice."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


# --- persons ----------------------------------------------------------------------------


@click.group()
def person() -> None:
    """Natural persons: create, set passwords, enrol TOTP."""


def _person_json(p: Person) -> dict[str, Any]:
    return {"id": p.id, "sub": p.subject, "id_number": p.id_number_masked, "name": p.name,
            "level": p.level, "totp": p.totp_sealed is not None}


@person.command("add")
@click.option("--id-number", required=True, help="Resident ID number (18 characters).")
@click.option("--name", required=True)
@click.option("--level", type=click.Choice(LEVELS), default="L1", show_default=True,
              help="L1 self-registered, L2 verified against a record, L3 verified in person.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@click.pass_obj
def person_add(runtime: RuntimeLike, id_number: str, name: str, level: str,
               password_stdin: bool, as_json: bool) -> None:
    """Create a person who can log in with ID number and password."""
    password = read_password(password_stdin)
    with runtime.session() as session:
        created = accounts.create_person(session, runtime.keystore, id_number=id_number,
                                         name=name, password=password, level=level,
                                         now=utcnow())
        data = _person_json(created)
    emit(data, as_json, [f"person {data['id_number']} ({data['name']}, {level}) created",
                         f"sub: {data['sub']}"])


@person.command("set-password")
@click.option("--id-number", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def person_set_password(runtime: RuntimeLike, id_number: str, password_stdin: bool) -> None:
    """Replace a person's password."""
    password = read_password(password_stdin)
    with runtime.session() as session:
        found = accounts.find_person(session, runtime.keystore, id_number)
        accounts.set_password(session, found, password, now=utcnow())
        masked = found.id_number_masked
    click.echo(f"password of {masked} changed")


@person.group("totp")
def person_totp() -> None:
    """Time-based one-time passwords (RFC 6238)."""


@person_totp.command("enroll")
@click.option("--id-number", required=True)
@json_option
@click.pass_obj
def person_totp_enroll(runtime: RuntimeLike, id_number: str, as_json: bool) -> None:
    """Give the person a new TOTP secret and print it once (as an otpauth:// URI)."""
    with runtime.session() as session:
        found = accounts.find_person(session, runtime.keystore, id_number)
        uri = accounts.enroll_totp(session, runtime.keystore, found, now=utcnow())
        secret = accounts.totp_secret_base32(runtime.keystore, found)
        masked = found.id_number_masked
    emit({"id_number": masked, "otpauth_uri": uri, "secret": secret}, as_json,
         [f"TOTP enrolled for {masked}; add it to an authenticator app:", uri,
          f"secret (base32): {secret}"])


# --- entities ---------------------------------------------------------------------------


@click.group()
def entity() -> None:
    """Legal entities, their legal representatives and agents."""


@entity.command("add")
@click.option("--uscc", required=True, help="Unified social credit code (18 characters).")
@click.option("--name", required=True)
@click.option("--legal-rep", required=True, metavar="ID_NUMBER",
              help="ID number of the legal representative (an existing person).")
@json_option
@click.pass_obj
def entity_add(runtime: RuntimeLike, uscc: str, name: str, legal_rep: str,
               as_json: bool) -> None:
    """Register an entity with its legal representative."""
    with runtime.session() as session:
        created = accounts.create_entity(session, runtime.keystore, code=uscc, name=name,
                                         legal_rep_id_number=legal_rep, now=utcnow())
        data = {"id": created.id, "uscc": created.uscc, "name": created.name}
    emit(data, as_json, [f"entity {data['uscc']} ({data['name']}) created"])


@entity.command("add-agent")
@click.option("--uscc", required=True)
@click.option("--id-number", required=True, help="ID number of the agent (an existing person).")
@click.option("--until", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Last day (China time) the authorisation holds, YYYY-MM-DD.")
@click.option("--role", default="agent", show_default=True)
@click.option("--scope", default="*", show_default=True,
              help="Space-separated business scopes the agent handles; * for all.")
@json_option
@click.pass_obj
def entity_add_agent(runtime: RuntimeLike, uscc: str, id_number: str, until: dt.datetime,
                     role: str, scope: str, as_json: bool) -> None:
    """Authorise a person to act for an entity (经办人) until a date."""
    with runtime.session() as session:
        agent = accounts.add_agent(session, runtime.keystore, code=uscc, id_number=id_number,
                                   until=until.date(), role=role, scope=scope, now=utcnow())
        data = {"uscc": accounts.find_entity(session, uscc).uscc, "role": agent.role,
                "scope": agent.scope, "until": agent.valid_until.isoformat()}
    emit(data, as_json, [f"agent added to {data['uscc']} as {role} until {data['until']}"])


# --- clients ----------------------------------------------------------------------------


@click.group()
def client() -> None:
    """OpenID Connect clients (relying parties and department back ends)."""


def _client_json(c: Client) -> dict[str, Any]:
    return {
        "client_id": c.client_id, "name": c.name, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types, "scopes": c.scopes, "public": c.public,
        "auth_method": c.auth_method, "first_party": c.first_party,
        "id_token_alg": c.id_token_alg, "subject_type": c.subject_type,
        "sector_identifier": c.sector_identifier,
        "created_at": c.created_at, "disabled": c.disabled_at is not None,
    }


@client.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, metavar="URI",
              help="Repeat for each redirect URI.")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True, metavar="URI")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(clients.GRANT_TYPES), help="Repeat for each grant type.")
@click.option("--scope", "scopes", multiple=True,
              help="Repeat for each scope (a space-separated list is accepted too). "
                   "Default: openid profile.")
@click.option("--public", is_flag=True, help="A native or browser app without a secret.")
@click.option("--auth-method", type=click.Choice(clients.AUTH_METHODS))
@click.option("--first-party", is_flag=True, help="Skip the consent page.")
@click.option("--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), default="RS256",
              show_default=True)
@click.option("--subject-type", type=click.Choice(["public", "pairwise"]), default="public",
              show_default=True)
@click.option("--sector-identifier", help="Sector (host) for pairwise subjects.")
@click.option("--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path),
              help="JWK Set file of the client's public keys (private_key_jwt).")
@json_option
@click.pass_obj
def client_add(runtime: RuntimeLike, name: str, redirect_uris: tuple[str, ...],
               post_logout_uris: tuple[str, ...], grant_types: tuple[str, ...],
               scopes: tuple[str, ...], public: bool, auth_method: str | None,
               first_party: bool, id_token_alg: str, subject_type: str,
               sector_identifier: str | None, jwks_file: Path | None, as_json: bool) -> None:
    """Register a client; prints client_id and, once, client_secret."""
    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text())
        except (OSError, ValueError) as exc:
            raise AccountError(f"cannot read {jwks_file}: {exc}") from None
    spec = clients.ClientSpec(
        name=name, redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_uris,
        grant_types=grant_types or ("authorization_code",),
        # "--scope 'openid profile'" is how scopes are written everywhere else in OAuth.
        scopes=tuple(s for value in scopes for s in value.split()) or ("openid", "profile"),
        public=public, auth_method=auth_method, first_party=first_party,
        id_token_alg=id_token_alg, subject_type=subject_type,
        sector_identifier=sector_identifier, jwks=jwks)
    with runtime.session() as session:
        created, secret = clients.register_client(session, spec, now=utcnow())
        data = _client_json(created)
    data["client_secret"] = secret
    lines = [f"client_id: {data['client_id']}"]
    if secret:
        lines += [f"client_secret: {secret}", "(the secret is shown only now; store it safely)"]
    emit(data, as_json, lines)


@client.command("list")
@json_option
@click.pass_obj
def client_list(runtime: RuntimeLike, as_json: bool) -> None:
    """Every registered client."""
    with runtime.session() as session:
        data = [_client_json(c) for c in clients.list_clients(session)]
    emit(data, as_json, [
        f"{c['client_id']}  {c['name']}  {' '.join(c['grant_types'])}"
        + ("  (disabled)" if c["disabled"] else "") for c in data])


@client.command("show")
@click.argument("client_id")
@json_option
@click.pass_obj
def client_show(runtime: RuntimeLike, client_id: str, as_json: bool) -> None:
    """One client's registration (never its secret)."""
    with runtime.session() as session:
        data = _client_json(clients.get_client(session, client_id))
    emit(data, as_json, [f"{key}: {value}" for key, value in data.items()])


@client.command("rotate-secret")
@click.argument("client_id")
@json_option
@click.pass_obj
def client_rotate_secret(runtime: RuntimeLike, client_id: str, as_json: bool) -> None:
    """Give the client a new secret (the old one stops working at once)."""
    with runtime.session() as session:
        secret = clients.rotate_secret(session, client_id, now=utcnow())
    emit({"client_id": client_id, "client_secret": secret}, as_json,
         [f"client_secret: {secret}", "(the secret is shown only now; store it safely)"])


@client.command("disable")
@click.argument("client_id")
@json_option
@click.pass_obj
def client_disable(runtime: RuntimeLike, client_id: str, as_json: bool) -> None:
    """Disable a client: no more log-ins, tokens or introspection for it."""
    with runtime.session() as session:
        data = _client_json(clients.disable_client(session, client_id, now=utcnow()))
    emit(data, as_json, [f"client {client_id} disabled (running servers refuse it within "
                         f"{runtime.settings.client_cache_seconds} s)"])
