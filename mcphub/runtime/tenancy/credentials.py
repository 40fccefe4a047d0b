"""Per-user upstream credentials, sealed by the vault, and the `CredentialProvider` the hub calls.

The hub asks `provider.for_user(user_id).get(integration)` for the caller's credential (the user id
comes from the authenticated key: `KeyPrincipal.user_id`).
A credential is only ever looked up by (user, slug): there is no query that returns another user's.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from mcphub.compiler.ir import Integration
from mcphub.runtime.errors import HubError
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import Credential as CredentialRow
from mcphub.runtime.tenancy.enablement import UserIntegrations
from mcphub.runtime.tenancy.vault import Vault, credential_context
from mcphub.runtime.upstream.credentials import Credential

__all__ = [
    "SECRET_FIELDS",
    "CredentialError",
    "CredentialInfo",
    "CredentialStore",
    "TenancyCredentialProvider",
    "UserCredentialProvider",
    "to_credential",
]

# Fields a credential may carry. The ones in SECRET_FIELDS are redacted wherever they appear.
SECRET_FIELDS = frozenset({"token", "api_key", "password", "refresh_token", "client_secret"})
_PLAIN_FIELDS = frozenset({"username", "token_type", "expires_at", "scope"})
# Variable name -> value: the server variables of this credential, and for variables an OAuth scheme discovered, what
# each value is to a person (Atlassian: the site URL of the cloudId).
_MAPPING_FIELDS = frozenset({"server_variables", "server_variable_labels"})
_MIN_REDACTED = 4  # shorter values would redact ordinary words in logs and protect nothing


class CredentialError(HubError, ValueError):
    """A credential that cannot be stored as given; the message names the field."""


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What may be shown about a stored credential: which fields are set, never their values."""

    slug: str
    scheme: str | None
    fields: list[str]
    updated_at: datetime


def _validate(fields: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _MAPPING_FIELDS:
            if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
                raise CredentialError(f"{name} must map variable names to strings")
            clean[name] = {str(k): v for k, v in value.items()}
        elif name in SECRET_FIELDS or name in _PLAIN_FIELDS:
            if value is None or value == "":
                continue
            if not isinstance(value, str | int | float):
                raise CredentialError(f"credential field {name} must be a string")
            clean[name] = value
        else:
            allowed = ", ".join(sorted(SECRET_FIELDS | _PLAIN_FIELDS | _MAPPING_FIELDS))
            raise CredentialError(f"unknown credential field {name!r}; use one of: {allowed}")
    if not (clean.keys() & (SECRET_FIELDS | {"username"})):
        raise CredentialError("a credential needs at least one of token, api_key, username/password")
    return clean


def to_credential(fields: Mapping[str, Any], scheme: str | None) -> Credential:
    """The runtime's `Credential` from stored fields."""

    def text(name: str) -> str | None:
        value = fields.get(name)
        return None if value is None else str(value)

    return Credential(
        token=text("token"),
        api_key=text("api_key"),
        username=text("username"),
        password=text("password"),
        scheme=scheme,
        server_variables=dict(fields.get("server_variables") or {}),
    )


_Opened = tuple[str | None, dict[str, Any]] | None  # (scheme, decrypted fields), or no credential stored


class CredentialStore:
    """Set, read and delete one user's credential per integration (sealed with the row's owner as context).

    Reads are cached per (user, integration) for `cache_ttl` seconds, because every tool call of an integration
    with auth reads its caller's credential (a database query and a decryption, twice for OAuth). The cache is
    dropped for a user whenever that user's integrations change on any process (setting or deleting a
    credential is such a change; see `UserIntegrations`), and not used while that fan-out is down.
    """

    def __init__(
        self, db: Database, vault: Vault, integrations: UserIntegrations | None = None, *, cache_ttl: float = 30.0
    ) -> None:
        self.db = db
        self.vault = vault
        self.integrations = integrations
        self.cache_ttl = cache_ttl if integrations is not None else 0.0
        self._cache: dict[tuple[int, str], tuple[float, _Opened]] = {}
        self._generation = 0
        if integrations is not None:
            integrations.subscribe(self._forget_user)

    async def _forget_user(self, user_id: int) -> None:
        self._generation += 1
        for key in [key for key in self._cache if key[0] == user_id]:
            del self._cache[key]

    def _forget(self, user_id: int, slug: str) -> None:
        self._generation += 1
        self._cache.pop((user_id, slug), None)

    async def _opened(self, user_id: int, slug: str) -> _Opened:
        """The scheme and decrypted fields of a stored credential (from the cache when it may be trusted)."""
        use_cache = self.cache_ttl > 0 and self.integrations is not None and self.integrations.cache_usable
        now = time.monotonic()
        cached = self._cache.get((user_id, slug)) if use_cache else None
        if cached is not None and now - cached[0] < self.cache_ttl:
            return cached[1]
        generation = self._generation
        row = await self._row(user_id, slug)
        opened: _Opened = None
        if row is not None:
            opened = (row.scheme, self.vault.open_json(row.sealed, credential_context(user_id, slug)))
        if use_cache and generation == self._generation:
            if len(self._cache) >= 10_000:
                self._cache.clear()
            self._cache[(user_id, slug)] = (now, opened)
        return opened

    async def set(self, user_id: int, slug: str, fields: Mapping[str, Any], *, scheme: str | None = None) -> None:
        """Store (or replace) a user's credential for an integration."""
        clean = _validate(fields)
        self._forget(user_id, slug)
        kid, sealed = self.vault.seal_json(clean, credential_context(user_id, slug))
        now = utcnow()
        async with self.db.session() as session:
            row = await session.scalar(
                select(CredentialRow).where(CredentialRow.user_id == user_id, CredentialRow.slug == slug)
            )
            if row is None:
                session.add(
                    CredentialRow(
                        user_id=user_id,
                        slug=slug,
                        scheme=scheme,
                        key_id=kid,
                        sealed=sealed,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.scheme, row.key_id, row.sealed, row.updated_at = scheme, kid, sealed, now
        self._forget(user_id, slug)  # again: a read that ran during the write must not be kept
        if self.integrations is not None:
            await self.integrations.changed(user_id)

    async def delete(self, user_id: int, slug: str) -> bool:
        """Forget a user's credential for an integration; False if there was none."""
        async with self.db.session() as session:
            result = await session.execute(
                delete(CredentialRow).where(CredentialRow.user_id == user_id, CredentialRow.slug == slug)
            )
        deleted = bool(result.rowcount)  # type: ignore[attr-defined]
        self._forget(user_id, slug)
        if deleted and self.integrations is not None:
            await self.integrations.changed(user_id)
        return deleted

    async def _row(self, user_id: int, slug: str) -> CredentialRow | None:
        async with self.db.session() as session:
            row: CredentialRow | None = await session.scalar(
                select(CredentialRow).where(CredentialRow.user_id == user_id, CredentialRow.slug == slug)
            )
            return row

    async def fields(self, user_id: int, slug: str) -> dict[str, Any] | None:
        """The decrypted fields of a user's credential for an integration, or None."""
        opened = await self._opened(user_id, slug)
        return copy.deepcopy(opened[1]) if opened is not None else None

    async def credential(self, user_id: int, slug: str) -> Credential | None:
        opened = await self._opened(user_id, slug)
        return to_credential(opened[1], opened[0]) if opened is not None else None

    async def infos(self, user_id: int) -> list[CredentialInfo]:
        """The user's stored credentials: integration, scheme and field names, never values."""
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(CredentialRow).where(CredentialRow.user_id == user_id).order_by(CredentialRow.slug)
                )
            ).all()
        infos = []
        for row in rows:
            fields = self.vault.open_json(row.sealed, credential_context(user_id, row.slug))
            infos.append(CredentialInfo(row.slug, row.scheme, sorted(fields), row.updated_at))
        return infos

    async def secret_values(self, user_id: int, slug: str | None = None) -> frozenset[str]:
        """The values to redact from this user's logs (one integration's, or all of the user's)."""
        async with self.db.session() as session:
            query = select(CredentialRow).where(CredentialRow.user_id == user_id)
            if slug is not None:
                query = query.where(CredentialRow.slug == slug)
            rows = (await session.scalars(query)).all()
        values = []
        for row in rows:
            fields = self.vault.open_json(row.sealed, credential_context(user_id, row.slug))
            for name in SECRET_FIELDS | {"username"}:
                value = fields.get(name)
                if isinstance(value, str) and len(value) >= _MIN_REDACTED:
                    values.append(value)
        return frozenset(values)


CredentialSource = Callable[[int, Integration], Awaitable[Credential | None]]


class UserCredentialProvider:
    """The `CredentialProvider` of one user: `get(integration)` returns that user's credential only."""

    def __init__(self, source: CredentialSource, user_id: int) -> None:
        self._source = source
        self.user_id = user_id

    async def get(self, integration: Integration) -> Credential | None:
        return await self._source(self.user_id, integration)


class TenancyCredentialProvider:
    """Credentials over the vault and store, per user (`for_user(user_id)` is a `CredentialProvider`).

    With `refresh` (e.g. `UpstreamOAuth.credential`) OAuth access tokens about to expire are refreshed first.
    """

    def __init__(self, store: CredentialStore, refresh: CredentialSource | None = None) -> None:
        self.store = store
        self._source: CredentialSource = refresh or self._stored

    async def _stored(self, user_id: int, integration: Integration) -> Credential | None:
        return await self.store.credential(user_id, integration.slug)

    def for_user(self, user_id: int) -> UserCredentialProvider:
        return UserCredentialProvider(self._source, user_id)

    async def fields(self, user_id: int, slug: str) -> dict[str, Any] | None:
        return await self.store.fields(user_id, slug)
