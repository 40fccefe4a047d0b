"""The scan stage with the real semgrep: every rule fires on bad code, committed packages are clean, and
`mcphub compile` refuses a package whose generated code breaks a rule while keeping the previous one."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mcphub.cli import main
from mcphub.compiler import codegen
from mcphub.compiler.codegen import PACKAGE_FILES
from mcphub.compiler.pipeline import Target, build_integration, source_label
from mcphub.compiler.scan import RULES_DIR, find_semgrep, scan

REPO = Path(__file__).resolve().parents[2]
PETSTORE = Path(__file__).parent / "fixtures" / "openapi" / "petstore30.yaml"

# Credential-shaped strings are assembled here so that this file itself holds none.
_GITHUB_TOKEN = "ghp_" + "a1B2" * 9
_STRIPE_KEY = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"

# Each sample's last line is the one the rule must point at.
BAD: dict[str, list[str]] = {
    "network": [
        "import socket",
        "import socket as s",
        "from socket import create_connection",
        "import os, socket",
        "import urllib.request",
        "from urllib.request import urlopen",
        "import http.client",
        "from http import client",
        "import httpx",
        "import httpx2",
        "import requests",
        "from aiohttp import ClientSession",
        "import ssl",
        "from mcp.client.session import ClientSession",
        "import asyncio\nasync def f():\n    await asyncio.open_connection('example.com', 443)",
        "import asyncio\nasync def f():\n    loop = asyncio.get_running_loop()\n    await loop.create_connection(object, 'h', 1)",
    ],
    "runtime-internals": [
        "from mcphub.runtime.tenancy.vault import Vault",
        "import mcphub.runtime.store",
        "from mcphub.runtime import vault",
        "from mcphub.app import build_app",
    ],
    "dynamic-code": [
        "eval('1')",
        "exec('x = 1')",
        "compile('1', 'f', 'eval')",
        "__import__('os')",
        "import importlib",
        "from importlib import import_module",
        "__builtins__['eval']('1')",
        "import builtins",
        "import sys\nsys.modules['os']",
        "globals()['x']",
        "import os\nos.__dict__['system']('ls')",
        "def f():\n    pass\nf.__globals__['x']",
        "x = ().__class__.__base__.__subclasses__()",
    ],
    "subprocess": [
        "import subprocess",
        "from subprocess import run",
        "import os\nos.system('ls')",
        "import os\nos.popen('ls')",
        "import os\nos.execv('/bin/sh', [])",
        "from os import system\nsystem('ls')",
        "import os as o\no.system('ls')",
        "import os\nos.fork()",
        "import pty",
        "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('ls')",
        "import multiprocessing",
    ],
    "environment": [
        "import os\nos.environ['TOKEN']",
        "import os\ntoken = os.getenv('TOKEN')",
        "from os import environ\nenviron.get('TOKEN')",
        "from os import getenv\ngetenv('TOKEN')",
    ],
    "filesystem": [
        "open('/etc/passwd')",
        "from pathlib import Path",
        "import shutil",
        "import tempfile",
        "import os\nos.remove('x')",
        "def f(p):\n    p.write_text('x')",
        "import io\nio.open('x')",
    ],
    "unsafe-deserialization": ["import pickle", "from pickle import loads", "import marshal", "import shelve"],
    "native-code": ["import ctypes", "from ctypes import CDLL", "import cffi"],
    "star-import": ["from os import *"],
    "hardcoded-credential": [
        f'VALUE = "{_GITHUB_TOKEN}"',
        '"""Call it with xoxb-' + "123456789012-abcdefABCDEF" + '."""',
        f'VALUE = "{_STRIPE_KEY}"',
        'VALUE = "AKIA' + "Z3QX5Y7W9V2U4T6S" + '"',
        'VALUE = {"X-Whatever": "Bearer ' + "eyJhbGciOiJIUzI1NiJ9.abc123def456" + '"}',
        'VALUE = "-----BEGIN RSA ' + 'PRIVATE KEY-----"',
        'VALUE = "AIza' + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY" + '"',
        'VALUE = "mcp_sk_' + "AbCdEfGh12345678" + '"',
        "# github_pat_" + "11ABCDEFG0" * 5,
    ],
    "hardcoded-secret": [
        'password = "hunter2"',
        'api_key = "abc"',
        'def f(send):\n    return send(headers={"Authorization": "Basic dXNlcjpwYXNz"})',
        'def f(send):\n    send(token="abc")',
    ],
}

# What generated code legitimately does, and near misses of the rules above.
CLEAN = [
    '''from __future__ import annotations

from typing import Any

from mcphub.runtime.package import Call, ToolOutput, ToolRegistry

registry = ToolRegistry()


@registry.tool("list_pets")
async def list_pets(call: Call, *, limit: int | None = None) -> ToolOutput:
    """GET /pets

    Send `Authorization: Bearer YOUR_ACCESS_TOKEN_HERE`; AWS documents AKIAIOSFODNN7EXAMPLE.
    """
    return await call.http(query={"limit": limit}, headers={"Authorization": None})
''',
    """import re
from http import HTTPStatus
from mcphub.runtime import package

PATTERN = re.compile("x")
token = ""
renamed = "a".replace("a", "b")
""",
]


def _rule_ids() -> set[str]:
    return {rule["id"] for path in RULES_DIR.glob("*.yaml") for rule in yaml.safe_load(path.read_text())["rules"]}


def test_every_rule_fires_on_bad_code_and_stays_quiet_on_clean_code(tmp_path: Path) -> None:
    assert set(BAD) == _rule_ids(), "every rule in compiler/rules needs bad samples here (and only those)"
    expected: dict[Path, tuple[str, int]] = {}
    for rule, samples in BAD.items():
        for n, sample in enumerate(samples):
            path = tmp_path / f"{rule}-{n}.py"
            path.write_text(sample + "\n")
            expected[path.resolve()] = (rule, sample.count("\n") + 1)
    clean = []
    for n, sample in enumerate(CLEAN):
        path = tmp_path / f"clean-{n}.py"
        path.write_text(sample)
        clean.append(path.resolve())

    findings = scan([*expected, *clean])  # one semgrep run for all of them

    found: dict[Path, set[tuple[str, int]]] = {}
    for finding in findings:
        found.setdefault(finding.path, set()).add((finding.rule, finding.line))
        assert finding.message and finding.fix, finding
    missed = {path.name: hit for path, hit in expected.items() if found.get(path) != {hit}}
    assert not missed, f"samples whose findings are not exactly the expected rule and line: {missed}"
    assert not [f for f in findings if f.path in clean], "clean code must pass"


def test_committed_packages_pass_the_scan() -> None:
    packages = [p for p in sorted((REPO / "generated").iterdir()) if (p / "manifest.json").is_file()]
    files = [path for package in packages for path in package.glob("*") if path.name in PACKAGE_FILES]
    assert len(packages) >= 10 and len(files) == len(packages) * len(PACKAGE_FILES)
    findings = scan(files)  # every committed package in one run
    assert findings == [], "\n".join(str(f) for f in findings)


def test_a_credential_is_reported_but_never_echoed(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Pets\n\nConnect with `{_GITHUB_TOKEN}`.\n")
    [finding] = scan([readme])
    assert (finding.rule, finding.line) == ("hardcoded-credential", 3)
    assert _GITHUB_TOKEN not in finding.code and _GITHUB_TOKEN not in str(finding.to_json())
    assert "(redacted)" in finding.code


def test_python_that_does_not_parse_fails_the_scan(tmp_path: Path) -> None:
    # semgrep's parser recovers from syntax errors and would check the rest only in part
    broken = tmp_path / "server.py"
    broken.write_text("x = 1\ndef f(:\n    pass\n")
    [finding] = scan([broken])
    assert (finding.rule, finding.line) == ("python-syntax", 2)


# --- through `mcphub compile` -----------------------------------------------------------------------------


def _spec(folder: Path, slug: str = "pets") -> Path:
    if not (folder / "petstore.yaml").exists():
        shutil.copy(PETSTORE, folder / "petstore.yaml")
    spec = folder / f"{slug}.yaml"
    spec.write_text(
        f"slug: {slug}\nname: Pets\nsource: {{kind: openapi, path: petstore.yaml}}\n"
        "policy: {allow_private_network: true}\n"
    )
    return spec


def _compile(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compile", *args])
    return result.exit_code, result.output


def _tamper(monkeypatch: pytest.MonkeyPatch, edit: Callable[[str, str], str]) -> None:
    """Stand in for a template bug or a hostile code snippet: change server.py as codegen renders it."""
    render = codegen.render_package

    def tampered(integration: Any, *, source_label: str) -> dict[str, str]:
        files = render(integration, source_label=source_label)
        return {**files, "server.py": edit(integration.slug, files["server.py"])}

    monkeypatch.setattr(codegen, "render_package", tampered)


def _expected_line(spec: Path, tmp_path: Path, needle: str) -> int:
    """Where `needle` sits in server.py as the (tampered) build writes it, formatted by ruff like every build."""
    target = Target(spec, is_spec=True)
    built = codegen.build_package(build_integration(target), tmp_path / "expected", source_label=source_label(target))
    return next(n for n, line in enumerate((built / "server.py").read_text().splitlines(), 1) if needle in line)


def _package_bytes(package: Path) -> dict[str, bytes]:
    return {name: (package / name).read_bytes() for name in PACKAGE_FILES}


def test_tampered_package_fails_with_file_and_line_and_the_old_package_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, out = _spec(tmp_path), tmp_path / "generated"
    assert _compile(str(spec), "--out", str(out))[0] == 0
    before = _package_bytes(out / "pets")

    _tamper(
        monkeypatch,
        lambda slug, server: server.replace("registry = ToolRegistry()", "import socket\n\nregistry = ToolRegistry()"),
    )
    code, output = _compile(str(spec), "--out", str(out))

    assert code == 1, output
    line = _expected_line(spec, tmp_path, "import socket")
    assert f"{out}/pets/server.py:{line}: network: reaches the network without the runtime" in output
    assert "the previous package was left in place" in output
    assert "import socket" in output and "instead: send upstream requests with `await call.http(...)`" in output
    assert _package_bytes(out / "pets") == before
    assert sorted(p.name for p in out.iterdir()) == ["pets"], "no staging folder is left behind"


def test_env_secret_in_a_snippet_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, out = _spec(tmp_path), tmp_path / "generated"

    def read_token(slug: str, server: str) -> str:
        server = server.replace("from typing import Any", "import os\nfrom typing import Any")
        return server.replace(
            "    return await call.http(", '    token = os.environ["TOKEN"]\n    return await call.http(', 1
        )

    _tamper(monkeypatch, read_token)
    code, output = _compile(str(spec), "--out", str(out), "--json")

    assert code == 1
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["slug"] == "pets" and "nothing was written" in summary["error"]
    [finding] = summary["findings"]
    assert finding == {
        "rule": "environment",
        "file": f"{out}/pets/server.py",
        "line": _expected_line(spec, tmp_path, 'os.environ["TOKEN"]'),
        "message": finding["message"],
        "fix": finding["fix"],
        "code": 'token = os.environ["TOKEN"]',
    }
    assert "os.environ" in finding["message"] and "declare an auth scheme in the spec" in finding["fix"]
    assert not (out / "pets").exists()


def test_one_scan_covers_every_changed_package_and_fails_only_the_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, evil, out = _spec(tmp_path, "good"), _spec(tmp_path, "evil"), tmp_path / "generated"

    def taint_evil(slug: str, server: str) -> str:
        return server + ("\nimport pickle\n" if slug == "evil" else "")

    _tamper(monkeypatch, taint_evil)
    code, output = _compile(str(good), str(evil), "--out", str(out))

    assert code == 1
    assert "scan: 2 packages in one semgrep run" in output
    assert re.search(rf"{re.escape(str(out))}/evil/server\.py:\d+: unsafe-deserialization:", output)
    assert "✓ good" in output and (out / "good" / "server.py").exists()
    assert not (out / "evil").exists()


def test_an_up_to_date_tree_never_starts_semgrep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, out = _spec(tmp_path), tmp_path / "generated"
    assert _compile(str(spec), "--out", str(out))[0] == 0
    before = _package_bytes(out / "pets")
    # From here on any semgrep run fails loudly, so passing proves that none was started.
    monkeypatch.setenv("MCPHUB_SEMGREP", str(tmp_path / "no-semgrep"))

    code, output = _compile(str(spec), "--out", str(out), "--check")
    assert code == 0 and "up to date" in output and "scan:" not in output
    code, output = _compile(str(spec), "--out", str(out))
    assert code == 0 and "scan:" not in output

    (out / "pets" / "README.md").write_text("edited by hand\n")
    code, output = _compile(str(spec), "--out", str(out))
    assert code == 1 and "no-semgrep: no such file" in output
    assert (out / "pets" / "README.md").read_text() == "edited by hand\n", "an unscanned build is never written"
    monkeypatch.delenv("MCPHUB_SEMGREP")
    assert _compile(str(spec), "--out", str(out))[0] == 0
    assert _package_bytes(out / "pets") == before


def test_a_file_is_not_scanned_twice_in_the_same_bytes_but_changed_code_always_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPHUB_CACHE_DIR", str(tmp_path / "cache"))
    # semgrep behind a switch: the real one while `allowed` exists, else a run that fails loudly. One binary (the
    # cache key names it), so a failing compile below proves semgrep was started, and a passing one that it was not.
    allowed = tmp_path / "allowed"
    allowed.touch()
    switch = tmp_path / "semgrep"
    switch.write_text(
        f"#!/bin/sh\n[ -e {allowed} ] && exec {find_semgrep()} \"$@\"\necho 'semgrep was started' >&2\nexit 2\n"
    )
    switch.chmod(0o755)
    monkeypatch.setenv("MCPHUB_SEMGREP", str(switch))
    spec = _spec(tmp_path)
    code, output = _compile(str(spec), "--out", str(tmp_path / "first"), "--no-test")
    assert code == 0 and "scan: 1 package in one semgrep run," in output, output

    # The same package into a new folder needs no semgrep: its files passed in these bytes.
    allowed.unlink()
    code, output = _compile(str(spec), "--out", str(tmp_path / "second"), "--no-test")
    assert code == 0 and "semgrep not run" in output, output
    assert _package_bytes(tmp_path / "second" / "pets") == _package_bytes(tmp_path / "first" / "pets")

    # Changed code is scanned: server.py's new bytes go to semgrep (which fails here), the rest was seen before.
    _tamper(monkeypatch, lambda slug, server: server + "\n# a change\n")
    code, output = _compile(str(spec), "--out", str(tmp_path / "third"), "--no-test")
    assert code == 1 and "semgrep was started" in output, output
    assert not (tmp_path / "third" / "pets").exists()
    allowed.touch()
    code, output = _compile(str(spec), "--out", str(tmp_path / "third"), "--no-test")
    assert code == 0 and "(5 of 6 files passed before in these bytes)" in output, output

    # A finding is never remembered as a pass: the same bad bytes are scanned and refused every time.
    _tamper(monkeypatch, lambda slug, server: server + "\nimport pickle\n")
    for attempt in ("fourth", "fifth"):
        code, output = _compile(str(spec), "--out", str(tmp_path / attempt), "--no-test")
        assert code == 1 and "unsafe-deserialization" in output, (attempt, output)
