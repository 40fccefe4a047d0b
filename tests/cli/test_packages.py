"""`mcphub inspect` takes a slug as well as a path (issue 9 #10); `--json` errors from the compiler side (#11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.conftest import as_json, run_cli
from mcphub.commands.inspect import DEFAULT_CATALOGS
from mcphub.compiler.pipeline import RAW_OUT, SPECS_OUT

PETSTORE = Path(__file__).parents[1] / "compiler" / "fixtures" / "openapi" / "petstore30.yaml"


def test_inspect_finds_a_package_by_slug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_cli({}, "compile", str(PETSTORE), "--slug", "pets")  # a raw description: into ./build/raw
    by_path = run_cli({}, "inspect", "build/raw/pets").stdout
    assert by_path.startswith("Pet Store 3.0 (pets): ")
    assert run_cli({}, "inspect", "pets").stdout == by_path
    assert as_json(run_cli({}, "inspect", "pets", "--json"))["tools"]

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert run_cli({}, "inspect", "pets", "--catalog", str(tmp_path / "build" / "raw")).stdout == by_path
    typo = run_cli({}, "inspect", "pest", "--catalog", str(tmp_path / "build" / "raw"), "--json", code=1)
    assert as_json(typo)["error"]["message"] == (
        f"'pest' is neither a package folder nor the slug of a package in {tmp_path / 'build' / 'raw'}/; "
        "did you mean 'pets'? (compile a spec first with `mcphub compile`, or pass --catalog DIR)"
    )


def test_compile_errors_are_json_with_json(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    failed = as_json(run_cli({}, "compile", str(missing), "--json", code=1))
    assert failed["error"]["message"] == (
        f"{missing}: no such file or folder; give a hub spec, a folder of specs or an API description"
    )


def test_inspect_looks_where_compile_writes() -> None:
    assert DEFAULT_CATALOGS == (SPECS_OUT, RAW_OUT)
