"""Spec -> servable tool list: MCP Hub's compiler versus FastMCP's `from_openapi`, side by side.

Each measurement runs in a fresh child process (so imports, caches and peak memory don't leak from
one to the next) and reports wall time of the work itself (imports excluded) and the child's peak
RSS. Both sides run in the same invocation of this script, on the same machine, back to back.

    make bench              # or: .venv/bin/python bench/compile.py [--runs 3] [--only github]

FastMCP is installed in its own venv under .cache/bench (pinned below) so its dependencies never
mix with ours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, ensure_venv, run_child

SHARED_SPECS = ROOT.parent / "shared" / "specs"
FASTMCP_VERSION = "4.1.2"
APIS = {
    "github": SHARED_SPECS / "github.openapi.json",
    "stripe": SHARED_SPECS / "stripe.openapi.json",
    "jira": SHARED_SPECS / "jira.openapi.json",
}
# Targets from the issue: time ratio (ours / FastMCP) and memory ratio.
TIME_TARGET = {"github": 1 / 5, "jira": 1 / 5, "stripe": 1 / 10}
MEMORY_TARGET = 1 / 2

OURS = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time
    from pathlib import Path
    from mcphub.compiler.pipeline import Target, compile_target
    from mcphub.runtime.package import load_package
    path, slug = Path(sys.argv[1]), sys.argv[2]
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = compile_target(Target(path, is_spec=False, slug=slug), Path(out))
        assert report.error is None, report.error
        compiled = time.perf_counter()
        package = load_package(Path(out) / slug)
        tools = [
            {"name": f"{slug}__{t.name}", "description": t.description, "inputSchema": t.input_schema}
            for t in package.integration.tools
            if t.enabled
        ]
        done = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    scan_s = report.scan_seconds or 0.0
    print(json.dumps({"seconds": done - started - scan_s, "scan_s": scan_s, "compile_s": compiled - started,
                      "load_list_s": done - compiled, "tools": len(tools), "rss_mb": rss_mb}))
    """
)

# Loading for serving only (what `mcphub serve` pays per package at start): import + tool list.
LOAD_ONLY = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time
    from pathlib import Path
    from mcphub.compiler.pipeline import Target, compile_target
    from mcphub.runtime.package import load_package
    path, slug = Path(sys.argv[1]), sys.argv[2]
    out = Path(tempfile.mkdtemp())
    compile_target(Target(path, is_spec=False, slug=slug), out)
    import subprocess
    code = (
        "import json,sys,time; t=time.perf_counter();"
        "from mcphub.runtime.package import load_package;"
        "p=load_package(sys.argv[1]);"
        "tools=[(t.name,t.input_schema) for t in p.integration.tools if t.enabled];"
        "print(json.dumps({'seconds': time.perf_counter()-t, 'tools': len(tools)}))"
    )
    # First load writes the bytecode cache; the second is what every later start pays.
    subprocess.run([sys.executable, "-c", code, str(out / slug)], check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-c", code, str(out / slug)], check=True, capture_output=True, text=True)
    print(result.stdout.strip())
    """
)

FASTMCP = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    import httpx2
    from fastmcp import FastMCP
    path = sys.argv[1]
    started = time.perf_counter()
    spec = json.loads(open(path, "rb").read())
    client = httpx2.AsyncClient(base_url="https://api.example.invalid")
    server = FastMCP.from_openapi(openapi_spec=spec, client=client)
    tools = asyncio.run(server.list_tools())
    done = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": done - started, "tools": len(tools), "rss_mb": rss_mb}))
    """
)


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per side and API (median reported)")
    parser.add_argument("--only", choices=sorted(APIS), action="append", help="limit to these APIs")
    parser.add_argument("--skip-fastmcp", action="store_true", help="measure only MCP Hub")
    args = parser.parse_args()
    fastmcp_python = None if args.skip_fastmcp else str(ensure_venv("fastmcp", FASTMCP_VERSION))

    rows = []
    for name in args.only or list(APIS):
        path = str(APIS[name])
        ours = [run_child(sys.executable, OURS, path, name) for _ in range(args.runs)]
        load = run_child(sys.executable, LOAD_ONLY, path, name)
        row = {
            "api": name,
            "tools": ours[0]["tools"],
            "ours_s": median_of(ours, "seconds"),
            "scan_s": median_of(ours, "scan_s"),
            "ours_compile_s": median_of(ours, "compile_s"),
            "ours_rss_mb": median_of(ours, "rss_mb"),
            "serve_load_s": load["seconds"],
        }
        if fastmcp_python:
            theirs = [run_child(fastmcp_python, FASTMCP, path) for _ in range(args.runs)]
            row.update(
                fastmcp_s=median_of(theirs, "seconds"),
                fastmcp_rss_mb=median_of(theirs, "rss_mb"),
                fastmcp_tools=theirs[0]["tools"],
            )
            row["time_ratio"] = row["ours_s"] / row["fastmcp_s"]
            row["time_ratio_with_scan"] = (row["ours_s"] + row["scan_s"]) / row["fastmcp_s"]
            row["rss_ratio"] = row["ours_rss_mb"] / row["fastmcp_rss_mb"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    print(f"\nspec -> servable tool list, median of {args.runs} runs each (imports excluded, peak RSS of the process)")
    print(
        "MCP Hub = parse + augment + codegen + package load + tool list, the work FastMCP's from_openapi also does;"
        " scan = the semgrep run MCP Hub adds (a subprocess, its memory not in the RSS), shown apart and in the"
        " 'with scan' ratio."
    )
    header = (
        "| API | tools | MCP Hub | + scan | FastMCP | time ratio (target) | with scan | MCP Hub RSS | FastMCP RSS "
        "| RSS ratio | serve load |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    ok = True
    for row in rows:
        if "fastmcp_s" in row:
            target = TIME_TARGET[row["api"]]
            met = row["time_ratio"] <= target and row["rss_ratio"] <= MEMORY_TARGET
            ok &= met
            print(
                f"| {row['api']} | {row['tools']} | {row['ours_s']:.2f} s | {row['scan_s']:.2f} s | {row['fastmcp_s']:.2f} s "
                f"| {row['time_ratio']:.3f} (≤ {target:.2f}) | {row['time_ratio_with_scan']:.3f} "
                f"| {row['ours_rss_mb']:.0f} MB | {row['fastmcp_rss_mb']:.0f} MB "
                f"| {row['rss_ratio']:.2f} (≤ {MEMORY_TARGET}) | {row['serve_load_s'] * 1000:.0f} ms |"
            )
        else:
            print(
                f"| {row['api']} | {row['tools']} | {row['ours_s']:.2f} s | {row['scan_s']:.2f} s | - | - | - "
                f"| {row['ours_rss_mb']:.0f} MB | - | - | {row['serve_load_s'] * 1000:.0f} ms |"
            )
    print("\nall targets met" if ok else "\nsome targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
