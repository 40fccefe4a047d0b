"""`mcphub secrets`: the vault's master key — generate one, rotate to a new one without downtime."""

from __future__ import annotations

from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, run
from mcphub.runtime.tenancy.vault import generate_key, rotate


@click.group()
def secrets() -> None:
    """The master key that encrypts credentials at rest."""


@secrets.command("generate")
def generate() -> None:
    """Print a new random master key for MCPHUB_SECRET_KEY."""
    click.echo(generate_key())


@secrets.command("rotate")
@click.option(
    "--settle",
    default=12.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for running replicas to load the new key file before old keys are dropped.",
)
@click.option("--keep-old", is_flag=True, help="Keep old keys in the key file (decrypt-only).")
@data_dir_option
@json_option
def rotate_(settle: float, keep_old: bool, data_dir: Path, as_json: bool) -> None:
    """Re-encrypt every stored secret under a new master key.

    \b
    Key file (default): a new key is generated and made active; old keys are dropped once nothing uses them.
    MCPHUB_SECRET_KEY: first set it to the new key and MCPHUB_SECRET_KEY_PREVIOUS to the old one (on every
    replica), run this, then remove MCPHUB_SECRET_KEY_PREVIOUS.
    """

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            report = await rotate(tenancy.vault, tenancy.db, settle=settle, purge=not keep_old)
        rows = [[report.active_key_id, report.reencrypted, report.remaining, report.dropped_key_ids or "-"]]
        emit(as_json, report, ["active key", "re-encrypted", "remaining", "dropped keys"], rows)
        if report.remaining:
            raise click.ClickException(f"{report.remaining} secrets are still under old keys; run the rotation again")

    run(go())


def register(main: click.Group) -> None:
    main.add_command(secrets)
