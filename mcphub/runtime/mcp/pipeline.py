"""The one call pipeline: policy → validate → credential → invoke → refresh → usage, for every tool call.

Both ways a `tools/call` arrives (the SDK's handler in `hub.py` and the direct path in `fastpath.py`) end in
`CallPipeline.call`, and what differs between a hub with accounts and one without is the `Access` it is given,
never a branch here. Every outcome is a `CallToolResult`: failures of the upstream or the package are tool errors.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from pydantic import TypeAdapter

from mcphub.compiler.ir import Integration
from mcphub.runtime.catalog import Mount, ToolEntry
from mcphub.runtime.mcp.access import Access
from mcphub.runtime.mcp.metrics import HubMetrics
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.tenancy.policy import PolicyError
from mcphub.runtime.tenancy.usage import Status
from mcphub.runtime.upstream.call import HubCall
from mcphub.runtime.upstream.credentials import Credential

__all__ = ["CallPipeline", "to_call_result"]

logger = logging.getLogger(__name__)

_CONTENT_BLOCK: TypeAdapter[types.ContentBlock] = TypeAdapter(types.ContentBlock)


def to_call_result(output: ToolOutput, *, fallback_uri: str) -> types.CallToolResult:
    """The MCP result for a tool's output: text, structured JSON, an image, audio, or other binary as a resource."""
    content: list[types.ContentBlock] = []
    if output.content is not None:
        content.extend(_CONTENT_BLOCK.validate_python(block) for block in output.content)
    if output.text:
        content.append(types.TextContent(text=output.text))
    if output.binary is not None:
        mime = output.mime_type or "application/octet-stream"
        data = base64.b64encode(output.binary).decode("ascii")
        # Images and audio as their own content types, so clients can show or play them.
        if mime.startswith("image/"):
            content.append(types.ImageContent(data=data, mime_type=mime))
        elif mime.startswith("audio/"):
            content.append(types.AudioContent(data=data, mime_type=mime))
        else:
            if not output.text:
                content.append(
                    types.TextContent(text=f"Binary response: {mime}, {len(output.binary)} bytes (embedded).")
                )
            uri = str(output.meta.get("url") or fallback_uri)
            content.append(
                types.EmbeddedResource(resource=types.BlobResourceContents(uri=uri, mime_type=mime, blob=data))
            )
    if not content:
        content.append(types.TextContent(text="(no content)"))
    structured: dict[str, Any] | None = None
    if output.structured is not None:
        # structuredContent is an object on the wire; other JSON values are wrapped, as FastMCP does.
        structured = output.structured if isinstance(output.structured, dict) else {"result": output.structured}
    return types.CallToolResult(content=content, structured_content=structured, is_error=output.is_error)


class CallPipeline:
    """Runs one tool call of a mount for a caller, under an `Access`, and observes it in the hub's metrics."""

    def __init__(self, metrics: HubMetrics) -> None:
        self.metrics = metrics

    async def call(
        self,
        access: Access,
        principal: KeyPrincipal | None,
        mount: Mount,
        entry: ToolEntry,
        arguments: Mapping[str, Any],
    ) -> types.CallToolResult:
        started = time.perf_counter()
        tool = entry.tool
        async with mount.use():
            try:
                await access.check(principal, mount.integration, tool.name)
            except PolicyError as exc:
                status: Status = "rate_limited" if exc.status == "rate_limited" else "denied"
                output, outcome = ToolOutput(text=str(exc), is_error=True), str(status)
            else:
                output, outcome = await self._run(access, principal, mount, entry, arguments)
                status = _status(outcome, output)
        seconds = time.perf_counter() - started
        self.metrics.observe_call(mount.slug, tool.name, outcome, seconds)
        access.record(principal, mount.slug, tool.name, status, seconds, arguments, output)
        return to_call_result(output, fallback_uri=f"mcphub://{mount.slug}/{tool.name}")

    async def _run(
        self,
        access: Access,
        principal: KeyPrincipal | None,
        mount: Mount,
        entry: ToolEntry,
        arguments: Mapping[str, Any],
    ) -> tuple[ToolOutput, str]:
        """Validate, then run with the caller's credential; renew an OAuth credential the upstream refused (401)."""
        integration = mount.integration
        invalid = _invalid_arguments(entry, arguments)
        if invalid is not None:
            return invalid, "invalid_arguments"  # never reaches the upstream, needs no credential
        try:
            credential, stored = await access.credential(principal, integration)
        except Exception as exc:  # an OAuth refresh that failed: the user must reconnect
            logger.warning("credential of user %s for %s unavailable: %s", _who(principal), mount.slug, exc)
            return ToolOutput(text=f"{integration.name} credential unavailable: {exc}", is_error=True), "upstream_error"
        output, outcome = await _invoke(mount, entry, arguments, credential)
        if output.upstream_status == 401 and stored and credential is not None and _is_oauth(integration, credential):
            try:
                fresh = await access.refresh(principal, integration, credential)
            except Exception as exc:
                logger.warning("refreshing %s for user %s failed: %s", mount.slug, _who(principal), exc)
                return output, outcome
            if fresh is not None and fresh.token != credential.token:
                output, outcome = await _invoke(mount, entry, arguments, fresh)
        return output, outcome


async def _invoke(
    mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any], credential: Credential | None
) -> tuple[ToolOutput, str]:
    """Run the package's function on validated arguments; a failing package fails its own call, never the hub."""
    tool = entry.tool
    try:
        call = HubCall(tool, mount.executor, credential)
        output = await mount.package.invoke(call, tool.name, _known_arguments(tool.input_schema, arguments))
    except Exception as exc:
        logger.exception("tool %s__%s raised", mount.slug, tool.name)
        text = f"{tool.name} failed inside the hub: {type(exc).__name__}: {exc}"
        return ToolOutput(text=text, is_error=True), "internal_error"
    return output, "tool_error" if output.is_error else "ok"


def _who(principal: KeyPrincipal | None) -> str:
    return str(principal.user_id) if principal is not None else "-"


def _invalid_arguments(entry: ToolEntry, arguments: Mapping[str, Any]) -> ToolOutput | None:
    """The tool error for arguments that do not match the tool's schema (nothing is sent), or None."""
    problems = entry.validate(arguments)
    if not problems:
        return None
    text = f"Invalid arguments for {entry.tool.name}: " + "; ".join(problems) + ". Nothing was sent."
    return ToolOutput(text=text, is_error=True)


def _status(outcome: str, output: ToolOutput) -> Status:
    """The usage status of a call that reached the package: the upstream failing is not the caller's error."""
    if outcome == "ok":
        return "ok"
    if outcome == "internal_error" or (
        outcome == "tool_error" and (output.upstream_status is None or output.upstream_status >= 500)
    ):
        return "upstream_error"
    return "tool_error"


def _is_oauth(integration: Integration, credential: Credential) -> bool:
    schemes = [s for s in integration.auth if credential.scheme is None or s.id == credential.scheme]
    return bool(credential.token) and any(s.type in ("oauth2", "openid_connect") for s in schemes)


def _known_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop keys the schema doesn't declare: generated functions take declared keywords only."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or all(key in properties for key in arguments):
        return arguments
    return {key: value for key, value in arguments.items() if key in properties}
