"""Ranking preferences a user sees in search answers: the action asked for, the whole tool name covered, the
integration whose things the request names, request phrasing ignored, misspelt words still matched."""

from __future__ import annotations

from typing import Any

import pytest

from mcphub.runtime.search import SearchIndex
from mcphub.runtime.search.documents import docs_from_manifest
from mcphub.runtime.search.intent import query_actions, tool_action
from mcphub.runtime.search.lexical import embedding_query, first_step

from .conftest import SMALL, _tool

HOOKS = {
    "slug": "github",
    "name": "GitHub",
    "description": "Repositories, issues and pull requests on github.com.",
    "tools": [
        _tool("repos_list_webhooks", "GET", "/repos/{owner}/{repo}/hooks", "Lists the webhooks of a repository."),
        _tool("repos_get_webhook", "GET", "/repos/{owner}/{repo}/hooks/{hook_id}", "Gets a repository webhook."),
        _tool("repos_create_webhook", "POST", "/repos/{owner}/{repo}/hooks", "Creates a repository webhook."),
        _tool("repos_delete_webhook", "DELETE", "/repos/{owner}/{repo}/hooks/{hook_id}", "Deletes a webhook."),
        _tool("orgs_list_members", "GET", "/orgs/{org}/members", "Lists the members of an organization."),
        _tool(
            "orgs_list_public_members",
            "GET",
            "/orgs/{org}/public_members",
            "Lists the public members of an organization.",
        ),
    ],
}
CHAT = {
    "slug": "slack",
    "name": "Slack",
    "description": "Channels, direct messages and threads in a Slack workspace.",
    "tools": [_tool("send_message", "POST", "/chat.postMessage", "Sends a message.")],
}
MAIL = {
    "slug": "gmail",
    "name": "Gmail",
    "description": "The signed-in user's Gmail mailbox: messages, threads, labels and drafts.",
    "tools": [_tool("send_message", "POST", "/gmail/v1/users/{userId}/messages/send", "Sends a message.")],
}


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    docs = [doc for manifest in (HOOKS, CHAT, MAIL) for doc in docs_from_manifest(manifest)]
    return SearchIndex.from_docs(docs)


def top(index: SearchIndex, query: str, **kwargs: Any) -> str:
    return index.search(query, limit=1, **kwargs)[0].doc.name


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("remove the webhook from the api repo", "github__repos_delete_webhook"),
        ("get rid of that webhook", "github__repos_delete_webhook"),
        ("add a webhook to the repo", "github__repos_create_webhook"),
    ],
)
def test_the_action_the_request_asks_for_ranks_first(index: SearchIndex, mode: str, query: str, expected: str) -> None:
    assert top(index, query, mode=mode) == expected


def test_a_request_for_all_of_something_gets_the_list_not_one_item(index: SearchIndex) -> None:
    # Lexically "show" is as much "get" as "list"; "all" decides (the hybrid's default, with the embeddings).
    assert top(index, "show me all the webhooks of the repo") == "github__repos_list_webhooks"


def test_a_destructive_tool_is_not_offered_first_for_a_request_to_look(index: SearchIndex) -> None:
    for query in ("webhook details", "the webhook with id 7"):
        assert top(index, query) != "github__repos_delete_webhook", query


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_a_tool_whose_whole_name_the_request_covers_ranks_before_a_longer_named_one(
    index: SearchIndex, mode: str
) -> None:
    assert top(index, "list the members of the acme org", mode=mode) == "github__orgs_list_members"
    assert top(index, "list the public members of the acme org", mode=mode) == "github__orgs_list_public_members"


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_the_integration_whose_things_the_request_names_wins_a_tie(index: SearchIndex, mode: str) -> None:
    # Both tools are "send_message: Sends a message."; a channel and a DM are Slack's, an inbox and email Gmail's.
    assert top(index, "send a message to the team channel", mode=mode) == "slack__send_message"
    assert top(index, "send a message from my inbox", mode=mode) == "gmail__send_message"
    assert top(index, "send her a dm", mode=mode) == "slack__send_message"
    assert top(index, "send an email to the landlord", mode=mode) == "gmail__send_message"


def test_request_phrasing_does_not_change_the_answer(small_index: SearchIndex) -> None:
    plain = [hit.doc.name for hit in small_index.search("merge the pull request", limit=3, mode="lexical")]
    wordy = "hey, can you please help me merge the pull request right now? thanks"
    assert [hit.doc.name for hit in small_index.search(wordy, limit=3, mode="lexical")] == plain
    assert not {"can", "please", "help", "hey", "now", "thanks"} & set(small_index.lexical.expand(wordy))


def test_misspelt_words_are_matched_to_the_catalog_vocabulary(small_index: SearchIndex) -> None:
    assert top(small_index, "lsit the isues of the repo", mode="lexical") == "github__list_issues"
    assert top(small_index, "send an emial", mode="lexical") == "gmail__send_message"


def test_action_kinds_of_tools_and_requests() -> None:
    docs = {doc.tool: doc for manifest in (*SMALL, HOOKS) for doc in docs_from_manifest(manifest)}
    assert tool_action(docs["repos_delete_webhook"]) == "delete"
    assert tool_action(docs["repos_list_webhooks"]) == "list"
    assert tool_action(docs["merge_pull_request"]) == "update"
    assert query_actions("get rid of the draft") == {"delete"}
    assert query_actions("please list every open issue") == {"list"}
    assert query_actions("the weather") == set()


def test_embedding_query_is_the_first_step_without_phrasing() -> None:
    # The model sees the request's first step, without the filler BM25 drops too; an all-filler request stays whole.
    assert first_step("find the issue about the flaky test and then link it in the PR") == (
        "find the issue about the flaky test"
    )
    assert first_step("look at the diff of PR 12, then approve it") == "look at the diff of PR 12"
    assert first_step("archive the repo and change its description") == "archive the repo and change its description"
    assert embedding_query("hey can you please get rid of the old webhook, then tell the team") == "remove old webhook"
    assert embedding_query("can you do it") == "can you do it"
