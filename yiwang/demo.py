"""Demo data for ``yiwang demo``: seeding twice adds nothing."""

from __future__ import annotations

import dataclasses

import click

from idp.demo import seed_demo
from license_vault.demo import seed_demo as seed_license_demo
from yiwang.runtime import Runtime
from yiwang.settings import Settings


@dataclasses.dataclass
class DemoSummary:
    lines: list[str] = dataclasses.field(default_factory=list)


def seed(runtime: Runtime) -> DemoSummary:
    summary = DemoSummary()
    with runtime.session() as session:
        summary.lines += seed_demo(session, runtime.keystore, runtime.settings)
    with runtime.session() as session:
        summary.lines += seed_license_demo(session, runtime.keystore, runtime.settings)
    return summary


def print_summary(summary: DemoSummary, settings: Settings) -> None:
    issuer = settings.issuer
    click.echo("")
    click.secho("Yiwang demo", bold=True)
    click.echo(f"  health:            {issuer}/healthz")
    click.echo(f"  root certificate:  {issuer}/pki/root.crt")
    click.echo(f"  verify a license:  {issuer}/verify  (trust list {issuer}/trust-list.jws)")
    for line in summary.lines:
        click.echo("  " + line)
    click.echo("")
