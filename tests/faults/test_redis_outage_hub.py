"""A real `mcphub serve` process whose Redis goes away and comes back (a redis-server of the test's own).

While Redis is down, sign-in and sign-up answer as usual (never 500), tool calls keep working under
per-process limits (`MCPHUB_LIMITS_WITHOUT_REDIS=local`, the default) or are refused with a clear message
(`closed`); the hub's log says so once per outage, once on recovery, and logs no traceback per call.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import mcp_types as types
import pytest
from runtime.support import Upstream, mcp_client, serve
from support.hub_process import hub_env, hub_process

from faults.petstore_hub import petstore_hub
from faults.redis_server import own_redis

PASSWORD = "correct horse battery staple"  # runtime.support.make_account's
CALLS = 30
RECOVERY_WAIT_S = 30.0


def _text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


@pytest.mark.parametrize("mode", ["local", "closed"])
async def test_sign_in_and_tool_calls_while_redis_is_down(tmp_path: Path, mode: str) -> None:
    recorder = Upstream()
    with serve(recorder) as upstream_base, own_redis(tmp_path) as redis:
        recorder.base_url = upstream_base
        hub = await petstore_hub(tmp_path, upstream_base, enable=["pets"], credentials={"pets": {"token": "t"}})
        ada = hub.ada
        env = hub_env(
            hub.db_url,
            hub.data_dir,
            MCPHUB_REDIS_URL=redis.url,
            MCPHUB_LIMITS_WITHOUT_REDIS=mode,
            MCPHUB_KEY_RATE_LIMIT="6000/min",  # every tool call takes a token from Redis
        )
        with hub_process(env, hub.catalog) as base:
            [log] = tmp_path.glob("hub-*.log")  # where hub_process writes the hub's output
            sign_in = {"email": ada.email, "password": PASSWORD}
            async with httpx2.AsyncClient(base_url=base) as http, mcp_client(f"{base}/mcp", ada.key) as client:
                assert (await http.post("/api/v1/auth/sign-in", json=sign_in)).status_code == 200
                assert not (await client.call_tool("pets__get_text", {})).is_error

                redis.stop()
                results = [await client.call_tool("pets__get_text", {}) for _ in range(CALLS)]
                signed_in = await http.post("/api/v1/auth/sign-in", json=sign_in)
                signed_up = await http.post("/api/v1/auth/sign-up", json={"email": "eve@x.io", "password": "p" * 12})
                if mode == "local":
                    assert [r.is_error for r in results] == [False] * CALLS
                    assert signed_in.status_code == 200
                    assert signed_up.status_code in (201, 403)  # as the hub's sign-up policy says (issue 11 #2)
                else:
                    assert all(r.is_error for r in results)
                    assert "MCPHUB_LIMITS_WITHOUT_REDIS=closed" in _text(results[0])
                    assert signed_in.status_code == signed_up.status_code == 503
                    assert signed_in.json()["error"]["code"] == "limits_unavailable"
                during = log.read_text()

                redis.start()
                give_up = time.monotonic() + RECOVERY_WAIT_S
                while "Redis answers again" not in log.read_text():  # Redis is asked again once a second
                    assert time.monotonic() < give_up, log.read_text()
                    await client.call_tool("pets__get_text", {})
                assert not (await client.call_tool("pets__get_text", {})).is_error
                assert (await http.post("/api/v1/auth/sign-in", json=sign_in)).status_code == 200
        after = log.read_text()
    assert during.count("Redis is unreachable for rate limits") == 1, during
    assert f"MCPHUB_LIMITS_WITHOUT_REDIS={mode}" in during
    assert "not checked" not in during
    assert "Traceback" not in during  # the outage is one line per subsystem, not a traceback per call or retry
    assert "subscription to mcphub:keys:invalidate lost" in during
    assert after.count("Redis answers again") == 1
    assert after.count("Redis is unreachable for rate limits") == 1
    assert after.count("subscription to mcphub:keys:invalidate lost") == 1
    assert "Traceback" not in after
