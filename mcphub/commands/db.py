"""`mcphub db`: database migrations."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url

from mcphub.commands._common import data_dir_option, run
from mcphub.runtime.store.db import database_url
from mcphub.runtime.store.migrations import current_revision, upgrade


@click.group()
def db() -> None:
    """The hub's database (SQLite in the data dir, or MCPHUB_DATABASE_URL)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@data_dir_option
def upgrade_(revision: str, data_dir: Path) -> None:
    """Apply migrations (`serve` does this at start too)."""
    url = database_url(data_dir)

    async def go() -> None:
        await upgrade(url, revision)
        click.echo(f"{make_url(url).render_as_string(hide_password=True)} is at {await current_revision(url)}")

    run(go())


@db.command("current")
@data_dir_option
def current(data_dir: Path) -> None:
    """Print the database's migration revision."""
    url = database_url(data_dir)

    async def go() -> None:
        click.echo(await current_revision(url) or "not migrated (run `mcphub db upgrade`)")

    run(go())


def register(main: click.Group) -> None:
    main.add_command(db)
