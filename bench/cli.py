"""How fast the `mcphub` command starts and finishes, as whole processes, the way a user runs it.

Like hyperfine: each command runs a few times unmeasured (which also writes the .pyc files a normal install
has), then `--runs` times measured back to back; the table gives median, p90 and min wall time from fork to
exit. `--against PATH` measures another `mcphub` executable (e.g. main's) in the same run, interleaved
command by command, so the two columns share the machine's load.

    .venv/bin/python bench/cli.py [--runs 20] [--against /path/to/other/.venv/bin/mcphub]

Targets (issue 10): `mcphub --help` and `mcphub compile --help` ≤ 150 ms, the compile of a small spec
(parse, codegen and the semgrep scan of a new package) ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_line, percentile, write_result

PETSTORE = ROOT / "tests" / "compiler" / "fixtures" / "openapi" / "petstore30.yaml"
SPEC = """\
slug: pets
name: Pets
source: {kind: openapi, path: petstore30.yaml}
"""


@dataclass
class Case:
    label: str
    args: list[str]
    target_ms: float | None = None
    fresh: Callable[[], None] | None = None  # run before each measured run, unmeasured (e.g. empty the out dir)


def _environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_") and k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"MCPHUB_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'hub.db'}", "MCPHUB_DATA_DIR": str(work)}


def _time(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def _cases(work: Path) -> list[Case]:
    shutil.copy(PETSTORE, work / "petstore30.yaml")
    (work / "pets.yaml").write_text(SPEC)
    out = work / "out"

    def empty_out() -> None:
        shutil.rmtree(out, ignore_errors=True)

    return [
        Case("mcphub --help", ["--help"], 150),
        Case("mcphub compile --help", ["compile", "--help"], 150),
        Case(
            "mcphub compile pets.yaml (new package: parse, codegen, scan)",
            ["compile", "pets.yaml", "--out", "out"],
            1000,
            fresh=empty_out,
        ),
        Case("mcphub compile pets.yaml (up to date)", ["compile", "pets.yaml", "--out", "out"]),
        Case("mcphub inspect out/pets", ["inspect", "out/pets"]),
        Case("mcphub keys list (opens the tenancy)", ["keys", "list"]),
    ]


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"{statistics.median(ordered):7.0f} {percentile(ordered, 90):6.0f} {ordered[0]:6.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="measured runs per command (after 3 warm-ups)")
    parser.add_argument("--mcphub", default=str(ROOT / ".venv" / "bin" / "mcphub"), help="the executable measured")
    parser.add_argument("--against", help="another mcphub executable to measure side by side (e.g. main's)")
    options = parser.parse_args()
    programs = {"this": options.mcphub} | ({"against": options.against} if options.against else {})

    with tempfile.TemporaryDirectory(prefix="mcphub-bench-cli-") as tmp:
        work = Path(tmp)
        cases = [Case("python -c pass (interpreter floor)", []), *_cases(work)]
        floor = [sys.executable, "-c", "pass"]
        # Each build gets its own database: their migrations may differ.
        envs = {name: _environment(work / name) for name in programs}
        for name, program in programs.items():
            (work / name).mkdir()
            user = [program, "users", "create", "bench@example.com", "--password-stdin"]
            subprocess.run(user, env=envs[name], cwd=work, input=b"bench password\n", capture_output=True, check=True)
        samples: dict[tuple[str, str], list[float]] = {}
        for case in cases:
            commands = {name: floor if not case.args else [program, *case.args] for name, program in programs.items()}
            for _ in range(3):  # warm-up: page cache, .pyc files
                for name, command in commands.items():
                    if case.fresh:
                        case.fresh()
                    _time(command, envs[name], work)
            for _ in range(options.runs):  # interleaved, so both columns see the same load
                for name, command in commands.items():
                    if case.fresh:
                        case.fresh()
                    samples.setdefault((case.label, name), []).append(_time(command, envs[name], work))

    header = f"{'command':<62} {'target':>7} " + " ".join(
        f"{name + ' median':>14} {'p90':>6} {'min':>6}" for name in programs
    )
    lines = [
        f"# mcphub CLI, whole processes (ms, {options.runs} runs each after 3 warm-ups)",
        "",
        machine_line() + f"; load average {os.getloadavg()[0]:.1f} at the end",
        *(f"{name}: {program}" for name, program in programs.items()),
        "",
        "```",
        header,
    ]
    for case in cases:
        target = f"≤{case.target_ms:.0f}" if case.target_ms else "-"
        row = " ".join(f"{'':>7}{_summary(samples[(case.label, name)])}" for name in programs)
        lines.append(f"{case.label:<62} {target:>7} {row}")
    lines.append("```")
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"written to {write_result('cli', text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
