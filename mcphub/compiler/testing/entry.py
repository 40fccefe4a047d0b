"""Where the test stage's inputs come from: a package's source description, for the CLI and for the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcphub.compiler.errors import CompileError
from mcphub.compiler.ir import Integration
from mcphub.compiler.testing.stage import DEFAULT_EXAMPLES, StageReport, check_package


def load_source(integration: Integration, specs_dir: Path) -> tuple[dict[str, Any], str]:
    """The OpenAPI document `integration` was compiled from, and a label naming it.

    Built-in sources come from the npm cache (`source.package`, verified by sha256) or from a path relative to the
    folder of hub specs. Raises CompileError saying what is missing.
    """
    from mcphub.compiler.fetch import npm_file
    from mcphub.compiler.sources.openapi import load_document

    source = integration.source
    if source.kind != "openapi" or not source.path:
        raise CompileError(
            f"{integration.slug}: the test stage checks tools compiled from OpenAPI descriptions; "
            f"this package's source is {source.kind}"
        )
    if source.package:
        path = npm_file(source.package, source.path, sha256=source.sha256, where=f"{integration.slug}: ")
        label = f"{source.package}/{source.path}"
    else:
        path = (specs_dir / source.path).resolve()
        label = str(path)
        if not path.is_file():
            raise CompileError(
                f"{integration.slug}: its source {source.path} is not in {specs_dir}; "
                "pass --specs with the folder of its hub spec, or test the description's path"
            )
    document, _format = load_document(path)
    return document, label


def check_built(
    package_dir: Path, target_path: Path, *, is_spec: bool, examples: int = DEFAULT_EXAMPLES
) -> StageReport | None:
    """The pipeline's test stage for a package it just built from `target_path` (None: not an OpenAPI source)."""
    from mcphub.compiler.sources.openapi import load_document

    integration = Integration.from_manifest((package_dir / "manifest.json").read_bytes())
    if integration.source.kind != "openapi":
        return None
    if is_spec:
        document, label = load_source(integration, target_path.parent)
    else:
        document, _format = load_document(target_path)
        label = str(target_path)
    if not str(document.get("openapi", "")).startswith("3."):
        return None  # Swagger 2.0: openapi-core checks OpenAPI 3.x only
    return check_package(package_dir, document, source_label=label, examples=examples)
