"""Where a guessed operation came from, read back from the description pinned with a built integration.

The sources that guess (docs, repo, text) write OpenAPI documents whose operations say where they were found:
`x-mcphub-source` holds the docs page's URL (docs, text with a location) or `file:line` (a repository's route), and
`x-mcphub-guessed` lists what the LLM had to guess (path, method, parameters, body). The IR does not carry these
(the runtime never needs them), so the review reads them from the pinned document itself, keyed by method and path
as the compiled tools are.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from mcphub.compiler.spec import HTTP_METHODS

__all__ = ["Origin", "operation_origins"]

_METHODS = tuple(method.lower() for method in HTTP_METHODS)  # as OpenAPI path items name them


@dataclass(frozen=True, slots=True)
class Origin:
    """What the source recorded about one operation."""

    where: str = ""  # a docs page URL or `file:line`; empty when the source did not say
    guessed: list[str] = field(default_factory=list)

    @property
    def is_link(self) -> bool:
        return self.where.startswith(("https://", "http://"))


def operation_origins(pinned: bytes, source_path: str) -> dict[tuple[str, str], Origin]:
    """(METHOD, path) → Origin for every operation of the pinned OpenAPI document that records one.

    `source_path` is the spec's `source.path` (`<slug>/<file>`); a Postman collection or a file that is not an
    OpenAPI document records nothing and gives an empty mapping."""
    name = source_path.rsplit("/", 1)[-1]
    try:
        with zipfile.ZipFile(io.BytesIO(pinned)) as archive:
            data = archive.read(name)
    except (KeyError, zipfile.BadZipFile):
        return {}
    if b"x-mcphub-" not in data:  # only the drafting sources write these: skip parsing a large upload
        return {}
    document = _load(data, name)
    paths = document.get("paths") if isinstance(document, dict) else None
    if not isinstance(paths, dict):
        return {}
    found: dict[tuple[str, str], Origin] = {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            where = operation.get("x-mcphub-source")
            guessed = operation.get("x-mcphub-guessed")
            origin = Origin(
                where=where if isinstance(where, str) else "",
                guessed=[str(g) for g in guessed] if isinstance(guessed, list) else [],
            )
            if origin.where or origin.guessed:
                found[(method.upper(), str(path))] = origin
    return found


def _load(data: bytes, name: str) -> Any:
    from mcphub.compiler.errors import CompileError
    from mcphub.compiler.untrusted import load_untrusted

    try:
        return load_untrusted(data, name, cycles=True)
    except CompileError:
        return None  # the build reads the same file and reports what is wrong with it
