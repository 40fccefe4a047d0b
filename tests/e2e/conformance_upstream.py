"""An upstream MCP server with the fixtures of the MCP conformance suite, for mounting behind the hub.

The conformance scenarios call fixed names (`test_simple_text`, `test://static-binary`, `test_prompt_with_image`,
...) and expect exact payloads; each scenario's description in `@modelcontextprotocol/conformance` states them.
This server implements them with the official SDK's low-level `Server`, including everything a tool does *during*
a call (logging, progress, sampling, elicitation, roots), resource templates, binary resources, subscriptions and
rich prompts. The hub mounts it as an `mcp`-kind integration and the suite runs against `/mcp/<slug>`, so every
scenario that passes proves the hub relays that feature faithfully.

Run it standalone with `python tests/e2e/conformance_upstream.py stdio` (stdio) or `... http PORT`
(streamable HTTP on 127.0.0.1:PORT/mcp); tests import `build_server()` / `http_app()`.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata

SIMPLE_TEXT = "This is a simple text response for testing."
# A 1x1 PNG and a WAV with no samples: the smallest valid bodies of their kinds.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = b"RIFF" + struct.pack("<I4s4sIHHIIHH4sI", 36, b"WAVE", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16, b"data", 0)
WAV_B64 = base64.b64encode(WAV).decode("ascii")
STATIC_TEXT = "This is the content of the static text resource."
WATCHED = "test://watched-resource"
TEMPLATE = "test://template/{id}/data"

_NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _text(text: str) -> types.TextContent:
    return types.TextContent(text=text)


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> types.Tool:
    return types.Tool(name=name, description=description, input_schema=schema or _NO_ARGS)


def _string_args(*names: str) -> dict[str, Any]:
    return {"type": "object", "properties": {n: {"type": "string"} for n in names}, "required": list(names)}


TOOLS = [
    _tool("test_simple_text", "Returns a simple text response."),
    _tool("test_image_content", "Returns a 1x1 PNG."),
    _tool("test_audio_content", "Returns a tiny WAV."),
    _tool("test_embedded_resource", "Returns an embedded text resource."),
    _tool("test_multiple_content_types", "Returns text, an image and an embedded resource."),
    _tool("test_tool_with_logging", "Sends three log messages while it runs."),
    _tool("test_error_handling", "Always fails."),
    _tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100."),
    _tool("test_sampling", "Asks the client's LLM to answer a prompt.", _string_args("prompt")),
    _tool("test_elicitation", "Asks the user for a username and an email.", _string_args("message")),
    _tool("test_elicitation_sep1034_defaults", "Elicitation with defaults for every primitive type."),
    _tool("test_elicitation_sep1330_enums", "Elicitation with the five enum variants."),
    _tool("test_list_roots", "Asks the client for its roots."),
    _tool("test_touch_watched", "Announces an update of test://watched-resource to its subscribers."),
    # The 2026-07-28 suite's diagnostic tools (server-stateless): one needing sampling, one eliciting, one logging.
    _tool("test_missing_capability", "Needs the client's sampling capability."),
    _tool("test_streaming_elicitation", "Asks the user a question while it runs."),
    _tool("test_logging_tool", "Logs while it runs (only to clients that asked for logs)."),
    # server-stateless's list mutation hooks: each toggles one dynamic entry and announces the change.
    _tool("test_trigger_prompt_change", "Adds or removes the prompt test_dynamic_prompt."),
    _tool("test_trigger_tool_change", "Adds or removes the tool test_dynamic_tool."),
]
DYNAMIC_TOOL = _tool("test_dynamic_tool", "Exists while test_trigger_tool_change has toggled it on.")
DYNAMIC_PROMPT = types.Prompt(name="test_dynamic_prompt", description="Exists while toggled on.")

_SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True},
    },
}
_SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
}


class Fixtures:
    """The server's handlers and its one piece of state: which sessions subscribed to which URIs."""

    def __init__(self) -> None:
        self.subscribers: dict[str, dict[int, Any]] = {}
        self.dynamic_tool = False
        self.dynamic_prompt = False

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[*TOOLS, *([DYNAMIC_TOOL] if self.dynamic_tool else [])])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name, arguments = params.name, params.arguments or {}
        session, related = ctx.session, ServerMessageMetadata(related_request_id=ctx.request_id)
        if name == "test_simple_text":
            return types.CallToolResult(content=[_text(SIMPLE_TEXT)])
        if name == "test_image_content":
            return types.CallToolResult(content=[types.ImageContent(data=PNG_B64, mime_type="image/png")])
        if name == "test_audio_content":
            return types.CallToolResult(content=[types.AudioContent(data=WAV_B64, mime_type="audio/wav")])
        if name == "test_embedded_resource":
            resource = types.TextResourceContents(
                uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
            )
            return types.CallToolResult(content=[types.EmbeddedResource(resource=resource)])
        if name == "test_multiple_content_types":
            resource = types.TextResourceContents(
                uri="test://mixed-content-resource",
                mime_type="application/json",
                text=json.dumps({"test": "data", "value": 123}),
            )
            return types.CallToolResult(
                content=[
                    _text("Multiple content types test:"),
                    types.ImageContent(data=PNG_B64, mime_type="image/png"),
                    types.EmbeddedResource(resource=resource),
                ]
            )
        if name == "test_tool_with_logging":
            for i, message in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
                if i:
                    await anyio.sleep(0.05)  # the scenario's stated behaviour: messages spread over the call
                await session.send_log_message("info", message, "conformance", related_request_id=ctx.request_id)
            return types.CallToolResult(content=[_text("Logging test completed")])
        if name == "test_error_handling":
            return types.CallToolResult(
                content=[_text("This tool intentionally returns an error for testing")], is_error=True
            )
        if name == "test_tool_with_progress":
            for i, progress in enumerate((0, 50, 100)):
                if i:
                    await anyio.sleep(0.05)
                await session.report_progress(progress, 100, f"{progress}%")
            return types.CallToolResult(content=[_text("Progress test completed")])
        if name == "test_sampling":
            request = types.CreateMessageRequest(
                params=types.CreateMessageRequestParams(
                    messages=[types.SamplingMessage(role="user", content=_text(str(arguments.get("prompt", ""))))],
                    max_tokens=100,
                )
            )
            answer = await session.send_request(request, types.CreateMessageResult, metadata=related)
            said = answer.content.text if isinstance(answer.content, types.TextContent) else str(answer.content)
            return types.CallToolResult(content=[_text(f"LLM response: {said}")])
        if name in ("test_elicitation", "test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums"):
            if name == "test_elicitation":
                message = str(arguments.get("message", ""))
                schema: dict[str, Any] = {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"},
                    },
                    "required": ["username", "email"],
                }
            else:
                message = "Please review and update the form fields"
                schema = _SEP1034_SCHEMA if name.endswith("defaults") else _SEP1330_SCHEMA
            elicit = types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=message, requested_schema=schema)  # type: ignore[arg-type]
            )
            result = await session.send_request(elicit, types.ElicitResult, metadata=related)
            content = json.dumps(result.content or {})
            if name == "test_elicitation":
                return types.CallToolResult(
                    content=[_text(f"User response: action={result.action}, content={content}")]
                )
            return types.CallToolResult(
                content=[_text(f"Elicitation completed: action={result.action}, content={content}")]
            )
        if name == "test_missing_capability":
            question = types.SamplingMessage(role="user", content=_text("Say hello"))
            request = types.CreateMessageRequest(
                params=types.CreateMessageRequestParams(messages=[question], max_tokens=10)
            )
            answer = await session.send_request(request, types.CreateMessageResult, metadata=related)
            return types.CallToolResult(content=[_text(f"sampled: {answer.content}")])
        if name == "test_streaming_elicitation":
            elicit = types.ElicitRequest(
                params=types.ElicitRequestFormParams(  # type: ignore[arg-type]
                    message="Your name?",
                    requested_schema={"type": "object", "properties": {"name": {"type": "string"}}},
                )
            )
            result = await session.send_request(elicit, types.ElicitResult, metadata=related)
            return types.CallToolResult(content=[_text(f"elicited: {result.action}")])
        if name == "test_logging_tool":
            for message in ("first", "second", "third"):
                await session.send_log_message("info", message, "conformance", related_request_id=ctx.request_id)
            return types.CallToolResult(content=[_text("logged")])
        if name == "test_list_roots":
            roots = await session.send_request(types.ListRootsRequest(), types.ListRootsResult, metadata=related)
            return types.CallToolResult(content=[_text("Roots: " + ", ".join(str(r.uri) for r in roots.roots))])
        if name in ("test_trigger_prompt_change", "test_trigger_tool_change"):
            # On this call's own stream, so the change is announced before the call's result.
            if name == "test_trigger_prompt_change":
                self.dynamic_prompt = not self.dynamic_prompt
                changed: types.ServerNotification = types.PromptListChangedNotification()
            else:
                self.dynamic_tool = not self.dynamic_tool
                changed = types.ToolListChangedNotification()
            await session.send_notification(changed, ctx.request_id)
            return types.CallToolResult(content=[_text(f"sent {changed.method}")])
        if name == "test_touch_watched":
            reached = 0
            for subscriber in list(self.subscribers.get(WATCHED, {}).values()):
                await subscriber.send_resource_updated(WATCHED)
                reached += 1
            return types.CallToolResult(content=[_text(f"notified {reached} subscriber(s)")])
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri="test://static-text",
                    name="static-text",
                    description="A static text resource.",
                    mime_type="text/plain",
                ),
                types.Resource(
                    uri="test://static-binary",
                    name="static-binary",
                    description="A static binary resource (PNG).",
                    mime_type="image/png",
                ),
                types.Resource(
                    uri=WATCHED,
                    name="watched-resource",
                    description="A resource clients may subscribe to.",
                    mime_type="text/plain",
                ),
            ]
        )

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template=TEMPLATE, name="template", description="Data for an id.", mime_type="application/json"
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == "test://static-text":
            contents: list[Any] = [types.TextResourceContents(uri=uri, mime_type="text/plain", text=STATIC_TEXT)]
        elif uri == "test://static-binary":
            contents = [types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG_B64)]
        elif uri == WATCHED:
            contents = [types.TextResourceContents(uri=uri, mime_type="text/plain", text="Watched resource content.")]
        elif uri.startswith("test://template/") and uri.endswith("/data"):
            item = uri.removeprefix("test://template/").removesuffix("/data")
            text = json.dumps({"id": item, "templateTest": True, "data": f"Data for ID: {item}"})
            contents = [types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        else:
            raise MCPError(-32002, f"Resource not found: {uri}", {"uri": uri})
        return types.ReadResourceResult(contents=contents)

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        self.subscribers.setdefault(str(params.uri), {})[id(ctx.session._connection)] = ctx.session
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.subscribers.get(str(params.uri), {}).pop(id(ctx.session._connection), None)
        return types.EmptyResult()

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        def argument(name: str, description: str) -> types.PromptArgument:
            return types.PromptArgument(name=name, description=description, required=True)

        return types.ListPromptsResult(
            prompts=[
                types.Prompt(name="test_simple_prompt", description="A prompt without arguments."),
                types.Prompt(
                    name="test_prompt_with_arguments",
                    description="A prompt with two required arguments.",
                    arguments=[argument("arg1", "First test argument"), argument("arg2", "Second test argument")],
                ),
                types.Prompt(
                    name="test_prompt_with_embedded_resource",
                    description="A prompt embedding a resource.",
                    arguments=[argument("resourceUri", "URI of the resource to embed")],
                ),
                types.Prompt(name="test_prompt_with_image", description="A prompt with an image."),
                *([DYNAMIC_PROMPT] if self.dynamic_prompt else []),
            ]
        )

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        values = params.arguments or {}

        def user(content: Any) -> types.PromptMessage:
            return types.PromptMessage(role="user", content=content)

        if params.name == "test_simple_prompt":
            messages = [user(_text("This is a simple prompt for testing."))]
        elif params.name == "test_prompt_with_arguments":
            text = f"Prompt with arguments: arg1='{values.get('arg1', '')}', arg2='{values.get('arg2', '')}'"
            messages = [user(_text(text))]
        elif params.name == "test_prompt_with_embedded_resource":
            resource = types.TextResourceContents(
                uri=values.get("resourceUri", "test://example-resource"),
                mime_type="text/plain",
                text="Embedded resource content for testing.",
            )
            messages = [
                user(types.EmbeddedResource(resource=resource)),
                user(_text("Please process the embedded resource above.")),
            ]
        elif params.name == DYNAMIC_PROMPT.name and self.dynamic_prompt:
            messages = [user(_text("A prompt that comes and goes."))]
        elif params.name == "test_prompt_with_image":
            messages = [
                user(types.ImageContent(data=PNG_B64, mime_type="image/png")),
                user(_text("Please analyze the image above.")),
            ]
        else:
            raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}")
        return types.GetPromptResult(messages=messages)

    async def complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        values = [v for v in ("paris", "park", "party") if v.startswith(params.argument.value)]
        return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))

    async def set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        return types.EmptyResult()


class _FixtureServer(Server[Any]):
    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        # The trigger tools change the tool and prompt lists, so the handshake says they may change.
        options = notification_options or NotificationOptions(prompts_changed=True, tools_changed=True)
        return super().create_initialization_options(options, experimental_capabilities, extensions)


def build_server() -> Server[Any]:
    """The fixture server (a fresh one, with its own subscription and list state)."""
    fixtures = Fixtures()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # logging and roots are deprecated in 2026-07-28; the suite still tests them
        return _FixtureServer(
            "conformance-upstream",
            version="1.0.0",
            on_list_tools=fixtures.list_tools,
            on_call_tool=fixtures.call_tool,
            on_list_resources=fixtures.list_resources,
            on_list_resource_templates=fixtures.list_resource_templates,
            on_read_resource=fixtures.read_resource,
            on_subscribe_resource=fixtures.subscribe,
            on_unsubscribe_resource=fixtures.unsubscribe,
            on_list_prompts=fixtures.list_prompts,
            on_get_prompt=fixtures.get_prompt,
            on_completion=fixtures.complete,
            on_set_logging_level=fixtures.set_level,
        )


def http_app() -> Any:
    """The fixture server as an ASGI app serving streamable HTTP on `/mcp`."""
    return build_server().streamable_http_app()


def main(argv: list[str]) -> None:
    if argv[:1] == ["stdio"]:
        from mcp.server.stdio import stdio_server

        async def run() -> None:
            server = build_server()
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(run)
    elif len(argv) == 2 and argv[0] == "http":
        import uvicorn

        uvicorn.run(http_app(), host="127.0.0.1", port=int(argv[1]), log_level="warning")
    else:
        sys.exit("usage: conformance_upstream.py stdio | http PORT")


if __name__ == "__main__":
    main(sys.argv[1:])
