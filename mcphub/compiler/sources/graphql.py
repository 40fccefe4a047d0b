"""GraphQL source kind: operations over an SDL schema become tools whose arguments are the operation's variables.

The source is a schema (SDL, or an introspection result as JSON). A spec selects what to expose, per tool:

    - {operation: "query issue", name: get_issue, selection: "id title state { name }"}   # a root field
    - {operation: "mutation issueCreate"}                                                # default selection
    - {operation: SearchIssues, document: "query SearchIssues($term: String!) { ... }"}  # a whole operation

A root-field tool declares one variable per argument of the field (non-null without default -> required; input
objects -> JSON Schema objects; enums; lists; custom scalars -> strings with a description) and fetches the spec's
selection, else a default one: the type's scalar fields plus the identifying fields (`id`, `name`, `title`, ...) of
nested objects, one level deep; connections (`nodes` + `pageInfo`) select their nodes that way. Every document is
validated against the schema here, at compile time, and a problem is reported at the spec line that caused it.
Without `tools:` (or with `include: all`) every query and mutation root field becomes a tool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    build_client_schema,
    build_schema,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_input_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
    print_ast,
    type_from_ast,
    validate,
    value_from_ast_untyped,
)

from mcphub.compiler.errors import SourceError, SpecError
from mcphub.compiler.fetch import npm_file, sha256_of
from mcphub.compiler.ir import GraphQLBinding, Integration, JsonSchema, Policy, Tool, ToolAnnotations
from mcphub.compiler.naming import name_budget, snake_case, unique_names
from mcphub.compiler.spec import HubSpec, ToolSpec, did_you_mean

__all__ = ["default_selection", "integration_from_spec", "load_schema", "schema_tools"]

# Input objects nest (filters of filters); past this depth an argument is an open object described by its type name,
# so one tool's schema stays small enough for every client.
MAX_INPUT_DEPTH = 3
# Fields that identify a nested object well enough for an agent to follow up on it.
IDENTITY_FIELDS = ("id", "identifier", "key", "name", "displayName", "title", "email", "url")
_ROOT = re.compile(r"^(?:(query|mutation)\s+)?([_A-Za-z][_0-9A-Za-z]*)$")
_DESTRUCTIVE = re.compile(r"(Delete|Archive|Remove|Purge|Trash)[A-Z]?\w*$")
_SCALARS: dict[str, JsonSchema] = {
    "String": {"type": "string"},
    "ID": {"type": "string"},
    "Int": {"type": "integer"},
    "Float": {"type": "number"},
    "Boolean": {"type": "boolean"},
    "JSONObject": {"type": "object"},
}


# --------------------------------------------------------------------------------------------------------------------
# Loading the schema


def load_schema(path: Path) -> GraphQLSchema:
    """Build the schema from SDL (`.graphql`, `.graphqls`, `.gql`) or an introspection result (`.json`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the GraphQL schema: {exc}") from exc
    if path.suffix == ".json":
        try:
            data = json.loads(text)
            return build_client_schema(data.get("data", data))
        except (ValueError, TypeError, KeyError, GraphQLError) as exc:
            raise SourceError(f"{path}: not a GraphQL introspection result: {exc}") from exc
    try:
        return build_schema(text)
    except GraphQLError as exc:
        where = f"{path}:{exc.locations[0].line}" if exc.locations else str(path)
        raise SourceError(f"{where}: invalid GraphQL schema: {exc.message}") from exc


def _source_file(spec: HubSpec, spec_path: Path) -> Path:
    source = spec.source
    if source.url is not None:
        raise spec.error(
            "source.url",
            "is not supported for kind 'graphql' (compiling never reaches the network); save the schema (SDL) "
            "next to the spec and give path:, or pin it from npm with npm: and path:",
            spec_path,
        )
    if source.npm is not None:
        assert source.path is not None  # the spec model requires path with npm
        return npm_file(source.npm, source.path, sha256=source.sha256, where=f"{spec_path}: ")
    found = spec.source_file()
    if found is None:
        raise spec.error("source.path", "is required for kind 'graphql'; give the schema file (SDL)", spec_path)
    if source.sha256 and sha256_of(found) != source.sha256:
        raise spec.error(
            "source.sha256",
            f"is {source.sha256} but {found} has sha256 {sha256_of(found)}; "
            "if the new schema is intended, update source.sha256",
            spec_path,
        )
    return found


def integration_from_spec(spec: HubSpec, spec_path: Path) -> Integration:
    """Source stage for `kind: graphql`: the schema's operations (the spec's selection of them) as tools."""
    source_file = _source_file(spec, spec_path)
    schema = load_schema(source_file)
    info = spec.source.to_source_info().model_copy(update={"sha256": sha256_of(source_file), "format": "graphql sdl"})
    return Integration(
        slug=spec.slug,
        name=spec.name,
        source=info,
        base_url=spec.base_url or "",
        tools=schema_tools(schema, spec, spec_path),
        # Every GraphQL request is a POST of {query, variables, operationName} to the one endpoint.
        policy=Policy(allowed_methods=["POST"]),
    )


# --------------------------------------------------------------------------------------------------------------------
# Tools


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a document came from, to cite the spec line of a problem in it."""

    spec: HubSpec
    spec_path: Path
    field: str
    text: str  # the spec's own text (selection or document), '' when generated

    def error(self, message: str, line_in_text: int | None = None) -> SpecError:
        line = self.spec.line_of(self.field)
        if line is not None and line_in_text is not None and "\n" in self.text:
            line += line_in_text  # a block scalar starts on the line after its key
        where = f"{self.spec_path}:{line}" if line is not None else str(self.spec_path)
        return SpecError(f"{where}: {self.field} {message}")


def schema_tools(schema: GraphQLSchema, spec: HubSpec, spec_path: Path) -> list[Tool]:
    """The tools the spec lists (in order), then, without `tools:` or with `include: all`, every other root field."""
    tools: list[Tool] = []
    covered: set[tuple[str, str]] = set()
    for index, entry in enumerate(spec.tools or []):
        tool, root = _listed_tool(schema, entry, index, spec, spec_path)
        tools.append(tool)
        if root is not None:
            covered.add(root)
    if spec.tools is None or spec.include == "all" or spec.search == "all":
        rest = [(kind, name) for kind, name in _root_fields(schema) if (kind, name) not in covered]
        names = unique_names(
            [snake_case(name) or "operation" for _, name in rest],
            name_budget(spec.slug, spec.max_name_length),
            keys=[f"{kind} {name}" for kind, name in rest],
            taken={t.name for t in tools},
        )
        for (kind, field_name), name in zip(rest, names, strict=True):
            where = _Where(spec, spec_path, "include" if spec.include else "search" if spec.search else "source", "")
            tools.append(_root_field_tool(schema, kind, field_name, None, where, name=name))
    return tools


def _root_fields(schema: GraphQLSchema) -> Iterable[tuple[str, str]]:
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        if root is not None:
            for name, field in root.fields.items():
                if field.deprecation_reason is None:
                    yield kind, name


def _listed_tool(
    schema: GraphQLSchema, entry: ToolSpec, index: int, spec: HubSpec, spec_path: Path
) -> tuple[Tool, tuple[str, str] | None]:
    field = f"tools[{index}]"
    if entry.document is not None:
        where = _Where(spec, spec_path, f"{field}.document", entry.document)
        tool = _document_tool(schema, entry.operation, entry.document, where)
        return tool, None
    match = _ROOT.match(entry.operation)
    if match is None:
        raise spec.error(
            f"{field}.operation",
            f"'{entry.operation}' is not a GraphQL root field; write 'query <field>' or 'mutation <field>' "
            "(e.g. 'query issue'), or give a whole operation with document:",
            spec_path,
        )
    kind, name = match.group(1), match.group(2)
    kinds = [kind] if kind else ["query", "mutation"]
    for candidate in kinds:
        root = schema.query_type if candidate == "query" else schema.mutation_type
        if root is not None and name in root.fields:
            kind = candidate
            break
    else:
        known = [f"{k} {n}" for k, n in _root_fields(schema)]
        hint = did_you_mean(entry.operation if kind else f"query {name}", known, n=3)
        raise spec.error(
            f"{field}.operation",
            f"'{entry.operation}' not found in the schema{hint or '; give query <field> or mutation <field> of it'}",
            spec_path,
        )
    assert kind is not None
    selection_field = f"{field}.selection" if entry.selection is not None else f"{field}.operation"
    where = _Where(spec, spec_path, selection_field, entry.selection or "")
    tool = _root_field_tool(schema, kind, name, entry.selection, where, name=snake_case(name) or "operation")
    tool.source_ref = entry.operation  # curation finds the tool by what the spec wrote
    return tool, (kind, name)


def _root_field_tool(
    schema: GraphQLSchema, kind: str, field_name: str, selection: str | None, where: _Where, *, name: str
) -> Tool:
    root = schema.query_type if kind == "query" else schema.mutation_type
    assert root is not None
    field = root.fields[field_name]
    operation_name = field_name[:1].upper() + field_name[1:]
    variables = ", ".join(f"${arg}: {_variable_type(spec)}" for arg, spec in field.args.items())
    arguments = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    head = f"{kind} {operation_name}" + (f"({variables})" if variables else "")
    call = field_name + (f"({arguments})" if arguments else "")
    named = get_named_type(field.type)
    if is_leaf_type(named):
        if selection is not None:
            raise where.error(
                f"is not used: '{kind} {field_name}' returns {field.type}, which has no fields; remove it"
            )
        body = call
    else:
        fields = selection if selection is not None else default_selection(named)
        body = f"{call} {{\n{fields}\n}}"
    document = _parse(f"{head} {{\n{body}\n}}", where, offset=-2)
    _validate(schema, document, where, offset=-2)
    schemas = _InputSchemas(argument.type for argument in field.args.values())
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    for arg, spec in field.args.items():
        properties[arg] = schemas.argument(spec.type, spec.description, _default(spec))
        if is_non_null_type(spec.type) and _default(spec) is Undefined:
            required.append(arg)
    is_query = kind == "query"
    destructive = not is_query and bool(_DESTRUCTIVE.search(field_name))
    return Tool(
        name=name,
        description=_describe(field, kind),
        input_schema=schemas.tool_schema(properties, required),
        annotations=ToolAnnotations(
            read_only_hint=is_query,
            destructive_hint=destructive if not is_query else None,
            open_world_hint=True,
        ),
        deprecated=field.deprecation_reason is not None,
        source_ref=f"{kind} {field_name}",
        tags=[kind],
        graphql=GraphQLBinding(
            document=print_ast(document),
            operation_name=operation_name,
            variables={arg: arg for arg in field.args},
            result_path=[field_name],
        ),
    )


def _document_tool(schema: GraphQLSchema, operation: str, text: str, where: _Where) -> Tool:
    document = _parse(text, where)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    names = [op.name.value for op in operations if op.name is not None]
    chosen = next((op for op in operations if op.name is not None and op.name.value == operation), None)
    if chosen is None:
        if len(operations) == 1 and operations[0].name is None:
            raise where.error(f"has an anonymous operation; name it '{operation}' (e.g. 'query {operation}(...)')")
        raise where.error(
            f"has no operation named '{operation}' (operation: names the document's operation; "
            f"it has {', '.join(names) or 'none'}){did_you_mean(operation, names)}"
        )
    if chosen.operation is OperationType.SUBSCRIPTION:
        raise where.error(f"'{operation}' is a subscription; tools run queries and mutations only")
    _validate(schema, document, where)
    types: dict[str, GraphQLInputType] = {}
    for definition in chosen.variable_definitions or ():
        graphql_type = type_from_ast(schema, definition.type)
        assert graphql_type is not None and is_input_type(graphql_type)  # validation rejects the others
        types[definition.variable.name.value] = graphql_type
    schemas = _InputSchemas(types.values())
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    variables: dict[str, str] = {}
    for definition in chosen.variable_definitions or ():
        variable = definition.variable.name.value
        graphql_type = types[variable]
        default = Undefined if definition.default_value is None else definition.default_value
        given = Undefined if definition.default_value is None else value_from_ast_untyped(definition.default_value)
        properties[variable] = schemas.argument(graphql_type, None, given)
        if is_non_null_type(graphql_type) and default is Undefined:
            required.append(variable)
        variables[variable] = variable
    roots = [s for s in chosen.selection_set.selections if isinstance(s, FieldNode)]
    result_path = [(roots[0].alias or roots[0].name).value] if len(roots) == 1 else []
    is_query = chosen.operation is OperationType.QUERY
    description = ""
    if len(roots) == 1:
        root = schema.query_type if is_query else schema.mutation_type
        field = root.fields.get(roots[0].name.value) if root is not None else None
        if field is not None:
            description = _describe(field, chosen.operation.value)
    return Tool(
        name=snake_case(operation) or "operation",
        description=description,
        input_schema=schemas.tool_schema(properties, required),
        annotations=ToolAnnotations(read_only_hint=is_query, open_world_hint=True),
        source_ref=operation,
        tags=[chosen.operation.value],
        graphql=GraphQLBinding(
            document=print_ast(document),
            operation_name=operation,
            variables=variables,
            result_path=result_path,
        ),
    )


def _describe(field: GraphQLField, kind: str) -> str:
    text = (field.description or "").strip()
    if not text:
        text = f"The GraphQL {kind} field returning {field.type}."
    if field.deprecation_reason:
        text += f" Deprecated: {field.deprecation_reason}"
    return text


# --------------------------------------------------------------------------------------------------------------------
# Documents


def _parse(text: str, where: _Where, *, offset: int = 0) -> DocumentNode:
    try:
        return parse(text)
    except GraphQLError as exc:
        line = exc.locations[0].line + offset if exc.locations else None
        raise where.error(f"is not valid GraphQL: {exc.message}; fix the syntax", line) from None


def _validate(schema: GraphQLSchema, document: DocumentNode, where: _Where, *, offset: int = 0) -> None:
    errors = validate(schema, document)
    if errors:
        first = errors[0]
        line = first.locations[0].line + offset if first.locations else None
        messages = " ".join(error.message for error in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise where.error(f"does not match the schema: {messages}{more}", line)


def _variable_type(argument: GraphQLArgument) -> str:
    # A non-null argument with a default may be left out, so its variable is nullable (still a valid usage).
    if is_non_null_type(argument.type) and _default(argument) is not Undefined:
        return str(get_nullable_type(argument.type))
    return str(argument.type)


def default_selection(named: GraphQLNamedType) -> str:
    """The fields a tool fetches when the spec gives none: scalars, plus identifying fields of nested objects."""
    if not isinstance(named, GraphQLObjectType):
        if is_abstract_type(named):
            return "__typename"
        return ""
    fields = named.fields
    nodes, page_info = fields.get("nodes"), fields.get("pageInfo")
    if nodes is not None and page_info is not None and is_list_type(get_nullable_type(nodes.type)):
        node = get_named_type(nodes.type)
        paging = _pick(get_named_type(page_info.type), ("hasNextPage", "endCursor"))
        return f"nodes {{\n{default_selection(node)}\n}}\npageInfo {{ {paging} }}"
    parts: list[str] = []
    for name, field in fields.items():
        if field.deprecation_reason is not None or _needs_arguments(field):
            continue
        inner = get_named_type(field.type)
        if is_leaf_type(inner):
            parts.append(name)
        elif is_object_type(inner) and not is_list_type(get_nullable_type(field.type)):
            summary = _pick(inner, IDENTITY_FIELDS)
            if summary:
                parts.append(f"{name} {{ {summary} }}")
    return "\n".join(parts) or "__typename"


def _pick(named: GraphQLNamedType, wanted: Iterable[str]) -> str:
    if not isinstance(named, GraphQLObjectType):
        return ""
    fields = named.fields
    return " ".join(
        name
        for name in wanted
        if name in fields
        and fields[name].deprecation_reason is None
        and is_leaf_type(get_named_type(fields[name].type))
        and not _needs_arguments(fields[name])
    )


def _needs_arguments(field: GraphQLField) -> bool:
    return any(is_non_null_type(a.type) and _default(a) is Undefined for a in field.args.values())


def _default(argument: GraphQLArgument | GraphQLInputField) -> Any:
    """The default value of an argument or input field as JSON-like data, or Undefined when it has none.

    graphql-core 3.3 keeps SDL defaults as literals in `.default`; 3.2 coerced them into `.default_value`.
    """
    default = getattr(argument, "default", Undefined)
    if default is None or default is Undefined:
        return argument.default_value
    literal = getattr(default, "literal", None)
    if literal is not None:
        return value_from_ast_untyped(literal)
    return getattr(default, "value", Undefined)


# --------------------------------------------------------------------------------------------------------------------
# Argument schemas


def _object(properties: dict[str, JsonSchema], required: list[str]) -> JsonSchema:
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _join(*texts: str | None) -> str:
    return " ".join(t.strip() for t in texts if t and t.strip())


def _json_value(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class _InputSchemas:
    """JSON Schemas of one tool's arguments, sharing input object types through `$defs`.

    Input types nest deeply (Linear's IssueFilter reaches hundreds of filter types), so a type is spelled out only
    when an argument has it directly, or when it is flat (only scalar, enum or list fields: comparators such as
    `{eq, in, contains}`) and at most MAX_INPUT_DEPTH levels down; any other nested input object is an open object
    whose description names its GraphQL type. A type used once and not recursively is inlined; the rest live in
    `$defs`, which is also how recursive types (`and: [IssueFilter!]`) refer to themselves.
    """

    def __init__(self, roots: Iterable[GraphQLInputType]) -> None:
        self.spelled: dict[str, GraphQLInputObjectType] = {}
        queue: list[tuple[GraphQLInputObjectType, int]] = []
        for root in roots:
            named = get_named_type(root)
            if isinstance(named, GraphQLInputObjectType) and named.name not in self.spelled:
                self.spelled[named.name] = named
                queue.append((named, 0))
        while queue:  # breadth first: a type's depth is its shortest distance from an argument
            current, depth = queue.pop(0)
            for field in current.fields.values():
                inner = get_named_type(field.type)
                if not isinstance(inner, GraphQLInputObjectType) or inner.name in self.spelled:
                    continue
                if depth + 1 <= MAX_INPUT_DEPTH and _is_flat(inner):
                    self.spelled[inner.name] = inner
                    queue.append((inner, depth + 1))
        self.uses: dict[str, int] = {}
        for root in roots:
            self._count(get_named_type(root))
        for named in self.spelled.values():
            for field in named.fields.values():
                if field.deprecation_reason is None:
                    self._count(get_named_type(field.type))
        self.recursive = {name for name in self.spelled if self._reaches(name, name)}
        self.defs: dict[str, JsonSchema] = {}

    def _count(self, named: GraphQLNamedType) -> None:
        if named.name in self.spelled:
            self.uses[named.name] = self.uses.get(named.name, 0) + 1

    def _reaches(self, start: str, target: str) -> bool:
        seen: set[str] = set()
        pending = [start]
        while pending:
            for field in self.spelled[pending.pop()].fields.values():
                inner = get_named_type(field.type).name
                if inner == target:
                    return True
                if inner in self.spelled and inner not in seen:
                    seen.add(inner)
                    pending.append(inner)
        return False

    def argument(self, graphql_type: GraphQLInputType, description: str | None, default: Any) -> JsonSchema:
        schema = self._type(graphql_type)
        text = _join(description, schema.get("description") if "$ref" not in schema else None)
        if text:
            schema["description"] = text
        if default is not Undefined and default is not None and _json_value(default):
            schema["default"] = default
        return schema

    def tool_schema(self, properties: dict[str, JsonSchema], required: list[str]) -> JsonSchema:
        schema = _object(properties, required)
        if self.defs:
            schema["$defs"] = dict(sorted(self.defs.items()))
        return schema

    def _type(self, graphql_type: GraphQLInputType) -> JsonSchema:
        if isinstance(graphql_type, GraphQLNonNull):
            return self._type(graphql_type.of_type)
        if isinstance(graphql_type, GraphQLList):
            return {"type": "array", "items": self._type(graphql_type.of_type)}
        if isinstance(graphql_type, GraphQLEnumType):
            return _enum_schema(graphql_type)
        if isinstance(graphql_type, GraphQLScalarType):
            return _scalar_schema(graphql_type)
        assert isinstance(graphql_type, GraphQLInputObjectType)
        name = graphql_type.name
        if name not in self.spelled:
            about = f"A {name} input object (its fields are those of `input {name}` in the GraphQL schema)."
            return {"type": "object", "description": _join(graphql_type.description, about)}
        if self.uses.get(name, 0) <= 1 and name not in self.recursive:
            return self._spell(graphql_type)
        if name not in self.defs:
            self.defs[name] = {}  # reserve first: a recursive type refers to itself while being spelled
            self.defs[name] = self._spell(graphql_type)
        return {"$ref": f"#/$defs/{name}"}

    def _spell(self, graphql_type: GraphQLInputObjectType) -> JsonSchema:
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        for name, field in graphql_type.fields.items():
            if field.deprecation_reason is not None:
                continue
            properties[name] = self.argument(field.type, field.description, _default(field))
            if is_non_null_type(field.type) and _default(field) is Undefined:
                required.append(name)
        schema = _object(properties, required)
        if graphql_type.description:
            schema["description"] = graphql_type.description.strip()
        return schema


def _is_flat(named: GraphQLInputObjectType) -> bool:
    return all(not isinstance(get_named_type(f.type), GraphQLInputObjectType) for f in named.fields.values())


def _enum_schema(graphql_type: GraphQLEnumType) -> JsonSchema:
    meanings = [
        f"{name}: {value.description.strip()}" for name, value in graphql_type.values.items() if value.description
    ]
    schema: JsonSchema = {"type": "string", "enum": list(graphql_type.values)}
    text = _join(graphql_type.description, "; ".join(meanings) if meanings else None)
    if text:
        schema["description"] = text
    return schema


def _scalar_schema(graphql_type: GraphQLScalarType) -> JsonSchema:
    if graphql_type.name in _SCALARS:
        return dict(_SCALARS[graphql_type.name])
    if graphql_type.name == "JSON":
        return {"description": "Any JSON value (GraphQL scalar JSON)."}
    # The first sentence says what the scalar is; the rest (parsing shortcuts) would repeat in every field using it.
    about = re.split(r"(?<=[.!?])\s", (graphql_type.description or "").strip(), maxsplit=1)[0]
    return {"type": "string", "description": _join(f"{graphql_type.name} (custom scalar, sent as a string).", about)}
