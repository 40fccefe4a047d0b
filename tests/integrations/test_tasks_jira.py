"""Jira tasks an agent is asked to do with the `jira` integration alone, through the hub and the official MCP client.

The stand-in is a Jira Cloud site (`acme`) keeping issues, their workflow (transitions by id), comments and assignees;
it answers the enhanced JQL search (/rest/api/3/search/jql, token-paged) and the platform endpoints with the shapes of
Atlassian's descriptions, and refuses transitions the workflow doesn't offer, as Jira does. Issues may have a parent
(an epic) and issue links of the site's link types.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, refused, task_hub
from integrations.hubs import RunningHub

EMAIL, API_TOKEN = "ada@example.com", "atlassian-agent-token"
ME, GRACE = "5b10ac8d82e05b22cc7d4ef5", "5b10a2844c20165700ede21g"
SITE = "/acme/rest/api/3"
WORKFLOW = {"11": "To Do", "21": "In Progress", "31": "Done"}


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def _issue(key: str, summary: str, kind: str, status: str, priority: str, assignee: str | None) -> dict[str, Any]:
    return {
        "key": key,
        "summary": summary,
        "issuetype": {"name": kind},
        "status": {"name": status},
        "priority": {"name": priority},
        "assignee": {"accountId": assignee} if assignee else None,
        "updated": "2026-12-01T09:00:00.000+0000",
    }


@dataclass
class Jira(Service):
    issues: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "10001": _issue("PROJ-1", "Login fails on Safari", "Bug", "To Do", "High", ME),
            "10002": _issue("PROJ-2", "Typo in footer", "Bug", "To Do", "Low", ME),
            "10003": _issue("PROJ-3", "Export is slow", "Bug", "Done", "High", ME),
            "10004": _issue("PROJ-4", "Dark mode", "Story", "To Do", "Medium", ME),
            "10005": _issue("PROJ-5", "Crash on upload", "Bug", "To Do", "Highest", GRACE),
            "10006": _issue("PROJ-6", "Checkout revamp", "Epic", "In Progress", "Medium", GRACE),
        }
    )
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (type, outward key, inward key)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{SITE}/search/jql", self.search),
            ("GET", f"{SITE}/issue/{{key}}/transitions", self.transitions),
            ("POST", f"{SITE}/issue/{{key}}/transitions", self.transition),
            ("POST", f"{SITE}/issue/{{key}}/comment", self.comment),
            ("GET", f"{SITE}/user/search", self.find_users),
            ("POST", f"{SITE}/issue", self.create),
            ("PUT", f"{SITE}/issue/{{key}}/assignee", self.assign),
            ("GET", f"{SITE}/issueLinkType", self.link_types),
            ("POST", f"{SITE}/issueLink", self.link),
        ]

    def _find(self, key: str) -> tuple[str, dict[str, Any]] | None:
        return next(((i, issue) for i, issue in self.issues.items() if key in (i, issue["key"])), None)

    def search(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        query = dict(r.query)
        jql = query["jql"]
        # The clauses this test's agent writes; enough of JQL to tell a right query from a wrong one.
        wanted = {
            "mine": "assignee = currentUser()" in jql,
            "bugs": re.search(r"(issue)?type\s*=\s*Bug", jql, re.IGNORECASE) is not None,
            "open": "statusCategory != Done" in jql or "resolution = Unresolved" in jql,
            "epics": re.search(r"(issue)?type\s*=\s*Epic", jql, re.IGNORECASE) is not None,
        }
        text = re.search(r'summary\s*~\s*"([^"]+)"', jql)
        found = [
            (issue_id, issue)
            for issue_id, issue in self.issues.items()
            if (not wanted["mine"] or (issue["assignee"] or {}).get("accountId") == ME)
            and (not wanted["bugs"] or issue["issuetype"]["name"] == "Bug")
            and (not wanted["open"] or issue["status"]["name"] != "Done")
            and (not wanted["epics"] or issue["issuetype"]["name"] == "Epic")
            and (text is None or text.group(1).lower() in issue["summary"].lower())
        ]
        fields = query.get("fields", "").split(",") if query.get("fields") else []
        issues = [
            {
                "id": issue_id,
                "key": issue["key"],
                "self": f"https://acme.atlassian.net/rest/api/3/issue/{issue_id}",
                "fields": {name: issue[name] for name in fields if name in issue},
            }
            for issue_id, issue in found
        ]
        return 200, {"issues": issues, "isLast": True}

    def transitions(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        listed = [{"id": i, "name": name, "to": {"name": name}, "isAvailable": True} for i, name in WORKFLOW.items()]
        return 200, {"expand": "transitions", "transitions": listed}

    def transition(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        found = self._find(p["key"])
        wanted = str(r.json().get("transition", {}).get("id"))
        if found is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        if wanted not in WORKFLOW:
            return 400, {"errorMessages": [f"Transition id '{wanted}' is not valid for this issue."], "errors": {}}
        found[1]["status"] = {"name": WORKFLOW[wanted]}
        return 204, None

    def comment(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()["body"]
        made = {"id": "20001", "body": body, "author": {"accountId": ME}, "created": "2026-12-06T10:00:00.000+0000"}
        self.comments.setdefault(p["key"], []).append(made)
        return 201, made

    def find_users(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        people = [{"accountId": GRACE, "displayName": "Grace Hopper", "active": True, "accountType": "atlassian"}]
        term = dict(r.query).get("query", "").lower()
        return 200, [person for person in people if term in person["displayName"].lower()]

    def create(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = r.json()["fields"]
        missing = [name for name in ("project", "issuetype", "summary") if name not in fields]
        if missing:
            return 400, {"errorMessages": [], "errors": {name: f"{name} is required." for name in missing}}
        issue_id = str(10001 + len(self.issues))
        key = f"{fields['project']['key']}-{len(self.issues) + 1}"
        kind = fields["issuetype"]["name"]
        self.issues[issue_id] = _issue(key, fields["summary"], kind, "To Do", "Medium", None)
        if "parent" in fields:
            parent = self._find(fields["parent"].get("key") or fields["parent"].get("id", ""))
            if parent is None:
                return 400, {"errorMessages": [], "errors": {"parent": "Could not find issue by id or key."}}
            self.issues[issue_id]["parent"] = {"id": parent[0], "key": parent[1]["key"]}
        return 201, {"id": issue_id, "key": key, "self": f"https://acme.atlassian.net/rest/api/3/issue/{issue_id}"}

    def assign(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        found = self._find(p["key"])
        assert found is not None
        found[1]["assignee"] = {"accountId": r.json()["accountId"]}
        return 204, None

    def link_types(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        kinds = [("10000", "Blocks", "is blocked by", "blocks"), ("10003", "Relates", "relates to", "relates to")]
        listed = [{"id": i, "name": name, "inward": inward, "outward": outward} for i, name, inward, outward in kinds]
        return 200, {"issueLinkTypes": listed}

    def link(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        ends = [self._find(body[end].get("key", "")) for end in ("outwardIssue", "inwardIssue")]
        if body["type"].get("name") not in ("Blocks", "Relates"):
            return 404, {"errorMessages": [f"No issue link type with name '{body['type'].get('name')}' found."]}
        if None in ends:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        self.links.append((body["type"]["name"], body["outwardIssue"]["key"], body["inwardIssue"]["key"]))
        return 201, None


@pytest.fixture(scope="module")
def jira() -> Jira:
    return Jira()


@pytest.fixture(scope="module")
def hub(jira: Jira, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    credential = {"username": EMAIL, "password": API_TOKEN, "server_variables": {"site": "acme"}}
    with task_hub(tmp_path_factory.mktemp("jira"), "jira", jira, credential, base_path="/{site}") as running:
        yield running


async def test_find_my_open_bugs_and_move_one_to_in_progress_with_a_comment(hub: RunningHub, jira: Jira) -> None:
    start = len(jira.requests)
    async with hub.client() as client:
        jql = "assignee = currentUser() AND type = Bug AND statusCategory != Done ORDER BY priority DESC"
        found = await call(client, "jira__search_issues", {"jql": jql})
        assert [issue["key"] for issue in found["issues"]] == ["PROJ-1", "PROJ-2"]
        key = found["issues"][0]["key"]  # the highest priority first
        transitions = await call(client, "jira__list_transitions", {"issueIdOrKey": key})
        [start_work] = [t for t in transitions["transitions"] if t["name"] == "In Progress"]
        await call(client, "jira__transition_issue", {"issueIdOrKey": key, "transition": {"id": start_work["id"]}})
        await call(client, "jira__add_comment", {"issueIdOrKey": key, "body": adf("Looking into it today.")})

    assert jira.seen(start) == [
        f"GET {SITE}/search/jql",
        f"GET {SITE}/issue/PROJ-1/transitions",
        f"POST {SITE}/issue/PROJ-1/transitions",
        f"POST {SITE}/issue/PROJ-1/comment",
    ]
    requests = jira.requests[start:]
    basic = "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
    assert all(r.headers["authorization"] == basic for r in requests)
    # The spec's page size and fields go along with the agent's JQL (enhanced search: fields as one comma list).
    assert requests[0].query == [
        ("jql", jql),
        ("maxResults", "25"),
        ("fields", "summary,status,assignee,priority,issuetype,updated"),
    ]
    assert requests[2].json() == {"transition": {"id": "21"}}
    assert requests[3].json() == {"body": adf("Looking into it today.")}
    assert jira.issues["10001"]["status"] == {"name": "In Progress"}
    assert jira.comments["PROJ-1"][0]["body"] == adf("Looking into it today.")


async def test_file_a_bug_and_assign_it_to_a_colleague(hub: RunningHub, jira: Jira) -> None:
    start = len(jira.requests)
    async with hub.client() as client:
        [grace] = (await call(client, "jira__find_users", {"query": "grace"}))["result"]  # a JSON list, wrapped
        fields = {
            "project": {"key": "PROJ"},
            "issuetype": {"name": "Bug"},
            "summary": "Checkout button does nothing",
            "description": adf("Steps: open the cart, press Checkout."),
        }
        created = await call(client, "jira__create_issue", {"fields": fields})
        await call(client, "jira__assign_issue", {"issueIdOrKey": created["key"], "accountId": grace["accountId"]})
        # A transition the workflow doesn't offer fails with Jira's own words.
        error = await refused(
            client, "jira__transition_issue", {"issueIdOrKey": created["key"], "transition": {"id": "99"}}
        )

    key = created["key"]
    assert jira.seen(start) == [
        f"GET {SITE}/user/search",
        f"POST {SITE}/issue",
        f"PUT {SITE}/issue/{key}/assignee",
        f"POST {SITE}/issue/{key}/transitions",
    ]
    assert jira.requests[start + 1].json() == {"fields": fields}
    assert jira.requests[start + 2].json() == {"accountId": GRACE}
    assert "400" in error and "Transition id '99' is not valid" in error
    issue = next(issue for issue in jira.issues.values() if issue["key"] == key)
    assert (issue["summary"], issue["assignee"], issue["status"]) == (
        "Checkout button does nothing",
        {"accountId": GRACE},
        {"name": "To Do"},
    )


async def test_create_a_bug_under_an_epic_and_link_the_issue_it_blocks(hub: RunningHub, jira: Jira) -> None:
    start = len(jira.requests)
    async with hub.client() as client:
        jql = 'type = Epic AND summary ~ "checkout"'
        [epic] = (await call(client, "jira__search_issues", {"jql": jql}))["issues"]
        fields = {
            "project": {"key": "PROJ"},
            "issuetype": {"name": "Bug"},
            "summary": "Coupon code is ignored at checkout",
            "parent": {"key": epic["key"]},
        }
        created = await call(client, "jira__create_issue", {"fields": fields})
        types = await call(client, "jira__list_issue_link_types", {})
        [blocks] = [t for t in types["issueLinkTypes"] if t["outward"] == "blocks"]
        link = {
            "type": {"name": blocks["name"]},
            "outwardIssue": {"key": created["key"]},
            "inwardIssue": {"key": "PROJ-4"},
        }
        await call(client, "jira__link_issues", link)
        wrong = await refused(client, "jira__link_issues", {**link, "type": {"name": "Causes"}})

    key = created["key"]
    assert jira.seen(start) == [
        f"GET {SITE}/search/jql",
        f"POST {SITE}/issue",
        f"GET {SITE}/issueLinkType",
        f"POST {SITE}/issueLink",
        f"POST {SITE}/issueLink",
    ]
    assert ("jql", jql) in jira.requests[start].query
    assert jira.requests[start + 1].json() == {"fields": fields}
    assert jira.requests[start + 3].json() == link
    issue = next(issue for issue in jira.issues.values() if issue["key"] == key)
    assert issue["parent"] == {"id": "10006", "key": "PROJ-6"}
    assert jira.links == [("Blocks", key, "PROJ-4")]
    assert "404" in wrong and "No issue link type with name 'Causes'" in wrong
