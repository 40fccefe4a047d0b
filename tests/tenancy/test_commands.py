"""The tenancy CLI end to end on both databases: users, keys, integrations, credentials, usage, logs, db, secrets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from mcphub.commands import register
from mcphub.compiler.ir import Integration


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Callable[..., Result]:
    main = click.Group("mcphub")
    register(main)
    runner = CliRunner()
    env = {"MCPHUB_DATABASE_URL": db_url, "MCPHUB_DATA_DIR": str(tmp_path / "data")}

    def invoke(*args: str, input: str | None = None, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args), input=input, env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def _json(result: Result) -> Any:
    return json.loads(result.output)


def test_cli_end_to_end(
    cli: Callable[..., Result], tmp_path: Path, make_integration: Callable[..., Integration]
) -> None:
    catalog = tmp_path / "catalog"
    (catalog / "github").mkdir(parents=True)
    (catalog / "github" / "manifest.json").write_text(make_integration("github").to_manifest())

    assert (
        "admin" in cli("users", "create", "ada@example.com", "--password-stdin", input="correct horse battery\n").output
    )
    cli("users", "create", "bob@example.com", input="another long password\nanother long password\n")
    assert [u["email"] for u in _json(cli("users", "list", "--json"))] == ["ada@example.com", "bob@example.com"]
    assert cli("keys", "list").output.startswith("mcphub: as ada@example.com, the operator")  # the first admin

    created = cli(
        "keys", "create", "--user", "ada@example.com", "--name", "laptop", "--scope", "github", "--expires-in", "7d"
    )
    secret = re.search(r"mcp_sk_[A-Za-z0-9_-]{43}", created.output)
    assert secret and "shown once" in created.output
    listed = cli("keys", "list", "--user", "ada@example.com")
    assert "laptop" in listed.output and secret.group(0) not in listed.output and "active" in listed.output
    [key] = _json(cli("keys", "list", "--user", "ada@example.com", "--json"))
    assert key["scope"] == ["github"] and secret.group(0).startswith(key["prefix"])

    rotated = _json(cli("keys", "rotate", str(key["id"]), "--user", "ada@example.com", "--grace", "0", "--json"))
    assert rotated["secret"] != secret.group(0) and rotated["key"]["id"] == key["id"]
    assert "no key" in cli("keys", "revoke", str(key["id"]), "--user", "bob@example.com", ok=False).output
    assert "revoked" in cli("keys", "revoke", str(key["id"]), "--user", "ada@example.com").output

    assert (
        "unknown"
        not in cli("integrations", "enable", "github", "--catalog", str(catalog), "--user", "ada@example.com").output
    )
    assert (
        "no integration 'nope'"
        in cli(
            "integrations", "enable", "nope", "--catalog", str(catalog), "--user", "ada@example.com", ok=False
        ).output
    )
    cli("credentials", "set", "github", "--user", "ada@example.com", "--stdin", input="ghp_from_stdin_0123456789\n")
    cli(
        "credentials",
        "set",
        "jira",
        "--user",
        "bob@example.com",
        "--username",
        "bob",
        "--var",
        "site=acme",
        input="bob-password-xyz\n",
    )
    [ada_cred] = _json(cli("credentials", "list", "--user", "ada@example.com", "--json"))
    assert ada_cred["slug"] == "github" and ada_cred["fields"] == ["token"]
    [bob_cred] = _json(cli("credentials", "list", "--user", "bob@example.com", "--json"))
    assert bob_cred["fields"] == ["password", "server_variables", "username"]
    states = {
        i["slug"]: i
        for i in _json(cli("integrations", "list", "--catalog", str(catalog), "--user", "ada@example.com", "--json"))
    }
    assert states["github"]["enabled"] and states["github"]["connected"]

    assert "no calls" in cli("usage", "--user", "ada@example.com").output
    assert _json(cli("usage", "--all", "--json")) == []
    assert _json(cli("usage", "--monthly", "--all", "--json")) == []
    assert _json(cli("logs", "--user", "ada@example.com", "--json")) == []

    assert "is at" in cli("db", "upgrade").output
    assert re.fullmatch(r"\w+\n", cli("db", "current").output)
    report = _json(cli("secrets", "rotate", "--settle", "0", "--json"))
    assert report["remaining"] == 0 and report["reencrypted"] >= 3
    assert _json(cli("credentials", "list", "--user", "bob@example.com", "--json"))[0]["slug"] == "jira"
    assert len(cli("secrets", "generate").output.strip()) == 43

    assert "Deleted" in cli("credentials", "delete", "github", "--user", "ada@example.com").output
    assert cli("credentials", "delete", "github", "--user", "ada@example.com", ok=False).exit_code == 1


def test_cli_oauth_clients(cli: Callable[..., Result]) -> None:
    assert (
        "needs a client secret"
        in cli("oauth", "set-client", "github", "--client-id", "abc", "--secret-stdin", input="\n", ok=False).output
    )
    cli(
        "oauth",
        "set-client",
        "github",
        "--client-id",
        "abc",
        "--revocation-url",
        "https://x/revoke",
        input="s3cret-value\n",
    )
    cli("oauth", "set-client", "public", "--client-id", "pub", "--token-auth", "none")
    listed = cli("oauth", "clients")
    assert "github" in listed.output and "s3cret-value" not in listed.output
    assert [c["has_secret"] for c in _json(cli("oauth", "clients", "--json"))] == [True, False]
    assert "Removed" in cli("oauth", "delete-client", "public").output
    assert cli("oauth", "delete-client", "public", ok=False).exit_code == 1
