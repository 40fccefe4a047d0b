"""`mcphub augment`: the real `anthropic` client against the local fake Messages API, a reviewable file, and a compile
that applies it without any LLM — down to a renamed argument reaching the upstream under its wire name.

The spec (tests/compiler/fixtures/augment) is small on purpose: a collapsed `page[limit]`/`page[cursor]` pair that the
compiler can only call `page` and `query_page`, a name cut to the budget with a hash suffix, a POST that cancels and
refunds (destructive, though not a DELETE), and one tool the spec already curates (its name and description win).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from integrations.hubs import RunningHub, running_hub
from runtime.support import Recorded, Upstream, serve
from starlette.types import Send

from builder.fake_messages_api import FakeMessagesApi, fake_messages_api
from mcphub.commands.augment import augment
from mcphub.compiler.augment import sha256_file
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, compile_target

FIXTURES = Path(__file__).resolve().parents[1] / "compiler" / "fixtures" / "augment"
CANCEL = "cancelOrderAndRefundAllLineItemsToTheOriginalPaymentMethod"


@pytest.fixture
def fake() -> Iterator[tuple[str, FakeMessagesApi]]:
    with fake_messages_api() as running:
        yield running


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    shutil.copytree(FIXTURES, folder)
    return folder


def run_augment(specs: Path, base_url: str, *args: str, key: str = "sk-ant-test") -> Result:
    env = {"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": base_url, "MCPHUB_LLM_MODEL": "", "MCPHUB_LLM_PRICE": ""}
    return CliRunner().invoke(augment, ["shop", "--specs", str(specs), *args], env=env, catch_exceptions=False)


def compiled(specs: Path, out: Path) -> tuple[Integration, list[str]]:
    report = compile_target(Target(specs / "shop.yaml", is_spec=True), out)
    assert report.error is None, report.error
    manifest = Integration.from_manifest((out / "shop" / "manifest.json").read_text(encoding="utf-8"))
    return manifest, report.warnings


def test_augment_writes_a_reviewable_file_that_compile_applies(
    fake: tuple[str, FakeMessagesApi], specs: Path, tmp_path: Path
) -> None:
    base_url, server = fake
    before, _ = compiled(specs, tmp_path / "before")

    result = run_augment(specs, base_url, "--batch-size", "2")
    assert result.exit_code == 0, result.output
    # Progress per batch, weakest first: the hash-suffixed name and the undocumented list go in the first batch.
    assert "batch 1/2: cancel_order_refund_all_line_items_nf4f, list_orders" in result.stderr
    assert "batch 2/2: get_order_by_id" in result.stderr
    assert "claude-sonnet-5-5: 2 requests" in result.stdout and "$0.0" in result.stdout
    assert "descriptions 63/100 → " in result.stdout
    assert len(server.requests) == 2
    assert "untrusted data" in server.requests[0]["system"]
    assert "at most 42 characters" in server.requests[0]["messages"][0]["content"]

    path = specs / "shop.augment.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Proposals of the LLM augment pass for `shop` (claude-sonnet-5-5: 2 requests, ")
    written = yaml.safe_load(text)
    assert written["source_sha256"] == sha256_file(specs / "shop.openapi.yaml")
    assert written["spec_sha256"] == sha256_file(specs / "shop.yaml")
    assert written["usage"]["requests"] == 2 and written["usage"]["input_tokens"] > 0
    assert list(written["tools"]) == [
        "getOrder",
        "listOrders",
        "cancelOrderAndRefundAllLineItemsToTheOriginalPaymentMethod",
    ]

    # What the spec curates itself (getOrder's name and description) is not written: a compile would ignore it.
    assert set(written["tools"]["getOrder"]) == {"arguments"}

    after, warnings = compiled(specs, tmp_path / "after")
    names = [tool.name for tool in after.tools]
    assert names == ["get_order_by_id", "list_orders", "delete_order", "cancel_and_refund_order"]
    listing = after.tool("list_orders")
    assert listing.description.startswith("Lists the shop's orders")
    assert [(arg.name, arg.wire_name) for arg in listing.http.args] == [  # type: ignore[union-attr]
        ("page_limit", "page[limit]"),
        ("page_cursor", "page[cursor]"),
        ("status", "status"),
    ]
    assert listing.input_schema["properties"]["page_limit"]["examples"] == [25]
    assert "previous page" in listing.input_schema["properties"]["page_cursor"]["description"]
    # The spec curates this tool's name and description: the file's proposals for them lose; its argument text wins.
    curated = after.tool("get_order_by_id")
    assert curated.description == before.tool("get_order_by_id").description
    assert "ord_" in curated.input_schema["properties"]["order_id"]["description"]
    # Cancelling and refunding cannot be undone: flagged destructive, so it is opt-in like a DELETE.
    cancel = after.tool("cancel_and_refund_order")
    assert cancel.annotations.destructive_hint is True and cancel.enabled is False
    assert any("'cancel_and_refund_order' is destructive and stays disabled" in w for w in warnings)


def test_a_second_run_keeps_the_entries_and_asks_nothing(fake: tuple[str, FakeMessagesApi], specs: Path) -> None:
    base_url, server = fake
    assert run_augment(specs, base_url, "--batch-size", "2").exit_code == 0
    first = (specs / "shop.augment.yaml").read_text(encoding="utf-8")

    again = run_augment(specs, base_url, "--json")
    assert again.exit_code == 0, again.output
    outcome = json.loads(again.stdout)
    assert outcome["asked"] == [] and outcome["kept"] == 3 and outcome["usage"]["requests"] == 0
    assert len(server.requests) == 2  # the first run's only
    assert (specs / "shop.augment.yaml").read_text(encoding="utf-8") == first  # usage still counts the first run


def test_check_fails_when_the_source_or_the_spec_changed(
    fake: tuple[str, FakeMessagesApi], specs: Path, tmp_path: Path
) -> None:
    base_url, server = fake
    missing = run_augment(specs, base_url, "--check", key="")
    assert missing.exit_code == 1 and "shop.augment.yaml: it does not exist" in missing.stderr
    assert run_augment(specs, base_url, "--batch-size", "2").exit_code == 0
    fresh = run_augment(specs, base_url, "--check", key="")  # --check needs no key and asks nothing
    assert fresh.exit_code == 0, fresh.output
    assert "matches its source and spec" in fresh.stdout

    source = specs / "shop.openapi.yaml"
    source.write_text(source.read_text(encoding="utf-8") + "# a new upstream version\n", encoding="utf-8")
    stale = run_augment(specs, base_url, "--check", "--json", key="")
    assert stale.exit_code == 1
    assert json.loads(stale.stdout)["reasons"][0].startswith("it was made for another version of the source")
    # compile still applies what fits, and says how to refresh
    manifest, warnings = compiled(specs, tmp_path / "out")
    assert "cancel_and_refund_order" in [tool.name for tool in manifest.tools]
    assert any(
        "shop.augment.yaml: it was made for another version of the source" in w and "run `mcphub augment shop`" in w
        for w in warnings
    )

    spec = specs / "shop.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("category: commerce", "category: shopping"), "utf-8")
    both = run_augment(specs, base_url, "--check", key="")
    assert both.exit_code == 1 and "the spec changed since" in both.stderr
    assert "run `mcphub augment shop`" in both.stderr
    assert len(server.requests) == 2


def test_without_a_key_it_says_what_to_set(specs: Path) -> None:
    result = run_augment(specs, "http://127.0.0.1:9", key="")
    assert result.exit_code == 1
    assert "set ANTHROPIC_API_KEY" in result.stderr
    assert not (specs / "shop.augment.yaml").exists()


def test_an_unknown_slug_names_the_specs_there(specs: Path) -> None:
    result = CliRunner().invoke(augment, ["shpo", "--specs", str(specs)])
    assert result.exit_code == 1
    assert "shpo.yaml: no such spec; did you mean 'shop'?" in result.stderr


class Orders(Upstream):
    """api.shop.example's order list: records the request, answers an empty page."""

    async def _answer(self, r: Recorded, send: Send) -> None:
        payload = json.dumps({"orders": []}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def shop(specs: Path) -> Iterator[Upstream]:
    upstream = Orders()
    with serve(upstream) as base:
        upstream.base_url = base
        spec = specs / "shop.yaml"
        text = spec.read_text(encoding="utf-8")
        spec.write_text(text + f"base_url: {base}\npolicy: {{allow_private_network: true}}\n", encoding="utf-8")
        yield upstream


@pytest.fixture
def hub(fake: tuple[str, FakeMessagesApi], specs: Path, shop: Upstream, tmp_path: Path) -> Iterator[RunningHub]:
    base_url, _ = fake
    assert run_augment(specs, base_url, "--batch-size", "2").exit_code == 0
    catalog = tmp_path / "catalog"
    compiled(specs, catalog)
    with running_hub(catalog, {"shop": {"token": "shop-secret"}}) as running:
        yield running


async def test_a_renamed_argument_reaches_the_upstream_under_its_wire_name(hub: RunningHub, shop: Upstream) -> None:
    async with hub.client() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        listing = tools["shop__list_orders"]
        assert set(listing.input_schema["properties"]) == {"page_limit", "page_cursor", "status"}
        result = await client.call_tool("shop__list_orders", {"page_limit": 5, "page_cursor": "c_9", "status": "open"})
        assert result.is_error is False, result.content
    sent = shop.last()
    assert (sent.method, sent.path) == ("GET", "/orders")
    assert sent.query == [("page[limit]", "5"), ("page[cursor]", "c_9"), ("status", "open")]
    assert sent.headers["authorization"] == "Bearer shop-secret"


def test_a_proposal_a_compile_would_refuse_is_left_out_and_listed(
    fake: tuple[str, FakeMessagesApi], specs: Path, tmp_path: Path
) -> None:
    base_url, server = fake
    spec = specs / "shop.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + "max_name_length: 30\n", encoding="utf-8")

    result = run_augment(specs, base_url, "--limit", "1")
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 1 and "at most 24 characters" in server.requests[0]["messages"][0]["content"]
    assert (
        f"left out: {CANCEL}: name 'cancel_and_refund_whole_order' is 29 characters, over the 24 this slug leaves "
        "within max_name_length; not proposed"
    ) in result.stderr
    assert "2 weaker tools left: run it again to ask about the next ones" in result.stdout
    written = yaml.safe_load((specs / "shop.augment.yaml").read_text(encoding="utf-8"))
    assert list(written["tools"]) == [CANCEL]
    assert "name" not in written["tools"][CANCEL] and written["tools"][CANCEL]["destructive"] is True

    manifest, _ = compiled(specs, tmp_path / "out")
    cancel = next(tool for tool in manifest.tools if tool.source_ref == CANCEL)
    assert cancel.name == "cancel_order_refund_nf4f"  # the compiler's own name stays
    assert cancel.description.startswith("Cancels an order and refunds")


def test_augment_is_a_command_of_the_cli() -> None:
    from mcphub.cli import main

    result = CliRunner().invoke(main, ["augment", "--help"])
    assert result.exit_code == 0, result.output
    assert "specs/<slug>.augment.yaml for review" in result.output
