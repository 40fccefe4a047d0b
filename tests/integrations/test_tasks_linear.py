"""Linear tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in executes each GraphQL request with graphql-core against Linear's real schema (the SDL shipped in
specs/linear/, sha-pinned, the same file as the reference in ../shared/specs), so a document or variable Linear would
reject fails here too; its resolvers keep a team's cycles and issues across calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync
from runtime.support import Recorded, Upstream
from starlette.types import Send

from integrations.agent_tasks import call, task_hub
from integrations.hubs import SPECS, RunningHub

API_KEY = "lin_api_agent_tasks"
TEAM = {
    "id": "t-eng",
    "key": "ENG",
    "name": "Engineering",
    "description": None,
    "private": False,
    "cyclesEnabled": True,
}


@cache
def linear_schema() -> GraphQLSchema:
    return build_schema((SPECS / "linear" / "schema.graphql").read_text(encoding="utf-8"))


ME, GRACE = {"id": "u-ada", "name": "Ada"}, {"id": "u-grace", "name": "Grace"}  # the API key is Ada's
STARTED = {"id": "s-doing", "name": "In Progress", "type": "started"}
TODO = {"id": "s-todo", "name": "Todo", "type": "unstarted"}


def _cycle(
    number: int, starts: str, ends: str, *, active: bool = False, future: bool = False, following: bool = False
) -> dict[str, Any]:
    return {
        "id": f"c-{number}",
        "number": float(number),
        "name": None,
        "description": None,
        "startsAt": starts,
        "endsAt": ends,
        "completedAt": None,
        "progress": 0.4 if active else (0.0 if future else 1.0),
        "isActive": active,
        "isFuture": future,
        "isNext": following,
        "isPast": not active and not future,
        "team": TEAM,
    }


def _issue(
    number: int, title: str, state: dict[str, Any], assignee: dict[str, Any], cycle: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"i-{number}",
        "identifier": f"ENG-{number}",
        "title": title,
        "url": f"https://linear.app/acme/issue/ENG-{number}",
        "priority": 2.0,
        "priorityLabel": "High",
        "estimate": None,
        "dueDate": None,
        "createdAt": "2026-11-24T09:00:00.000Z",
        "updatedAt": "2026-12-01T09:00:00.000Z",
        "project": None,
        "state": state,
        "assignee": assignee,
        "cycle": cycle,
        "team": TEAM,
    }


def _matches(item: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Enough of Linear's filter language for these tasks: {field: {eq: v}}, {field: {in: [...]}}, nested
    {team: {key: {eq: v}}}, and {assignee: {isMe: {eq: true}}} (the API key's user is Ada)."""
    for key, test in condition.items():
        if key == "isMe":
            if (item.get("id") == ME["id"]) != test["eq"]:
                return False
            continue
        value = item.get(key)
        if "eq" in test and value != test["eq"]:
            return False
        if "in" in test and value not in test["in"]:
            return False
        nested = {k: v for k, v in test.items() if k not in ("eq", "in")}
        if nested and not (isinstance(value, dict) and _matches(value, nested)):
            return False
    return True


@dataclass
class Linear(Upstream):
    cycles: list[dict[str, Any]] = field(
        default_factory=lambda: [
            _cycle(41, "2026-11-09T00:00:00.000Z", "2026-11-23T00:00:00.000Z"),
            _cycle(42, "2026-11-23T00:00:00.000Z", "2026-12-07T00:00:00.000Z", active=True),
            _cycle(43, "2026-12-07T00:00:00.000Z", "2026-12-21T00:00:00.000Z", future=True, following=True),
        ]
    )
    issues: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        current = self.cycles[1]
        self.issues += [
            _issue(101, "Refactor the auth middleware", STARTED, ME, current),
            _issue(102, "Fix the flaky CI job", STARTED, ME, current),
            _issue(103, "Rate-limit webhooks", STARTED, GRACE, current),
            _issue(104, "Write the changelog", TODO, ME, current),
        ]

    operations: list[str] = field(default_factory=list)

    def root(self) -> dict[str, Any]:
        def page(nodes: list[dict[str, Any]]) -> dict[str, Any]:
            return {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": nodes[-1]["id"] if nodes else None}}

        def issue_create(info: Any, input: dict[str, Any]) -> dict[str, Any]:
            cycle = next((c for c in self.cycles if c["id"] == input.get("cycleId")), None)
            if input.get("cycleId") and cycle is None:
                raise GraphQLError("Entity not found: Cycle")
            number = len(self.issues) + 120
            issue = {
                "id": f"i-{number}",
                "identifier": f"ENG-{number}",
                "title": input["title"],
                "url": f"https://linear.app/acme/issue/ENG-{number}",
                "state": {"id": "s-todo", "name": "Todo", "type": "unstarted"},
                "assignee": None,
                "cycle": cycle,
                "team": TEAM,
            }
            self.issues.append(issue)
            return {"success": True, "lastSyncId": float(number), "issue": issue}

        def cycle_create(info: Any, input: dict[str, Any]) -> dict[str, Any]:
            number = int(max(c["number"] for c in self.cycles)) + 1
            cycle = _cycle(number, input["startsAt"], input["endsAt"], future=True) | {"name": input.get("name")}
            self.cycles.append(cycle)
            return {"success": True, "lastSyncId": 1.0, "cycle": cycle}

        def cycle_update(info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
            cycle = next((c for c in self.cycles if c["id"] == id), None)
            if cycle is None:
                raise GraphQLError("Entity not found: Cycle")
            cycle.update({k: v for k, v in input.items() if k in ("name", "description", "startsAt", "endsAt")})
            return {"success": True, "lastSyncId": 2.0, "cycle": cycle}

        def issue_update(info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
            issue = next((i for i in self.issues if id in (i["id"], i["identifier"])), None)
            cycle = next((c for c in self.cycles if c["id"] == input.get("cycleId")), None)
            if issue is None or ("cycleId" in input and cycle is None):
                raise GraphQLError(f"Entity not found: {'Issue' if issue is None else 'Cycle'}")
            if cycle is not None:
                issue["cycle"] = cycle
            return {"success": True, "lastSyncId": 3.0, "issue": issue}

        return {
            "teams": lambda info, **options: page([TEAM]),
            "issues": lambda info, filter=None, **options: page([i for i in self.issues if _matches(i, filter or {})]),
            "issueUpdate": issue_update,
            "cycles": lambda info, filter=None, **options: page([c for c in self.cycles if _matches(c, filter or {})]),
            "issueCreate": issue_create,
            "cycleCreate": cycle_create,
            "cycleUpdate": cycle_update,
        }

    async def _answer(self, r: Recorded, send: Send) -> None:
        request = r.json()
        self.operations.append(request.get("operationName", ""))
        result = graphql_sync(
            linear_schema(),
            request["query"],
            root_value=self.root(),
            variable_values=request.get("variables"),
            operation_name=request.get("operationName"),
        )
        body = json.dumps(result.formatted).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def linear() -> Linear:
    return Linear()


@pytest.fixture(scope="module")
def hub(linear: Linear, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    folder = tmp_path_factory.mktemp("linear")
    with task_hub(folder, "linear", linear, {"api_key": API_KEY}, base_path="/graphql") as running:
        yield running


async def test_create_an_issue_in_the_current_cycle(hub: RunningHub, linear: Linear) -> None:
    start = len(linear.requests)
    async with hub.client() as client:
        teams = await call(client, "linear__list_teams", {})
        [team] = [t for t in teams["nodes"] if t["key"] == "ENG"]
        current = await call(
            client, "linear__list_cycles", {"filter": {"team": {"key": {"eq": "ENG"}}, "isActive": {"eq": True}}}
        )
        [cycle] = current["nodes"]
        created = await call(
            client,
            "linear__create_issue",
            {"input": {"teamId": team["id"], "title": "Flaky checkout test", "cycleId": cycle["id"], "priority": 2}},
        )

    requests = linear.requests[start:]
    assert [(r.method, r.path) for r in requests] == [("POST", "/graphql")] * 3
    assert all(r.headers["authorization"] == API_KEY for r in requests)  # Linear's keys go without "Bearer"
    assert [r.json()["operationName"] for r in requests] == ["Teams", "Cycles", "IssueCreate"]
    assert requests[1].json()["variables"]["filter"] == {"team": {"key": {"eq": "ENG"}}, "isActive": {"eq": True}}
    assert requests[2].json()["variables"]["input"] == {
        "teamId": "t-eng",
        "title": "Flaky checkout test",
        "cycleId": "c-42",
        "priority": 2,
    }
    assert cycle["number"] == 42 and created["success"] is True
    assert (
        linear.issues[-1]["cycle"]["id"] == "c-42" and created["issue"]["identifier"] == linear.issues[-1]["identifier"]
    )


async def test_plan_the_next_cycle_and_extend_it(hub: RunningHub, linear: Linear) -> None:
    start = len(linear.requests)
    async with hub.client() as client:
        planned = await call(
            client,
            "linear__create_cycle",
            {
                "input": {
                    "teamId": "t-eng",
                    "startsAt": "2026-12-07T00:00:00Z",
                    "endsAt": "2026-12-21T00:00:00Z",
                    "name": "Holiday hardening",
                }
            },
        )
        cycle = planned["cycle"]
        extended = await call(
            client, "linear__update_cycle", {"id": cycle["id"], "input": {"endsAt": "2026-12-28T00:00:00Z"}}
        )

    requests = linear.requests[start:]
    assert [r.json()["operationName"] for r in requests] == ["CycleCreate", "CycleUpdate"]
    assert requests[0].json()["variables"]["input"]["name"] == "Holiday hardening"
    assert requests[1].json()["variables"] == {"id": "c-44", "input": {"endsAt": "2026-12-28T00:00:00Z"}}
    assert (cycle["number"], cycle["team"]["key"]) == (44, "ENG")
    assert extended["cycle"]["endsAt"] == "2026-12-28T00:00:00Z"
    assert linear.cycles[-1]["endsAt"] == "2026-12-28T00:00:00Z"


async def test_move_my_in_progress_issues_to_the_next_cycle(hub: RunningHub, linear: Linear) -> None:
    start = len(linear.requests)
    async with hub.client() as client:
        following = await call(
            client, "linear__list_cycles", {"filter": {"team": {"key": {"eq": "ENG"}}, "isNext": {"eq": True}}}
        )
        [target] = following["nodes"]
        mine = {
            "team": {"key": {"eq": "ENG"}},
            "assignee": {"isMe": {"eq": True}},
            "state": {"type": {"eq": "started"}},
        }
        found = await call(client, "linear__list_issues", {"filter": mine})
        moved = [
            await call(client, "linear__update_issue", {"id": issue["identifier"], "input": {"cycleId": target["id"]}})
            for issue in found["nodes"]
        ]

    requests = linear.requests[start:]
    assert [r.json()["operationName"] for r in requests] == ["Cycles", "Issues", "IssueUpdate", "IssueUpdate"]
    assert requests[1].json()["variables"]["filter"] == mine
    assert [r.json()["variables"] for r in requests[2:]] == [
        {"id": "ENG-101", "input": {"cycleId": "c-43"}},
        {"id": "ENG-102", "input": {"cycleId": "c-43"}},
    ]
    assert target["number"] == 43 and target["isNext"] is True
    assert all(m["success"] for m in moved)
    # Only Ada's started issues moved: Grace's and the one not started stay in the current cycle.
    assert {i["identifier"]: i["cycle"]["id"] for i in linear.issues if i["identifier"] <= "ENG-104"} == {
        "ENG-101": "c-43",
        "ENG-102": "c-43",
        "ENG-103": "c-42",
        "ENG-104": "c-42",
    }
