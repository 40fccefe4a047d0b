"""The description linter: how well an agent can tell, from a tool's description alone, when and how to use it.

Deterministic and cheap, so `mcphub compile` can print a score for every package and a reviewer can see which
tools to improve (by hand in the spec's `description:`, or with the LLM augment pass). Each rule costs a tool some
points; a tool's score is 100 minus what it lost (never below 0), a package's the mean of its enabled tools.

Rules (ids are stable; they appear in `--json` output and in review):
- `no-purpose`: the description is missing or too short to say what the tool does (under 25 characters).
- `method-and-path`: it only restates the HTTP method and path (`GET /v1/customers`), or only the tool's name.
- `no-return`: nothing says what comes back ("Returns …", "Lists …", "… with their ids").
- `undocumented-parameters`: arguments without a description (what a value means is a guess for the agent);
  the cost grows with the share of undocumented arguments, required ones counting double.
- `placeholder`: TODO/TBD/lorem ipsum/"description" left in.
- `too-long`: over 2,000 characters; clients truncate, and the start should carry the meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mcphub.compiler.ir import Integration, Tool

__all__ = ["Finding", "LintReport", "lint_integration", "lint_tool"]

COSTS = {
    "no-purpose": 45,
    "method-and-path": 35,
    "no-return": 20,
    "undocumented-parameters": 25,  # at most, when every argument is undocumented
    "placeholder": 30,
    "too-long": 10,
}
MIN_PURPOSE_CHARS = 25
MAX_CHARS = 2_000

_METHOD_PATH = re.compile(r"^\s*(get|put|post|delete|patch|head|options)\s+/\S*\s*\.?\s*$", re.IGNORECASE)
_RETURNS = re.compile(
    r"\b(returns?|returned|responds?|answers?|gives?|yields?|lists?|shows?|outputs?|comes? back|provides?|"
    r"result(s|ing)?|response|with (its|their)|includ(es|ing)|the new|the updated|the created|the deleted|"
    r"fetch(es)?|retrieves?|reads?|gets?|looks? up|finds?|searches)\b",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\b(todo|tbd|fixme|lorem ipsum|xxx)\b|^\s*description\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    tool: str
    rule: str
    message: str
    cost: int


@dataclass
class LintReport:
    """A package's description score (0–100) and what cost it points, tool by tool."""

    score: int
    findings: list[Finding] = field(default_factory=list)
    tool_scores: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.findings:
            return f"descriptions {self.score}/100"
        weakest = sorted(self.tool_scores.items(), key=lambda item: (item[1], item[0]))[:3]
        named = ", ".join(f"{name} {score}" for name, score in weakest)
        return f"descriptions {self.score}/100 ({len(self.findings)} findings; weakest: {named})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "tools": self.tool_scores,
            "findings": [{"tool": f.tool, "rule": f.rule, "message": f.message} for f in self.findings],
        }


def lint_integration(integration: Integration) -> LintReport:
    """Lint every enabled tool of the flat list; the package score is the mean of the tool scores (100 for none).

    Operations a spec makes reachable through search only (`search: all`) keep their source's wording and are not
    curated, so they are left out: the score is about the tools a spec author chose and described.
    """
    findings: list[Finding] = []
    scores: dict[str, int] = {}
    for tool in integration.tools:
        if not tool.enabled or not tool.listed:
            continue
        tool_findings = lint_tool(tool)
        findings.extend(tool_findings)
        scores[tool.name] = max(0, 100 - sum(f.cost for f in tool_findings))
    score = round(sum(scores.values()) / len(scores)) if scores else 100
    return LintReport(score, findings, scores)


def lint_tool(tool: Tool) -> list[Finding]:
    """What an agent would miss in this tool's description and argument descriptions."""
    text = (tool.description or "").strip()
    findings: list[Finding] = []

    def found(rule: str, message: str, cost: int | None = None) -> None:
        findings.append(Finding(tool.name, rule, message, COSTS[rule] if cost is None else cost))

    plain = _without_markup(text)
    if _METHOD_PATH.match(plain) or _is_just_the_name(plain, tool):
        found("method-and-path", "the description only restates the method and path (or the name): say what it does")
    elif len(plain) < MIN_PURPOSE_CHARS:
        found(
            "no-purpose",
            f"the description is {'missing' if not plain else 'too short'}: say what the tool does and when to use it",
        )
    if plain and not _RETURNS.search(plain) and not _METHOD_PATH.match(plain):
        found("no-return", "nothing says what comes back: add e.g. 'Returns the … with their ids'")
    if _PLACEHOLDER.search(re.sub(r"`[^`]*`", "", text)):  # code spans are examples, e.g. a search for TODO
        found("placeholder", "placeholder text (TODO/TBD/lorem ipsum) is left in the description")
    if len(text) > MAX_CHARS:
        found("too-long", f"{len(text):,} characters: clients truncate long descriptions; lead with what matters")

    undocumented, weight, total = _undocumented_arguments(tool.input_schema)
    if undocumented:
        cost = round(COSTS["undocumented-parameters"] * weight / total)
        names = ", ".join(undocumented[:6]) + (" …" if len(undocumented) > 6 else "")
        found("undocumented-parameters", f"arguments without a description: {names}", max(cost, 1))
    return findings


def _without_markup(text: str) -> str:
    return re.sub(r"[`*_#>]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", text).strip()


def _is_just_the_name(text: str, tool: Tool) -> bool:
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    name = re.sub(r"[^a-z0-9]+", " ", tool.name.lower()).strip()
    return bool(words) and words in (name, re.sub(r"s$", "", name))


def _undocumented_arguments(schema: dict[str, Any]) -> tuple[list[str], float, float]:
    """(names without a description, their weight, the weight of all arguments); required ones weigh double."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return [], 0.0, 1.0
    required = set(schema.get("required") or [])
    missing: list[str] = []
    weight = total = 0.0
    for name, prop in properties.items():
        w = 2.0 if name in required else 1.0
        total += w
        if not (isinstance(prop, dict) and str(prop.get("description") or "").strip()):
            missing.append(name)
            weight += w
    return missing, weight, total
