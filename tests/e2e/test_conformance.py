"""The official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios) against the hub.

The suite calls fixed fixture names (`test_simple_text`, `test://static-text`, `test_simple_prompt`, ...), so a
test integration `conformance` provides them — tools backed by a local upstream, static resources and prompt
templates — and the suite runs against its per-integration endpoint `/mcp/conformance`, where names are not
prefixed. The suite cannot send headers, so it talks to a small proxy that adds the hub's real API key (the one
`mcphub serve` printed on its first run); the hub itself still refuses any request without a key. Two suites run:
0.1.16 (the handshake era) and 0.2.0-alpha.12's `--requirements 2026-07-28`. Each has a baseline of the scenarios
(or, where a scenario passes all but a few checks, of those checks) the hub cannot pass yet, with the reason (what
the hub would need); the suite fails the run on a check that fails outside its baseline and on a baseline entry
that now passes (a stale entry), so the baselines always tell the truth about the hub. Every baselined check fails
on every run by the scenario's own logic, never by timing; a failed run lists every check that did not pass.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime.support import serve

from e2e import conformance_upstream
from e2e.node_support import (
    Answer,
    Front,
    Hub,
    NodeTools,
    SeenRequest,
    auth_proxy,
    json_answer,
    node_home,
    node_tools,
    run_node,
    serve_hub,
    serve_upstream,
)
from mcphub.compiler.ir import HttpBinding, Integration, Policy, Prompt, PromptArgument, Resource, SourceInfo, Tool
from mcphub.compiler.sources.mcp import listing_to_integration, record_upstream
from mcphub.compiler.spec import HubSpec

__all__ = ["node_home", "node_tools"]  # fixtures, used by name

SIMPLE_TEXT = "This is a simple text response for testing."
# A 1x1 PNG and a WAV with no samples: the smallest valid bodies of their kinds.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
WAV = b"RIFF" + struct.pack("<I4s4sIHHIIHH4sI", 36, b"WAVE", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16, b"data", 0)

# Scenario -> why the hub fails it, i.e. what it would need to pass. Every scenario of the handshake-era suite
# passes through the hub: what the fixture upstream does during a call (logging, progress, sampling, elicitation) is
# relayed to the caller, and its resources (templates, blobs, subscriptions) and prompts are proxied live.
EXPECTED_FAILURES: dict[str, str] = {}
# The 2026-07-28 requirements (`--requirements 2026-07-28` of the 0.2.0 alpha); extensions are not scored.
# Entries are `scenario:check-id`, so every other check of a listed scenario still has to pass, and an entry
# whose check passes is reported stale. Each check below fails on every run, by the scenario's own code: it
# calls a `test_input_required_*` fixture (or prompt) that no server has unless it returns input_required
# results (MRTR), and the hub answers the unknown name with a JSON-RPC error, which each of these checks
# scores the same way every time. The two WARNING checks (missing-input-response, ignore-extra-params) are
# SHOULDs whose every outcome but an input_required (or complete) result for that fixture is a warning;
# the suite's closing summary ticks them (it counts FAILURE checks only), but the baseline comparison does
# not, so they are listed here like the rest.
# Relaying an upstream's server->client requests to a 2026-07-28 client would need the hub to turn them into
# input_required results and hold the upstream call open across the client's retry (state in one process, against
# that revision's statelessness); the hub instead refuses them, and fails the call with -32021 when the client did
# not declare the capability (`validate-input` and `unsupported-methods` pass).
_NEEDS_INPUT_REQUIRED = "tools cannot return input_required results (MRTR) for the test_input_required_* fixtures"
EXPECTED_FAILURES_2026_07_28: dict[str, str] = {
    # The fixture upstream's test_trigger_tool_change changes its tool list and announces it; the hub does not
    # pass that on, because its own tool list did not change: it serves the tools compiled (and reviewed) at build
    # time, so an upstream cannot add tools behind the admin's back. Recompiling picks them up and notifies.
    # (The prompt list is proxied live, so test_trigger_prompt_change's announcement is relayed, and passes.)
    "server-stateless:sep-2575-server-sends-tools-list-changed-on-subscription": "the hub serves compiled tools",
    **{
        f"input-required-result-{scenario}:sep-2322-{check}": _NEEDS_INPUT_REQUIRED
        for scenario, check in (
            ("basic-elicitation", "elicitation-incomplete"),
            ("basic-sampling", "sampling-incomplete"),
            ("basic-list-roots", "list-roots-incomplete"),
            ("request-state", "request-state-incomplete"),
            ("multiple-input-requests", "multiple-inputs-incomplete"),
            ("multi-round", "multi-round-r1"),
            ("missing-input-response", "missing-response-rerequests"),  # WARNING
            ("non-tool-request", "non-tool-incomplete"),
            ("result-type", "result-type-included"),
            ("tampered-state", "reject-tampered-state"),
            ("capability-check", "respect-client-capabilities"),
            ("ignore-extra-params", "ignore-unexpected-params"),  # WARNING
        )
    },
}


def conformance_answer(request: SeenRequest) -> Answer:
    """The upstream behind the fixture tools: one route per content kind."""
    routes: dict[str, Answer] = {
        "/simple-text": (200, "text/plain; charset=utf-8", SIMPLE_TEXT.encode()),
        "/image": (200, "image/png", PNG),
        "/audio": (200, "audio/wav", WAV),
        "/embedded-resource": (200, "application/octet-stream", b"This is an embedded resource content."),
        "/mixed": (200, "image/png", PNG),
        "/error": (500, "text/plain", b"This tool intentionally returns an error for testing"),
    }
    return routes.get(request.path) or json_answer(404, {"message": f"no route {request.path}"})


def conformance_integration(base_url: str) -> Integration:
    """The suite's fixtures that the IR can express; the rest are in EXPECTED_FAILURES."""

    def tool(name: str, path: str, description: str) -> Tool:
        return Tool(
            name=name,
            description=description,
            input_schema={"type": "object", "properties": {}},
            http=HttpBinding(method="GET", path=path),
            source_ref=f"GET {path}",
        )

    return Integration(
        slug="conformance-http",
        name="Conformance fixtures over HTTP",
        description="The fixture tools, resources and prompts of the MCP conformance suite.",
        source=SourceInfo(kind="openapi", path="conformance.json"),
        base_url=base_url,
        tools=[
            tool("test_simple_text", "/simple-text", "Returns a simple text response."),
            tool("test_image_content", "/image", "Returns a 1x1 PNG."),
            tool("test_audio_content", "/audio", "Returns a tiny WAV."),
            tool("test_embedded_resource", "/embedded-resource", "Returns an embedded resource."),
            tool("test_multiple_content_types", "/mixed", "Returns text, an image and a resource."),
            tool("test_error_handling", "/error", "Always fails."),
        ],
        resources=[
            Resource(
                uri="test://static-text",
                name="static-text",
                description="A static text resource.",
                mime_type="text/plain",
                text="This is the content of the static text resource.",
            ),
            Resource(
                uri="test://watched-resource",
                name="watched-resource",
                description="A resource clients may subscribe to.",
                mime_type="text/plain",
                text="Watched resource content.",
            ),
        ],
        prompts=[
            Prompt(
                name="test_simple_prompt",
                description="A prompt without arguments.",
                template="This is a simple prompt for testing.",
            ),
            Prompt(
                name="test_prompt_with_arguments",
                description="A prompt with two required arguments.",
                arguments=[
                    PromptArgument(name="arg1", description="First test argument", required=True),
                    PromptArgument(name="arg2", description="Second test argument", required=True),
                ],
                template="Prompt with arguments: arg1='{arg1}', arg2='{arg2}'",
            ),
        ],
        policy=Policy(allow_private_network=True),
    )


def upstream_mcp_integration(url: str) -> Integration:
    """The fixture server (`conformance_upstream.py`) compiled as an `mcp`-kind integration, as `mcphub compile` does."""
    source = SourceInfo(kind="mcp", url=url)
    spec = HubSpec.model_validate(
        {"slug": "conformance", "name": "Conformance fixtures", "source": {"kind": "mcp", "url": url}}
    )
    listing = record_upstream(source, spec=spec, spec_path=Path("conformance.yaml"))
    integration = listing_to_integration(
        listing, slug="conformance", name="Conformance fixtures", source=source, max_full_length=spec.max_name_length
    )
    integration.policy = Policy(allow_private_network=True, timeout_s=30)
    return integration


@pytest.fixture(scope="module")
def conformance_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The hub mounting the fixture MCP server (`/mcp/conformance`) and the HTTP-backed fixtures (`/mcp/conformance-http`)."""
    with serve_upstream(conformance_answer) as upstream, serve(conformance_upstream.http_app()) as fixture_server:
        integration = upstream_mcp_integration(f"{fixture_server}/mcp")
        http_backed = conformance_integration(upstream.url)
        with serve_hub(integration, upstream, tmp_path_factory.mktemp("conformance-hub"), extra=[http_backed]) as hub:
            yield hub


def run_suite(
    hub: Front,
    tools: NodeTools,
    home: Path,
    tmp_path: Path,
    package: str,
    expected: dict[str, str],
    *options: str,
    slug: str = "conformance",
) -> None:
    """Run one conformance package's server scenarios against /mcp/<slug> with `expected` as the baseline.

    `hub` is one hub process here; tests/deploy runs the same suites through the balancer of three replicas."""
    baseline = tmp_path / "expected-failures.yml"
    # YAML is a superset of JSON; the suite reads `server: [scenario, ...]`.
    baseline.write_text(json.dumps({"server": sorted(expected)}))
    suite = tools.package_bin(package, "dist/index.js")
    with auth_proxy(hub) as proxy:
        url = f"{proxy}/mcp/{slug}"
        argv: list[str | Path] = [suite, "server", "--url", url, *options, "--expected-failures", baseline]
        argv += ["-o", tmp_path / "results"]
        result = run_node(tools, home, argv, expect_ok=False)
    # Exit 1 means a failure outside the baseline, or a baseline entry that passes now (remove it above).
    outcome = f"conformance suite against {url}:\n{result.describe()}\n--- checks not passing\n"
    outcome += "\n".join(not_passing(tmp_path / "results"))
    assert result.returncode == 0, outcome
    assert "Baseline check passed" in result.stdout, outcome


def not_passing(results: Path) -> list[str]:
    """`scenario:check STATUS message` of every FAILURE or WARNING check the run saved (to read a failed run)."""
    lines = []
    for checks in sorted(results.glob("*/checks.json")):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name).removeprefix("server-")
        for check in json.loads(checks.read_text()):
            if check.get("status") in ("FAILURE", "WARNING"):
                message = str(check.get("errorMessage") or "").replace("\n", " ")[:300]
                lines.append(f"{scenario}:{check.get('id')} {check['status']} {message}")
    return lines


def test_conformance_handshake_era(
    conformance_hub: Hub, node_tools: NodeTools, node_home: Path, tmp_path: Path
) -> None:
    """@modelcontextprotocol/conformance 0.1.16, the active suite (protocol 2025-06-18 and 2025-11-25)."""
    run_suite(conformance_hub, node_tools, node_home, tmp_path, "@modelcontextprotocol/conformance", EXPECTED_FAILURES)


def test_conformance_2026_07_28(conformance_hub: Hub, node_tools: NodeTools, node_home: Path, tmp_path: Path) -> None:
    """0.2.0-alpha.12 (installed as `conformance-modern`): what revision 2026-07-28 requires."""
    run_suite(
        conformance_hub,
        node_tools,
        node_home,
        tmp_path,
        "conformance-modern",
        EXPECTED_FAILURES_2026_07_28,
        "--requirements",
        "2026-07-28",
    )


# The HTTP-backed fixtures (`conformance-http`): what a compiled HTTP package serves through `runtime/upstream/response.py`'s
# response shaping (text, image, audio, binary as an embedded resource, upstream 500 as a tool error) and the IR's
# static resources and prompt templates. What an HTTP API cannot do is listed with the reason; the upstream-MCP
# fixtures above pass all of it.
_HTTP_ONLY = "an HTTP upstream cannot talk to the client during a call (the upstream-MCP fixtures pass this)"
EXPECTED_FAILURES_HTTP_BACKED: dict[str, str] = {
    "tools-call-mixed-content": "one HTTP response yields text + one resource; no tool can return an image too",
    "tools-call-with-logging": f"{_HTTP_ONLY} (notifications/message)",
    "tools-call-with-progress": f"{_HTTP_ONLY} (notifications/progress)",
    "tools-call-sampling": f"{_HTTP_ONLY} (sampling/createMessage)",
    "tools-call-elicitation": f"{_HTTP_ONLY} (elicitation/create)",
    "elicitation-sep1034-defaults": f"{_HTTP_ONLY} (elicitation/create)",
    "elicitation-sep1330-enums": f"{_HTTP_ONLY} (elicitation/create)",
    "resources-read-binary": "IR resources carry text only (no blob), so test://static-binary cannot exist",
    "resources-templates-read": "the IR has no resource templates (test://template/{id}/data)",
    "prompts-get-embedded-resource": "IR prompts are one text message; no embedded resource content",
    "prompts-get-with-image": "IR prompts are one text message; no image content",
}


def test_conformance_http_backed_fixtures(
    conformance_hub: Hub, node_tools: NodeTools, node_home: Path, tmp_path: Path
) -> None:
    """0.1.16 against the compiled HTTP package: the gateway's own shaping of upstream HTTP responses."""
    run_suite(
        conformance_hub,
        node_tools,
        node_home,
        tmp_path,
        "@modelcontextprotocol/conformance",
        EXPECTED_FAILURES_HTTP_BACKED,
        slug="conformance-http",
    )
