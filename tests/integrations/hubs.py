"""Helpers for end-to-end tests of one built-in integration: recompile its spec against a local stand-in, serve the hub.

The spec is the shipped one with only its endpoint (and egress policy) changed, so what runs is what users get.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import yaml
from mcp.client import Client
from runtime.support import mcp_client, open_tenancy, provision, serve

from mcphub.app import Settings, create_app
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, compile_target
from mcphub.compiler.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
ADMIN_TOKEN = "integration-admin-token"
PASSWORD = "correct horse battery staple"  # what runtime.support.make_account gives every user
POSTGRES = "postgresql://postgres@127.0.0.1:5432"  # the real server the suite runs against


def compile_local(slug: str, folder: Path, catalog: Path, **changes: Any) -> Integration:
    """Compile `specs/<slug>.yaml` with `changes` applied to its top-level keys (policy is merged) into `catalog`."""
    original = SPECS / f"{slug}.yaml"
    spec = load_spec(original)
    data = yaml.safe_load(original.read_text(encoding="utf-8"))
    policy = changes.pop("policy", None)
    own_source = "source" in changes
    data.update(changes)
    if policy is not None:
        data["policy"] = {**data.get("policy", {}), **policy}
    source_file = spec.source_file()
    if source_file is not None and spec.source.npm is None:
        data["source"] = {**data["source"], "path": str(source_file)}  # the copy lives in another folder
    if spec.source.supplement is not None and not own_source:
        data["source"] = {**data["source"], "supplement": str(original.parent / spec.source.supplement)}
    target = folder / f"{slug}.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    report = compile_target(Target(target, is_spec=True), catalog)
    assert report.error is None, report.error
    return Integration.from_manifest((catalog / slug / "manifest.json").read_bytes())


def local_endpoint(url: str, real: str) -> str:
    """`real` (e.g. https://api.linear.app/graphql) with its origin replaced by the stand-in's `url`."""
    return url.rstrip("/") + re.sub(r"^https?://[^/]+", "", real)


@dataclass(frozen=True)
class RunningHub:
    mcp: str  # the /mcp URL
    key: str  # the test user's API key

    def client(self, **options: Any) -> AbstractAsyncContextManager[Client]:
        """The official SDK client, authenticated with the test user's key."""
        return mcp_client(self.mcp, self.key, **options)


@contextmanager
def spec_hub(spec: Path, credentials: dict[str, dict[str, Any]]) -> Iterator[RunningHub]:
    """The real hub over one spec, compiled (every stage) into a catalog beside it; see `running_hub`."""
    catalog = spec.parent / "catalog"
    report = compile_target(Target(spec, is_spec=True), catalog)
    assert report.error is None, report.error
    with running_hub(catalog, credentials) as running:
        yield running


@contextmanager
def running_hub(catalog: Path, credentials: dict[str, dict[str, Any]]) -> Iterator[RunningHub]:
    """The real hub app over `catalog` for a user who enabled every package and stored `credentials` (slug -> fields).

    The user, key and credentials are made through the tenancy layer (credentials land in the vault), as a person
    does it in the dashboard.
    """
    data_dir = catalog.with_name(f"{catalog.name}-data")
    slugs = [path.name for path in catalog.iterdir() if (path / "manifest.json").exists()]
    [account] = provision(data_dir, ("agent@example.com", {"enable": slugs, "credentials": credentials}))
    settings = Settings(port=0, catalog_dirs=[catalog], admin_token=ADMIN_TOKEN, data_dir=data_dir)
    with serve(create_app(settings), health_path="/healthz") as base:
        yield RunningHub(f"{base}/mcp", account.key)


@contextmanager
def throwaway_database(seed: str) -> Iterator[str]:
    """A new PostgreSQL database on the real server, seeded with `seed` (SQL); yields its URI, then drops it."""
    name = f"mcphub_test_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(f"{POSTGRES}/postgres")
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def seed_it() -> None:
        connection = await asyncpg.connect(f"{POSTGRES}/{name}")
        try:
            await connection.execute(seed)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(seed_it())
        yield f"{POSTGRES}/{name}"
    finally:
        # FORCE: pools of a hub that just stopped may still hold idle connections.
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass(frozen=True)
class PostgresHub:
    hub: RunningHub
    dsn: str  # the throwaway database the user's credential points at


@contextmanager
def postgres_hub(seed: str, folder: Path) -> Iterator[PostgresHub]:
    """The shipped postgres spec served by the real hub over a throwaway database seeded with `seed`."""
    with throwaway_database(seed) as dsn:
        specs, catalog = folder / "specs", folder / "catalog"
        specs.mkdir()
        catalog.mkdir()
        # The database is on loopback: this hub's policy allows private addresses (the default refuses them).
        compile_local("postgres", specs, catalog, policy={"allow_private_network": True})
        with running_hub(catalog, {"postgres": {"token": dsn}}) as hub:
            yield PostgresHub(hub, dsn)


@asynccontextmanager
async def admin_browser(base: str, slug: str, client: dict[str, str]) -> AsyncIterator[httpx2.AsyncClient]:
    """The test user's browser on the hub, signed in; as the hub's first user (its admin) it sets `slug`'s OAuth
    client (`client`: client_id, client_secret, token_auth) as the dashboard does."""
    async with httpx2.AsyncClient(base_url=base) as browser:
        signed_in = await browser.post(
            "/api/v1/auth/sign-in", json={"email": "agent@example.com", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        browser.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
        configured = await browser.put(f"/api/v1/oauth-clients/{slug}", json=client)
        assert configured.status_code == 204, configured.text
        yield browser


async def stored_credential(data_dir: Path, slug: str) -> dict[str, Any]:
    """The fields the vault holds for the hub's one user and `slug` (what connecting stored)."""
    tenancy = await open_tenancy(data_dir)
    try:
        [user] = await tenancy.accounts.list_users()
        fields = await tenancy.credentials.fields(user.id, slug)
    finally:
        await tenancy.aclose()
    assert fields is not None
    return fields
