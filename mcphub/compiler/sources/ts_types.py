"""TypeScript type annotations → JSON Schema (OpenAPI 3.0), read from tree-sitter nodes; nothing is compiled or run.

What a route's TypeScript says about its input — `@Body() dto: CreateCatDto`, `@Param('id') id: number` — becomes
the schema of its request body or parameter. Understood: `string`, `number`, `boolean`, `any`/`unknown`, `Date`
(a date-time string), string/number/boolean literals and unions of them (an enum), `T | null` (nullable), `T[]` and
`Array<T>`, `Record<string, T>`, inline object types, and classes, interfaces and type aliases declared in the same
file or imported from a file of the tree (`import { CreateCatDto } from './dto/create-cat.dto'`). Class fields
follow the `class-validator` decorators a DTO usually carries where they say more than the type (`@IsInt()` →
integer, `@IsOptional()` → not required, `@IsEmail()` → format email). Anything else is `{}` (any value): a schema
that says too little is safer than one that refuses what the API accepts. Declarations are followed to a bounded
depth, and a type that contains itself is `{}` at the second visit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tree_sitter

__all__ = ["DECLARATIONS", "TypeResolver", "decorator_name", "type_schema"]

# Top-level nodes that declare a named type.
DECLARATIONS = ("class_declaration", "abstract_class_declaration", "interface_declaration", "type_alias_declaration")
_MAX_DEPTH = 8
_PREDEFINED = {"string": {"type": "string"}, "number": {"type": "number"}, "boolean": {"type": "boolean"}}
_VALIDATORS: dict[str, dict[str, Any]] = {
    "IsInt": {"type": "integer"},
    "IsNumber": {"type": "number"},
    "IsString": {"type": "string"},
    "IsBoolean": {"type": "boolean"},
    "IsEmail": {"type": "string", "format": "email"},
    "IsUUID": {"type": "string", "format": "uuid"},
    "IsUrl": {"type": "string", "format": "uri"},
    "IsDateString": {"type": "string", "format": "date-time"},
}

# Finds the declaration a type name refers to, from the file that names it: (declaration node, its file's
# resolver) or None. js_routes supplies it: the file's own declarations first, then its imports.
TypeResolver = Callable[[str], "tuple[tree_sitter.Node, TypeResolver] | None"]


def _text(node: tree_sitter.Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8", errors="replace")


def type_schema(annotation: tree_sitter.Node | None, resolve: TypeResolver) -> dict[str, Any]:
    """The JSON Schema of a type (a `type_annotation` node or a type node itself); `{}` when it says nothing."""
    return _Converter().schema(annotation, resolve, 0)


class _Converter:
    def __init__(self) -> None:
        self.visiting: set[int] = set()  # declarations being converted: a type that contains itself stops there

    def schema(self, node: tree_sitter.Node | None, resolve: TypeResolver, depth: int) -> dict[str, Any]:
        if node is None or depth > _MAX_DEPTH:
            return {}
        kind = node.type
        if kind in ("type_annotation", "parenthesized_type"):
            inner = [c for c in node.named_children if c.type != "comment"]
            return self.schema(inner[0] if inner else None, resolve, depth)
        if kind == "predefined_type":
            return dict(_PREDEFINED.get(_text(node), {}))
        if kind == "literal_type":
            return self.literal(node)
        if kind == "array_type":
            return {"type": "array", "items": self.schema(node.named_children[0], resolve, depth + 1)}
        if kind == "union_type":
            return self.union(node, resolve, depth)
        if kind == "object_type":
            return self.members(node.named_children, resolve, depth + 1)
        if kind == "generic_type":
            return self.generic(node, resolve, depth)
        if kind == "type_identifier":
            return self.named(_text(node), resolve, depth)
        return {}

    def literal(self, node: tree_sitter.Node) -> dict[str, Any]:
        value = node.named_children[0] if node.named_children else None
        if value is None:
            return {}
        if value.type == "string":
            text = _text(value)[1:-1]
            return {"type": "string", "enum": [text]}
        if value.type == "number":
            try:
                number = float(_text(value))
            except ValueError:
                return {"type": "number"}
            return {"type": "integer" if number.is_integer() else "number", "enum": [number]}
        if value.type in ("true", "false"):
            return {"type": "boolean", "enum": [value.type == "true"]}
        return {}  # `null` alone, `undefined`: handled by the union, else any

    def union(self, node: tree_sitter.Node, resolve: TypeResolver, depth: int) -> dict[str, Any]:
        members: list[tree_sitter.Node] = []
        stack = [node]
        while stack:  # `a | b | c` nests as union(union(a, b), c)
            current = stack.pop()
            if current.type == "union_type":
                stack.extend(reversed(current.named_children))
            else:
                members.append(current)
        nullable = any(_text(m) in ("null", "undefined") for m in members)
        schemas = [self.schema(m, resolve, depth + 1) for m in members if _text(m) not in ("null", "undefined")]
        result: dict[str, Any]
        if schemas and all("enum" in s for s in schemas) and len({s.get("type") for s in schemas}) == 1:
            result = {"type": schemas[0]["type"], "enum": [v for s in schemas for v in s["enum"]]}
        elif len(schemas) == 1:
            result = schemas[0]
        elif schemas and all(schemas):
            result = {"oneOf": schemas} if len({str(s) for s in schemas}) > 1 else schemas[0]
        else:
            result = {}
        if nullable and result:
            result = {**result, "nullable": True}
        return result

    def generic(self, node: tree_sitter.Node, resolve: TypeResolver, depth: int) -> dict[str, Any]:
        name = _text(node.named_children[0])
        arguments = next((c for c in node.named_children if c.type == "type_arguments"), None)
        types = [] if arguments is None else [c for c in arguments.named_children if c.type != "comment"]
        if name in ("Array", "ReadonlyArray", "Set") and types:
            return {"type": "array", "items": self.schema(types[0], resolve, depth + 1)}
        if name == "Record" and len(types) == 2:
            return {"type": "object", "additionalProperties": self.schema(types[1], resolve, depth + 1)}
        if name in ("Partial", "Required", "Readonly") and types:
            inner = self.schema(types[0], resolve, depth + 1)
            if name == "Partial":
                inner.pop("required", None)
            return inner
        return {}

    def named(self, name: str, resolve: TypeResolver, depth: int) -> dict[str, Any]:
        if name == "Date":
            return {"type": "string", "format": "date-time"}
        found = resolve(name)
        if found is None:
            return {}
        declaration, declared_in = found
        if declaration.id in self.visiting:
            return {}
        self.visiting.add(declaration.id)
        try:
            return self.declaration(declaration, declared_in, depth + 1)
        finally:
            self.visiting.discard(declaration.id)

    def declaration(self, node: tree_sitter.Node, resolve: TypeResolver, depth: int) -> dict[str, Any]:
        if node.type == "type_alias_declaration":
            return self.schema(node.child_by_field_name("value"), resolve, depth)
        body = node.child_by_field_name("body")
        if body is None:
            return {}
        schema = self.members(body.named_children, resolve, depth)
        heritage = next((c for c in node.named_children if c.type in ("class_heritage", "extends_type_clause")), None)
        for parent in [] if heritage is None else _extended(heritage):  # fields of what it extends come first
            if parent.type in ("identifier", "type_identifier"):
                inherited = self.named(_text(parent), resolve, depth + 1)
            else:
                inherited = self.schema(parent, resolve, depth + 1)
            properties = {**inherited.get("properties", {}), **schema.get("properties", {})}
            required = [*inherited.get("required", []), *schema.get("required", [])]
            if properties:
                schema["properties"] = properties
            if required:
                schema["required"] = list(dict.fromkeys(required))
        return schema

    def members(self, members: list[tree_sitter.Node], resolve: TypeResolver, depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for member in members:
            if member.type not in ("public_field_definition", "property_signature"):
                continue
            if any(c.type in ("static", "accessibility_modifier") and _text(c) != "public" for c in member.children):
                continue  # static and private/protected fields are not part of what a client sends
            name_node = member.child_by_field_name("name")
            name = _text(name_node).strip("'\"")
            if not name or name_node is None or name_node.type == "computed_property_name":
                continue
            value = self.schema(member.child_by_field_name("type"), resolve, depth)
            optional = any(c.type == "?" for c in member.children)
            for decorator in (c for c in member.children if c.type == "decorator"):
                validator = decorator_name(decorator)
                if validator == "IsOptional":
                    optional = True
                elif validator in _VALIDATORS and value.get("type") in (None, "number", "string"):
                    value = {**value, **_VALIDATORS[validator]}
            properties[name] = value
            if not optional:
                required.append(name)
        schema: dict[str, Any] = {"type": "object"}
        if properties:
            schema["properties"] = properties
        if required:
            schema["required"] = required
        return schema


def _extended(heritage: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The types a class or interface extends (`extends Base`, `extends A, B`); `implements` says nothing of fields."""
    clauses = [heritage] if heritage.type == "extends_type_clause" else heritage.named_children
    found: list[tree_sitter.Node] = []
    for clause in clauses:
        if clause.type not in ("extends_clause", "extends_type_clause"):
            continue
        found += [c for c in clause.named_children if c.type in ("type_identifier", "identifier", "generic_type")]
    return found


def decorator_name(decorator: tree_sitter.Node) -> str:
    """`IsInt` of `@IsInt()` (or of `@IsInt`)."""
    for child in decorator.named_children:
        if child.type == "call_expression":
            return _text(child.child_by_field_name("function"))
        if child.type == "identifier":
            return _text(child)
    return ""
