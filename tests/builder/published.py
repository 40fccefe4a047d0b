"""Other people's published code, fetched pinned at test time (never committed): an sdist from PyPI or a package
from npm, unpacked.

`pip download` (the machine's python3 has pip; the uv-made .venv has none) or `npm pack` fetches the exact version,
the sha256 pinned here is checked, and the unpacked tree is cached under `.cache/published/` for later runs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "published"


def published_sdist(name: str, version: str, sha256: str) -> Path:
    """The unpacked sdist `name==version` (its top folder), verified against `sha256`."""
    target = CACHE / f"{name}-{version}"
    if (target / ".verified").exists():
        return target / f"{name}-{version}"
    with tempfile.TemporaryDirectory() as scratch:
        python = shutil.which("python3") or "python3"
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"{name}=={version}",
                "-d",
                scratch,
            ],
            check=True,
            timeout=300,
        )
        [archive] = Path(scratch).glob(f"{name}-{version}.tar.gz")
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert digest == sha256, f"{archive.name}: sha256 {digest}, pinned {sha256}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    (target / ".verified").touch()
    return target / f"{name}-{version}"


def published_npm(package: str, version: str, sha256: str) -> Path:
    """The unpacked npm tarball `package@version` (its `package/` folder), verified against `sha256`."""
    target = CACHE / "npm" / f"{package.replace('/', '__')}-{version}"
    if (target / ".verified").exists():
        return target / "package"
    npm = shutil.which("npm")
    assert npm is not None, (
        "npm is needed to fetch published JavaScript packages (apt-get install npm, or make node-tools)"
    )
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [npm, "pack", f"{package}@{version}", "--silent", "--pack-destination", scratch],
            check=True,
            timeout=300,
            capture_output=True,
        )
        [archive] = Path(scratch).glob("*.tgz")
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert digest == sha256, f"{archive.name}: sha256 {digest}, pinned {sha256}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    (target / ".verified").touch()
    return target / "package"


def npm_installed(folder: Path, packages: list[str]) -> None:
    """`npm install` of exact `packages` (name@x.y.z) into `folder`, once (a stamp names what was installed)."""
    stamp = folder / ".installed"
    wanted = " ".join(packages)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed to install published JavaScript packages"
    subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts", *packages],
        cwd=folder,
        check=True,
        timeout=300,
        capture_output=True,
    )
    stamp.write_text(wanted)
