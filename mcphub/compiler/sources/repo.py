"""A code repository as a source: its own OpenAPI description if it has one, else the routes read from its code.

`source: {kind: repo, path: ../my-service}` points at a checkout (the builder clones a git URL into one). The tree
is searched for OpenAPI/Swagger files first — a project's own description is the best one there is; without one,
FastAPI and Flask applications are read statically (`python_routes`), then Express, Fastify and NestJS ones
(`js_routes`, with tree-sitter), each operation recording its `file:line`.
The code is never imported or run. A repository says where its code is, not where it runs: the spec's `base_url`
is required unless the description found names its servers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import Integration

if TYPE_CHECKING:
    from mcphub.compiler.spec import HubSpec

__all__ = ["RepoFindings", "find_openapi_files", "integration_from_spec", "read_repository"]

MAX_FILES_LOOKED_AT = 50_000
MAX_LINK_WARNINGS = 10
MAX_DESCRIPTION_BYTES = 20 * 1024 * 1024
_DESCRIPTION_SUFFIXES = (".json", ".yaml", ".yml")
_SKIPPED_DIRS = {".git", "node_modules", ".venv", "venv", "vendor", "third_party", "dist", "build", "__pycache__"}
_NAME_HINTS = ("openapi", "swagger", "api")


@dataclass
class RepoFindings:
    """What a repository offers as a description, and how it was found."""

    document: dict[str, Any]
    origin: str  # "openapi file docs/openapi.yaml" or "FastAPI routes"
    warnings: list[str] = field(default_factory=list)


def integration_from_spec(spec: HubSpec, spec_path: Path) -> Integration:
    """Source stage for `kind: repo`: the checkout's description or routes, as tools (the spec curates them)."""
    from mcphub.compiler.fetch import sha256_of
    from mcphub.compiler.sources.openapi import derived_integration

    root = spec.source_file()
    if root is None or not root.is_dir():
        raise SourceError(f"{spec_path}: source.path must be a folder (a checkout of the repository) for kind 'repo'")
    findings = read_repository(root)
    if not findings.document.get("servers") and not spec.base_url:
        raise SourceError(
            f"{spec_path}: the repository ({findings.origin}) does not say where the API runs: set base_url"
        )
    info = spec.source.to_source_info().model_copy(update={"format": findings.origin})
    if findings.origin.startswith("openapi file "):
        described = root / findings.origin.removeprefix("openapi file ")
        info = info.model_copy(update={"sha256": sha256_of(described)})
    return derived_integration(findings.document, spec, info, findings.warnings)


def read_repository(root: Path) -> RepoFindings:
    """The best description a checkout offers: an OpenAPI/Swagger file in it, else its FastAPI/Flask routes."""
    from mcphub.compiler.sources.openapi import load_document
    from mcphub.compiler.sources.python_routes import scan_python_routes

    problems: list[str] = []
    candidates = find_openapi_files(root, problems)
    for candidate in candidates:
        try:
            document, _ = load_document(candidate)
        except SourceError as exc:
            problems.append(f"{candidate.relative_to(root)}: {exc}")
            continue
        if isinstance(document.get("paths"), dict) and document["paths"]:
            relative = candidate.relative_to(root).as_posix()
            skipped = [f"{c.relative_to(root)}: another description, not used" for c in candidates if c != candidate]
            return RepoFindings(document, f"openapi file {relative}", [*problems, *skipped])
    scan = scan_python_routes(root, title=root.name)
    if scan.operations:
        frameworks = " and ".join(sorted(f.capitalize() if f == "flask" else "FastAPI" for f in scan.frameworks))
        return RepoFindings(scan.document, f"{frameworks} routes", [*problems, *scan.warnings])
    from mcphub.compiler.sources.js_routes import FRAMEWORK_NAMES, scan_js_routes

    js = scan_js_routes(root, title=root.name)
    if js.operations:
        frameworks = " and ".join(sorted(FRAMEWORK_NAMES[f] for f in js.frameworks))
        return RepoFindings(js.document, f"{frameworks} routes", [*problems, *js.warnings])
    raise SourceError(
        f"{root}: no OpenAPI/Swagger description and no FastAPI, Flask, Express, Fastify or NestJS routes found "
        "in the repository"
        + (f" ({'; '.join(problems[:3])})" if problems else "")
        + "; point source.path at the folder holding the API's code or description"
    )


def find_openapi_files(root: Path, warnings: list[str] | None = None) -> list[Path]:
    """OpenAPI/Swagger descriptions in the tree, likeliest first (named like one, shallow, then by path).

    Symbolic links are never followed; those leading out of the tree are named in `warnings`."""
    found: list[tuple[int, int, str, Path]] = []
    seen = 0
    for path in _walk(root, [] if warnings is None else warnings):
        seen += 1
        if seen > MAX_FILES_LOOKED_AT:
            break
        if path.suffix.lower() not in _DESCRIPTION_SUFFIXES or path.stat().st_size > MAX_DESCRIPTION_BYTES:
            continue
        if not _looks_like_openapi(path):
            continue
        named = 0 if any(hint in path.stem.lower() for hint in _NAME_HINTS) else 1
        relative = path.relative_to(root)
        found.append((named, len(relative.parts), relative.as_posix(), path))
    return [path for *_, path in sorted(found)]


def _walk(root: Path, warnings: list[str]) -> Any:
    inside = root.resolve()
    links = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():  # the tree is read as it is: no link is followed
                target = Path(os.path.realpath(entry))
                if not target.is_relative_to(inside):
                    links += 1
                    if links <= MAX_LINK_WARNINGS:
                        warnings.append(
                            f"{entry.relative_to(root)}: a symbolic link out of the repository "
                            f"(to {os.readlink(entry)}); not followed"
                        )
                    elif links == MAX_LINK_WARNINGS + 1:
                        warnings.append(f"{root}: more symbolic links out of the repository; none is followed")
                continue
            if entry.is_dir():
                if entry.name not in _SKIPPED_DIRS and not entry.name.startswith("."):
                    stack.append(entry)
            elif entry.is_file():
                yield entry


def _looks_like_openapi(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    if path.suffix.lower() == ".json":
        return '"openapi"' in head or '"swagger"' in head
    return any(line.startswith(("openapi:", "swagger:")) for line in head.splitlines())
