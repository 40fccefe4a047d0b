"""Fetching what a user points the builder at: one bounded HTTP GET under the hub's egress rules.

The builder runs on the hub's machine with the hub's network, so a URL a user types must not reach what the hub
can but the user should not: private, loopback and reserved addresses are refused at connect time (the runtime's
`PublicOnlyBackend`, which dials exactly the address it checked) unless the operator allows them. Redirects are
followed by hand, at most five and only on the same host, so a public page cannot bounce the fetch elsewhere.
The body is read with a size cap and the whole fetch has one deadline.
"""

from __future__ import annotations

import hashlib
import zlib
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
    # Only what `_Decoder` undoes with a bound on the output: a small gzip answer can stand for gigabytes.
    headers = {"user-agent": USER_AGENT, "accept": accept, "accept-encoding": "gzip, deflate"}
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
            decoder = _Decoder(current, response.headers.get("content-encoding", ""), max_bytes)
            async for chunk in response.aiter_raw():
                decoder.feed(chunk)
            body = decoder.finish()
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return Fetched(url, current, response.status_code, content_type, bytes(body))
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


class _Decoder:
    """The body as sent (identity, gzip or deflate), decompressed at most `max_bytes` at a time: a compression bomb
    is stopped once its output passes the limit, never inflated in memory first."""

    def __init__(self, url: str, encoding: str, max_bytes: int) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.encoding = encoding.strip().lower()
        self.body = bytearray()
        self.received = 0
        if self.encoding in ("", "identity"):
            self.inflater = None
        elif self.encoding in ("gzip", "x-gzip"):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self.inflater = zlib.decompressobj()
        else:
            raise FetchError(f"{url}: the server sent content-encoding {encoding!r}, which was not asked for")

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.inflater is None:
            self._add(chunk)
            return
        data = chunk
        try:
            while data:
                out = self.inflater.decompress(data, self.max_bytes + 1 - len(self.body))
                self._add(out)
                data = self.inflater.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(f"{self.url}: the {self.encoding} body is corrupt ({exc})") from None

    def finish(self) -> bytes:
        if self.inflater is not None:
            try:
                self._add(self.inflater.flush())
            except zlib.error as exc:
                raise FetchError(f"{self.url}: the {self.encoding} body is corrupt ({exc})") from None
            if not self.inflater.eof:
                raise FetchError(f"{self.url}: the {self.encoding} body is corrupt (it ends before its end)")
        return bytes(self.body)

    def _add(self, data: bytes) -> None:
        self.body.extend(data)
        if len(self.body) > self.max_bytes:
            if self.inflater is not None:
                raise FetchError(
                    f"{self.url}: {self.received:,} {self.encoding} bytes decompress to more than "
                    f"{self.max_bytes:,} bytes, over the limit (a compression bomb?); nothing was kept"
                )
            raise FetchError(f"{self.url}: more than {self.max_bytes:,} bytes; over the limit")
