"""What the agent-task tests share: stateful stand-ins of the services, and a hub serving one built-in against one.

An agent task is several tool calls that depend on each other (read the default branch, branch from its head, commit
to the branch, open a pull request from it). A stand-in keeps state across the calls the way the service does and
answers with the shapes of the service's published description, so a task only succeeds when every request the hub
sends is the one the real service needs. Each test then checks, call by call, what the stand-in received.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.client import Client
from runtime.support import Recorded, Upstream, serve
from starlette.types import Send

from integrations.hubs import RunningHub, compile_local, running_hub


@dataclass(frozen=True)
class Text:
    """A non-JSON answer (an export, a download)."""

    body: str
    content_type: str = "text/plain; charset=utf-8"


# A handler gets the request and the path template's values; it answers a status and a JSON value (None: no body), or
# Text.
Handler = Callable[[Recorded, dict[str, str]], tuple[int, Any]]


def _pattern(template: str) -> re.Pattern[str]:
    # {name} is one path segment; {name*} may span several (a file path inside a repository).
    escaped = re.escape(template)
    escaped = re.sub(r"\\\{(\w+)\\\*\\\}", r"(?P<\1>.+)", escaped)
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", escaped))


@dataclass
class Service(Upstream):
    """A stand-in with state: `routes()` maps (method, path template) to handlers; every request is recorded."""

    _compiled: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)

    def routes(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    def seen(self, since: int = 0) -> list[str]:
        """'METHOD /path' of each request received from the `since`-th on (paths decoded)."""
        return [f"{r.method} {r.path}" for r in self.requests[since:]]

    async def _answer(self, r: Recorded, send: Send) -> None:
        if not self._compiled:
            self._compiled = [(method, _pattern(template), handler) for method, template, handler in self.routes()]
        for method, pattern, handler in self._compiled:
            match = pattern.fullmatch(r.path)
            if method == r.method and match is not None:
                status, payload = handler(r, match.groupdict())
                break
        else:
            status, payload = 404, {"message": f"Not Found: {r.method} {r.path}"}
        if isinstance(payload, Text):
            body, content_type = payload.body.encode(), payload.content_type
        else:
            body = b"" if payload is None else json.dumps(payload).encode()
            content_type = "application/json; charset=utf-8" if payload is not None else ""
        headers = [(b"content-length", str(len(body)).encode())]
        if content_type:
            headers.append((b"content-type", content_type.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


OPEN_POLICY = {"allowed_hosts": ["127.0.0.1"], "allow_private_network": True, "rate_limit": "1000/s"}


@contextmanager
def task_hub(
    folder: Path,
    slug: str,
    service: Upstream,
    credential: dict[str, Any],
    base_path: str = "",
    derive: Callable[[str], dict[str, Any]] | None = None,
) -> Iterator[RunningHub]:
    """The shipped spec of `slug` pointed at `service` (its base URL and egress policy, and the top-level keys
    `derive` returns for the stand-in's URL), compiled and served by the real hub for a user who stored `credential`."""
    with serve(service) as url:
        service.base_url = url
        specs, catalog = folder / "specs", folder / "catalog"
        specs.mkdir()
        catalog.mkdir()
        changes = derive(url) if derive else {}
        compile_local(slug, specs, catalog, base_url=url + base_path, policy=OPEN_POLICY, **changes)
        with running_hub(catalog, {slug: credential} if credential else {}) as hub:  # {}: the user connects later
            yield hub


def _text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def call(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    """One tool call as an agent makes it; the structured answer (it must not be an error)."""
    result = await client.call_tool(name, arguments)
    assert result.is_error is False, f"{name}: {_text(result)}"
    return result.structured_content


async def refused(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """One tool call that must fail; the error text the agent reads."""
    result = await client.call_tool(name, arguments)
    assert result.is_error is True, f"{name} succeeded: {_text(result)}"
    return _text(result)
