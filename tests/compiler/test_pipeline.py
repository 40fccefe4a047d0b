"""`mcphub compile` end to end: targets, --check, kept packages, npm sources (through the real CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcphub.cli import main
from mcphub.compiler.errors import SourceError
from mcphub.compiler.fetch import npm_file, sha256_of

PETSTORE = Path(__file__).parent / "fixtures" / "openapi" / "petstore30.yaml"


def _spec(folder: Path, source: str) -> Path:
    spec = folder / "pets.yaml"
    spec.write_text(
        f"slug: pets\nname: Pets\nsource: {{kind: openapi, path: {source}}}\npolicy: {{allow_private_network: true}}\n"
    )
    return spec


def _compile(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compile", *args])
    return result.exit_code, result.output


def test_compile_then_check_is_up_to_date_and_detects_edits(tmp_path: Path) -> None:
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    spec = _spec(tmp_path, "petstore.yaml")
    out = tmp_path / "generated"
    code, output = _compile(str(spec), "--out", str(out))
    assert code == 0, output
    assert (out / "pets" / "manifest.json").exists()
    code, output = _compile(str(spec), "--out", str(out), "--check")
    assert code == 0 and "up to date" in output
    (out / "pets" / "README.md").write_text("stale\n")
    code, output = _compile(str(spec), "--out", str(out), "--check")
    assert code == 1 and "STALE: README.md" in output


def test_check_reports_a_file_the_compiler_no_longer_writes(tmp_path: Path) -> None:
    # Packages compiled before models.py was dropped still have one: --check says so, a compile removes it.
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    spec = _spec(tmp_path, "petstore.yaml")
    out = tmp_path / "generated"
    assert _compile(str(spec), "--out", str(out))[0] == 0
    (out / "pets" / "models.py").write_text("# left by an older mcphub\n")
    code, output = _compile(str(spec), "--out", str(out), "--check")
    assert code == 1 and "STALE: models.py" in output
    assert _compile(str(spec), "--out", str(out))[0] == 0
    assert not (out / "pets" / "models.py").exists()


def test_missing_source_fails_and_keeps_the_committed_package(tmp_path: Path) -> None:
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    spec = _spec(tmp_path, "petstore.yaml")
    out = tmp_path / "generated"
    assert _compile(str(spec), "--out", str(out))[0] == 0
    before = (out / "pets" / "server.py").read_bytes()
    (tmp_path / "petstore.yaml").unlink()

    code, output = _compile(str(spec), "--out", str(out))
    assert code == 1, output  # a broken spec is an error, even though the hub keeps serving the old package
    assert "stays served" in output and "petstore.yaml' does not exist" in output
    assert (out / "pets" / "server.py").read_bytes() == before

    code, output = _compile(str(spec), "--out", str(out), "--check")
    assert code == 1 and "does not exist" in output


def test_missing_source_without_a_package_is_an_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "nowhere.yaml")
    code, output = _compile(str(spec), "--out", str(tmp_path / "generated"))
    assert code == 1
    assert f"{spec}:" in output and "source.path 'nowhere.yaml' does not exist" in output


def test_raw_description_and_json_summary(tmp_path: Path) -> None:
    code, output = _compile(str(PETSTORE), "--out", str(tmp_path), "--slug", "zoo", "--json")
    assert code == 0, output
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["slug"] == "zoo" and summary["tools"] > 0 and summary["error"] is None
    # a new package is scanned before it is written, and passes
    assert summary["findings"] == [] and summary["scan_seconds"] is not None


def test_orphaned_package_fails_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    specs = tmp_path / "specs"
    specs.mkdir()
    _spec(specs, "../petstore.yaml")
    monkeypatch.chdir(tmp_path)
    assert _compile()[0] == 0
    (tmp_path / "generated" / "gone").mkdir()
    (tmp_path / "generated" / "gone" / "manifest.json").write_text("{}")
    code, output = _compile("--check")
    assert code == 1 and "no spec produces this package" in output


def test_npm_source_is_fetched_once_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPHUB_CACHE_DIR", str(tmp_path / "cache"))
    fetched = npm_file("is-number@7.0.0", "package.json")
    assert json.loads(fetched.read_text())["version"] == "7.0.0"
    digest = sha256_of(fetched)
    assert npm_file("is-number@7.0.0", "package.json", sha256=digest) == fetched  # from the cache
    with pytest.raises(SourceError, match="the spec pins 0000"):
        npm_file("is-number@7.0.0", "package.json", sha256="0" * 64)
    with pytest.raises(SourceError, match=r"has no file 'missing\.json'"):
        npm_file("is-number@7.0.0", "missing.json")
    with pytest.raises(SourceError, match="must pin an exact version"):
        npm_file("is-number", "package.json")
