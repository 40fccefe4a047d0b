"""Postman collections (v2.0 and v2.1) as a source kind: converted deterministically, curated like any spec.

The same collection called through the real hub: tests/integrations/test_postman_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcphub.compiler.errors import SourceError
from mcphub.compiler.pipeline import parse_spec
from mcphub.compiler.sources.postman import is_postman_collection, postman_to_openapi

V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
V20 = "https://schema.getpostman.com/json/collection/v2.0.0/collection.json"


def kv(**values: str) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


FIXTURE = Path(__file__).parent / "fixtures" / "postman" / "pet_shop.postman_collection.json"


def pet_shop(base_url: str = "https://api.petshop.example/v1") -> dict[str, Any]:
    """A collection shaped like the ones Postman exports: folders, variables, inherited auth, examples."""
    collection: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    collection["variable"][0]["value"] = base_url
    return collection


def test_a_collection_becomes_an_openapi_document_with_folders_auth_bodies_and_examples() -> None:
    conversion = postman_to_openapi(pet_shop(), where="pets.postman_collection.json")
    document = conversion.document
    assert conversion.version == "2.1"
    assert document["servers"] == [{"url": "https://api.petshop.example/v1"}]
    assert document["info"]["title"] == "Pet Shop"

    listing = document["paths"]["/pets"]["get"]
    assert listing["operationId"] == "list_pets"
    assert listing["tags"] == ["Pets"]
    query = {p["name"]: p for p in listing["parameters"]}
    assert set(query) == {"limit", "status"}  # the disabled 'debug' is not part of the request
    assert query["limit"]["schema"] == {"type": "integer"} and query["limit"]["example"] == 20
    assert query["limit"]["description"] == "How many pets to return"
    assert listing["responses"]["200"]["content"]["application/json"]["example"][0]["name"] == "Rex"
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert listing["security"] == [{"bearer": []}]  # inherited from the collection

    pet = document["paths"]["/pets/{petId}"]["get"]
    assert pet["parameters"] == [
        {
            "name": "petId",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "example": "42",
            "description": "The pet's id",
        }
    ]

    create = document["paths"]["/pets"]["post"]["requestBody"]["content"]["application/json"]
    assert create["example"] == {"name": "Rex", "age": None, "tags": ["good"], "owner": {"email": "a@b.c"}}
    assert create["schema"]["properties"]["owner"] == {"type": "object", "properties": {"email": {"type": "string"}}}
    assert document["paths"]["/pets/{petId}"]["put"]["operationId"] == "create_pet_2"

    form = document["paths"]["/form"]["post"]
    assert form["security"] == []  # `noauth` on the folder stops the collection's bearer
    assert form["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"] == {
        "email": {"type": "string", "example": "ada@example.com"},
        "weekly": {"type": "boolean", "example": True},
    }
    upload = document["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["photo"] == {"type": "string", "format": "binary"}
    assert upload["encoding"] == {"photo": {"contentType": "image/png"}}

    stats = document["paths"]["/partners/{partnerId}/stats"]["get"]
    assert stats["security"] == [{"api_key_header": []}]
    assert document["components"]["securitySchemes"]["api_key_header"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Partner-Key",
    }
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}

    warnings = "\n".join(conversion.warnings)
    assert "pets.postman_collection.json: Pets / Create pet: pre-request and test scripts do not run" in warnings
    assert "Pets / Create pet: another request is also named 'create_pet'" in warnings
    assert "Partners / Partner stats: variable {{partnerId}} has no value" in warnings
    assert "Partners / Signed call: 'awsv4' auth is not supported by the hub" in warnings


def test_version_2_0_shapes_and_clashing_requests() -> None:
    collection = {
        "info": {"name": "Old export", "schema": V20},
        "auth": {"type": "apikey", "apikey": {"key": "api_key", "value": "{{key}}", "in": "query"}},
        "item": [
            {
                "name": "Search",
                "request": {
                    "method": "GET",
                    "url": {
                        "host": "api.example.org",
                        "path": "search",
                        "protocol": "https",
                        "query": kv(q="cats", tag="a"),
                    },
                },
            },
            {"name": "Search again", "request": {"method": "GET", "url": "https://api.example.org/search?q=dogs"}},
            {"name": "Multi", "request": {"method": "GET", "url": "https://api.example.org/multi?id=1&id=2"}},
        ],
    }
    conversion = postman_to_openapi(collection, where="old.json")
    document = conversion.document
    assert conversion.version == "2.0"
    assert document["servers"] == [{"url": "https://api.example.org"}]
    assert document["components"]["securitySchemes"] == {
        "api_key_query": {"type": "apiKey", "in": "query", "name": "api_key"}
    }
    assert list(document["paths"]["/search"]) == ["get"]
    assert document["paths"]["/search"]["get"]["operationId"] == "search"
    assert any("old.json: Search again: GET /search is already the request 'Search'" in w for w in conversion.warnings)
    multi = document["paths"]["/multi"]["get"]["parameters"][0]
    assert multi["schema"] == {"type": "array", "items": {"type": "integer"}} and multi["explode"] is True


def test_what_is_not_a_collection_or_is_hostile_is_refused_with_the_place() -> None:
    assert not is_postman_collection({"openapi": "3.0.0"})
    with pytest.raises(SourceError, match="not a Postman collection"):
        postman_to_openapi({"openapi": "3.0.0", "info": {}}, where="x.json")
    deep: dict[str, Any] = {"name": "leaf", "request": {"url": "https://a.example/x"}}
    for level in range(40):
        deep = {"name": f"f{level}", "item": [deep]}
    with pytest.raises(SourceError, match="nested more than 32 deep"):
        postman_to_openapi({"info": {"schema": V21}, "item": [deep]}, where="deep.json")
    with pytest.raises(SourceError, match="holds no requests"):
        postman_to_openapi({"info": {"schema": V21}, "item": [{"name": "empty folder", "item": []}]}, where="e.json")


def write_spec(folder: Path, collection: dict[str, Any], **spec: Any) -> Path:
    (folder / "shop.postman_collection.json").write_text(json.dumps(collection), encoding="utf-8")
    data = {
        "slug": "shop",
        "name": "Pet Shop",
        "source": {"kind": "postman", "path": "shop.postman_collection.json"},
        **spec,
    }
    path = folder / "shop.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_a_hub_spec_curates_a_postman_source(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        pet_shop(),
        tools=[
            {"operation": "list_pets", "name": "find_pets", "description": "Finds pets for sale."},
            {"operation": "get_pet"},
            {"operation": "create_pet"},
        ],
    )
    integration = parse_spec(spec)
    assert [tool.name for tool in integration.tools] == ["find_pets", "get_pet", "create_pet"]
    assert integration.source.kind == "postman" and integration.source.format == "postman collection v2.1"
    assert integration.base_url == "https://api.petshop.example/v1"
    create = next(tool for tool in integration.tools if tool.name == "create_pet")
    assert set(create.input_schema["properties"]) >= {"name", "age", "tags", "owner"}
    assert {scheme.type for scheme in integration.auth} >= {"bearer"}
