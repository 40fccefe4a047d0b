"""The reviewed augment file (`specs/<slug>.augment.yaml`) as `mcphub compile` applies it: offline, the spec's own
curation winning, proposals that no longer fit skipped with a warning that names the file, and the description
linter's score in every compile report. (The LLM pass that writes the file: tests/builder/test_augment.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mcphub.compiler.augment import sha256_file
from mcphub.compiler.errors import CompileError, SpecError
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, build_integration, compile_target, discover_targets, summarize

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "augment"
CANCEL = "cancelOrderAndRefundAllLineItemsToTheOriginalPaymentMethod"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    shutil.copytree(FIXTURES, folder)
    return folder


def write_augment(specs: Path, tools: dict[str, object], *, source_sha256: str | None = None) -> Path:
    path = specs / "shop.augment.yaml"
    data = {
        "augment_version": 1,
        "slug": "shop",
        "source_sha256": source_sha256 or sha256_file(specs / "shop.openapi.yaml"),
        "spec_sha256": sha256_file(specs / "shop.yaml"),
        "model": "claude-sonnet-5-5",
        "tools": tools,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def add_to_spec(specs: Path, entries: str) -> None:
    spec = specs / "shop.yaml"
    spec.write_text(spec.read_text(encoding="utf-8") + entries, encoding="utf-8")


def build(specs: Path) -> Integration:
    return build_integration(Target(specs / "shop.yaml", is_spec=True))


def test_the_spec_curation_wins_over_the_augment_file(specs: Path) -> None:
    add_to_spec(
        specs,
        "  - {operation: listOrders, defaults: {status: open}}\n"
        f"  - {{operation: {CANCEL}, name: cancel_order, enabled: true}}\n",
    )
    write_augment(
        specs,
        {
            "getOrder": {
                "name": "get_order",
                "description": "Proposed, but the spec describes this tool itself.",
                "arguments": {"order_id": {"description": "The order's id (ord_…).", "example": "ord_8a1f"}},
            },
            "listOrders": {
                "arguments": {
                    "page": {"name": "page_limit", "default": 20},
                    "status": {"default": "shipped"},
                }
            },
            CANCEL: {"name": "cancel_and_refund_order", "destructive": True},
        },
    )
    integration = build(specs)

    get = integration.tool("get_order_by_id")  # the spec's name and description stay
    assert get.description == "Fetch one order by its id. Returns the order with its line items, totals and status."
    assert get.input_schema["properties"]["order_id"]["description"] == "The order's id (ord_…)."
    assert get.input_schema["properties"]["order_id"]["examples"] == ["ord_8a1f"]
    listing = integration.tool("list_orders")
    assert listing.defaults == {"status": "open", "page_limit": 20}  # the spec's default wins, the file's fills in
    assert listing.input_schema["properties"]["page_limit"]["default"] == 20
    cancel = integration.tool("cancel_order")  # the spec names it and enables it: flagged, yet enabled
    assert cancel.enabled is True and cancel.annotations.destructive_hint is True
    assert not [w for w in integration.warnings if "augment" in w]


def test_proposals_that_no_longer_fit_are_skipped_with_a_warning_naming_the_file(specs: Path) -> None:
    path = write_augment(
        specs,
        {
            "listOrders": {
                "name": "list_every_order_of_the_shop_newest_first_with_paging",
                "description": "Lists the shop's orders, newest first. Returns a page of orders.",
                "arguments": {
                    "page": {"name": "page_limit", "example": "many"},
                    "per_page": {"description": "Gone from the source."},
                    "query_page": {"name": "status"},
                },
            },
            CANCEL: {"name": "list_orders"},
            "listRefunds": {"description": "An operation the source no longer has."},
        },
    )
    integration = build(specs)
    warnings = "\n".join(integration.warnings)

    listing = integration.tool("list_orders")
    assert listing.description == "Lists the shop's orders, newest first. Returns a page of orders."
    assert list(listing.input_schema["properties"]) == ["page_limit", "query_page", "status"]
    assert "examples" not in listing.input_schema["properties"]["page_limit"]
    assert f"{path}: tools.listOrders.arguments.page.example: 'many' is not valid for the argument" in warnings
    assert "tools.listOrders.arguments.per_page: 'list_orders' has no argument 'per_page'" in warnings
    assert "tools.listOrders.arguments.query_page.name: 'status' is already an argument of this tool" in warnings
    assert "tools.listOrders.name: 'list_every_order_of_the_shop_newest_first_with_paging' is 53 characters" in warnings
    assert f"tools.{CANCEL}.name: 'list_orders' is already the name of another tool" in warnings
    assert f"{path}: tools.listRefunds: the integration has no such operation any more" in warnings
    assert {tool.name for tool in integration.tools} >= {"get_order_by_id", "cancel_order_refund_all_line_items_nf4f"}


def test_a_file_made_for_another_source_version_still_applies_with_a_warning(specs: Path) -> None:
    write_augment(specs, {"listOrders": {"description": "Lists orders. Returns a page."}}, source_sha256="0" * 64)
    integration = build(specs)
    assert integration.tool("list_orders").description == "Lists orders. Returns a page."
    [warning] = [w for w in integration.warnings if "augment" in w]
    assert "made for another version of the source (sha256 000000000000, now " in warning
    assert "run `mcphub augment shop` to refresh it" in warning


def test_a_misspelt_key_is_an_error_with_file_and_line(specs: Path) -> None:
    path = specs / "shop.augment.yaml"
    write_augment(specs, {"listOrders": {"descripton": "typo"}})
    with pytest.raises(SpecError) as caught:
        build(specs)
    line = path.read_text(encoding="utf-8").splitlines().index("    descripton: typo") + 1
    assert str(caught.value).startswith(f"{path}:{line}: tools.listOrders.descripton ")


def test_compile_reports_the_description_score_and_skips_augment_files_in_a_folder(specs: Path, tmp_path: Path) -> None:
    write_augment(specs, {"listOrders": {"description": "Lists the shop's orders. Returns a page of orders."}})
    targets = discover_targets([specs])
    assert [target.path.name for target in targets] == ["shop.yaml"]

    report = compile_target(targets[0], tmp_path / "out")
    assert report.error is None, report.error
    assert report.lint is not None
    assert report.lint.summary().startswith(f"descriptions {report.lint.score}/100")
    lint = summarize(report)["lint"]
    assert lint["score"] == report.lint.score
    assert set(lint["tools"]) == {"get_order_by_id", "list_orders", "cancel_order_refund_all_line_items_nf4f"}
    assert {finding["rule"] for finding in lint["findings"]} >= {"undocumented-parameters"}


def test_naming_the_augment_file_on_the_command_line_points_to_its_spec(specs: Path) -> None:
    path = write_augment(specs, {})
    with pytest.raises(CompileError, match=r"shop.augment.yaml is the augment file of .*shop.yaml, which compile"):
        discover_targets([path])


def test_mcphub_compile_prints_each_package_description_score(specs: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mcphub.cli import main

    out = str(tmp_path / "out")
    printed = CliRunner().invoke(main, ["compile", str(specs / "shop.yaml"), "--out", out])
    assert printed.exit_code == 0, printed.output
    assert "    descriptions 63/100 (4 findings; weakest: list_orders 40, " in printed.stdout
    as_json = CliRunner().invoke(main, ["compile", str(specs / "shop.yaml"), "--out", out, "--json"])
    assert json.loads(as_json.stdout.strip().splitlines()[-1])["lint"]["score"] == 63
