"""Issue 9's CLI dead ends around accounts, as real `mcphub` processes on SQLite and PostgreSQL.

#1 commands act for the operator once several users exist, #8 key scopes are checked against the catalog,
#9 integrations that need no credential are enabled for new users, #11 `--json` errors are JSON.
"""

from __future__ import annotations

import re
from pathlib import Path

from cli.conftest import Run, as_json, create_user, run_cli, write_catalog


def test_commands_act_for_the_operator_once_several_users_exist(mcphub: Run, env: dict[str, str]) -> None:
    assert create_user(env, "ada@example.com")["is_admin"]  # the first user: the hub's admin, its operator
    create_user(env, "bob@example.com")

    created = mcphub("keys", "create", "--name", "laptop")  # the command the first-run banner suggests
    assert re.search(r"mcp_sk_[A-Za-z0-9_-]{43}", created.stdout)
    assert "of ada@example.com" in created.stdout
    assert "as ada@example.com, the operator" in created.stderr
    listed = mcphub("keys", "list", "--json")
    assert [k["name"] for k in as_json(listed)] == ["laptop"] and "ada@example.com" in listed.stderr
    for command in (["usage"], ["logs"], ["usage", "--json"], ["logs", "--json"]):
        done = mcphub(*command)
        assert "as ada@example.com" in done.stderr, command

    bob = {**env, "MCPHUB_USER": "bob@example.com"}  # a configured default
    mine = run_cli(bob, "keys", "list", "--json")
    assert as_json(mine) == [] and "as bob@example.com (MCPHUB_USER" in mine.stderr
    explicit = mcphub("keys", "list", "--user", "bob@example.com", "--json")
    assert as_json(explicit) == [] and explicit.stderr == ""  # named on the command line: nothing to say
    missing = run_cli({**env, "MCPHUB_USER": "carol@example.com"}, "keys", "list", code=1)
    assert "no user carol@example.com (MCPHUB_USER)" in missing.stderr


def test_errors_are_json_with_json(mcphub: Run, env: dict[str, str]) -> None:
    failed = mcphub("keys", "list", "--user", "nobody@example.com", "--json", code=1)
    assert as_json(failed) == {
        "error": {"message": "no user nobody@example.com (--user); `mcphub users list` shows them", "exit_code": 1}
    }
    usage = as_json(mcphub("keys", "create", "--json", code=2))  # --name is missing
    assert usage["error"]["kind"] == "usage" and "--name" in usage["error"]["message"]
    plain = mcphub("keys", "list", "--user", "nobody@example.com", code=1)
    assert plain.stdout == "" and plain.stderr.startswith("Error: no user nobody@example.com")


def test_key_scopes_are_checked_against_the_catalog(mcphub: Run, env: dict[str, str], tmp_path: Path) -> None:
    catalog = str(write_catalog(tmp_path / "catalog"))
    create_user(env, "ada@example.com")
    typo = mcphub("keys", "create", "--name", "k", "--scope", "tme", "--catalog", catalog, "--json", code=1)
    assert as_json(typo)["error"]["message"] == (
        "scope 'tme': no integration 'tme' in the catalog; did you mean 'time'?"
    )
    tool = mcphub("keys", "create", "--name", "k", "--scope", "time__get_curent_time", "--catalog", catalog, code=1)
    assert "time has no tool 'get_curent_time'; did you mean 'time__get_current_time'?" in tool.stderr
    assert mcphub("keys", "list", "--json").stdout.strip() == "[]"  # nothing was created
    made = as_json(mcphub("keys", "create", "--name", "k", "--scope", "time", "--catalog", catalog, "--json"))
    assert made["key"]["scope"] == ["time"]


def test_new_users_get_the_integrations_that_need_no_credential(
    mcphub: Run, env: dict[str, str], tmp_path: Path
) -> None:
    catalog = str(write_catalog(tmp_path / "catalog"))
    create_user(env, "ada@example.com", "--catalog", catalog)
    bob = create_user(env, "bob@example.com", "--catalog", catalog)
    assert not bob["is_admin"] and bob["enabled"] == ["time"]
    states = {
        i["slug"]: i
        for i in as_json(mcphub("integrations", "list", "--user", "bob@example.com", "--catalog", catalog, "--json"))
    }
    assert states["time"] == {**states["time"], "enabled": True, "connected": True, "needs_credential": False}
    assert states["github"] == {**states["github"], "enabled": False, "connected": False, "needs_credential": True}
    table = mcphub("integrations", "list", "--user", "bob@example.com", "--catalog", catalog).stdout
    assert re.search(r"^time\s+Time\s+yes\s+not needed\s+none$", table, flags=re.MULTILINE), table

    carol = create_user({**env, "MCPHUB_NEW_USER_INTEGRATIONS": "none"}, "carol@example.com", "--catalog", catalog)
    assert carol["enabled"] == []
    dave = create_user({**env, "MCPHUB_NEW_USER_INTEGRATIONS": "github"}, "dave@example.com", "--catalog", catalog)
    assert dave["enabled"] == ["github"]


def test_a_key_view_is_chosen_at_creation_and_listed(mcphub: Run, env: dict[str, str]) -> None:
    create_user(env, "ada@example.com")
    created = as_json(mcphub("keys", "create", "--name", "agent", "--view", "search", "--json"))
    assert created["key"]["view"] == "search"
    mcphub("keys", "create", "--name", "plain")
    assert [(k["name"], k["view"]) for k in as_json(mcphub("keys", "list", "--json"))] == [
        ("agent", "search"),
        ("plain", "flat"),
    ]
    assert "VIEW" in mcphub("keys", "list").stdout
    wrong = mcphub("keys", "create", "--name", "x", "--view", "tree", code=2)
    assert "'tree' is not one of 'flat', 'search', 'auto'" in wrong.stderr
