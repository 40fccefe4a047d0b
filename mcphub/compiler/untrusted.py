"""Reading documents somebody else wrote (an upload, a download, a file in a cloned repository) without being hurt.

Three shapes of hostile input pass a parser and hurt what comes after it, so they are refused here, each with the
place it starts:

- a YAML "billion laughs": anchors whose aliases nest, so a few hundred bytes stand for billions of nodes. PyYAML
  shares the aliased node instead of copying it, so loading is quick, but every walk after it (the converter, a
  JSON dump) expands it. `load_yaml` counts the expanded size on the composed node graph before building anything.
- a cycle: YAML can make a list or mapping contain itself (`&a [*a]`); JSON cannot, and a naive walk of the
  loaded value never ends. A recursive schema is legitimate in a description (its walkers stop at a node they
  are inside), anywhere else `check_tree` refuses it and names the path.
- nesting deeper than any API description needs: `check_tree` bounds it (the parsers' own recursion limits
  are far deeper than what every later stage can take).

Sizes are bounded by the callers (each knows its own limit); `read_bounded` checks a file's size before reading it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from mcphub.compiler.errors import SourceError

__all__ = ["MAX_DEPTH", "MAX_EXPANDED_NODES", "check_tree", "load_untrusted", "load_yaml", "read_bounded"]

MAX_DEPTH = 200  # GitHub's 13 MB description nests 27 deep; Stripe's 31
MAX_EXPANDED_NODES = 5_000_000
# An anchor (`&name`) where YAML allows one: after a key's colon, a list dash, a flow bracket or the document start.
_ANCHOR = re.compile(rb"(?:^|[\s:\-\[{,])&[^\s,\[\]{}]+")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_bounded(
    path: Path, max_bytes: int, *, what: str = "file", hint: str = "is it the right file? (nothing was read or written)"
) -> bytes:
    """The bytes of `path`, refused before reading when the file is larger than `max_bytes` (`hint`: what to do)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if size > max_bytes:
        raise SourceError(f"{path}: {size:,} bytes is over the {_mib(max_bytes)} limit for a {what}; {hint}")
    return path.read_bytes()


def load_yaml(
    data: bytes | str, where: str, loader: type[Any] | None = None, *, max_nodes: int = MAX_EXPANDED_NODES
) -> Any:
    """YAML → a value with a safe loader, refusing aliases that expand past `max_nodes` nodes before building it.

    The document is composed once; the alias check walks that node graph only when a byte scan finds an anchor,
    so YAML without anchors costs nothing more. Syntax errors are the loader's own (`yaml.YAMLError`).
    """
    instance = (loader or _Loader)(data)
    try:
        node = instance.get_single_node()
        if node is None:
            return None
        if _ANCHOR.search(data.encode() if isinstance(data, str) else data):
            _check_alias_graph(node, where, max_nodes)
        return instance.construct_document(node)
    finally:
        instance.dispose()


def _check_alias_graph(root: yaml.Node, where: str, max_nodes: int) -> None:
    sizes: dict[int, int] = {}
    references: dict[int, int] = {}
    nodes: dict[int, yaml.Node] = {}
    on_stack: set[int] = set()
    # Iterative post-order: a node's expanded size is 1 + its children's (a shared child counted every time).
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_stack.discard(key)
            total = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            sizes[key] = min(total, max_nodes + 1)
            continue
        references[key] = references.get(key, 0) + 1
        nodes[key] = node
        if key in sizes:
            continue
        if key in on_stack:  # an alias inside its own anchor (a recursive schema): a walk stops there
            sizes[key] = 1
            references[key] -= 1
            continue
        on_stack.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    if sizes[id(root)] > max_nodes:
        shared = [k for k, count in references.items() if count > 1]
        worst = max(shared, key=lambda k: sizes[k] * references[k]) if shared else id(root)
        mark = nodes[worst].start_mark
        raise SourceError(
            f"{where}: line {mark.line + 1}: YAML aliases expand this document to more than {max_nodes:,} nodes "
            f"(the anchor defined there has {references[worst] - 1:,} aliases); a 'billion laughs' document is "
            "refused: write the values out or use $ref"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_tree(value: Any, where: str, *, max_depth: int = MAX_DEPTH, cycles: bool = False) -> None:
    """Refuse a loaded document that nests deeper than `max_depth` or (unless `cycles`: a recursive schema written
    with a YAML alias is legitimate in a description) contains itself, naming the path."""
    on_path: dict[int, str] = {}
    stack: list[tuple[Any, str, int, bool]] = [(value, "", 0, False)]
    while stack:
        node, pointer, depth, leaving = stack.pop()
        if leaving:
            on_path.pop(id(node), None)
            continue
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        if key in on_path:
            if cycles:
                continue
            raise SourceError(
                f"{where}: {pointer or '/'} contains itself (it is {on_path[key] or 'the document root'}): "
                "a cycle, made with a YAML alias; write the values out instead"
            )
        if depth > max_depth:
            raise SourceError(
                f"{where}: {_short(pointer)}: nested more than {max_depth} levels deep; refused as hostile"
            )
        on_path[key] = pointer
        stack.append((node, pointer, depth, True))
        entries = node.items() if isinstance(node, dict) else enumerate(node)
        for name, child in entries:
            if isinstance(child, dict | list):
                stack.append((child, f"{pointer}/{_escape(str(name))}", depth + 1, False))


def _short(pointer: str) -> str:
    return pointer if len(pointer) <= 80 else f"{pointer[:40]}…{pointer[-30:]}"


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def load_untrusted(data: bytes, where: str, *, max_depth: int = MAX_DEPTH, cycles: bool = False) -> Any:
    """JSON or YAML bytes → a value, with every guard above; errors name `where` and the line or path."""
    try:
        value = json.loads(data) if data.lstrip()[:1] in (b"{", b"[") else load_yaml(data, where)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SourceError(f"{where}{line}: not valid YAML ({exc.problem or exc.context})") from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{where}: not JSON or YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise SourceError(f"{where}: nested too deeply to read (more than {max_depth} levels); refused") from None
    check_tree(value, where, max_depth=max_depth, cycles=cycles)
    return value


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size >= 1024 * 1024 else f"{size:,}-byte"
