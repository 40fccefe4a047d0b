"""OpenAPI parameter serialisation and form encoding (the examples are the OpenAPI 3.1 spec's own)."""

from __future__ import annotations

from typing import Any

import pytest

from mcphub.compiler.ir import ArgLocation
from mcphub.runtime.upstream.serialization import encode_form, pct, serialize_parameter, serialize_path

COLOR = ["blue", "black", "brown"]
RGB = {"R": 100, "G": 200, "B": 150}


@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        (None, None, "blue", "blue"),
        (None, None, COLOR, "blue,black,brown"),
        (None, False, RGB, "R,100,G,200,B,150"),
        (None, True, RGB, "R=100,G=200,B=150"),
        ("label", False, COLOR, ".blue,black,brown"),
        ("label", True, COLOR, ".blue.black.brown"),
        ("label", True, RGB, ".R=100.G=200.B=150"),
        ("matrix", False, "blue", ";color=blue"),
        ("matrix", True, COLOR, ";color=blue;color=black;color=brown"),
        ("matrix", False, COLOR, ";color=blue,black,brown"),
        ("matrix", True, RGB, ";R=100;G=200;B=150"),
        (None, None, "a b/c?", "a%20b%2Fc%3F"),
        (None, None, True, "true"),
        (None, None, 1.5, "1.5"),
    ],
)
def test_path_styles(style: str | None, explode: bool | None, value: Any, expected: str) -> None:
    assert serialize_path("color", value, style=style, explode=explode) == expected


@pytest.mark.parametrize(
    ("style", "explode", "value", "expected"),
    [
        (None, None, "blue", [("color", "blue")]),
        (None, None, COLOR, [("color", "blue"), ("color", "black"), ("color", "brown")]),
        (None, False, COLOR, [("color", "blue,black,brown")]),
        (None, True, RGB, [("R", "100"), ("G", "200"), ("B", "150")]),
        (None, False, RGB, [("color", "R,100,G,200,B,150")]),
        ("spaceDelimited", False, COLOR, [("color", "blue%20black%20brown")]),
        ("pipeDelimited", False, COLOR, [("color", "blue%7Cblack%7Cbrown")]),
        ("deepObject", True, RGB, [("color[R]", "100"), ("color[G]", "200"), ("color[B]", "150")]),
        ("deepObject", True, {"a": {"b": "c d"}}, [("color[a][b]", "c%20d")]),
        (None, False, ["a,b", "c"], [("color", "a%2Cb,c")]),  # a comma in an item is not a delimiter
        (None, None, False, [("color", "false")]),
    ],
)
def test_query_styles(style: str | None, explode: bool | None, value: Any, expected: list[tuple[str, str]]) -> None:
    pairs = serialize_parameter("color", value, location=ArgLocation.QUERY, style=style, explode=explode, encode=pct)
    assert pairs == expected


def test_header_simple_style() -> None:
    assert serialize_parameter("X-Tags", COLOR, location=ArgLocation.HEADER, style=None, explode=None) == [
        ("X-Tags", "blue,black,brown")
    ]
    assert serialize_parameter("X-Obj", RGB, location=ArgLocation.HEADER, style=None, explode=True) == [
        ("X-Obj", "R=100,G=200,B=150")
    ]


def test_stripe_form_encoding() -> None:
    fields = {
        "amount": 2000,
        "metadata": {"order_id": "6735", "nested": {"deep": True}},
        "expand[]": ["customer", "invoice"],
        "items": [{"price": "p_1", "quantity": 2}, {"price": "p_2"}],
        "tags": ["a", "b"],
        "skipped": None,
    }
    # Stripe's description declares `deepObject` for its nested fields (`encoding:` of the form body).
    styles: dict[str, tuple[str | None, bool | None]] = {
        name: ("deepObject", True) for name in ("metadata", "items", "tags")
    }
    assert encode_form(fields, styles) == [
        ("amount", "2000"),
        ("metadata[order_id]", "6735"),
        ("metadata[nested][deep]", "true"),
        ("expand[]", "customer"),
        ("expand[]", "invoice"),
        ("items[0][price]", "p_1"),
        ("items[0][quantity]", "2"),
        ("items[1][price]", "p_2"),
        ("tags[]", "a"),
        ("tags[]", "b"),
    ]
