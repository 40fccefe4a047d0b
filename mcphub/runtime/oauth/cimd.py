"""Client ID Metadata Documents: an MCP client whose `client_id` is an https URL, fetched instead of registered.

draft-ietf-oauth-client-id-metadata-document (what the MCP authorization spec, 2025-11-25 and
2026-07-28, prefers over dynamic registration): the client publishes a JSON document at an https URL
and uses that URL as its `client_id`; the authorization server fetches it when the client shows up.
The document's `client_id` must equal the URL exactly, and its `redirect_uris` are the only places
codes may go. There is no shared secret, so such a client is always public (PKCE only).

Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch is strict:

- https only; the URL has a path, no fragment, no credentials, no dot segments (the draft's rules);
- the host must resolve to public addresses only (checked at connect time, on the address actually
  dialled, so a DNS rebind between check and connect gains nothing), unless `allow_private` is set
  (`MCPHUB_CIMD_ALLOW_PRIVATE=1`: tests on 127.0.0.1, intranet deployments);
- no redirects, 200 only, a JSON content type, at most `max_bytes` (5 KiB, the draft's suggestion), a
  short timeout;
- results are cached for the document's `Cache-Control: max-age`, clamped to [`min_ttl`, `max_ttl`]
  (default 5 minutes when it says nothing); failures are cached briefly (`error_ttl`) so a bad client
  cannot make the hub fetch in a loop. Concurrent lookups of one URL share one fetch.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

from mcphub.runtime.errors import HubError
from mcphub.runtime.upstream.egress import PoolTransport, PrivateAddress, UnresolvableHost

__all__ = [
    "ClientMetadataError",
    "ClientMetadataFetcher",
    "check_client_id_url",
    "is_client_id_url",
]

MAX_CLIENT_ID_LENGTH = 255  # the mcp_clients.client_id column
_CACHE_CONTROL_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_FORBIDDEN_FIELDS = ("client_secret", "client_secret_expires_at")
_PUBLIC_AUTH_METHODS = frozenset({"none"})


class ClientMetadataError(HubError):
    """A client ID metadata document that cannot be used; the message says what is wrong with it."""


def is_client_id_url(client_id: str) -> bool:
    """Whether a client_id names a metadata document (rather than a dynamically registered client)."""
    return client_id.startswith("https://")


def check_client_id_url(url: str) -> None:
    """The draft's rules for a client identifier URL (§3); raises ClientMetadataError naming the problem."""
    if len(url) > MAX_CLIENT_ID_LENGTH:
        raise ClientMetadataError(f"client_id URLs are limited to {MAX_CLIENT_ID_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ClientMetadataError(f"client_id {url!r} must be an https URL")
    if not parts.hostname:
        raise ClientMetadataError(f"client_id {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise ClientMetadataError(f"client_id {url!r} must not contain a user name or password")
    if parts.fragment or "#" in url:
        raise ClientMetadataError(f"client_id {url!r} must not contain a fragment")
    if parts.path in ("", "/"):
        raise ClientMetadataError(f"client_id {url!r} must have a path (e.g. https://host/client.json)")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise ClientMetadataError(f"client_id {url!r} must not contain . or .. path segments")


@dataclass(slots=True)
class _Entry:
    client: OAuthClientInformationFull | None
    error: str | None
    until: float


class ClientMetadataFetcher:
    """Fetches, validates and caches client ID metadata documents (see the module docstring)."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 5.0,
        max_bytes: int = 5 * 1024,
        default_ttl: float = 300.0,
        min_ttl: float = 60.0,
        max_ttl: float = 3600.0,
        error_ttl: float = 10.0,
        max_entries: int = 1000,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.default_ttl = default_ttl
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.error_ttl = error_ttl
        self.max_entries = max_entries
        self.fetches = 0  # how many documents were actually requested (the cache's effect is observable)
        self._ssl = ssl_context
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._http: httpx2.AsyncClient | None = None

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            transport = PoolTransport(
                limits=httpx2.Limits(max_connections=20), allow_private=self.allow_private, ssl_context=self._ssl
            )
            self._http = httpx2.AsyncClient(
                transport=transport,
                timeout=httpx2.Timeout(self.timeout),
                follow_redirects=False,
                trust_env=False,
                headers={"Accept": "application/json", "User-Agent": "mcphub-authorization-server"},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def get(self, url: str) -> OAuthClientInformationFull:
        """The client a metadata URL describes (cached); raises ClientMetadataError saying why it cannot be used."""
        entry = self._fresh(url)
        if entry is None:
            lock = self._locks.setdefault(url, asyncio.Lock())
            async with lock:
                entry = self._fresh(url)  # another caller may have fetched it while this one waited
                if entry is None:
                    entry = await self._load(url)
                    if len(self._cache) >= self.max_entries:
                        self._cache.clear()
                    self._cache[url] = entry
            self._locks.pop(url, None)
        if entry.client is None:
            raise ClientMetadataError(entry.error or "unusable client metadata")
        return entry.client

    def forget(self, url: str) -> None:
        self._cache.pop(url, None)

    def _fresh(self, url: str) -> _Entry | None:
        entry = self._cache.get(url)
        return entry if entry is not None and entry.until > time.monotonic() else None

    async def _load(self, url: str) -> _Entry:
        try:
            client, ttl = await self._fetch(url)
        except ClientMetadataError as exc:
            return _Entry(None, str(exc), time.monotonic() + self.error_ttl)
        return _Entry(client, None, time.monotonic() + ttl)

    async def _fetch(self, url: str) -> tuple[OAuthClientInformationFull, float]:
        check_client_id_url(url)
        self.fetches += 1
        try:
            async with self._client().stream("GET", url) as response:
                if response.status_code != 200:
                    moved = " (redirects are not followed)" if 300 <= response.status_code < 400 else ""
                    raise ClientMetadataError(f"fetching {url} answered HTTP {response.status_code}{moved}")
                media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
                    raise ClientMetadataError(f"{url} is served as {media or 'no type'}, not application/json")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise ClientMetadataError(f"{url} is larger than {self.max_bytes} bytes")
                ttl = self._ttl(response.headers.get("cache-control", ""))
        except PrivateAddress as exc:
            raise ClientMetadataError(
                f"{exc.host} is or resolves to a private or loopback address; client metadata must be public"
            ) from exc
        except UnresolvableHost as exc:
            raise ClientMetadataError(f"could not fetch {url}: {exc}") from exc
        except httpx2.HTTPError as exc:
            raise ClientMetadataError(f"could not fetch {url}: {type(exc).__name__}") from exc
        return self._parse(url, bytes(body)), ttl

    def _ttl(self, cache_control: str) -> float:
        match = _CACHE_CONTROL_MAX_AGE.search(cache_control)
        ttl = float(match.group(1)) if match else self.default_ttl
        if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
            ttl = 0.0
        return min(max(ttl, self.min_ttl), self.max_ttl)

    @staticmethod
    def _parse(url: str, body: bytes) -> OAuthClientInformationFull:
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise ClientMetadataError(f"{url} is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ClientMetadataError(f"{url} must hold a JSON object")
        if document.get("client_id") != url:
            raise ClientMetadataError(
                f"the document's client_id {document.get('client_id')!r} must be exactly its own URL {url!r}"
            )
        for name in _FORBIDDEN_FIELDS:
            if name in document:
                raise ClientMetadataError(f"{url}: a metadata document must not contain {name}")
        method = document.get("token_endpoint_auth_method", "none")
        if method not in _PUBLIC_AUTH_METHODS:
            raise ClientMetadataError(
                f"{url}: token_endpoint_auth_method {method!r} is not supported here; use 'none' (PKCE)"
            )
        redirects = document.get("redirect_uris")
        if not isinstance(redirects, list) or not redirects:
            raise ClientMetadataError(f"{url}: redirect_uris must list at least one URI")
        try:
            return OAuthClientInformationFull.model_validate({**document, "token_endpoint_auth_method": "none"})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ClientMetadataError(f"{url}: {problems}") from None
