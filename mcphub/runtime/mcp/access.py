"""The hub's one seam to tenancy: who sees which integrations, may call a tool, with which credential, and the record.

`Hub` serves every request through an `Access`. The app's is `TenancyAccess` (accounts, keys, enablement, policy,
the vault, usage), attached when the tenancy opens; a hub without one (embedding, in-process tests) runs on
`SingleUserAccess`: everything visible, every call allowed, the operator's credentials, nothing recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from mcphub.compiler.ir import Integration
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.tenancy.policy import NotConnected, NotEnabled
from mcphub.runtime.tenancy.usage import CallRecord, Status
from mcphub.runtime.upstream.credentials import Credential, CredentialProvider

if TYPE_CHECKING:
    from mcphub.runtime.tenancy.services import Tenancy

__all__ = ["Access", "SingleUserAccess", "TenancyAccess", "Visible"]

logger = logging.getLogger(__name__)

Visible = frozenset[str] | None  # slugs a caller may see; None: everything (single user)
_EXCERPT = 4000  # characters of a result kept for the call log (usage redacts, then cuts further)


class Access(Protocol):
    """What the hub asks before and after serving a caller (`principal`: the request's API key, if any)."""

    def admits(self, principal: KeyPrincipal | None) -> bool:
        """Whether a tool call may be served for this caller at all (False: an API key is required)."""
        ...

    def per_user(self, principal: KeyPrincipal | None) -> int | None:
        """The user whose own change notifications this caller gets, or None for the shared ones."""
        ...

    async def visible(self, principal: KeyPrincipal | None, integrations: Iterable[Integration]) -> Visible: ...

    async def check(self, principal: KeyPrincipal | None, integration: Integration, tool: str) -> None:
        """Raise `PolicyError` when this call may not run now (not enabled, out of scope, rate limited)."""
        ...

    async def credential(
        self, principal: KeyPrincipal | None, integration: Integration
    ) -> tuple[Credential | None, bool]:
        """The caller's credential, and whether it is the caller's own stored one (which `refresh` can renew)."""
        ...

    async def refresh(
        self, principal: KeyPrincipal | None, integration: Integration, failed: Credential
    ) -> Credential | None:
        """A renewed credential after the upstream refused `failed` (OAuth), or None."""
        ...

    def record(
        self,
        principal: KeyPrincipal | None,
        slug: str,
        tool: str,
        status: Status,
        seconds: float,
        arguments: Mapping[str, Any],
        output: ToolOutput,
    ) -> None:
        """Account for one call (no I/O: buffered)."""
        ...

    async def audience(self, slug: str, users: Iterable[int]) -> set[int] | None:
        """Which of `users` may hear that `slug`'s lists changed; None: everyone."""
        ...


class SingleUserAccess:
    """One operator, no accounts: everything visible and allowed, credentials from `credentials`, nothing recorded."""

    def __init__(self, credentials: CredentialProvider) -> None:
        self.credentials = credentials

    def admits(self, principal: KeyPrincipal | None) -> bool:
        return True

    def per_user(self, principal: KeyPrincipal | None) -> int | None:
        return None

    async def visible(self, principal: KeyPrincipal | None, integrations: Iterable[Integration]) -> Visible:
        return None

    async def check(self, principal: KeyPrincipal | None, integration: Integration, tool: str) -> None:
        return None

    async def credential(
        self, principal: KeyPrincipal | None, integration: Integration
    ) -> tuple[Credential | None, bool]:
        return await self.credentials.get(integration), False

    async def refresh(
        self, principal: KeyPrincipal | None, integration: Integration, failed: Credential
    ) -> Credential | None:
        return None

    def record(
        self,
        principal: KeyPrincipal | None,
        slug: str,
        tool: str,
        status: Status,
        seconds: float,
        arguments: Mapping[str, Any],
        output: ToolOutput,
    ) -> None:
        return None

    async def audience(self, slug: str, users: Iterable[int]) -> set[int] | None:
        return None


class TenancyAccess:
    """Accounts and keys: a caller is its key's user, limited by the key's scope, the user's integrations and policy.

    `operator` (MCPHUB_CRED_* by default) is a fallback credential for admin users only, after their own stored
    one; it never serves another user.
    """

    def __init__(self, tenancy: Tenancy, operator: CredentialProvider) -> None:
        self.tenancy = tenancy
        self.operator = operator

    def admits(self, principal: KeyPrincipal | None) -> bool:
        return principal is not None

    def per_user(self, principal: KeyPrincipal | None) -> int | None:
        return principal.user_id if principal is not None else None

    async def _fallback(self, principal: KeyPrincipal, integration: Integration) -> Credential | None:
        """The operator's credential (MCPHUB_CRED_*): admins only, never another user's fallback."""
        return await self.operator.get(integration) if principal.is_admin else None

    async def visible(self, principal: KeyPrincipal | None, integrations: Iterable[Integration]) -> Visible:
        """The slugs this caller may see: enabled and connected for the user and in the key's scope (and, for a
        built integration, the user's own or shared)."""
        if principal is None:
            return frozenset()
        tenancy = self.tenancy
        integrations = [i for i in integrations if tenancy.builds.may_see(principal.user_id, i.slug)]
        slugs = {integration.slug for integration in await tenancy.policy.visible(principal, integrations)}
        if principal.is_admin:
            states = await tenancy.integrations.states(principal.user_id)
            for integration in integrations:
                state = states.get(integration.slug)
                if (
                    integration.slug not in slugs
                    and state is not None
                    and state.enabled
                    and principal.allows(integration.slug)
                    and await self._fallback(principal, integration) is not None
                ):
                    slugs.add(integration.slug)
        return frozenset(slugs)

    async def check(self, principal: KeyPrincipal | None, integration: Integration, tool: str) -> None:
        assert principal is not None  # `admits` said so
        if not self.tenancy.builds.may_see(principal.user_id, integration.slug):
            # Someone else's private build: answered like an integration the caller has not enabled.
            raise NotEnabled(f"{integration.slug} is not enabled for your account")
        policy = self.tenancy.policy
        try:
            await policy.check(principal, integration, tool)
        except NotConnected:
            # An admin may run on the operator's MCPHUB_CRED_* credential instead of a stored one.
            if await self._fallback(principal, integration) is None:
                raise
            await policy.take(principal, integration)

    async def credential(
        self, principal: KeyPrincipal | None, integration: Integration
    ) -> tuple[Credential | None, bool]:
        """The user's stored credential (the vault's), else an admin's operator fallback; None without auth."""
        if principal is None or not integration.auth:
            return None, False
        credential = await self.tenancy.provider.for_user(principal.user_id).get(integration)
        if credential is not None:
            return credential, True
        return await self._fallback(principal, integration), False

    async def refresh(
        self, principal: KeyPrincipal | None, integration: Integration, failed: Credential
    ) -> Credential | None:
        if principal is None:
            return None
        return await self.tenancy.oauth.refresh(principal.user_id, integration, failed_token=failed.token)

    def record(
        self,
        principal: KeyPrincipal | None,
        slug: str,
        tool: str,
        status: Status,
        seconds: float,
        arguments: Mapping[str, Any],
        output: ToolOutput,
    ) -> None:
        if principal is None:
            return
        self.tenancy.usage.record(
            CallRecord(
                user_id=principal.user_id,
                key_id=principal.key_id,
                integration=slug,
                tool=tool,
                status=status,
                latency_ms=seconds * 1000,
                upstream_status=output.upstream_status,
                request_bytes=len(orjson.dumps(arguments, default=str)),
                response_bytes=len(output.text.encode()) + len(output.binary or b""),
                arguments=arguments,
                result=None if output.is_error else output.text[:_EXCERPT],
                error=output.text[:_EXCERPT] if output.is_error else None,
            )
        )

    async def audience(self, slug: str, users: Iterable[int]) -> set[int] | None:
        """Only the users who have the integration enabled: nobody learns of another user's integrations."""
        heard = set()
        for user_id in sorted(users):
            if not self.tenancy.builds.may_see(user_id, slug):  # a private build: its owner's list alone changes
                continue
            state = (await self.tenancy.integrations.states(user_id)).get(slug)
            if state is not None and state.enabled:
                heard.add(user_id)
        return heard
