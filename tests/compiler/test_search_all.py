"""`search: all`: the operations a spec does not curate compile too, off the flat list (`listed: false`)."""

from __future__ import annotations

import json
from pathlib import Path

from test_curate import curate, curation_error


def test_search_all_compiles_the_rest_unlisted_and_keeps_destructive_ones_disabled(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools: [meta/root, {operation: issues/create, name: file_issue}]\nsearch: all\n")
    listed = {t.name: (t.listed, t.enabled) for t in result.tools}
    assert listed == {
        "meta_root": (True, True),
        "file_issue": (True, True),
        "issues_list_for_repo": (False, True),
        "post_repos_owner_repo_issues_comments": (False, True),
        "repos_delete": (False, False),  # DELETE: disabled unless the spec lists it with enabled: true
        "gists_delete": (False, False),
    }
    manifest = json.loads(result.to_manifest())
    assert [t.get("listed") for t in manifest["tools"]][:3] == [None, None, False]  # key omitted when listed


def test_a_curated_destructive_operation_can_still_be_enabled(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools: [meta/root, {operation: repos/delete, enabled: true}]\nsearch: all\n")
    assert {t.name: (t.listed, t.enabled) for t in result.tools}["repos_delete"] == (True, True)


def test_search_all_needs_curated_tools_and_excludes_include_all(tmp_path: Path) -> None:
    assert "search" in curation_error(tmp_path, "search: all\n")
    error = curation_error(tmp_path, "tools: [meta/root]\nsearch: all\ninclude: all\n")
    assert "search" in error and "include" in error and "keep one" in error
    assert "search" in curation_error(tmp_path, "tools: [meta/root]\nsearch: everything\n")


def test_unlisted_names_too_long_cite_search(tmp_path: Path) -> None:
    error = curation_error(tmp_path, "max_name_length: 30\ntools: [meta/root]\nsearch: all\n")
    assert error.startswith("specs/demo.yaml:6: search 'all' gives tool"), error


def test_search_all_leaves_out_what_the_policy_refuses_and_what_the_spec_excludes(tmp_path: Path) -> None:
    text = (
        "tools: [meta/root]\nsearch: all\nsearch_exclude: [issues/list-for-repo]\n"
        "policy: {allowed_methods: [GET, POST]}\n"
    )
    names = [t.name for t in curate(tmp_path, text).tools]
    # DELETE is not allowed by the policy: those operations could never be called, so search never offers them.
    assert names == ["meta_root", "issues_create", "post_repos_owner_repo_issues_comments"]
    error = curation_error(tmp_path, "tools: [meta/root]\nsearch: all\nsearch_exclude: [issues/crate]\n")
    assert "search_exclude[0]" in error and "did you mean 'issues/create'" in error
    assert "search_exclude" in curation_error(tmp_path, "tools: [meta/root]\nsearch_exclude: [meta/root]\n")
