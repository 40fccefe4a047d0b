"""What the search index knows of one tool, read from a compiled package's manifest.json.

The manifest is read as plain JSON (not through the IR models): the index needs a few fields of each of ~3,000
tools, and skipping validation keeps a catalog load within milliseconds. The field names are the IR's
(`mcphub.compiler.ir.Tool`), which is the contract the runtime already reads packages by.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mcphub.runtime.package import SEPARATOR
from mcphub.runtime.search.embeddings import Vectors

# Which parts of a tool feed the lexical index, and how much a matching word there counts. A word in the tool's
# name or the operation's path says what the tool *is*; one in a parameter description only what it touches.
FIELD_WEIGHTS: dict[str, float] = {
    "name": 5.0,
    "path": 1.5,
    "summary": 2.0,
    "description": 1.0,
    "details": 0.25,
    "integration": 1.0,
    "tags": 1.0,
    "params": 0.3,
    "param_docs": 0.3,
}


@dataclass(frozen=True)
class ToolDoc:
    """One searchable tool. `name` is the hub tool name (`<slug>__<tool>`)."""

    name: str
    integration: str
    tool: str
    description: str
    input_schema: dict[str, Any]
    fields: dict[str, str] = field(default_factory=dict)
    operation: str | None = None  # "METHOD /path" exactly as in the source description, for HTTP tools
    graphql_field: str | None = None  # "query issues" / "mutation issueCreate" for GraphQL tools
    enabled: bool = True
    title: str | None = None
    curated: bool = False  # from the integration's curated package (its flat list): ranks before the rest
    listed: bool = True  # False: a `search: all` operation, off the flat list
    # Lexical terms by field from the package's stored index (None: tokenised when the index is built).
    terms: dict[str, list[str]] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """What makes two tools the same operation (a curated tool and its raw twin share it)."""
        return f"{self.integration} {self.operation or self.graphql_field or self.tool}"

    @property
    def summary(self) -> str:
        """The description's first sentence (one line), as a search answer shows it."""
        return first_sentence(self.description)

    def embedding_text(self) -> str:
        """The text the sentence-embedding model sees: the integration, the tool's title and the description's
        first sentence ("GitHub: List pull requests. Lists pull requests in a specified repository.").

        Short on purpose. The whole description plus parameter names ran past the model's 128 word pieces for
        2 tools in 5 (URLs, markdown, scope notes) and was cut before the parameters; the short text matches a
        one-line request better (tuning half of bench/toolsearch.py: embeddings alone top-5 0.51 -> 0.58, MRR
        0.39 -> 0.43; without the integration's name in front, embeddings-alone top-1 fell to 0.22). The rest of the
        description and the parameters still feed the lexical index."""
        words = " ".join(split_words(self.tool))
        head = f"{self.fields.get('integration_name', self.integration)}: {self.title or words}."
        lead = first_sentence(self.description, EMBED_LEAD_CHARS)
        return f"{head} {lead}" if lead else head


# The description's first sentence, cut at this many characters, in the embedded text.
EMBED_LEAD_CHARS = 300

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def first_sentence(text: str, limit: int = 200) -> str:
    # Some descriptions carry HTML (Stripe's "<p>…</p>"); a one-line summary shows only the words.
    line = " ".join(_TAG.sub(" ", text).split())
    head = _SENTENCE_END.split(line, maxsplit=1)[0]
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")


def split_words(text: str) -> list[str]:
    """`listPullRequests`, `list_pull_requests`, `/repos/{owner}/pulls` → lowercase words."""
    out: list[str] = []
    for chunk in _NON_WORD.split(text):
        if chunk:
            out.extend(part.lower() for part in _CAMEL.split(chunk) if part)
    return out


def _path_words(path: str) -> str:
    # Path parameters ({owner}) name what the call is *about*, the literal segments what it *does*; keep both.
    return " ".join(split_words(path))


def _param_text(schema: dict[str, Any]) -> tuple[str, str]:
    props = schema.get("properties") or {}
    names = " ".join(" ".join(split_words(name)) for name in props)
    docs = " ".join(first_sentence(str(p.get("description", "")), 160) for p in props.values() if isinstance(p, dict))
    return names, docs


def docs_from_manifest(manifest: dict[str, Any], *, include_disabled: bool = False) -> list[ToolDoc]:
    """The searchable tools of one package. Disabled tools (destructive operations not opted in) are left out
    unless `include_disabled`: a search view must never offer what a direct call would refuse."""
    slug = str(manifest["slug"])
    integration_name = str(manifest.get("name") or slug)
    # What the integration is about (its description's first sentence names its things: "Channels, direct
    # messages, threads and people in a Slack workspace"): the integration prior of a request reads it.
    about = first_sentence(str(manifest.get("description") or ""), 400)
    docs: list[ToolDoc] = []
    # A `search: all` package holds its curated tools (listed) and the rest of the API (unlisted): the curated
    # ones rank first, as when the whole API is a second package beside the curated one.
    whole_api = any(tool.get("listed", True) is False for tool in manifest.get("tools", []))
    for tool in manifest.get("tools", []):
        enabled = bool(tool.get("enabled", True))
        if not enabled and not include_disabled:
            continue
        name = str(tool["name"])
        description = str(tool.get("description") or "")
        schema = tool.get("input_schema") or {"type": "object"}
        http = tool.get("http") or None
        graphql = tool.get("graphql") or None
        operation = f"{http['method']} {http['path']}" if http else None
        source_ref = str(tool.get("source_ref") or "")
        graphql_field = source_ref if graphql and source_ref else None
        params, param_docs = _param_text(schema)
        # The first paragraph says what the tool does; later ones (notes, caveats, links) dilute it.
        lead, _, details = description.strip().partition("\n\n")
        title = tool.get("title") or None
        docs.append(
            ToolDoc(
                name=f"{slug}{SEPARATOR}{name}",
                integration=slug,
                tool=name,
                description=description,
                input_schema=schema,
                operation=operation,
                graphql_field=graphql_field,
                enabled=enabled,
                title=title,
                curated=whole_api and tool.get("listed", True) is not False,
                listed=tool.get("listed", True) is not False,
                fields={
                    "name": " ".join(split_words(name) + split_words(source_ref)),
                    "summary": str(title or ""),
                    "path": _path_words(http["path"]) if http else "",
                    "description": lead,
                    "details": details,
                    "integration": f"{slug.replace('-', ' ')} {integration_name}",
                    "integration_name": integration_name,
                    "about": about,
                    "tags": " ".join(str(t) for t in tool.get("tags") or []),
                    "params": params,
                    "param_docs": param_docs,
                },
            )
        )
    return docs


INDEX_JSON = "search.json"
INDEX_VECTORS = "search.npy"
INDEX_FILES = (INDEX_JSON, INDEX_VECTORS)
FORMAT = 1
# Bump when tokenising changes (split_words, stop words, stemmer): stored terms of an older format are ignored.
LEXICAL_FORMAT = "3"
# Bump when the text a tool is embedded from changes (ToolDoc.embedding_text): stored vectors of an older
# format are ignored (the hub embeds those tools at mount until the package is recompiled).
# 2: integration, title and the description's first sentence (was the whole description and parameter names).
DOC_FORMAT = "2"


def text_key(doc: ToolDoc) -> str:
    """What a stored vector is valid for: the embedded text, in this format."""
    return hashlib.sha1(f"{DOC_FORMAT}|{doc.embedding_text()}".encode()).hexdigest()


@dataclass
class StoredIndex:
    """What a package's stored index offers, by tool name (unprefixed) and by text key."""

    terms: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    surface: dict[str, str] = field(default_factory=dict)
    vectors: dict[str, Vectors] = field(default_factory=dict)
    model: str | None = None


def read_index(package_dir: Path) -> StoredIndex | None:
    """The stored index of a package, or None when it has none (or an unreadable one: it is rebuilt at mount)."""
    path = package_dir / INDEX_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes())
        if data.get("format") != FORMAT:
            return None
        stored = StoredIndex(model=data.get("model"))
        tools: dict[str, Any] = data.get("tools", {})
        if data.get("lexical") == LEXICAL_FORMAT:
            stored.terms = {name: {f: v.split() for f, v in t["terms"].items()} for name, t in tools.items()}
            stored.surface = dict(data.get("surface", {}))
        keys = [t["key"] for t in tools.values() if t.get("key")]
        vector_path = package_dir / INDEX_VECTORS
        if keys and data.get("doc_format") == DOC_FORMAT and vector_path.is_file():
            matrix = np.load(vector_path, allow_pickle=False)
            if matrix.shape[0] != len(keys):
                raise ValueError(f"{vector_path}: {matrix.shape[0]} rows for {len(keys)} tools")
            stored.vectors = dict(zip(keys, matrix.astype(np.float32), strict=True))
        return stored
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logging.getLogger(__name__).warning("%s: unreadable search index (%s); the hub rebuilds it at mount", path, exc)
        return None


@dataclass(frozen=True)
class PackageDocs:
    """The tools of one package plus the hash of its manifest (the key of its cached vectors)."""

    slug: str
    digest: str
    docs: list[ToolDoc]
    # Vectors from the package's stored index (compile time), by text key; empty when it has none.
    vectors: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    surface: dict[str, str] = field(default_factory=dict)


def load_package_docs(package_dir: Path, *, include_disabled: bool = False) -> PackageDocs:
    path = package_dir / "manifest.json"
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: missing; is {package_dir} a compiled package (`mcphub compile`)?") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); recompile the package with `mcphub compile`") from exc
    digest = hashlib.sha256(raw + (b"+disabled" if include_disabled else b"")).hexdigest()
    docs = docs_from_manifest(manifest, include_disabled=include_disabled)
    stored = read_index(package_dir)
    if stored is None:
        return PackageDocs(str(manifest["slug"]), digest, docs)
    docs = [replace(doc, terms=stored.terms.get(doc.tool)) for doc in docs]
    return PackageDocs(str(manifest["slug"]), digest, docs, stored.vectors, stored.model, stored.surface)


def load_catalogs(catalogs: Iterable[Path], *, include_disabled: bool = False) -> list[PackageDocs]:
    """Every package in the catalog folders, in order. When a slug appears again in a later folder (the
    integration's whole API compiled beside its curated package), the earlier package's tools are its curated
    ones and rank first; the later one adds only the operations the curated package does not already cover."""
    seen: dict[str, set[str]] = {}
    packages: list[PackageDocs] = []
    for catalog in catalogs:
        if (catalog / "manifest.json").exists():
            candidates = [catalog]
        elif catalog.is_dir():
            candidates = sorted(p for p in catalog.iterdir() if (p / "manifest.json").exists())
        else:
            raise ValueError(f"{catalog}: no such folder; pass a folder of compiled packages (e.g. generated/)")
        for package_dir in candidates:
            package = load_package_docs(package_dir, include_disabled=include_disabled)
            covered = seen.get(package.slug)
            if covered is None:
                seen[package.slug] = {doc.key for doc in package.docs}
                packages.append(package)
                continue
            if not any(doc.curated for p in packages if p.slug == package.slug for doc in p.docs):
                for earlier in [p for p in packages if p.slug == package.slug]:
                    packages[packages.index(earlier)] = replace(
                        earlier,
                        digest=earlier.digest + "+curated",
                        docs=[replace(d, curated=True) for d in earlier.docs],
                    )
            rest = [doc for doc in package.docs if doc.key not in covered]
            covered.update(doc.key for doc in rest)
            packages.append(replace(package, digest=package.digest + f"+rest:{len(rest)}", docs=rest))
    return packages
