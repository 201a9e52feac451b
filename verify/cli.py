"""``yiwang verify PATH_OR_TEXT``: a PDF, an image with a QR code, or the QR text.

Exit status 0 when the license is valid, 1 when it is not, 2 when no
verdict could be reached (unreadable file, bad option, vault unavailable).
``--offline`` checks only against a trust list (``--trust-list FILE``, a
cached ``trust-list.jws``; by default one signed now by the local key store
and verified like a downloaded one), as an offline verifier app would.

The command reads its context from ``click.get_current_context().obj``: an
object with ``session()`` (a committing context manager), ``keystore`` and
``settings`` (the ``issuer``), which the application provides.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import click

from license_vault.validity import CHINA
from verify import images, pdf, trust_list
from verify.errors import TrustListError, VerifyError
from verify.services import Verifier, verification_time
from verify.verdict import Facet, PdfVerdict, Reason, Verdict

__all__ = ["EXIT_INVALID", "EXIT_UNDETERMINED", "EXIT_VALID", "verify_command"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNDETERMINED = 2
_MAX_FILE = max(pdf.MAX_PDF_BYTES, images.MAX_IMAGE_BYTES)
_FILE_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


@click.command("verify")
@click.argument("path_or_text")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--offline", is_flag=True,
              help="Use only a trust list: no vault, no live status.")
@click.option("--at", "at_text", metavar="TIME",
              help="Verify as of TIME (ISO 8601; without an offset, China time).")
@click.option("--trust-list", "trust_list_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A cached trust-list.jws for --offline (checked against the local root).")
def verify_command(path_or_text: str, as_json: bool, offline: bool, at_text: str | None,
                   trust_list_file: Path | None) -> None:
    """Verify a license PDF, a photo or screenshot of its QR code, or the QR text.

    Exit status: 0 valid, 1 not valid, 2 could not evaluate.
    """
    context = click.get_current_context()
    try:
        at = _parse_at(at_text)
        data = _read_input(path_or_text)
        if isinstance(data, int):  # a file too large to be read
            verdict: Verdict = PdfVerdict(
                at=at or _now(), online=not offline, well_formed=Facet.fail(
                    Reason.MALFORMED, f"a file of {data} bytes is larger than any license "
                    "or photo of one (not read)"))
        else:
            verdict = _evaluate(context.obj, data, at, offline, trust_list_file)
    except (click.BadParameter, OSError, UnicodeDecodeError, TrustListError, VerifyError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        context.exit(EXIT_UNDETERMINED)
    except Exception as exc:  # the instance itself failed (database, keys): no verdict
        click.secho(f"error: could not evaluate: {type(exc).__name__}: {exc}", fg="red", err=True)
        context.exit(EXIT_UNDETERMINED)
    _finish(context, verdict, as_json)


def _evaluate(app: Any, data: bytes | str, at: dt.datetime | None, offline: bool,
              trust_list_file: Path | None) -> Verdict:
    with app.session() as session:
        verifier = Verifier(session, app.keystore, issuer=app.settings.issuer)
        if trust_list_file is not None:
            verifier.trust = trust_list.load(
                trust_list_file.read_text("ascii").strip(),
                root=app.keystore.root_certificate(session), at=at or _now())
        if isinstance(data, bytes):
            return verifier.verify_file(data, at, not offline)
        return verifier.verify_qr(data, at, not offline)


def _finish(context: click.Context, verdict: Verdict, as_json: bool) -> None:
    _print(verdict, as_json)
    reason = verdict.bottom_line
    context.exit(EXIT_VALID if reason is Reason.VALID
                 else EXIT_UNDETERMINED if reason is Reason.UNAVAILABLE else EXIT_INVALID)


def _read_input(argument: str) -> bytes | str | int:
    """File bytes if ``argument`` names a file, else the argument as QR text.

    A file too large to be a license is not read: its size is returned.
    """
    path = Path(argument)
    if path.is_file():
        size = path.stat().st_size
        if size > _MAX_FILE:
            return size
        with path.open("rb") as handle:
            return handle.read(_MAX_FILE + 1)
    # A code's text is a URL; anything else with a path separator or a file's
    # suffix was meant to be a file.
    if "://" not in argument and (os.sep in argument or argument.lower().endswith(_FILE_SUFFIXES)):
        raise click.BadParameter(f"no such file: {argument}")
    if os.path.isdir(argument):
        raise click.BadParameter(f"{argument} is a directory")
    return argument


def _parse_at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"--at {text!r} is not an ISO 8601 time") from None
    try:
        return verification_time(
            moment.replace(tzinfo=CHINA) if moment.utcoffset() is None else moment)
    except VerifyError as exc:
        raise click.BadParameter(f"--at {text!r}: {exc}") from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _print(verdict: Verdict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(verdict.to_json(), ensure_ascii=False, indent=2))
        return
    message = verdict.message
    colour = "green" if verdict.valid else "red"
    click.secho(f"{message.headline}  {verdict.bottom_line}", fg=colour, bold=True)
    click.echo(f"{message.zh} {message.en}")
    if verdict.detail:
        click.echo(f"why: {verdict.detail}")
    if verdict.identifier:
        click.echo(f"identifier: {verdict.identifier}")
    if isinstance(verdict, PdfVerdict) and verdict.signing_time is not None:
        click.echo(f"signed at: {verdict.signing_time.isoformat()}")
    mode = "online" if verdict.online else "offline"
    click.echo(f"checked at: {verdict.at.isoformat()} ({mode})")
    for name, facet in verdict.facets():
        click.echo(f"  {name:<28} {facet.outcome:<12} {_line(facet)}")
    if verdict.license is not None:
        _print_license(verdict.license.to_json())


def _line(facet: Facet) -> str:
    return facet.detail if len(facet.detail) <= 120 else facet.detail[:117] + "..."


def _print_license(view: dict[str, Any]) -> None:
    click.echo(f"license ({view['source']}):")
    for field in view["fields"]:
        click.echo(f"  {field['label']}: {field['value']}")
    holder = view["holder"]
    if view["source"] == "payload":
        click.echo(f"  holder: {holder['name']} {holder['id_masked']}")
    click.echo(f"  valid: {view['valid_from']} to {view['valid_until'] or '长期'}")
