"""Per-user upstream credentials, sealed by the vault, and the `CredentialProvider` the hub calls.

The hub asks `provider.for_user(user_id).get(integration)` for the caller's credential (the user id
comes from the authenticated key: `KeyPrincipal.user_id`). `TenancyCredentialProvider.get(integration)`
also works where the caller's principal was bound to the context with `acting_as(principal)`.
A credential is only ever looked up by (user, slug): there is no query that returns another user's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from mcphub.compiler.ir import Integration
from mcphub.runtime.accounts import KeyPrincipal
from mcphub.runtime.credentials import Credential
from mcphub.runtime.enablement import UserIntegrations
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import Credential as CredentialRow
from mcphub.runtime.vault import Vault, credential_context

__all__ = [
    "SECRET_FIELDS",
    "CredentialError",
    "CredentialInfo",
    "CredentialStore",
    "TenancyCredentialProvider",
    "UserCredentialProvider",
    "acting_as",
    "current_principal",
    "to_credential",
]

# Fields a credential may carry. The ones in SECRET_FIELDS are redacted wherever they appear.
SECRET_FIELDS = frozenset({"token", "api_key", "password", "refresh_token", "client_secret"})
_PLAIN_FIELDS = frozenset({"username", "token_type", "expires_at", "scope"})
# Variable name -> value: the server variables of this credential, and for variables an OAuth scheme discovered, what
# each value is to a person (Atlassian: the site URL of the cloudId).
_MAPPING_FIELDS = frozenset({"server_variables", "server_variable_labels"})
_MIN_REDACTED = 4  # shorter values would redact ordinary words in logs and protect nothing

current_principal: ContextVar[KeyPrincipal | None] = ContextVar("mcphub_principal", default=None)


@contextlib.contextmanager
def acting_as(principal: KeyPrincipal) -> Iterator[None]:
    """Bind the caller's principal to the current context (for `TenancyCredentialProvider.get`)."""
    token = current_principal.set(principal)
    try:
        yield
    finally:
        current_principal.reset(token)


class CredentialError(ValueError):
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


class CredentialStore:
    """Set, read and delete one user's credential per integration (sealed with the row's owner as context)."""

    def __init__(self, db: Database, vault: Vault, integrations: UserIntegrations | None = None) -> None:
        self.db = db
        self.vault = vault
        self.integrations = integrations

    async def set(self, user_id: int, slug: str, fields: Mapping[str, Any], *, scheme: str | None = None) -> None:
        """Store (or replace) a user's credential for an integration."""
        clean = _validate(fields)
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
        if self.integrations is not None:
            await self.integrations.changed(user_id)

    async def delete(self, user_id: int, slug: str) -> bool:
        """Forget a user's credential for an integration; False if there was none."""
        async with self.db.session() as session:
            result = await session.execute(
                delete(CredentialRow).where(CredentialRow.user_id == user_id, CredentialRow.slug == slug)
            )
        deleted = bool(result.rowcount)  # type: ignore[attr-defined]
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
        row = await self._row(user_id, slug)
        if row is None:
            return None
        value: dict[str, Any] = self.vault.open_json(row.sealed, credential_context(user_id, slug))
        return value

    async def credential(self, user_id: int, slug: str) -> Credential | None:
        row = await self._row(user_id, slug)
        if row is None:
            return None
        return to_credential(self.vault.open_json(row.sealed, credential_context(user_id, slug)), row.scheme)

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
    """A `CredentialProvider` over the vault and store, for whichever user the call is made by.

    With `refresh` (e.g. `UpstreamOAuth.credential`) OAuth access tokens about to expire are refreshed first.
    """

    def __init__(self, store: CredentialStore, refresh: CredentialSource | None = None) -> None:
        self.store = store
        self._source: CredentialSource = refresh or self._stored

    async def _stored(self, user_id: int, integration: Integration) -> Credential | None:
        return await self.store.credential(user_id, integration.slug)

    def for_user(self, user_id: int) -> UserCredentialProvider:
        return UserCredentialProvider(self._source, user_id)

    async def get(self, integration: Integration) -> Credential | None:
        """The credential of the principal bound with `acting_as` (None when no principal is bound)."""
        principal = current_principal.get()
        if principal is None:
            return None
        return await self._source(principal.user_id, integration)

    async def fields(self, user_id: int, slug: str) -> dict[str, Any] | None:
        return await self.store.fields(user_id, slug)
