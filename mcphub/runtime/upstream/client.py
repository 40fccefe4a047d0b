"""The only way generated code reaches the network: one `UpstreamClient` per mounted integration.

It owns the integration's connection pool (the lean HTTP/1.1 transport in `http1.py`, over public addresses
only unless the policy allows private ones) and sends what `request.py` builds: the egress policy
(`egress.py`) checks every hop before a byte leaves, redirects are followed by hand only to allowed hosts (a
credential never follows one to another host), the answer is streamed and capped, then `response.py` shapes it
into a `ToolOutput`. Every failure becomes a tool error with a message the model (and a person) can act on;
nothing here raises into the MCP layer. `fetch_json` serves the hub's own requests (OAuth discovery).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin

import anyio
import httpx2

from mcphub.compiler.ir import ArgLocation, HttpBinding, Integration, Tool
from mcphub.runtime.errors import HubError
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream import trace
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.egress import (
    EgressDenied,
    EgressPolicy,
    PoolTransport,
    UnresolvableHost,
    public_address,
    shared_ssl_context,
)
from mcphub.runtime.upstream.http1 import Http1Transport
from mcphub.runtime.upstream.request import Prepared, RequestBuilder
from mcphub.runtime.upstream.response import UpstreamFailure, response_shapers, shape_response, tool_error

__all__ = ["FetchFailed", "UpstreamClient"]

MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class FetchFailed(HubError):
    """A request the hub made for itself (`UpstreamClient.fetch_json`) failed; the message names the URL and why."""


class UpstreamClient:
    """One integration's connection pool, egress policy and request builder."""

    def __init__(self, integration: Integration, *, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.integration = integration
        self.policy = EgressPolicy.from_integration(integration)
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        if transport is None:
            private = self.policy.allow_private_network
            transport = Http1Transport(
                ssl_context=shared_ssl_context(),
                resolve=None if private else public_address,
                fallback=PoolTransport(limits=limits, allow_private=private),
                max_connections=limits.max_connections or 100,
                max_keepalive_connections=limits.max_keepalive_connections or 20,
            )
        self._client = httpx2.AsyncClient(
            follow_redirects=False,
            timeout=httpx2.Timeout(self.policy.timeout_s, connect=self.policy.connect_timeout_s),
            limits=limits,
            trust_env=False,  # no proxies or netrc credentials picked up from the environment
            transport=transport,
            # The pool is shared by every caller of this integration: a cookie one upstream answer sets
            # must never ride along on someone else's request.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )
        # What the client's build_request/send would add to every request, computed once: tool calls go
        # straight to the transport (`_send`), which saves a fifth of the HTTP client's CPU per call.
        self._transport = transport
        self._default_headers = {name.lower(): value for name, value in self._client.headers.items()}
        self._timeout = self._client.timeout.as_dict()
        self.requests = RequestBuilder(integration)
        self._shapers = response_shapers(integration)

    async def aclose(self) -> None:
        await self._client.aclose()

    def prepare(self, tool: Tool, credential: Credential | None, **parts: Any) -> Prepared:
        """The request `send` would make for these arguments (no I/O); see `RequestBuilder.prepare`."""
        return self.requests.prepare(tool, credential, **parts)

    # - requests of the hub itself -

    async def fetch_json(self, url: str, *, token: str) -> Any:
        """GET a JSON document with a bearer token for the hub itself (what an OAuth sign-in granted).

        The integration's allowed hosts and private-address rule apply as to tool calls; its allowed methods are
        the tools' and do not. Redirects are not followed. Raises FetchFailed.
        """
        try:
            target = httpx2.URL(url)
        except httpx2.InvalidURL as exc:
            raise FetchFailed(f"GET {url}: invalid URL: {exc}") from exc
        if target.scheme not in ("http", "https") or not self.policy.host_allowed(target.host):
            raise FetchFailed(
                f"GET {url}: refused by policy: host {target.host!r} is not in the allowed hosts of "
                f"{self.integration.slug!r}"
            )
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            with anyio.fail_after(self.policy.timeout_s):  # the whole exchange, connecting included
                response = await self._client.send(
                    self._client.build_request("GET", target, headers=headers), stream=True
                )
                try:
                    output = shape_response(response, await self._read_capped(response))
                finally:
                    await response.aclose()
        except EgressDenied as exc:
            raise FetchFailed(f"GET {url}: refused by policy: {exc}") from exc
        except (UpstreamFailure, UnresolvableHost) as exc:
            raise FetchFailed(f"GET {url}: {exc}") from exc
        except (TimeoutError, httpx2.HTTPError) as exc:
            raise FetchFailed(f"GET {url}: {type(exc).__name__}: {exc or 'no answer in time'}") from exc
        if output.is_error:
            raise FetchFailed(f"GET {url}: {output.text}")
        if not 200 <= response.status_code < 300 or output.structured is None:
            raise FetchFailed(f"GET {url}: expected a JSON answer, got HTTP {response.status_code} {output.mime_type}")
        return output.structured

    # - the exchange -

    async def send(self, tool: Tool, credential: Credential | None, *, full: bool = False, **parts: Any) -> ToolOutput:
        """Send one tool's request and shape the response; every failure is a tool error.

        `full` skips the spec's response shaping (transform, `keep`): the answer as the upstream sent it.
        """
        binding = tool.http
        where = f"{binding.method} {binding.path}" if binding else tool.name
        try:
            shaper = None if full else self._shapers.get(tool.name)
            # `timeout_s` is the call's deadline, connecting, redirects, a slow trickle of bytes and an input
            # transform's lookups included; `connect_timeout_s` only fails a dead address sooner.
            with anyio.fail_after(self.policy.timeout_s):
                raw = None
                if tool.input is not None:
                    parts["body"], raw = await self._build_input(tool, credential, parts)
                prepared = self.requests.prepare(tool, credential, **parts)
                if raw is not None:  # a body the transform encoded itself (a multipart/related upload)
                    prepared.files = None
                    prepared.content, prepared.headers["Content-Type"] = raw
                return await self._exchange(prepared, shaper)
        except EgressDenied as exc:
            return tool_error(f"{where}: refused by policy: {exc}")
        except UpstreamFailure as exc:
            return tool_error(f"{where}: {exc}", status=exc.status, structured=exc.structured)
        except UnresolvableHost as exc:
            return tool_error(f"{where}: {exc}")
        except (TimeoutError, httpx2.TimeoutException) as exc:
            if isinstance(exc, httpx2.ConnectTimeout):
                return tool_error(
                    f"{where}: could not connect to the upstream within {self.policy.connect_timeout_s:g}s"
                )
            return tool_error(f"{where}: the upstream did not answer within {self.policy.timeout_s:g}s (timeout)")
        except httpx2.ConnectError as exc:
            return tool_error(f"{where}: could not connect to the upstream: {exc or type(exc).__name__}")
        except httpx2.HTTPError as exc:
            return tool_error(f"{where}: the upstream request failed: {type(exc).__name__}: {exc}")

    async def _build_input(
        self, tool: Tool, credential: Credential | None, parts: Mapping[str, Any]
    ) -> tuple[Any, tuple[bytes, str] | None]:
        """Spec `input:`: the body built from the friendly arguments by the tool's transform (upstream/transforms.py).

        Returns the JSON body for `prepare`, or None and (bytes, content type) for a body the transform encoded.
        """
        from mcphub.runtime.upstream.transforms import InputError, RawBody, build_input

        binding, shape = tool.http, tool.input
        assert binding is not None and shape is not None
        # Lookups go where the tool goes, with its credential, fixed headers (API versions) and egress policy.
        headers = {ArgLocation.HEADER: binding.fixed[ArgLocation.HEADER]} if ArgLocation.HEADER in binding.fixed else {}

        async def lookup(path: str, values: Mapping[str, Any], query: Mapping[str, Any]) -> ToolOutput:
            get = HttpBinding(
                method="GET", path=path, fixed=headers, server_url=binding.server_url, security=binding.security
            )
            probe = Tool(name=f"{tool.name} lookup", http=get)  # a name of its own: the tool's defaults don't apply
            none: dict[str, Any] = {"headers": None, "cookies": None, "body": None, "form": None, "multipart": None}
            return await self._exchange(self.requests.prepare(probe, credential, path=values, query=query, **none))

        async def post_bytes(url: str, content: bytes, content_type: str) -> ToolOutput:
            # An upload URL the API handed out (Slack's files.slack.com): signed by itself, so no credential goes
            # with it; the egress policy (allowed hosts, private addresses) applies as to every request.
            prepared = Prepared(method="POST", url=url, headers={"Content-Type": content_type}, content=content)
            return await self._exchange(prepared)

        path = {**binding.fixed.get(ArgLocation.PATH, {}), **(parts.get("path") or {})}
        try:
            body = await build_input(shape, parts.get("body"), path, lookup, post_bytes)
        except InputError as exc:
            raise UpstreamFailure(str(exc)) from exc
        return (None, (body.content, body.content_type)) if isinstance(body, RawBody) else (body, None)

    async def _exchange(self, prepared: Prepared, shaper: Callable[[Any], Any] | None = None) -> ToolOutput:
        method, url = prepared.method, prepared.url
        headers = dict(prepared.headers)
        content, files = prepared.content, prepared.files
        origin_host: str | None = None
        for _ in range(MAX_REDIRECTS + 1):
            target = self.policy.check(method, url, self.integration.slug)
            if origin_host is None:
                origin_host = target.host
            elif target.host != origin_host:
                # Credentials belong to the host they were configured for, never to a redirect target.
                for name in prepared.secret_headers:
                    headers.pop(name, None)
            traced = trace.record(method, str(target), headers, content)  # the playground's view, else nothing
            response = await self._send(method, target, headers, content, files)
            if traced is not None:
                traced.status = response.status_code
            try:
                if response.status_code in _REDIRECT_STATUSES and "location" in response.headers:
                    location = urljoin(str(target), response.headers["location"])
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, content, files = "GET", None, None
                        headers.pop("Content-Type", None)
                    url = location
                    continue
                raw = await self._read_capped(response)
                return shape_response(response, raw, shaper)
            finally:
                await response.aclose()
        raise UpstreamFailure(f"too many redirects (more than {MAX_REDIRECTS})")

    async def _send(
        self,
        method: str,
        url: httpx2.URL,
        headers: Mapping[str, str | bytes],
        content: bytes | None,
        files: list[tuple[str, tuple[str | None, bytes, str | None]]] | None,
    ) -> httpx2.Response:
        """What `AsyncClient.send(build_request(...), stream=True)` does for our requests, without its layers.

        This client never follows redirects (`_exchange` does, checking each hop), stores no cookies and runs no
        auth flow or event hooks, so all that is left of the client's work is its default headers and timeouts.
        """
        merged: dict[str, str | bytes] = dict(self._default_headers)
        for name, value in headers.items():
            merged[name.lower()] = value
        # As bytes: a header value outside ASCII (sent as UTF-8) would make the client's own encoding raise.
        raw = [(name.encode(), value if isinstance(value, bytes) else value.encode()) for name, value in merged.items()]
        request = httpx2.Request(
            method, url, headers=raw, content=content, files=files, extensions={"timeout": self._timeout}
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        return response

    async def _read_capped(self, response: httpx2.Response) -> bytes:
        cap = self.policy.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise UpstreamFailure(
                f"the upstream response is {int(declared)} bytes, over this integration's limit of {cap} bytes",
                status=response.status_code,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise UpstreamFailure(
                    f"the upstream response exceeded this integration's limit of {cap} bytes; "
                    "narrow the request (filters, pagination)",
                    status=response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)
