"""The test stage: every HTTP tool of a package called through the real runtime, each request checked against its source.

For each tool: the mock upstream is set to answer as the source operation documents (its example, else an
instance of its response schema); hypothesis generates arguments from the tool's input schema (a bounded,
reproducible number of examples); the hub's own call pipeline (`CallPipeline`: argument validation, credential,
`HubCall`, `UpstreamClient`, the HTTP/1.1 transport) sends the request to the mock on 127.0.0.1; openapi-core
checks what arrived against the source operation (method, path, parameters and their serialisation, body and
content type); and the answer must come back as a successful tool result. Arguments the schema rejects must
be refused with nothing sent. A failing tool reports its first counter-example (shrunk by hypothesis): the
arguments and the request that went out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import HypothesisException

from mcphub.compiler.fetch import cache_root
from mcphub.compiler.ir import Integration, Tool
from mcphub.compiler.testing.arguments import arguments, invalid_arguments
from mcphub.compiler.testing.mock import Answer, MockTransport, MockUpstream, Received
from mcphub.compiler.testing.source import SourceOperations
from mcphub.compiler.testing.swagger import swagger_to_openapi3
from mcphub.runtime.catalog import Mount
from mcphub.runtime.mcp.access import SingleUserAccess
from mcphub.runtime.mcp.metrics import HubMetrics
from mcphub.runtime.mcp.pipeline import CallPipeline
from mcphub.runtime.package import load_package
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential, StaticCredentialProvider
from mcphub.runtime.upstream.executors.http import HttpExecutor
from mcphub.runtime.upstream.executors.registry import Executors

DEFAULT_EXAMPLES = 5  # `mcphub test`
# Inside `mcphub compile`: the simplest arguments and one more set per tool keep a 1,000-tool package near 30 s
# (bench/teststage.py); `mcphub test` looks further.
COMPILE_EXAMPLES = 2
_TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")
STAND_IN_ORIGIN = "https://relative-server.mcphub.test"


class _Failed(Exception):
    """Raised inside a hypothesis example so it shrinks to the smallest failing arguments."""


@dataclass(slots=True)
class Source:
    """What a package was compiled from: the OpenAPI document, a label naming it, its spec's credential params."""

    document: dict[str, Any]
    label: str
    credential_params: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Failure:
    """Why a tool failed, with the counter-example: the arguments and the request that was sent (if any)."""

    # request-invalid | refused-valid-arguments | sent-invalid-arguments | bad-result | no-operation | no-arguments
    # | stage-error | description-fault (no request could be right: the description's own error, not a wire bug)
    cause: str
    message: str
    arguments: dict[str, Any] | None = None
    request: Received | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "message": self.message,
            "arguments": self.arguments,
            "request": self.request.describe() if self.request is not None else None,
        }


@dataclass(slots=True)
class ToolReport:
    name: str
    operation: str  # "POST /repos/{owner}/{repo}/issues"
    status: str  # passed | failed | skipped
    calls: int = 0  # requests the tool sent
    seconds: float = 0.0
    failure: Failure | None = None
    note: str = ""  # why a tool was skipped

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.name,
            "operation": self.operation,
            "status": self.status,
            "calls": self.calls,
            "seconds": round(self.seconds, 4),
            "failure": self.failure.to_json() if self.failure is not None else None,
            "note": self.note or None,
        }


@dataclass(slots=True)
class StageReport:
    slug: str
    source: str
    tools: list[ToolReport] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None  # the stage could not run at all (source unreadable, not OpenAPI 3)

    @property
    def failed(self) -> list[ToolReport]:
        return [t for t in self.tools if t.status == "failed"]

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failed

    def to_json(self) -> dict[str, Any]:
        counts = {
            status: sum(1 for t in self.tools if t.status == status) for status in ("passed", "failed", "skipped")
        }
        return {
            "slug": self.slug,
            "source": self.source,
            "passed": self.passed,
            "error": self.error,
            "counts": counts,
            "seconds": round(self.seconds, 3),
            "tools": [tool.to_json() for tool in self.tools],
        }


ToolProgress = Callable[[ToolReport], None]


def check_package(
    package_dir: Path,
    source: Source,
    *,
    examples: int = DEFAULT_EXAMPLES,
    only: set[str] | None = None,
    progress: ToolProgress | None = None,
) -> StageReport:
    """Run the test stage over the compiled package in `package_dir`, against its OpenAPI 3 or Swagger 2.0 source.

    Blocking, like the compile it belongs to; called from inside an event loop (an async caller of the pipeline)
    it runs on a thread of its own, since the stage drives a loop of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _check_package(package_dir, source, examples=examples, only=only, progress=progress)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcphub-teststage") as pool:
        return pool.submit(
            _check_package, package_dir, source, examples=examples, only=only, progress=progress
        ).result()


def _check_package(
    package_dir: Path,
    source: Source,
    *,
    examples: int,
    only: set[str] | None,
    progress: ToolProgress | None,
) -> StageReport:
    started = time.perf_counter()
    # hypothesis keeps its caches (Unicode tables, ~3 s to compute, and constants read from modules) in
    # `./.hypothesis` unless told otherwise: a folder in whatever directory the user compiles in, computed again in
    # each new one. They go with mcphub's other caches instead.
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(cache_root() / "hypothesis")
    document, source_label = source.document, source.label
    package = load_package(package_dir, module_prefix="mcphub_teststage")
    integration = package.integration
    report = StageReport(slug=integration.slug, source=source_label)
    version = str(document.get("openapi", ""))
    if str(document.get("swagger", "")) == "2.0":
        # openapi-core reads OpenAPI 3.x: a Swagger 2.0 source is checked in its 3.0 form (testing/swagger.py).
        document = swagger_to_openapi3(document)
    elif not version.startswith("3."):
        found = f"swagger {document['swagger']}" if "swagger" in document else "no OpenAPI version"
        report.error = (
            f"{source_label or 'the source'}: the test stage checks OpenAPI 3.x and Swagger 2.0 descriptions; "
            f"this is {found}"
        )
        return report
    loop = asyncio.new_event_loop()
    try:
        # The credential's own parameters are the runtime's business: a hub spec's, and the api_key schemes the
        # compiler made of a key parameter when the description declares none (Nexmo's `api_key` query parameter).
        derived = [f"{s.location}:{s.param_name}" for s in integration.auth if s.type == "api_key" and s.param_name]
        credentials = [*source.credential_params, *derived]
        runner = _Runner(loop, package, SourceOperations(document, credentials), examples)
        loop.run_until_complete(runner.start())
        try:
            for tool in integration.tools:
                if not tool.enabled or (only is not None and tool.name not in only):
                    continue
                tool_report = runner.check(tool)
                report.tools.append(tool_report)
                if progress is not None:
                    progress(tool_report)
        finally:
            loop.run_until_complete(runner.close())
    finally:
        loop.close()
    report.seconds = time.perf_counter() - started
    return report


class _Runner:
    """One package mounted as a hub mounts it, its client's transport pointed at the mock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, package: Any, source: SourceOperations, examples: int) -> None:
        self.loop = loop
        self.package = package
        self.source = source
        self.examples = examples
        self.mock = MockUpstream()
        self.integration: Integration = package.integration
        # A credential for every kind of scheme, pinned (when a scheme moves calls to another server, such as
        # Atlassian's OAuth gateway) to one that keeps the description's own server.
        own = [s.id for s in self.integration.auth if not s.base_url]
        pinned = own[0] if own and len(own) < len(self.integration.auth) else None
        credential = Credential(
            token="mcphub-test-token",
            api_key="mcphub-test-key",
            username="mcphub-test",
            password="mcphub-test-password",
            scheme=pinned,
        )
        # The call pipeline every tool call of the hub runs through (`Hub.call`), without the MCP server around it:
        # importing that (the SDK's server, sessions, search) would cost the stage more than a small package's tests.
        self.access = SingleUserAccess(StaticCredentialProvider({self.integration.slug: credential}))
        self.pipeline = CallPipeline(HubMetrics())
        self.mount: Mount | None = None

    async def start(self) -> None:
        await self.mock.start()
        port = self.mock.port

        self.mount = Mount.build(self.package, "test-stage", _MockExecutors(port))

    async def close(self) -> None:
        if self.mount is not None:
            await self.mount.retire()
        await self.mock.close()

    def check(self, tool: Tool) -> ToolReport:
        binding = tool.http
        if binding is None:
            return ToolReport(tool.name, "", "skipped", note="not an HTTP tool")
        started = time.perf_counter()
        report = ToolReport(tool.name, f"{binding.method} {binding.path}", "passed")
        before = len(self.mock.received)
        template = self.source.template_of(binding.method, binding.path, tool.source_ref)
        operation = self.source.operation(binding.method, template) if template is not None else None
        if operation is None or template is None:
            report.failure = Failure(
                "no-operation", f"the source has no operation {binding.method} {binding.path} to check against"
            )
        else:
            self.mock.answer = self.source.answer(operation)
            unchecked: set[str] = set()
            try:
                report.failure = self._refuses_invalid(tool) or self._sends_valid(tool, template, unchecked)
            except Exception as exc:  # one tool's surprise must not end the stage for the others
                report.failure = Failure("stage-error", f"{type(exc).__name__}: {exc}")
            if unchecked:
                report.note = "partly checked, not checked: " + "; ".join(sorted(unchecked))[:500]
        report.status = "failed" if report.failure is not None else "passed"
        report.calls = len(self.mock.received) - before
        report.seconds = time.perf_counter() - started
        return report

    def _call(self, tool: Tool, args: dict[str, Any]) -> tuple[Any, list[Received]]:
        assert self.mount is not None
        before = len(self.mock.received)
        call = self.pipeline.call(self.access, None, self.mount, self.mount.tools[tool.name], args)
        result = self.loop.run_until_complete(call)
        return result, self.mock.received[before:]

    def _refuses_invalid(self, tool: Tool) -> Failure | None:
        what, args = invalid_arguments(tool)
        result, sent = self._call(tool, args)
        if sent or not result.is_error:
            message = f"arguments with {what} were not refused before sending"
            return Failure("sent-invalid-arguments", message, args, sent[0] if sent else None)
        return None

    def _sends_valid(self, tool: Tool, template: str, unchecked: set[str]) -> Failure | None:
        assert tool.http is not None
        binding = tool.http
        base_path = _base_path(self.integration, binding.server_url)
        expected = _expected_result(self.mock.answer, tool)
        found: list[Failure] = []

        # A spec's input transform (`input:`) may refuse arguments the schema cannot rule out (Gmail's text or html)
        # with its own message, and may look something up first (GitHub's file sha): its request is the last one.
        transformed = tool.input is not None

        def one(args: dict[str, Any]) -> None:
            result, sent = self._call(tool, args)
            failure = None
            text = " ".join(getattr(block, "text", "") for block in result.content)
            if not sent and transformed and result.is_error:
                unchecked.add("argument sets the spec's input transform refused before sending")
            elif not sent:
                failure = Failure("refused-valid-arguments", f"nothing was sent: {text[:500]}", args)
            elif len(sent) > 1 and not transformed:
                failure = Failure("request-invalid", f"{len(sent)} requests were sent for one call", args, sent[-1])
            elif transformed and sent[-1].method != binding.method.upper():
                # The mock answers a lookup with this operation's example, which may not be what the transform needs.
                unchecked.add("argument sets whose input transform stopped after its lookup")
            else:
                if len(sent) > 1:
                    unchecked.add("the input transform's lookup requests")
                checked = self.source.check(sent[-1], base_path, binding.method, template)
                unchecked.update(_parameter_of(note) for note in checked.unchecked)
                if checked.problems:
                    failure = Failure("request-invalid", "; ".join(checked.problems), args, sent[-1])
                elif checked.faults:
                    failure = Failure("description-fault", "; ".join(checked.faults), args, sent[-1])
                elif result.is_error:
                    message = f"the answer came back as a tool error: {text[:500]}"
                    failure = Failure("bad-result", message, args, sent[-1])
                elif expected is not None and result.structured_content != expected:
                    message = "the answer's JSON is not the tool result's structuredContent"
                    failure = Failure("bad-result", message, args)
            if failure is not None:
                found[:] = [failure]  # the last one raised is the shrunk counter-example
                raise _Failed(failure.message)

        # A seed per tool instead of `derandomize`, which hashes the test's source (tokenizing it) for every tool.
        test = seed(zlib.crc32(tool.name.encode()))(given(arguments(tool))(one))
        test = settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            print_blob=False,
        )(test)
        # No example database, so no key for it either: hypothesis would hash the test's source per tool otherwise.
        test._hypothesis_internal_database_key = None  # type: ignore[attr-defined]
        try:
            test()
        except _Failed:
            return found[-1]
        except HypothesisException as exc:
            return Failure("no-arguments", f"no arguments could be generated from the input schema: {exc}")
        return None


def _parameter_of(error: str) -> str:
    """`Query parameter error: created: ...` -> `query parameter created`; body errors name the body."""
    match = re.match(r"(\w+) parameter error: ([^:]+):", error) or re.match(r"Invalid (\w+) parameter: ([^:]+):", error)
    if match:
        why = " (its default in the description breaks its schema)" if "`default`" in error else ""
        return f"{match.group(1).lower()} parameter {match.group(2)}{why}"
    if error.startswith("query parameter "):  # a form-exploded map, named by the source check
        return error
    return error if error.startswith(("a pattern", "a part", "argument sets", "the input")) else "the request body"


def _base_path(integration: Integration, server_url: str | None) -> str:
    """The path part of the server URL the runtime puts before each operation path (`/api` of `https://x/api`)."""
    template = server_url or integration.base_url

    def default(match: re.Match[str]) -> str:
        variable = integration.server_variables.get(match.group(1))
        return variable.default if variable is not None else "x"

    return urlsplit(_TEMPLATE_VARIABLE.sub(default, template)).path.rstrip("/")


def _expected_result(answer: Answer, tool: Tool) -> dict[str, Any] | None:
    """The structuredContent a JSON answer must come back as (None: not JSON, or the spec reshapes it)."""
    if tool.response is not None or not answer.body or not (answer.content_type or "").endswith("json"):
        return None
    value = json.loads(answer.body)
    return value if isinstance(value, dict) else {"result": value}


class _MockExecutors(Executors):
    """Every HTTP integration's requests go to the stage's mock upstream, over the hub's own transport."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def build(self, integration: Integration) -> HttpExecutor:
        # The hosts the API's own URLs name, not a spec's `allowed_hosts`: those say where a deployment may send
        # (a stand-in on localhost in the integration tests), while the stage asks whether each request is right.
        policy = integration.policy.model_copy(update={"allowed_hosts": []})
        update: dict[str, Any] = {"policy": policy}
        if not urlsplit(integration.base_url).scheme:
            # A description whose server is relative (`/api`; the compile warned, and a hub spec's base_url fixes it):
            # its requests are still checked, sent to a stand-in origin.
            update["base_url"] = STAND_IN_ORIGIN + integration.base_url
        client = UpstreamClient(integration.model_copy(update=update), transport=MockTransport(self.port))
        return HttpExecutor(integration, client)
