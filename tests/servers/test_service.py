"""The rules of `mcphub.servers.Servers` for untrusted users, and the store under it (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime.support import open_tenancy, serve
from tenancy.conftest import REDIS_URL

from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.builds import BuildConflict, BuildNotFound, pack, unpack
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.servers import Forbidden, InvalidInput, Review, ReviewTool, Servers, SourceInput
from servers.standin import shop_openapi

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def tenancy(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Tenancy]:
    monkeypatch.delenv("MCPHUB_BUILDS_PRIVATE_NETWORK", raising=False)
    opened = await open_tenancy(tmp_path / "data", db_url)
    try:
        yield opened
    finally:
        await opened.aclose()


async def _users(tenancy: Tenancy) -> tuple[UserInfo, UserInfo, UserInfo]:
    admin = await tenancy.accounts.create_user("admin@example.com", PASSWORD)
    ada = await tenancy.accounts.create_user("ada@example.com", PASSWORD)
    bob = await tenancy.accounts.create_user("bob@example.com", PASSWORD)
    return admin, ada, bob


def _upload(base_url: str = "https://shop.example") -> SourceInput:
    return SourceInput("file", data=json.dumps(shop_openapi(base_url)).encode(), filename="shop.json")


async def test_a_users_integration_is_theirs_and_untrusted_specs_are_refused(tenancy: Tenancy) -> None:
    admin, ada, bob = await _users(tenancy)
    servers = Servers(tenancy, taken=lambda: ["github"])
    with pytest.raises(BuildConflict, match="catalog"):
        await servers.create(ada, _upload(), slug="github")
    with pytest.raises(InvalidInput, match="cannot be a slug"):
        await servers.create(ada, _upload(), slug="Shop!")
    with pytest.raises(Forbidden, match="private addresses"):
        await servers.create(ada, _upload(), slug="shop", allow_private=True)
    created = await servers.create(ada, _upload(), slug="shop")
    assert (created.info.owner_id, created.info.visibility, created.version.number) == (ada.id, "private", 1)
    with pytest.raises(BuildConflict, match="taken"):
        await servers.create(bob, _upload(), slug="shop")

    # Someone else's private integration does not exist for them; an admin may manage it.
    with pytest.raises(BuildNotFound):
        await servers.get(bob, "shop")
    with pytest.raises(BuildNotFound):
        await servers.deploy(bob, "shop")
    assert [info.slug for info in await servers.listing(bob)] == []
    assert (await servers.get(admin, "shop")).owner_email == "ada@example.com"
    with pytest.raises(Forbidden, match="admins"):
        await servers.share(ada, "shop", True)

    # A spec may only read its pinned source, keeps its slug, and reaches private addresses only for admins.
    spec = yaml.safe_load(created.version.spec_yaml)
    refused = {
        "the source's path": {**spec, "source": {"kind": "openapi", "path": "/etc/passwd"}},
        "a command": {**spec, "source": {"kind": "mcp", "command": ["sh", "-c", "id"]}},
        "a URL": {
            **spec,
            "source": {"kind": "openapi", "url": "http://169.254.169.254/", "path": spec["source"]["path"]},
        },
        "another slug": {**spec, "slug": "other"},
        "private addresses": {**spec, "policy": {"allow_private_network": True}},
    }
    for what, bad in refused.items():
        with pytest.raises(InvalidInput):
            await servers.save_spec(ada, "shop", yaml.safe_dump(bad), what)
    with pytest.raises(InvalidInput, match="line"):
        await servers.save_spec(ada, "shop", "slug: shop\nname: [unclosed\n")
    assert (await servers.version(ada, "shop")).number == 1  # nothing refused was stored

    # The review: unknown operations are named; the draft lists every operation with the choices made.
    with pytest.raises(InvalidInput, match="no_such_op"):
        await servers.review(ada, "shop", Review(tools=[ReviewTool("no_such_op")]))
    reviewed = await servers.review(
        ada,
        "shop",
        Review(
            tools=[ReviewTool("get_item", name="read_item"), ReviewTool("delete_item")],
            auth=[{"type": "api_key", "in": "header", "name": "X-Shop-Key", "label": "Shop key"}],
            policy={"rate_limit": "10/min"},
        ),
    )
    draft = await servers.draft(ada, "shop", reviewed.number)
    assert [(a["type"], a["location"], a["param_name"]) for a in draft.auth] == [("api_key", "header", "X-Shop-Key")]
    assert draft.policy["rate_limit"] == "10/min"
    chosen = {op.operation: (op.selected, op.name) for op in draft.operations}
    assert chosen == {
        "list_items": (False, "list_items"),
        "create_item": (False, "create_item"),
        "get_item": (True, "read_item"),
        "delete_item": (True, "delete_item"),  # ticked by the person: on, destructive or not
    }
    assert [op.destructive for op in draft.operations if op.operation == "delete_item"] == [True]

    await servers.delete(ada, "shop")
    with pytest.raises(BuildNotFound):
        await servers.get(ada, "shop")


async def test_a_build_stores_its_package_and_a_rollback_needs_a_built_version(tenancy: Tenancy) -> None:
    _admin, ada, _bob = await _users(tenancy)
    servers = Servers(tenancy)
    await servers.create(ada, _upload(), slug="shop")
    with pytest.raises(BuildConflict, match="never built"):
        await servers.rollback(ada, "shop", 1)
    seen: list[str] = []
    run = await servers.build(ada, "shop", progress=lambda stage: seen.append(stage["stage"]))
    assert run.status == "ok" and run.error == "" and run.findings == []
    assert seen[:2] == ["check", "parse"] and {"codegen", "scan"} <= set(seen)
    assert run.lint is not None and 0 < run.lint["score"] <= 100
    version = await servers.version(ada, "shop", 1)
    assert version.status == "built" and set(version.tools or []) == {"list_items", "create_item", "get_item"}
    deployed = await servers.deploy(ada, "shop", 1)  # already built: nothing compiled again
    assert deployed.deployed_version == 1
    live = (await tenancy.builds.sync())["shop"]
    assert (live.owner_id, live.version, live.visibility) == (ada.id, 1, "private")
    assert (live.directory / "manifest.json").is_file() and (live.directory / "server.py").is_file()
    assert tenancy.builds.may_see(ada.id, "shop") and not tenancy.builds.may_see(_bob.id, "shop")
    readme = await servers.readme(ada, "shop")
    assert readme is not None and "shop__get_item" in readme
    assert await servers.readme(_bob, "shop") is None
    assert (await tenancy.integrations.states(ada.id))["shop"].enabled  # deploying turns it on for the owner
    assert list(await tenancy.builds.manifests(ada.id)) == ["shop"] and await tenancy.builds.manifests(_bob.id) == {}


def test_a_package_round_trips_through_its_archive_and_nothing_else_is_extracted(tmp_path: Path) -> None:
    source = tmp_path / "pkg"
    source.mkdir()
    for name in ("manifest.json", "server.py", "README.md", "__init__.py", "stray.txt"):
        (source / name).write_text(name)
    data = pack(source)
    assert data == pack(source)  # deterministic
    unpack(data, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "README.md",
        "__init__.py",
        "manifest.json",
        "server.py",
    ]


async def test_a_url_source_is_fetched_under_the_egress_rules(
    tenancy: Tenancy, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, ada, _bob = await _users(tenancy)
    document = json.dumps(shop_openapi("https://shop.example")).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": document})

    servers = Servers(tenancy)
    with serve(app) as base:
        with pytest.raises(InvalidInput, match="private"):  # 127.0.0.1: refused to a user
            await servers.create(ada, SourceInput("url", url=f"{base}/openapi.json"), slug="shop")
        created = await servers.create(admin, SourceInput("url", url=f"{base}/openapi.json"), allow_private=True)
    assert created.info.slug == "shop" and created.stages[0]["stage"] == "fetch"
    source, data, _pinned = await tenancy.builds.source("shop")
    assert (source.provenance, data) == (f"{base}/openapi.json", document)
    # A git repository on the hub's machine (file://) is an admin's, and cloned only with private sources allowed;
    # no other kind of URL source reads a file:// URL.
    with pytest.raises(Forbidden, match="only admins may build from a file:// repository"):
        await servers.create(ada, SourceInput("url", url="file:///srv/repo.git", as_kind="repo"), slug="repo")
    monkeypatch.setenv("MCPHUB_BUILDS_PRIVATE_NETWORK", "1")  # every user may reach private addresses: still not
    with pytest.raises(Forbidden, match="only admins may build from a file:// repository"):
        await servers.create(
            ada, SourceInput("url", url="file:///srv/repo.git", as_kind="repo"), slug="repo", allow_private=True
        )
    monkeypatch.delenv("MCPHUB_BUILDS_PRIVATE_NETWORK")
    with pytest.raises(InvalidInput, match="local repositories can be cloned only when private sources are allowed"):
        await servers.create(admin, SourceInput("url", url="file:///srv/repo.git", as_kind="repo"), slug="repo")
    with pytest.raises(InvalidInput, match="is not an http"):
        await servers.create(ada, SourceInput("url", url="file:///etc/passwd", as_kind="docs"), slug="docs")


@pytest.mark.parametrize("through", ["change feed", "redis"])
async def test_a_change_reaches_the_other_processes(
    db_url: str, tmp_path: Path, through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Builds.changed` runs this process's listeners at once and the other processes' through Redis or the feed."""
    namespace = f"mcphub-test-{secrets.token_hex(6)}"
    redis_url = REDIS_URL if through == "redis" else ""
    one = await open_tenancy(tmp_path / "data", db_url, redis_url=redis_url, namespace=namespace)
    two = await open_tenancy(tmp_path / "data", db_url, redis_url=redis_url, namespace=namespace)
    heard: dict[str, asyncio.Event] = {"one": asyncio.Event(), "two": asyncio.Event()}

    def listener(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            heard[name].set()

        return run

    try:
        one.builds.subscribe(listener("one"))
        two.builds.subscribe(listener("two"))
        await one.builds.changed("shop")
        assert heard["one"].is_set()  # before `changed` returned
        await asyncio.wait_for(heard["two"].wait(), timeout=10)
    finally:
        await one.aclose()
        await two.aclose()
