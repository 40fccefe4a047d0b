"""`mcphub build` of a 500-request Postman collection → a compiled package: the whole command, timed.

The collection is made here, deterministically (no file is committed): 25 resources in folders, each with 20
requests — list/get/create/update/delete and sub-resources — with `{{baseUrl}}`, path variables, query parameters,
headers, raw JSON bodies, saved example responses, collection auth and a few folder-level overrides, so every part
of the converter works. Each run is a fresh `mcphub build COLLECTION --json` process in an empty project folder
(imports, conversion, every compile stage, writing), timed from outside; the stages it reports are printed beside
it. No LLM is used by this source: its time is zero, and reported apart as the issue asks.

    .venv/bin/python bench/builder.py [--runs 3] [--requests 500]

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
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_line, write_result

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


def one_run(source: Path, scratch: Path) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "MCPHUB_CACHE_DIR": str(scratch / "cache")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(MCPHUB), "build", str(source), "--json", "--out", str(scratch / "specs"), "--catalog", str(scratch / "generated")],
        cwd=scratch, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mcphub build failed:\n{done.stdout}\n{done.stderr}")
    return wall, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcphub-bench-builder-") as tmp:
        source = Path(tmp) / "bench.postman_collection.json"
        source.write_text(json.dumps(collection(args.requests), indent=1))
        walls: list[float] = []
        stages: dict[str, list[float]] = {}
        result: dict[str, Any] = {}
        for run in range(args.runs):
            scratch = Path(tmp) / f"run{run}"
            scratch.mkdir()
            wall, result = one_run(source, scratch)
            walls.append(wall)
            for stage in result["stages"]:
                stages.setdefault(stage["stage"], []).append(stage["seconds"])
            print(f"run {run + 1}: {wall:.2f} s", file=sys.stderr)
        size = source.stat().st_size
    median = statistics.median(walls)
    inside = sum(statistics.median(values) for values in stages.values())
    lines = [
        "# bench/builder.py — `mcphub build` of a Postman collection",
        "",
        f"{machine_line()}; load average {os.getloadavg()[0]:.1f}; {args.runs} runs, medians",
        "",
        f"Collection: {args.requests} requests, {size:,} bytes → {len(result['tools'])} tools enabled "
        f"({len(result['warnings'])} warnings)",
        "",
        "| what | seconds |",
        "| --- | ---: |",
        f"| **whole command** (`mcphub build … --json`, process start to exit) | **{median:.2f}** "
        f"(min {min(walls):.2f}, max {max(walls):.2f}) |",
        *(f"| stage {name} | {statistics.median(values):.3f} |" for name, values in stages.items()),
        f"| stages together | {inside:.3f} |",
        f"| outside the stages (interpreter start, CLI, first imports, JSON output) | {median - inside:.3f} |",
        f"| LLM | 0 (a Postman collection is converted deterministically; tokens {result.get('llm') or 0}) |",
        "",
        f"Target ≤ {TARGET_S:.0f} s: {'met' if median <= TARGET_S else 'MISSED'}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"written to {write_result('builder', text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
