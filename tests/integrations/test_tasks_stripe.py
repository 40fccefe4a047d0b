"""Stripe tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

Stripe takes application/x-www-form-urlencoded bodies and answers JSON objects (`object`: "invoice", "list", ...);
the stand-in keeps customers, invoices and invoice items, computes totals from the lines, and enforces the invoice
life cycle (draft → finalize → open → send) as Stripe does. It also keeps charges and their refunds: a refund may
not exceed what is left to refund of its charge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, refused, task_hub
from integrations.hubs import SPECS, RunningHub

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
    # Ada's card payments, oldest first; Stripe lists them newest first.
    charges: list[dict[str, Any]] = field(
        default_factory=lambda: [
            _charge("ch_Ada_1", 5000, 1764000000, "Order #1001"),
            _charge("ch_Ada_2", 12900, 1764900000, "Order #1002"),
        ]
    )
    refunds: list[dict[str, Any]] = field(default_factory=list)

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
            ("GET", "/v1/charges", self.list_charges),
            ("POST", "/v1/refunds", self.create_refund),
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

    def list_charges(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        query = dict(r.query)
        found = [c for c in reversed(self.charges) if query.get("customer") in (None, c["customer"])]
        limit = int(query.get("limit", "10"))
        return 200, {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": "/v1/charges"}

    def create_refund(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        charge = next((c for c in self.charges if c["id"] == fields.get("charge")), None)
        if charge is None:
            return _error(f"No such charge: '{fields.get('charge')}'")
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(fields.get("amount", left))
        if left == 0:
            return _error(f"Charge {charge['id']} has already been refunded.")
        if amount > left:
            return _error(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": f"re_{len(self.refunds) + 1:04d}",
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "reason": fields.get("reason"),
            "status": "succeeded",
            "created": 1765000000,
            "metadata": {},
            "balance_transaction": "txn_1",
            "destination_details": {"type": "card", "card": {"type": "refund"}},
        }
        self.refunds.append(refund)
        return 200, refund


def _charge(charge_id: str, amount: int, created: int, description: str) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "currency": "usd",
        "customer": "cus_Ada",
        "description": description,
        "status": "succeeded",
        "paid": True,
        "refunded": False,
        "captured": True,
        "created": created,
        "payment_intent": f"pi_{charge_id[3:]}",
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
        "billing_details": {"email": "ada@example.com"},
        "livemode": False,
    }


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


def _refunds_enabled(url: str) -> dict[str, Any]:
    """The shipped tools with create_refund enabled, as an admin who allows refunds sets it in the spec."""
    tools = yaml.safe_load((SPECS / "stripe.yaml").read_text(encoding="utf-8"))["tools"]
    for tool in tools:
        if tool.get("name") == "create_refund":
            tool["enabled"] = True
    return {"tools": tools}


@pytest.fixture(scope="module")
def refunding_hub(stripe: Stripe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    folder = tmp_path_factory.mktemp("stripe-refunds")
    with task_hub(folder, "stripe", stripe, {"token": SECRET}, derive=_refunds_enabled) as running:
        yield running


async def test_refund_the_last_charge_of_a_customer(hub: RunningHub, refunding_hub: RunningHub, stripe: Stripe) -> None:
    # Shipped as is, the hub has no refund tool: it moves money, so an admin has to enable it.
    async with hub.client() as client:
        assert "stripe__create_refund" not in {tool.name for tool in (await client.list_tools()).tools}

    start = len(stripe.requests)
    async with refunding_hub.client() as client:
        [ada] = (await call(client, "stripe__list_customers", {"email": "ada@example.com"}))["data"]
        charges = await call(client, "stripe__list_charges", {"customer": ada["id"]})
        last = charges["data"][0]
        refund = await call(client, "stripe__create_refund", {"charge": last["id"], "reason": "requested_by_customer"})
        again = await refused(client, "stripe__create_refund", {"charge": last["id"], "amount": 100})

    assert stripe.seen(start) == ["GET /v1/customers", "GET /v1/charges", "POST /v1/refunds", "POST /v1/refunds"]
    requests = stripe.requests[start:]
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in requests)
    assert sorted(requests[1].query) == [("customer", "cus_Ada"), ("limit", "10")]
    assert form(requests[2]) == {"charge": "ch_Ada_2", "reason": "requested_by_customer"}
    assert [(c["id"], c["amount_refunded"], c["refunded"]) for c in stripe.charges] == [
        ("ch_Ada_1", 0, False),
        ("ch_Ada_2", 12900, True),
    ]
    # What the agent reads: the charge and the refund, trimmed to what it can tell the user.
    assert (last["id"], last["amount"], last["description"]) == ("ch_Ada_2", 12900, "Order #1002")
    assert "payment_method_details" not in last and "billing_details" not in last
    assert (refund["id"], refund["amount"], refund["status"]) == ("re_0001", 12900, "succeeded")
    assert "destination_details" not in refund
    assert "400" in again and "has already been refunded" in again
