"""Choose the tool-search ranking parameters on the tuning half of bench/toolsearch/tasks.yaml only.

Loads the catalog of bench/toolsearch.py once (curated tools first + the rest of each API, disabled operations
included), encodes every request once, then scores each parameter setting on the **tuning half** (top-1, top-5,
MRR per mode). The held-out half is never scored here: bench/toolsearch.py reports it for the setting chosen.

    .venv/bin/python bench/toolsearch_tune.py                   # the grid below, best settings last
    .venv/bin/python bench/toolsearch_tune.py --uncurated       # over the whole APIs without curated tools
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import toolsearch  # noqa: E402  (bench/toolsearch.py: catalog, split, acceptable operations)

from mcphub.runtime.search import index as search_index  # noqa: E402

GRID: dict[str, list[Any]] = {
    "LEXICAL_WEIGHT": [0.5, 0.6, 0.7],
    "NAME_BONUS": [0.0, 0.2, 0.3, 0.5],
    "ACTION_BONUS": [0.0, 0.1, 0.2, 0.3],
    "DESTRUCTIVE_PENALTY": [0.0, 0.1, 0.2],
    "VOCAB_BONUS": [0.0, 0.1, 0.2, 0.3],
    "CURATED_BONUS": [0.1, 0.2, 0.3],
    "MENTION_BONUS": [0.25, 0.5, 1.0],
}


def ranks(index: Any, tasks: list[dict[str, Any]], mode: str) -> list[int]:
    out = []
    for task in tasks:
        wanted = {f"{task['api']} {op}" for op in task["ok"]}
        hits = index.search(task["q"], limit=toolsearch.DEPTH, mode=mode)
        out.append(next((i for i, h in enumerate(hits, 1) if toolsearch.acceptable_keys(h.doc) & wanted), 0))
    return out


def figures(found: list[int]) -> str:
    n = len(found)
    top1 = sum(r == 1 for r in found) / n
    top5 = sum(1 <= r <= 5 for r in found) / n
    mrr = sum(1 / r for r in found if r) / n
    return f"top1 {top1:.3f} top5 {top5:.3f} mrr {mrr:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uncurated", action="store_true")
    args = parser.parse_args()
    toolsearch.build_catalog(toolsearch.CATALOG)
    tasks = [t for t in yaml.safe_load(toolsearch.TASKS.read_text())["tasks"] if toolsearch.split_of(t) == "tune"]
    catalogs = [toolsearch.CATALOG]
    if not args.uncurated:
        curated = [ROOT / "generated" / s for s in [*toolsearch.SOURCES, "linear"] if (ROOT / "generated" / s).is_dir()]
        catalogs = [*curated, toolsearch.CATALOG]
    index = search_index.load_index(catalogs, include_disabled=True)
    assert index.encoder is not None
    # Every request encoded once; the grid reuses the vectors.
    queries = {t["q"]: v for t, v in zip(tasks, index.encoder.encode([t["q"] for t in tasks]), strict=True)}
    real = index.encoder.encode
    index.encoder.encode = lambda texts, **_: np.stack([queries[t] if t in queries else real([t])[0] for t in texts])
    print(f"{len(index)} tools, {len(tasks)} tuning tasks")
    print("lexical  ", figures(ranks(index, tasks, "lexical")))
    print("embedding", figures(ranks(index, tasks, "embedding")))
    # One knob at a time around the current setting (a full product of these is thousands of runs).
    base = {name: getattr(search_index, name) for name in GRID}
    results = []
    for name, values in GRID.items():
        for value in values:
            setting = {**base, name: value}
            for key, chosen in setting.items():
                setattr(search_index, key, chosen)
            found = ranks(index, tasks, "hybrid")
            score = (sum(r == 1 for r in found), sum(1 <= r <= 5 for r in found))
            results.append((score, {name: value}, figures(found)))
        for key, chosen in base.items():
            setattr(search_index, key, chosen)
    print("hybrid    current", {name: base[name] for name in GRID})
    for _score, setting, text in sorted(results, key=lambda r: r[0])[-12:]:
        print("hybrid   ", text, setting)


if __name__ == "__main__":
    main()
