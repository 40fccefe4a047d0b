"""A tool made from a Postman collection, called through the real hub against a local stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime.support import Upstream, serve

from integrations.hubs import RunningHub, spec_hub

COLLECTION = Path(__file__).parents[1] / "compiler" / "fixtures" / "postman" / "pet_shop.postman_collection.json"


def write_spec(folder: Path, base_url: str, **spec: Any) -> Path:
    """specs-like folder: the collection (its baseUrl pointed at `base_url`) and a hub spec of kind postman."""
    collection = json.loads(COLLECTION.read_text(encoding="utf-8"))
    collection["variable"][0]["value"] = base_url
    (folder / "shop.postman_collection.json").write_text(json.dumps(collection), encoding="utf-8")
    data = {"slug": "shop", "name": "Pet Shop", "source": {"kind": "postman", "path": "shop.postman_collection.json"}}
    path = folder / "shop.yaml"
    path.write_text(yaml.safe_dump({**data, **spec}, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def stand_in() -> Iterator[Upstream]:
    upstream = Upstream()
    with serve(upstream) as base:
        upstream.base_url = base
        yield upstream


@pytest.fixture
def hub(tmp_path: Path, stand_in: Upstream) -> Iterator[RunningHub]:
    """The real hub over a catalog compiled from the collection, for a user who stored a bearer token."""
    spec = write_spec(
        tmp_path,
        stand_in.base_url,
        tools=[{"operation": "get_pet"}, {"operation": "create_pet"}, {"operation": "subscribe_to_news"}],
        policy={"allow_private_network": True},
    )
    with spec_hub(spec, {"shop": {"token": "pm-secret"}}) as running:
        yield running


async def test_a_postman_tool_is_called_through_the_hub(hub: RunningHub, stand_in: Upstream) -> None:
    async with hub.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"shop__get_pet", "shop__create_pet", "shop__subscribe_to_news"}
        result = await client.call_tool("shop__create_pet", {"name": "Rex", "tags": ["good"]})
        assert result.is_error is False, result.content
        sent = stand_in.last()
        assert (sent.method, sent.path) == ("POST", "/pets")
        assert json.loads(sent.body) == {"name": "Rex", "tags": ["good"]}
        assert sent.headers["authorization"] == "Bearer pm-secret"
        assert sent.headers["content-type"].startswith("application/json")

        result = await client.call_tool("shop__get_pet", {"petId": "42"})
        assert result.is_error is False, result.content
        assert stand_in.last().raw_path == "/pets/42"

        result = await client.call_tool("shop__subscribe_to_news", {"email": "ada@example.com", "weekly": True})
        assert result.is_error is False, result.content
        sent = stand_in.last()
        assert sent.path == "/form"
        assert sent.body.decode() == "email=ada%40example.com&weekly=true"
