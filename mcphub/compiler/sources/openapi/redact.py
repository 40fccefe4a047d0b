"""Documented values that look like credentials (an example Bearer token, a sample private key), made inert.

The scan refuses a package holding anything like a credential (`compiler/rules/credentials.yaml`). API
descriptions document their authentication with example tokens and keys (Hetzner's `Bearer LRK9…`, Linode's
sample PEM keys, synq's AWS key id): public text, not a secret, but copied into tool descriptions and schemas it
would fail every build of that API. The loader finds such values with the scan's own patterns (read from the rule
file, so the two never disagree) and replaces each with a placeholder, with one warning naming the first place. A
credential that a hub spec or a template writes into a package is still the scan's to refuse.

The search is cheap where there is nothing to find (nearly always): a plain substring search per pattern's literal
part over the raw bytes (about 20 passes: ~0.1 s for GitHub's 5.7 MB on an idle core), and the full pattern only
in a small window around each hit.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import yaml

from mcphub.compiler.scan import RULES_DIR

PLACEHOLDER = "EXAMPLE-CREDENTIAL-REDACTED"
_RULE_FILE = RULES_DIR / "credentials.yaml"
_RULE_ID = "hardcoded-credential"
# A match is looked for from _BEFORE bytes before a literal hit (`Bearer` is found by `earer`, a PEM header by its
# end) to _AFTER bytes after it: a longer token is replaced up to there, and what is left of it matches no pattern.
_BEFORE = 64
_AFTER = 256


@functools.cache
def _patterns() -> list[tuple[tuple[bytes, ...], re.Pattern[bytes]]]:
    """(literal parts any match contains, compiled pattern) for each pattern of the scan's credential rule."""
    rules = yaml.safe_load(_RULE_FILE.read_text(encoding="utf-8"))["rules"]
    rule = next(r for r in rules if r["id"] == _RULE_ID)
    found = []
    for item in rule["pattern-either"]:
        source = item["pattern-regex"]
        found.append((tuple(part.encode() for part in literals(source)), re.compile(source.encode())))
    return found


def literals(pattern: str) -> tuple[str, ...]:
    """Strings one of which every match of `pattern` contains: the longest literal run outside groups and classes,
    or each branch of a leading group of plain alternatives (`\\b(ghp|gho)_…` -> `ghp_`, `gho_`). Empty: none found,
    so the whole text is searched with the pattern."""
    group = re.match(r"^(?:\\b)?\(((?:[A-Za-z0-9_-]+\|)+[A-Za-z0-9_-]+)\)([A-Za-z0-9_-]*)", pattern)
    if group:
        return tuple(branch + group.group(2) for branch in group.group(1).split("|"))
    # Top-level literal runs: strip escapes of plain characters, cut at anything with regex meaning.
    runs: list[str] = []
    current = ""
    depth = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            following = pattern[index + 1]
            if depth == 0 and not following.isalnum():
                current += following
            else:
                runs.append(current)
                current = ""
            index += 2
            continue
        if char in "([":
            depth += 1
            runs.append(current)
            current = ""
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and char == "{":  # a counted repeat: the previous character is not part of the run
            runs.append(current[:-1])
            current = ""
            index = pattern.find("}", index) + 1 or len(pattern)
            continue
        elif depth == 0 and char in "?*+|.^$":
            # a quantifier makes the previous character optional or repeated: it is not part of the run
            if char in "?*" and current:
                current = current[:-1]
            runs.append(current)
            current = ""
            if char == "|":
                return ()  # top-level alternatives: no single literal every match holds
        elif depth == 0:
            current += char
        index += 1
    runs.append(current)
    best = max(runs, key=len)
    return (best,) if len(best) >= 3 else ()


def find(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, text) of every credential-like match in `data`, first occurrence of each distinct one, in order."""
    found: dict[bytes, int] = {}
    for parts, pattern in _patterns():
        if not parts:
            for match in pattern.finditer(data):
                found.setdefault(match.group(0), match.start())
            continue
        for part in parts:
            start = data.find(part)
            while start != -1:
                window = pattern.finditer(data, max(0, start - _BEFORE), start + len(part) + _AFTER)
                for match in window:
                    if match.start() <= start < match.end():
                        found.setdefault(match.group(0), match.start())
                start = data.find(part, start + 1)
    return sorted(((offset, text) for text, offset in found.items()), key=lambda item: item[0])


def redact(data: bytes, where: str) -> tuple[bytes, str | None]:
    """`data` (a description's JSON or YAML text) with credential-like values replaced, and the warning (None: none).

    The placeholder is plain ASCII without quotes, commas or colons, so it is a valid part of any JSON or YAML string
    the value stood in.
    """
    matches = find(data)
    if not matches:
        return data, None
    offset = matches[0][0]
    line = data.count(b"\n", 0, offset) + 1
    for _, text in matches:
        data = data.replace(text, PLACEHOLDER.encode())
    count = len(matches)
    warning = (
        f"{where}:{line}: the description documents {count} value{'s' if count != 1 else ''} that look"
        f"{'s' if count == 1 else ''} like a credential (an example token or key); the package shows "
        f"{PLACEHOLDER} instead, so the scan (which refuses credentials in generated code) passes"
    )
    return data, warning


def redact_document(document: dict[str, Any], where: str) -> tuple[dict[str, Any], str | None]:
    """`redact` for a document derived in memory (a Postman collection's, a repository's routes)."""
    data = json.dumps(document, ensure_ascii=False).encode()
    redacted, warning = redact(data, where)
    if warning is None:
        return document, None
    return json.loads(redacted), warning.replace(f"{where}:1: ", f"{where}: ", 1)
