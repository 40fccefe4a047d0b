"""Cost of the compile's test stage: per tool, and for a 1,000-tool package (GitHub's description), whole process.

The package is compiled once from GitHub's full description (`@octokit/openapi`, the built-in's pinned source)
with its first 1,000 enabled tools; then `mcphub test` runs on it in a fresh process, timed from start to exit
(imports, loading the description, the mock, every tool), in wall time and in the CPU time of that process (on a
machine shared by other sessions wall time mostly measures the queue for a core). The stage's own report gives the
per-tool figures.
Target (issue 13): <= 30 s for 1,000 tools on this machine.

Measured 2026-12-06 (1,000 GitHub tools, load average 16.8 on 2 cores, i.e. ~8 runnable processes per core):
2 examples per tool (the compile's setting) 22.4 s CPU for the whole process, 314 s wall; 5 examples (`mcphub test`)
43.4 s CPU, 629 s wall. In-process, the stage costs ~15 ms CPU per tool with 2 examples (150 tools: 2.30 s); caching
openapi-core's format checker (it deep-copies one per schema per request) changed that by 1% and was not kept. The
earlier "35-50 s" were wall seconds at a lower load: in CPU the target is met; in wall time it depends on the queue.

    .venv/bin/python bench/teststage.py [--tools 1000] [--examples 5 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcphub.compiler import codegen  # noqa: E402
from mcphub.compiler.fetch import npm_file  # noqa: E402
from mcphub.compiler.ir import SourceInfo  # noqa: E402
from mcphub.compiler.sources.openapi import integration_from_file  # noqa: E402
from mcphub.compiler.spec import load_spec  # noqa: E402

TARGET_S = 30.0


def _package(tools: int, folder: Path) -> tuple[Path, int]:
    spec = load_spec(ROOT / "specs" / "github.yaml")
    assert spec.source.npm and spec.source.path
    source = npm_file(spec.source.npm, spec.source.path, sha256=spec.source.sha256)
    local = folder / "github.json"
    local.symlink_to(source)
    integration = integration_from_file(local, "github-full", source=SourceInfo(kind="openapi", path=local.name))
    enabled = [tool for tool in integration.tools if tool.enabled][:tools]
    integration = integration.model_copy(update={"tools": enabled})
    return codegen.build_package(integration, folder / "out", source_label="GitHub's description"), len(enabled)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(package: Path, specs: Path, examples: int) -> tuple[float, float, dict[str, object]]:
    """Wall and CPU seconds of the whole `mcphub test` process, and its JSON report."""
    command = [str(ROOT / ".venv" / "bin" / "mcphub"), "test", str(package), "--specs", str(specs), "--json"]
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([*command, "--examples", str(examples)], capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if not done.stdout.strip():
        raise SystemExit(f"mcphub test printed nothing: {done.stderr[-2000:]}")
    return wall, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--examples", type=int, nargs="+", default=[5, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-teststage-") as scratch:
        folder = Path(scratch)
        package, count = _package(args.tools, folder)
        print(f"package: {count} tools of GitHub's description (compiled once, not timed)")
        load = os.getloadavg()[0]
        print(f"load average {load:.1f} on {os.cpu_count()} cores: wall time is shared, CPU time is the process's own")
        print(
            f"{'examples':>8} {'wall s':>8} {'cpu s':>7} {'stage s':>8} {'ms/tool':>8} {'cpu ms':>7} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'calls':>6} failed"
        )
        for examples in args.examples:
            wall, cpu, report = _run(package, folder, examples)
            tools = report["tools"]
            assert isinstance(tools, list)
            seconds = sorted(float(tool["seconds"]) for tool in tools)
            calls = sum(int(tool["calls"]) for tool in tools)
            failed = [tool["tool"] for tool in tools if tool["status"] == "failed"]
            p95 = seconds[int(len(seconds) * 0.95)] if seconds else 0.0
            print(
                f"{examples:>8} {wall:>8.1f} {cpu:>7.1f} {float(str(report['seconds'])):>8.1f} "
                f"{1000 * wall / max(count, 1):>8.1f} {1000 * cpu / max(count, 1):>7.1f} "
                f"{1000 * statistics.median(seconds):>7.1f} {1000 * p95:>7.1f} "
                f"{calls:>6} {len(failed)}{' ' + ', '.join(map(str, failed[:5])) if failed else ''}"
            )
            per_1000, cpu_1000 = wall * 1000 / max(count, 1), cpu * 1000 / max(count, 1)
            verdict = "meets" if per_1000 <= TARGET_S else "misses"
            print(
                f"         -> {per_1000:.1f} s wall ({cpu_1000:.1f} s CPU) per 1,000 tools, whole process: {verdict} the "
                f"{TARGET_S:.0f} s target in wall time at this load"
            )


if __name__ == "__main__":
    main()
