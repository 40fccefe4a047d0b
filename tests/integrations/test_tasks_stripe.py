"""Stripe tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

Stripe takes application/x-www-form-urlencoded bodies and answers JSON objects (`object`: "invoice", "list", ...);
the stand-in keeps customers, invoices and invoice items, computes totals from the lines, and enforces the invoice
life cycle (draft → finalize → open → send) as Stripe does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, task_hub
from integrations.hubs import RunningHub

SECRET = "sk_test_agent_tasks"


def form(r: Recorded) -> dict[str, str]:
    assert r.headers["content-type"] == "application/x-www-form-urlencoded"
    return dict(parse_qsl(r.body.decode(), keep_blank_values=True))


def _error(message: str) -> tuple[int, Any]:
    return 400, {"error": {"type": "invalid_request_error", "message": message}}


@dataclass
class Stripe(Service):
    customers: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"id": "cus_Ada", "object": "customer", "email": "ada@example.com", "name": "Ada Lovelace"},
            {"id": "cus_Bob", "object": "customer", "email": "bob@example.com", "name": "Bob"},
        ]
    )
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Bob owes for an invoice sent last month (the agent's second task looks it up).
        line = {
            "id": "il_1",
            "object": "line_item",
            "amount": 9900,
            "currency": "usd",
            "description": "Plan",
            "quantity": 1,
        }
        self.invoices["in_0900"] = {
            "id": "in_0900",
            "object": "invoice",
            "customer": "cus_Bob",
            "collection_method": "send_invoice",
            "status": "open",
            "currency": "usd",
            "number": "BOB-0001",
            "hosted_invoice_url": "https://invoice.stripe.com/i/in_0900",
            "livemode": False,
            "lines": {"object": "list", "data": [line], "has_more": False, "total_count": 1, "url": "…"},
        }

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/v1/customers", self.list_customers),
            ("POST", "/v1/invoices", self.create_invoice),
            ("GET", "/v1/invoices", self.list_invoices),
            ("GET", "/v1/invoices/{invoice}", self.get_invoice),
            ("POST", "/v1/invoiceitems", self.create_item),
            ("POST", "/v1/invoices/{invoice}/finalize", self.finalize),
            ("POST", "/v1/invoices/{invoice}/send", self.send),
        ]

    def list_customers(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        email = dict(r.query).get("email")
        found = [c for c in self.customers if email is None or c["email"] == email]
        return 200, {"object": "list", "data": found, "has_more": False, "url": "/v1/customers"}

    def create_invoice(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        if not any(c["id"] == fields.get("customer") for c in self.customers):
            return _error(f"No such customer: '{fields.get('customer')}'")
        if fields.get("collection_method") == "send_invoice" and "days_until_due" not in fields:
            return _error("Missing required param: days_until_due.")
        invoice_id = f"in_{sum(1 for i in self.invoices if i < 'in_0900') + 1:04d}"
        self.invoices[invoice_id] = {
            "id": invoice_id,
            "object": "invoice",
            "customer": fields["customer"],
            "collection_method": fields.get("collection_method", "charge_automatically"),
            "days_until_due": int(fields["days_until_due"]) if "days_until_due" in fields else None,
            "status": "draft",
            "currency": "usd",
            "number": None,
            "hosted_invoice_url": None,
            "livemode": False,
            "lines": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": "…"},
        }
        return 200, self._totalled(invoice_id)

    def _totalled(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices[invoice_id]
        total = sum(line["amount"] for line in invoice["lines"]["data"])
        paid = invoice["status"] == "paid"
        invoice.update(subtotal=total, total=total, amount_due=total, amount_paid=total if paid else 0)
        invoice["amount_remaining"] = 0 if paid else total
        invoice["lines"]["total_count"] = len(invoice["lines"]["data"])
        return invoice

    def list_invoices(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        query = dict(r.query)
        found = [
            self._totalled(i)
            for i, invoice in self.invoices.items()
            if query.get("customer") in (None, invoice["customer"]) and query.get("status") in (None, invoice["status"])
        ]
        return 200, {"object": "list", "data": found, "has_more": False, "url": "/v1/invoices"}

    def get_invoice(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        if p["invoice"] not in self.invoices:
            return 404, {"error": {"type": "invalid_request_error", "message": f"No such invoice: '{p['invoice']}'"}}
        return 200, self._totalled(p["invoice"])

    def create_item(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        invoice = self.invoices.get(fields.get("invoice", ""))
        if invoice is None or invoice["status"] != "draft":
            return _error("You can only add invoice items to draft invoices.")
        item_id = f"ii_{len(self.items) + 1:04d}"
        item = {
            "id": item_id,
            "object": "invoiceitem",
            "customer": fields["customer"],
            "invoice": invoice["id"],
            "amount": int(fields["amount"]),
            "currency": fields["currency"],
            "description": fields.get("description"),
            "quantity": 1,
            "livemode": False,
        }
        self.items[item_id] = item
        line = {"id": f"il_{item_id}", "object": "line_item", "amount": item["amount"], "currency": item["currency"]}
        invoice["lines"]["data"].append({**line, "description": item["description"], "quantity": 1})
        return 200, item

    def finalize(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        invoice = self.invoices[p["invoice"]]
        if invoice["status"] != "draft":
            return _error("This invoice is already finalized.")
        invoice.update(
            status="open", number="ADA-0001", hosted_invoice_url=f"https://invoice.stripe.com/i/{p['invoice']}"
        )
        return 200, self._totalled(p["invoice"])

    def send(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        invoice = self.invoices[p["invoice"]]
        if invoice["status"] != "open" or invoice["collection_method"] != "send_invoice":
            return _error("You can only manually send an open invoice with collection_method send_invoice.")
        invoice["sent"] = True  # not part of Stripe's object; what the test checks happened
        return 200, {key: value for key, value in self._totalled(p["invoice"]).items() if key != "sent"}


@pytest.fixture(scope="module")
def stripe() -> Stripe:
    return Stripe()


@pytest.fixture(scope="module")
def hub(stripe: Stripe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with task_hub(tmp_path_factory.mktemp("stripe"), "stripe", stripe, {"token": SECRET}) as running:
        yield running


async def test_invoice_a_customer_for_two_items_and_send_it(hub: RunningHub, stripe: Stripe) -> None:
    start = len(stripe.requests)
    async with hub.client() as client:
        customers = await call(client, "stripe__list_customers", {"email": "ada@example.com"})
        [customer] = customers["data"]
        invoice = await call(
            client,
            "stripe__create_invoice",
            {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 14},
        )
        assert invoice["status"] == "draft"
        for amount, description in ((120000, "Consulting, November"), (4500, "Travel")):
            item = {
                "customer": customer["id"],
                "invoice": invoice["id"],
                "amount": amount,
                "currency": "usd",
                "description": description,
            }
            await call(client, "stripe__create_invoice_item", item)
        final = await call(client, "stripe__finalize_invoice", {"invoice": invoice["id"]})
        sent = await call(client, "stripe__send_invoice", {"invoice": invoice["id"]})

    assert stripe.seen(start) == [
        "GET /v1/customers",
        "POST /v1/invoices",
        "POST /v1/invoiceitems",
        "POST /v1/invoiceitems",
        "POST /v1/invoices/in_0001/finalize",
        "POST /v1/invoices/in_0001/send",
    ]
    requests = stripe.requests[start:]
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in requests)
    assert ("email", "ada@example.com") in requests[0].query
    assert form(requests[1]) == {"customer": "cus_Ada", "collection_method": "send_invoice", "days_until_due": "14"}
    assert form(requests[2]) == {
        "customer": "cus_Ada",
        "invoice": "in_0001",
        "amount": "120000",
        "currency": "usd",
        "description": "Consulting, November",
    }
    assert form(requests[3])["amount"] == "4500"
    assert requests[4].body == requests[5].body == b""  # nothing else to say: no stray fields
    assert stripe.invoices["in_0001"]["sent"] is True
    # What the agent reads back: the invoice it can quote to the user, trimmed.
    assert (final["status"], final["number"], final["amount_due"]) == ("open", "ADA-0001", 124500)
    assert [line["description"] for line in final["lines"]["data"]] == ["Consulting, November", "Travel"]
    assert sent["hosted_invoice_url"] == "https://invoice.stripe.com/i/in_0001"
    assert "livemode" not in sent


async def test_find_a_customers_open_invoices_and_what_is_due(hub: RunningHub, stripe: Stripe) -> None:
    start = len(stripe.requests)
    async with hub.client() as client:
        [bob] = (await call(client, "stripe__list_customers", {"email": "bob@example.com"}))["data"]
        found = await call(client, "stripe__list_invoices", {"customer": bob["id"], "status": "open"})
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert stripe.seen(start) == ["GET /v1/customers", "GET /v1/invoices"]
    assert sorted(stripe.requests[start + 1].query) == [("customer", "cus_Bob"), ("limit", "20"), ("status", "open")]
    assert [(i["id"], i["number"], i["amount_remaining"]) for i in found["data"]] == [("in_0900", "BOB-0001", 9900)]
    # Money-moving and irreversible tools stay off until an admin enables them.
    assert {"stripe__create_invoice_item", "stripe__finalize_invoice", "stripe__send_invoice"} <= tools
    assert not {"stripe__pay_invoice", "stripe__void_invoice", "stripe__delete_invoice_item"} & tools
