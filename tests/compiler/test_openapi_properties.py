"""Property tests: any valid OpenAPI description compiles into legal, unique, client-safe tools."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import ArgLocation, SourceInfo
from mcphub.compiler.naming import is_legal_property_name, is_legal_tool_name, name_budget, operation_name, shorten
from mcphub.compiler.schemas import tool_schema_problems
from mcphub.compiler.sources.openapi import SKIPPED_HEADERS, openapi_to_integration

SLUG = "abcdefghij-klmnopqrs"
COMPONENTS = ["Alpha", "Beta", "Gamma", "Node"]
WORDS = st.sampled_from(
    ["get", "list", "create", "update", "delete", "repository", "organization", "issue", "for", "the", "environment"]
)
WEIRD_NAME = st.text(alphabet="abcXYZ019_-.[]$ é", min_size=1, max_size=12)
SAFE_NAME = st.text(alphabet="abcdefxyz_", min_size=1, max_size=8)
OPERATION_ID = st.one_of(
    st.none(),
    st.lists(WORDS, min_size=1, max_size=9).map("_".join),
    st.text(alphabet="aZ/.-_ 9", min_size=0, max_size=70),
)


def schemas(dialect: str) -> st.SearchStrategy[dict[str, Any]]:
    scalars = st.one_of(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["string", "integer", "number", "boolean"])},
            optional={
                "description": st.text(max_size=20),
                "format": st.sampled_from(["date-time", "binary", "uuid", "int64"]),
                "nullable" if dialect == "oas30" else "deprecated": st.booleans(),
                "readOnly": st.booleans(),
                "example": st.integers(),
                "pattern": st.sampled_from(["^[a-z]+$", "[", "(?<x>a)"]),
                "minimum": st.one_of(st.integers(), st.just("3")),
                "exclusiveMinimum": st.booleans(),
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("string"), "enum": st.lists(st.text(max_size=4), min_size=1, max_size=3)}
        ),
        st.builds(lambda name: {"$ref": f"#/components/schemas/{name}"}, st.sampled_from(COMPONENTS)),
        st.just({"type": ["string", "null"]} if dialect == "oas31" else {"type": "string", "nullable": True}),
    )

    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return st.one_of(
            st.builds(
                lambda props, required: {
                    "type": "object",
                    "properties": props,
                    "required": [n for n in props if n in required],
                },
                st.dictionaries(WEIRD_NAME, children, max_size=4),
                st.lists(WEIRD_NAME, max_size=3),
            ),
            st.builds(lambda items: {"type": "array", "items": items}, children),
            st.builds(lambda parts: {"allOf": parts}, st.lists(children, min_size=1, max_size=3)),
            st.builds(
                lambda parts, prop: {"oneOf": parts, "discriminator": {"propertyName": prop}},
                st.lists(children, min_size=1, max_size=3),
                WEIRD_NAME,
            ),
            st.builds(lambda parts: {"anyOf": parts}, st.lists(children, min_size=1, max_size=3)),
            st.builds(lambda sub: {"allOf": [sub], "nullable": True, "description": "d"}, children),
        )

    return st.recursive(scalars, extend, max_leaves=8)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    dialect = draw(st.sampled_from(["oas30", "oas31", "swagger2"]))
    schema = schemas("oas30" if dialect == "swagger2" else dialect)
    components = {name: draw(schema) for name in COMPONENTS}
    ref_root = "#/definitions/" if dialect == "swagger2" else "#/components/schemas/"

    paths: dict[str, Any] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        path_params = draw(st.lists(SAFE_NAME, max_size=2, unique=True))
        segments = draw(st.lists(SAFE_NAME, min_size=1, max_size=3))
        path = "/" + "/".join(segments + [f"{{{p}}}" for p in path_params])
        item = paths.setdefault(path, {})
        for method in draw(
            st.lists(st.sampled_from(["get", "put", "post", "delete", "patch"]), min_size=1, max_size=3, unique=True)
        ):
            params: list[dict[str, Any]] = []
            for name in path_params:
                params.append(
                    {"name": name, "in": "path", "required": True, **_param_schema(dialect, {"type": "string"})}
                )
            for _ in range(draw(st.integers(min_value=0, max_value=4))):
                location = draw(
                    st.sampled_from(["query", "header", "cookie"] if dialect != "swagger2" else ["query", "header"])
                )
                name = draw(st.one_of(WEIRD_NAME, st.sampled_from(["id", "Accept", "expand[]", "call", "class"])))
                if any(p["name"] == name and p["in"] == location for p in params):
                    continue
                param = {"name": name, "in": location, "required": draw(st.booleans())}
                params.append(
                    {
                        **param,
                        **_param_schema(dialect, draw(st.sampled_from([{"type": "string"}, {"type": "integer"}]))),
                    }
                )
            op: dict[str, Any] = {"parameters": params, "responses": {"200": {"description": "OK"}}}
            operation_id = draw(OPERATION_ID)
            if operation_id is not None:
                op["operationId"] = operation_id
            if draw(st.booleans()):
                op["deprecated"] = True
            if method in ("put", "post", "patch") and draw(st.booleans()):
                body = draw(schema)
                if dialect == "swagger2" and draw(st.booleans()):
                    for name in draw(st.lists(WEIRD_NAME, min_size=1, max_size=3, unique=True)):
                        kind = draw(st.sampled_from(["string", "integer", "file"]))
                        params.append({"name": name, "in": "formData", "type": kind, "required": draw(st.booleans())})
                    if draw(st.booleans()):
                        op["consumes"] = [
                            draw(st.sampled_from(["multipart/form-data", "application/x-www-form-urlencoded"]))
                        ]
                elif dialect == "swagger2":
                    body = _rewrite_refs(body, ref_root)
                    params.append({"name": "body", "in": "body", "required": draw(st.booleans()), "schema": body})
                else:
                    media = draw(
                        st.sampled_from(
                            [
                                "application/json",
                                "application/x-www-form-urlencoded",
                                "multipart/form-data",
                                "text/plain",
                            ]
                        )
                    )
                    op["requestBody"] = {"required": draw(st.booleans()), "content": {media: {"schema": body}}}
            item[method] = op

    if dialect == "swagger2":
        return {
            "swagger": "2.0",
            "info": {"title": "t", "version": "1"},
            "host": "example.com",
            "definitions": {k: _rewrite_refs(v, ref_root) for k, v in components.items()},
            "paths": paths,
        }
    return {
        "openapi": "3.1.0" if dialect == "oas31" else "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://example.com"}],
        "components": {"schemas": components},
        "paths": paths,
    }


def _param_schema(dialect: str, schema: dict[str, Any]) -> dict[str, Any]:
    return schema if dialect == "swagger2" else {"schema": schema}


def _rewrite_refs(node: Any, root: str) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace("#/components/schemas/", root) if k == "$ref" else _rewrite_refs(v, root))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v, root) for v in node]
    return node


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_any_valid_description_compiles_to_client_safe_tools(document: dict[str, Any]) -> None:
    integration = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi"))
    operations = [(m.upper(), p, op) for p, item in document["paths"].items() for m, op in item.items()]
    assert len(integration.tools) == len(operations)

    names = [t.name for t in integration.tools]
    assert len(set(names)) == len(names)
    budget = name_budget(SLUG)
    for tool, (method, path, op) in zip(integration.tools, operations, strict=True):
        assert is_legal_tool_name(tool.name) and len(tool.name) <= budget
        assert tool_schema_problems(tool.input_schema) == [], (tool.name, tool.input_schema)
        assert tool.http is not None and (tool.http.method, tool.http.path) == (method, path)
        properties = tool.input_schema["properties"]
        assert all(is_legal_property_name(p) for p in properties)
        assert [a.name for a in tool.http.args] == list(properties)
        pythons = [a.python_name for a in tool.http.args]
        assert len(set(pythons)) == len(pythons) and all(p.isidentifier() and p != "call" for p in pythons)
        required = set(tool.input_schema.get("required", []))
        for param in op.get("parameters", []):
            if param["in"] == "body" or (param["in"] == "header" and param["name"].lower() in SKIPPED_HEADERS):
                continue
            if param.get("required"):
                where = (
                    {ArgLocation.FORM, ArgLocation.MULTIPART}
                    if param["in"] == "formData"
                    else {ArgLocation(param["in"])}
                )
                match = [a for a in tool.http.args if a.wire_name == param["name"] and a.location in where]
                assert match and match[0].name in required, param


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_compiling_is_deterministic(document: dict[str, Any]) -> None:
    first = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi"))
    second = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi"))
    assert first.to_manifest() == second.to_manifest()


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    [
        "parameters",
        "requestBody",
        "responses",
        "security",
        "servers",
        "tags",
        "summary",
        "description",
        "deprecated",
        "operationId",
        "externalDocs",
        "callbacks",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents(), st.lists(st.tuples(FIELDS, JSON), min_size=1, max_size=4), st.data())
def test_malformed_operations_never_crash(
    document: dict[str, Any], damage: list[tuple[str, Any]], data: st.DataObject
) -> None:
    """Untrusted input: wrong types anywhere in an operation give warnings or a SourceError, never a traceback."""
    operations = [op for item in document["paths"].values() for op in item.values()]
    for field, value in damage:
        data.draw(st.sampled_from(operations))[field] = value
    try:
        integration = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi"))
    except SourceError as exc:
        assert "\n" not in str(exc)
        return
    assert len(integration.tools) == len(operations)
    for tool in integration.tools:
        assert tool_schema_problems(tool.input_schema) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_names_do_not_depend_on_other_operations(document: dict[str, Any], data: st.DataObject) -> None:
    """Removing an operation renames no other tool, unless the two names had clashed."""
    budget = name_budget(SLUG)

    def raw_name(method: str, path: str) -> str:
        operation_id = document["paths"][path][method].get("operationId")
        operation_id = operation_id if isinstance(operation_id, str) and operation_id.strip() else None
        return shorten(operation_name(operation_id, method, path), budget)

    def names() -> dict[tuple[str, str], str]:
        integration = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi"))
        return {(t.http.method.lower(), t.http.path): t.name for t in integration.tools if t.http is not None}

    before = names()
    path = data.draw(st.sampled_from(sorted(document["paths"])))
    method = data.draw(st.sampled_from(sorted(document["paths"][path])))
    removed = raw_name(method, path)
    del document["paths"][path][method]
    for key, name in names().items():
        if before[key] != name:  # only a former clash partner of the removed operation may change
            assert raw_name(*key) == removed
