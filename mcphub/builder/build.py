"""`mcphub build SOURCE`: whatever a user brings becomes an ordinary hub spec next to its source, then is compiled.

Stages, each reported with its time (and the LLM's tokens where it was used): **fetch** (read the file, download the
URL under the egress rules, crawl the docs, clone the repository), **analyze** (recognise the kind and turn it into
a description: the file itself for OpenAPI and Postman, routes for a repository, an LLM draft for docs and text),
then the compiler's own stages (parse, augment, codegen, scan, and test where the compiler has it).

What is written is reviewable and offline: `<out>/<slug>.yaml` and, beside it, `<out>/<slug>/` with the source as
compiled (the downloaded description, the collection, or the drafted OpenAPI document with every guess marked), so
`mcphub compile` rebuilds it without network or LLM. Nothing that already exists is overwritten unless `force`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mcphub.builder.refs import external_refs
from mcphub.compiler.errors import CompileError, SourceError
from mcphub.compiler.untrusted import check_tree, load_untrusted, read_bounded

__all__ = ["MAX_FILE_BYTES", "BuildOptions", "BuildResult", "SourceKind", "StageReport", "build"]

MAX_FILE_BYTES = 50 * 1024 * 1024  # a local file; a download is capped by `fetch.DEFAULT_MAX_BYTES`

SourceKind = Literal["openapi", "postman", "docs", "repo", "text"]
Progress = Callable[["StageReport"], None]


@dataclass
class BuildOptions:
    source: str  # a path, a URL, a git URL, or "-" (a text on stdin)
    kind: SourceKind | None = None
    slug: str | None = None
    out_dir: Path = Path("specs")
    catalog_dir: Path = Path("generated")
    base_url: str | None = None
    allow_private: bool = False  # reach private addresses (the fetch, the clone, and the tools' calls)
    force: bool = False
    text: str | None = None  # the text itself, for kind text from stdin


@dataclass
class StageReport:
    stage: str
    seconds: float
    detail: str = ""
    tokens: dict[str, Any] | None = None


@dataclass
class BuildResult:
    slug: str
    kind: SourceKind
    spec_path: Path
    source_path: Path | None
    package_dir: Path | None
    tools: list[str] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    llm: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "kind": self.kind,
            "spec": str(self.spec_path),
            "source": None if self.source_path is None else str(self.source_path),
            "package": None if self.package_dir is None else str(self.package_dir),
            "tools": self.tools,
            "stages": [{"stage": s.stage, "seconds": round(s.seconds, 3), "detail": s.detail} for s in self.stages],
            "warnings": self.warnings,
            "llm": self.llm,
        }


class _Stages:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.reports: list[StageReport] = []

    def done(self, stage: str, started: float, detail: str = "", tokens: dict[str, Any] | None = None) -> None:
        report = StageReport(stage, time.perf_counter() - started, detail, tokens)
        self.reports.append(report)
        if self.progress is not None:
            self.progress(report)


@dataclass
class _Described:
    """What the analyze stage produced: a description to write (or a folder to point at) and the spec's source."""

    kind: SourceKind
    title: str
    source: dict[str, Any]  # the spec's `source:` mapping, paths relative to the spec's folder
    files: dict[str, bytes] = field(default_factory=dict)  # relative to the spec's folder
    warnings: list[str] = field(default_factory=list)
    llm: dict[str, Any] | None = None
    servers: bool = False  # the description names where the API runs
    destructive: list[str] = field(default_factory=list)  # operation ids an LLM judged destructive


async def build(options: BuildOptions, progress: Progress | None = None) -> BuildResult:
    """Turn `options.source` into a spec in `options.out_dir` and compile it into `options.catalog_dir`.

    Whatever fails, what was there before stays as it was: a spec and its folder replaced with `force` are moved
    aside first and put back when the new build does not compile (a new spec that fails is kept to be fixed).
    """
    stages = _Stages(progress)
    with tempfile.TemporaryDirectory(prefix="mcphub-build-") as scratch:
        described = await _describe(options, Path(scratch), stages)
        slug = options.slug or _slugify(described.title)
        spec_path = options.out_dir / f"{slug}.yaml"
        folder = options.out_dir / slug
        existing = [p for p in (spec_path, folder) if p.exists() or p.is_symlink()]
        if existing and not options.force:
            raise CompileError(f"{existing[0]} exists already: choose another --slug, or pass --force to replace it")
        if not described.servers and not options.base_url:
            raise CompileError(
                f"{options.source}: the {described.kind} source does not say where the API runs: pass --base-url URL"
            )
        spec: dict[str, Any] = {
            "slug": slug,
            "name": described.title,
            "source": _relocate(described.source, slug),
            **({"base_url": options.base_url} if options.base_url else {}),
            **({"policy": {"allow_private_network": True}} if options.allow_private else {}),
        }
        if described.destructive:  # OpenAPI cannot say it for a POST: the spec's curation does, for review
            spec["tools"] = [{"operation": op, "annotations": {"destructive": True}} for op in described.destructive]
            spec["include"] = "all"
        header = (
            f"# Built by `mcphub build` from {described.kind} source {options.source}.\n"
            "# An ordinary spec: review it, curate `tools:`, and `mcphub compile` rebuilds it offline.\n"
        )
        with _Replacing(existing, options.out_dir, slug):
            started = time.perf_counter()
            source_path = _write(options.out_dir, slug, described)
            spec_path.write_text(header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
            return _compile(options, slug, described, spec_path, source_path, stages, started)
    raise AssertionError("unreachable")  # pragma: no cover


class _Replacing:
    """Moves what a forced build replaces aside (a rename in the same folder) and puts it back if the build fails."""

    def __init__(self, existing: list[Path], out_dir: Path, slug: str) -> None:
        self.existing = existing
        self.aside = out_dir / f".{slug}.previous"
        self.written: list[Path] = [out_dir / f"{slug}.yaml", out_dir / slug]

    def __enter__(self) -> None:
        if not self.existing:
            return
        shutil.rmtree(self.aside, ignore_errors=True)
        self.aside.mkdir(parents=True)
        for path in self.existing:
            os.replace(path, self.aside / path.name)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if not self.existing:
            if isinstance(error, _CompileFailed):
                error.args = (f"{error.args[0]} (the spec and its source are kept: fix them and compile)",)
            return
        if kind is None:
            shutil.rmtree(self.aside, ignore_errors=True)
            return
        for path in self.written:  # the failed build's files go; the previous ones come back
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        for path in self.existing:
            os.replace(self.aside / path.name, path)
        self.aside.rmdir()
        if isinstance(error, CompileError):
            kept = " and ".join(path.name for path in self.existing)
            error.args = (f"{error.args[0]} (nothing was replaced: the previous {kept} are as they were)",)


class _CompileFailed(CompileError):
    """The new spec was written but does not compile."""


def _compile(
    options: BuildOptions,
    slug: str,
    described: _Described,
    spec_path: Path,
    source_path: Path | None,
    stages: _Stages,
    started: float,
) -> BuildResult:
    from mcphub.compiler.ir import Integration
    from mcphub.compiler.pipeline import Target, compile_targets

    stages.done("write", started, f"{spec_path} and its source; the compiler loaded")

    marks: dict[str, float] = {}

    def compile_progress(label: str, stage: str) -> None:
        now = time.perf_counter()
        for previous, started in list(marks.items()):
            stages.done(previous, started)
            del marks[previous]
        marks[stage] = now

    # The tool vectors are left to the hub (embedded in the background at its first search, lexical meanwhile):
    # they are ~85% of a 500-operation build's CPU, and nobody should wait for them before trying the tools.
    [report] = compile_targets(
        [Target(spec_path, is_spec=True)], options.catalog_dir, embed=False, progress=compile_progress
    )
    for previous, started in marks.items():
        stages.done(previous, started)
    if report.error is not None:
        raise _CompileFailed(f"{spec_path}: {report.error}")
    manifest = options.catalog_dir / slug / "manifest.json"
    integration = Integration.from_manifest(manifest.read_bytes())
    return BuildResult(
        slug=slug,
        kind=described.kind,
        spec_path=spec_path,
        source_path=source_path,
        package_dir=options.catalog_dir / slug,
        tools=[tool.name for tool in integration.tools if tool.enabled],
        stages=stages.reports,
        warnings=[*described.warnings, *report.warnings],
        llm=described.llm,
    )


# --- fetch + analyze ------------------------------------------------------------------------------------------------


async def _describe(options: BuildOptions, scratch: Path, stages: _Stages) -> _Described:
    started = time.perf_counter()
    from mcphub.builder.git import looks_like_git_url

    source = options.source
    kind = options.kind
    if kind == "text" or source == "-":
        text = options.text if options.text is not None else _read_text(source)
        stages.done("fetch", started, f"{len(text):,} characters of text")
        return _from_llm_text(text, options, stages, where="text" if source == "-" else source)
    if re.match(r"^[a-z]+://", source):
        if kind == "repo" or (kind is None and looks_like_git_url(source)):
            return await _from_git(source, options, scratch, stages, started)
        if kind == "docs":
            return await _from_docs_url(source, options, stages, started)
        from mcphub.builder.fetch import FetchError, fetch_url  # the network stack, only for a URL

        try:
            fetched = await fetch_url(source, allow_private=options.allow_private)
        except FetchError as exc:
            raise SourceError(str(exc)) from None
        stages.done("fetch", started, f"{len(fetched.body):,} bytes ({fetched.content_type or 'no content type'})")
        if kind is None and "html" in fetched.content_type:
            return await _from_docs_url(source, options, stages, time.perf_counter())
        return await _from_document(
            fetched.body,
            Path(fetched.final_url.rsplit("/", 1)[-1] or "source"),
            options,
            stages,
            location=fetched.final_url,
        )
    path = Path(source)
    if not path.exists():
        raise SourceError(f"{source}: no such file or folder, and not a URL")
    if path.is_dir():
        if kind == "docs":
            return _from_docs_folder(path, options, stages, started)
        return _from_folder(path, options, stages, started)
    data = read_bounded(path, MAX_FILE_BYTES, what="source file")
    stages.done("fetch", started, f"{len(data):,} bytes from {path.name}")
    if kind == "docs":
        return _from_docs_folder(path.parent, options, stages, time.perf_counter())
    return await _from_document(data, path, options, stages, location=str(path))


async def _from_document(
    data: bytes, name: Path, options: BuildOptions, stages: _Stages, *, location: str
) -> _Described:
    started = time.perf_counter()
    from mcphub.compiler.sources.postman import is_postman_collection

    document = _parse_document(data, name)
    kind = options.kind
    if kind is None:
        if isinstance(document, dict) and ("openapi" in document or "swagger" in document):
            kind = "openapi"
        elif is_postman_collection(document):
            kind = "postman"
        else:
            raise SourceError(
                f"{name}: neither an OpenAPI/Swagger description nor a Postman collection; for a plain description "
                "of an API pass --kind text, for documentation pages --kind docs"
            )
    if kind not in ("openapi", "postman"):
        raise SourceError(f"{name}: a single file can be built as openapi or postman, not {kind}")
    title = str((document.get("info") or {}).get("title") or (document.get("info") or {}).get("name") or name.stem)
    file_name = "openapi" + (name.suffix if name.suffix in (".json", ".yaml", ".yml") else ".json")
    if kind == "postman":
        file_name = "collection.postman_collection.json"
    detail = f"{kind} description"
    bundled: list[str] = []
    if kind == "openapi" and external_refs(document):  # a multi-file description is pinned as one document
        from mcphub.builder.refs import bundle_refs

        document, bundled = await bundle_refs(document, location, allow_private=options.allow_private)
        if bundled:
            try:
                data = json.dumps(document, indent=2, ensure_ascii=False, default=str).encode()
            except ValueError:  # a YAML alias inside itself cannot be written out as JSON
                raise SourceError(
                    f"{location}: a schema refers to itself through a YAML alias; use a $ref for the recursion"
                ) from None
            file_name = "openapi.json"
            detail += f", {len(bundled)} referenced documents bundled in"
    source: dict[str, Any] = {"kind": kind, "path": file_name}  # the URL it came from is in the spec's header
    servers = kind == "openapi" and bool(document.get("servers") or document.get("host"))
    if kind == "postman":
        from mcphub.compiler.sources.postman import postman_to_openapi

        servers = bool(postman_to_openapi(document, where=str(name)).document.get("servers"))
        check_tree(document, str(name))  # the folders have no cycle (the conversion said where); nothing else has
        if data.lstrip()[:1] != b"{":  # a collection written as YAML: the compile reads JSON, as Postman exports
            data = json.dumps(document, indent=2, ensure_ascii=False, default=str).encode()
    stages.done("analyze", started, detail)
    warnings = [f"{location}: bundled in from {where}" for where in bundled]
    return _Described(kind, title, source, {file_name: data}, warnings=warnings, servers=servers)


def _from_folder(path: Path, options: BuildOptions, stages: _Stages, started: float) -> _Described:
    from mcphub.compiler.sources.repo import read_repository

    stages.done("fetch", started, f"local folder {path}")
    started = time.perf_counter()
    findings = read_repository(path)
    operations = sum(len(item) for item in findings.document.get("paths", {}).values())
    stages.done("analyze", started, f"{findings.origin}: {operations} operations")
    return _Described(
        "repo",
        path.resolve().name,
        {"kind": "repo", "path": str(path.resolve())},
        warnings=findings.warnings,
        servers=bool(findings.document.get("servers")),
    )


async def _from_git(url: str, options: BuildOptions, scratch: Path, stages: _Stages, started: float) -> _Described:
    from mcphub.builder.git import CloneError, clone_repository
    from mcphub.compiler.sources.repo import read_repository

    try:
        clone = await clone_repository(url, scratch / "checkout", allow_private=options.allow_private)
    except CloneError as exc:
        raise SourceError(str(exc)) from None
    stages.done("fetch", started, f"cloned {url} at {clone.commit[:12]}")
    started = time.perf_counter()
    findings = read_repository(clone.path)
    document = dict(findings.document)
    document["x-mcphub-origin"] = {"repository": url, "commit": clone.commit, "found": findings.origin}
    operations = sum(len(item) for item in document.get("paths", {}).values())
    stages.done("analyze", started, f"{findings.origin}: {operations} operations")
    name = url.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]
    # The checkout is not kept: the description read from it is, with the repository and commit it came from.
    return _Described(
        "repo",
        name,
        {"kind": "openapi", "path": "openapi.json"},
        {"openapi.json": json.dumps(document, indent=2, ensure_ascii=False).encode()},
        warnings=findings.warnings,
        servers=bool(document.get("servers")),
    )


async def _from_docs_url(url: str, options: BuildOptions, stages: _Stages, started: float) -> _Described:
    from mcphub.builder.docs import crawl_docs

    crawl = await crawl_docs(url, allow_private=options.allow_private)
    stages.done("fetch", started, f"{len(crawl.pages)} pages")
    return _from_crawl(crawl, options, stages, where=url)


def _from_docs_folder(path: Path, options: BuildOptions, stages: _Stages, started: float) -> _Described:
    from mcphub.builder.docs import read_docs_folder

    crawl = read_docs_folder(path)
    stages.done("fetch", started, f"{len(crawl.pages)} pages from {path}")
    return _from_crawl(crawl, options, stages, where=str(path))


def _from_crawl(crawl: Any, options: BuildOptions, stages: _Stages, *, where: str) -> _Described:
    from mcphub.builder.docs import draft_from_docs
    from mcphub.compiler.llm import llm_from_env

    started = time.perf_counter()
    llm = llm_from_env()
    draft = draft_from_docs(crawl, llm, slug=options.slug or "draft", where=where)
    stages.done("analyze", started, f"LLM draft: {len(draft.document['paths'])} paths", tokens=llm.usage.as_dict())
    described = _drafted("docs", draft, llm)
    described.warnings.extend(crawl.warnings())
    return described


def _from_llm_text(text: str, options: BuildOptions, stages: _Stages, *, where: str) -> _Described:
    from mcphub.compiler.llm import llm_from_env
    from mcphub.compiler.sources.text import draft_from_text

    started = time.perf_counter()
    llm = llm_from_env()
    draft = draft_from_text(text, llm, slug=options.slug or "draft", where=where)
    stages.done("analyze", started, f"LLM draft: {len(draft.document['paths'])} paths", tokens=llm.usage.as_dict())
    return _drafted("text", draft, llm)


def _drafted(kind: SourceKind, draft: Any, llm: Any) -> _Described:
    guessed = draft.document.get("x-mcphub-guessed", [])
    warnings = [f"guessed from the input, check it: {', '.join(guessed)}"] if guessed else []
    warnings += [f"fixed by the LLM after the compiler said: {problem}" for problem in draft.problems_fixed]
    return _Described(
        kind,
        draft.draft.name,
        {"kind": "openapi", "path": "openapi.json"},
        {"openapi.json": json.dumps(draft.document, indent=2, ensure_ascii=False).encode()},
        warnings=warnings,
        llm=llm.usage.as_dict(),
        servers=True,
        destructive=[op.operation_id for op in draft.draft.operations if op.destructive],
    )


# --- writing ------------------------------------------------------------------------------------------------------


def _write(out_dir: Path, slug: str, described: _Described) -> Path | None:
    if not described.files:
        return None
    folder = out_dir / slug
    folder.mkdir(parents=True)  # build() checked it is new, or moved the old one aside
    for name, data in described.files.items():
        (folder / name).write_bytes(data)
    return folder


def _relocate(source: dict[str, Any], slug: str) -> dict[str, Any]:
    """Paths of files written beside the spec are relative to the spec's folder: `<slug>/<file>`."""
    if source.get("kind") == "repo":
        return source
    return {**source, "path": f"{slug}/{source['path']}"}


def _parse_document(data: bytes, name: Path) -> Any:
    """JSON or YAML from a user, refused (with the place) when it is a YAML alias bomb or nested hostilely; a YAML
    alias cycle is allowed here (a recursive schema), and refused where the document is a collection."""
    return load_untrusted(data, str(name), cycles=True)


def _read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"{source}: no such file for a text source (pass - to read the text from stdin)")
    return path.read_text(encoding="utf-8", errors="replace")


def _slugify(title: str) -> str:
    words = [word for word in re.findall(r"[a-z0-9]+", title.lower()) if word not in ("api", "the")]
    slug = "-".join(words)[:32].strip("-")
    return slug if len(slug) >= 2 else "api"
