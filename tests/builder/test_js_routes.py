"""Express, Fastify and NestJS routes read statically with tree-sitter: small fixtures of our own, Fastify's published
examples (npm `fastify` 5.12.8), and a published Express application — the one `express-generator` 4.16.1 makes —
fetched pinned at test time, built with `mcphub build`, run for real with node, and called through the hub."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from integrations.hubs import RunningHub, spec_hub

from builder.published import npm_installed, published_npm
from mcphub.builder.build import BuildOptions, build
from mcphub.compiler.sources.js_routes import scan_js_routes
from mcphub.compiler.sources.repo import read_repository

FASTIFY = ("fastify", "5.12.8", "459048aabd9311309f4f95b36e8ca065e3a4613ded292bcf50442926931e4748")
GENERATOR = ("express-generator", "4.16.1", "130030d5df75bb8421c3e1e399f089f9436c9abe12b65ffe351f6def4948eeeb")
GENERATOR_DEPS = ["commander@2.15.1", "ejs@2.6.1", "minimatch@3.0.4", "mkdirp@0.5.1", "sorted-object@2.0.1"]
APP_DEPS = ["express@4.16.4", "cookie-parser@1.4.4", "debug@2.6.9", "morgan@1.9.1"]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, item in document["paths"].items() for m, op in item.items()}


EXPRESS = {
    "app.js": """const express = require('express')
const users = require('./routes/users')
const app = express()
app.use(express.json())
app.use('/api/users', users)
app.get('/health', (req, res) => res.json({ ok: true }))
app.set('port', 3000)
app.get('env')
module.exports = app
""",
    "routes/users.js": """const { Router } = require('express')
const router = Router()

router.get('/', (req, res) => {
  const { page, limit } = req.query
  res.json([])
})

router.get('/:id(\\\\d+)', getUser)

router.route('/:id/posts')
  .get((req, res) => res.json({ sort: req.query.sort }))
  .post((req, res) => {
    const title = req.body.title
    res.status(201).json({ title, token: req.get('X-Request-Id') })
  })

router.delete('/:id', async function removeUser (req, res) { res.status(204).end() })
router.get('*', (req, res) => res.status(404).end())

function getUser (req, res) { res.json({ id: req.params.id }) }

module.exports = router
""",
}

# Handlers defined in other files: a controller module of `exports.x = …` (required whole, and destructured), one of
# `module.exports = { … }`, and ES modules (`export function`, `export const`, a default export, a namespace import).
EXPRESS_HANDLERS = {
    "app.js": """const express = require('express')
const users = require('./controllers/users')
const { search } = require('./controllers/users')
const app = express()
app.get('/users', users.list)
app.post('/users', users.create)
app.get('/users/search', search)
app.get('/orders/:id', require('./controllers/orders').show)
app.use('/es', require('./routes/es'))
module.exports = app
""",
    "controllers/users.js": """exports.list = (req, res) => res.json({ page: req.query.page })
exports.create = createUser
exports.search = function (req, res) { const { q, sort } = req.query; res.json([]) }
function createUser (req, res) { res.status(201).json({ name: req.body.name, email: req.body.email }) }
""",
    "controllers/orders.js": """module.exports = {
  show (req, res) { res.json({ id: req.params.id, fields: req.query.fields }) },
}
""",
    "routes/es.mjs": """import { Router } from 'express'
import { remove, update } from '../handlers/items.mjs'
import archive from '../handlers/archive.mjs'
import * as stats from '../handlers/stats.mjs'
const router = Router()
router.delete('/items/:id', remove)
router.patch('/items/:id', update)
router.post('/items/:id/archive', archive)
router.get('/stats', stats.summary)
export default router
""",
    "handlers/items.mjs": """export function remove (req, res) { res.status(204).end(req.query.reason) }
export const update = async (req, res) => { res.json({ title: req.body.title }) }
""",
    "handlers/archive.mjs": """export default function (req, res) { res.json({ note: req.body.note }) }
""",
    "handlers/stats.mjs": """export function summary (req, res) { res.json({ from: req.query.from, to: req.query.to }) }
""",
}

FASTIFY_APP = {
    "server.ts": """import Fastify from 'fastify'
import items from './items'

const server = Fastify({ logger: true })
server.register(items, { prefix: '/items' })
server.route({
  method: ['GET', 'HEAD'],
  url: '/status',
  schema: { response: { 200: { type: 'object', properties: { up: { type: 'boolean' } } } } },
  handler: async () => ({ up: true }),
})
server.listen({ port: 3000 })
""",
    "items.ts": """import type { FastifyInstance } from 'fastify'

const Item = { type: 'object', required: ['name'], properties: { name: { type: 'string' }, qty: { type: 'integer' } } }

export default async function items (fastify: FastifyInstance) {
  fastify.get<{ Params: { id: string } }>('/:id', {
    schema: {
      summary: 'One item',
      params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } },
      querystring: { type: 'object', required: ['fields'], properties: { fields: { type: 'string' } } },
      response: { 200: Item },
    },
  }, async (request) => ({ name: 'x' }))
  fastify.post('/', { schema: { body: Item } }, async (request, reply) => reply.code(201).send(request.body))
}
""",
}

NEST = {
    "src/main.ts": """import { NestFactory } from '@nestjs/core'
import { AppModule } from './app.module'
async function bootstrap () {
  const app = await NestFactory.create(AppModule)
  app.setGlobalPrefix('api')
  await app.listen(3000)
}
bootstrap()
""",
    "src/cats/cats.controller.ts": """import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common'

@Controller('cats')
export class CatsController {
  @Get()
  findAll (@Query('breed') breed?: string) { return [] }

  @Get(':id')
  findOne (@Param('id') id: string) { return {} }

  @Post()
  create (@Body() dto: CreateCatDto) { return dto }

  @Delete(':id')
  remove (@Param('id') id: string) {}
}
""",
}

# TypeScript types of the parameters → schemas: a DTO class imported from another file (class-validator decorators,
# optional fields, a nested interface, an enum-like union, a nullable field, an inherited base), a query DTO, a
# ParseIntPipe'd path parameter, and a type that contains itself.
NEST_TYPED = {
    "src/orders/orders.controller.ts": """import { Body, Controller, Get, Param, ParseIntPipe, Post, Query } from '@nestjs/common'
import { CreateOrderDto, ListOrdersQuery } from './dto/create-order.dto'

type Node = { name: string; children: Node[] }

@Controller('orders')
export class OrdersController {
  @Get()
  list (@Query() query: ListOrdersQuery) { return [] }

  @Get(':id')
  one (@Param('id', ParseIntPipe) id: number, @Query('expand') expand?: boolean) { return {} }

  @Post()
  create (@Body() dto: CreateOrderDto) { return dto }

  @Post('tree')
  tree (@Body() node: Node) { return node }
}
""",
    "src/orders/dto/create-order.dto.ts": """import { IsEmail, IsInt, IsOptional, Min } from 'class-validator'
import { Audited } from '../../common/audited'

export interface Line { sku: string; quantity: number }

export class CreateOrderDto extends Audited {
  @IsEmail() email: string;
  @IsInt() @Min(1) priority: number;
  @IsOptional() note: string;
  status?: 'draft' | 'placed';
  lines: Line[];
  tags: Array<string>;
  coupon: string | null;
  placedAt: Date;
  extra: Record<string, number>;
  private secret: string;
  static version = 2;
}

export class ListOrdersQuery {
  page?: number;
  status: 'draft' | 'placed';
}
""",
    "src/common/audited.ts": """export abstract class Audited {
  requestId: string;
}
""",
}


def test_express_apps_routers_chains_and_request_use(tmp_path: Path) -> None:
    scan = scan_js_routes(write(tmp_path, EXPRESS))
    ops = operations(scan.document)
    assert sorted(ops) == [
        "DELETE /api/users/{id}",
        "GET /api/users",
        "GET /api/users/{id}",
        "GET /api/users/{id}/posts",
        "GET /health",
        "POST /api/users/{id}/posts",
    ]
    assert scan.frameworks == {"express"}
    listing = ops["GET /api/users"]
    assert listing["x-mcphub-source"] == "routes/users.js:4"
    assert [(p["name"], p["in"]) for p in listing["parameters"]] == [("page", "query"), ("limit", "query")]
    one = ops["GET /api/users/{id}"]
    assert one["operationId"] == "get_user" and one["x-mcphub-source"] == "routes/users.js:9"
    assert one["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^\\d+$"}}
    ]
    post = ops["POST /api/users/{id}/posts"]
    assert post["x-mcphub-source"] == "routes/users.js:13"
    assert post["requestBody"]["content"]["application/json"]["schema"]["properties"] == {"title": {}}
    assert ("X-Request-Id", "header") in [(p["name"], p["in"]) for p in post["parameters"]]
    assert ops["DELETE /api/users/{id}"]["operationId"] == "remove_user"
    assert ops["GET /health"]["x-mcphub-source"] == "app.js:6"
    assert "routes/users.js:19: GET /api/users/*: a wildcard or regular expression path; left out" in scan.warnings


def test_express_handlers_imported_from_other_files(tmp_path: Path) -> None:
    scan = scan_js_routes(write(tmp_path, EXPRESS_HANDLERS))
    ops = operations(scan.document)

    def query(op: str) -> list[str]:
        return sorted(p["name"] for p in ops[op].get("parameters", []) if p["in"] == "query")

    def body(op: str) -> list[str]:
        return sorted(ops[op]["requestBody"]["content"]["application/json"]["schema"]["properties"])

    assert query("GET /users") == ["page"]
    assert ops["GET /users"]["operationId"] == "list" and ops["GET /users"]["x-mcphub-source"] == "app.js:5"
    assert body("POST /users") == ["email", "name"]  # `exports.create = createUser`, the module's own function
    assert query("GET /users/search") == ["q", "sort"]  # destructured from require()
    assert query("GET /orders/{id}") == ["fields"]  # require('./orders').show, a method of module.exports = {…}
    assert query("DELETE /es/items/{id}") == ["reason"]  # export function
    assert body("PATCH /es/items/{id}") == ["title"]  # export const … = async (req, res) => …
    assert body("POST /es/items/{id}/archive") == ["note"]  # the default export
    assert query("GET /es/stats") == ["from", "to"]  # a namespace import


def test_fastify_plugins_prefixes_route_options_and_schemas(tmp_path: Path) -> None:
    scan = scan_js_routes(write(tmp_path, FASTIFY_APP))
    ops = operations(scan.document)
    assert sorted(ops) == ["GET /items/{id}", "GET /status", "HEAD /status", "POST /items"]
    one = ops["GET /items/{id}"]
    assert one["summary"] == "One item" and one["x-mcphub-source"] == "items.ts:6"
    assert one["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
        {"name": "fields", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    item = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "qty": {"type": "integer"}},
    }
    assert one["responses"]["200"]["content"]["application/json"]["schema"] == item
    assert ops["POST /items"]["requestBody"]["content"]["application/json"]["schema"] == item
    assert ops["GET /status"]["x-mcphub-source"] == "server.ts:6"


def test_nestjs_controllers_with_the_global_prefix(tmp_path: Path) -> None:
    scan = scan_js_routes(write(tmp_path, NEST))
    ops = operations(scan.document)
    assert sorted(ops) == ["DELETE /api/cats/{id}", "GET /api/cats", "GET /api/cats/{id}", "POST /api/cats"]
    assert ops["GET /api/cats"]["operationId"] == "find_all"
    assert ops["GET /api/cats"]["parameters"] == [
        {"name": "breed", "in": "query", "required": False, "schema": {"type": "string"}}
    ]
    assert ops["GET /api/cats/{id}"]["x-mcphub-source"] == "src/cats/cats.controller.ts:8"
    assert "requestBody" in ops["POST /api/cats"]
    assert read_repository(tmp_path).origin == "NestJS routes"


def test_nestjs_typescript_types_become_schemas(tmp_path: Path) -> None:
    scan = scan_js_routes(write(tmp_path, NEST_TYPED))
    ops = operations(scan.document)
    create = ops["POST /orders"]
    assert create["x-mcphub-source"] == "src/orders/orders.controller.ts:14"
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert create["requestBody"]["required"] is True
    assert body == {
        "type": "object",
        "properties": {
            "requestId": {"type": "string"},  # from the base class, in another file
            "email": {"type": "string", "format": "email"},
            "priority": {"type": "integer"},
            "note": {"type": "string"},
            "status": {"type": "string", "enum": ["draft", "placed"]},
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "quantity": {"type": "number"}},
                    "required": ["sku", "quantity"],
                },
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            "coupon": {"type": "string", "nullable": True},
            "placedAt": {"type": "string", "format": "date-time"},
            "extra": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        "required": ["requestId", "email", "priority", "lines", "tags", "coupon", "placedAt", "extra"],
    }
    listing = ops["GET /orders"]["parameters"]
    assert listing == [
        {"name": "page", "in": "query", "required": False, "schema": {"type": "number"}},
        {"name": "status", "in": "query", "required": True, "schema": {"type": "string", "enum": ["draft", "placed"]}},
    ]
    assert ops["GET /orders/{id}"]["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
        {"name": "expand", "in": "query", "required": False, "schema": {"type": "boolean"}},
    ]
    tree = ops["POST /orders/tree"]["requestBody"]["content"]["application/json"]["schema"]
    assert tree["properties"]["children"] == {"type": "array", "items": {}}  # the recursion stops at the second visit


def test_fastify_s_own_published_examples() -> None:
    examples = published_npm(*FASTIFY) / "examples"
    scan = scan_js_routes(examples)
    ops = operations(scan.document)
    # route-prefix.js registers the same plugin shape twice, under /english and /italian.
    assert ops["GET /english/hello"]["x-mcphub-source"] == "route-prefix.js:20"
    assert ops["GET /italian/hello"]["x-mcphub-source"] == "route-prefix.js:28"
    greet = ops["GET /english/hello"]["responses"]["2XX"]["content"]["application/json"]["schema"]
    assert greet == {"type": "object", "properties": {"greet": {"type": "string"}}}
    assert ops["GET /await"]["x-mcphub-source"] == "asyncawait.js:25"
    assert "POST /ping/{bar}" in ops  # typescript-server.ts
    # Every example serves GET /: one is kept, each other is named.
    assert sum("GET / is declared twice" in warning for warning in scan.warnings) >= 5


# --- a published Express application, run for real ------------------------------------------------------------------


@pytest.fixture(scope="module")
def express_app() -> Path:
    """The application express-generator 4.16.1 writes (`express --no-view`), its dependencies installed exactly."""
    generator = published_npm(*GENERATOR)
    npm_installed(generator, GENERATOR_DEPS)
    app = generator.parent / "app"
    if not (app / "app.js").exists():
        node = shutil.which("node")
        assert node is not None, "node is needed to run the published Express application"
        subprocess.run(
            [node, str(generator / "bin" / "express-cli.js"), "--no-view", "--force", str(app)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    npm_installed(app, APP_DEPS)
    return app


@pytest.fixture(scope="module")
def running_express(express_app: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = shutil.which("node") or "node"
    process = subprocess.Popen(
        [node, "bin/www"], cwd=express_app, env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{base}/users", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else "node exited"
            assert time.monotonic() < give_up, "the Express application did not answer"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_published_express_application_is_read(express_app: Path) -> None:
    findings = read_repository(express_app)
    assert findings.origin == "Express routes"
    ops = operations(findings.document)
    assert sorted(ops) == ["GET /", "GET /users"]
    assert ops["GET /users"]["x-mcphub-source"] == "routes/users.js:5"
    assert ops["GET /"]["x-mcphub-source"] == "routes/index.js:5"


@pytest.fixture
async def built_express(tmp_path: Path, express_app: Path, running_express: str) -> Path:
    (tmp_path / "specs").mkdir()
    result = await build(
        BuildOptions(
            source=str(express_app), kind="repo", slug="shop", out_dir=tmp_path / "specs",
            catalog_dir=tmp_path / "generated", base_url=running_express, allow_private=True,
        )
    )  # fmt: skip
    assert result.tools == ["get_root", "get_users"]
    return result.spec_path


@pytest.fixture
def hub(built_express: Path) -> Iterator[RunningHub]:
    with spec_hub(built_express, {}) as running:
        yield running


async def test_a_tool_read_from_the_express_application_calls_it(hub: RunningHub) -> None:
    async with hub.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"shop__get_users", "shop__get_root"} <= names
        result = await client.call_tool("shop__get_users", {})
        assert result.is_error is False, result.content
        assert result.content[0].text == "respond with a resource"  # type: ignore[union-attr]
