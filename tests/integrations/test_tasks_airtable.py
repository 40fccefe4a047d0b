"""Airtable tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in is a base with two linked tables (Projects ↔ Tasks, a multipleRecordLinks field): it answers the schema
(meta API), lists records with a filter formula, creates records and patches them, keeping both sides of a link as
Airtable does; a link to a record that doesn't exist is refused with Airtable's error shape. It also adds fields
(columns) through the meta API and updates several records in one PATCH, checking values against the field types.
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
                "recGemini00000001": {"Name": "Gemini", "Tasks": ["recTask0000000002"]},
            },
            "Tasks": {
                "recTask0000000001": {"Name": "Kick-off", "Done": True, "Project": ["recApollo00000001"]},
                "recTask0000000002": {"Name": "Book venue", "Project": ["recGemini00000001"]},  # unchecked: omitted
            },
        }
    )
    added_fields: list[dict[str, Any]] = field(default_factory=list)  # fields created through the meta API

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"/v0/meta/bases/{BASE}/tables", lambda r, p: (200, {"tables": SCHEMA})),
            ("POST", f"/v0/meta/bases/{BASE}/tables/{{table}}/fields", self.create_field),
            ("GET", f"/v0/{BASE}/{{table}}", self.list_records),
            ("POST", f"/v0/{BASE}/{{table}}", self.create_records),
            ("PATCH", f"/v0/{BASE}/{{table}}", self.update_records),
            ("PATCH", f"/v0/{BASE}/{{table}}/{{record}}", self.update_record),
        ]

    def _table(self, name: str) -> dict[str, dict[str, Any]]:
        by_id = {table["id"]: table["name"] for table in SCHEMA}
        return self.tables[by_id.get(name, name)]

    def list_records(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        formula = dict(r.query).get("filterByFormula", "")
        wanted = re.fullmatch(r"\{Name\}\s*=\s*'([^']*)'", formula)
        unchecked = re.fullmatch(r"NOT\(\{(\w+)\}\)", formula)  # the two formulas the tasks use
        rows = [
            (i, f)
            for i, f in self._table(p["table"]).items()
            if (wanted is None or f.get("Name") == wanted.group(1)) and (unchecked is None or not f.get(unchecked[1]))
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

    def create_field(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        table = next(t for t in SCHEMA if p["table"] in (t["id"], t["name"]))
        if any(f["name"] == body["name"] for f in [*table["fields"], *self.added_fields]):
            return 422, {"error": {"type": "DUPLICATE_OR_EMPTY_FIELD_NAME", "message": "Field names must be unique"}}
        made = {"id": f"fldNew{len(self.added_fields) + 1:08d}", **body, "table": table["name"]}
        self.added_fields.append(made)
        return 200, {key: value for key, value in made.items() if key != "table"}

    def update_records(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        name = next(t["name"] for t in SCHEMA if p["table"] in (t["id"], t["name"]))
        choices = {
            f["name"]: [c["name"] for c in f["options"]["choices"]]
            for f in self.added_fields
            if f["table"] == name and f["type"] == "singleSelect"
        }
        updates = r.json()["records"]
        for update in updates:
            for key, value in update["fields"].items():
                if key in choices and value not in choices[key]:
                    message = f'Insufficient permissions to create new select option ""{value}""'
                    return 422, {"error": {"type": "INVALID_MULTIPLE_CHOICE_OPTIONS", "message": message}}
        done = []
        for update in updates:
            self.tables[name][update["id"]].update(update["fields"])
            done.append({"id": update["id"], "createdTime": CREATED, "fields": self.tables[name][update["id"]]})
        return 200, {"records": done}


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


async def test_find_a_record_and_update_a_field(hub: RunningHub, airtable: Airtable) -> None:
    start = len(airtable.requests)
    async with hub.client() as client:
        found = await call(
            client,
            "airtable__list_records",
            {"baseId": BASE, "tableIdOrName": "Tasks", "filterByFormula": "{Name} = 'Book venue'"},
        )
        [task] = found["records"]
        updated = await call(
            client,
            "airtable__update_record",
            {"baseId": BASE, "tableIdOrName": "Tasks", "recordId": task["id"], "fields": {"Done": True}},
        )

    assert airtable.seen(start) == [f"GET /v0/{BASE}/Tasks", f"PATCH /v0/{BASE}/Tasks/recTask0000000002"]
    requests = airtable.requests[start:]
    assert ("filterByFormula", "{Name} = 'Book venue'") in requests[0].query and ("pageSize", "50") in requests[0].query
    assert requests[1].json() == {"fields": {"Done": True}}  # only the field that changes: PATCH keeps the others
    assert airtable.tables["Tasks"]["recTask0000000002"] == {
        "Name": "Book venue",
        "Project": ["recGemini00000001"],
        "Done": True,
    }
    assert updated["fields"]["Done"] is True


async def test_add_a_priority_column_and_set_it_on_open_tasks(hub: RunningHub, airtable: Airtable) -> None:
    airtable.tables["Tasks"]["recTask0000000003"] = {"Name": "Order badges"}
    airtable.tables["Tasks"]["recTask0000000004"] = {"Name": "Print schedule"}
    priority = {"name": "Priority", "type": "singleSelect", "options": {"choices": [{"name": "High"}, {"name": "Low"}]}}
    # The open tasks: the two above, "Book venue" unless another task here checked it, the one another task added.
    expected_open = [i for i, f in airtable.tables["Tasks"].items() if not f.get("Done")]
    assert {"recTask0000000003", "recTask0000000004"} <= set(expected_open)
    start = len(airtable.requests)
    async with hub.client() as client:
        tables = await call(client, "airtable__list_tables", {"baseId": BASE})
        tasks = next(t for t in tables["tables"] if t["name"] == "Tasks")
        made = await call(client, "airtable__create_field", {"baseId": BASE, "tableIdOrName": tasks["id"], **priority})
        open_tasks = await call(
            client,
            "airtable__list_records",
            {"baseId": BASE, "tableIdOrName": tasks["id"], "filterByFormula": "NOT({Done})"},
        )
        records = [{"id": record["id"], "fields": {"Priority": "High"}} for record in open_tasks["records"]]
        await call(
            client, "airtable__update_records", {"baseId": BASE, "tableIdOrName": tasks["id"], "records": records}
        )
        wrong = await refused(
            client,
            "airtable__update_records",
            {
                "baseId": BASE,
                "tableIdOrName": tasks["id"],
                "records": [{**records[0], "fields": {"Priority": "Urgent"}}],
            },
        )

    assert airtable.seen(start) == [
        f"GET /v0/meta/bases/{BASE}/tables",
        f"POST /v0/meta/bases/{BASE}/tables/tblTasks/fields",
        f"GET /v0/{BASE}/tblTasks",
        f"PATCH /v0/{BASE}/tblTasks",
        f"PATCH /v0/{BASE}/tblTasks",
    ]
    requests = airtable.requests[start:]
    assert requests[1].json() == priority
    assert made["id"].startswith("fld") and made["name"] == "Priority"
    assert ("filterByFormula", "NOT({Done})") in requests[2].query
    assert requests[3].json() == {"records": [{"id": i, "fields": {"Priority": "High"}} for i in expected_open]}
    assert {i for i, f in airtable.tables["Tasks"].items() if f.get("Priority") == "High"} == set(expected_open)
    assert "422" in wrong and "Urgent" in wrong
