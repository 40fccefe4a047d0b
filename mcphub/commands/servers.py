"""`mcphub servers`: built integrations of a user — list, show, versions, deploy, rollback, share, delete.

They live in the hub's database (`mcphub build SOURCE --deploy` makes one); a deploy, rollback or delete here
reaches every running hub process on that database within about a second (Redis or the change feed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, resolve_user, run, user_option
from mcphub.runtime.tenancy.builds import BuiltInfo, VersionInfo

__all__ = ["servers"]

_HEADERS = ["slug", "name", "owner", "visibility", "deployed", "latest"]


def _row(info: BuiltInfo) -> list[Any]:
    return [info.slug, info.name, info.owner_email, info.visibility, info.deployed_version, info.latest_version]


def _version_row(version: VersionInfo) -> list[Any]:
    run = version.last_run
    return [
        version.number,
        version.status + (" (live)" if version.deployed else ""),
        version.created_at,
        len(version.tools or []) if version.tools is not None else None,
        (run.error[:60] if run and run.error else version.message[:60]) or None,
    ]


def _version_json(version: VersionInfo, *, spec: bool = False) -> dict[str, Any]:
    from mcphub.commands._common import to_jsonable

    data: dict[str, Any] = to_jsonable(version)
    if not spec:
        data.pop("spec_yaml", None)
    return data


@click.group()
def servers() -> None:
    """Built integrations: list, show, versions, deploy, rollback, share, delete."""


@servers.command("list")
@click.option("--all", "everyone", is_flag=True, help="Admins: every user's built integrations.")
@user_option
@data_dir_option
@json_option
def list_(everyone: bool, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """The user's built integrations and the shared ones."""
    from mcphub.servers import Servers

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            found = await Servers(tenancy).listing(user, everyone=everyone)
        emit(
            as_json,
            found,
            _HEADERS,
            [_row(i) for i in found],
            empty="no built integrations yet: mcphub build SOURCE --deploy",
        )

    run(go())


@servers.command("show")
@click.argument("slug")
@user_option
@data_dir_option
@json_option
def show(slug: str, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """One built integration: owner, visibility, the deployed version and its tools."""
    from mcphub.servers import Servers

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            service = Servers(tenancy)
            info = await service.get(user, slug)
            live = None
            if info.deployed_version is not None and (info.owner_id == user.id or user.is_admin):
                live = await service.version(user, slug, info.deployed_version)
        if as_json:
            emit(True, {"server": info, "deployed": None if live is None else _version_json(live)}, [], [])
            return
        click.echo(f"{info.slug}: {info.name}")
        click.echo(f"  owner       {info.owner_email} ({info.visibility})")
        click.echo(f"  versions    {info.latest_version}; deployed: {info.deployed_version or 'none'}")
        if live is not None:
            click.echo(f"  tools       {', '.join(live.tools or []) or '-'}")
        click.echo(f"  docs        /integrations/{info.slug}/docs")

    run(go())


@servers.command("versions")
@click.argument("slug")
@user_option
@data_dir_option
@json_option
def versions(slug: str, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Versions, newest first: status, when, tools, and why a build failed."""
    from mcphub.servers import Servers

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            found = await Servers(tenancy).versions(user, slug)
        emit(
            as_json,
            [_version_json(v) for v in found],
            ["version", "status", "created", "tools", "message"],
            [_version_row(v) for v in found],
        )

    run(go())


def _deploy(
    slug: str, version: int | None, user_email: str | None, data_dir: Path, as_json: bool, rollback: bool
) -> None:
    from mcphub.servers import BuildFailed, Servers

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            service = Servers(tenancy)
            try:
                if rollback:
                    assert version is not None
                    info = await service.rollback(user, slug, version)
                else:
                    info = await service.deploy(user, slug, version, progress=None if as_json else _print_stage)
            except BuildFailed as exc:
                raise click.ClickException(f"{exc}; the live version keeps serving") from None
            live = await service.version(user, slug, info.deployed_version)
        if as_json:
            emit(True, {"server": info, "deployed": _version_json(live)}, [], [])
            return
        click.echo(f"✓ {slug} version {info.deployed_version} is live: {', '.join(live.tools or [])}")

    run(go())


def _print_stage(stage: dict[str, Any]) -> None:
    log = f"  {stage['log'][:200]}" if stage.get("log") else ""
    click.echo(f"  {stage['stage']:<8} {stage['seconds']:6.2f}s {stage['status']}{log}", err=True)


@servers.command("deploy")
@click.argument("slug")
@click.option("--version", "version", type=int, help="The version to make live (default: the latest).")
@user_option
@data_dir_option
@json_option
def deploy(slug: str, version: int | None, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Build a version if needed and make it live on every hub process (a failing build changes nothing)."""
    _deploy(slug, version, user_email, data_dir, as_json, rollback=False)


@servers.command("rollback")
@click.argument("slug")
@click.argument("version", type=int)
@user_option
@data_dir_option
@json_option
def rollback(slug: str, version: int, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Make an earlier, already built version live again."""
    _deploy(slug, version, user_email, data_dir, as_json, rollback=True)


@servers.command("share")
@click.argument("slug")
@click.option("--private", "private", is_flag=True, help="Make it private to its owner again.")
@user_option
@data_dir_option
@json_option
def share(slug: str, private: bool, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Admins: put a built integration in every user's catalog (each user enables it)."""
    from mcphub.servers import Servers

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            info = await Servers(tenancy).share(user, slug, not private)
        emit(as_json, {"server": info}, _HEADERS, [_row(info)])

    run(go())


@servers.command("delete")
@click.argument("slug")
@user_option
@data_dir_option
@json_option
def delete(slug: str, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Delete a built integration with its versions; every hub process unmounts it."""
    from mcphub.servers import Servers

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            await Servers(tenancy).delete(user, slug)
        if as_json:
            emit(True, {"deleted": slug}, [], [])
        else:
            click.echo(f"{slug}: deleted")

    run(go())
