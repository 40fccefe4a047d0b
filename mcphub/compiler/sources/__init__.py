"""The registry of source kinds: every kind of API source reaches the IR through the same entry point.

A kind is a name (`source.kind` in a hub spec) and a function `(spec, spec_path) -> Integration`; the
pipeline looks the kind up here, calls it, and applies the spec's curation to what it returns. Kinds that
can also compile a bare file without a spec (OpenAPI/Swagger descriptions) give `parse_file` as well.

Adding a kind (docs and text are next) is one module under `sources/` with an
`integration_from_spec(spec, spec_path)` and one `register(...)` line at the bottom of this file. The
entries import their module on first use: graphql-core, the MCP SDK and the SQL drivers cost tens to
hundreds of milliseconds to import, and a compile of an OpenAPI spec needs none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mcphub.compiler.errors import SpecError

if TYPE_CHECKING:
    from mcphub.compiler.ir import Integration
    from mcphub.compiler.spec import HubSpec

__all__ = ["SourceKind", "file_kind", "get", "names", "register"]

SpecParser = Callable[["HubSpec", Path], "Integration"]
FileParser = Callable[[Path, str], "Integration"]  # (the description, the slug) -> Integration


@dataclass(frozen=True, slots=True)
class SourceKind:
    """One kind of source: how a spec's source (and, for some kinds, a bare file) becomes an Integration."""

    name: str
    parse: SpecParser
    summary: str  # one line for error messages and docs
    parse_file: FileParser | None = None  # compiles a bare description without a spec (every operation a tool)


_KINDS: dict[str, SourceKind] = {}


def register(kind: SourceKind) -> SourceKind:
    """Add a kind; a second kind of the same name is a programming error, not an override."""
    if kind.name in _KINDS:
        raise ValueError(f"source kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def names() -> list[str]:
    return sorted(_KINDS)


def get(name: str, spec_path: Path) -> SourceKind:
    """The registered kind `name`; a SpecError naming the spec file and the kinds this compiler has otherwise."""
    kind = _KINDS.get(name)
    if kind is None:
        raise SpecError(
            f"{spec_path}: source kind '{name}' is not supported by this version of the compiler yet "
            f"(it compiles {', '.join(names())}); change source.kind or compile the raw description"
        )
    return kind


def file_kind() -> SourceKind:
    """The kind that compiles a bare description file (today only OpenAPI/Swagger ones exist)."""
    return next(kind for kind in _KINDS.values() if kind.parse_file is not None)


# -- the kinds --------------------------------------------------------------------------------------------------------
# Each entry imports its module when it is first called (see the module docstring for why).


def _openapi(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.sources.openapi import integration_from_spec

    return integration_from_spec(spec, spec_path)


def _openapi_file(path: Path, slug: str) -> Integration:
    from mcphub.compiler.sources.openapi import integration_from_file

    return integration_from_file(path, slug)


def _postman(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.sources.postman import integration_from_spec

    return integration_from_spec(spec, spec_path)


def _repo(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.sources.repo import integration_from_spec

    return integration_from_spec(spec, spec_path)


def _graphql(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.sources.graphql import integration_from_spec

    return integration_from_spec(spec, spec_path)


def _sql(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.sources.sql import integration_from_spec

    return integration_from_spec(spec, spec_path)


def _mcp(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.sources.mcp import integration_from_spec

    return integration_from_spec(spec, spec_path)


register(SourceKind("openapi", _openapi, "OpenAPI 3.0/3.1 and Swagger 2.0 descriptions", parse_file=_openapi_file))
register(SourceKind("postman", _postman, "a Postman Collection v2.0/v2.1 (converted to OpenAPI first)"))
register(SourceKind("repo", _repo, "a code repository: its OpenAPI file, else its FastAPI/Flask routes"))
register(SourceKind("graphql", _graphql, "a GraphQL schema (SDL) with the operations the spec lists"))
register(SourceKind("sql", _sql, "a PostgreSQL database (read-only queries and its schema)"))
register(SourceKind("mcp", _mcp, "an upstream MCP server (stdio command or streamable HTTP URL)"))
