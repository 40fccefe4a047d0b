"""Options several commands share. Imports click only, so commands whose --help must stay light can use them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["catalog", "catalog_option", "data_dir", "data_dir_option", "hub_url_option", "json_option", "user_option"]

F = TypeVar("F", bound=Callable[..., Any])


def data_dir(help: str) -> Callable[[F], F]:
    """--data-dir ($MCPHUB_DATA_DIR, default ./data)."""
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        default=Path("data"),
        envvar="MCPHUB_DATA_DIR",
        show_default=True,
        help=help,
    )


def catalog(help: str) -> Callable[[F], F]:
    """--catalog DIR, repeatable (default: generated/)."""
    return click.option("--catalog", "catalogs", multiple=True, type=click.Path(path_type=Path), help=help)


data_dir_option = data_dir(
    "The hub's data dir (SQLite file, key file). MCPHUB_DATABASE_URL selects PostgreSQL instead."
)
catalog_option = catalog("Folder of compiled packages (repeatable; default: generated/).")


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table.")(func)


def user_option(func: F) -> F:
    return click.option(
        "--user",
        "user_email",
        metavar="EMAIL",
        help="Whose data (default: $MCPHUB_USER, else the operator: the hub's first admin).",
    )(func)


def hub_url_option(help: str) -> Callable[[F], F]:
    """--hub-url: where the running hub answers (default $MCPHUB_PUBLIC_URL, else the `serve` default)."""
    return click.option(
        "--hub-url",
        default=lambda: os.environ.get("MCPHUB_PUBLIC_URL") or "http://127.0.0.1:8765",
        show_default="$MCPHUB_PUBLIC_URL or http://127.0.0.1:8765",
        help=help,
    )
