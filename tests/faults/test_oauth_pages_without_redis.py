"""The OAuth sign-in page and client registration while Redis is down on a hub set to fail closed.

With `MCPHUB_LIMITS_WITHOUT_REDIS=closed` the rate limits cannot be checked, so these unauthenticated endpoints
refuse — with 503 and the error the rest of the hub gives (the sign-in form again, saying why; an OAuth JSON
error), never a 500 — and work again once Redis is back. A real `mcphub serve`, a redis-server of the test's own.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import httpx2
from runtime.support import Upstream, serve
from support.hub_process import hub_env, hub_process

from faults.petstore_hub import petstore_hub
from faults.redis_server import own_redis

PASSWORD = "correct horse battery staple"  # runtime.support.make_account's
REDIRECT = "http://127.0.0.1:9/callback"
RECOVERY_WAIT_S = 30.0


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page
    return html.unescape(found.group(1))


async def _consent_page(http: httpx2.AsyncClient) -> httpx2.Response:
    """Register a public client and start authorization: the hub's sign-in form for it."""
    registered = await http.post(
        "/oauth/register",
        json={"redirect_uris": [REDIRECT], "client_name": "Probe", "token_endpoint_auth_method": "none"},
    )
    assert registered.status_code == 201, registered.text
    query = {
        "response_type": "code",
        "client_id": registered.json()["client_id"],
        "redirect_uri": REDIRECT,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "state": "s",
        "scope": "mcp",
    }
    page = await http.get("/oauth/authorize", params=query, follow_redirects=True)
    assert page.status_code == 200 and 'name="action" value="signin"' in page.text, page.text
    return page


async def test_sign_in_page_and_registration_answer_503_while_redis_is_down(tmp_path: Path) -> None:
    upstream = Upstream()
    with serve(upstream) as upstream_url, own_redis(tmp_path) as redis:
        upstream.base_url = upstream_url
        hub = await petstore_hub(tmp_path, upstream_url, enable=["pets"])
        ada = hub.ada
        env = hub_env(hub.db_url, hub.data_dir, MCPHUB_REDIS_URL=redis.url, MCPHUB_LIMITS_WITHOUT_REDIS="closed")
        with hub_process(env, hub.catalog) as base:
            [log] = tmp_path.glob("hub-*.log")  # where hub_process writes the hub's output
            async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
                page = await _consent_page(http)
                form = {
                    "request": _hidden(page.text, "request"),
                    "csrf": _hidden(page.text, "csrf"),
                    "action": "signin",
                    "email": ada.email,
                    "password": PASSWORD,
                }

                redis.stop()
                signed_in = await http.post("/oauth/consent", data=form)
                registered = await http.post("/oauth/register", json={"redirect_uris": [REDIRECT]})

                assert signed_in.status_code == 503, signed_in.text
                assert signed_in.headers["content-type"].startswith("text/html")
                assert 'role="alert"' in signed_in.text
                assert "MCPHUB_LIMITS_WITHOUT_REDIS=closed" in html.unescape(signed_in.text)
                assert f'value="{ada.email}"' in signed_in.text  # the form again, to retry
                assert registered.status_code == 503, registered.text
                assert registered.json()["error"] == "temporarily_unavailable"
                assert "MCPHUB_LIMITS_WITHOUT_REDIS=closed" in registered.json()["error_description"]

                redis.start()
                retry = {**form, "csrf": _hidden(signed_in.text, "csrf")}
                give_up = time.monotonic() + RECOVERY_WAIT_S
                while (again := await http.post("/oauth/consent", data=retry)).status_code == 503:
                    assert time.monotonic() < give_up, again.text  # Redis is asked again once a second
                    retry["csrf"] = _hidden(again.text, "csrf")
                assert again.status_code == 303, again.text  # signed in: on to the consent page
        text = log.read_text()
    assert "500 Internal Server Error" not in text, text
    assert "Traceback" not in text, text
