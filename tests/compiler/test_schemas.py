from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mcphub.compiler.schemas import INLINE_LIMIT, Dialect, SchemaNormalizer, merge_schemas, tool_schema_problems


def normalize(schema: Any, components: dict[str, Any] | None = None, dialect: Dialect = "oas30") -> dict[str, Any]:
    """Normalise `schema` as the single property `value` of a tool schema (with its $defs)."""
    document = {"components": {"schemas": components or {}}}
    warnings: list[str] = []
    normalizer = SchemaNormalizer(document, dialect, warn=warnings.append)
    result = normalizer.normalize(schema)
    tool: dict[str, Any] = {"type": "object", "properties": {"value": result.schema}}
    if result.deps:
        tool["$defs"] = normalizer.definitions(result.deps)
    assert tool_schema_problems(tool) == []
    return tool


def test_recursive_schema_becomes_defs() -> None:
    components = {
        "Node": {
            "type": "object",
            "properties": {
                "value": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            },
        }
    }
    tool = normalize({"$ref": "#/components/schemas/Node"}, components)
    assert tool["properties"]["value"] == {"$ref": "#/$defs/Node"}
    node = tool["$defs"]["Node"]
    assert node["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    validator = Draft202012Validator(tool)
    assert validator.is_valid({"value": {"value": "a", "children": [{"value": "b", "children": []}]}})
    assert not validator.is_valid({"value": {"children": [{"value": 3}]}})


def test_mutual_recursion_and_acyclic_neighbours() -> None:
    components = {
        "A": {
            "type": "object",
            "properties": {"b": {"$ref": "#/components/schemas/B"}, "leaf": {"$ref": "#/components/schemas/Leaf"}},
        },
        "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
        "Leaf": {"type": "string", "enum": ["x"]},
    }
    tool = normalize({"type": "object", "properties": {"start": {"$ref": "#/components/schemas/B"}}}, components)
    assert set(tool["$defs"]) == {"A", "B"}
    assert tool["$defs"]["A"]["properties"]["leaf"] == {"type": "string", "enum": ["x"]}  # acyclic: inlined
    # A second normalisation from another entry point reuses the memo and stays consistent.
    again = normalize({"$ref": "#/components/schemas/A"}, components)
    assert again["properties"]["value"] == {"$ref": "#/$defs/A"}


def test_discriminator_is_dropped_but_explained() -> None:
    tool = normalize(
        {
            "oneOf": [
                {"type": "object", "properties": {"kind": {"const": "a"}}},
                {"type": "object", "properties": {"kind": {"const": "b"}}},
            ],
            "discriminator": {"propertyName": "kind", "mapping": {"a": "#/x"}},
        }
    )
    value = tool["properties"]["value"]
    assert "discriminator" not in value
    assert "`kind`" in value["description"]
    assert len(value["oneOf"]) == 2


def test_all_of_merges_when_exact_and_stays_otherwise() -> None:
    components = {"Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}
    merged = normalize(
        {
            "allOf": [
                {"$ref": "#/components/schemas/Base"},
                {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
            ]
        },
        components,
    )["properties"]["value"]
    assert "allOf" not in merged
    assert merged["required"] == ["id", "n"]
    assert set(merged["properties"]) == {"id", "n"}
    conflicting = normalize({"allOf": [{"type": "string"}, {"type": "object"}]})["properties"]["value"]
    assert "allOf" in conflicting


def test_merge_schemas_intersects_types_and_enums() -> None:
    assert merge_schemas({"type": "number"}, {"type": "integer"}) == {"type": "integer"}
    assert merge_schemas({"enum": [1, 2]}, {"enum": [2, 3]}) == {"enum": [2]}
    assert merge_schemas({"type": "string"}, {"type": "object"}) is None
    assert merge_schemas({"description": "outer"}, {"description": "inner"}) == {"description": "outer"}


def test_nullable_30_and_type_arrays_31_have_one_form() -> None:
    from_30 = normalize({"type": "string", "nullable": True}, dialect="oas30")["properties"]["value"]
    from_31 = normalize({"type": ["string", "null"]}, dialect="oas31")["properties"]["value"]
    from_swagger = normalize({"type": "string", "x-nullable": True}, dialect="swagger2")["properties"]["value"]
    assert from_30 == from_31 == from_swagger == {"type": ["string", "null"]}
    enum = normalize({"type": "string", "enum": ["a"], "nullable": True})["properties"]["value"]
    assert enum == {"type": ["string", "null"], "enum": ["a", None]}
    only_null = normalize({"type": ["null"]}, dialect="oas31")["properties"]["value"]
    assert only_null == {"type": "null"}


def test_nullable_reference_without_type_uses_any_of() -> None:
    components = {"Node": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}}}
    value = normalize(
        {"allOf": [{"$ref": "#/components/schemas/Node"}], "nullable": True, "description": "d"}, components
    )["properties"]["value"]
    assert value["description"] == "d"
    assert {"type": "null"} in value["anyOf"]


def test_read_only_properties_leave_request_schemas() -> None:
    components = {"Id": {"type": "string", "readOnly": True}}
    value = normalize(
        {
            "type": "object",
            "required": ["id", "name"],
            "properties": {
                "id": {"$ref": "#/components/schemas/Id"},
                "name": {"type": "string"},
                "secret": {"type": "string", "writeOnly": True},
            },
        },
        components,
    )["properties"]["value"]
    assert set(value["properties"]) == {"name", "secret"}
    assert value["required"] == ["name"]
    assert value["properties"]["secret"] == {"type": "string"}


def test_keywords_are_translated_or_dropped() -> None:
    value = normalize(
        {
            "type": "integer",
            "minimum": 0,
            "exclusiveMinimum": True,
            "maximum": "ten",
            "example": 4,
            "xml": {"name": "n"},
            "x-internal": True,
            "externalDocs": {"url": "https://docs.example.com"},
            "maxLength": -1,
            "format": "int32",
        }
    )["properties"]["value"]
    assert value == {
        "type": "integer",
        "exclusiveMinimum": 0,
        "examples": [4],
        "format": "int32",
        "description": "Docs: https://docs.example.com",
    }


def test_invalid_pattern_is_dropped_with_a_warning() -> None:
    warnings: list[str] = []
    normalizer = SchemaNormalizer({}, "oas30", warn=warnings.append)
    normalizer.where = "GET /x"
    assert normalizer.normalize({"type": "string", "pattern": "[a-"}).schema == {"type": "string"}
    assert warnings and warnings[0].startswith("GET /x:")


def test_enum_meanings_survive_an_overriding_description() -> None:
    components = {"Kind": {"type": "string", "enum": ["a", "b"], "x-enumDescriptions": ["first", "second"]}}
    value = normalize({"allOf": [{"$ref": "#/components/schemas/Kind"}], "description": "The kind."}, components)[
        "properties"
    ]["value"]
    assert value["description"].startswith("The kind.")
    assert "`a`: first" in value["description"]


def test_unresolvable_ref_is_any_value_with_warning() -> None:
    warnings: list[str] = []
    normalizer = SchemaNormalizer({}, "oas31", warn=warnings.append)
    assert normalizer.normalize({"$ref": "#/components/schemas/Missing"}).schema == {}
    assert normalizer.normalize({"$ref": "https://example.com/x.json"}).schema == {}
    assert len(warnings) == 2


def test_results_are_shared_not_copied() -> None:
    document = {"components": {"schemas": {"Big": {"type": "object", "properties": {"a": {"type": "string"}}}}}}
    normalizer = SchemaNormalizer(document, "oas30")
    first = normalizer.normalize({"$ref": "#/components/schemas/Big"})
    second = normalizer.normalize({"type": "array", "items": {"$ref": "#/components/schemas/Big"}})
    assert second.schema["items"] is first.schema


def test_object_shape_flattens_unions_and_all_of() -> None:
    document = {
        "components": {
            "schemas": {
                "Cat": {
                    "type": "object",
                    "required": ["kind", "meows"],
                    "properties": {"kind": {"const": "cat"}, "meows": {"type": "boolean"}},
                },
                "Dog": {
                    "type": "object",
                    "required": ["kind"],
                    "properties": {"kind": {"const": "dog"}, "barks": {"type": "boolean"}},
                },
            }
        }
    }
    normalizer = SchemaNormalizer(document, "oas30")
    # Two object variants under oneOf: no flat schema says "exactly one of them", so no shape (one body argument).
    either = normalizer.normalize(
        {"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}]}
    )
    assert normalizer.object_shape(either) is None
    # Under anyOf, Dog accepts every flat value when Cat's fields are open to it: flattening is exact and kept.
    open_dog = {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"type": "string"}, "meows": {"type": "boolean"}, "barks": {"type": "boolean"}},
    }
    cat = {
        "type": "object",
        "required": ["kind", "meows"],
        "properties": {"kind": {"type": "string"}, "meows": {"type": "boolean"}},
    }
    shape = normalizer.object_shape(normalizer.normalize({"anyOf": [cat, open_dog]}))
    assert shape is not None
    assert shape.required == ["kind"]
    assert set(shape.properties) == {"kind", "meows", "barks"}
    assert "one or more" in shape.description
    # Properties with a constraint beside them (one of two sets of required fields) are no flat arguments either.
    constrained = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "oneOf": [{"required": ["id"]}, {"required": ["name"]}],
    }
    assert normalizer.object_shape(normalizer.normalize(constrained)) is None
    assert normalizer.object_shape(normalizer.normalize({"type": "array"})) is None
    assert normalizer.object_shape(normalizer.normalize({"type": "object"})) is None


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "array"}, "root type"),
        ({"type": "object", "oneOf": [{}]}, "oneOf"),
        ({"type": "object", "properties": {"a[]": {}}}, "illegal property name"),
        ({"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}}, "$defs"),
        ({"type": "object", "properties": {"a": {"minLength": -1}}}, "invalid JSON Schema"),
    ],
)
def test_tool_schema_problems(schema: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in tool_schema_problems(schema))


def test_cycles_without_nesting_are_cut() -> None:
    components = {
        "Loop": {"$ref": "#/components/schemas/Loop"},
        "Either": {"oneOf": [{"$ref": "#/components/schemas/Either"}, {"type": "string"}]},
    }
    assert normalize({"$ref": "#/components/schemas/Loop"}, components)["properties"]["value"] == {}
    either = normalize({"$ref": "#/components/schemas/Either"}, components)["properties"]["value"]
    assert either == {"oneOf": [{}, {"type": "string"}]}


def test_big_shared_schemas_live_in_defs_once() -> None:
    big = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(INLINE_LIMIT)}}
    tool = normalize(
        {
            "type": "object",
            "properties": {"a": {"$ref": "#/components/schemas/Big"}, "b": {"$ref": "#/components/schemas/Big"}},
        },
        {"Big": big},
    )
    value = tool["properties"]["value"]
    assert value["properties"]["a"] == value["properties"]["b"] == {"$ref": "#/$defs/Big"}
    assert list(tool["$defs"]) == ["Big"]


def test_compact_cuts_depth_and_inlines_defs() -> None:
    wide = {
        "type": "object",
        "properties": {f"f{i}": {"type": "object", "properties": {"x": {"type": "integer"}}} for i in range(50)},
    }
    components = {
        "Node": {"type": "object", "properties": {"wide": wide, "next": {"$ref": "#/components/schemas/Node"}}}
    }
    normalizer = SchemaNormalizer({"components": {"schemas": components}}, "oas30")
    result = normalizer.normalize({"$ref": "#/components/schemas/Node"})
    schema = {"type": "object", "properties": {"node": result.schema}, "$defs": normalizer.definitions(result.deps)}
    compacted, depth = normalizer.compact(schema, 60)
    assert "$defs" not in compacted and tool_schema_problems(compacted) == []
    assert 0 <= depth < 8
    assert normalizer.size(compacted) <= 60 + 1
    assert "omitted" in json.dumps(compacted)
    # Looser, never stricter: a valid instance of the original is valid for the compacted schema.
    instance = {"node": {"wide": {"f1": {"x": 1}}, "next": {"next": {"wide": {}}}}}
    assert Draft202012Validator(schema).is_valid(instance)
    assert Draft202012Validator(compacted).is_valid(instance)


def test_the_schema_check_applies_the_property_name_rule_at_every_depth() -> None:
    schema = {
        "type": "object",
        "properties": {
            "recipe": {"type": "object", "properties": {"Wine Pairing": {"type": "string"}}},
            "steps": {"type": "array", "items": {"type": "object", "properties": {"@odata.type": {"type": "string"}}}},
        },
        "$defs": {"Node": {"type": "object", "properties": {"a b": {"type": "string"}}}},
    }
    problems = tool_schema_problems(schema)
    assert sorted(p for p in problems if p.startswith("illegal")) == [
        "illegal property name '@odata.type'",
        "illegal property name 'Wine Pairing'",
        "illegal property name 'a b'",
    ]
    # Data that merely looks like a schema (an example holding a `properties` key) is not judged.
    assert (
        tool_schema_problems({"type": "object", "properties": {"x": {"examples": [{"properties": {"a b": 1}}]}}}) == []
    )
