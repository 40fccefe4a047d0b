"""`mcphub build` of a 500-request Postman collection → a compiled package: the whole command, timed.

The collection is made here, deterministically (no file is committed): 25 resources in folders, each with 20
requests — list/get/create/update/delete and sub-resources — with `{{baseUrl}}`, path variables, query parameters,
headers, raw JSON bodies, saved example responses, collection auth and a few folder-level overrides, so every part
of the converter works. Each run is a fresh `mcphub build COLLECTION --json` process in an empty project folder
with an empty cache (imports, conversion, every compile stage, writing), timed from outside in wall time and in CPU
time (the process's and its children's: semgrep, ruff; on a machine shared by other sessions wall time mostly
measures the queue for a core); the stages it reports are printed beside it. No LLM is used by this source: its
time is zero, and reported apart as the issue asks.

Two configurations: as shipped, and with `MCPHUB_SEARCH_EMBEDDINGS=0` (lexical index only). Since the builder
leaves the tool vectors to the hub (embedded in the background at its first search, lexical results meanwhile),
the two differ only for a `--baseline` older than that change, whose builds embedded every tool at compile time
(~85% of their CPU): the second configuration shows that share. Processes run with bytecode, as an installed mcphub has it (pip and `uv sync
--compile-bytecode`, the Dockerfile, compile it at install): the bench writes it once into a private
`PYTHONPYCACHEPREFIX` with an untimed warm-up run; `--cold` adds one run without bytecode (this machine's sessions
set PYTHONDONTWRITEBYTECODE, so a checkout compiles every module in every process).

`--baseline REF` runs the same builds with the mcphub package of git REF (extracted with `git archive`, put first
on PYTHONPATH; same venv and semgrep), alternating with this tree run by run, and prints both side by side.

    .venv/bin/python bench/builder.py [--runs 3] [--requests 500] [--baseline main] [--cold]

Target (issue 14): the whole command ≤ 5 s on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_line, run_timed, user_environment, write_result

from mcphub.compiler.scan import find_semgrep

TARGET_S = 5.0
MCPHUB = ROOT / ".venv" / "bin" / "mcphub"
SUB = ["notes", "events", "attachments"]


def collection(requests: int) -> dict[str, Any]:
    """A Postman v2.1 collection of `requests` requests (20 per resource folder)."""
    folders = []
    resource = 0
    made = 0
    while made < requests:
        name = f"resource{resource:02d}"
        items: list[dict[str, Any]] = []
        example = {
            "id": "r_1",
            "name": "Example",
            "count": 3,
            "tags": ["a", "b"],
            "owner": {"id": "u_1", "email": "a@example.com"},
        }
        items.append(
            _request(
                f"List {name}", "GET", [name], query=[("limit", "20"), ("cursor", ""), ("q", "")], example=[example]
            )
        )
        items.append(_request(f"Get {name}", "GET", [name, ":id"], example=example))
        items.append(
            _request(f"Create {name}", "POST", [name], body={"name": "x", "count": 1, "tags": ["t"]}, example=example)
        )
        items.append(_request(f"Update {name}", "PATCH", [name, ":id"], body={"name": "y"}, example=example))
        items.append(_request(f"Replace {name}", "PUT", [name, ":id"], body={"name": "z", "count": 2}))
        items.append(_request(f"Delete {name}", "DELETE", [name, ":id"]))
        for sub in SUB:
            items.append(
                _request(
                    f"List {name} {sub}", "GET", [name, ":id", sub], query=[("page", "1")], example=[{"id": "s_1"}]
                )
            )
            items.append(_request(f"Create {name} {sub[:-1]}", "POST", [name, ":id", sub], body={"text": "hello"}))
            items.append(_request(f"Get {name} {sub[:-1]}", "GET", [name, ":id", sub, ":sub_id"]))
            items.append(_request(f"Delete {name} {sub[:-1]}", "DELETE", [name, ":id", sub, ":sub_id"]))
        items.append(_request(f"Search {name}", "GET", [name, "search"], query=[("q", "text"), ("sort", "name")]))
        items.append(_request(f"Export {name}", "POST", [name, "export"], headers=[("X-Export-Format", "csv")]))
        folder: dict[str, Any] = {"name": name.capitalize(), "item": items[: requests - made]}
        if resource % 5 == 4:  # some folders use an API key instead of the collection's bearer token
            folder["auth"] = {
                "type": "apikey",
                "apikey": [
                    {"key": "key", "value": "X-Api-Key"},
                    {"key": "value", "value": "{{apiKey}}"},
                    {"key": "in", "value": "header"},
                ],
            }
        folders.append(folder)
        made += len(folder["item"])
        resource += 1
    return {
        "info": {
            "_postman_id": "bench-500",
            "name": "Bench Five Hundred",
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "variable": [{"key": "baseUrl", "value": "https://api.bench.example/v1"}, {"key": "apiKey", "value": ""}],
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "item": folders,
    }  # fmt: skip


def _request(
    name: str,
    method: str,
    path: list[str],
    *,
    query: list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: Any = None,
    example: Any = None,
) -> dict[str, Any]:
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}/" + "/".join(path),
        "host": ["{{baseUrl}}"],
        "path": path,
    }
    if query:
        url["query"] = [{"key": k, "value": v} for k, v in query]
    if any(p.startswith(":") for p in path):
        url["variable"] = [
            {"key": p[1:], "value": "1", "description": f"The {p[1:]}"} for p in path if p.startswith(":")
        ]
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "header": [{"key": k, "value": v} for k, v in headers or []],
        "description": f"{name}.",
    }
    if body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": json.dumps(body), "options": {"raw": {"language": "json"}}}
    item: dict[str, Any] = {"name": name, "request": request}
    if example is not None:
        item["response"] = [
            {
                "name": "OK",
                "originalRequest": request,
                "status": "OK",
                "code": 201 if method == "POST" else 200,
                "header": [{"key": "Content-Type", "value": "application/json"}],
                "body": json.dumps(example),
            }
        ]
    return item


@dataclass
class Tree:
    """The mcphub package a run uses: this checkout's, or a git ref's extracted into a folder."""

    label: str
    pythonpath: Path | None = None


@dataclass
class Run:
    wall: float
    cpu: float
    stages: dict[str, float]
    result: dict[str, Any]


def extract(ref: str, into: Path) -> Tree:
    """`git archive REF mcphub` into `into`: the package as it was at REF (templates and scan rules included)."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "mcphub"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Tree(f"{ref} ({commit})", into)


def one_run(tree: Tree, source: Path, scratch: Path, *, embeddings: bool, bytecode: Path | None) -> Run:
    """One `mcphub build --json` in a fresh folder with an empty cache."""
    scratch.mkdir()
    env = user_environment(MCPHUB_CACHE_DIR=str(scratch / "cache"), MCPHUB_SEMGREP=str(find_semgrep()))
    if not embeddings:
        env["MCPHUB_SEARCH_EMBEDDINGS"] = "0"
    if bytecode is not None:
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    else:  # cold: compile every module from source, write nothing
        env |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(scratch / "no-bytecode")}
    if tree.pythonpath is not None:
        env["PYTHONPATH"] = str(tree.pythonpath)  # ahead of the venv's editable finder (a meta-path hook, last)
    command = [str(MCPHUB), "build", str(source), "--json", "--out", str(scratch / "specs"),
               "--catalog", str(scratch / "generated")]  # fmt: skip
    done = run_timed(command, env=env, cwd=scratch)
    if done.returncode != 0:
        raise SystemExit(f"mcphub build ({tree.label}) failed:\n{done.stdout[-3000:]}\n{done.stderr}")
    result = json.loads(done.stdout)
    stages: dict[str, float] = {}
    for stage in result["stages"]:
        stages[stage["stage"]] = stages.get(stage["stage"], 0.0) + stage["seconds"]
    return Run(done.seconds, done.cpu_seconds, stages, result)


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "—"


def table(trees: list[Tree], runs: dict[str, list[Run]]) -> list[str]:
    """Medians per tree, side by side: the whole command, then each stage it reported."""
    names: list[str] = []
    for tree in trees:
        for run in runs[tree.label]:
            names += [name for name in run.stages if name not in names]
    lines = ["| what | " + " | ".join(tree.label for tree in trees) + " |", "| --- |" + " ---: |" * len(trees)]

    def row(label: str, pick: Any) -> None:
        cells = [_cell([v for run in runs[t.label] if (v := pick(run)) is not None]) for t in trees]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("**whole command, wall s** (process start to exit)", lambda run: run.wall)
    row("whole command, CPU s (with semgrep, ruff)", lambda run: run.cpu)
    for name in names:
        row(f"stage {name}, wall s", lambda run, name=name: run.stages.get(name))
    row(
        "outside the stages (interpreter, CLI, first imports, JSON output)",
        lambda run: run.wall - sum(run.stages.values()),
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--baseline", metavar="REF", help="also run the mcphub package of this git ref, alternating")
    parser.add_argument("--cold", action="store_true", help="add one run per tree without bytecode")
    args = parser.parse_args()
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="mcphub-bench-builder-") as name:
        tmp = Path(name)
        source = tmp / "bench.postman_collection.json"
        source.write_text(json.dumps(collection(args.requests), indent=1))
        size = source.stat().st_size
        trees = [extract(args.baseline, tmp / "baseline")] if args.baseline else []
        trees.append(Tree("this tree"))
        bytecode = tmp / "bytecode"
        for tree in trees:  # writes the bytecode both trees import (untimed)
            one_run(tree, source, tmp / f"warm-{len(list(tmp.iterdir()))}", embeddings=False, bytecode=bytecode)
        configs = {"as shipped": True, "MCPHUB_SEARCH_EMBEDDINGS=0": False}
        results: dict[str, dict[str, list[Run]]] = {c: {t.label: [] for t in trees} for c in configs}
        cold: dict[str, list[Run]] = {t.label: [] for t in trees}
        last: Run | None = None
        for number in range(args.runs):
            for config, embeddings in configs.items():
                for tree in trees:  # alternating, so both trees see the same load
                    scratch = tmp / f"run-{len(list(tmp.iterdir()))}"
                    last = one_run(tree, source, scratch, embeddings=embeddings, bytecode=bytecode)
                    results[config][tree.label].append(last)
                    loads.append(os.getloadavg()[0])
                    print(f"run {number + 1} {tree.label}, {config}: {last.wall:.2f} s wall, {last.cpu:.2f} s CPU",
                          file=sys.stderr)  # fmt: skip
        if args.cold:
            for tree in trees:
                scratch = tmp / f"run-{len(list(tmp.iterdir()))}"
                cold[tree.label].append(one_run(tree, source, scratch, embeddings=True, bytecode=None))
                loads.append(os.getloadavg()[0])
    assert last is not None
    result = last.result
    ours = statistics.median(run.wall for run in results[next(iter(configs))]["this tree"])
    lines = [
        "# bench/builder.py — `mcphub build` of a Postman collection",
        "",
        f"{machine_line()}; load average (1 min) {min(loads):.1f}–{max(loads):.1f} during the runs; "
        f"{args.runs} runs per tree and configuration, medians; bytecode compiled (as installed)",
        "",
        f"Collection: {args.requests} requests, {size:,} bytes → {len(result['tools'])} tools enabled "
        f"({len(result['warnings'])} warnings). LLM: 0 s, 0 tokens (a Postman collection is converted "
        "deterministically).",
    ]
    for config in configs:
        lines += ["", f"## {config}", "", *table(trees, results[config])]
    if args.cold:
        lines += ["", "## as shipped, without bytecode (1 run each)", "", *table(trees, cold)]
    lines += ["", f"Target ≤ {TARGET_S:.0f} s (as shipped, this tree): {'met' if ours <= TARGET_S else 'MISSED'}."]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"written to {write_result('builder', text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
