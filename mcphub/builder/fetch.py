"""Fetching what a user points the builder at: one bounded HTTP GET under the hub's egress rules.

The builder runs on the hub's machine with the hub's network, so a URL a user types must not reach what the hub
can but the user should not: private, loopback and reserved addresses are refused at connect time (the runtime's
`PublicOnlyBackend`, which dials exactly the address it checked) unless the operator allows them. Redirects are
followed by hand, at most five and only on the same host, so a public page cannot bounce the fetch elsewhere.
The body is read with a size cap and the whole fetch has one deadline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2

from mcphub.runtime.upstream.egress import EgressDenied, PoolTransport, UnresolvableHost

__all__ = ["DEFAULT_MAX_BYTES", "FetchError", "Fetched", "fetch_url"]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5
USER_AGENT = "mcphub-builder (+https://github.com/mcphub)"


class FetchError(Exception):
    """A URL that could not be fetched; the message names the URL and what to do."""


@dataclass(frozen=True)
class Fetched:
    url: str  # as asked
    final_url: str  # after same-host redirects
    status: int
    content_type: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


async def fetch_url(
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    allow_private: bool = False,
    accept: str = "*/*",
) -> Fetched:
    """GET `url` (http or https): public addresses only unless `allow_private`, same-host redirects, size-capped."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: only http(s) URLs can be fetched")
    transport = PoolTransport(limits=httpx2.Limits(max_connections=4), allow_private=allow_private)
    headers = {"user-agent": USER_AGENT, "accept": accept}
    async with httpx2.AsyncClient(transport=transport, headers=headers, follow_redirects=False) as client:
        try:
            with anyio.fail_after(timeout_s):
                return await _follow(client, url, max_bytes)
        except TimeoutError:
            raise FetchError(f"{url}: no complete answer within {timeout_s:.0f} s") from None
        except EgressDenied as exc:
            raise FetchError(f"{url}: {exc} (the operator can allow private addresses for the builder)") from None
        except UnresolvableHost as exc:
            raise FetchError(f"{url}: {exc}") from None
        except httpx2.HTTPError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


async def _follow(client: httpx2.AsyncClient, url: str, max_bytes: int) -> Fetched:
    host = urlsplit(url).hostname
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", current) as response:
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                target = urljoin(current, response.headers["location"])
                if urlsplit(target).hostname != host:
                    raise FetchError(
                        f"{url}: redirected to another host ({target}); fetch that URL instead if you trust it"
                    )
                current = target
                continue
            if response.status_code >= 400:
                raise FetchError(f"{current}: the server answered {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"{current}: {int(declared):,} bytes is over the {max_bytes:,}-byte limit")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FetchError(f"{current}: more than {max_bytes:,} bytes; over the limit")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return Fetched(url, current, response.status_code, content_type, bytes(body))
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
