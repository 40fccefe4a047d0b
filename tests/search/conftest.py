from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mcphub.runtime.search import SearchIndex, load_catalogs
from mcphub.runtime.search.documents import docs_from_manifest

ROOT = Path(__file__).resolve().parents[2]
SHARED_SPECS = ROOT.parent / "shared" / "specs"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Never the user's ~/.cache: each test session embeds into its own folder.
    return tmp_path_factory.mktemp("search-cache")


@pytest.fixture(scope="session")
def builtin_index(cache_dir: Path) -> SearchIndex:
    """Hybrid index over the committed built-in packages' curated tools (generated/, their `search: all`
    operations left out: the expectations below are about the flat lists), the real embedding model."""
    packages = [replace(p, docs=[d for d in p.docs if d.listed]) for p in load_catalogs([ROOT / "generated"])]
    return SearchIndex(packages, cache_dir=cache_dir)


def _tool(name: str, method: str, path: str, description: str, **props: str) -> dict[str, object]:
    return {
        "name": name,
        "description": description,
        "enabled": True,
        "http": {"method": method, "path": path},
        "input_schema": {
            "type": "object",
            "properties": {key: {"type": "string", "description": text} for key, text in props.items()},
        },
        "tags": [],
    }


# A small hand-made catalog: three services with overlapping words ("message", "issue", "create").
SMALL = [
    {
        "slug": "slack",
        "name": "Slack",
        "tools": [
            _tool("post_message", "POST", "/chat.postMessage", "Sends a message to a channel.", channel="Channel id"),
            _tool("list_channels", "GET", "/conversations.list", "Lists the channels of the workspace."),
            _tool("add_reaction", "POST", "/reactions.add", "Adds an emoji reaction to a message.", emoji="Emoji name"),
        ],
    },
    {
        "slug": "gmail",
        "name": "Gmail",
        "tools": [
            _tool(
                "send_message",
                "POST",
                "/gmail/v1/users/{userId}/messages/send",
                "Sends an email message.",
                raw="RFC 2822 message",
            ),
            _tool(
                "list_messages",
                "GET",
                "/gmail/v1/users/{userId}/messages",
                "Lists the messages in the mailbox.",
                q="Gmail search query",
            ),
        ],
    },
    {
        "slug": "github",
        "name": "GitHub",
        "tools": [
            _tool(
                "create_issue",
                "POST",
                "/repos/{owner}/{repo}/issues",
                "Creates an issue in a repository.",
                title="Issue title",
            ),
            _tool(
                "merge_pull_request", "PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", "Merges a pull request."
            ),
            _tool(
                "list_issues",
                "GET",
                "/repos/{owner}/{repo}/issues",
                "Lists a repository's issues.",
                state="open or closed",
            ),
        ],
    },
]


@pytest.fixture(scope="session")
def small_index() -> SearchIndex:
    docs = [doc for manifest in SMALL for doc in docs_from_manifest(manifest)]
    return SearchIndex.from_docs(docs)
