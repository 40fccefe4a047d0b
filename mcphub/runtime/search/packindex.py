"""A package's search index, built at compile time and stored with the package: `search.json` + `search.npy`.

`search.json` holds, per enabled tool, its lexical terms by field (stemmed, stop words out: the costly part of a
BM25 build) and the key of its embedded text; `search.npy` holds the tool vectors (float16, one row per tool in
the JSON's order). The hub reads both at mount instead of tokenising and embedding every tool again, merges the
packages into one `SearchIndex` (the BM25 statistics are the merged catalog's, so they are computed there), and
filters per caller at query time.

A stored entry is used only while it still fits: terms when the lexical format is this runtime's, a vector when
the model fingerprint and the tool's embedded text are unchanged; anything else is rebuilt at mount (and the
vectors cached on disk), so an old or hand-edited package still searches, only slower to mount.

Writing is deterministic for `mcphub compile --check`: vectors of texts the package already had are copied from
its previous index, never recomputed (float results may differ in the last bits between machines), and `--check`
never runs the model at all: a package whose tools lack vectors is still a valid package (the hub embeds those
at mount), so the check holds generated/ to its sources, not to a machine's CPU time.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcphub.runtime.search.documents import (
    DOC_FORMAT,
    FIELD_WEIGHTS,
    FORMAT,
    INDEX_JSON,
    INDEX_VECTORS,
    LEXICAL_FORMAT,
    ToolDoc,
    load_package_docs,
    read_index,
    split_words,
    text_key,
)
from mcphub.runtime.search.embeddings import (
    EMBEDDINGS_ENV,
    EmbeddingUnavailable,
    Vectors,
    default_model_dir,
    embeddings_enabled,
    model_fingerprint,
)

log = logging.getLogger(__name__)


def doc_terms(doc: ToolDoc) -> dict[str, list[str]]:
    from mcphub.runtime.search.lexical import terms

    return {name: found for name in FIELD_WEIGHTS if (found := terms(doc.fields.get(name, "")))}


def doc_surface(doc: ToolDoc) -> set[str]:
    return {word for name in FIELD_WEIGHTS for word in split_words(doc.fields.get(name, ""))}


@dataclass(frozen=True)
class WriteReport:
    tools: int
    embedded: int  # vectors computed by this write (the rest came from the previous index)
    reused: int
    model: str | None
    note: str | None = None  # why there are no vectors


def write_index(package_dir: Path, *, previous: Path | None = None, embeddings: bool | None = None) -> WriteReport:
    """Write `search.json` and `search.npy` into the compiled package in `package_dir` (from its manifest).

    `previous`: the package this build replaces; vectors of unchanged texts are always taken from it. New texts
    are embedded unless `embeddings` is False (default: unless $MCPHUB_SEARCH_EMBEDDINGS is 0) or no model is
    installed; a tool without a stored vector is embedded by the hub at mount instead (and cached on disk).
    """
    if embeddings is None:
        embeddings = embeddings_enabled()
    docs = load_package_docs(package_dir).docs
    old = read_index(previous) if previous is not None else None
    keys = [text_key(doc) for doc in docs]
    model: str | None = None
    note: str | None = None
    embedded = 0
    vectors: dict[str, Vectors] = {}
    if docs:
        try:
            model = model_fingerprint(default_model_dir())
        except EmbeddingUnavailable as exc:
            note = str(exc)
    if model is not None:
        known = old.vectors if old is not None and old.model == model else {}
        vectors = {key: known[key] for key in keys if key in known}
        missing = [i for i, key in enumerate(keys) if key not in vectors]
        if missing and embeddings:
            from mcphub.runtime.search.embeddings import shared_encoder

            try:
                encoded = shared_encoder().encode([docs[i].embedding_text() for i in missing])
            except EmbeddingUnavailable as exc:
                note = str(exc)
            else:
                vectors.update((keys[i], encoded[n]) for n, i in enumerate(missing))
                embedded = len(missing)
        elif missing:
            note = f"{len(missing)} tools not embedded ({EMBEDDINGS_ENV}=0): the hub embeds them at mount"
    surface: dict[str, str] = {}
    tools: dict[str, Any] = {}
    from mcphub.runtime.search.lexical import stem

    for doc, key in zip(docs, keys, strict=True):
        found = doc_terms(doc)
        entry: dict[str, Any] = {"terms": {name: " ".join(words) for name, words in found.items()}}
        if key in vectors:
            entry["key"] = key
        tools[doc.tool] = entry
        for word in doc_surface(doc):
            surface.setdefault(word, stem(word))
    data = {
        "format": FORMAT,
        "lexical": LEXICAL_FORMAT,
        "doc_format": DOC_FORMAT,
        "model": model if vectors else None,
        "tools": tools,
        "surface": dict(sorted(surface.items())),
    }
    (package_dir / INDEX_JSON).write_text(json.dumps(data, sort_keys=False, separators=(",", ":")) + "\n")
    # Always written (zero rows without a model), so a package has the same files whatever the machine.
    rows = [vectors[key] for key in keys if key in vectors]
    matrix = np.stack(rows).astype(np.float16) if rows else np.zeros((0, 0), dtype=np.float16)
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    (package_dir / INDEX_VECTORS).write_bytes(buffer.getvalue())
    return WriteReport(len(docs), embedded, len(rows) - embedded, model if rows else None, note)
