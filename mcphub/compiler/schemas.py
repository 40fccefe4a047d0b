"""JSON Schema normalisation: OpenAPI/Swagger schema objects → client-safe JSON Schema 2020-12.

What comes out:
- local `$ref`s are resolved and inlined; a schema that takes part in a reference cycle is emitted
  once under the tool schema's own `$defs` and referenced as `#/$defs/<name>`, so recursion is
  finite and no `$ref` ever points outside the tool schema;
- `allOf` is merged into one schema wherever that is exact; `oneOf`/`anyOf`/`not` are kept
  (the caller flattens the root, where clients forbid combinators);
- nullability has ONE output form: `type: [<type>, "null"]` (with `null` added to `enum`), and
  `anyOf: [<schema>, {"type": "null"}]` only when the schema has no `type` to extend. Why: both are
  plain draft 2020-12, so any validator agrees on them; the OpenAPI 3.0 `nullable` keyword is not
  JSON Schema (validators ignore it, so null would be rejected), 3.1 descriptions already use type
  arrays, and OpenAI's strict mode asks for exactly this form. Clients that want `nullable`
  (Gemini) get it from a per-client profile, derived mechanically from this form;
- keywords are whitelisted: anything a validator or client may choke on (`discriminator`, `xml`,
  `externalDocs`, `x-*`, `nullable`, OpenAPI `example`, boolean `exclusiveMinimum`, ...) is either
  translated (`example` → `examples`, discriminator and docs links → description text) or dropped;
  invalid values (non-numeric `maximum`, unparsable `pattern`) are dropped so the result always
  passes the 2020-12 meta-schema;
- request view: properties marked `readOnly` are removed (they cannot be sent), `writeOnly` is dropped
  as a keyword but its property kept.

Results are memoised per referenced schema and shared between tools: treat every returned schema
as immutable and copy before changing it (the callers in `sources/` copy on write).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from mcphub.compiler.ir import JsonSchema
from mcphub.compiler.naming import PROPERTY_NAME_RE, short_hash

__all__ = ["Dialect", "Normalized", "ObjectShape", "SchemaNormalizer", "merge_schemas", "tool_schema_problems"]

Dialect = Literal["swagger2", "oas30", "oas31"]

_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
# What a `$ref`'s siblings may still say in OpenAPI 3.0 and Swagger 2.0, where the rest is ignored.
_REF_ANNOTATIONS = frozenset(
    {"description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly", "nullable"}
)
_STRING_KEYS = ("title", "format", "contentMediaType", "contentEncoding")
_NUMBER_KEYS = ("minimum", "maximum")
_COUNT_KEYS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "deprecated", "readOnly"})
_DEF_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_EXAMPLE_CHARS = 300
_MAX_REF_HOPS = 64
_MAX_LEVEL = 64  # real descriptions stay under 30; validators (jsonschema) recurse ~8 frames per level
# A referenced schema bigger than this (in schema nodes, fully inlined) goes to `$defs` instead of
# being inlined; small ones are inlined because some clients (Cursor) handle `$ref` poorly.
INLINE_LIMIT = 400
_VALUES_NOTE = "Values: `"


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised schema and the cyclic schemas (by JSON pointer) it needs under `$defs`."""

    schema: JsonSchema
    deps: frozenset[str]


@dataclass(slots=True)
class ObjectShape:
    """An object schema flattened for a tool's root: properties, required names and extra notes."""

    properties: dict[str, JsonSchema]
    required: list[str]
    description: str
    deps: set[str]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    return None


def _small(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return len(value) <= _MAX_EXAMPLE_CHARS
    try:
        return len(json.dumps(value)) <= _MAX_EXAMPLE_CHARS
    except (TypeError, ValueError):
        return False


def _types_of(schema: JsonSchema) -> list[str] | None:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return list(t)
    return None


def _append_description(schema: JsonSchema, text: str) -> None:
    current = schema.get("description")
    schema["description"] = f"{current.rstrip()} {text}" if isinstance(current, str) and current.strip() else text


def merge_schemas(a: JsonSchema, b: JsonSchema) -> JsonSchema | None:
    """The exact conjunction of two normalised schemas as one schema, or None if that needs `allOf`.

    Annotations (description, default, ...) of `a` win; neither input is modified.
    """
    result = dict(a)
    for key, value in b.items():
        if key not in result:
            result[key] = value
            continue
        current = result[key]
        if current == value:
            continue
        if key == "properties":
            props = dict(current)
            for name, sub in value.items():
                if name in props and props[name] != sub:
                    props[name] = merge_schemas(props[name], sub) or {"allOf": [props[name], sub]}
                else:
                    props.setdefault(name, sub)
            result[key] = props
        elif key == "required":
            result[key] = list(dict.fromkeys([*current, *value]))
        elif key == "type":
            left = [current] if isinstance(current, str) else current
            right = [value] if isinstance(value, str) else value
            both = [t for t in left if t in right or (t == "integer" and "number" in right)]
            both += [t for t in right if t == "integer" and "number" in left and t not in both]
            if not both:
                return None
            result[key] = both[0] if len(both) == 1 else both
        elif key == "enum":
            common = [v for v in current if v in value]
            if not common:
                return None
            result[key] = common
        elif key in _ANNOTATIONS:
            if key in ("deprecated", "readOnly"):
                result[key] = bool(current or value)
            elif (
                key == "description"
                and isinstance(value, str)
                and _VALUES_NOTE in value
                and _VALUES_NOTE not in current
            ):
                # An overriding description must not lose what the enum values mean.
                result[key] = f"{current} {value[value.index(_VALUES_NOTE) :]}"
        else:
            return None
    return result


class SchemaNormalizer:
    """Normalises the schemas of one document; memoises per `$ref` so shared schemas are done once."""

    def __init__(
        self,
        document: dict[str, Any],
        dialect: Dialect,
        *,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.document = document
        self.dialect = dialect
        self._warn_callback = warn
        self.where = ""  # location prefix for warnings, set by the caller per operation
        self._memo: dict[str, Normalized] = {}
        self._body_ids: dict[int, Normalized] = {}  # id(memoised schema) -> it, to find shared parts
        self._sizes: dict[int, int] = {}
        self._cyclic: set[str] = set()
        self._stack: list[str] = []
        self._on_stack: dict[str, int] = {}
        # Structural depth (properties/items nesting) now and when each stacked $ref was entered:
        # a cycle that does not nest is degenerate ("A: {$ref: A}", "A: {oneOf: [{$ref: A}]}").
        self._depth = 0
        self._level = 0  # recursion depth of _node, bounded by _MAX_LEVEL
        self._nesting: list[int] = []
        self._by_id: dict[int, tuple[Any, Normalized]] = {}
        self._targets: dict[str, Any] = {}
        self._def_names: dict[str, str] = {}
        self._def_pointers: dict[str, str] = {}
        self._patterns: dict[str, bool] = {}
        self._warned: set[str] = set()

    # -- references -------------------------------------------------------------------------

    def _warn(self, message: str) -> None:
        text = f"{self.where}: {message}" if self.where else message
        if text not in self._warned:
            self._warned.add(text)
            if self._warn_callback is not None:
                self._warn_callback(text)

    def resolve_pointer(self, ref: str) -> Any:
        """The value at a local reference (`#/components/schemas/Pet`); KeyError if it is not there."""
        try:
            return self._targets[ref]
        except KeyError:
            pass
        if not ref.startswith("#"):
            raise KeyError(ref)
        node: Any = self.document
        fragment = ref[1:]
        if fragment:
            if not fragment.startswith("/"):
                raise KeyError(ref)
            for raw in fragment[1:].split("/"):
                part = unquote(raw).replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    raise KeyError(ref)
        self._targets[ref] = node
        return node

    def deref(self, value: Any) -> Any:
        """Follow `$ref` chains of non-schema objects (parameters, request bodies, responses)."""
        hops = 0
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
            hops += 1
            if hops > _MAX_REF_HOPS:
                self._warn(f"$ref loop at {ref!r}; ignored")
                return {}
            try:
                value = self.resolve_pointer(ref)
            except KeyError:
                self._warn(f"unresolvable $ref {ref!r}; ignored")
                return {}
        return value

    def def_name(self, pointer: str) -> str:
        """The `$defs` key for a cyclic schema: its component name, plus a hash when that is ambiguous."""
        name = self._def_names.get(pointer)
        if name is None:
            parts = pointer.split("/")
            last = unquote(parts[-1]).replace("~1", "/").replace("~0", "~") if len(parts) > 1 else "root"
            clean = _DEF_NAME_BAD.sub("_", last).strip("_")[:48] or "schema"
            canonical = len(parts) == 4 and parts[1] == "components" and parts[2] == "schemas"
            canonical = canonical or (len(parts) == 3 and parts[1] == "definitions")
            if not canonical or clean != last:
                clean = f"{clean}_{short_hash(pointer)}"
            name = self._def_names[pointer] = clean
            self._def_pointers[name] = pointer
        return name

    def _ref(self, ref: str, deps: set[str]) -> JsonSchema:
        done = self._memo.get(ref)
        if done is None:
            index = self._on_stack.get(ref)
            if index is not None:
                if self._nesting[index] == self._depth:
                    # Back to `ref` through $ref/allOf/oneOf only: validators would loop forever on it.
                    self._warn(f"schema {ref!r} contains itself without nesting; treated as any value")
                    return {}
                # A back edge: everything from `ref` to the top of the stack lies on a cycle.
                self._cyclic.update(self._stack[index:])
                deps.add(ref)
                return {"$ref": f"#/$defs/{self.def_name(ref)}"}
            try:
                target = self.resolve_pointer(ref)
            except KeyError:
                hint = "" if ref.startswith("#") else " (only local and relative-file references are supported)"
                self._warn(f"unresolvable $ref {ref!r}{hint}; treated as any value")
                return {}
            self._on_stack[ref] = len(self._stack)
            self._stack.append(ref)
            self._nesting.append(self._depth)
            local: set[str] = set()
            try:
                body = self._node(target, local)
            finally:
                self._stack.pop()
                self._nesting.pop()
                del self._on_stack[ref]
            done = self._memo[ref] = Normalized(body, frozenset(local))
            self._body_ids[id(body)] = done
            if ref not in self._cyclic and self._size(body) > INLINE_LIMIT:
                # Inlining a big shared schema at every use multiplies sizes along each path (one
                # DocuSign tool would be hundreds of MB); beyond the limit it lives in `$defs` once.
                self._cyclic.add(ref)
        if ref in self._cyclic:
            deps.add(ref)
            return {"$ref": f"#/$defs/{self.def_name(ref)}"}
        deps.update(done.deps)
        return done.schema

    # -- public entry points ------------------------------------------------------------------

    def normalize(self, schema: Any) -> Normalized:
        """Normalise one schema (memoised by identity: the document is not modified while compiling)."""
        if not self._stack:
            hit = self._by_id.get(id(schema))
            if hit is not None and hit[0] is schema:
                return hit[1]
        deps: set[str] = set()
        result = Normalized(self._node(schema, deps), frozenset(deps))
        if not self._stack and isinstance(schema, dict):
            self._by_id[id(schema)] = (schema, result)
        return result

    def definitions(self, deps: Iterable[str]) -> dict[str, JsonSchema]:
        """`$defs` for a tool schema: every cyclic schema in `deps` and those they need, by name."""
        pending = list(deps)
        seen: set[str] = set()
        out: dict[str, JsonSchema] = {}
        while pending:
            pointer = pending.pop()
            if pointer in seen:
                continue
            seen.add(pointer)
            done = self._memo.get(pointer)
            if done is None:  # only reachable if a caller passes foreign pointers
                continue
            out[self.def_name(pointer)] = done.schema
            pending.extend(done.deps)
        return dict(sorted(out.items()))

    def definition(self, ref_value: str) -> Normalized | None:
        """The body behind a `#/$defs/<name>` reference produced by this normaliser."""
        if not ref_value.startswith("#/$defs/"):
            return None
        pointer = self._def_pointers.get(ref_value[len("#/$defs/") :])
        return self._memo.get(pointer) if pointer is not None else None

    def object_shape(self, normalized: Normalized) -> ObjectShape | None:
        """Flatten a normalised object schema for a tool root, or None if it is not an object with properties.

        `$ref` to `$defs` and `allOf` are merged (conflicts: the first schema wins), and a `oneOf`/`anyOf`
        of objects becomes the union of their properties, required only where every variant requires
        it, with the variants described in `description` -- but only where that flattening is exact (see
        `_union_is_exact`); otherwise None, and the caller binds the whole body as one `body` argument.
        """
        deps = set(normalized.deps)
        schema = self._unwrap(normalized.schema, deps)
        if schema is None:
            return None
        variants = schema.get("oneOf") or schema.get("anyOf")
        if variants and "properties" not in schema:
            return self._union_shape(schema, variants, deps)
        if variants or "not" in schema:
            # Properties with a constraint beside them (GitHub's `oneOf: [{required: [id]}, {required: [owner, repo,
            # number]}]`): flat arguments cannot say it, so the body is one argument that keeps it.
            return None
        types = _types_of(schema)
        if types is not None and "object" not in types:
            return None
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            return None
        required = [r for r in schema.get("required", []) if r in properties]
        description = schema.get("description", "") if isinstance(schema.get("description"), str) else ""
        return ObjectShape(dict(properties), required, description, deps)

    # -- internals ----------------------------------------------------------------------------

    def _unwrap(self, schema: JsonSchema, deps: set[str], depth: int = 0) -> JsonSchema | None:
        """Inline a root `$ref` to `$defs` and force-merge a root `allOf` (best effort, first wins)."""
        if depth > 8:
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            body = self.definition(ref)
            if body is None:
                return None
            deps.update(body.deps)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            inner = self._unwrap(body.schema, deps, depth + 1)
            if inner is None:
                return None
            schema = merge_schemas(rest, inner) or _force_merge(rest, inner)
        parts = schema.get("allOf")
        if parts:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in parts:
                inner = self._unwrap(part, deps, depth + 1)
                if inner is None:
                    continue
                merged = merge_schemas(merged, inner) or _force_merge(merged, inner)
            schema = merged
        return schema

    def _union_shape(self, schema: JsonSchema, variants: list[JsonSchema], deps: set[str]) -> ObjectShape | None:
        shapes: list[JsonSchema] = []
        for variant in variants:
            inner = self._unwrap(variant, deps)
            if inner is None:
                return None
            if inner.get("type") == "null":
                continue
            types = _types_of(inner)
            if (types is not None and "object" not in types) or not isinstance(inner.get("properties"), dict):
                return None
            shapes.append(inner)
        if not shapes:
            return None
        properties: dict[str, JsonSchema] = {}
        for shape in shapes:
            for name, sub in shape["properties"].items():
                current = properties.get(name)
                if current is None:
                    properties[name] = sub
                elif current != sub:
                    options = current["anyOf"] if list(current) == ["anyOf"] else [current]
                    if sub not in options:
                        properties[name] = {"anyOf": [*options, sub]}
        required = [
            name for name in shapes[0].get("required", []) if all(name in s.get("required", []) for s in shapes)
        ]
        if not _union_is_exact("oneOf" in schema, shapes, properties, required):
            return None
        notes = []
        for i, shape in enumerate(shapes, 1):
            label = shape.get("title") if isinstance(shape.get("title"), str) else f"variant {i}"
            fields = ", ".join(shape["properties"])
            must = [r for r in shape.get("required", []) if r in shape["properties"]]
            notes.append(f"({label}) {fields}" + (f" [required: {', '.join(must)}]" if must else ""))
        kind = "exactly one" if "oneOf" in schema else "one or more"
        description = schema.get("description", "") if isinstance(schema.get("description"), str) else ""
        description = (description + " " if description else "") + (
            f"Send the fields of {kind} of these shapes: " + "; ".join(notes) + "."
        )
        return ObjectShape(properties, required, description, deps)

    def _size(self, schema: Any) -> int:
        """Schema nodes in `schema` once fully inlined (`$defs` references count one); memoised by identity."""
        if isinstance(schema, dict):
            known = self._sizes.get(id(schema))
            if known is not None:
                return known
            size = 1 + sum(self._size(v) for v in schema.values() if isinstance(v, dict | list))
            if id(schema) in self._body_ids:
                self._sizes[id(schema)] = size
            return size
        if isinstance(schema, list):
            return sum(self._size(v) for v in schema if isinstance(v, dict | list))
        return 0

    def dependencies(self, schema: Any) -> set[str]:
        """Pointers of the `$defs` entries that `schema` (built from this normaliser's output) refers to."""
        found: set[str] = set()
        pending = [schema]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                shared = self._body_ids.get(id(node))
                if shared is not None and shared.schema is node:
                    found.update(shared.deps)
                    continue
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    pointer = self._def_pointers.get(ref[len("#/$defs/") :])
                    if pointer is not None:
                        found.add(pointer)
                pending.extend(v for v in node.values() if isinstance(v, dict | list))
            elif isinstance(node, list):
                pending.extend(v for v in node if isinstance(v, dict | list))
        return found

    def size(self, schema: Any) -> int:
        """Schema nodes in `schema` with shared parts counted once (`$defs` entries are separate keys)."""
        return self._size(schema)

    def compact(self, schema: JsonSchema, budget: int) -> tuple[JsonSchema, int]:
        """A tool schema cut down to at most `budget` nodes, and the nesting depth kept.

        `$defs` are inlined and nesting is cut at the deepest level that fits; a cut subschema keeps
        its type, enum and description but accepts any content, so the result is looser, never stricter.
        """
        for depth in range(8, 0, -1):
            try:
                out = self._compact(schema, depth, [budget])
            except _OverBudget:
                continue
            out.pop("$defs", None)
            return out, depth
        properties = schema.get("properties", {})
        out = {k: v for k, v in schema.items() if k not in ("properties", "$defs")}
        out["properties"] = {name: self._summary(sub) for name, sub in properties.items()}
        return out, 0

    def _compact(self, node: Any, depth: int, budget: list[int]) -> Any:
        if isinstance(node, list):
            return [self._compact(v, depth, budget) for v in node]
        if not isinstance(node, dict):
            return node
        budget[0] -= 1
        if budget[0] < 0:
            raise _OverBudget
        ref = node.get("$ref")
        if isinstance(ref, str):
            body = self.definition(ref)
            if body is not None:
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return self._compact({**body.schema, **rest}, depth, budget)
        if depth <= 0:
            return self._summary(node)
        out: JsonSchema = {}
        for key, value in node.items():
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                out[key] = {k: self._compact(v, depth - 1, budget) for k, v in value.items()}
            elif key in ("items", "additionalProperties", "prefixItems"):
                out[key] = self._compact(value, depth - 1, budget)
            elif key in ("allOf", "oneOf", "anyOf", "not"):
                out[key] = self._compact(value, depth, budget)
            elif key != "$defs":
                out[key] = value
        return out

    def _summary(self, node: JsonSchema) -> JsonSchema:
        ref = node.get("$ref")
        if isinstance(ref, str):
            body = self.definition(ref)
            node = {**(body.schema if body is not None else {}), **{k: v for k, v in node.items() if k != "$ref"}}
        out: JsonSchema = {k: node[k] for k in ("type", "enum", "const", "format", "description") if k in node}
        if _types_of(out) and set(_types_of(out) or []) & {"object", "array"}:
            _append_description(out, "(Nested fields omitted for size.)")
        return out

    def _pattern_ok(self, pattern: str) -> bool:
        ok = self._patterns.get(pattern)
        if ok is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # FutureWarning "possible nested set": valid today
                    re.compile(pattern)
                ok = True
            except (re.error, RecursionError, OverflowError):
                ok = False
                self._warn(f"pattern {pattern!r} is not a valid regular expression; dropped")
            self._patterns[pattern] = ok
        return ok

    def _nested(self, schema: Any, deps: set[str]) -> JsonSchema:
        self._depth += 1
        try:
            return self._node(schema, deps)
        finally:
            self._depth -= 1

    def _node(self, schema: Any, deps: set[str]) -> JsonSchema:
        self._level += 1
        try:
            if self._level > _MAX_LEVEL:
                # Only a cyclic object graph (YAML anchors) or a pathological description gets here.
                self._warn(f"schema nested deeper than {_MAX_LEVEL} levels; the rest is treated as any value")
                return {}
            return self._node_body(schema, deps)
        finally:
            self._level -= 1

    def _node_body(self, schema: Any, deps: set[str]) -> JsonSchema:
        if schema is True:
            return {}
        if schema is False:
            return {"not": {}}
        if not isinstance(schema, dict):
            self._warn(f"schema is a {type(schema).__name__}, not an object; treated as any value")
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if len(schema) == 1:
                return self._ref(ref, deps)
            # Siblings of $ref: a conjunction in 3.1; OpenAPI 3.0 and Swagger 2.0 ignore them (`$ref` with `type:
            # string` beside an object, Britbox's bodies, could never be satisfied), but for annotations.
            schema = {k: v for k, v in schema.items() if k != "$ref"}
            if self.dialect != "oas31":
                schema = {k: v for k, v in schema.items() if k in _REF_ANNOTATIONS or k.startswith("x-")}
                if not schema:
                    return self._ref(ref, deps)
            schema["allOf"] = [{"$ref": ref}, *(schema.get("allOf") or [])]

        out: JsonSchema = {}
        nullable = schema.get("nullable") is True or schema.get("x-nullable") is True
        notes: list[str] = []
        readonly_props: list[str] = []
        for key, value in schema.items():
            if key == "type":
                raw = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                types: list[str] = []
                for t in raw:
                    if t == "file":
                        t = "string"
                        out.setdefault("format", "binary")
                    if t == "null":
                        nullable = True
                    elif t in _TYPES and t not in types:
                        types.append(t)
                if types:
                    out["type"] = types[0] if len(types) == 1 else types
                elif "null" in raw:
                    out["type"] = "null"
            elif key == "properties":
                if isinstance(value, dict):
                    props: JsonSchema = {}
                    for name, sub in value.items():
                        normal = self._nested(sub, deps)
                        if normal.get("readOnly") is True:
                            readonly_props.append(name)
                            continue
                        props[name] = normal
                    out["properties"] = props
            elif key == "required":
                if isinstance(value, list):
                    out["required"] = list(dict.fromkeys(v for v in value if isinstance(v, str)))
            elif key == "items":
                if isinstance(value, dict | bool):
                    out["items"] = self._nested(value, deps)
                elif isinstance(value, list):
                    out["prefixItems"] = [self._nested(v, deps) for v in value]
            elif key == "prefixItems":
                if isinstance(value, list):
                    out["prefixItems"] = [self._nested(v, deps) for v in value]
            elif key == "additionalProperties":
                if isinstance(value, bool):
                    out[key] = value
                elif isinstance(value, dict):
                    out[key] = self._nested(value, deps)
            elif key == "patternProperties":
                if isinstance(value, dict):
                    out[key] = {
                        p: self._nested(v, deps) for p, v in value.items() if isinstance(p, str) and self._pattern_ok(p)
                    }
            elif key in ("allOf", "oneOf", "anyOf"):
                if isinstance(value, list) and value:
                    out[key] = [self._node(v, deps) for v in value]
            elif key == "not":
                if isinstance(value, dict | bool):
                    out[key] = self._node(value, deps)
            elif key == "enum":
                if isinstance(value, list):
                    out[key] = value
            elif key in ("const", "default"):
                out[key] = value
            elif key == "description":
                if isinstance(value, str) and value.strip():
                    out[key] = value.strip()
            elif key in _STRING_KEYS:
                if isinstance(value, str):
                    out[key] = value
            elif key == "pattern":
                if isinstance(value, str) and self._pattern_ok(value):
                    out[key] = value
            elif key in _NUMBER_KEYS:
                if _is_number(value):
                    out[key] = value
            elif key in ("exclusiveMinimum", "exclusiveMaximum"):
                if _is_number(value):
                    out[key] = value
                elif value is True:  # OpenAPI 3.0 / Swagger: a flag on minimum / maximum
                    bound = schema.get("minimum" if key == "exclusiveMinimum" else "maximum")
                    if _is_number(bound):
                        out[key] = bound
            elif key == "multipleOf":
                if _is_number(value) and value > 0:
                    out[key] = value
            elif key in _COUNT_KEYS:
                count = _count(value)
                if count is not None:
                    out[key] = count
            elif key == "uniqueItems" or key == "deprecated":
                if isinstance(value, bool):
                    out[key] = value
            elif key == "readOnly":
                if value is True:
                    out[key] = True
            elif key == "example":
                if "examples" not in schema and _small(value):
                    out["examples"] = [value]
            elif key == "examples":
                if isinstance(value, list):
                    small = [v for v in value if _small(v)][:3]
                    if small:
                        out[key] = small
            elif key == "discriminator":
                prop = value.get("propertyName") if isinstance(value, dict) else value
                if isinstance(prop, str):
                    notes.append(f"The `{prop}` property selects the variant.")
            elif key == "externalDocs":
                url = value.get("url") if isinstance(value, dict) else None
                if isinstance(url, str):
                    notes.append(f"Docs: {url}")
            elif key in ("x-enumDescriptions", "x-enum-descriptions", "x-enumNames"):
                meanings = self._enum_meanings(schema.get("enum"), value)
                if meanings:
                    notes.append(meanings)
            # everything else (xml, nullable, writeOnly, x-*, $schema, $id, $defs, ...) is dropped

        if readonly_props and "required" in out:
            out["required"] = [r for r in out["required"] if r not in readonly_props]
        if "required" in out and not out["required"]:
            del out["required"]
        if (
            "exclusiveMinimum" in out
            and out.get("minimum") == out["exclusiveMinimum"]
            and schema.get("exclusiveMinimum") is True
        ):
            del out["minimum"]
        if (
            "exclusiveMaximum" in out
            and out.get("maximum") == out["exclusiveMaximum"]
            and schema.get("exclusiveMaximum") is True
        ):
            del out["maximum"]
        if "allOf" in out:
            out = self._merge_all_of(out)
        for key in ("oneOf", "anyOf"):
            variants = out.get(key)
            if variants is not None and len(variants) == 1:
                rest = {k: v for k, v in out.items() if k != key}
                merged = merge_schemas(rest, variants[0])
                if merged is not None:
                    out = merged
        for note in notes:
            _append_description(out, note)
        if nullable:
            out = _make_nullable(out)
        return out

    @staticmethod
    def _enum_meanings(enum: Any, meanings: Any) -> str:
        if isinstance(meanings, dict):
            pairs = [(k, v) for k, v in meanings.items() if isinstance(v, str) and v]
        elif isinstance(enum, list) and isinstance(meanings, list):
            pairs = [(k, v) for k, v in zip(enum, meanings, strict=False) if isinstance(v, str) and v]
        else:
            return ""
        return (_VALUES_NOTE[:-1] + "; ".join(f"`{k}`: {v}" for k, v in pairs) + ".") if pairs else ""

    @staticmethod
    def _merge_all_of(out: JsonSchema) -> JsonSchema:
        parts = out.pop("allOf")
        merged: JsonSchema = out
        leftover: list[JsonSchema] = []
        for part in parts:
            candidate = merge_schemas(merged, part)
            if candidate is None:
                leftover.append(part)
            else:
                merged = candidate
        if leftover:
            merged = dict(merged)
            merged["allOf"] = leftover
        return merged


class _OverBudget(Exception):
    pass


def _force_merge(a: JsonSchema, b: JsonSchema) -> JsonSchema:
    """Best-effort union of two object schemas for a tool root, where `allOf` is not allowed."""
    result = dict(a)
    for key, value in b.items():
        if key == "properties" and isinstance(result.get(key), dict):
            props = dict(result[key])
            for name, sub in value.items():
                props.setdefault(name, sub)
            result[key] = props
        elif key == "required" and isinstance(result.get(key), list):
            result[key] = list(dict.fromkeys([*result[key], *value]))
        else:
            result.setdefault(key, value)
    return result


# Keywords of an object variant that `_union_is_exact` can reason about; any other (minProperties,
# patternProperties, dependentRequired, ...) constrains the body in ways a flattened schema would not show.
_PLAIN_OBJECT_KEYS = frozenset({"type", "properties", "required", "additionalProperties", *_ANNOTATIONS})


def _union_is_exact(
    one_of: bool, shapes: list[JsonSchema], properties: dict[str, JsonSchema], required: list[str]
) -> bool:
    """Whether every object the flattened union (`properties`, `required`) accepts is valid against the union.

    Why it matters: a tool root cannot be a `oneOf`/`anyOf` (clients refuse it, CLIENT-COMPAT.md), and flattening the
    variants into one object loses which fields go together: arguments valid for the flat schema (GitHub's
    `{}` for a body that needs `state` or `dismissed_reason`) are then no valid body at all, and the tool sends
    requests the API refuses. Flattening is kept where it loses nothing: a lone object variant, or an `anyOf`
    with a variant that accepts every flat value (it requires no more than all variants do, and has the very
    schema of each flat property or leaves it open). Elsewhere the caller binds the whole body as one `body`
    argument holding the union as written: still `type: object` at the root, the union one level down where
    clients accept it, and the hub's validation refuses a body that matches no variant before anything is sent.
    """
    if len(shapes) == 1:
        # Unless the lone variant has a constraint of its own (GitHub's nullable Pages body: `anyOf` of required).
        return not any(key in shapes[0] for key in ("oneOf", "anyOf", "allOf", "not"))
    if one_of:
        return False  # two object variants: some flat value (at least `{}` or one with both variants' fields) fits both or neither
    for shape in shapes:
        if not set(shape).issubset(_PLAIN_OBJECT_KEYS) or not set(shape.get("required", [])) <= set(required):
            continue
        own = shape.get("properties", {})
        extra = shape.get("additionalProperties", True)
        if all(own.get(name) == sub if name in own else extra in (True, {}) for name, sub in properties.items()):
            return True
    return False


def _make_nullable(schema: JsonSchema) -> JsonSchema:
    if not schema:
        return schema  # "any value" already admits null
    types = _types_of(schema)
    if types is not None and not any(k in schema for k in ("const", "allOf", "oneOf", "anyOf", "$ref", "not")):
        if "null" in types:
            return schema
        out = dict(schema)
        out["type"] = [*types, "null"]
        enum = out.get("enum")
        if isinstance(enum, list) and None not in enum:
            out["enum"] = [*enum, None]
        return out
    outer: JsonSchema = {k: schema[k] for k in ("description", "title", "default", "deprecated") if k in schema}
    inner = {k: v for k, v in schema.items() if k not in outer}
    outer["anyOf"] = [inner, {"type": "null"}]
    return outer


def tool_schema_problems(schema: JsonSchema) -> list[str]:
    """What makes `schema` unfit as an MCP tool input schema for some client (empty when fit).

    Checks the rules of CLIENT-COMPAT.md: root `type: object`, no root combinators or `$ref`,
    legal property names, every `$ref` pointing into the schema's own `$defs`, and validity against
    the JSON Schema 2020-12 meta-schema.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append(f"root type is {schema.get('type')!r}, not 'object'")
    problems.extend(f"root has '{key}'" for key in ("oneOf", "anyOf", "allOf", "$ref") if key in schema)
    defs = schema.get("$defs", {})
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            # Clients apply the property-name rule at every depth, not only to the arguments.
            properties = node.get("properties")
            if isinstance(properties, dict) and all(isinstance(sub, dict | bool) for sub in properties.values()):
                problems.extend(
                    f"illegal property name {name!r}" for name in properties if not PROPERTY_NAME_RE.match(name)
                )
            ref = node.get("$ref")
            if isinstance(ref, str) and not (ref.startswith("#/$defs/") and ref[len("#/$defs/") :] in defs):
                problems.append(f"$ref {ref!r} does not point into the schema's own $defs")
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        problems.append(f"invalid JSON Schema: {exc.message} at {'/'.join(map(str, exc.absolute_path))}")
    return problems
