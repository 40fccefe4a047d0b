"""Tool, property and Python names that every MCP client accepts (see CLIENT-COMPAT.md).

Names are pure functions of their source (operationId, or method and path), so a recompile of an
unchanged description yields the same names; only a genuine collision makes one name depend on
another, and then the tie is broken by a hash of the source, never by document order.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import keyword
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence

__all__ = [
    "DEFAULT_MAX_FULL_LENGTH",
    "MAX_NAME_LENGTH",
    "PREFIX_SEPARATOR",
    "PROPERTY_NAME_RE",
    "TOOL_NAME_RE",
    "is_legal_property_name",
    "is_legal_tool_name",
    "name_budget",
    "operation_name",
    "python_identifier",
    "safe_property_name",
    "short_hash",
    "shorten",
    "snake_case",
    "unique_names",
]

TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PROPERTY_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
MAX_NAME_LENGTH = 64  # the clients' hard limit, for the full (prefixed) name
DEFAULT_MAX_FULL_LENGTH = 48  # leaves room for prefixes like "mcp__<server>__" that clients add
PREFIX_SEPARATOR = "__"
MIN_BUDGET = 12  # below this a tool name cannot say what it does
_HASH_LENGTH = 4

# Words that carry little meaning in a tool name: dropped first when a name is too long.
_FILLER = frozenset({"a", "an", "the", "for", "of", "to", "by", "with", "in", "on", "from", "and", "or", "at", "as"})
# Abbreviations tried, in this order, before a name is cut (common, unambiguous in API names).
_ABBREVIATIONS = {
    "organizations": "orgs",
    "organization": "org",
    "repositories": "repos",
    "repository": "repo",
    "environments": "envs",
    "environment": "env",
    "configurations": "configs",
    "configuration": "config",
    "authenticated": "authed",
    "authentication": "auth",
    "authorization": "authz",
    "applications": "apps",
    "application": "app",
    "administrators": "admins",
    "administrator": "admin",
    "information": "info",
    "installations": "installs",
    "installation": "install",
    "permissions": "perms",
    "permission": "perm",
    "notifications": "notifs",
    "notification": "notif",
    "subscriptions": "subs",
    "subscription": "sub",
    "description": "desc",
    "properties": "props",
    "property": "prop",
    "enterprise": "ent",
    "codespaces": "cspaces",
    "codespace": "cspace",
    "dependabot": "dbot",
    "deployments": "deploys",
    "deployment": "deploy",
    "collaborators": "collabs",
    "collaborator": "collab",
    "reactions": "reacts",
    "reaction": "react",
    "statistics": "stats",
    "message": "msg",
    "messages": "msgs",
    "parameters": "params",
    "parameter": "param",
    "definitions": "defs",
    "definition": "def",
    "management": "mgmt",
    "directory": "dir",
    "variables": "vars",
    "variable": "var",
    "identifier": "id",
    "workflows": "wfs",
    "workflow": "wf",
    "customers": "custs",
    "customer": "cust",
}

_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")
_IDENT_BAD = re.compile(r"[^A-Za-z0-9_]+")
_PROPERTY_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def short_hash(text: str, length: int = _HASH_LENGTH) -> str:
    """A stable lowercase [a-z2-7] digest of `text` (base32 of SHA-256), for name suffixes."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:length]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@functools.lru_cache(maxsize=65536)  # pure, and called for every parameter of every operation
def snake_case(text: str) -> str:
    """`getUserByID`, `issues/create`, `chat.postMessage`, `repos/get-content` → snake_case ('' if nothing is left)."""
    text = _ascii(text)
    text = _CAMEL_1.sub(r"\1_\2", text)
    text = _CAMEL_2.sub(r"\1_\2", text)
    return "_".join(part for part in _NON_WORD.split(text.lower()) if part)


def operation_name(operation_id: str | None, method: str, path: str) -> str:
    """The unshortened tool name of an operation: snake_case operationId, else method + path words."""
    name = snake_case(operation_id or "")
    if not name:
        name = snake_case(f"{method} {path.replace('{', ' ').replace('}', ' ')}")
    if not name:
        name = method.lower() or "operation"
    if not name[0].isalpha():
        name = f"op_{name}"
    return name


def name_budget(slug: str, max_full_length: int = DEFAULT_MAX_FULL_LENGTH) -> int:
    """Characters left for an unprefixed tool name once the hub adds `<slug>__`."""
    if max_full_length > MAX_NAME_LENGTH:
        raise ValueError(
            f"max_full_length {max_full_length} exceeds the clients' limit of {MAX_NAME_LENGTH}; use at most 64"
        )
    budget = max_full_length - len(slug) - len(PREFIX_SEPARATOR)
    if budget < MIN_BUDGET:
        raise ValueError(
            f"slug {slug!r} leaves only {budget} characters for tool names within {max_full_length}; "
            f"use a slug of at most {max_full_length - len(PREFIX_SEPARATOR) - MIN_BUDGET} characters"
        )
    return budget


def _cut(words: Sequence[str], limit: int) -> str:
    """Whole words from the front that fit in `limit`; a word is cut only if the first alone is too long."""
    out = ""
    for word in words:
        candidate = f"{out}_{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or words[0][:limit]


def shorten(name: str, budget: int, *, key: str | None = None) -> str:
    """Fit `name` into `budget` characters, deterministically.

    Steps, each tried only if the previous result is still too long: drop filler words, then repeated
    words, abbreviate common long words, then keep whole leading words and add `_<hash>` of `key` (default: the name)
    so that two long names sharing a prefix stay distinct.
    """
    if len(name) <= budget:
        return name
    words = [w for w in name.split("_") if w]
    trimmed = [w for w in words if w not in _FILLER] or words
    if len("_".join(trimmed)) <= budget:
        return "_".join(trimmed)
    trimmed = list(dict.fromkeys(trimmed))  # a repeated word says nothing new ("list_advisories_advisories")
    if len("_".join(trimmed)) <= budget:
        return "_".join(trimmed)
    abbreviated = [_ABBREVIATIONS.get(w, w) for w in trimmed]
    if len("_".join(abbreviated)) <= budget:
        return "_".join(abbreviated)
    suffix = "_" + short_hash(key or name)
    return _cut(abbreviated, budget - len(suffix)).rstrip("_") + suffix


def unique_names(
    names: Sequence[str], budget: int, *, keys: Sequence[str] | None = None, taken: Iterable[str] = ()
) -> list[str]:
    """Shorten every name to `budget` and make the results unique (and distinct from `taken`).

    `keys` identify the sources (e.g. "POST /repos/{owner}/{repo}/issues"); when two names end
    up equal, every member of the clash gets a hash of its key, so the outcome does not depend on
    the order of operations in the document.
    """
    keys = list(keys) if keys is not None else list(names)
    if len(keys) != len(names):
        raise ValueError("names and keys differ in length")
    reserved = set(taken)
    result = [shorten(name, budget) for name in names]
    for _round in range(4):
        counts: dict[str, int] = {}
        for candidate in result:
            counts[candidate] = counts.get(candidate, 0) + 1
        clashing = [i for i, c in enumerate(result) if counts[c] > 1 or c in reserved]
        if not clashing:
            return result
        for i in clashing:
            # The round number salts later attempts, in the (astronomically rare) case hashes collide too.
            salt = keys[i] if _round == 0 else f"{keys[i]}#{_round}"
            suffix = "_" + short_hash(salt)
            base = shorten(names[i], budget - len(suffix))
            result[i] = (base[: budget - len(suffix)].rstrip("_") or "op") + suffix
    counts = {}
    for candidate in result:
        counts[candidate] = counts.get(candidate, 0) + 1
    duplicates = sorted(c for c, n in counts.items() if n > 1)
    raise ValueError(f"cannot make tool names unique: {duplicates}")


def is_legal_tool_name(name: str) -> bool:
    return bool(TOOL_NAME_RE.match(name))


def is_legal_property_name(name: str) -> bool:
    return bool(PROPERTY_NAME_RE.match(name))


def _dedupe(candidate: str, taken: Collection[str], limit: int, separator: str = "_") -> str:
    if candidate not in taken:
        return candidate
    n = 2
    while True:
        suffix = f"{separator}{n}"
        option = candidate[: limit - len(suffix)] + suffix
        if option not in taken:
            return option
        n += 1


def safe_property_name(wire_name: str, taken: Collection[str] = ()) -> str:
    """A client-safe input-schema property name for `wire_name`, distinct from `taken`.

    Bracket suffixes of form encodings go (`expand[]` → `expand`, `metadata[key]` → `metadata`),
    other illegal characters become `_`, and over-long names keep a hash of the original.
    """
    return _dedupe(_property_base(wire_name), taken, MAX_NAME_LENGTH)


@functools.lru_cache(maxsize=65536)
def _property_base(wire_name: str) -> str:
    if PROPERTY_NAME_RE.match(wire_name):
        return wire_name
    base = _ascii(wire_name)
    if "[" in base and not base.startswith("["):
        base = base[: base.index("[")]
    base = _PROPERTY_BAD.sub("_", base).strip("_")
    if not base:
        base = "param"
    if len(base) > MAX_NAME_LENGTH:
        suffix = "_" + short_hash(wire_name)
        base = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
    return base


_RESERVED_IDENTIFIERS = frozenset({"self", "cls", "None", "True", "False"})


def python_identifier(name: str, taken: Collection[str] = ()) -> str:
    """A valid, non-keyword Python identifier for `name` (snake_case), distinct from `taken`."""
    return _dedupe(_identifier_base(name), taken, 10_000)


@functools.lru_cache(maxsize=65536)
def _identifier_base(name: str) -> str:
    # Names with their own separators keep their words ("X-GitHub-Api-Version" → x_github_api_version);
    # only a bare camelCase name is split ("pageSize" → page_size).
    words = [w for w in _NON_WORD.split(_ascii(name)) if w]
    ident = (
        "_".join(w.lower() for w in words)
        if len(words) > 1
        else snake_case(name) or _IDENT_BAD.sub("_", _ascii(name)).strip("_") or "arg"
    )
    if ident[0].isdigit():
        ident = f"n_{ident}"
    if keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in _RESERVED_IDENTIFIERS:
        ident = f"{ident}_"
    return ident


# Names of header/query parameters that carry a credential: "X-API-Key", "api_key", "X-ListenAPI-Key",
# "Ocp-Apim-Subscription-Key", "access_token", "X-Auth-Token". Narrow on purpose: "page_token", "Idempotency-Key",
# "client_secret" (Stripe's PaymentIntent secret) or "key" alone are ordinary arguments.
_CREDENTIAL_NAME = re.compile(r"(api|access|secret|subscription|private|auth)[-_ ]?(key|token)$", re.IGNORECASE)


def looks_like_credential(parameter: str) -> bool:
    """Whether a header or query parameter of this name most likely carries the caller's credential."""
    return _CREDENTIAL_NAME.search(parameter) is not None
