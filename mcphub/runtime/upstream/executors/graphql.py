"""Runs GraphQL tools: one POST of {query, variables, operationName} to the integration's endpoint.

The request goes through the integration's `UpstreamClient` like any HTTP tool (egress policy, credential
injection, timeouts, size cap), as a JSON body POSTed to the integration's base URL (the GraphQL endpoint). The
answer is shaped for an agent: a non-empty `errors` array is a tool error listing every message (with its path),
partial `data` included; otherwise the value at the binding's `result_path` under `data` is the structured result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mcphub.compiler.ir import ArgBinding, ArgLocation, GraphQLBinding, HttpBinding, Tool
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.http import HttpExecutor

__all__ = ["GraphQLExecutor", "execute_graphql", "graphql_request_tool"]

_MAX_MESSAGES = 10


def _endpoint_parts(base_url: str) -> tuple[str, str]:
    """(server URL, path) of the endpoint, so the request goes to exactly the base URL (no trailing slash added)."""
    parts = urlsplit(base_url)
    if not parts.scheme or "{" in parts.path:
        return base_url, ""
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def graphql_request_tool(tool: Tool, base_url: str) -> Tool:
    """The HTTP view of a GraphQL tool: a JSON POST to the endpoint whose whole body is the GraphQL request."""
    server_url, path = _endpoint_parts(base_url)
    http = HttpBinding(
        method="POST",
        path=path,
        server_url=server_url,
        args=[ArgBinding(name="request", python_name="request", location=ArgLocation.BODY_ROOT, wire_name="")],
        body_encoding="json",
        body_required=True,
        response_content_type="application/json",
    )
    return tool.model_copy(update={"http": http})


def _variables(binding: GraphQLBinding, arguments: Mapping[str, Any]) -> dict[str, Any]:
    # Arguments the caller left out (None) are left out of `variables`, so the schema's defaults apply.
    return {binding.variables.get(name, name): value for name, value in arguments.items() if value is not None}


def _messages(errors: list[Any]) -> str:
    texts = []
    for error in errors[:_MAX_MESSAGES]:
        if isinstance(error, Mapping):
            text = str(error.get("message") or json.dumps(error, ensure_ascii=False))
            path = error.get("path")
            if isinstance(path, list) and path:
                text += f" (at {'.'.join(str(p) for p in path)})"
        else:
            text = str(error)
        texts.append(text)
    if len(errors) > _MAX_MESSAGES:
        texts.append(f"... and {len(errors) - _MAX_MESSAGES} more")
    return "; ".join(texts)


def _at(data: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


async def execute_graphql(
    tool: Tool, client: UpstreamClient, credential: Credential | None, variables: Mapping[str, Any]
) -> ToolOutput:
    """Send the tool's GraphQL operation with `variables` (tool arguments) and shape the answer."""
    binding = tool.graphql
    if binding is None:
        return ToolOutput(text=f"tool {tool.name!r} has no GraphQL binding", is_error=True)
    request = {
        "query": binding.document,
        "variables": _variables(binding, variables),
        "operationName": binding.operation_name,
    }
    output = await client.send(
        graphql_request_tool(tool, client.integration.base_url),
        credential,
        path=None,
        query=None,
        headers=None,
        cookies=None,
        body=request,
        form=None,
        multipart=None,
    )
    body = output.structured
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list) and errors:
        data = body.get("data") if isinstance(body, Mapping) else None
        status = f"HTTP {output.upstream_status}: " if output.upstream_status and output.upstream_status >= 400 else ""
        partial = " (partial data included)" if data else ""
        return ToolOutput(
            text=f"{binding.operation_name}: {status}GraphQL errors: {_messages(errors)}{partial}",
            structured={"errors": errors, "data": data},
            is_error=True,
            upstream_status=output.upstream_status,
        )
    if output.is_error:
        return output
    if not isinstance(body, Mapping) or "data" not in body:
        return ToolOutput(
            text=f"{binding.operation_name}: the endpoint did not answer with a GraphQL response "
            f"(no `data` or `errors`): {output.text[:300]}",
            is_error=True,
            upstream_status=output.upstream_status,
        )
    result = _at(body["data"], binding.result_path)
    return ToolOutput(
        text=json.dumps(result, separators=(",", ":"), ensure_ascii=False),
        structured=result,
        upstream_status=output.upstream_status,
        mime_type="application/json",
    )


class GraphQLExecutor(HttpExecutor):
    """GraphQL integrations: each tool is one operation POSTed through the integration's `UpstreamClient`."""

    async def run(self, tool: Tool, credential: Credential | None, arguments: Mapping[str, Any]) -> ToolOutput:
        return await execute_graphql(tool, self.client, credential, arguments)
