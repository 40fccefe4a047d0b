"""Tool results from upstream answers: responses shaped into `ToolOutput`, failures into tool errors.

A JSON answer becomes structured content (after the spec's response shaper, if the tool has one), text stays
text, anything else is binary with its media type; an HTTP error status becomes a tool error carrying the
human part of the error body. `UpstreamFailure` is how request building and the client say "this call failed,
tell the model why": `UpstreamClient.send` turns it into a tool error, so nothing raises into the MCP layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2

from mcphub.compiler.ir import Integration
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.serialization import is_json

__all__ = ["UpstreamFailure", "response_shapers", "shape_response", "tool_error"]

_ERROR_BODY_CHARS = 500


class UpstreamFailure(Exception):
    """A failed exchange; becomes a tool error carrying this message."""

    def __init__(self, message: str, *, status: int | None = None, structured: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.structured = structured


def tool_error(text: str, *, status: int | None = None, structured: Any = None) -> ToolOutput:
    return ToolOutput(text=text, is_error=True, upstream_status=status, structured=structured)


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in ("application/xml", "application/javascript", "application/x-www-form-urlencoded")
        or media_type.endswith("+xml")
    )


def _error_message(value: Any) -> str | None:
    """The human part of a JSON error body, from the shapes APIs commonly use."""
    if isinstance(value, dict):
        for key in ("message", "error_description", "detail", "title", "error", "errors", "msg"):
            item = value.get(key)
            if isinstance(item, str) and item:
                return item
            nested = _error_message(item)
            if nested:
                return nested
    if isinstance(value, list) and value:
        return _error_message(value[0])
    return None


def shape_response(response: httpx2.Response, raw: bytes, shaper: Callable[[Any], Any] | None = None) -> ToolOutput:
    status = response.status_code
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    charset = response.charset_encoding or "utf-8"
    if status >= 400:
        parsed: Any = None
        if is_json(media_type) or raw[:1] in (b"{", b"["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        detail = _error_message(parsed) if parsed is not None else None
        if detail is None:
            detail = raw[:_ERROR_BODY_CHARS].decode(charset, errors="replace").strip() or response.reason_phrase
        return tool_error(
            f"upstream returned HTTP {status} {response.reason_phrase}: {detail}", status=status, structured=parsed
        )
    if not raw:
        return ToolOutput(text=f"HTTP {status} {response.reason_phrase} (empty body)", upstream_status=status)
    if is_json(media_type):
        try:
            value = json.loads(raw.decode(charset, errors="strict"))
        except (ValueError, LookupError) as exc:
            snippet = raw[:120].decode(charset, errors="replace")
            return tool_error(f"the upstream sent malformed JSON ({exc}); body starts with {snippet!r}", status=status)
        if shaper is not None:
            value = shaper(value)
            if isinstance(value, ToolOutput):  # the transform read a failure in a success answer (Slack's ok: false)
                return value
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return ToolOutput(text=text, structured=value, upstream_status=status, mime_type=media_type)
    if _is_text(media_type) or (not media_type and _looks_textual(raw)):
        return ToolOutput(
            text=raw.decode(charset, errors="replace"), upstream_status=status, mime_type=media_type or "text/plain"
        )
    return ToolOutput(
        binary=raw,
        mime_type=media_type or "application/octet-stream",
        upstream_status=status,
        meta={"url": str(response.url)},
    )


def _looks_textual(raw: bytes) -> bool:
    try:
        raw[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in raw[:4096]


def response_shapers(integration: Integration) -> dict[str, Callable[[Any], Any]]:
    """Each tool's response shaper (spec `response:`); the transforms module loads only when a tool has one."""
    shaped = [tool for tool in integration.tools if tool.response is not None]
    if not shaped:
        return {}
    from mcphub.runtime.upstream.transforms import shaper_for

    return {tool.name: shaper_for(tool.response) for tool in shaped if tool.response is not None}
