"""A plain-language API description → the real `anthropic` client → a local fake Messages API → a compiled draft.

The fake replays hand-written answers keyed by the exact request (tests/fixtures/llm), so these tests pin the
prompts as well: a changed prompt fails loudly until its answer is written again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from integrations.hubs import RunningHub, spec_hub
from runtime.support import Recorded, Upstream, serve
from starlette.types import Send

from builder.fake_messages_api import FakeMessagesApi, fake_messages_api
from mcphub.compiler.llm import LLM, LLMError, LLMUnavailable, llm_from_env
from mcphub.compiler.sources.text import draft_from_text

ACME = """Acme Invoicing has a REST API at https://api.acme-invoicing.example/v2. Authenticate with a bearer token.

You can list invoices (GET /invoices, optionally filtered by status: draft, open or paid), fetch one invoice by its
id (GET /invoices/{invoice_id}), and create an invoice for a customer with POST /invoices, sending the customer_id
and the amount in cents. You can also void an invoice, which cannot be undone.
"""

TERSE = "Weather service: get the forecast for a city. Needs an API key."


@pytest.fixture
def fake() -> Iterator[tuple[str, FakeMessagesApi]]:
    with fake_messages_api() as running:
        yield running


def llm_for(base_url: str) -> LLM:
    return llm_from_env({"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": base_url})


def test_without_a_key_the_llm_says_what_to_set() -> None:
    with pytest.raises(LLMUnavailable, match="set ANTHROPIC_API_KEY") as caught:
        llm_from_env({})
    assert "Postman collections need no LLM" in str(caught.value)


def test_a_text_becomes_a_compiled_draft_with_its_guesses_marked(fake: tuple[str, FakeMessagesApi]) -> None:
    base_url, server = fake
    llm = llm_for(base_url)
    build = draft_from_text(ACME, llm, slug="acme", where="acme.txt")

    assert [tool.name for tool in build.integration.tools] == [
        "list_invoices",
        "create_invoice",
        "get_invoice",
        "void_invoice",
    ]
    assert build.integration.base_url == "https://api.acme-invoicing.example/v2"
    assert [scheme.type for scheme in build.integration.auth] == ["bearer"]
    create = next(tool for tool in build.integration.tools if tool.name == "create_invoice")
    assert set(create.input_schema["required"]) == {"customer_id", "amount"}
    void = next(tool for tool in build.integration.tools if tool.name == "void_invoice")
    assert void.annotations.destructive_hint is True
    assert build.document["paths"]["/invoices/{invoice_id}/void"]["post"]["x-mcphub-guessed"] == ["path"]
    assert "Guessed from the text" in (void.description or "")
    assert build.rounds == 1

    assert llm.usage.requests == 1 and llm.usage.input_tokens > 0 and llm.usage.output_tokens > 0
    assert llm.usage.cost_usd is not None and llm.usage.cost_usd > 0
    [request] = server.requests
    assert request["model"] == "claude-sonnet-5-5"
    assert "untrusted input" in request["system"]
    assert request["output_config"]["format"]["type"] == "json_schema"


def test_compile_problems_go_back_to_the_model_until_the_draft_compiles(fake: tuple[str, FakeMessagesApi]) -> None:
    base_url, server = fake
    llm = llm_for(base_url)
    build = draft_from_text(TERSE, llm, slug="weather", where="weather.txt")
    assert build.rounds == 2
    assert any("is not an absolute http(s) URL" in problem for problem in build.problems_fixed)
    assert "The compiler rejected this draft" in server.requests[1]["messages"][0]["content"]
    assert build.integration.base_url == "https://api.weather.example"
    assert build.document["x-mcphub-guessed"] == ["base_url", "auth"]
    assert [tool.name for tool in build.integration.tools] == ["get_forecast"]
    assert llm.usage.requests == 2


def test_an_unrecorded_request_fails_loudly(fake: tuple[str, FakeMessagesApi]) -> None:
    base_url, _ = fake
    with pytest.raises(LLMError, match="no recording for request"):
        draft_from_text("An API nobody recorded.", llm_for(base_url), slug="nobody")


class Invoices(Upstream):
    """api.acme-invoicing.example as the text describes it: records requests, answers a created invoice."""

    async def _answer(self, r: Recorded, send: Send) -> None:
        created = {"id": "inv_1", "status": "draft", **json.loads(r.body or b"{}")}
        payload = json.dumps(created).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def invoices() -> Iterator[Upstream]:
    upstream = Invoices()
    with serve(upstream) as base:
        upstream.base_url = base
        yield upstream


@pytest.fixture
def hub(tmp_path: Path, invoices: Upstream) -> Iterator[RunningHub]:
    """The draft made from ACME, written as a spec (base URL pointed at the stand-in) and served by the real hub."""
    with fake_messages_api() as (base_url, _):
        build = draft_from_text(ACME, llm_for(base_url), slug="acme", where="acme.txt")
    (tmp_path / "acme.openapi.json").write_text(json.dumps(build.document), encoding="utf-8")
    spec = {
        "slug": "acme",
        "name": "Acme Invoicing",
        "source": {"kind": "openapi", "path": "acme.openapi.json"},
        "base_url": invoices.base_url,
        "policy": {"allow_private_network": True},
    }
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    with spec_hub(tmp_path / "acme.yaml", {"acme": {"token": "acme-secret"}}) as running:
        yield running


async def test_a_tool_built_from_text_is_called_through_the_hub(hub: RunningHub, invoices: Upstream) -> None:
    async with hub.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"acme__list_invoices", "acme__create_invoice", "acme__get_invoice"} <= names
        result = await client.call_tool("acme__create_invoice", {"customer_id": "cus_42", "amount": 1999})
        assert result.is_error is False, result.content
        sent = invoices.last()
        assert (sent.method, sent.path) == ("POST", "/invoices")
        assert json.loads(sent.body) == {"customer_id": "cus_42", "amount": 1999}
        assert sent.headers["authorization"] == "Bearer acme-secret"
        assert result.structured_content == {"id": "inv_1", "status": "draft", "customer_id": "cus_42", "amount": 1999}
