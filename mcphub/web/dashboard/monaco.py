"""Monaco, the builder's spec editor: its AMD build served from this hub, and the headers its page needs.

`make assets` copies `monaco-editor/min/vs` from the pinned npm lock into `mcphub/web/monaco/` (never committed, never
a CDN). Its loader asks for its files by their own names (`vs/editor/editor.main.js`, chunks with hashes of their
own), so the folder is served as it is under `/monaco/<version>/…`, cached for a year: another version is another
URL.

Two things the strict Content-Security-Policy would refuse, handled without loosening it for scripts:
- **Workers.** Monaco's AMD entry starts its web workers from `blob:` URLs, which `script-src 'self'` refuses.
  `/monaco/<version>/editor-worker.js` is a worker script from this origin that loads the editor worker and says it
  is ready, exactly what Monaco's blob says; the page's script points `MonacoEnvironment.getWorker` at it.
- **Styles.** Monaco adds `<style>` elements for its themes and decorations. The editor page's CSP allows style
  elements from this origin plus a per-response nonce (`style-src-elem 'self' 'nonce-…'`), the nonce is in a
  `<meta>`, and the page's script gives it to every `<style>` element Monaco creates. Monaco also positions its
  lines and widgets with `style="…"` attributes, so that page (only) has `style-src-attr 'unsafe-inline'` — an
  attribute cannot load anything (img-src/font-src still apply) — and `font-src data:` for the icon font its
  stylesheet embeds. Scripts stay `'self'` only, on this page too: no inline script, no eval, no blob: worker.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mcphub.web.dashboard.core import CSP

__all__ = ["MONACO", "editor_csp", "monaco_route", "monaco_version", "new_nonce"]

MONACO = Path(__file__).resolve().parent.parent / "monaco"
_CACHE = "public, max-age=31536000, immutable"


@cache
def monaco_version() -> str | None:
    """The installed Monaco's version (from its package.json), or None when `make assets` has not run."""
    try:
        return str(json.loads((MONACO / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def editor_csp(nonce: str) -> str:
    """The dashboard's CSP for the editor's page: what Monaco needs for styles and its icon font, nothing for scripts.

    `<style>` elements only with this response's nonce; `style="…"` attributes (Monaco positions every line, cursor
    and widget with them) allowed by `style-src-attr`; the icon font Monaco's stylesheet embeds as a data: URL.
    """
    styles = f"style-src 'self' 'nonce-{nonce}'; style-src-elem 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'"
    return CSP.replace("style-src 'self'", styles).replace("font-src 'self'", "font-src 'self' data:")


@cache
def _editor_worker() -> str | None:
    found = sorted((MONACO / "vs" / "assets").glob("editor.worker-*.js"))
    return found[0].name if found else None


async def _serve(request: Request) -> Response:
    version = monaco_version()
    if version is None or request.path_params["version"] != version:
        return PlainTextResponse("no such file", status_code=404, headers={"Cache-Control": "no-store"})
    name = str(request.path_params["path"])
    headers = {"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"}
    if name == "editor-worker.js":
        worker = _editor_worker()
        if worker is None:
            return PlainTextResponse("no editor worker: run `make assets`", status_code=404)
        body = (
            f'importScripts("/monaco/{version}/vs/assets/{worker}");\n'
            'globalThis.postMessage({ type: "vscode-worker-ready" });\n'
        )
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
    root = MONACO.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root / "vs") or not path.is_file():
        return PlainTextResponse("no such file", status_code=404, headers={"Cache-Control": "no-store"})
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/") or media.endswith("javascript"):
        media += "; charset=utf-8"
    return Response(path.read_bytes(), media_type=media, headers=headers)


def monaco_route() -> Route:
    return Route("/monaco/{version}/{path:path}", _serve, methods=["GET", "HEAD"])
