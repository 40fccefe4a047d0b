"""What the usage spool adds to a tool call: CPU time of `UsageRecorder.record` with and without it, side by side.

    .venv/bin/python bench/usage_spool.py [--calls 50000] [--rounds 3]

`record` runs on the request path before the answer leaves; the database writes happen later in the background
and are the same with or without the spool (plus one small upsert per batch), so they are not measured here.
The record is a typical one: a few arguments and a 2 kB result excerpt. Rounds alternate the two variants.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mcphub.runtime.store.db import Database
from mcphub.runtime.tenancy.usage import CallRecord, UsageRecorder, UsageSpool


def _per_call_us(recorder: UsageRecorder, calls: int) -> float:
    result = "x" * 2000
    arguments = {"owner": "octocat", "repo": "hello-world", "state": "open", "per_page": 30}
    started = time.process_time()
    for _ in range(calls):
        recorder.record(CallRecord(1, 2, "github", "list_issues", "ok", 12.5, 200, 80, 2000, arguments, result))
    elapsed = time.process_time() - started
    recorder._buffer.clear()  # nothing is written to a database here
    return elapsed / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'unused.db'}")
        spool = UsageSpool(Path(folder) / "spool")
        without, with_spool = UsageRecorder(db), UsageRecorder(db, spool=spool)
        plain, spooled = [], []
        for _ in range(args.rounds):
            plain.append(_per_call_us(without, args.calls))
            spooled.append(_per_call_us(with_spool, args.calls))
        spool.close()
    a, b = statistics.median(plain), statistics.median(spooled)
    print(f"record() CPU per call, median of {args.rounds} rounds of {args.calls:,} calls:")
    print(f"  without spool  {a:6.2f} us")
    print(f"  with spool     {b:6.2f} us   (+{b - a:.2f} us per call)")


if __name__ == "__main__":
    main()
