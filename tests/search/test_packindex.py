"""The search index compiled with a package (search.json + search.npy): written deterministically, reused across
recompiles, loaded at mount instead of re-tokenising and re-embedding, and the same ranking as one built fresh."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mcphub.runtime.search import SearchIndex
from mcphub.runtime.search.documents import INDEX_JSON, INDEX_VECTORS, load_package_docs, read_index
from mcphub.runtime.search.embeddings import Encoder, shared_encoder
from mcphub.runtime.search.packindex import write_index
from search.conftest import SMALL


def _package(root: Path, manifest: dict[str, object]) -> Path:
    folder = root / str(manifest["slug"])
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


class _NoEncoding:
    """The real encoder for queries; fails the test if asked to embed more than one text (a tool, not a query)."""

    def __init__(self, real: Encoder) -> None:
        self.real = real
        self.dimension = real.dimension
        self.fingerprint = real.fingerprint

    def vocabulary(self) -> frozenset[str]:
        return self.real.vocabulary()

    def encode(self, texts: list[str]) -> np.ndarray:
        assert len(texts) == 1, f"embedded {len(texts)} tool texts at mount"
        return self.real.encode(texts)


def test_the_index_is_deterministic_and_reused_by_a_recompile(tmp_path: Path) -> None:
    first = _package(tmp_path / "a", SMALL[0])
    report = write_index(first, embeddings=True)
    assert report.tools == len(SMALL[0]["tools"]) and report.embedded == report.tools  # type: ignore[arg-type]
    again = _package(tmp_path / "b", SMALL[0])
    report = write_index(again, previous=first, embeddings=True)
    assert report.embedded == 0 and report.reused == report.tools  # vectors copied, nothing computed
    for name in (INDEX_JSON, INDEX_VECTORS):
        assert (first / name).read_bytes() == (again / name).read_bytes()

    # Without embeddings (MCPHUB_SEARCH_EMBEDDINGS=0) a recompile still reuses every known vector...
    unchanged = _package(tmp_path / "c", SMALL[0])
    assert write_index(unchanged, previous=first, embeddings=False).reused == report.tools
    assert (unchanged / INDEX_VECTORS).read_bytes() == (first / INDEX_VECTORS).read_bytes()
    # ...and a changed tool goes without a vector (the hub embeds it at mount) while the others keep theirs.
    changed = json.loads(json.dumps(SMALL[0]))
    changed["tools"][0]["description"] = "Posts a message to a channel, now in other words."
    edited = _package(tmp_path / "d", changed)
    report = write_index(edited, previous=first, embeddings=False)
    assert (report.embedded, report.reused) == (0, report.tools - 1) and report.note
    stored = read_index(edited)
    assert stored is not None and len(stored.vectors) == report.tools - 1


def test_the_hub_loads_stored_indexes_and_ranks_as_a_fresh_build(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    for manifest in SMALL:
        write_index(_package(catalog, manifest), embeddings=True)
    stored = [load_package_docs(catalog / str(m["slug"])) for m in SMALL]
    assert all(doc.terms is not None for package in stored for doc in package.docs)
    loaded = SearchIndex(stored, encoder=_NoEncoding(shared_encoder()), cache_dir=None)  # type: ignore[arg-type]

    fresh_dir = tmp_path / "fresh"
    shutil.copytree(catalog, fresh_dir)
    for manifest in SMALL:
        for name in (INDEX_JSON, INDEX_VECTORS):
            (fresh_dir / str(manifest["slug"]) / name).unlink()
    fresh = SearchIndex([load_package_docs(fresh_dir / str(m["slug"])) for m in SMALL], cache_dir=None)

    assert loaded.lexical.postings.keys() == fresh.lexical.postings.keys()
    assert loaded.vectors is not None and fresh.vectors is not None
    assert np.allclose(loaded.vectors, fresh.vectors, atol=2e-3)  # float16 storage
    for query in ("tell the team the deploy is done", "file a bug about the login page", "send an emial to bob"):
        for mode in ("lexical", "hybrid"):
            assert [h.doc.name for h in loaded.search(query, mode=mode)] == [
                h.doc.name for h in fresh.search(query, mode=mode)
            ], (query, mode)


def test_an_unreadable_index_is_rebuilt_at_mount(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    package = _package(tmp_path, SMALL[1])
    write_index(package, embeddings=False)
    (package / INDEX_JSON).write_text("{not json")
    docs = load_package_docs(package)
    assert "unreadable search index" in caplog.text and all(doc.terms is None for doc in docs.docs)
    index = SearchIndex([docs], embeddings=False)
    assert index.search("send an email", mode="lexical")[0].doc.name == "gmail__send_message"


def test_a_whole_api_package_ranks_its_curated_tools_first(tmp_path: Path) -> None:
    manifest = json.loads(json.dumps(SMALL[2]))
    manifest["tools"][2]["listed"] = False  # list_issues: a `search: all` operation
    docs = load_package_docs(_package(tmp_path, manifest)).docs
    assert [d.curated for d in docs] == [True, True, False]
