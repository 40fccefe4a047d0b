"""A shallow, bounded, inert clone of a git repository the user names: code to read, never to run.

`git clone --depth 1` of one branch, no submodules, no hooks (`core.hooksPath` points nowhere), symlinks
checked out as plain files (`core.symlinks=false`, so no link can lead out of the tree), no credential prompts,
large blobs left out; https only, to a host that resolves to public addresses unless the operator allows private
ones; a deadline for the whole clone and a size cap checked after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio

__all__ = ["Clone", "CloneError", "clone_repository", "looks_like_git_url"]

MAX_BYTES = 200 * 1024 * 1024
TIMEOUT_S = 120.0


class CloneError(Exception):
    """A repository that could not be cloned; the message names it and what to do."""


@dataclass(frozen=True)
class Clone:
    url: str
    path: Path
    commit: str


def looks_like_git_url(text: str) -> bool:
    parts = urlsplit(text)
    if parts.scheme == "file":
        return True
    if parts.scheme != "https" or not parts.hostname:
        return False
    segments = [s for s in parts.path.split("/") if s]
    return parts.path.endswith(".git") or (
        parts.hostname in ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org") and len(segments) == 2
    )


async def clone_repository(
    url: str, dest: Path, *, allow_private: bool = False, timeout_s: float = TIMEOUT_S, max_bytes: int = MAX_BYTES
) -> Clone:
    """Clone `url` into `dest` (which must not exist) and return the commit it holds."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if not allow_private:
            raise CloneError(f"{url}: local repositories can be cloned only when private sources are allowed")
    elif parts.scheme != "https" or not parts.hostname:
        raise CloneError(f"{url}: give an https:// git URL (ssh and plain http are not used by the builder)")
    elif not allow_private:
        from mcphub.runtime.upstream.egress import EgressDenied, UnresolvableHost, resolve_public

        try:
            await resolve_public(parts.hostname, parts.port or 443)
        except (EgressDenied, UnresolvableHost) as exc:
            raise CloneError(f"{url}: {exc}") from None
    git = shutil.which("git")
    if git is None:
        raise CloneError("the repo source needs git on the hub's machine (apt-get install git)")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(dest.parent),  # no user config, no credential helpers
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ASKPASS": "/bin/false",
    }
    command = [
        git,
        "-c", "core.hooksPath=/dev/null",
        "-c", "core.symlinks=false",
        "-c", f"protocol.file.allow={'always' if parts.scheme == 'file' else 'never'}",
        "-c", "protocol.ext.allow=never",
        "clone", "--quiet", "--depth", "1", "--single-branch", "--no-recurse-submodules",
        "--filter=blob:limit=2m", url, str(dest),
    ]  # fmt: skip
    try:
        with anyio.fail_after(timeout_s):  # cancelling run_process kills git
            done = await anyio.run_process(command, env=env, check=False, stdin=subprocess.DEVNULL)
    except TimeoutError:
        shutil.rmtree(dest, ignore_errors=True)
        raise CloneError(f"{url}: the clone took longer than {timeout_s:.0f} s") from None
    except OSError as exc:
        raise CloneError(f"{url}: git could not start ({exc})") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise CloneError(f"{url}: git clone failed: {message[-1] if message else done.returncode}")
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink())
    if size > max_bytes:
        shutil.rmtree(dest, ignore_errors=True)
        raise CloneError(f"{url}: the checkout is {size:,} bytes, over the {max_bytes:,}-byte limit")
    head = await anyio.run_process([git, "-C", str(dest), "rev-parse", "HEAD"], env=env, check=False)
    return Clone(url, dest, head.stdout.decode().strip())
