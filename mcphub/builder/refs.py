"""Multi-file OpenAPI descriptions: every `$ref` to another file or URL fetched once and bundled into one document.

A description split over files (`$ref: schemas/pet.yaml#/Pet`, `$ref: https://example.com/common.yaml#/Error`)
is pinned beside the spec as one self-contained document, so `mcphub compile` stays offline: each referenced
document is copied under `x-bundled/<key>` and every reference rewritten to point there (the convention the
compiler's own loader uses for relative files). Relative references resolve against the document that holds
them: a URL against its URL (fetched through `fetch.fetch_url`, so the egress rules, the size cap and the
deadline apply to each), a local file against its folder (and never out of the source's folder: an upload must
not be able to read the hub's files). At most `MAX_DOCUMENTS` documents and `MAX_TOTAL_BYTES` in all; documents
that refer to each other (cycles) are fetched once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from mcphub.compiler.errors import SourceError
from mcphub.compiler.untrusted import load_untrusted, read_bounded

__all__ = ["MAX_DOCUMENTS", "MAX_TOTAL_BYTES", "bundle_refs", "external_refs"]

MAX_DOCUMENTS = 100
MAX_TOTAL_BYTES = 50 * 1024 * 1024


def external_refs(node: Any) -> list[str]:
    """The `$ref` values of `node` that name another document (not `#…`), in document order, once each."""
    found: dict[str, None] = {}
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                found.setdefault(ref)
            stack.extend(reversed(list(current.values())))
        elif isinstance(current, list):
            stack.extend(reversed(current))
    return list(found)


@dataclass
class _Documents:
    root: str
    local_root: Path | None  # the folder local references must stay in; None for a URL source
    allow_private: bool
    max_documents: int
    max_bytes: int
    content: dict[str, Any] = field(default_factory=dict)  # location -> parsed document
    keys: dict[str, str] = field(default_factory=dict)  # location -> key under x-bundled ("" for the root)
    spent: int = 0

    def locate(self, ref: str, referrer: str) -> str:
        """The absolute location (URL or resolved path) of the document `ref` names, from `referrer`."""
        file_part = ref.split("#", 1)[0]
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", file_part):
            if urlsplit(file_part).scheme not in ("http", "https"):
                raise SourceError(f"{referrer}: $ref '{ref}': only http(s) URLs and relative files can be referenced")
            return urldefrag(file_part)[0]
        if re.match(r"^https?://", referrer):
            return urldefrag(urljoin(referrer, file_part))[0]
        assert self.local_root is not None
        target = (Path(referrer).parent / file_part).resolve()
        if not target.is_relative_to(self.local_root):
            raise SourceError(
                f"{referrer}: $ref '{ref}' leads out of the source's folder ({self.local_root}); "
                "keep the referenced files beside the description"
            )
        return str(target)

    async def load(self, location: str, referrer: str, ref: str) -> None:
        if len(self.content) >= self.max_documents:
            raise SourceError(
                f"{referrer}: $ref '{ref}': more than {self.max_documents} documents referenced in all; "
                "bundle the description into fewer files first"
            )
        remaining = self.max_bytes - self.spent
        if remaining <= 0:
            raise SourceError(f"{referrer}: $ref '{ref}': the referenced documents pass {self.max_bytes:,} bytes")
        if re.match(r"^https?://", location):
            from mcphub.builder.fetch import FetchError, fetch_url

            try:
                fetched = await fetch_url(location, max_bytes=remaining, allow_private=self.allow_private)
            except FetchError as exc:
                raise SourceError(f"{referrer}: $ref '{ref}': {exc}") from None
            data = fetched.body
        else:
            path = Path(location)
            if not path.is_file():
                raise SourceError(f"{referrer}: $ref '{ref}': no file {path}; fix the reference or add the file")
            data = read_bounded(path, remaining, what="referenced document")
        self.spent += len(data)
        self.content[location] = load_untrusted(data, location, cycles=True)


async def bundle_refs(
    document: dict[str, Any],
    location: str,
    *,
    allow_private: bool = False,
    max_documents: int = MAX_DOCUMENTS,
    max_bytes: int = MAX_TOTAL_BYTES,
) -> tuple[dict[str, Any], list[str]]:
    """`document` (read from `location`, a URL or a file path) with every document it references bundled in.

    Returns the bundled document and the locations it took in, in the order they were read.
    """
    is_url = bool(re.match(r"^https?://", location))
    local_root = None if is_url else Path(location).resolve().parent
    root = location if is_url else str(Path(location).resolve())
    documents = _Documents(root, local_root, allow_private, max_documents, max_bytes)
    documents.content[root] = document
    documents.keys[root] = ""
    queue = [root]
    while queue:  # breadth first: each document once, however many refer to it (cycles included)
        referrer = queue.pop(0)
        for ref in external_refs(documents.content[referrer]):
            target = documents.locate(ref, referrer)
            if target not in documents.content:
                await documents.load(target, referrer, ref)
                documents.keys[target] = _key(target, documents.keys)
                queue.append(target)
    if len(documents.content) == 1:
        return document, []
    rewriter = _Rewriter(documents)
    bundled = rewriter.rewrite(document, root)
    bundled["x-bundled"] = {
        documents.keys[where]: rewriter.rewrite(content, where)
        for where, content in documents.content.items()
        if where != root
    }
    return bundled, [where for where in documents.content if where != root]


def _key(location: str, taken: dict[str, str]) -> str:
    name = urlsplit(location).path.rsplit("/", 1)[-1] if "://" in location else Path(location).name
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "document"
    used = set(taken.values())
    while key in used:
        key += "_"
    return key


class _Rewriter:
    def __init__(self, documents: _Documents) -> None:
        self.documents = documents
        self.done: dict[tuple[int, str], Any] = {}

    def rewrite(self, node: Any, where: str) -> Any:
        if not isinstance(node, dict | list):
            return node
        memo = self.done.get((id(node), where))
        if memo is not None:
            return memo  # shared (or recursive) YAML nodes stay shared, and the walk ends
        if isinstance(node, list):
            out_list: list[Any] = []
            self.done[(id(node), where)] = out_list
            out_list.extend(self.rewrite(value, where) for value in node)
            return out_list
        out: dict[str, Any] = {}
        self.done[(id(node), where)] = out
        for name, value in node.items():
            out[name] = (
                self.ref(value, where) if name == "$ref" and isinstance(value, str) else self.rewrite(value, where)
            )
        return out

    def ref(self, ref: str, where: str) -> str:
        file_part, _, fragment = ref.partition("#")
        target = where if not file_part else self.documents.locate(ref, where)
        key = self.documents.keys[target]
        prefix = f"#/x-bundled/{key}" if key else "#"
        return prefix + fragment if fragment.startswith("/") or not fragment else f"{prefix}/{fragment}"
