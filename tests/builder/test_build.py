"""`mcphub build`'s engine: any source → a reviewable spec beside its source → a compiled package, offline after."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from runtime.support import serve
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from builder.fake_messages_api import fake_messages_api
from mcphub.builder.build import BuildOptions, StageReport, build
from mcphub.compiler.errors import CompileError, SourceError
from mcphub.compiler.pipeline import Target, compile_targets

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = ROOT / "tests" / "compiler" / "fixtures" / "openapi" / "petstore30.yaml"
POSTMAN = ROOT / "tests" / "compiler" / "fixtures" / "postman" / "pet_shop.postman_collection.json"
ACME = (ROOT / "tests" / "builder" / "test_text_source.py").read_text().split('ACME = """', 1)[1].split('"""', 1)[0]


def options(tmp_path: Path, source: str, **changes: object) -> BuildOptions:
    return BuildOptions(source=source, out_dir=tmp_path / "specs", catalog_dir=tmp_path / "generated", **changes)  # type: ignore[arg-type]


def recompiles_offline(spec: Path, catalog: Path) -> None:
    """What build wrote is an ordinary spec: `compile --check` of it finds the package up to date."""
    [report] = compile_targets([Target(spec, is_spec=True)], catalog, check=True)
    assert report.error is None and report.stale == [], (report.error, report.stale)


async def test_an_openapi_file_becomes_a_spec_and_a_package(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    seen: list[StageReport] = []
    result = await build(options(tmp_path, str(PETSTORE), slug="pets"), seen.append)
    assert result.kind == "openapi" and result.slug == "pets"
    assert result.spec_path == tmp_path / "specs" / "pets.yaml"
    spec = yaml.safe_load(result.spec_path.read_text())
    assert spec["source"] == {"kind": "openapi", "path": "pets/openapi.yaml"}
    assert (tmp_path / "specs" / "pets" / "openapi.yaml").read_bytes() == PETSTORE.read_bytes()
    assert result.tools and (tmp_path / "generated" / "pets" / "manifest.json").exists()
    stages = [report.stage for report in seen]
    assert stages[:2] == ["fetch", "analyze"] and "parse" in stages and "codegen" in stages
    recompiles_offline(result.spec_path, tmp_path / "generated")
    with pytest.raises(CompileError, match="exists already"):
        await build(options(tmp_path, str(PETSTORE), slug="pets"))


async def test_a_postman_collection_is_recognised_by_its_content(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    result = await build(options(tmp_path, str(POSTMAN)))
    assert (result.kind, result.slug) == ("postman", "pet-shop")
    assert {"list_pets", "get_pet", "create_pet"} <= set(result.tools)
    recompiles_offline(result.spec_path, tmp_path / "generated")


@pytest.fixture
def described() -> Iterator[str]:
    document = yaml.safe_load(PETSTORE.read_text())
    app = Starlette(routes=[Route("/openapi.json", lambda request: JSONResponse(document))])
    with serve(app) as base:
        yield f"{base}/openapi.json"


async def test_an_openapi_url_is_fetched_once_and_pinned_beside_the_spec(tmp_path: Path, described: str) -> None:
    (tmp_path / "specs").mkdir()
    with pytest.raises(SourceError, match="private, loopback or reserved address"):
        await build(options(tmp_path, described))
    result = await build(options(tmp_path, described, slug="pets", allow_private=True))
    spec = yaml.safe_load(result.spec_path.read_text())
    assert spec["source"] == {"kind": "openapi", "path": "pets/openapi.json"}
    assert f"from openapi source {described}" in result.spec_path.read_text()  # where it came from
    assert spec["policy"] == {"allow_private_network": True}
    recompiles_offline(result.spec_path, tmp_path / "generated")


async def test_a_git_repository_is_cloned_read_and_pinned_by_commit(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed by the repo source and its tests (apt-get install git)")
    work = tmp_path / "service"
    work.mkdir()
    (work / "main.py").write_text(
        "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/orders/{order_id}')\n"
        "def get_order(order_id: int, expand: bool = False):\n    'Returns one order.'\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "orders"], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    (tmp_path / "specs").mkdir()
    with pytest.raises(SourceError, match="only when private sources are allowed"):
        await build(options(tmp_path, f"file://{work}", kind="repo", base_url="https://orders.example"))
    result = await build(
        options(tmp_path, f"file://{work}", kind="repo", base_url="https://orders.example", allow_private=True)
    )
    assert result.tools == ["get_order"]
    pinned = json.loads((tmp_path / "specs" / result.slug / "openapi.json").read_text())
    assert pinned["x-mcphub-origin"] == {
        "repository": f"file://{work}",
        "commit": commit.strip(),
        "found": "FastAPI routes",
    }
    assert pinned["paths"]["/orders/{order_id}"]["get"]["x-mcphub-source"] == "main.py:5"  # the def line
    recompiles_offline(result.spec_path, tmp_path / "generated")


async def test_a_text_needs_an_llm_and_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (tmp_path / "specs").mkdir()
    with pytest.raises(CompileError, match="set ANTHROPIC_API_KEY"):
        await build(options(tmp_path, "-", kind="text", text=ACME))


async def test_a_text_becomes_a_drafted_description_with_its_tokens_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "specs").mkdir()
    seen: list[StageReport] = []
    with fake_messages_api() as (base_url, _):
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", base_url)
        result = await build(options(tmp_path, "-", kind="text", text=ACME, slug="acme"), seen.append)
    assert result.kind == "text"
    assert result.llm is not None and result.llm["requests"] == 1 and result.llm["cost_usd"] > 0
    assert next(s for s in seen if s.stage == "analyze").tokens == result.llm
    drafted = json.loads((tmp_path / "specs" / "acme" / "openapi.json").read_text())
    assert drafted["paths"]["/invoices/{invoice_id}/void"]["post"]["x-mcphub-guessed"] == ["path"]
    assert "void_invoice" not in result.tools  # destructive: compiled, disabled until the spec enables it
    assert {"list_invoices", "create_invoice", "get_invoice"} <= set(result.tools)
    recompiles_offline(result.spec_path, tmp_path / "generated")


async def test_a_file_that_is_neither_description_nor_collection_says_what_to_pass(tmp_path: Path) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text('{"hello": "world"}')
    with pytest.raises(SourceError, match="pass --kind text"):
        await build(options(tmp_path, str(notes)))
