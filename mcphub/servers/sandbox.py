"""The playground before deploy: one tool of a built (not necessarily deployed) version, called against a sandbox.

The version's stored package is loaded as the hub would mount it, but pointed at the base URL the person typed: the
tools' requests go there and nowhere else (the allowed hosts become that URL's host; an operation's own server is
dropped), with the same request building, argument validation and egress rules as a deployed tool. Private and
loopback addresses stay refused unless the integration's owner may reach them — the rule every built integration
follows (`Servers`: admins, or every user when the operator sets MCPHUB_BUILDS_PRIVATE_NETWORK=1). The credential is
the one typed for this call (a sandbox key), never a stored one, and is masked wherever the request shows it.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcphub.runtime.errors import HubError

__all__ = ["SandboxCall", "SandboxRefused", "SandboxRequest", "call_in_sandbox", "check_sandbox_url"]

_MODULE_PREFIX = "mcphub_sandbox"


class SandboxRefused(HubError):
    """The sandbox call cannot be made as asked (the URL, the tool, the arguments): the message says what to change."""


@dataclass(slots=True)
class SandboxRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str
    status: int | None


@dataclass(slots=True)
class SandboxCall:
    """What the call sent (credentials masked), what came back and how long it took."""

    ok: bool
    ms: float
    text: str
    structured: Any
    requests: list[SandboxRequest] = field(default_factory=list)


def check_sandbox_url(url: str) -> str:
    """The sandbox base URL as the tools will use it, or SandboxRefused naming what is wrong."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SandboxRefused(f"sandbox base URL {url!r}: give an absolute http(s) URL, e.g. https://sandbox.example/v1")
    if parts.query or parts.fragment or parts.username:
        raise SandboxRefused(f"sandbox base URL {url!r}: no query, fragment or user name; the tools add their own")
    return url


async def call_in_sandbox(
    package_dir: Path,
    *,
    base_url: str,
    allow_private: bool,
    tool: str,
    arguments: Mapping[str, Any],
    secret: str | None,
) -> SandboxCall:
    """Load the unpacked package at `package_dir`, point it at `base_url`, and call `tool` once."""
    from mcphub.runtime.catalog import Mount
    from mcphub.runtime.package import Package, load_package
    from mcphub.runtime.upstream import trace
    from mcphub.runtime.upstream.call import HubCall
    from mcphub.runtime.upstream.credentials import Credential
    from mcphub.runtime.upstream.executors.registry import Executors

    base_url = check_sandbox_url(base_url)
    prefix = f"{_MODULE_PREFIX}_{secrets.token_hex(6)}"  # this call's modules only, removed when it ends
    loaded = load_package(package_dir, module_prefix=prefix)
    try:
        original = loaded.integration
        tools = [
            t.model_copy(update={"http": t.http.model_copy(update={"server_url": None})}) if t.http else t
            for t in original.tools
        ]
        policy = original.policy.model_copy(update={"allowed_hosts": [], "allow_private_network": allow_private})
        integration = original.model_copy(
            update={"base_url": base_url, "server_variables": {}, "tools": tools, "policy": policy}
        )
        package = Package(package_dir, integration, loaded.functions, loaded.keywords)
        mount = Mount.build(package, "sandbox", Executors())
        entry = mount.tools.get(tool)
        if entry is None:
            raise SandboxRefused(f"version has no tool {tool!r}: pick one of {', '.join(sorted(mount.tools))}")
        problems = entry.validate(arguments)
        if problems:
            raise SandboxRefused(f"invalid arguments for {tool}: " + "; ".join(problems) + ". Nothing was sent.")
        credential = Credential(token=secret, api_key=secret) if secret else None
        declared = entry.tool.input_schema.get("properties") or {}
        known = {key: value for key, value in arguments.items() if key in declared}
        started = time.perf_counter()
        try:
            with trace.recording() as sent:
                output = await package.invoke(HubCall(entry.tool, mount.executor, credential), tool, known)
        finally:
            await mount.executor.aclose()
        seconds = time.perf_counter() - started
    finally:
        for name in [name for name in sys.modules if name.startswith(f"{prefix}.")]:
            del sys.modules[name]  # every sandbox call loads its own copy; none is kept
    requests = []
    for shown in trace.shown(sent, integration.auth):
        body = shown.body.decode("utf-8", errors="replace") if shown.body else ""
        requests.append(
            SandboxRequest(
                shown.method,
                _masked(shown.url, secret),
                {k: _masked(v, secret) for k, v in shown.headers.items()},
                _masked(body, secret),
                shown.status,
            )
        )
    text = output.text
    if output.is_error and not allow_private and "private, loopback or reserved" in text:
        # The egress error names the spec's switch; for a sandbox the rule is who may use private addresses.
        text += (
            "\nA sandbox on a private or local address needs an admin's integration (or the operator's "
            "MCPHUB_BUILDS_PRIVATE_NETWORK=1): use a public sandbox URL."
        )
    return SandboxCall(
        ok=not output.is_error,
        ms=round(seconds * 1000, 1),
        text=_masked(text, secret),
        structured=output.structured,
        requests=requests,
    )


def _masked(text: str, secret: str | None) -> str:
    """The typed key, wherever a tool put it (a body field, a path), masked as the declared places are."""
    if not secret or len(secret) < 4:
        return text
    from mcphub.runtime.upstream.trace import REDACTED

    return text.replace(secret, REDACTED)
