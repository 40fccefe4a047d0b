"""Where the runtime gets the upstream credential for an integration.

`CredentialProvider` is the seam the accounts/vault work plugs into later (one credential per user
and integration). Until then credentials come from the environment or a static mapping:

    MCPHUB_CRED_<SLUG>_TOKEN       bearer / OAuth2 access token (also used for api_key schemes
                                   when no API key is set)
    MCPHUB_CRED_<SLUG>_API_KEY     API key (api_key schemes: header, query or cookie)
    MCPHUB_CRED_<SLUG>_USERNAME    basic auth user name
    MCPHUB_CRED_<SLUG>_PASSWORD    basic auth password
    MCPHUB_CRED_<SLUG>_SCHEME      pin one AuthScheme id when an integration offers several
    MCPHUB_CRED_<SLUG>_VAR_<NAME>  server variable override, e.g. MCPHUB_CRED_JIRA_VAR_SITE=acme; also the
                                   variables an OAuth scheme discovers (MCPHUB_CRED_JIRA_VAR_CLOUDID with
                                   MCPHUB_CRED_JIRA_SCHEME=oauth2 and an Atlassian access token as TOKEN)

`<SLUG>` is the integration slug upper-cased with `-` replaced by `_` (`google-drive` -> `GOOGLE_DRIVE`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mcphub.compiler.ir import AuthScheme, Integration

__all__ = [
    "ChainCredentialProvider",
    "Credential",
    "CredentialProvider",
    "EnvCredentialProvider",
    "StaticCredentialProvider",
    "env_prefix",
]


@dataclass(frozen=True, slots=True)
class Credential:
    """The secrets one caller holds for one integration (any subset may be set)."""

    token: str | None = None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    scheme: str | None = None  # pinned AuthScheme id
    server_variables: Mapping[str, str] = field(default_factory=dict)

    def satisfies(self, scheme: AuthScheme) -> bool:
        """Whether this credential carries what `scheme` needs."""
        if self.scheme is not None and self.scheme != scheme.id:
            return False
        if scheme.type == "api_key":
            return bool(self.api_key or self.token)
        if scheme.type == "basic":
            return self.username is not None and self.password is not None
        return bool(self.token)  # bearer, oauth2, openid_connect

    def __repr__(self) -> str:  # never print secrets, even in a debugger or a traceback
        present = [name for name in ("token", "api_key", "username", "password") if getattr(self, name)]
        return (
            f"Credential(present={present}, scheme={self.scheme!r}, server_variables={dict(self.server_variables)!r})"
        )


class CredentialProvider(Protocol):
    """Returns the credential to use for one call of `integration`, or None when there is none."""

    async def get(self, integration: Integration) -> Credential | None: ...


def env_prefix(slug: str) -> str:
    """`MCPHUB_CRED_<SLUG>_`: the environment prefix of an integration's credential."""
    return f"MCPHUB_CRED_{slug.upper().replace('-', '_')}_"


class EnvCredentialProvider:
    """Reads `MCPHUB_CRED_<SLUG>_*` variables (see the module docstring); re-read on every call."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    async def get(self, integration: Integration) -> Credential | None:
        prefix = env_prefix(integration.slug)
        values = {key[len(prefix) :]: value for key, value in self._environ.items() if key.startswith(prefix)}
        if not values:
            return None
        variables = {key[4:].lower(): value for key, value in values.items() if key.startswith("VAR_")}
        # Server variable names keep their case in the spec (and in an OAuth scheme's `discover`, e.g. cloudId);
        # match them case-insensitively.
        names = {name.lower(): name for name in integration.server_variables}
        if variables:
            names |= {name.lower(): name for scheme in integration.auth for name in scheme.discover}
        return Credential(
            token=values.get("TOKEN"),
            api_key=values.get("API_KEY"),
            username=values.get("USERNAME"),
            password=values.get("PASSWORD"),
            scheme=values.get("SCHEME"),
            server_variables={names.get(key, key): value for key, value in variables.items()},
        )


class StaticCredentialProvider:
    """A fixed slug -> Credential mapping (configuration files, tests)."""

    def __init__(self, credentials: Mapping[str, Credential]) -> None:
        self._credentials = dict(credentials)

    async def get(self, integration: Integration) -> Credential | None:
        return self._credentials.get(integration.slug)


class ChainCredentialProvider:
    """Asks each provider in turn; the first credential found wins."""

    def __init__(self, *providers: CredentialProvider) -> None:
        self._providers = providers

    async def get(self, integration: Integration) -> Credential | None:
        for provider in self._providers:
            credential = await provider.get(integration)
            if credential is not None:
                return credential
        return None
