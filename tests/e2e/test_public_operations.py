"""An operation its description marks public (`security: []`) is called without the user's credential.

The real hub (its tenancy, the SDK client over HTTP) serves a package whose `get_public_text` is public and whose
`get_text` needs the integration's auth; the user has connected a token. The recording upstream shows what arrived:
the token with `get_text`, nothing with `get_public_text` — no Authorization header, no API key, no cookie.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime.support import Upstream, petstore, write_package

from mcphub.compiler.ir import HttpBinding

from .conftest import TOKEN, RunningHub, start_hub


@pytest.fixture(scope="module")
def public_hub(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    integration = petstore(upstream.base_url, slug="open")
    needs_auth = integration.tool("get_text")
    public = needs_auth.model_copy(
        update={"name": "get_public_text", "http": HttpBinding(method="GET", path="/text", security=[])}
    )
    integration.tools.append(public)
    catalog = tmp_path_factory.mktemp("catalog")
    write_package(integration, catalog)
    yield from start_hub(catalog, upstream)


async def test_a_public_operation_gets_no_credential_and_the_others_still_do(
    public_hub: RunningHub, upstream: Upstream
) -> None:
    async with public_hub.client() as client:
        authenticated = await client.call_tool("open__get_text", {})
        assert authenticated.is_error is False, authenticated.content
        assert upstream.last().path == "/text"
        assert upstream.last().headers["authorization"] == f"Bearer {TOKEN}"

        anonymous = await client.call_tool("open__get_public_text", {})
        assert anonymous.is_error is False, anonymous.content
        sent = upstream.last()
    assert sent.path == "/text"
    assert TOKEN not in str(sent.headers), sent.headers
    assert not {"authorization", "x-api-key", "cookie"} & set(sent.headers), sent.headers
