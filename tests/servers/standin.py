"""A local stand-in API (a tiny shop) and its OpenAPI description, for built-integration tests and the benchmark."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Shop:
    """The stand-in: records every request (method, path, query, JSON body)."""

    requests: list[tuple[str, str, str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def record(request: Request) -> None:
            body = await request.body()
            self.requests.append(
                (request.method, request.url.path, request.url.query, json.loads(body) if body else None)
            )

        async def items(request: Request) -> JSONResponse:
            await record(request)
            if request.method == "POST":
                return JSONResponse({"id": 3, **(json.loads(await request.body()) or {})}, status_code=201)
            return JSONResponse([{"id": 1, "name": "lamp"}, {"id": 2, "name": "chair"}])

        async def item(request: Request) -> JSONResponse:
            await record(request)
            if request.method == "DELETE":
                return JSONResponse({"deleted": True})
            return JSONResponse({"id": int(request.path_params["item_id"]), "name": "lamp"})

        return Starlette(
            routes=[
                Route("/items", items, methods=["GET", "POST"]),
                Route("/items/{item_id}", item, methods=["GET", "DELETE"]),
            ]
        )


def shop_openapi(base_url: str) -> dict[str, Any]:
    """The stand-in's OpenAPI 3.0 description: four operations, one destructive."""
    item = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["id", "name"],
    }
    item_id = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "1"},
        "servers": [{"url": base_url}],
        "paths": {
            "/items": {
                "get": {
                    "operationId": "list_items",
                    "summary": "List the items for sale",
                    "description": "Every item in the shop, with its id and name.",
                    "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "The items",
                            "content": {"application/json": {"schema": {"type": "array", "items": item}}},
                        }
                    },
                },
                "post": {
                    "operationId": "create_item",
                    "summary": "Add an item to the shop",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}},
                                    "required": ["name"],
                                }
                            }
                        },
                    },
                    "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": item}}}},
                },
            },
            "/items/{item_id}": {
                "get": {
                    "operationId": "get_item",
                    "summary": "Read one item by its id",
                    "parameters": [item_id],
                    "responses": {
                        "200": {"description": "The item", "content": {"application/json": {"schema": item}}}
                    },
                },
                "delete": {
                    "operationId": "delete_item",
                    "summary": "Remove an item from the shop for good",
                    "parameters": [item_id],
                    "responses": {"200": {"description": "Deleted"}},
                },
            },
        },
    }


def many_operations_openapi(base_url: str, count: int) -> dict[str, Any]:
    """An OpenAPI description with `count` operations (half reads, half writes) over `count // 2` resources."""
    paths: dict[str, Any] = {}
    for index in range(count // 2):
        thing = {"type": "object", "properties": {"id": {"type": "integer"}, "label": {"type": "string"}}}
        paths[f"/things{index}"] = {
            "get": {
                "operationId": f"list_things{index}",
                "summary": f"List the things of kind {index}",
                "description": f"Every thing of kind {index}, newest first; filter with `label`.",
                "parameters": [{"name": "label", "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "Things",
                        "content": {"application/json": {"schema": {"type": "array", "items": thing}}},
                    }
                },
            },
            "post": {
                "operationId": f"create_thing{index}",
                "summary": f"Create a thing of kind {index}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"label": {"type": "string"}},
                                "required": ["label"],
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": thing}}}},
            },
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Many things", "version": "1"},
        "servers": [{"url": base_url}],
        "paths": paths,
    }
