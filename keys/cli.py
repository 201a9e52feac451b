"""``keys`` commands for operators: list keys, rotate, revoke a certificate, print the root.

The commands read their context from ``click.get_current_context().obj``,
which the application provides with:

* ``session()``: a context manager yielding a ``Session`` that commits on
  success and rolls back on error;
* ``keystore``: the :class:`keys.KeyStore`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import click
from cryptography.hazmat.primitives import serialization

from yiwang.database import utcnow

from .errors import KeyStoreError
from .pki import REVOCATION_REASONS


@click.group("keys")
def keys() -> None:
    """Keys and certificates: list, rotate, revoke, print the root."""


keys_group = keys  # the name to import where ``keys`` (the package) is in scope


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_keys(as_json: bool) -> None:
    """List every key: purpose, owner, algorithm, status, certificate."""
    app = _app()
    with _errors(), app.session() as session:
        infos = app.keystore.list_keys(session)
    if as_json:
        click.echo(json.dumps([info.to_json() for info in infos], indent=2, ensure_ascii=False))
        return
    for info in infos:
        click.echo("  ".join([
            info.kid.ljust(11),
            info.purpose.ljust(12),
            (info.owner or "-").ljust(18),
            info.algorithm.ljust(8),
            info.status.ljust(7),
            info.created_at.strftime("%Y-%m-%d"),
            f"published until {info.publish_until:%Y-%m-%d %H:%M}" if info.publish_until
            else "",
            f"cert {info.certificate_serial}" if info.certificate_serial else "",
        ]).rstrip())


@keys.command("rotate")
@click.option("--purpose", required=True, help="Key purpose, e.g. idp-token or dept-qr.")
@click.option("--owner", help="The owning department's USCC (department keys).")
@click.option("--algorithm", help="Which algorithm to rotate where several are active.")
@click.option("--publish-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Days the retired key keeps verifying and stays published.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rotate(
    purpose: str, owner: str | None, algorithm: str | None, publish_days: int, as_json: bool
) -> None:
    """Replace the active key of a purpose; the old one retires but still verifies."""
    app = _app()
    now = utcnow()
    publish_for = dt.timedelta(days=publish_days)
    publish_until = now + publish_for
    with _errors(), app.session() as session:
        kid = app.keystore.rotate(
            session, purpose, owner, now=now, publish_for=publish_for, algorithm=algorithm,
        )
    if as_json:
        click.echo(json.dumps({
            "kid": kid, "purpose": purpose, "owner": owner,
            "previous_published_until": publish_until.isoformat(),
        }))
    else:
        click.echo(f"new {purpose} key {kid}; the previous key is published until "
                   f"{publish_until:%Y-%m-%d %H:%M} UTC")


@keys.command("revoke-cert")
@click.argument("serial")
@click.option("--reason", required=True, type=click.Choice(REVOCATION_REASONS),
              help="RFC 5280 revocation reason.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def revoke_cert(serial: str, reason: str, as_json: bool) -> None:
    """Revoke the certificate with hexadecimal SERIAL; it appears in the next CRL."""
    app = _app()
    with _errors(), app.session() as session:
        info = app.keystore.revoke_certificate(session, serial, reason=reason, now=utcnow())
    if as_json:
        click.echo(json.dumps({
            "serial": info.serial, "subject": info.subject,
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
            "reason": info.revocation_reason,
        }, ensure_ascii=False))
    else:
        click.echo(f"revoked {info.serial} ({info.subject}): {info.revocation_reason}")


@keys.command("root-cert")
def root_cert() -> None:
    """Print the root CA certificate (PEM): the trust anchor relying parties install."""
    app = _app()
    with _errors(), app.session() as session:
        certificate = app.keystore.root_certificate(session)
    click.echo(certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), nl=False)


def _app() -> Any:
    app = click.get_current_context().obj
    if app is None or not hasattr(app, "keystore") or not hasattr(app, "session"):
        raise click.ClickException("the keys commands need the application context")
    return app


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
