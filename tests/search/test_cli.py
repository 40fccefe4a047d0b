"""`mcphub tools search` as a user runs it: JSON shape, operations exactly as in the source, --batch, --all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcphub.cli import main
from mcphub.runtime.search.index import CACHE_ENV

from .conftest import ROOT, SHARED_SPECS


@pytest.fixture()
def run(cache_dir: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(main, ["tools", "search", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


@pytest.fixture(scope="module")
def notion_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = SHARED_SPECS / "notion.openapi.json"
    if not source.exists():
        pytest.skip(f"{source} is absent: the shared reference descriptions are not next to this checkout")
    out = tmp_path_factory.mktemp("fullcat")
    subprocess.run(
        [sys.executable, "-m", "mcphub.cli", "compile", str(source), "--slug", "notion", "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


def test_json_is_a_best_first_list_of_named_operations(run) -> None:  # type: ignore[no-untyped-def]
    listed = json.loads(run("post a message to the team channel", "--catalog", str(ROOT / "generated"), "--json"))
    assert len(listed) == 5
    assert listed[0]["integration"] == "slack"
    assert listed[0]["name"].startswith("slack__")
    scores = [entry["score"] for entry in listed]
    assert scores == sorted(scores, reverse=True)
    for entry in listed:
        assert {"name", "integration", "score", "description"} <= set(entry)
        if "operation" in entry:
            method, path = entry["operation"].split(" ", 1)
            assert method in {"GET", "POST", "PUT", "PATCH", "DELETE"} and path.startswith("/")


def test_operations_appear_exactly_as_in_the_source_description(run, notion_catalog: Path) -> None:  # type: ignore[no-untyped-def]
    paths = json.loads((SHARED_SPECS / "notion.openapi.json").read_text())["paths"]
    in_source = {
        f"{method.upper()} {path}" for path, item in paths.items() for method in item if method != "parameters"
    }
    listed = json.loads(
        run("add a comment to a page", "--catalog", str(notion_catalog), "--all", "--limit", "24", "--json")
    )
    assert listed[0]["operation"] == "POST /v1/comments"
    assert {entry["operation"] for entry in listed} <= in_source
    # --all includes operations the compiler disabled (destructive ones); without it they are not offered.
    everything = {e["operation"] for e in listed}
    enabled = {
        e["operation"] for e in json.loads(run("block", "--catalog", str(notion_catalog), "--limit", "24", "--json"))
    }
    assert "DELETE /v1/blocks/{block_id}" in everything - enabled


def test_batch_prints_one_list_per_query_in_order(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    queries = tmp_path / "queries.txt"
    queries.write_text("refund a payment\nmerge the pull request\n\nsend an email\n")
    lines = run("--batch", str(queries), "--catalog", str(ROOT / "generated"), "--limit", "3").splitlines()
    assert len(lines) == 4
    answers = [json.loads(line) for line in lines]
    assert [a[0]["integration"] if a else None for a in answers] == ["stripe", "github", None, "gmail"]
    assert all(len(a) == 3 for a in answers if a)


def test_errors_name_the_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["tools", "search", "x", "--catalog", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "nope: no such folder" in result.output
