"""Notion tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in holds a workspace with one database (data source) "Tasks" and its rows, under API version 2025-09-03:
rows are pages whose parent is the database (the only form of parent the published description accepts for a row; a
data source's `parent.database_id` names it), and their properties must match its schema (names and types), which
Notion checks; a schema change (a new column) applies to rows created afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, refused, task_hub
from integrations.hubs import RunningHub

SECRET = "ntn_agent_task_secret"
TASKS = "1c2f8a1e-5b6d-4c3e-9f10-3a2b1c0d9e8f"  # the data source
DATABASE = "248104cd-477e-80fd-b757-e945d38000bd"  # the database holding it
VERSION = "2025-09-03"


def _error(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, {"object": "error", "status": status, "code": code, "message": message}


@dataclass
class Notion(Service):
    schema: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
            "Status": {
                "id": "s%3Ax",
                "name": "Status",
                "type": "select",
                "select": {"options": [{"id": "1", "name": "Todo", "color": "red"}, {"id": "2", "name": "Done"}]},
            },
            "Due": {"id": "d%3Ay", "name": "Due", "type": "date", "date": {}},
        }
    )
    rows: list[dict[str, Any]] = field(default_factory=list)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/v1/search", self.search),
            ("GET", "/v1/data_sources/{id}", self.get_source),
            ("PATCH", "/v1/data_sources/{id}", self.update_source),
            ("POST", "/v1/pages", self.create_page),
        ]

    def _source(self) -> dict[str, Any]:
        title = [{"type": "text", "text": {"content": "Tasks"}, "plain_text": "Tasks"}]
        return {
            "object": "data_source",
            "id": TASKS,
            "title": title,
            "parent": {"type": "database_id", "database_id": DATABASE},
            "properties": self.schema,
        }

    def search(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        hit = "tasks" in body.get("query", "").lower() and body.get("filter", {}).get("value") == "data_source"
        return 200, {
            "object": "list",
            "results": [self._source()] if hit else [],
            "has_more": False,
            "next_cursor": None,
        }

    def get_source(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        return (
            (200, self._source()) if p["id"] == TASKS else _error(404, "object_not_found", "Could not find data source")
        )

    def update_source(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        for name, change in r.json().get("properties", {}).items():
            if change is None:
                self.schema.pop(name, None)
                continue
            kind = next(k for k in change if k != "name")
            self.schema[name] = {"id": f"n%3A{len(self.schema)}", "name": name, "type": kind, kind: change[kind]}
        return 200, self._source()

    def create_page(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        if body.get("parent", {}).get("database_id") != DATABASE:
            return _error(404, "object_not_found", "Could not find database")
        for name, value in body.get("properties", {}).items():
            if name not in self.schema:
                return _error(400, "validation_error", f"{name} is not a property that exists.")
            kind = self.schema[name]["type"]
            if kind not in value:
                return _error(400, "validation_error", f"{name} is expected to be {kind}.")
        page_id = f"2a3b4c5d-0000-4000-8000-{len(self.rows) + 1:012d}"
        page = {
            "object": "page",
            "id": page_id,
            "parent": body["parent"],
            "properties": body["properties"],
            "url": f"https://www.notion.so/{page_id.replace('-', '')}",
        }
        self.rows.append(page)
        return 200, page


@pytest.fixture(scope="module")
def notion() -> Notion:
    return Notion()


@pytest.fixture(scope="module")
def hub(notion: Notion, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with task_hub(tmp_path_factory.mktemp("notion"), "notion", notion, {"token": SECRET}) as running:
        yield running


def _title(text: str) -> dict[str, Any]:
    return {"title": [{"text": {"content": text}}]}


async def test_add_a_row_to_a_database(hub: RunningHub, notion: Notion) -> None:
    start = len(notion.requests)
    async with hub.client() as client:
        found = await call(
            client, "notion__search", {"query": "Tasks", "filter": {"property": "object", "value": "data_source"}}
        )
        [source] = found["results"]
        schema = await call(client, "notion__get_data_source", {"data_source_id": source["id"]})
        status = schema["properties"]["Status"]["select"]["options"][0]["name"]
        row = {
            "parent": {"database_id": schema["parent"]["database_id"]},
            "properties": {
                "Name": _title("Renew the domain"),
                "Status": {"select": {"name": status}},
                "Due": {"date": {"start": "2026-12-20"}},
            },
        }
        page = await call(client, "notion__create_page", row)
        wrong = await refused(client, "notion__create_page", {**row, "properties": {"Owner": {"people": []}}})

    assert notion.seen(start) == [
        "POST /v1/search",
        f"GET /v1/data_sources/{TASKS}",
        "POST /v1/pages",
        "POST /v1/pages",
    ]
    requests = notion.requests[start:]
    assert all(r.headers["notion-version"] == VERSION for r in requests)
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in requests)
    assert requests[0].json() == {
        "query": "Tasks",
        "filter": {"property": "object", "value": "data_source"},
        "page_size": 20,
    }
    assert requests[2].json() == row
    assert notion.rows[0]["properties"]["Name"] == _title("Renew the domain")
    assert page["url"].startswith("https://www.notion.so/")
    assert "400" in wrong and "Owner is not a property that exists" in wrong


async def test_add_a_column_then_fill_it_in_a_new_row(hub: RunningHub, notion: Notion) -> None:
    start = len(notion.requests)
    priority = {"select": {"options": [{"name": "High", "color": "red"}, {"name": "Low", "color": "gray"}]}}
    async with hub.client() as client:
        updated = await call(
            client, "notion__update_data_source_schema", {"data_source_id": TASKS, "properties": {"Priority": priority}}
        )
        assert updated["properties"]["Priority"]["type"] == "select"
        row = {
            "parent": {"database_id": DATABASE},
            "properties": {"Name": _title("Rotate keys"), "Priority": {"select": {"name": "High"}}},
        }
        await call(client, "notion__create_page", row)
    assert notion.seen(start) == [f"PATCH /v1/data_sources/{TASKS}", "POST /v1/pages"]
    assert notion.requests[start].json() == {"properties": {"Priority": priority}}
    assert notion.requests[start].headers["notion-version"] == VERSION
    assert notion.rows[-1]["properties"]["Priority"] == {"select": {"name": "High"}}
