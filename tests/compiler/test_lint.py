"""The description linter: weak descriptions cost points with a reason a reviewer can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcphub.compiler.ir import Integration, SourceInfo, Tool
from mcphub.compiler.lint import lint_integration, lint_tool

ROOT = Path(__file__).resolve().parents[2]


def tool(description: str, **properties: dict[str, str]) -> Tool:
    schema = {"type": "object", "properties": dict(properties), "required": sorted(properties)[:1]}
    return Tool(name="list_customers", description=description, input_schema=schema)


def rules(t: Tool) -> set[str]:
    return {finding.rule for finding in lint_tool(t)}


def test_a_good_description_costs_nothing() -> None:
    good = tool(
        "Lists the customers of the account, newest first. Use it to find a customer's id by email. Returns "
        "`data` (customers with id, email, name) and `has_more`.",
        email={"type": "string", "description": "Only customers with this email"},
    )
    assert lint_tool(good) == []


@pytest.mark.parametrize(
    ("description", "rule"),
    [
        ("", "no-purpose"),
        ("Customers.", "no-purpose"),
        ("GET /v1/customers", "method-and-path"),
        ("List customers", "method-and-path"),
        ("Creates a customer record in the billing system for later invoicing.", "no-return"),
        ("Lists customers. TODO: document the filters. Returns the customers.", "placeholder"),
        ("Returns customers. " + "x" * 2100, "too-long"),
    ],
)
def test_each_weakness_is_found(description: str, rule: str) -> None:
    assert rule in rules(tool(description, email={"type": "string", "description": "An email"}))


def test_undocumented_arguments_cost_by_share_and_are_named() -> None:
    [finding] = lint_tool(
        tool(
            "Lists the customers of the account. Returns the customers with their ids.",
            email={"type": "string"},
            limit={"type": "integer", "description": "At most this many"},
        )
    )
    assert finding.rule == "undocumented-parameters" and "email" in finding.message
    assert 0 < finding.cost < 25
    assert "TODO" not in " ".join(f.message for f in lint_tool(tool("Searches code for `TODO` and returns hits.")))


def test_a_package_score_is_the_mean_of_its_enabled_tools() -> None:
    good = tool("Lists the customers of the account. Returns the customers with their ids.")
    bad = Tool(name="get_customer", description="GET /v1/customers/{id}")
    off = Tool(name="delete_customer", description="", enabled=False)
    report = lint_integration(
        Integration(slug="shop", name="Shop", source=SourceInfo(kind="openapi"), tools=[good, bad, off])
    )
    assert report.tool_scores == {"list_customers": 100, "get_customer": 65}
    assert report.score == 82
    assert "weakest: get_customer 65" in report.summary()


def test_the_built_in_packages_score_well() -> None:
    """The curated built-ins are the example users copy: every package scores at least 85."""
    for manifest in sorted((ROOT / "generated").glob("*/manifest.json")):
        report = lint_integration(Integration.from_manifest(manifest.read_bytes()))
        assert report.score >= 85, (manifest.parent.name, report.summary())
