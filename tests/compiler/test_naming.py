from __future__ import annotations

import keyword

import pytest

from mcphub.compiler.naming import (
    is_legal_property_name,
    is_legal_tool_name,
    name_budget,
    operation_name,
    python_identifier,
    safe_property_name,
    short_hash,
    shorten,
    snake_case,
    unique_names,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("issues/create", "issues_create"),
        ("repos/get-content", "repos_get_content"),
        ("getUserById", "get_user_by_id"),
        ("getHTTPStatus", "get_http_status"),
        ("chat.postMessage", "chat_post_message"),
        ("gmail.users.labels.patch", "gmail_users_labels_patch"),
        ("PostCharges", "post_charges"),
        ("  weird  -- name!! ", "weird_name"),
        ("café/crème", "cafe_creme"),
        ("", ""),
    ],
)
def test_snake_case(raw: str, expected: str) -> None:
    assert snake_case(raw) == expected


def test_operation_name_falls_back_to_method_and_path() -> None:
    assert operation_name("issues/create", "post", "/repos/{owner}/{repo}/issues") == "issues_create"
    assert operation_name(None, "get", "/repos/{owner}/{repo}/issues") == "get_repos_owner_repo_issues"
    assert operation_name("   ", "delete", "/") == "delete"
    assert operation_name("2fa/enable", "post", "/x") == "op_2fa_enable"


def test_budget_follows_the_prefixed_limit() -> None:
    assert name_budget("github") == 48 - len("github") - 2
    assert name_budget("abcdefghij-klmnopqrs") == 26
    assert name_budget("github", 64) == 56
    with pytest.raises(ValueError, match="64"):
        name_budget("github", 80)
    with pytest.raises(ValueError, match="slug"):
        name_budget("a-very-long-slug-that-eats-the-budget", 48)


def test_shorten_keeps_short_names_and_whole_words() -> None:
    assert shorten("issues_create", 26) == "issues_create"
    # Filler words go first, then known abbreviations; no hash needed when that suffices.
    assert shorten("actions_get_secret_for_repository", 26) == "actions_get_secret_repo"
    long = "actions_create_or_update_environment_secret_with_extra_words"
    short = shorten(long, 26)
    assert len(short) <= 26
    assert short == shorten(long, 26)  # stable
    body, suffix = short.rsplit("_", 1)
    assert suffix == short_hash(long)
    assert all(word in long.split("_") or word in ("env",) for word in body.split("_"))


def test_shorten_cuts_a_single_overlong_word_only_when_needed() -> None:
    word = "x" * 80
    short = shorten(word, 20)
    assert len(short) <= 20 and short.endswith("_" + short_hash(word))


def test_unique_names_break_ties_with_source_hashes() -> None:
    names = ["list_items", "list_items", "get_item"]
    keys = ["GET /a", "GET /b", "GET /c"]
    result = unique_names(names, 30, keys=keys)
    assert len(set(result)) == 3
    assert result[2] == "get_item"
    assert result[0].startswith("list_items_") and result[0].endswith(short_hash("GET /a"))
    # Order of operations does not matter.
    assert unique_names(list(reversed(names)), 30, keys=list(reversed(keys))) == list(reversed(result))


def test_unique_names_distinguish_long_names_that_shorten_alike() -> None:
    prefix = "enterprise_admin_update_attribute_for_enterprise_"
    names = [prefix + "group", prefix + "user", prefix + "group_member"]
    result = unique_names(names, 26)
    assert len(set(result)) == 3
    assert all(len(n) <= 26 and is_legal_tool_name(n) for n in result)


def test_unique_names_respect_taken() -> None:
    assert unique_names(["search"], 20, taken={"search"})[0] != "search"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("expand[]", "expand"),
        ("metadata[key]", "metadata"),
        ("X-GitHub-Api-Version", "X-GitHub-Api-Version"),
        ("page.size", "page.size"),
        ("$filter", "filter"),
        ("a b", "a_b"),
        ("[]", "param"),
        ("", "param"),
    ],
)
def test_safe_property_name(wire: str, expected: str) -> None:
    assert safe_property_name(wire) == expected
    assert is_legal_property_name(safe_property_name(wire))


def test_safe_property_name_uniqueness_and_length() -> None:
    assert safe_property_name("expand[]", {"expand"}) == "expand_2"
    assert safe_property_name("expand[]", {"expand", "expand_2"}) == "expand_3"
    long = "p" * 100
    assert len(safe_property_name(long)) == 64
    assert safe_property_name(long) != safe_property_name("p" * 99 + "q")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("owner", "owner"),
        ("X-GitHub-Api-Version", "x_github_api_version"),
        ("class", "class_"),
        ("match", "match_"),
        ("2fa", "n_2fa"),
        ("pageSize", "page_size"),
        ("expand[]", "expand"),
        ("None", "none"),
        ("self", "self_"),
        ("$", "arg"),
    ],
)
def test_python_identifier(name: str, expected: str) -> None:
    ident = python_identifier(name)
    assert ident == expected
    assert ident.isidentifier() and not keyword.iskeyword(ident)


def test_python_identifier_uniqueness() -> None:
    taken = {"page_size", "call"}
    assert python_identifier("pageSize", taken) == "page_size_2"
    assert python_identifier("call", taken) == "call_2"
