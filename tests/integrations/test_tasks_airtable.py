"""Airtable tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in is a base with two linked tables (Projects ↔ Tasks, a multipleRecordLinks field): it answers the schema
(meta API), lists records with a filter formula, creates records and patches them, keeping both sides of a link as
Airtable does; a link to a record that doesn't exist is refused with Airtable's error shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, refused, task_hub
from integrations.hubs import RunningHub

TOKEN = "patAgentTasks.secret"
BASE = "appAgentTasks0001"
SCHEMA = [
    {
        "id": "tblProjects",
        "name": "Projects",
        "primaryFieldId": "fldPName",
        "fields": [
            {"id": "fldPName", "name": "Name", "type": "singleLineText"},
            {
                "id": "fldPTasks",
                "name": "Tasks",
                "type": "multipleRecordLinks",
                "options": {"linkedTableId": "tblTasks"},
            },
        ],
        "views": [{"id": "viwAll", "name": "Grid view", "type": "grid"}],
    },
    {
        "id": "tblTasks",
        "name": "Tasks",
        "primaryFieldId": "fldTName",
        "fields": [
            {"id": "fldTName", "name": "Name", "type": "singleLineText"},
            {"id": "fldTDone", "name": "Done", "type": "checkbox"},
            {
                "id": "fldTProject",
                "name": "Project",
                "type": "multipleRecordLinks",
                "options": {"linkedTableId": "tblProjects"},
            },
        ],
        "views": [{"id": "viwTasks", "name": "Grid view", "type": "grid"}],
    },
]
CREATED = "2026-12-06T10:00:00.000Z"


@dataclass
class Airtable(Service):
    tables: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {
            "Projects": {
                "recApollo00000001": {"Name": "Apollo", "Tasks": ["recTask0000000001"]},
                "recGemini00000001": {"Name": "Gemini"},
            },
            "Tasks": {"recTask0000000001": {"Name": "Kick-off", "Done": True, "Project": ["recApollo00000001"]}},
        }
    )

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"/v0/meta/bases/{BASE}/tables", lambda r, p: (200, {"tables": SCHEMA})),
            ("GET", f"/v0/{BASE}/{{table}}", self.list_records),
            ("POST", f"/v0/{BASE}/{{table}}", self.create_records),
            ("PATCH", f"/v0/{BASE}/{{table}}/{{record}}", self.update_record),
        ]

    def _table(self, name: str) -> dict[str, dict[str, Any]]:
        by_id = {table["id"]: table["name"] for table in SCHEMA}
        return self.tables[by_id.get(name, name)]

    def list_records(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        formula = dict(r.query).get("filterByFormula", "")
        wanted = re.fullmatch(r"\{Name\}\s*=\s*'([^']*)'", formula)
        rows = [
            (i, f) for i, f in self._table(p["table"]).items() if wanted is None or f.get("Name") == wanted.group(1)
        ]
        return 200, {"records": [{"id": i, "createdTime": CREATED, "fields": f} for i, f in rows]}

    def _check_links(self, fields: dict[str, Any]) -> str | None:
        known = {record for table in self.tables.values() for record in table}
        for value in fields.values():
            if isinstance(value, list) and any(str(v).startswith("rec") and v not in known for v in value):
                return f"Record ID {next(v for v in value if v not in known)} does not exist in this table"
        return None

    def _link_back(self, table: str, record: str, fields: dict[str, Any]) -> None:
        other, link, back = ("Tasks", "Tasks", "Project") if table == "Projects" else ("Projects", "Project", "Tasks")
        for linked in fields.get(link, []):
            links = self.tables[other][linked].setdefault(back, [])
            if record not in links:
                links.append(record)

    def create_records(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        table = self._table(p["table"])
        name = next(t["name"] for t in SCHEMA if p["table"] in (t["id"], t["name"]))
        made = []
        for record in r.json()["records"]:
            problem = self._check_links(record["fields"])
            if problem:
                return 422, {"error": {"type": "ROW_DOES_NOT_EXIST", "message": problem}}
            record_id = f"recNew{sum(len(t) for t in self.tables.values()) + 1:011d}"
            table[record_id] = dict(record["fields"])
            self._link_back(name, record_id, record["fields"])
            made.append({"id": record_id, "createdTime": CREATED, "fields": table[record_id]})
        return 200, {"records": made}

    def update_record(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = r.json()["fields"]
        problem = self._check_links(fields)
        if problem:
            return 422, {"error": {"type": "ROW_DOES_NOT_EXIST", "message": problem}}
        name = next(t["name"] for t in SCHEMA if p["table"] in (t["id"], t["name"]))
        record = self.tables[name][p["record"]]
        record.update(fields)
        self._link_back(name, p["record"], fields)
        return 200, {"id": p["record"], "createdTime": CREATED, "fields": record}


@pytest.fixture(scope="module")
def airtable() -> Airtable:
    return Airtable()


@pytest.fixture(scope="module")
def hub(airtable: Airtable, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with task_hub(tmp_path_factory.mktemp("airtable"), "airtable", airtable, {"token": TOKEN}) as running:
        yield running


async def test_add_a_record_and_link_it_to_a_project(hub: RunningHub, airtable: Airtable) -> None:
    start = len(airtable.requests)
    async with hub.client() as client:
        tables = await call(client, "airtable__list_tables", {"baseId": BASE})
        tasks = next(t for t in tables["tables"] if t["name"] == "Tasks")
        link = next(f for f in tasks["fields"] if f["type"] == "multipleRecordLinks")
        found = await call(
            client,
            "airtable__list_records",
            {"baseId": BASE, "tableIdOrName": "Projects", "filterByFormula": "{Name} = 'Apollo'"},
        )
        [project] = found["records"]
        created = await call(
            client,
            "airtable__create_records",
            {
                "baseId": BASE,
                "tableIdOrName": tasks["id"],
                "records": [{"fields": {"Name": "Write launch post", "Done": False, link["name"]: [project["id"]]}}],
            },
        )
        wrong = await refused(
            client,
            "airtable__update_record",
            {
                "baseId": BASE,
                "tableIdOrName": "Projects",
                "recordId": project["id"],
                "fields": {"Tasks": ["recNope0000000000"]},
            },
        )

    [task] = created["records"]
    assert airtable.seen(start) == [
        f"GET /v0/meta/bases/{BASE}/tables",
        f"GET /v0/{BASE}/Projects",
        f"POST /v0/{BASE}/tblTasks",
        f"PATCH /v0/{BASE}/Projects/recApollo00000001",
    ]
    requests = airtable.requests[start:]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert ("filterByFormula", "{Name} = 'Apollo'") in requests[1].query
    assert requests[2].json() == {
        "records": [{"fields": {"Name": "Write launch post", "Done": False, "Project": ["recApollo00000001"]}}]
    }
    # Both sides of the link, as Airtable keeps them; a link to a missing record changes nothing.
    assert airtable.tables["Projects"]["recApollo00000001"]["Tasks"] == ["recTask0000000001", task["id"]]
    assert "422" in wrong and "recNope0000000000 does not exist" in wrong
