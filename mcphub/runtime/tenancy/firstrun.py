"""The first start of a hub, and what every new account starts with.

When the database has no users, `mcphub serve` creates `admin@localhost` with a random password and one
API key, enables every mounted integration that needs no credential (and those the operator configured
with MCPHUB_CRED_<SLUG>_*, which only admins may use), and prints the password, the key and the exact
client command once. Nothing secret is kept anywhere but in that output: the password and key are stored hashed.

Every account created later (`mcphub users create`, sign-up, the admin API) starts with the integrations
MCPHUB_NEW_USER_INTEGRATIONS names: `credential-free` (the default: every mounted integration that needs
no credential, such as `time`, so a new user has tools at once), `none`, or a comma-separated list of slugs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from mcphub.compiler.ir import Integration
from mcphub.runtime.tenancy.accounts import AccountError
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.upstream.credentials import CredentialProvider, EnvCredentialProvider

__all__ = ["ADMIN_EMAIL", "NEW_USER_INTEGRATIONS", "FirstRun", "bootstrap", "enable_for_new_user"]

ADMIN_EMAIL = "admin@localhost"
NEW_USER_INTEGRATIONS = "MCPHUB_NEW_USER_INTEGRATIONS"


@dataclass(frozen=True, slots=True)
class FirstRun:
    """What the first start created; `password` and `key` exist nowhere else."""

    email: str
    password: str
    key: str
    enabled: list[str]
    needs_credentials: list[str]

    def __repr__(self) -> str:  # never print the secrets by accident
        return f"FirstRun(email={self.email!r}, enabled={self.enabled!r})"

    def banner(self, mcp_url: str) -> str:
        """The once-only message `serve` prints."""
        rule = "=" * 78
        lines = [
            rule,
            "MCP Hub first run: created the admin account and its first API key.",
            "Both are shown ONCE and stored only as hashes: save them now.",
            "",
            f"  admin:     {self.email}",
            f"  password:  {self.password}",
            f"  API key:   {self.key}",
            "",
            "Connect Claude Code (paste as is):",
            f'  claude mcp add --transport http mcphub {mcp_url} --header "Authorization: Bearer {self.key}"',
            "",
            f"Enabled for {self.email}: {', '.join(self.enabled) or 'nothing (every integration needs a credential)'}",
        ]
        if self.needs_credentials:
            example = self.needs_credentials[0]
            lines.append(f"Need a credential first: {', '.join(self.needs_credentials)}")
            lines.append(f"  mcphub credentials set {example}      # prompts for the secret, stores it encrypted")
            lines.append(f"  mcphub integrations enable {example}")
            lines.append("  (run them in this directory; the running hub picks the change up within a second or so)")
        lines.append("More keys and users: mcphub keys create --name laptop; mcphub users create EMAIL")
        lines.append(rule)
        return "\n".join(lines)


async def bootstrap(
    tenancy: Tenancy, integrations: Iterable[Integration], *, operator: CredentialProvider | None = None
) -> FirstRun | None:
    """Create the admin and a first key when the hub has no users; None when it already has some."""
    if await tenancy.accounts.list_users():
        return None
    password = secrets.token_urlsafe(12)
    try:
        user = await tenancy.accounts.create_user(ADMIN_EMAIL, password)
    except AccountError:
        return None  # another replica starting at the same time won the race
    key = await tenancy.accounts.create_key(user.id, "first key")
    operator = operator if operator is not None else EnvCredentialProvider()
    enabled, waiting = await enable_for_new_user(tenancy, user.id, integrations, operator=operator)
    return FirstRun(user.email, password, key.secret, enabled, waiting)


async def enable_for_new_user(
    tenancy: Tenancy,
    user_id: int,
    integrations: Iterable[Integration],
    *,
    operator: CredentialProvider | None = None,
) -> tuple[list[str], list[str]]:
    """Enable what MCPHUB_NEW_USER_INTEGRATIONS gives a new account; (enabled, needing a credential first).

    `operator` (the first admin only) counts integrations the operator holds a credential for as ready.
    """
    setting = os.environ.get(NEW_USER_INTEGRATIONS, "").strip().lower() or "credential-free"
    chosen = sorted(integrations, key=lambda i: i.slug)
    if setting == "none":
        return [], [i.slug for i in chosen if i.auth]
    if setting != "credential-free":
        wanted = {slug.strip() for slug in setting.split(",") if slug.strip()}
        chosen = [i for i in chosen if i.slug in wanted]
    enabled, waiting = [], []
    for integration in chosen:
        ready = not integration.auth or (operator is not None and await operator.get(integration) is not None)
        if ready or setting != "credential-free":
            await tenancy.integrations.enable(user_id, integration.slug)
            enabled.append(integration.slug)
        if not ready:
            waiting.append(integration.slug)
    return enabled, waiting
