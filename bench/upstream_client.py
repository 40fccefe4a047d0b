"""CPU per tool call of the upstream client alone (`UpstreamClient.send`), this tree against another commit's.

    git archive <commit> mcphub | tar -x -C /tmp/base
    .venv/bin/python bench/upstream_client.py --baseline /tmp/base [--rounds 7] [--calls 3000]

The gateway bench (`bench/gateway.py`) measures a whole tool call through the hub, where the upstream client is a
fifth of the server's CPU and the machine's load moves every figure by ±15%. This one isolates the client: a
worker process per tree builds the bench's `echo` integration, then sends `--calls` tool calls through
`UpstreamClient.send` (request building, egress check, the HTTP/1.1 transport, response shaping) to the same
upstream (a raw ASGI stub in its own process), one at a time and 8 at once, and reports its own CPU time per call.
Workers of the two trees alternate, `--rounds` times each; the medians and the minimums (the least disturbed run)
and their ratios are the result. CPU time, not wall time, so other processes on the machine disturb it least.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_line, server_process, write_result
from gateway import UPSTREAM, openapi_document

WORKER = """
import asyncio, json, sys, time
from mcphub.compiler.ir import Integration
try:
    from mcphub.runtime.upstream.client import UpstreamClient
except ImportError:  # before the split of runtime/upstream/http.py
    from mcphub.runtime.upstream.http import UpstreamClient

integration = Integration.model_validate_json(open(sys.argv[1]).read())
calls = int(sys.argv[2])
tool = integration.tool("echo")
parts = dict(path=None, query=None, headers=None, cookies=None, form=None, multipart=None)

async def main():
    client = UpstreamClient(integration)
    async def one():
        output = await client.send(tool, None, body={"text": "hello from the bench"}, **parts)
        assert not output.is_error, output.text
    async def run(concurrency):
        async def lane(n):
            for _ in range(n):
                await one()
        per_lane = calls // concurrency
        started, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(lane(per_lane) for _ in range(concurrency)))
        done = per_lane * concurrency
        return (time.process_time() - started) * 1e6 / done, (time.perf_counter() - wall) * 1e6 / done
    await run(1)  # warm-up: connections, caches
    result = {f"c{c}": run_c for c in (1, 8) for run_c in [await run(c)]}
    await client.aclose()
    print(json.dumps(result))

import uvloop  # the hub runs on uvloop
uvloop.install()
asyncio.run(main())
"""


def worker(tree: Path, integration_file: Path, calls: int) -> dict[str, list[float]]:
    """One worker run importing mcphub from `tree` (`python -c` puts its working directory first on sys.path)."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(integration_file), str(calls)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker in {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="a folder with another commit's mcphub/")
    parser.add_argument("--rounds", type=int, default=7, help="worker runs per tree, alternating (default 7)")
    parser.add_argument("--calls", type=int, default=3000, help="measured calls per concurrency level and run")
    args = parser.parse_args()
    if not (args.baseline / "mcphub" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no mcphub/ package there (git archive <commit> mcphub | tar -x)")

    from mcphub.compiler.ir import SourceInfo
    from mcphub.compiler.sources.openapi import openapi_to_integration

    load = [os.getloadavg()[0]]
    with server_process("upstream", sys.executable, UPSTREAM, health_path="/") as upstream:
        integration = openapi_to_integration(
            openapi_document(upstream.base_url, 0), slug="bench0", source=SourceInfo(kind="openapi", path="b.json")
        )
        integration.base_url = upstream.base_url
        integration.policy.allow_private_network = True
        integration_file = ROOT / "bench" / "results" / "upstream-client-integration.json"
        integration_file.parent.mkdir(parents=True, exist_ok=True)
        integration_file.write_text(integration.model_dump_json())
        runs: dict[str, list[dict[str, list[float]]]] = {"this tree": [], "baseline": []}
        for index in range(args.rounds):
            for name, tree in (("this tree", ROOT), ("baseline", args.baseline)):
                runs[name].append(worker(tree, integration_file, args.calls))
            load.append(os.getloadavg()[0])
            print(f"  round {index + 1}/{args.rounds} done (load {load[-1]:.1f})", file=sys.stderr)

    out = [f"# Upstream client CPU per call ({machine_line()})", ""]
    out.append(
        f"`UpstreamClient.send` of the bench's `echo` tool, {args.calls} calls per level and run, {args.rounds} "
        f"alternating runs per tree; baseline = {args.baseline}. 1-minute load average during the runs: "
        f"{min(load):.1f}–{max(load):.1f} on {os.cpu_count()} CPUs."
    )
    out += [
        "",
        "| concurrency | this tree CPU µs/call: median, min (runs) | baseline: median, min (runs) "
        "| median ratio | min ratio |",
        "|---:|---|---|---:|---:|",
    ]
    for level in ("c1", "c8"):
        mine = [run[level][0] for run in runs["this tree"]]
        base = [run[level][0] for run in runs["baseline"]]
        ratio = statistics.median(mine) / statistics.median(base)
        listed = ", ".join(f"{v:.0f}" for v in mine), ", ".join(f"{v:.0f}" for v in base)
        out.append(
            f"| {level[1:]} | {statistics.median(mine):.1f}, {min(mine):.1f} ({listed[0]}) "
            f"| {statistics.median(base):.1f}, {min(base):.1f} ({listed[1]}) | {ratio:.3f} | {min(mine) / min(base):.3f} |"
        )
    text = "\n".join(out) + "\n"
    print(text)
    print(f"written to {write_result('upstream-client', text)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
