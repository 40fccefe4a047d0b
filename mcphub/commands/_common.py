"""What the tenancy commands share: opening the services, picking the user, tables and --json."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from mcphub.commands._options import data_dir_option, hub_url_option, json_option, user_option
from mcphub.runtime.errors import HubError
from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.services import Tenancy

__all__ = [
    "data_dir_option",
    "emit",
    "hub_url_option",
    "json_option",
    "open_tenancy",
    "resolve_user",
    "run",
    "table",
    "to_jsonable",
    "user_option",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def run(coro: Awaitable[T]) -> T:
    """Run one command's coroutine; our errors become a clean `Error: …` and exit status 1."""
    try:
        return asyncio.run(_as_coroutine(coro))
    except (HubError, ValueError) as exc:  # every runtime refusal derives from HubError
        raise click.ClickException(str(exc)) from exc


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


@asynccontextmanager
async def open_tenancy(data_dir: Path) -> AsyncIterator[Tenancy]:
    """The tenancy services for one command (migrates first, so a fresh install just works)."""
    tenancy = await Tenancy.open(data_dir)
    try:
        yield tenancy
    finally:
        await tenancy.aclose()


async def resolve_user(tenancy: Tenancy, email: str | None) -> UserInfo:
    """The user a command acts for: --user, else $MCPHUB_USER, else the operator (the first admin).

    Unless --user named them, a line on stderr says whose data the command shows (stdout stays clean
    for --json and pipes).
    """
    if email:
        return await _find_user(tenancy, email, "--user")
    configured = os.environ.get("MCPHUB_USER", "").strip()
    if configured:
        user = await _find_user(tenancy, configured, "MCPHUB_USER")
        click.echo(f"mcphub: as {user.email} (MCPHUB_USER; --user EMAIL for another user)", err=True)
        return user
    users = await tenancy.accounts.list_users()
    if not users:
        raise click.ClickException(
            "no users yet: start the hub once (`mcphub serve` creates the admin) or `mcphub users create EMAIL`"
        )
    user = next((u for u in users if u.is_admin), users[0])  # list_users is in creation order
    if len(users) > 1:
        click.echo(f"mcphub: as {user.email}, the operator (--user EMAIL or MCPHUB_USER for another user)", err=True)
    return user


async def _find_user(tenancy: Tenancy, email: str, source: str) -> UserInfo:
    user = await tenancy.accounts.find_user(email)
    if user is None:
        raise click.ClickException(f"no user {email} ({source}); `mcphub users list` shows them")
    return user


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(map(str, value)) or "-"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table sized to its contents."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def emit(as_json: bool, data: Any, headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "") -> None:
    if as_json:
        click.echo(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False))
    elif not rows and empty:
        click.echo(empty)
    else:
        click.echo(table(headers, rows))
