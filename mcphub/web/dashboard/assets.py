"""The dashboard's static files under content-hashed names: `/static/app.3f9c2a1b7e.css`.

Files come from `mcphub/web/static/` (the hub's own stylesheet and script) and its `vendor/` folder (htmx and
uPlot, copied there from the pinned npm lock by `make assets`; never committed). A name carries the first
10 hex digits of the file's SHA-256, so a response can be cached for a year (`immutable`): a changed file
gets a new name. The table is built once, on first use.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["STATIC", "AssetMissing", "Assets", "assets", "static_route"]

STATIC = Path(__file__).resolve().parent.parent / "static"
_CACHE = "public, max-age=31536000, immutable"


class AssetMissing(RuntimeError):
    """A page needs a file that is not installed (the vendor files come from `make assets`)."""


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str


class Assets:
    def __init__(self, root: Path = STATIC) -> None:
        self.root = root
        self._urls: dict[str, str] | None = None
        self._files: dict[str, _File] = {}

    def _scan(self) -> dict[str, str]:
        if self._urls is None:
            urls: dict[str, str] = {}
            for path in sorted(self.root.rglob("*")):
                if not path.is_file() or path.name.startswith("."):
                    continue
                logical = path.relative_to(self.root).as_posix()
                body = path.read_bytes()
                digest = hashlib.sha256(body).hexdigest()[:10]
                stem, dot, suffix = logical.rpartition(".")
                hashed = f"{stem}.{digest}.{suffix}" if dot else f"{logical}.{digest}"
                media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if media.startswith("text/") or media.endswith("javascript"):
                    media += "; charset=utf-8"
                self._files[hashed] = _File(body, media)
                urls[logical] = f"/static/{hashed}"
            self._urls = urls
        return self._urls

    def url(self, logical: str) -> str:
        """The hashed URL of `logical` (e.g. "vendor/htmx.min.js"); AssetMissing says how to install it."""
        try:
            return self._scan()[logical]
        except KeyError:
            raise AssetMissing(
                f"{self.root / logical} is missing: run `make assets` (it installs the dashboard's pinned "
                "front-end files from tools/web/package-lock.json)"
            ) from None

    async def serve(self, request: Request) -> Response:
        self._scan()
        found = self._files.get(str(request.path_params["name"]))
        if found is None:
            return PlainTextResponse("no such file", status_code=404, headers={"Cache-Control": "no-store"})
        headers = {"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"}
        return Response(found.body, media_type=found.media_type, headers=headers)


assets = Assets()


def static_route() -> Route:
    return Route("/static/{name:path}", assets.serve, methods=["GET", "HEAD"])
