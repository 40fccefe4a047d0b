"""Built integrations as data: who owns each, who sees it, its sources, versions, build runs and deployed package.

This is the store and the live view every replica shares; building happens above the runtime (`mcphub/servers/`,
which compiles, scans and tests, then calls `finish_run` with the package and `deploy`). The runtime only loads
what is stored: `sync()` reads the deployed version of every built integration from the database, writes each
package (a zip of manifest.json, server.py, README.md, __init__.py) once into a content-addressed folder
`<data dir>/packages/<slug>-<sha>/`, and `package_dirs()` hands those folders to the catalog, which mounts them
like any compiled package (same sandbox: the package's own policy, allowed hosts, methods, rate limit, timeout).

Changes (a deploy, a rollback, a delete, a share) reach every process through the same fan-out as enablement:
Redis pub/sub when configured, else the database's change feed. A process that makes the change runs its own
listeners first (the hub: sync + reload, so the owner's clients hear `list_changed` before the answer), then
tells the others.

Visibility: a private integration is seen and called by its owner only; `shared` (set by an admin) puts it in
every user's catalog, where each user enables it like a built-in one.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from mcphub.runtime.errors import HubError
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import BuildRun, BuildSource, BuildVersion, BuiltIntegration, User
from mcphub.runtime.tenancy.fanout import ChangeFeed, Fanout

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "PACKAGE_FILES",
    "BuildConflict",
    "BuildNotFound",
    "Builds",
    "BuiltInfo",
    "Deployed",
    "RunInfo",
    "SourceInfo",
    "VersionInfo",
    "pack",
    "unpack",
]

logger = logging.getLogger(__name__)

PACKAGE_FILES = ("manifest.json", "server.py", "README.md", "__init__.py")
Visibility = Literal["private", "shared"]
ChangeListener = Callable[[], Awaitable[None]]
_MAX_PACKAGE_BYTES = 64 * 1024 * 1024


class BuildNotFound(HubError):
    """No such built integration, version or run (or not one this user may see)."""


class BuildConflict(HubError):
    """The slug is taken, or the request contradicts the integration's state."""


@dataclass(frozen=True, slots=True)
class BuiltInfo:
    id: int
    slug: str
    name: str
    owner_id: int
    owner_email: str
    visibility: Visibility
    shared_by: int | None
    deployed_version: int | None
    deployed_at: datetime | None
    latest_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: int
    kind: str
    provenance: str
    filename: str
    sha256: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    version: int
    status: str  # running | ok | failed
    stages: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    test_report: dict[str, Any] | None
    lint: dict[str, Any] | None
    error: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class VersionInfo:
    number: int
    status: str  # draft | building | built | failed
    source_id: int
    spec_yaml: str
    author_id: int | None
    message: str
    tools: list[str] | None
    package_sha256: str | None
    created_at: datetime
    deployed: bool = False
    last_run: RunInfo | None = None


@dataclass(frozen=True, slots=True)
class Deployed:
    """One live built integration as a replica mounts it."""

    slug: str
    owner_id: int
    visibility: Visibility
    version: int
    sha256: str
    directory: Path


def pack(directory: Path) -> bytes:
    """A compiled package folder as a zip (deterministic: fixed order and times)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in PACKAGE_FILES:
            path = directory / name
            if path.is_file():
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def unpack(data: bytes, directory: Path) -> None:
    """Write a packed package into `directory` (only the package's own file names; nothing else is extracted)."""
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in PACKAGE_FILES:
            try:
                content = archive.read(name)
            except KeyError:
                continue
            (directory / name).write_bytes(content)


def _run_info(run: BuildRun, number: int) -> RunInfo:
    return RunInfo(
        id=run.id,
        version=number,
        status=run.status,
        stages=list(run.stages or []),
        findings=list(run.findings or []),
        test_report=run.test_report,
        lint=run.lint,
        error=run.error,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


@dataclass
class _Live:
    deployed: dict[str, Deployed] = field(default_factory=dict)


class Builds:
    """The store of built integrations and the live view of the deployed ones (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        *,
        redis: Redis | None = None,
        namespace: str = "mcphub",
        feed: ChangeFeed | None = None,
    ) -> None:
        self.db = db
        self.packages_dir = data_dir / "packages"
        self._listeners: list[ChangeListener] = []
        self._live = _Live()
        self._sync_lock = asyncio.Lock()
        self._fanout = Fanout(redis, f"{namespace}:builds:changed", self._heard, feed=feed)

    async def start(self) -> None:
        await self._fanout.start()

    async def aclose(self) -> None:
        await self._fanout.aclose()

    # --- the live view ----------------------------------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> None:
        """Run `listener()` after any process deployed, rolled back, deleted or shared a built integration."""
        self._listeners.append(listener)

    async def _heard(self, message: str) -> None:
        for listener in self._listeners:
            try:
                await listener()
            except Exception:
                logger.exception("built integration change listener failed (%s)", message)

    async def changed(self, slug: str) -> None:
        """Run this process's listeners now (so the caller's answer comes after the swap), then tell the others."""
        if self._fanout.redis is not None:  # without Redis, publish runs them first itself
            await self._heard(slug)  # our own echo from Redis then reloads nothing new
        try:
            await self._fanout.publish(slug)
        except Exception:  # the change is saved: other processes pick it up at their next sync
            logger.exception("could not tell other processes that %s changed", slug)

    def package_dirs(self) -> list[Path]:
        """The folders of the deployed packages, as of the last `sync()` (the catalog scans these)."""
        return [live.directory for live in self._live.deployed.values()]

    def deployed(self) -> dict[str, Deployed]:
        return dict(self._live.deployed)

    def may_see(self, user_id: int, slug: str) -> bool:
        """False only for a live built integration that is private to someone else."""
        live = self._live.deployed.get(slug)
        return live is None or live.visibility == "shared" or live.owner_id == user_id

    async def sync(self) -> dict[str, Deployed]:
        """Read which version of every built integration is deployed; write packages not yet on this machine."""
        async with self._sync_lock:
            return await self._sync()

    async def _sync(self) -> dict[str, Deployed]:
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(
                        BuiltIntegration.slug,
                        BuiltIntegration.owner_id,
                        BuiltIntegration.visibility,
                        BuildVersion.number,
                        BuildVersion.package_sha256,
                        BuildVersion.id,
                    )
                    .join(
                        BuildVersion,
                        (BuildVersion.integration_id == BuiltIntegration.id)
                        & (BuildVersion.number == BuiltIntegration.deployed_version),
                    )
                    .where(BuildVersion.package_sha256.is_not(None))
                )
            ).all()
        deployed: dict[str, Deployed] = {}
        for slug, owner_id, visibility, number, sha, version_id in rows:
            sha = str(sha)
            directory = self.packages_dir / f"{slug}-{sha[:16]}"
            if not (directory / "manifest.json").is_file():
                async with self.db.session() as session:
                    data = await session.scalar(select(BuildVersion.package).where(BuildVersion.id == version_id))
                if data is None:
                    continue
                _materialize(data, directory)
            deployed[slug] = Deployed(
                slug, owner_id, "shared" if visibility == "shared" else "private", number, sha, directory
            )
        self._live.deployed = deployed
        self._prune(deployed.values())
        return deployed

    def _prune(self, kept: Iterable[Deployed]) -> None:
        """Remove package folders of this machine no longer deployed (old ones may still serve a call: 1 h)."""
        if not self.packages_dir.is_dir():
            return
        keep = {live.directory.name for live in kept}
        horizon = utcnow().timestamp() - 3600
        for child in self.packages_dir.iterdir():
            if child.is_dir() and child.name not in keep and not child.name.startswith("."):
                try:
                    if child.stat().st_mtime < horizon:
                        shutil.rmtree(child, ignore_errors=True)
                except OSError:
                    continue

    # --- integrations -----------------------------------------------------------------------------------

    async def create(self, owner_id: int, slug: str, name: str) -> BuiltInfo:
        now = utcnow()
        try:
            async with self.db.session() as session:
                session.add(
                    BuiltIntegration(
                        slug=slug,
                        owner_id=owner_id,
                        name=name,
                        visibility="private",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise BuildConflict(f"the slug {slug!r} is taken: choose another one") from None
        return await self.get(slug)

    async def get(self, slug: str) -> BuiltInfo:
        found = await self._infos(BuiltIntegration.slug == slug)
        if not found:
            raise BuildNotFound(f"no built integration {slug!r}")
        return found[0]

    async def find(self, slug: str) -> BuiltInfo | None:
        found = await self._infos(BuiltIntegration.slug == slug)
        return found[0] if found else None

    async def listing(self, user_id: int | None = None) -> list[BuiltInfo]:
        """Every built integration (None), or those `user_id` owns plus the shared ones."""
        if user_id is None:
            return await self._infos(None)
        return await self._infos((BuiltIntegration.owner_id == user_id) | (BuiltIntegration.visibility == "shared"))

    async def _infos(self, where: Any) -> list[BuiltInfo]:
        latest = (
            select(BuildVersion.integration_id, func.max(BuildVersion.number).label("latest"))
            .group_by(BuildVersion.integration_id)
            .subquery()
        )
        query = (
            select(BuiltIntegration, User.email, latest.c.latest)
            .join(User, User.id == BuiltIntegration.owner_id)
            .outerjoin(latest, latest.c.integration_id == BuiltIntegration.id)
            .order_by(BuiltIntegration.slug)
        )
        if where is not None:
            query = query.where(where)
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return [
            BuiltInfo(
                id=row.id,
                slug=row.slug,
                name=row.name,
                owner_id=row.owner_id,
                owner_email=email,
                visibility="shared" if row.visibility == "shared" else "private",
                shared_by=row.shared_by,
                deployed_version=row.deployed_version,
                deployed_at=row.deployed_at,
                latest_version=int(number or 0),
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row, email, number in rows
        ]

    async def rename(self, slug: str, name: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(BuiltIntegration).where(BuiltIntegration.slug == slug).values(name=name, updated_at=utcnow())
            )

    async def set_visibility(self, slug: str, visibility: Visibility, by: int | None) -> BuiltInfo:
        info = await self.get(slug)
        async with self.db.session() as session:
            await session.execute(
                update(BuiltIntegration)
                .where(BuiltIntegration.id == info.id)
                .values(visibility=visibility, shared_by=by if visibility == "shared" else None, updated_at=utcnow())
            )
        if info.deployed_version is not None:
            await self.changed(slug)
        return await self.get(slug)

    async def set_deployed(self, slug: str, number: int | None) -> BuiltInfo:
        """Make `number` the live version (None: take it down), then tell every process."""
        info = await self.get(slug)
        async with self.db.session() as session:
            if number is not None:
                version = await self._version_row(session, info.id, number)
                if version.package is None:
                    raise BuildConflict(f"{slug} version {number} has no package: build it first")
            await session.execute(
                update(BuiltIntegration)
                .where(BuiltIntegration.id == info.id)
                .values(deployed_version=number, deployed_at=utcnow() if number else None, updated_at=utcnow())
            )
        await self.changed(slug)
        return await self.get(slug)

    async def delete(self, slug: str) -> None:
        info = await self.get(slug)
        async with self.db.session() as session:
            # Children first: SQLite enforces the foreign keys only when told to, so do not rely on the cascade.
            versions = select(BuildVersion.id).where(BuildVersion.integration_id == info.id)
            await session.execute(delete(BuildRun).where(BuildRun.version_id.in_(versions)))
            await session.execute(delete(BuildVersion).where(BuildVersion.integration_id == info.id))
            await session.execute(delete(BuildSource).where(BuildSource.integration_id == info.id))
            await session.execute(delete(BuiltIntegration).where(BuiltIntegration.id == info.id))
        await self.changed(slug)

    # --- sources ----------------------------------------------------------------------------------------

    async def add_source(
        self, slug: str, *, kind: str, provenance: str, filename: str, data: bytes, pinned: bytes
    ) -> SourceInfo:
        info = await self.get(slug)
        now = utcnow()
        async with self.db.session() as session:
            row = BuildSource(
                integration_id=info.id,
                kind=kind,
                provenance=provenance[:2000],
                filename=filename[:300],
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
                pinned=pinned,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return SourceInfo(row.id, kind, row.provenance, row.filename, row.sha256, len(data), now)

    async def source(self, slug: str, source_id: int | None = None) -> tuple[SourceInfo, bytes, bytes]:
        """A source's info, its bytes as received, and the zip of the files pinned beside the spec."""
        info = await self.get(slug)
        query = select(BuildSource).where(BuildSource.integration_id == info.id)
        if source_id is not None:
            query = query.where(BuildSource.id == source_id)
        async with self.db.session() as session:
            row = await session.scalar(query.order_by(BuildSource.id.desc()).limit(1))
        if row is None:
            raise BuildNotFound(f"{slug} has no source {source_id or ''}".strip())
        return (
            SourceInfo(row.id, row.kind, row.provenance, row.filename, row.sha256, len(row.data), row.created_at),
            row.data,
            row.pinned,
        )

    # --- versions ---------------------------------------------------------------------------------------

    async def add_version(
        self, slug: str, spec_yaml: str, *, author_id: int | None, message: str, source_id: int | None = None
    ) -> VersionInfo:
        info = await self.get(slug)
        if source_id is None:
            source_id = (await self.source(slug))[0].id
        for _ in range(5):  # two writers may race for the next number: the unique constraint decides
            try:
                async with self.db.session() as session:
                    latest = await session.scalar(
                        select(func.max(BuildVersion.number)).where(BuildVersion.integration_id == info.id)
                    )
                    row = BuildVersion(
                        integration_id=info.id,
                        number=int(latest or 0) + 1,
                        source_id=source_id,
                        spec_yaml=spec_yaml,
                        author_id=author_id,
                        message=message[:5000],
                        status="draft",
                        created_at=utcnow(),
                    )
                    session.add(row)
                    await session.flush()
                    number = row.number
                break
            except IntegrityError:
                continue
        else:
            raise BuildConflict(f"could not add a version to {slug}: retry")
        return await self.version(slug, number)

    async def _version_row(self, session: Any, integration_id: int, number: int) -> BuildVersion:
        row: BuildVersion | None = await session.scalar(
            select(BuildVersion).where(BuildVersion.integration_id == integration_id, BuildVersion.number == number)
        )
        if row is None:
            raise BuildNotFound(f"no version {number}")
        return row

    async def version(self, slug: str, number: int | None = None) -> VersionInfo:
        """One version (None: the latest), with its last build run."""
        info = await self.get(slug)
        number = number if number is not None else info.latest_version
        async with self.db.session() as session:
            try:
                row = await self._version_row(session, info.id, number)
            except BuildNotFound:
                raise BuildNotFound(f"{slug} has no version {number}") from None
            run = await session.scalar(
                select(BuildRun).where(BuildRun.version_id == row.id).order_by(BuildRun.id.desc()).limit(1)
            )
            return self._version_info(row, run, info)

    @staticmethod
    def _version_info(row: BuildVersion, run: BuildRun | None, info: BuiltInfo) -> VersionInfo:
        return VersionInfo(
            number=row.number,
            status=row.status,
            source_id=row.source_id,
            spec_yaml=row.spec_yaml,
            author_id=row.author_id,
            message=row.message,
            tools=row.tools,
            package_sha256=row.package_sha256,
            created_at=row.created_at,
            deployed=info.deployed_version == row.number,
            last_run=_run_info(run, row.number) if run is not None else None,
        )

    async def versions(self, slug: str) -> list[VersionInfo]:
        """Every version, newest first, each with its last build run."""
        info = await self.get(slug)
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(BuildVersion)
                    .where(BuildVersion.integration_id == info.id)
                    .order_by(BuildVersion.number.desc())
                )
            ).all()
            runs: dict[int, BuildRun] = {}
            if rows:
                for run in (
                    await session.scalars(
                        select(BuildRun).where(BuildRun.version_id.in_([row.id for row in rows])).order_by(BuildRun.id)
                    )
                ).all():
                    runs[run.version_id] = run  # the last one wins
            return [self._version_info(row, runs.get(row.id), info) for row in rows]

    async def manifests(self, user_id: int) -> dict[str, bytes]:
        """The manifest.json of every deployed built integration `user_id` may see (own or shared), by slug."""
        manifests: dict[str, bytes] = {}
        for info in await self.listing(user_id):
            if info.deployed_version is None:
                continue
            data = await self.package(info.slug, info.deployed_version)
            if data is not None:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    manifests[info.slug] = archive.read("manifest.json")
        return manifests

    async def package(self, slug: str, number: int) -> bytes | None:
        info = await self.get(slug)
        async with self.db.session() as session:
            return (await self._version_row(session, info.id, number)).package

    # --- build runs -------------------------------------------------------------------------------------

    async def start_run(self, slug: str, number: int) -> int:
        info = await self.get(slug)
        async with self.db.session() as session:
            version = await self._version_row(session, info.id, number)
            version.status = "building"
            run = BuildRun(version_id=version.id, status="running", stages=[], findings=[], started_at=utcnow())
            session.add(run)
            await session.flush()
            return run.id

    async def finish_run(
        self,
        run_id: int,
        *,
        ok: bool,
        stages: list[dict[str, Any]],
        findings: list[dict[str, Any]],
        test_report: dict[str, Any] | None,
        lint: dict[str, Any] | None,
        error: str = "",
        package: bytes | None = None,
        tools: list[str] | None = None,
    ) -> RunInfo:
        if package is not None and len(package) > _MAX_PACKAGE_BYTES:
            ok, error, package = False, f"the package is larger than {_MAX_PACKAGE_BYTES >> 20} MB", None
        async with self.db.session() as session:
            run = await session.get(BuildRun, run_id)
            if run is None:
                raise BuildNotFound(f"no build run {run_id}")
            version = await session.get(BuildVersion, run.version_id)
            assert version is not None
            run.status = "ok" if ok else "failed"
            run.stages, run.findings, run.test_report, run.lint = stages, findings, test_report, lint
            run.error = error
            run.finished_at = utcnow()
            version.status = "built" if ok else "failed"
            if ok and package is not None:
                version.package = package
                version.package_sha256 = hashlib.sha256(package).hexdigest()
                version.tools = tools
            return _run_info(run, version.number)

    async def update_run(self, run_id: int, stages: list[dict[str, Any]]) -> None:
        """The stages so far of a running build (what another process streams)."""
        async with self.db.session() as session:
            await session.execute(update(BuildRun).where(BuildRun.id == run_id).values(stages=stages))

    async def run(self, slug: str, run_id: int) -> RunInfo:
        info = await self.get(slug)
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(BuildRun, BuildVersion.number)
                    .join(BuildVersion, BuildVersion.id == BuildRun.version_id)
                    .where(BuildRun.id == run_id, BuildVersion.integration_id == info.id)
                )
            ).first()
        if row is None:
            raise BuildNotFound(f"{slug} has no build run {run_id}")
        return _run_info(row[0], row[1])


def _materialize(data: bytes, directory: Path) -> None:
    """Unpack into a scratch folder beside `directory`, then rename it into place (atomic; a racing process
    writing the same content loses the rename harmlessly)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=directory.parent))
    try:
        unpack(data, scratch)
        try:
            os.replace(scratch, directory)
        except OSError:
            if not (directory / "manifest.json").is_file():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
