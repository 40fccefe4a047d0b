"""TypeScript types → JSON Schema (`sources/ts_types.py`): any type expression a repository holds gives a schema
(JSON data, never an exception), including types that refer to themselves."""

from __future__ import annotations

import json

import tree_sitter
import tree_sitter_typescript
from hypothesis import given, settings
from hypothesis import strategies as st

from mcphub.compiler.sources.ts_types import TypeResolver, type_schema

LANGUAGE = tree_sitter.Language(tree_sitter_typescript.language_typescript())

_leaves = st.sampled_from(
    ["string", "number", "boolean", "any", "unknown", "null", "undefined", "Date", "'a'", "1.5", "true", "T", "U", "X"]
)


def _compose(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        inner.map(lambda t: f"{t}[]"),
        inner.map(lambda t: f"Array<{t}>"),
        inner.map(lambda t: f"Record<string, {t}>"),
        inner.map(lambda t: f"Partial<{t}>"),
        inner.map(lambda t: f"({t})"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} | {p[1]}"),
        st.lists(st.tuples(st.sampled_from(["a", "b", "c?"]), inner), max_size=3).map(
            lambda fields: "{ " + "; ".join(f"{n}: {t}" for n, t in fields) + " }"
        ),
    )


TYPES = st.recursive(_leaves, _compose, max_leaves=12)


def _schema_of(source: str) -> dict[str, object]:
    tree = tree_sitter.Parser(LANGUAGE).parse(source.encode())
    declarations = {
        child.child_by_field_name("name").text.decode(): child  # type: ignore[union-attr]
        for child in tree.root_node.named_children
        if child.type in ("type_alias_declaration", "interface_declaration")
    }

    def resolve(name: str) -> tuple[tree_sitter.Node, TypeResolver] | None:
        return (declarations[name], resolve) if name in declarations else None

    return type_schema(declarations["T"].child_by_field_name("value"), resolve)


@settings(max_examples=150, deadline=None)
@given(TYPES, TYPES)
def test_any_type_expression_gives_a_json_schema(first: str, second: str) -> None:
    schema = _schema_of(f"type T = {first}\ntype U = {second} | T\ninterface X {{ self: X; other?: U }}\n")
    assert isinstance(schema, dict)
    json.dumps(schema)  # plain JSON data


def test_examples() -> None:
    assert _schema_of("type T = 'a' | 'b' | null") == {"type": "string", "enum": ["a", "b"], "nullable": True}
    assert _schema_of("type T = { id: number; tags?: string[] }") == {
        "type": "object",
        "properties": {"id": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["id"],
    }
    assert _schema_of("type T = string | number") == {"oneOf": [{"type": "string"}, {"type": "number"}]}
    assert _schema_of("type T = U\ntype U = T") == {}  # a cycle of aliases ends, with no schema
