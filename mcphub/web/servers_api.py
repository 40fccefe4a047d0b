"""Built integrations over HTTP: `/api/v1/servers/…` (JSON, server-sent events) and `/integrations/<slug>/docs` (HTML).

The JSON routes are an extension of the JSON API (`web/api.py`: same authentication, CSRF, errors and OpenAPI
document) over `mcphub.servers.Servers`:

  GET    /servers                          yours and the shared ones (admins: ?all=true)
  POST   /servers                          create from an upload (base64), a URL or a text → version 1 (a draft)
  GET    /servers/{slug}                   one integration
  DELETE /servers/{slug}                   delete it (unmounted everywhere at once)
  GET    /servers/{slug}/draft             every operation of the source and what the version makes of it
  POST   /servers/{slug}/review            a new version from a review (operations, names, descriptions, auth, policy)
  GET    /servers/{slug}/versions          versions, newest first, each with its last build
  POST   /servers/{slug}/versions          a new version from a spec written by hand (the editor)
  GET    /servers/{slug}/versions/{number} one version with its spec
  POST   /servers/{slug}/builds            build a version (in the background; ?wait=true: answer when done)
  GET    /servers/{slug}/builds/{run_id}   a build: each stage's result, scan findings, test report, linter score
  GET    /servers/{slug}/builds/{run_id}/events   the same as server-sent events while it runs (`stage`, `done`)
  POST   /servers/{slug}/deploy            make a version live (built first if needed); 422 if the build fails
  POST   /servers/{slug}/rollback          make an earlier built version live
  PUT    /servers/{slug}/sharing           admins: share with every user, or make private again
  GET    /servers/{slug}/docs              the tool reference (Markdown and HTML)
  POST   /servers/{slug}/describe          the LLM's better description for one operation (nothing is saved)
  POST   /servers/{slug}/proposals         the LLM's spec changed from feedback, checked (save it with POST /versions)
  POST   /servers/{slug}/sandbox           call a tool of a built version (deployed or not) against a sandbox base URL

`/integrations/<slug>/docs` serves the tool reference of every mounted integration (built-in or built) as a page:
built-ins and shared builds for anyone, a private build for its owner (signed in) and admins only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import jinja2
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mcphub.runtime.mcp.hub import Hub
from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.builds import BuildConflict, BuildNotFound, RunInfo
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.servers.service import (
    AssistFailed,
    BuildFailed,
    Forbidden,
    InvalidInput,
    Review,
    ReviewTool,
    Servers,
    SourceInput,
)
from mcphub.web.api import ApiBody, ApiError, ApiExtension, api_json, json_ok
from mcphub.web.sessions import WebSessions

__all__ = ["BODIES", "create_docs_routes", "extension", "openapi_paths", "render_markdown", "server_routes"]

TEMPLATES = Path(__file__).parent / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}
_MAX_NUMBER = 2**31 - 1


# --- request bodies ----------------------------------------------------------------------------------------------


class ServerSource(ApiBody):
    kind: Literal["file", "url", "text"]
    content_base64: str | None = Field(default=None, max_length=28_000_000)  # kind file: the file's bytes
    filename: str | None = Field(default=None, max_length=300)
    url: str | None = Field(default=None, max_length=2000)
    text: str | None = Field(default=None, max_length=200_000)
    as_kind: Literal["openapi", "postman", "docs", "repo", "text"] | None = None


class ServerCreate(ApiBody):
    source: ServerSource
    slug: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    base_url: str | None = Field(default=None, max_length=2000)
    allow_private_network: bool = False  # admins only


class ReviewedTool(ApiBody):
    operation: str = Field(min_length=1, max_length=500)
    name: str | None = Field(default=None, max_length=128)
    description: str | None = Field(default=None, max_length=10_000)


class ServerReview(ApiBody):
    tools: list[ReviewedTool] = Field(min_length=1, max_length=5000)
    name: str | None = Field(default=None, max_length=200)
    base_url: str | None = Field(default=None, max_length=2000)
    auth: list[dict[str, Any]] | None = None
    policy: dict[str, Any] | None = None
    message: str = Field(default="reviewed", max_length=5000)


class ServerSpec(ApiBody):
    spec_yaml: str = Field(min_length=1, max_length=2_000_000)
    message: str = Field(default="edited", max_length=5000)


class ServerBuild(ApiBody):
    version: int | None = Field(default=None, ge=1, le=_MAX_NUMBER)


class ServerRollback(ApiBody):
    version: int = Field(ge=1, le=_MAX_NUMBER)


class ServerSharing(ApiBody):
    shared: bool


class ServerDescribe(ApiBody):
    operation: str = Field(min_length=1, max_length=500)


class ServerProposal(ApiBody):
    feedback: str = Field(min_length=1, max_length=2000)


class ServerSandbox(ApiBody):
    version: int = Field(ge=1, le=_MAX_NUMBER)
    base_url: str = Field(min_length=1, max_length=2000)
    tool: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)
    secret: str | None = Field(default=None, max_length=10_000)  # a sandbox credential; masked in the answer


BODIES: dict[str, type[BaseModel]] = {
    "ServerCreate": ServerCreate,
    "ServerReview": ServerReview,
    "ServerSpec": ServerSpec,
    "ServerBuild": ServerBuild,
    "ServerRollback": ServerRollback,
    "ServerSharing": ServerSharing,
    "ServerDescribe": ServerDescribe,
    "ServerProposal": ServerProposal,
    "ServerSandbox": ServerSandbox,
}


def render_markdown(text: str) -> Markup:
    """Markdown (a generated README) as HTML; raw HTML in it is escaped, never passed through."""
    from markdown_it import MarkdownIt

    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


# --- the JSON routes ---------------------------------------------------------------------------------------------


class _Routes:
    """Handlers over `Servers`; `api` is the JSON API's `_Api` (caller, body parsing, errors)."""

    def __init__(self, api: Any, servers: Servers) -> None:
        self.api = api
        self.servers = servers
        self._tasks: set[asyncio.Task[Any]] = set()

    async def user(self, request: Request) -> UserInfo:
        caller = await self.api.caller(request)
        user: UserInfo = caller.user
        return user

    @staticmethod
    def slug(request: Request) -> str:
        return str(request.path_params["slug"])

    def guarded(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except BuildFailed as exc:
                body = {"error": {"code": "build_failed", "message": str(exc)}}
                if exc.run is not None:
                    body["run"] = api_json(exc.run)
                return JSONResponse(body, status_code=422)
            except BuildNotFound as exc:
                raise ApiError(404, "not_found", str(exc)) from None
            except BuildConflict as exc:
                raise ApiError(409, "conflict", str(exc)) from None
            except Forbidden as exc:
                raise ApiError(403, "forbidden", str(exc)) from None
            except InvalidInput as exc:
                raise ApiError(422, "invalid", str(exc)) from None
            except AssistFailed as exc:  # no LLM configured, or its answer never passed the checks
                raise ApiError(422, "llm_failed", str(exc)) from None

        return run

    # - collection -

    async def collection(self, request: Request) -> Response:
        user = await self.user(request)
        if request.method == "GET":
            everyone = request.query_params.get("all") in ("1", "true", "yes")
            return json_ok({"servers": await self.servers.listing(user, everyone=everyone)})
        body = await self.api.body(request, ServerCreate)
        source = _source(body.source)
        created = await self.servers.create(
            user,
            source,
            slug=body.slug,
            name=body.name,
            base_url=body.base_url,
            allow_private=body.allow_private_network,
        )
        return json_ok(
            {
                "server": created.info,
                "version": _version(created.version),
                "stages": created.stages,
                "warnings": created.warnings,
                "llm": created.llm,
            },
            201,
        )

    # - one integration -

    async def one(self, request: Request) -> Response:
        user = await self.user(request)
        slug = self.slug(request)
        if request.method == "DELETE":
            await self.servers.delete(user, slug)
            return Response(status_code=204)
        return json_ok({"server": await self.servers.get(user, slug)})

    async def draft(self, request: Request) -> Response:
        user = await self.user(request)
        return json_ok({"draft": await self.servers.draft(user, self.slug(request), _number(request))})

    async def review(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerReview)
        review = Review(
            tools=[ReviewTool(t.operation, t.name, t.description) for t in body.tools],
            name=body.name,
            base_url=body.base_url,
            auth=body.auth,
            policy=body.policy,
            message=body.message,
        )
        version = await self.servers.review(user, self.slug(request), review)
        return json_ok({"version": _version(version)}, 201)

    async def versions(self, request: Request) -> Response:
        user = await self.user(request)
        slug = self.slug(request)
        if request.method == "POST":
            body = await self.api.body(request, ServerSpec)
            version = await self.servers.save_spec(user, slug, body.spec_yaml, body.message)
            return json_ok({"version": _version(version)}, 201)
        return json_ok({"versions": [_version(v, spec=False) for v in await self.servers.versions(user, slug)]})

    async def version(self, request: Request) -> Response:
        user = await self.user(request)
        number = _path_number(request, "number")
        return json_ok({"version": _version(await self.servers.version(user, self.slug(request), number))})

    async def builds(self, request: Request) -> Response:
        user = await self.user(request)
        slug = self.slug(request)
        body = await self.api.body(request, ServerBuild) if await request.body() else ServerBuild()
        if request.query_params.get("wait") in ("1", "true", "yes"):
            run = await self.servers.build(user, slug, body.version)
            return json_ok({"run": run}, 200)
        version = await self.servers.version(user, slug, body.version)  # 404 now rather than in the background
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def background() -> None:
            try:
                await self.servers.build(user, slug, version.number, on_start=started.set_result)
            except BuildFailed:
                pass  # stored with the run: the client reads it from /builds/{run_id}
            except Exception as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        task = asyncio.create_task(background(), name=f"build:{slug}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        run_id = await started
        return json_ok(
            {
                "run_id": run_id,
                "version": version.number,
                "events": f"/api/v1/servers/{slug}/builds/{run_id}/events",
                "status": f"/api/v1/servers/{slug}/builds/{run_id}",
            },
            202,
        )

    async def build(self, request: Request) -> Response:
        user = await self.user(request)
        run = await self.servers.run(user, self.slug(request), _path_number(request, "run_id"))
        return json_ok({"run": run})

    async def events(self, request: Request) -> Response:
        """Server-sent events of one build: a `stage` event as each stage ends, then `done` with the whole run."""
        user = await self.user(request)
        slug = self.slug(request)
        run_id = _path_number(request, "run_id")
        first = await self.servers.run(user, slug, run_id)

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            run: RunInfo = first
            while True:
                for stage in run.stages[sent:]:
                    yield _event("stage", stage)
                sent = len(run.stages)
                if run.status != "running":
                    yield _event("done", api_json(run))
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)
                run = await self.servers.run(user, slug, run_id)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    # - the LLM's help and the sandbox -

    async def describe(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerDescribe)
        return json_ok({"proposal": await self.servers.improve_description(user, self.slug(request), body.operation)})

    async def proposals(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerProposal)
        return json_ok({"proposal": await self.servers.propose_change(user, self.slug(request), body.feedback)})

    async def sandbox(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerSandbox)
        call = await self.servers.sandbox_call(
            user,
            self.slug(request),
            body.version,
            base_url=body.base_url,
            tool=body.tool,
            arguments=body.arguments,
            secret=body.secret,
        )
        return json_ok({"call": call})

    async def deploy(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerBuild) if await request.body() else ServerBuild()
        info = await self.servers.deploy(user, self.slug(request), body.version)
        return json_ok({"server": info})

    async def rollback(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerRollback)
        return json_ok({"server": await self.servers.rollback(user, self.slug(request), body.version)})

    async def sharing(self, request: Request) -> Response:
        user = await self.user(request)
        body = await self.api.body(request, ServerSharing)
        return json_ok({"server": await self.servers.share(user, self.slug(request), body.shared)})

    async def docs(self, request: Request) -> Response:
        user = await self.user(request)
        slug = self.slug(request)
        await self.servers.get(user, slug)
        markdown = await self.servers.readme(user, slug)
        if markdown is None:
            raise BuildNotFound(f"{slug} is not deployed: its tool reference comes with its first deploy")
        return json_ok({"slug": slug, "markdown": markdown, "html": str(render_markdown(markdown))})


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


def _version(version: Any, *, spec: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = api_json(version)
    if not spec:
        data.pop("spec_yaml", None)
    return data


def _number(request: Request) -> int | None:
    raw = request.query_params.get("version")
    if raw is None:
        return None
    return _checked_number(raw, "version")


def _path_number(request: Request, name: str) -> int:
    return _checked_number(str(request.path_params[name]), name)


def _checked_number(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 0 < value <= _MAX_NUMBER:
        raise ApiError(404, "not_found", f"no such {name.replace('_', ' ')} {raw!r}")
    return value


def _source(body: ServerSource) -> SourceInput:
    if body.kind == "file":
        try:
            data = base64.b64decode(body.content_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("source.content_base64: not base64 (send the file's bytes base64-encoded)") from None
        if not data:
            raise InvalidInput("source.content_base64: the file is empty")
        return SourceInput("file", data=data, filename=body.filename or "upload", as_kind=body.as_kind)
    if body.kind == "url":
        if not body.url:
            raise InvalidInput("source.url: give the URL of an OpenAPI description, a docs page or a git repository")
        return SourceInput("url", url=body.url, as_kind=body.as_kind)
    return SourceInput("text", data=(body.text or "").encode(), filename="description.txt", as_kind="text")


def extension(servers: Servers) -> ApiExtension:
    """What `web.api.create_api_routes` adds for built integrations: the routes, their OpenAPI paths and bodies."""
    return ApiExtension(routes=lambda api: server_routes(api, servers), paths=openapi_paths, bodies=BODIES)


def server_routes(api: Any, servers: Servers) -> list[Route]:
    """The `/servers` routes, mounted under /api/v1 by `web.api.create_api_routes`."""
    r = _Routes(api, servers)
    e = api.endpoint

    def route(path: str, handler: Callable[[Request], Awaitable[Response]], methods: list[str]) -> Route:
        return Route(path, e(r.guarded(handler)), methods=methods)

    return [
        route("/servers", r.collection, ["GET", "POST"]),
        route("/servers/{slug}", r.one, ["GET", "DELETE"]),
        route("/servers/{slug}/draft", r.draft, ["GET"]),
        route("/servers/{slug}/review", r.review, ["POST"]),
        route("/servers/{slug}/versions", r.versions, ["GET", "POST"]),
        route("/servers/{slug}/versions/{number}", r.version, ["GET"]),
        route("/servers/{slug}/builds", r.builds, ["POST"]),
        route("/servers/{slug}/builds/{run_id}", r.build, ["GET"]),
        route("/servers/{slug}/builds/{run_id}/events", r.events, ["GET"]),
        route("/servers/{slug}/deploy", r.deploy, ["POST"]),
        route("/servers/{slug}/rollback", r.rollback, ["POST"]),
        route("/servers/{slug}/sharing", r.sharing, ["PUT"]),
        route("/servers/{slug}/docs", r.docs, ["GET"]),
        route("/servers/{slug}/describe", r.describe, ["POST"]),
        route("/servers/{slug}/proposals", r.proposals, ["POST"]),
        route("/servers/{slug}/sandbox", r.sandbox, ["POST"]),
    ]


# --- OpenAPI ------------------------------------------------------------------------------------------------------

_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
_INT = {"type": "integer", "minimum": 1, "maximum": _MAX_NUMBER}
_OPERATIONS: list[tuple[str, str, str, str | None, list[int], list[dict[str, Any]]]] = [
    (
        "/servers",
        "get",
        "Your built integrations and the shared ones (admins: ?all=true for everyone's)",
        None,
        [200],
        [{"name": "all", "in": "query", "schema": {"type": "boolean"}}],
    ),
    ("/servers", "post", "Create from an upload, a URL or a text: version 1, a draft", "ServerCreate", [201], []),
    ("/servers/{slug}", "get", "One built integration", None, [200], []),
    ("/servers/{slug}", "delete", "Delete it; every hub unmounts it at once", None, [204], []),
    (
        "/servers/{slug}/draft",
        "get",
        "Every operation of the source and what the version makes of it (for review)",
        None,
        [200],
        [{"name": "version", "in": "query", "schema": _INT}],
    ),
    ("/servers/{slug}/review", "post", "A new version from a review", "ServerReview", [201], []),
    ("/servers/{slug}/versions", "get", "Versions, newest first, each with its last build", None, [200], []),
    ("/servers/{slug}/versions", "post", "A new version from a spec written by hand", "ServerSpec", [201], []),
    ("/servers/{slug}/versions/{number}", "get", "One version with its spec and last build", None, [200], []),
    (
        "/servers/{slug}/builds",
        "post",
        "Build a version in the background (202; ?wait=true answers 200 when done, 422 if it failed)",
        "ServerBuild",
        [200, 202],
        [{"name": "wait", "in": "query", "schema": {"type": "boolean"}}],
    ),
    ("/servers/{slug}/builds/{run_id}", "get", "One build: stages, findings, test report, linter", None, [200], []),
    (
        "/servers/{slug}/builds/{run_id}/events",
        "get",
        "A build's progress as server-sent events (`stage`, then `done`)",
        None,
        [200],
        [],
    ),
    ("/servers/{slug}/deploy", "post", "Make a version live (built first if needed)", "ServerBuild", [200], []),
    ("/servers/{slug}/rollback", "post", "Make an earlier built version live", "ServerRollback", [200], []),
    ("/servers/{slug}/sharing", "put", "Share with every user, or make private (admins)", "ServerSharing", [200], []),
    ("/servers/{slug}/docs", "get", "The deployed version's tool reference (Markdown and HTML)", None, [200], []),
    (
        "/servers/{slug}/describe",
        "post",
        "The LLM's description for one operation (saves nothing)",
        "ServerDescribe",
        [200],
        [],
    ),
    (
        "/servers/{slug}/proposals",
        "post",
        "The LLM's spec changed from feedback, checked; save it with POST /versions",
        "ServerProposal",
        [200],
        [],
    ),
    (
        "/servers/{slug}/sandbox",
        "post",
        "Call a tool of a built version against a sandbox base URL (the request shown, credentials masked)",
        "ServerSandbox",
        [200],
        [],
    ),
]


def openapi_paths(prefix: str, error: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The OpenAPI path items of the routes above (merged into /api/v1/openapi.json by `web.api`)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, body, statuses, params in _OPERATIONS:
        responses: dict[str, Any] = {}
        for status in statuses:
            if status == 204:
                responses[str(status)] = {"description": "Done"}
            elif path.endswith("/events"):
                responses[str(status)] = {
                    "description": "Server-sent events",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                }
            else:
                responses[str(status)] = {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
        responses["4XX"] = error
        parameters = [_SLUG] if "{slug}" in path else []
        parameters += [
            {"name": name, "in": "path", "required": True, "schema": _INT}
            for name in ("number", "run_id")
            if "{" + name + "}" in path
        ]
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": responses,
            "security": [{"session": [], "csrf": []}, {"adminKey": []}],
        }
        if parameters + params:
            operation["parameters"] = parameters + params
        if body:
            operation["requestBody"] = {
                "required": body not in ("ServerBuild",),
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
            }
        paths.setdefault(prefix + path, {})[method] = operation
    return paths


# --- /integrations/<slug>/docs -----------------------------------------------------------------------------------


def create_docs_routes(tenancy: Tenancy, hub: Hub) -> list[Route]:
    sessions = WebSessions(tenancy)

    async def docs(request: Request) -> Response:
        slug = str(request.path_params["slug"])
        mount = hub.snapshot.mounts.get(slug)
        live = tenancy.builds.deployed().get(slug)
        if live is not None and live.visibility == "private":
            signed_in = await sessions.read(request)
            user = signed_in[0] if signed_in else None
            if user is None or not (user.is_admin or user.id == live.owner_id):
                mount = None  # someone else's private build: as if it did not exist
        readme = mount.package.directory / "README.md" if mount is not None else None
        if readme is None or not readme.is_file():
            page = _env.get_template("servers/docs.html").render(
                title="No such integration",
                body=Markup("<h1>No such integration</h1><p>Nothing by that name is served here.</p>"),
                footer="The catalog lists the integrations you can use: /integrations",
            )
            return HTMLResponse(page, status_code=404, headers=_PAGE_HEADERS)
        assert mount is not None
        text = await asyncio.to_thread(readme.read_text, encoding="utf-8", errors="replace")
        page = _env.get_template("servers/docs.html").render(
            title=mount.integration.name,
            body=render_markdown(text),
            footer=f"Generated from the compiled package of {slug}: every tool, its arguments and an example call.",
        )
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    return [Route("/integrations/{slug}/docs", docs, methods=["GET"])]
