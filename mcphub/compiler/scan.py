"""The scan stage: semgrep, with only our local rules (`compiler/rules/*.yaml`), over built package files.

Generated code runs inside the hub, so what it may do is checked, not trusted: the network only through
the runtime (`call`), no eval/exec, processes, environment, files, pickle or native code, no credentials
written into the package. The pipeline runs one scan over every package a compile changed (semgrep costs
a start-up per run, not per file) and installs none that has a finding.

semgrep runs offline and leaves no trace: no registry rules, no metrics, no version check, its settings
and log in a temporary folder. It fails closed: every file given must be reported as scanned, any semgrep
error (a rule that timed out, a file it could not read) fails the scan, and Python that does not parse is
a finding of its own, since semgrep's parser recovers from syntax errors silently and checks such a file
only in part.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mcphub.compiler.errors import ScanError

__all__ = ["RULES_DIR", "SEMGREP_VERSION", "Finding", "PendingScan", "ScanError", "find_semgrep", "scan", "start_scan"]

RULES_DIR = Path(__file__).resolve().parent / "rules"
# The version the rules are tested with; `make install` puts it in .tools/semgrep (its own venv: semgrep
# pins mcp 1.x, click and opentelemetry versions that cannot share mcphub's environment).
SEMGREP_VERSION = "1.185.0"
_CHECKOUT_SEMGREP = Path(__file__).resolve().parents[2] / ".tools" / "semgrep" / "bin" / "semgrep"
_RUN_TIMEOUT_S = 600
# Variables that would point semgrep at semgrep.dev (an app token turns on registry and upload paths).
_DROPPED_ENV = ("SEMGREP_APP_TOKEN", "SEMGREP_APP_URL", "SEMGREP_URL", "SEMGREP_RULES")


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule match: where, which rule, what is wrong and what to do instead."""

    rule: str
    path: Path
    line: int
    message: str
    fix: str
    code: str  # the matched line, stripped; credential matches are masked

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "file": str(self.path),
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "code": self.code,
        }


def find_semgrep() -> Path:
    """$MCPHUB_SEMGREP, else this checkout's .tools/semgrep (from `make install`), else `semgrep` on PATH."""
    configured = os.environ.get("MCPHUB_SEMGREP")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ScanError(
                f"MCPHUB_SEMGREP={configured}: no such file; point it at a semgrep {SEMGREP_VERSION} binary"
            )
        return path
    if _CHECKOUT_SEMGREP.is_file():
        return _CHECKOUT_SEMGREP
    found = shutil.which("semgrep")
    if found:
        return Path(found)
    raise ScanError(
        f"the scan stage needs semgrep {SEMGREP_VERSION} and none was found: in a checkout run `make install`; "
        f"elsewhere `pipx install semgrep=={SEMGREP_VERSION}` (it needs its own environment, it pins mcp 1.x) "
        "or set MCPHUB_SEMGREP to its path"
    )


def scan(files: Sequence[Path]) -> list[Finding]:
    """Run semgrep once over `files` with the local rules; findings sorted by file and line."""
    return start_scan(files).wait()


class PendingScan:
    """A semgrep run under way (`start_scan`); `wait` returns its findings or raises ScanError.

    The caller may do other work meanwhile (the pipeline imports the test stage's libraries), but nothing that
    runs the code being scanned.
    """

    def __init__(self, targets: list[Path]) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self._handles: list[IO[bytes]] = []
        self.targets: list[Path] = []  # the files semgrep is given
        self.reused = 0  # files whose exact bytes passed this scan before, not scanned again
        if not targets:
            return
        # Looked for even when every file passed before: the scan stage needs its tool either way.
        self.semgrep = find_semgrep()
        self._passed = _Passed(self.semgrep)
        self._keys: dict[Path, str] = {}
        for path in targets:
            key = self._passed.key(path)
            if self._passed.known(key):
                self.reused += 1
            else:
                self.targets.append(path)
                self._keys[path] = key
        if not self.targets:
            return
        self._home = tempfile.TemporaryDirectory(prefix="mcphub-scan-")
        home = Path(self._home.name)
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env |= {
            "SEMGREP_SEND_METRICS": "off",
            "SEMGREP_ENABLE_VERSION_CHECK": "0",
            "SEMGREP_SETTINGS_FILE": str(home / "settings.yml"),
            "SEMGREP_LOG_FILE": str(home / "semgrep.log"),
            "SEMGREP_VERSION_CACHE_PATH": str(home / "version"),
        }
        command = [
            str(self.semgrep),
            "scan",
            # the OCaml engine end to end: ~0.2 s of start-up instead of ~2 s for the Python front end
            "--experimental",
            # an absolute folder: a relative `r/...` would be read as a registry ruleset and fetched
            f"--config={RULES_DIR}",
            "--metrics=off",
            "--disable-version-check",
            "--no-git-ignore",
            "--max-target-bytes=0",
            "--timeout=60",
            "--json",
            "--quiet",
            *map(str, targets),
        ]
        # Output into files, not pipes: a pipe nobody reads while the caller works would stall semgrep.
        self._stdout = (home / "stdout.json").open("w+b")
        self._stderr = (home / "stderr.txt").open("w+b")
        self._handles = [self._stdout, self._stderr]
        try:
            # cwd is the empty temp folder: no .semgrepignore or git repository around to change the targets
            self._process = subprocess.Popen(
                command, stdout=self._stdout, stderr=self._stderr, cwd=home, env=env, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            self._close()
            raise ScanError(f"semgrep ({self.semgrep}) could not run: {exc}") from exc

    def wait(self) -> list[Finding]:
        if self._process is None:
            return []
        assert self._home is not None
        try:
            try:
                returncode = self._process.wait(timeout=_RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired as exc:
                self._process.kill()
                self._process.wait()
                raise ScanError(f"semgrep ({self.semgrep}) could not run: {exc}") from exc
            self._stdout.seek(0)
            self._stderr.seek(0)
            result = subprocess.CompletedProcess(
                self._process.args,
                returncode,
                self._stdout.read().decode("utf-8", errors="replace"),
                self._stderr.read().decode("utf-8", errors="replace"),
            )
        finally:
            self._close()
        output = _parse_output(result, self.semgrep)
        _check_complete(output, self.targets)
        findings = sorted(
            [*_syntax_findings(self.targets), *_findings(output)], key=lambda f: (str(f.path), f.line, f.rule)
        )
        failed = {finding.path for finding in findings}
        for path in self.targets:
            if path not in failed:
                self._passed.record(self._keys[path])
        return findings

    def _close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles = []
        if self._home is not None:
            self._home.cleanup()
            self._home = None
        self._process = None


class _Passed:
    """The file contents that passed the scan before, by content hash: a file is never scanned twice in the same bytes.

    The key covers the bytes and the file's suffix (which picks semgrep's language), the rules (every rule file's
    name and bytes) and the semgrep binary (its path, size and modification time), so a change to any of them
    scans again. Only passes are remembered: a file with a finding is scanned (and reported) every time. Kept in
    `$MCPHUB_CACHE_DIR/scan` (one empty file per key); a cache that cannot be written just means scanning again.
    """

    def __init__(self, semgrep: Path) -> None:
        from mcphub.compiler.fetch import cache_root

        self.root = cache_root() / "scan"
        digest = hashlib.sha256(b"mcphub scan cache 1\0")
        binary = semgrep.resolve()
        stat = binary.stat()
        digest.update(f"{binary}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        for rule in sorted(RULES_DIR.glob("*.yaml")):
            digest.update(rule.name.encode() + b"\0" + rule.read_bytes() + b"\0")
        self.setup = digest.digest()

    def key(self, path: Path) -> str:
        return hashlib.sha256(self.setup + path.suffix.encode() + b"\0" + path.read_bytes()).hexdigest()

    def known(self, key: str) -> bool:
        return (self.root / key[:2] / key).is_file()

    def record(self, key: str) -> None:
        try:
            (self.root / key[:2]).mkdir(parents=True, exist_ok=True)
            (self.root / key[:2] / key).touch()
        except OSError:
            pass


def start_scan(files: Sequence[Path]) -> PendingScan:
    """Start semgrep over `files` with the local rules and return at once; `.wait()` gives the findings."""
    return PendingScan([path.resolve() for path in files])


def _syntax_findings(targets: list[Path]) -> list[Finding]:
    """Python that does not parse: semgrep recovers from syntax errors silently and checks such a file in part."""
    findings = []
    for path in targets:
        if path.suffix != ".py":
            continue
        try:
            ast.parse(path.read_bytes(), filename=str(path))
        except SyntaxError as exc:
            findings.append(
                Finding(
                    rule="python-syntax",
                    path=path,
                    line=exc.lineno or 1,
                    message=f"is not valid Python ({exc.msg}), so the scan could check it only in part",
                    fix="fix the template or code snippet that produced this line",
                    code=(exc.text or "").strip(),
                )
            )
    return findings


def _parse_output(result: subprocess.CompletedProcess[str], semgrep: Path) -> dict[str, Any]:
    # Exit 1 means findings; anything else but 0 is semgrep failing.
    try:
        output = json.loads(result.stdout) if result.returncode in (0, 1) else None
    except json.JSONDecodeError:
        output = None
    if not isinstance(output, dict):
        detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise ScanError(f"semgrep ({semgrep}) failed with exit code {result.returncode}: {detail}")
    return output


def _check_complete(output: dict[str, Any], targets: list[Path]) -> None:
    errors = output.get("errors") or []
    if errors:
        details = "; ".join(
            f"{e.get('path') or ''} {e.get('type')}: {e.get('message', '')}".strip() for e in errors[:5]
        )
        raise ScanError(f"semgrep could not check every file ({len(errors)} errors): {details}")
    scanned = {Path(p).resolve() for p in (output.get("paths") or {}).get("scanned", [])}
    skipped = [str(t) for t in targets if t not in scanned]
    if skipped:
        raise ScanError(f"semgrep skipped {len(skipped)} of the files it was given: {', '.join(skipped[:5])}")


def _findings(output: dict[str, Any]) -> list[Finding]:
    findings: dict[tuple[str, Path, int], Finding] = {}
    for result in output.get("results", []):
        extra = result.get("extra", {})
        metadata = extra.get("metadata", {})
        # check_id carries the config's folder as a dotted prefix; our rule ids have no dots
        rule = str(result["check_id"]).rsplit(".", 1)[-1]
        path = Path(result["path"])
        line = int(result["start"]["line"])
        if (rule, path, line) in findings:
            continue  # one finding per rule and line (an import can match two of a rule's patterns)
        code = _source_line(path, result, redact=bool(metadata.get("redact")))
        findings[rule, path, line] = Finding(
            rule=rule,
            path=path,
            line=line,
            message=str(extra.get("message", "")).strip(),
            fix=str(metadata.get("fix", "")).strip(),
            code=code,
        )
    return list(findings.values())


def _source_line(path: Path, result: dict[str, Any], *, redact: bool) -> str:
    """The matched line (semgrep's own `lines` needs a login); a credential is masked, never echoed."""
    first, last = int(result["start"]["line"]), int(result["end"]["line"])
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[first - 1]
    except (OSError, IndexError):
        return ""
    if redact:
        start = int(result["start"]["col"]) - 1
        end = int(result["end"]["col"]) - 1 if last == first else len(text)
        text = text[:start] + text[start : start + 4] + "…(redacted)" + text[end:]
    text = text.strip()
    return text if len(text) <= 160 else text[:157] + "..."
