"""`mcphub oauth connect` end to end: a real hub process, the CLI in its own process, a real OAuth server.

The operator runs `mcphub oauth connect octo --user ada@…`, opens the printed link (played here by an HTTP
client with no hub session, as a browser on another machine would be), the provider (authlib, on
127.0.0.1) sends it back to the running hub's /oauth/callback/octo, the hub stores the tokens, the
command sees them and says "connected", and Ada's open MCP session gets the new tools and can call them.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import IncomingMessage
from runtime.support import make_account, mcp_client, write_package
from support.hub_process import MCPHUB, cli, hub_env, hub_process

from mcphub.compiler.ir import (
    AuthScheme,
    HttpBinding,
    Integration,
    OAuthFlow,
    Policy,
    SourceInfo,
    Tool,
    ToolAnnotations,
)
from mcphub.runtime.tenancy.services import Tenancy

from .oauth_server import Client, OAuthTestServer, Running

WAIT_S = 30.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[Running]:
    running = Running(OAuthTestServer())
    yield running
    running.stop()


def _octo(url: str) -> Integration:
    flow = OAuthFlow(
        kind="authorization_code", authorization_url=f"{url}/authorize", token_url=f"{url}/token", scopes={"read": ""}
    )
    return Integration(
        slug="octo",
        name="Octo",
        source=SourceInfo(kind="openapi"),
        base_url=url,
        auth=[AuthScheme(id="oauth", type="oauth2", flows=[flow], scopes=["read"])],
        tools=[
            Tool(
                name="me",
                description="Who the token belongs to.",
                input_schema={"type": "object", "properties": {}},
                http=HttpBinding(method="GET", path="/api/me"),
                annotations=ToolAnnotations(readOnlyHint=True),
            )
        ],
        policy=Policy(allow_private_network=True, allowed_hosts=["127.0.0.1"], timeout_s=5),
    )


async def _line(process: subprocess.Popen[str], starts: str) -> str:
    """The first line of the process's output that starts with `starts` (after stripping)."""
    assert process.stdout is not None
    with anyio.fail_after(WAIT_S):
        while True:
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, "the command ended without printing the link"
            if line.strip().startswith(starts):
                return line.strip()


async def test_oauth_connect_from_the_cli_completes_through_the_running_hub(
    tenancy: Tenancy, db_url: str, upstream: Running, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    write_package(_octo(upstream.url), catalog)
    ada = await make_account(tenancy, "ada@example.com", enable=["octo"])
    await make_account(tenancy, "bob@example.com")
    env = hub_env(db_url, tenancy.data_dir)
    changed = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    with hub_process(env, catalog) as base:
        callback = f"{base}/oauth/callback/octo"
        upstream.oauth.clients["cli-client"] = Client("cli-client", "cli-secret-value-42", [callback])
        cli(
            env,
            "oauth",
            "set-client",
            "octo",
            "--client-id",
            "cli-client",
            "--secret-stdin",
            input="cli-secret-value-42\n",
        )
        async with mcp_client(f"{base}/mcp", ada.key, mode="legacy", message_handler=on_message) as agent:
            assert not [t for t in (await agent.list_tools()).tools if t.name.startswith("octo__")]  # not connected

            command = [*MCPHUB, "oauth", "connect", "octo", "--user", ada.email, "--catalog", str(catalog)]
            command += ["--hub-url", base, "--timeout", str(int(WAIT_S))]
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                link = await _line(process, f"{upstream.url}/authorize?")
                # The browser: the provider's consent (auto-approved) redirects to the hub's callback.
                async with httpx2.AsyncClient() as browser:
                    consent = await browser.get(link)
                    assert consent.status_code == 302
                    assert consent.headers["location"].startswith(f"{callback}?")
                    landed = await browser.get(consent.headers["location"])
                assert landed.status_code == 200 and "Octo connected" in landed.text
                assert process.stdout is not None
                rest = await asyncio.to_thread(process.stdout.read)
                assert await asyncio.to_thread(process.wait, WAIT_S) == 0, rest
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            assert "Connected Octo for ada@example.com." in rest

            with anyio.fail_after(WAIT_S):
                await changed.wait()
            tools = {t.name for t in (await agent.list_tools(cache_mode="refresh")).tools}
            assert "octo__me" in tools
            result = await agent.call_tool("octo__me", {})
            assert result.is_error is False
            assert "octocat" in "".join(b.text for b in result.content if isinstance(b, types.TextContent))

    # Only Ada is connected; the token is hers, sealed.
    fields = await tenancy.credentials.fields(ada.user_id, "octo")
    assert fields is not None and fields["token"] and fields["refresh_token"]
    assert await tenancy.credentials.fields(ada.user_id + 1, "octo") is None


async def test_oauth_connect_times_out_with_a_clear_message(
    tenancy: Tenancy, db_url: str, upstream: Running, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    write_package(_octo(upstream.url), catalog)
    ada = await make_account(tenancy, "ada@example.com", enable=["octo"])
    env = hub_env(db_url, tenancy.data_dir)
    await asyncio.to_thread(
        cli, env, "oauth", "set-client", "octo", "--client-id", "cli-client", "--secret-stdin", input="s3cret-value\n"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [*MCPHUB, "oauth", "connect", "octo", "--user", ada.email, "--catalog", str(catalog), "--timeout", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"{upstream.url}/authorize?" in done.stdout
    assert "Octo was not connected within 1 s; run the command again" in done.stderr
    listed: Any = await asyncio.to_thread(
        cli, env, "oauth", "connect", "octo", "--user", ada.email, "--catalog", str(catalog), "--no-wait", "--json"
    )
    assert '"authorization_url"' in listed.stdout and "/oauth/callback/octo" in listed.stdout
