"""Egress policy: which hosts and methods an integration may reach, and public addresses only.

`EgressPolicy` is an integration's `Policy` compiled for per-request checks (allowed hosts, from the spec or its
server URLs; allowed methods; timeouts; the response cap): every request and redirect hop passes `check`.

Below it, the connect-time check every outbound connection of the hub shares.

Tool calls (`upstream/client.py`), upstream MCP servers over HTTP, database connections (`executors/sql.py`) and the
authorization server's fetches of client metadata documents (`oauth.cimd`) all refuse private, loopback and
reserved addresses unless their policy allows them. The HTTP ones do it in the connection pool's network
backend: the name is resolved once, checked, and exactly the checked address is dialled, which closes the
DNS-rebinding gap and covers every connection a pool opens, redirects included.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore2
import httpx2

from mcphub.compiler.ir import Integration
from mcphub.runtime.errors import HubError
from mcphub.runtime.upstream.asyncio_backend import AsyncioBackend
from mcphub.runtime.upstream.serialization import TEMPLATE_VARIABLE

__all__ = [
    "EgressDenied",
    "EgressPolicy",
    "PoolTransport",
    "PrivateAddress",
    "PublicOnlyBackend",
    "UnresolvableHost",
    "is_public",
    "public_address",
    "resolve_public",
    "shared_ssl_context",
]


class EgressDenied(HubError):
    """A request the integration's policy does not allow (host, method, scheme, address)."""


class PrivateAddress(EgressDenied):
    """A host that is, or resolves to, a private, loopback or reserved address."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"host {host!r} resolves to a private, loopback or reserved address; "
            "set policy.allow_private_network to reach it"
        )
        self.host = host


class UnresolvableHost(HubError):
    """A host name DNS does not resolve."""

    def __init__(self, host: str, error: OSError) -> None:
        super().__init__(f"could not resolve host {host!r}: {error}")
        self.host = host


def is_public(address: str) -> bool:
    """Whether an IP address literal is globally routable (IPv4-mapped IPv6 judged as its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_public(host: str, port: int) -> list[str]:
    """Every address of `host` (a name or a literal), all public; PrivateAddress or UnresolvableHost otherwise."""
    try:
        literal = is_public(host)
    except ValueError:
        pass  # a name, not an address literal
    else:
        if not literal:
            raise PrivateAddress(host)
        return [host]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnresolvableHost(host, exc) from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(is_public(address) for address in addresses):
        raise PrivateAddress(host)
    return addresses


async def public_address(host: str, port: int) -> str:
    """The one address to dial for `host`, checked public."""
    return (await resolve_public(host, port))[0]


class PublicOnlyBackend(httpcore2.AsyncNetworkBackend):
    """Checks the address at connect time and connects to exactly the address it checked."""

    def __init__(self) -> None:
        self._inner = AsyncioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        address = await public_address(host, port)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise EgressDenied("unix sockets are not reachable")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every pool: loading the CA bundle costs ~20 ms each time."""
    return httpx2.create_ssl_context(trust_env=False)


class PoolTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport over an httpcore2 pool on asyncio streams: public addresses only unless `allow_private`."""

    def __init__(
        self,
        *,
        limits: httpx2.Limits,
        allow_private: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        context = ssl_context or shared_ssl_context()
        super().__init__(verify=context, limits=limits, trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend() if allow_private else PublicOnlyBackend(),
        )


# --- per-request policy ----------------------------------------------------------------------------


def _host_pattern(template_url: str, paths: Mapping[str, str] | None = None) -> re.Pattern[str] | None:
    """A host regex from a server URL template: `https://{site}.atlassian.net` -> `[^.]+\\.atlassian\\.net`.

    `paths` are the variables that hold a path, not a host part (eBay's `https://api.ebay.com{basePath}`, whose
    default is `/commerce/charity/v1`): they are filled in first, so the host ends where the path begins.
    """
    if paths:
        template_url = TEMPLATE_VARIABLE.sub(lambda m: paths.get(m.group(1), m.group(0)), template_url)
    marked = TEMPLATE_VARIABLE.sub("\x00", template_url)
    host = urlsplit(marked if "://" in marked else f"https://{marked}").hostname
    if not host:
        return None
    return _compile_host(host.replace("\x00", "*"))


def _compile_host(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip().lower().rstrip(".")
    parts = [re.escape(part) for part in pattern.split("*")]
    return re.compile("[^./:@]+".join(parts))


@dataclass(slots=True)
class EgressPolicy:
    """An integration's Policy compiled for per-request checks."""

    hosts: list[re.Pattern[str]]
    methods: frozenset[str]
    timeout_s: float
    connect_timeout_s: float
    max_response_bytes: int
    allow_private_network: bool

    @classmethod
    def from_integration(cls, integration: Integration) -> EgressPolicy:
        policy = integration.policy
        if policy.allowed_hosts:
            hosts = [_compile_host(host) for host in policy.allowed_hosts]
        else:
            templates = (
                {integration.base_url}
                | {tool.http.server_url for tool in integration.tools if tool.http and tool.http.server_url}
                | {scheme.base_url for scheme in integration.auth if scheme.base_url}
                | {rule.url for scheme in integration.auth for rule in scheme.discover.values()}
            )
            # A variable whose default starts with `/` (or is empty) is where the path begins, not a host part.
            paths = {
                name: variable.default
                for name, variable in integration.server_variables.items()
                if variable.default[:1] in ("", "/")
            }
            hosts = [p for p in (_host_pattern(t, paths) for t in templates if t) if p is not None]
        if policy.allowed_methods:
            methods = frozenset(m.upper() for m in policy.allowed_methods)
        else:
            methods = frozenset(tool.http.method.upper() for tool in integration.tools if tool.http)
        return cls(
            hosts=hosts,
            methods=methods,
            timeout_s=policy.timeout_s,
            connect_timeout_s=policy.connect_timeout_s,
            max_response_bytes=policy.max_response_bytes,
            allow_private_network=policy.allow_private_network,
        )

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(pattern.fullmatch(host) for pattern in self.hosts)

    def check(self, method: str, url: str, slug: str) -> httpx2.URL:
        """The parsed URL of a request this policy allows (scheme, host, method), else EgressDenied naming `slug`."""
        try:
            parsed = httpx2.URL(url)
        except httpx2.InvalidURL as exc:
            raise EgressDenied(f"invalid upstream URL: {exc}") from exc
        if parsed.scheme not in ("http", "https"):
            raise EgressDenied(f"scheme {parsed.scheme!r} is not allowed (http and https only)")
        host = parsed.host
        if not self.host_allowed(host):
            raise EgressDenied(f"host {host!r} is not in the allowed hosts of {slug!r}")
        if method not in self.methods:
            raise EgressDenied(f"method {method} is not allowed for {slug!r}")
        return parsed
