"""Tool search over the full catalog: ranking quality (BM25, embeddings, hybrid), token cost and latency.

The catalog is every operation of the seven reference API descriptions in ../shared/specs plus Linear's GraphQL
schema, each compiled whole (`mcphub compile <description> --slug S --out .cache/fullcat`), disabled operations
included (`--all`): ~3,000 tools. The tasks are bench/toolsearch/tasks.yaml (written by hand; see its header).

    .venv/bin/python bench/toolsearch.py                 # build the catalog if needed, print the report
    .venv/bin/python bench/toolsearch.py --json out.json # also write the figures
    .venv/bin/python bench/toolsearch.py --misses hybrid # list the tasks the hybrid misses in its top 5

Targets (issue 17): top-5 >= 0.85, top-1 >= 0.60; p50 <= 5 ms lexical, <= 25 ms hybrid; 5-result answer
<= 3,000 tokens (tokens = JSON characters / 4).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED_SPECS = ROOT.parent / "shared" / "specs"
TASKS = ROOT / "bench" / "toolsearch" / "tasks.yaml"
CATALOG = ROOT / ".cache" / "fullcat"
SOURCES = {
    "github": "github.openapi.json",
    "stripe": "stripe.openapi.json",
    "slack": "slack.swagger2.json",
    "notion": "notion.openapi.json",
    "jira": "jira.openapi.json",
    "google-drive": "google-drive.openapi.json",
    "gmail": "gmail.openapi.json",
}
# Linear is GraphQL: a raw schema needs a spec around it (no `tools:` = every query and mutation).
LINEAR_SPEC = """slug: linear
name: Linear
category: developer
description: Issues, comments, projects, cycles, teams and users in Linear (every query and mutation).
source: {{kind: graphql, path: {schema}}}
base_url: https://api.linear.app/graphql
auth:
  - {{type: bearer, label: Personal API key}}
"""
MODES = ("lexical", "embedding", "hybrid")
DEPTH = 50  # ranks looked at for MRR; a task whose answer ranks lower scores 0


def tokens(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False)) // 4


def build_catalog(out: Path) -> None:
    """Compile each reference description whole into `out` (skipped for slugs already there).

    Through the compiler's stages (parse, augment, codegen) without the scan and the test stage: the catalog is an
    input of this benchmark, not a package to serve, and a whole API has operations the test stage rejects.
    """
    if not SHARED_SPECS.is_dir():
        sys.exit(f"{SHARED_SPECS}: missing; the full catalog is compiled from the shared reference descriptions")
    from mcphub.compiler.pipeline import Target, build_integration, write_integration

    for slug, name in SOURCES.items():
        if not (out / slug / "manifest.json").exists():
            print(f"compiling {name} → {out / slug}", file=sys.stderr)
            write_integration(build_integration(Target(SHARED_SPECS / name, is_spec=False, slug=slug)), out)
    if not (out / "linear" / "manifest.json").exists():
        spec = out.parent / "fullcat-specs" / "linear.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(LINEAR_SPEC.format(schema=SHARED_SPECS / "linear.schema.graphql"))
        print(f"compiling linear.schema.graphql → {out / 'linear'}", file=sys.stderr)
        write_integration(build_integration(Target(spec, is_spec=True)), out)


def split_of(task: dict[str, Any]) -> str:
    """Which half a task belongs to: "tune" (ranking parameters may be chosen looking at it) or "held-out" (never
    looked at while tuning). Decided by a hash of the request's words, so it is fixed and blind to difficulty."""
    return "tune" if hashlib.sha1(task["q"].encode()).digest()[0] % 2 == 0 else "held-out"


def acceptable_keys(doc: Any) -> set[str]:
    keys = set()
    if doc.operation:
        keys.add(f"{doc.integration} {doc.operation}")
    if doc.graphql_field:
        keys.add(f"{doc.integration} {doc.graphql_field}")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, default=CATALOG, help="full catalog folder (built if missing)")
    parser.add_argument("--tasks", type=Path, default=TASKS)
    parser.add_argument("--json", dest="json_out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--uncurated-only", action="store_true", help="skip the curated-first configuration")
    parser.add_argument("--curated-only", action="store_true", help="skip the whole-APIs-uncurated configuration")
    parser.add_argument(
        "--curated",
        type=Path,
        default=ROOT / "generated",
        help="folder of the curated packages ranked first (default generated/; e.g. a checkout's generated/ from "
        "before `search: all`, to compare ranking changes on the same vectors)",
    )
    parser.add_argument(
        "--misses",
        choices=MODES,
        help="print the tuning half's tasks this mode misses in its top 5 (never the held-out)",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from mcphub.runtime.search import load_index

    build_catalog(args.catalog)
    tasks = yaml.safe_load(args.tasks.read_text())["tasks"]
    configs = {"full API, uncurated": [args.catalog]}
    curated = [args.curated / slug for slug in [*SOURCES, "linear"] if (args.curated / slug).is_dir()]
    if curated and not args.uncurated_only:
        configs["curated first + rest of the API"] = [*curated, args.catalog]
        if args.curated_only:
            del configs["full API, uncurated"]
    reports = {}
    for label, catalogs in configs.items():
        started = time.perf_counter()
        index = load_index(catalogs, include_disabled=True)
        load_seconds = time.perf_counter() - started
        if index.vectors is None:
            sys.exit(f"embeddings unavailable: {index.embedding_error}")
        print(f"\n== {label}")
        reports[label] = evaluate(index, tasks, args, load_seconds)
    if args.json_out:
        args.json_out.write_text(json.dumps(reports, indent=2))


def evaluate(index: Any, tasks: list[dict[str, Any]], args: argparse.Namespace, load_seconds: float) -> dict[str, Any]:
    from mcphub.runtime.search.metatools import META_TOOLS, search_answer

    known = set()
    for doc in index.docs:
        known |= acceptable_keys(doc)
    for number, task in enumerate(tasks, 1):
        unknown = [op for op in task["ok"] if f"{task['api']} {op}" not in known]
        if unknown:
            sys.exit(f"{args.tasks}: task {number} ({task['q']!r}): no such operation in {task['api']}: {unknown}")

    per: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in MODES}
    latency: dict[str, list[float]] = {mode: [] for mode in MODES}
    misses: list[str] = []
    for task in tasks:
        wanted = {f"{task['api']} {op}" for op in task["ok"]}
        for mode in MODES:
            t0 = time.perf_counter()
            hits = index.search(task["q"], limit=DEPTH, mode=mode)
            latency[mode].append((time.perf_counter() - t0) * 1000)
            rank = next((i for i, hit in enumerate(hits, 1) if acceptable_keys(hit.doc) & wanted), None)
            for group in (task["api"], f"kind:{task['kind']}", f"split:{split_of(task)}", "all"):
                per[mode][group].append(float(rank or 0))
            if mode == args.misses and (rank is None or rank > 5) and split_of(task) == "tune":
                top = ", ".join(hit.doc.name for hit in hits[:3])
                misses.append(f"  [{task['api']}/{task['kind']}] {task['q']!r} rank={rank} top3: {top}")

    def figures(ranks: list[float]) -> dict[str, float]:
        n = len(ranks)
        return {
            "n": n,
            "top1": sum(1 for r in ranks if r == 1) / n,
            "top5": sum(1 for r in ranks if 1 <= r <= 5) / n,
            "mrr": sum(1 / r for r in ranks if r >= 1) / n,
        }

    report: dict[str, Any] = {"tools": len(index), "tasks": len(tasks), "index_load_seconds": round(load_seconds, 2)}
    report["quality"] = {mode: {g: figures(r) for g, r in sorted(per[mode].items())} for mode in MODES}

    # Token cost: the flat tools/list of the whole catalog, the search view's list, an average 5-result answer.
    flat = [{"name": d.name, "description": d.description, "inputSchema": d.input_schema} for d in index.docs]
    answers = [tokens(search_answer(index, task["q"], limit=5)) for task in tasks]
    report["tokens"] = {
        "flat_list": tokens({"tools": flat}),
        "search_view_list": tokens({"tools": META_TOOLS}),
        "answer5_mean": round(statistics.mean(answers)),
        "answer5_p95": sorted(answers)[int(0.95 * (len(answers) - 1))],
    }
    # Latency of a 5-result search (the meta-tool's default), measured apart from the DEPTH-50 ranking runs.
    # Wall time depends on what else the 2 cores run; CPU time of this process is reported beside it.
    for mode in ("lexical", "hybrid"):
        samples, cpu = [], []
        for task in tasks:
            t0, c0 = time.perf_counter(), time.process_time()
            index.search(task["q"], limit=5, mode=mode)
            samples.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        report.setdefault("latency_ms", {})[mode] = {
            "p50": round(statistics.median(samples), 2),
            "p95": round(sorted(samples)[int(0.95 * (len(samples) - 1))], 2),
            "cpu_p50": round(statistics.median(cpu), 2),
            "cpu_p95": round(sorted(cpu)[int(0.95 * (len(cpu) - 1))], 2),
        }

    print(
        f"{report['tools']} tools, {report['tasks']} tasks; index loaded in {report['index_load_seconds']} s",
        flush=True,
    )
    groups = sorted(per["hybrid"], key=lambda g: (g == "all", g.startswith("split:"), g.startswith("kind:"), g))
    print(f"\n{'group':<16}{'n':>4}  " + "  ".join(f"{m:^20}" for m in MODES))
    print(f"{'':<20}  " + "  ".join(f"{'top1  top5   MRR':^20}" for _ in MODES))
    for group in groups:
        row = [report["quality"][m][group] for m in MODES]
        cells = "  ".join(f"{f['top1']:.2f}  {f['top5']:.2f}  {f['mrr']:.2f}".center(20) for f in row)
        print(f"{group:<16}{row[0]['n']:>4}  {cells}")
    t = report["tokens"]
    print(
        f"\ntokens: flat list {t['flat_list']:,}; search view list {t['search_view_list']:,}; "
        f"5-result answer mean {t['answer5_mean']:,} (p95 {t['answer5_p95']:,})"
    )
    lat = report["latency_ms"]
    print(
        f"latency (5 results, {report['tools']} tools): lexical wall p50 {lat['lexical']['p50']} / p95 "
        f"{lat['lexical']['p95']} ms, CPU p50 {lat['lexical']['cpu_p50']} / p95 {lat['lexical']['cpu_p95']} ms; "
        f"hybrid wall p50 {lat['hybrid']['p50']} / p95 {lat['hybrid']['p95']} ms, CPU p50 {lat['hybrid']['cpu_p50']} "
        f"/ p95 {lat['hybrid']['cpu_p95']} ms; load average {os.getloadavg()[0]:.1f}"
    )
    if misses:
        print(f"\n{args.misses} misses (not in top 5): {len(misses)}")
        print("\n".join(misses))
    return report


if __name__ == "__main__":
    main()
