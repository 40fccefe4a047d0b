"""Notion tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in holds a workspace with one database (data source) "Tasks" and its rows, under API version 2025-09-03:
rows are pages whose parent is the database (the only form of parent the published description accepts for a row; a
data source's `parent.database_id` names it), and their properties must match its schema (names and types), which
Notion checks; a schema change (a new column) applies to rows created afterwards. Databases created through the
hub get a data source of their own (POST /v1/databases takes the first one's schema as `initial_data_source`). Two
plain pages have Markdown content, edited as Notion's page-markdown endpoints do (version 2026-03-11).
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
MARKDOWN_VERSION = "2026-03-11"  # what the page-markdown endpoints require
PROJECTS = "59833787-2cf9-4fdf-8782-e53db20768a5"  # a plain page
LAUNCH = "7e1f2c3d-4b5a-4c6d-8e7f-901a2b3c4d5e"  # a page with content


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
    pages: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            PROJECTS: {"title": "Projects", "markdown": "# Projects\nEverything we run."},
            LAUNCH: {"title": "Launch plan", "markdown": "# Launch plan\nShip on Dec 10.\n\n## Checklist\n- [x] Draft"},
        }
    )
    # Databases created through the hub: database ID -> its data source's ID, title and schema.
    created: dict[str, dict[str, Any]] = field(default_factory=dict)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/v1/search", self.search),
            ("GET", "/v1/data_sources/{id}", self.get_source),
            ("PATCH", "/v1/data_sources/{id}", self.update_source),
            ("POST", "/v1/data_sources/{id}/query", self.query_source),
            ("POST", "/v1/pages", self.create_page),
            ("POST", "/v1/databases", self.create_database),
            ("GET", "/v1/pages/{id}/markdown", self.get_markdown),
            ("PATCH", "/v1/pages/{id}/markdown", self.update_markdown),
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

    def _page(self, page_id: str) -> dict[str, Any]:
        title = [{"type": "text", "text": {"content": self.pages[page_id]["title"]}}]
        return {
            "object": "page",
            "id": page_id,
            "parent": {"type": "workspace", "workspace": True},
            "properties": {"title": {"id": "title", "type": "title", "title": title}},
            "url": f"https://www.notion.so/{page_id.replace('-', '')}",
        }

    def search(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        query, kind = body.get("query", "").lower(), body.get("filter", {}).get("value")
        results: list[dict[str, Any]] = []
        if kind in (None, "data_source") and "tasks" in query:
            results.append(self._source())
        if kind in (None, "page"):
            results += [self._page(i) for i, page in self.pages.items() if query in page["title"].lower()]
        return 200, {"object": "list", "results": results, "has_more": False, "next_cursor": None}

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
        database = body.get("parent", {}).get("database_id")
        if database != DATABASE and database not in self.created:
            return _error(404, "object_not_found", "Could not find database")
        schema = self.schema if database == DATABASE else self.created[database]["schema"]
        for name, value in body.get("properties", {}).items():
            if name not in schema:
                return _error(400, "validation_error", f"{name} is not a property that exists.")
            kind = schema[name]["type"]
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

    def create_database(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        parent = body.get("parent", {})
        if parent.get("type") != "page_id" or parent.get("page_id") not in self.pages:
            return _error(404, "object_not_found", "Could not find page. Make sure it is shared with the integration.")
        columns = body.get("initial_data_source", {}).get("properties", {})
        if [kind for column in columns.values() for kind in column].count("title") != 1:
            return _error(400, "validation_error", "A database needs exactly one title property.")
        number = len(self.created) + 1
        database_id, source_id = f"3d9e0000-0000-4000-8000-{number:012d}", f"4e0f0000-0000-4000-8000-{number:012d}"
        schema = {}
        for name, column in columns.items():
            [kind] = list(column)
            schema[name] = {"id": "title" if kind == "title" else f"c%3A{len(schema)}", "name": name, "type": kind}
            schema[name][kind] = column[kind]
        title = "".join(part["text"]["content"] for part in body.get("title", []))
        self.created[database_id] = {"source": source_id, "title": title, "parent": parent, "schema": schema}
        return 200, {
            "object": "database",
            "id": database_id,
            "title": [{"type": "text", "text": {"content": title}, "plain_text": title}],
            "parent": parent,
            "is_inline": body.get("is_inline", False),
            "data_sources": [{"id": source_id, "name": title}],
            "url": f"https://www.notion.so/{database_id.replace('-', '')}",
            "created_time": "2026-12-06T16:00:00.000Z",
            "icon": None,
            "cover": None,
        }

    def query_source(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        found = [d for d, made in self.created.items() if made["source"] == p["id"]]
        if not found:
            return _error(404, "object_not_found", "Could not find data source")
        rows = [row for row in self.rows if row["parent"].get("database_id") == found[0]]
        return 200, {"object": "list", "results": rows, "has_more": False, "next_cursor": None}

    def get_markdown(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        if r.headers["notion-version"] < MARKDOWN_VERSION:
            return _error(400, "validation_error", "The page-markdown endpoints require Notion-Version 2026-03-11.")
        page = self.pages[p["id"]]
        return 200, {"object": "page_markdown", "id": p["id"], "markdown": page["markdown"], "truncated": False}

    def update_markdown(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body, page = r.json(), self.pages[p["id"]]
        if r.headers["notion-version"] < MARKDOWN_VERSION or body.get("type") != "update_content":
            return _error(400, "validation_error", "Unsupported edit for this stand-in.")
        for edit in body["update_content"]["content_updates"]:
            if edit["old_str"] not in page["markdown"]:
                return _error(400, "validation_error", f"Could not find old_str: {edit['old_str']!r}")
            page["markdown"] = page["markdown"].replace(edit["old_str"], edit["new_str"], 1)
        return 200, {"object": "page_markdown", "id": p["id"], "markdown": page["markdown"], "truncated": False}


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


async def test_create_a_tasks_database_under_a_page_and_add_a_row(hub: RunningHub, notion: Notion) -> None:
    columns = {
        "Task": {"title": {}},
        "Status": {"select": {"options": [{"name": "Todo", "color": "red"}, {"name": "Done", "color": "green"}]}},
        "Due": {"date": {}},
    }
    start = len(notion.requests)
    async with hub.client() as client:
        found = await call(
            client, "notion__search", {"query": "Projects", "filter": {"property": "object", "value": "page"}}
        )
        [projects] = found["results"]
        database = await call(
            client,
            "notion__create_database",
            {
                "parent": {"type": "page_id", "page_id": projects["id"]},
                "title": [{"type": "text", "text": {"content": "Sprint tasks"}}],
                "initial_data_source": {"properties": columns},
            },
        )
        row = {
            "parent": {"database_id": database["id"]},
            "properties": {"Task": _title("Write the launch post"), "Status": {"select": {"name": "Todo"}}},
        }
        await call(client, "notion__create_page", row)
        rows = await call(client, "notion__query_data_source", {"data_source_id": database["data_sources"][0]["id"]})

    [(database_id, made)] = notion.created.items()
    assert notion.seen(start) == [
        "POST /v1/search",
        "POST /v1/databases",
        "POST /v1/pages",
        f"POST /v1/data_sources/{made['source']}/query",
    ]
    requests = notion.requests[start:]
    assert all(r.headers["notion-version"] == VERSION for r in requests)
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in requests)
    assert requests[1].json() == {
        "parent": {"type": "page_id", "page_id": PROJECTS},
        "title": [{"type": "text", "text": {"content": "Sprint tasks"}}],
        "initial_data_source": {"properties": columns},
    }
    assert requests[2].json() == row
    assert (made["title"], made["parent"]["page_id"], sorted(made["schema"])) == (
        "Sprint tasks",
        PROJECTS,
        ["Due", "Status", "Task"],
    )
    # The agent reads back a small database (no created_time, icon, cover) and finds its row in the data source.
    assert set(database) == {"object", "id", "url", "title", "parent", "is_inline", "data_sources"}
    assert database["id"] == database_id
    assert [r["properties"]["Task"] for r in rows["results"]] == [_title("Write the launch post")]


async def test_find_a_page_and_append_a_checklist(hub: RunningHub, notion: Notion) -> None:
    start = len(notion.requests)
    async with hub.client() as client:
        found = await call(
            client, "notion__search", {"query": "launch", "filter": {"property": "object", "value": "page"}}
        )
        [page] = found["results"]
        current = await call(client, "notion__get_page_markdown", {"page_id": page["id"]})
        last = current["markdown"].splitlines()[-1]
        edit = {"old_str": last, "new_str": last + "\n- [ ] Book the venue\n- [ ] Send invites"}
        updated = await call(
            client,
            "notion__update_page_markdown",
            {"page_id": page["id"], "type": "update_content", "update_content": {"content_updates": [edit]}},
        )
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert notion.seen(start) == [
        "POST /v1/search",
        f"GET /v1/pages/{LAUNCH}/markdown",
        f"PATCH /v1/pages/{LAUNCH}/markdown",
    ]
    requests = notion.requests[start:]
    assert [r.headers["notion-version"] for r in requests] == [VERSION, MARKDOWN_VERSION, MARKDOWN_VERSION]
    assert requests[2].json() == {
        "type": "update_content",
        "update_content": {"content_updates": [{"old_str": "- [x] Draft", "new_str": edit["new_str"]}]},
    }
    assert notion.pages[LAUNCH]["markdown"].endswith(
        "## Checklist\n- [x] Draft\n- [ ] Book the venue\n- [ ] Send invites"
    )
    assert updated["markdown"] == notion.pages[LAUNCH]["markdown"]
    # The deprecated edit kinds are not offered; the agent is told how to add after a line.
    schema = tools["notion__update_page_markdown"].input_schema["properties"]
    assert "insert_content" not in schema and "replace_content_range" not in schema
