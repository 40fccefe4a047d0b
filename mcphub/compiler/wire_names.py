"""Client-safe property names at every depth of a tool's input schema, and the wire map back to the API's names.

Clients refuse a property name outside `^[a-zA-Z0-9_.-]{1,64}$` anywhere in an input schema (CLIENT-COMPAT.md), and
APIs use such names below the top level too (Spoonacular's `Wine Pairing`, Microsoft Graph's `@odata.type`). The
top level is the arguments, renamed by `naming.safe_property_name` with the binding's `wire_name`; below it this
module renames the same way and records a *wire map*, which the runtime (`serialization.to_wire_names`) applies to
the argument's value so the API gets its own names back.

A wire map is plain JSON (it lives in manifest.json), one node per schema that has a renamed name somewhere below:
    {"rename": {safe: wire}, "properties": {safe: node}, "items": node, "additionalProperties": node,
     "variants": [node, ...], "ref": "<$defs name>"}
Only keys that lead to a rename are present. `variants` are the branches of anyOf/oneOf/allOf: a value is renamed by
every branch (their names cannot contradict: one schema object is renamed as a whole). `ref` points to the map of
a `$defs` entry, kept once per tool in `HttpBinding.wire_defs`, so recursion through `$defs` needs no recursion here.

Collisions are settled deterministically: the names that are legal keep them, then the others in the order the
schema lists them take the first free `name`, `name_2`, ... (`a b` next to a real `a_b` becomes `a_b_2`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mcphub.compiler.ir import JsonSchema
from mcphub.compiler.naming import PROPERTY_NAME_RE, safe_property_name

__all__ = ["WireMap", "client_safe_schema"]

WireMap = dict[str, Any]
_COMBINATORS = ("anyOf", "oneOf", "allOf")
_REF_PREFIX = "#/$defs/"


class _Renamer:
    """One tool schema's renaming: memoised per schema object (shared subschemas are renamed once)."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[Any, WireMap | None, Any]] = {}  # id -> (node, map, renamed node)

    def node(self, schema: Any) -> tuple[Any, WireMap | None]:
        """`schema` with client-safe names (a copy only where something changed) and its wire map (None: none)."""
        if not isinstance(schema, dict):
            return schema, None
        hit = self._done.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[2], hit[1]
        out: JsonSchema | None = None
        wire: WireMap = {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            wire["ref"] = ref[len(_REF_PREFIX) :]
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties:
            renamed, rename, below = self._properties(properties)
            if rename or below:
                out = dict(schema)
                out["properties"] = renamed
                if rename:
                    wire["rename"] = rename
                    back = {w: s for s, w in rename.items()}
                    _rename_lists(out, back)
                if below:
                    wire["properties"] = below
        for key in ("items", "additionalProperties"):
            sub = schema.get(key)
            if isinstance(sub, dict):
                new, sub_map = self.node(sub)
                if sub_map is not None:
                    out = out if out is not None else dict(schema)
                    out[key] = new
                    wire[key] = sub_map
        variants: list[WireMap] = []
        for key in _COMBINATORS:
            branches = schema.get(key)
            if not isinstance(branches, list):
                continue
            new_branches = []
            for branch in branches:
                new, sub_map = self.node(branch)
                new_branches.append(new)
                if sub_map is not None:
                    variants.append(sub_map)
            if new_branches != branches or any(a is not b for a, b in zip(new_branches, branches, strict=True)):
                out = out if out is not None else dict(schema)
                out[key] = new_branches
        if variants:
            wire["variants"] = variants
        result = out if out is not None else schema
        # A node with only a `ref` is kept until the `$defs` maps are known (`_prune` drops it if that entry renames
        # nothing).
        found = wire or None
        self._done[id(schema)] = (schema, found, result)
        return result, found

    def _properties(self, properties: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], dict[str, WireMap]]:
        taken = {name for name in properties if PROPERTY_NAME_RE.match(name)}
        renamed: dict[str, Any] = {}
        rename: dict[str, str] = {}
        below: dict[str, WireMap] = {}
        for name, sub in properties.items():
            safe = name
            if not PROPERTY_NAME_RE.match(name):
                safe = safe_property_name(name, taken)
                taken.add(safe)
                rename[safe] = name
            new, sub_map = self.node(sub)
            renamed[safe] = new
            if sub_map is not None:
                below[safe] = sub_map
        return renamed, rename, below


def _rename_lists(schema: JsonSchema, back: dict[str, str]) -> None:
    """`required` and `dependentRequired` name properties too: they follow the renaming."""
    required = schema.get("required")
    if isinstance(required, list):
        schema["required"] = [back.get(name, name) if isinstance(name, str) else name for name in required]
    dependent = schema.get("dependentRequired")
    if isinstance(dependent, dict):
        schema["dependentRequired"] = {
            back.get(key, key): [back.get(n, n) for n in names] if isinstance(names, list) else names
            for key, names in dependent.items()
        }


def _prune(wire: WireMap | None, defs: Collection[str]) -> WireMap | None:
    """Drop references to `$defs` entries that rename nothing, and the nodes left empty."""
    if wire is None:
        return None
    out: WireMap = {}
    if "ref" in wire and wire["ref"] in defs:
        out["ref"] = wire["ref"]
    if "rename" in wire:
        out["rename"] = wire["rename"]
    properties = {k: v for k, v in ((k, _prune(v, defs)) for k, v in wire.get("properties", {}).items()) if v}
    if properties:
        out["properties"] = properties
    for key in ("items", "additionalProperties"):
        sub = _prune(wire.get(key), defs)
        if sub:
            out[key] = sub
    variants = [v for v in (_prune(v, defs) for v in wire.get("variants", [])) if v]
    if variants:
        out["variants"] = variants
    return out or None


def client_safe_schema(schema: JsonSchema) -> tuple[JsonSchema, dict[str, WireMap], dict[str, WireMap]]:
    """A tool input schema with client-safe property names below the top level, and the wire maps back.

    Returns the schema (the very object when nothing needed renaming; the input is never modified), the wire
    map of each top-level argument that has one, and the maps of the `$defs` entries that rename something.
    The top level is left alone: its names are the arguments', renamed with their bindings.
    """
    renamer = _Renamer()
    out: JsonSchema | None = None
    defs = schema.get("$defs")
    def_maps: dict[str, WireMap] = {}
    if isinstance(defs, dict):
        new_defs = {}
        raw_maps: dict[str, WireMap | None] = {}
        for name, sub in defs.items():
            new_defs[name], raw_maps[name] = renamer.node(sub)
        # A `$defs` entry renames something if it does, or if an entry it refers to does (to a fixed point).
        renaming = {name for name, wire in raw_maps.items() if wire is not None and set(wire) - {"ref"}}
        changed = True
        while changed:
            changed = False
            for name, wire in raw_maps.items():
                if name not in renaming and wire is not None and _refers(wire, renaming):
                    renaming.add(name)
                    changed = True
        def_maps = {name: _prune(raw_maps[name], renaming) or {} for name in sorted(renaming)}
        if any(new_defs[name] is not defs[name] for name in defs):
            out = {**schema, "$defs": new_defs}
    arg_maps: dict[str, WireMap] = {}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        new_properties = {}
        for name, sub in properties.items():
            new, wire = renamer.node(sub)
            new_properties[name] = new
            pruned = _prune(wire, def_maps)
            if pruned:
                arg_maps[name] = pruned
        if any(new_properties[name] is not properties[name] for name in properties):
            out = {**(out or schema), "properties": new_properties}
    return (out if out is not None else schema), arg_maps, def_maps


def _refers(wire: WireMap, names: set[str]) -> bool:
    if wire.get("ref") in names:
        return True
    children = [*wire.get("properties", {}).values(), *wire.get("variants", [])]
    children += [wire[key] for key in ("items", "additionalProperties") if key in wire]
    return any(_refers(child, names) for child in children)
