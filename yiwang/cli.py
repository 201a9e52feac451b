"""The ``yiwang`` command: init, serve, demo, and each package's commands."""

from __future__ import annotations

from typing import Any

import click

from idp import cli as idp_cli
from idp.cli import emit, json_option
from idp.errors import IdpError
from keys.cli import keys as keys_group
from keys.errors import KeyStoreError
from license_vault import cli as license_vault_cli
from license_vault.errors import LicenseVaultError
from signing.errors import SigningError
from verify.cli import verify_command
from yiwang.logs import configure_logging
from yiwang.runtime import Runtime
from yiwang.settings import Settings, SettingsError, describe

# Errors a command may meet in normal use: shown as one line, never a traceback.
EXPECTED_ERRORS = (SettingsError, KeyStoreError, IdpError, LicenseVaultError, SigningError)


class YiwangGroup(click.Group):
    """Turns the packages' expected errors into click's one-line ``Error: ...``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=YiwangGroup, epilog="Settings (environment):\n\n" + "\n\n".join(
    f"{name}: {text}" for name, text in describe()))
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Yiwang: one login, store-once licenses, verification for everyone."""
    # Commands print their own results; the log shows only what went wrong
    # (the server raises it to the configured level).
    configure_logging("WARNING")
    ctx.obj = Runtime(Settings.from_env())
    ctx.call_on_close(ctx.obj.dispose)


@cli.command()
@json_option
@click.pass_obj
def init(runtime: Runtime, as_json: bool) -> None:
    """Create the instance folder, master key, database tables and base keys."""
    from yiwang.instance import initialise

    _warn_dev_defaults(runtime)
    report = initialise(runtime)
    emit({"instance": str(runtime.settings.instance),
          "created_master_key": report.created_master_key,
          "revision": report.revision}, as_json,
         [f"instance ready: {runtime.settings.instance} (schema {report.revision})"]
         + (["created master key: " + str(runtime.settings.master_key_file)]
            if report.created_master_key else []))


@cli.command()
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.pass_obj
def serve(runtime: Runtime, bind: str, workers: int, threads: int) -> None:
    """Serve the web app with gunicorn (threaded workers)."""
    from yiwang.server import serve as run

    _warn_dev_defaults(runtime)
    run(runtime.settings, bind=bind, workers=workers, threads=threads)


@cli.command()
@click.option("--seed-only", is_flag=True, help="Seed demo data and exit without serving.")
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.pass_obj
def demo(runtime: Runtime, seed_only: bool, bind: str) -> None:
    """Initialise, seed demo data (idempotent) and serve."""
    from yiwang.demo import print_summary, seed
    from yiwang.instance import initialise
    from yiwang.server import serve as run

    _warn_dev_defaults(runtime)
    initialise(runtime)
    summary = seed(runtime)
    print_summary(summary, runtime.settings)
    if not seed_only:
        run(runtime.settings, bind=bind, workers=2, threads=4)


def _warn_dev_defaults(runtime: Runtime) -> None:
    for warning in runtime.settings.dev_warnings():
        click.secho("warning: " + warning, fg="yellow", err=True)


cli.add_command(keys_group)
cli.add_command(idp_cli.person)
cli.add_command(idp_cli.entity)
cli.add_command(idp_cli.client)
cli.add_command(license_vault_cli.department)
cli.add_command(license_vault_cli.license_type)
cli.add_command(license_vault_cli.license)
cli.add_command(license_vault_cli.vault)
cli.add_command(verify_command)


def main() -> None:
    cli(prog_name="yiwang")
