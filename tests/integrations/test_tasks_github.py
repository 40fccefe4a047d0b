"""GitHub tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in keeps branches (refs), files per branch, blobs' shas, repositories and pull requests as GitHub does, and
refuses what GitHub refuses: an update without the current blob's sha (422), a stale sha (409), a branch that exists.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, refused, task_hub
from integrations.hubs import RunningHub

OWNER, REPO = "octo-org", "hello"
TOKEN = "ghp_agent_task_token"


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's blob id


@dataclass
class GitHub(Service):
    commits: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    branches: dict[str, str] = field(default_factory=lambda: {"main": "c0ffee" + "0" * 34})
    files: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"main": {"README.md": "# Hello\n", "docs/guide.md": "Install with pip.\n"}}
    )
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.repos[f"{OWNER}/{REPO}"] = self._repo(OWNER, REPO, "Says hello")

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/repos/{owner}/{repo}", self.get_repo),
            ("GET", "/repos/{owner}/{repo}/branches/{branch}", self.get_branch),
            ("POST", "/repos/{owner}/{repo}/git/refs", self.create_ref),
            ("GET", "/repos/{owner}/{repo}/contents/{path*}", self.get_content),
            ("PUT", "/repos/{owner}/{repo}/contents/{path*}", self.put_content),
            ("POST", "/repos/{owner}/{repo}/pulls", self.create_pull),
            ("POST", "/repos/{owner}/{repo}/pulls/{number}/requested_reviewers", self.request_reviewers),
            ("POST", "/user/repos", self.create_repo),
            ("POST", "/repos/{owner}/{repo}/forks", self.fork),
        ]

    # - shapes of the published description -

    @staticmethod
    def _repo(owner: str, name: str, description: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": 1296269,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": name,
            "full_name": f"{owner}/{name}",
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "private": False,
            "description": description,
            "fork": False,
            "default_branch": "main",
            "html_url": f"https://github.com/{owner}/{name}",
            "url": f"https://api.github.com/repos/{owner}/{name}",
            **extra,
        }

    def _file(self, path: str, text: str, ref: str) -> dict[str, Any]:
        encoded = base64.b64encode(text.encode()).decode()
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(text.encode()),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
            "sha": blob_sha(text),
            "url": f"https://api.github.com/repos/{OWNER}/{REPO}/contents/{path}?ref={ref}",
            "git_url": f"https://api.github.com/repos/{OWNER}/{REPO}/git/blobs/{blob_sha(text)}",
            "html_url": f"https://github.com/{OWNER}/{REPO}/blob/{ref}/{path}",
            "download_url": f"https://raw.githubusercontent.com/{OWNER}/{REPO}/{ref}/{path}",
            "_links": {"self": "…", "git": "…", "html": "…"},
        }

    # - handlers -

    def get_repo(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        repo = self.repos.get(f"{p['owner']}/{p['repo']}")
        return (200, repo) if repo else (404, {"message": "Not Found"})

    def get_branch(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        sha = self.branches.get(p["branch"])
        if sha is None:
            return 404, {"message": "Branch not found"}
        commit = {"message": "Initial commit", "author": {"name": "Ada", "date": "2026-11-30T10:00:00Z"}}
        return 200, {"name": p["branch"], "commit": {"sha": sha, "commit": commit}, "protected": False}

    def create_ref(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        name = str(body["ref"]).removeprefix("refs/heads/")
        source = next((b for b, sha in self.branches.items() if sha == body["sha"]), None)
        if source is None:
            return 422, {"message": "Object does not exist"}
        if name in self.branches:
            return 422, {"message": "Reference already exists"}
        self.branches[name] = body["sha"]
        self.files[name] = dict(self.files[source])
        obj = {"sha": body["sha"], "type": "commit", "url": "…"}
        return 201, {"ref": body["ref"], "node_id": "REF_1", "url": "…", "object": obj}

    def get_content(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        ref = dict(r.query).get("ref", "main")
        text = self.files.get(ref, {}).get(p["path"])
        return (200, self._file(p["path"], text, ref)) if text is not None else (404, {"message": "Not Found"})

    def put_content(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        branch = body.get("branch", "main")
        if branch not in self.branches:
            return 404, {"message": f"Branch {branch} not found"}
        current = self.files[branch].get(p["path"])
        if current is not None and "sha" not in body:
            return 422, {"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'}
        if current is not None and body["sha"] != blob_sha(current):
            return 409, {"message": f"{p['path']} does not match {body['sha']}"}
        text = base64.b64decode(body["content"]).decode()
        self.files[branch][p["path"]] = text
        self.branches[branch] = sha = f"{next(self.commits):040x}"
        commit = {"sha": sha, "message": body["message"], "html_url": f"https://github.com/{OWNER}/{REPO}/commit/{sha}"}
        return (201 if current is None else 200), {"content": self._file(p["path"], text, branch), "commit": commit}

    def create_pull(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        if body["head"] not in self.branches or body["base"] not in self.branches:
            return 422, {"message": "Validation Failed", "errors": [{"field": "head", "code": "invalid"}]}
        number = len(self.pulls) + 1
        pull = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body"),
            "draft": body.get("draft", False),
            "merged": False,
            "user": {"login": "ada-bot"},
            "head": {"ref": body["head"], "sha": self.branches[body["head"]], "repo": {"full_name": f"{OWNER}/{REPO}"}},
            "base": {"ref": body["base"], "sha": self.branches[body["base"]], "repo": {"full_name": f"{OWNER}/{REPO}"}},
            "requested_reviewers": [],
            "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{number}",
            "url": f"https://api.github.com/repos/{OWNER}/{REPO}/pulls/{number}",
        }
        self.pulls.append(pull)
        return 201, pull

    def request_reviewers(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        pull = self.pulls[int(p["number"]) - 1]
        pull["requested_reviewers"] += [{"login": login, "id": 7} for login in r.json().get("reviewers", [])]
        return 201, {**pull, "requested_teams": []}

    def create_repo(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        full = f"ada/{body['name']}"
        self.repos[full] = self._repo(
            "ada", body["name"], body.get("description", ""), private=body.get("private", False)
        )
        if body.get("auto_init"):
            self.files.setdefault("main", {})
        return 201, self.repos[full]

    def fork(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        parent = self.repos[f"{p['owner']}/{p['repo']}"]
        fork = self._repo("ada", p["repo"], parent["description"], fork=True, parent={"full_name": parent["full_name"]})
        self.repos[fork["full_name"]] = fork
        return 202, fork


@pytest.fixture(scope="module")
def github() -> GitHub:
    return GitHub()


@pytest.fixture(scope="module")
def hub(github: GitHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with task_hub(tmp_path_factory.mktemp("github"), "github", github, {"token": TOKEN}) as running:
        yield running


REPO_ARGS = {"owner": OWNER, "repo": REPO}


async def test_create_a_branch_commit_a_file_open_a_pr_and_request_a_review(hub: RunningHub, github: GitHub) -> None:
    start = len(github.requests)
    async with hub.client() as client:
        repo = await call(client, "github__get_repo", REPO_ARGS)
        base = repo["default_branch"]
        head = await call(client, "github__get_branch", {**REPO_ARGS, "branch": base})
        branch = "docs-mention-uv"
        made = await call(
            client, "github__create_branch", {**REPO_ARGS, "ref": f"refs/heads/{branch}", "sha": head["commit"]["sha"]}
        )
        assert made == {"ref": f"refs/heads/{branch}", "object": {"sha": head["commit"]["sha"], "type": "commit"}}
        guide = await call(client, "github__get_file_contents", {**REPO_ARGS, "path": "docs/guide.md", "ref": branch})
        assert (guide["content"], guide["encoding"]) == ("Install with pip.\n", "utf-8")  # text, not base64
        new_text = guide["content"] + "Or with uv: `uv add hello`.\n"
        commit = await call(
            client,
            "github__write_file",
            {
                **REPO_ARGS,
                "path": "docs/guide.md",
                "content": new_text,
                "message": "Docs: mention uv",
                "branch": branch,
            },
        )
        pull = await call(
            client,
            "github__create_pull_request",
            {**REPO_ARGS, "title": "Docs: mention uv", "head": branch, "base": base, "body": "Adds uv to the guide."},
        )
        review = await call(
            client, "github__request_reviewers", {**REPO_ARGS, "pull_number": pull["number"], "reviewers": ["grace"]}
        )

    sent = github.requests[start:]
    assert github.seen(start) == [
        "GET /repos/octo-org/hello",
        "GET /repos/octo-org/hello/branches/main",
        "POST /repos/octo-org/hello/git/refs",
        "GET /repos/octo-org/hello/contents/docs/guide.md",
        "GET /repos/octo-org/hello/contents/docs/guide.md",  # the hub looks up the blob sha for the update
        "PUT /repos/octo-org/hello/contents/docs/guide.md",
        "POST /repos/octo-org/hello/pulls",
        "POST /repos/octo-org/hello/pulls/1/requested_reviewers",
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in sent)
    assert sent[2].json() == {"ref": "refs/heads/docs-mention-uv", "sha": github.branches["main"]}
    assert sent[3].query == sent[4].query == [("ref", branch)]  # read on the branch written to
    assert sent[5].json() == {
        "message": "Docs: mention uv",
        "branch": branch,
        "content": base64.b64encode(new_text.encode()).decode(),
        "sha": blob_sha("Install with pip.\n"),
    }
    assert sent[6].json() == {
        "title": "Docs: mention uv",
        "head": branch,
        "base": "main",
        "body": "Adds uv to the guide.",
    }
    assert sent[7].json() == {"reviewers": ["grace"]}
    # The repository now holds what was asked; main is untouched.
    assert github.files[branch]["docs/guide.md"] == new_text
    assert github.files["main"]["docs/guide.md"] == "Install with pip.\n"
    assert commit["commit"]["sha"] == github.branches[branch] and commit["content"]["path"] == "docs/guide.md"
    assert review["requested_reviewers"] == [{"login": "grace"}]
    assert pull["html_url"] == "https://github.com/octo-org/hello/pull/1"


async def test_add_a_new_file_then_update_it_from_what_was_read(hub: RunningHub, github: GitHub) -> None:
    start = len(github.requests)
    async with hub.client() as client:
        args = {**REPO_ARGS, "path": "CHANGELOG.md", "branch": "main"}
        created = await call(
            client, "github__write_file", {**args, "content": "# Changes\n", "message": "Add changelog"}
        )
        read = await call(client, "github__get_file_contents", {**REPO_ARGS, "path": "CHANGELOG.md"})
        await call(
            client,
            "github__write_file",
            {**args, "content": read["content"] + "- 1.0\n", "message": "Log 1.0", "sha": read["sha"]},
        )
        # Someone else changed the file since: a sha from before is refused, not overwritten.
        github.files["main"]["CHANGELOG.md"] += "- hotfix\n"
        error = await refused(
            client, "github__write_file", {**args, "content": "# Changes\n", "message": "Oops", "sha": read["sha"]}
        )

    assert github.seen(start) == [
        "GET /repos/octo-org/hello/contents/CHANGELOG.md",  # 404: a new file, so no sha is sent
        "PUT /repos/octo-org/hello/contents/CHANGELOG.md",
        "GET /repos/octo-org/hello/contents/CHANGELOG.md",
        "PUT /repos/octo-org/hello/contents/CHANGELOG.md",  # the agent's sha: no lookup
        "PUT /repos/octo-org/hello/contents/CHANGELOG.md",
    ]
    first, second = github.requests[start + 1].json(), github.requests[start + 3].json()
    assert "sha" not in first and created["content"]["sha"] == blob_sha("# Changes\n")
    assert second["sha"] == read["sha"] == blob_sha("# Changes\n")
    assert "409" in error and "does not match" in error
    assert github.files["main"]["CHANGELOG.md"] == "# Changes\n- 1.0\n- hotfix\n"


async def test_create_a_repository_and_fork_one(hub: RunningHub, github: GitHub) -> None:
    start = len(github.requests)
    async with hub.client() as client:
        repo = await call(
            client,
            "github__create_repo",
            {"name": "notes", "description": "Team notes", "private": True, "auto_init": True},
        )
        fork = await call(client, "github__fork_repo", REPO_ARGS)
    assert github.seen(start) == ["POST /user/repos", "POST /repos/octo-org/hello/forks"]
    assert github.requests[start].json() == {
        "name": "notes",
        "description": "Team notes",
        "private": True,
        "auto_init": True,
    }
    assert (repo["full_name"], repo["private"], repo["default_branch"]) == ("ada/notes", True, "main")
    assert "node_id" not in repo  # trimmed to what an agent reads
    assert (fork["full_name"], fork["fork"]) == ("ada/hello", True)
