"""Record conversion for DynamoDB: `to_dynamo` turns what scripts return into values boto3
serializes and DynamoDB accepts; `from_dynamo` turns them back."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import math
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from lambda_src.records import from_dynamo, to_dynamo, with_origin

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()
UTC = dt.timezone.utc


class Color(enum.Enum):
    RED = "red"


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


def nested_lists(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": value}
    return value


def assert_storable(value: Any) -> None:
    """boto3 serializes the value, and every number in it is one DynamoDB accepts."""
    wire = SERIALIZER.serialize({"record": value})

    def check(attr: dict[str, Any]) -> None:
        ((kind, inner),) = attr.items()
        if kind == "N":
            number = Decimal(inner)
            assert number.is_finite(), inner
            assert number == 0 or Decimal("1E-130") <= abs(number) < Decimal("1E+126"), inner
        elif kind == "M":
            for v in inner.values():
                check(v)
        elif kind == "L":
            for v in inner:
                check(v)

    check(wire)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# (id, value, expected to_dynamo result)
CONVERSIONS: list[tuple[str, Any, Any]] = [
    ("none", None, None),
    ("bool", True, True),
    ("str", "x", "x"),
    ("empty-str", "", ""),
    ("int", 42, Decimal(42)),
    ("negative-int", -7, Decimal(-7)),
    ("float-0.1", 0.1, Decimal("0.1")),
    ("float-sum", 0.1 + 0.2, Decimal("0.30000000000000004")),
    ("float-small", 1.5e-7, Decimal("1.5E-7")),
    ("float-big", 1e20, Decimal("1E+20")),
    ("float-integral", 3.0, Decimal("3.0")),
    ("decimal", Decimal("1.10"), Decimal("1.10")),
    ("int-38-digits", 10**38 - 1, Decimal(10**38 - 1)),
    ("int-39-digits", 10**38, str(10**38)),
    ("int-huge", 2**200, str(2**200)),
    ("int-negative-huge", -(10**50) - 1, str(-(10**50) - 1)),
    ("decimal-39-digits", Decimal("1." + "1" * 38), "1." + "1" * 38),
    ("nan", math.nan, "nan"),
    ("inf", math.inf, "inf"),
    ("-inf", -math.inf, "-inf"),
    ("datetime-utc", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05+00:00"),
    ("datetime-naive", dt.datetime(2024, 1, 2, 3, 4, 5, 600), "2024-01-02T03:04:05.000600"),
    ("date", dt.date(2024, 2, 29), "2024-02-29"),
    ("time", dt.time(23, 59), "23:59:00"),
    ("str-set", {"b", "c", "a"}, ["a", "b", "c"]),
    ("frozenset", frozenset({"y", "x"}), ["x", "y"]),
    ("empty-set", set(), []),
    ("tuple", (1, "a", None), [Decimal(1), "a", None]),
    ("list", [0.5, [True]], [Decimal("0.5"), [True]]),
    ("bytes", b"\x00\xff", b"\x00\xff"),
    ("bytearray", bytearray(b"ab"), b"ab"),
    (
        "dict-non-str-keys",
        {1: "one", (1, 2): "pair", None: "none", 2.5: {3: dt.date(2024, 1, 1)}},
        {"1": "one", "(1, 2)": "pair", "None": "none", "2.5": {"3": "2024-01-01"}},
    ),
    ("enum", Color.RED, "Color.RED"),
    ("path", PurePosixPath("/tmp/x"), "/tmp/x"),
    ("unknown-object", Opaque(), "opaque!"),
    ("complex", 1 + 2j, "(1+2j)"),
]


@pytest.mark.parametrize(
    ("value", "expected"), [pytest.param(v, e, id=i) for i, v, e in CONVERSIONS]
)
def test_to_dynamo_converts(value: Any, expected: Any) -> None:
    converted = to_dynamo(value)

    assert converted == expected
    assert type(converted) is type(expected)
    assert_storable(converted)


def test_floats_become_exact_decimals() -> None:
    assert str(to_dynamo(0.1)) == "0.1"
    assert str(to_dynamo({"a": [1.1]})["a"][0]) == "1.1"
    assert SERIALIZER.serialize(to_dynamo(0.1)) == {"N": "0.1"}
    assert to_dynamo(True) is True  # bool is an int, but stays a bool
    assert SERIALIZER.serialize(to_dynamo(False)) == {"BOOL": False}


def test_whole_record_serializes_and_round_trips() -> None:
    record = {value_id: value for value_id, value, _ in CONVERSIONS}
    converted = to_dynamo(record)

    wire = SERIALIZER.serialize(converted)
    back = from_dynamo(DESERIALIZER.deserialize(wire))

    assert back["float-0.1"] == 0.1
    assert back["int"] == 42 and isinstance(back["int"], int)
    assert back["float-integral"] == 3  # integral Decimals come back as ints
    assert back["int-39-digits"] == str(10**38)
    assert back["nan"] == "nan"
    assert back["str-set"] == ["a", "b", "c"]
    assert back["bytes"] == base64.b64encode(b"\x00\xff").decode()
    assert back["dict-non-str-keys"]["2.5"] == {"3": "2024-01-01"}
    assert back["tuple"] == [1, "a", None]


def test_sets_are_ordered_deterministically() -> None:
    # Hash order differs with insertion history; the stored list must not.
    one = set()
    for word in ["delta", "alpha", "charlie", "bravo"]:
        one.add(word)
    other = set()
    for word in reversed(["delta", "alpha", "charlie", "bravo"]):
        other.add(word)
    assert to_dynamo(one) == to_dynamo(other) == ["alpha", "bravo", "charlie", "delta"]
    numbers = to_dynamo({10, 2, 1, 33})
    assert sorted(numbers) == [1, 2, 10, 33]
    assert to_dynamo({33, 1, 2, 10}) == numbers
    mixed = to_dynamo({("b", 1), ("a", 2)})
    assert mixed == [["a", Decimal(2)], ["b", Decimal(1)]]
    SERIALIZER.serialize(mixed)


@pytest.mark.parametrize("build", [nested_lists, nested_dicts], ids=["lists", "dicts"])
def test_deep_nesting_is_capped(build: Callable[[int], Any]) -> None:
    deep = build(200)

    converted = to_dynamo({"top": deep})

    # DynamoDB allows 32 levels; the item wrapper uses two.
    assert depth_of(converted) <= 30
    innermost = converted
    while isinstance(innermost, (dict, list)):
        innermost = next(iter(innermost.values())) if isinstance(innermost, dict) else innermost[0]
    assert isinstance(innermost, str)
    assert "bottom" in innermost
    SERIALIZER.serialize(converted)
    # Shallow values are untouched by the cap.
    assert to_dynamo(build(5)) == build(5)


def test_deep_nesting_beyond_the_recursion_limit() -> None:
    deep = nested_lists(sys.getrecursionlimit() + 100)
    converted = to_dynamo(deep)
    assert depth_of(converted) <= 30
    SERIALIZER.serialize(converted)


@pytest.mark.parametrize(
    "value",
    [
        1e300,
        1e-200,
        sys.float_info.max,
        5e-324,
        Decimal("1E+200"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
    ids=str,
)
def test_numbers_out_of_dynamodb_range_are_stored_as_text(value: Any) -> None:
    converted = to_dynamo({"value": value})
    assert_storable(converted)
    assert converted["value"] == str(value)


def test_from_dynamo() -> None:
    assert from_dynamo(Decimal("5")) == 5 and isinstance(from_dynamo(Decimal("5")), int)
    assert from_dynamo(Decimal("1E+3")) == 1000 and isinstance(from_dynamo(Decimal("1E+3")), int)
    assert from_dynamo(Decimal("0.1")) == 0.1 and isinstance(from_dynamo(Decimal("0.1")), float)
    assert from_dynamo(True) is True
    assert from_dynamo(None) is None
    assert from_dynamo("s") == "s"
    assert from_dynamo({"a": [Decimal("1"), {"b": Decimal("2.5")}]}) == {"a": [1, {"b": 2.5}]}
    assert sorted(from_dynamo({Decimal("1"), Decimal("2")})) == [1, 2]
    assert from_dynamo((Decimal("1"),)) == [1]
    assert from_dynamo(b"\x00\xff") == "AP8="
    assert from_dynamo(Binary(b"\x00\xff")) == "AP8="
    assert from_dynamo({"b": Binary(b"hi")}) == {"b": base64.b64encode(b"hi").decode()}


def test_a_field_named_like_an_origin_column_is_kept_beside_it() -> None:
    origin = {"account_id": "111111111111", "region": "us-east-1", "script": "s3_buckets"}
    assert with_origin(origin, {"bucket": "b", "region": "eu-west-1"}) == {
        **origin, "bucket": "b", "record_region": "eu-west-1"
    }  # fmt: skip
    assert with_origin(origin, {"bucket": "b"}) == {**origin, "bucket": "b"}
    assert with_origin(origin, 7) == {**origin, "value": 7}
    # A ported laptop script's `"region": region` repeats the origin: not shown twice.
    assert with_origin(origin, {"bucket": "b", "region": "us-east-1"}) == {**origin, "bucket": "b"}
    # A reserved name is always the script's own (Athena's `run` partition, say).
    run = {"run_id": "r1"}
    assert with_origin(run, {"run_id": "r1"}, frozenset({"run"})) == {"run_id": "r1"}
    assert with_origin(run, {"run": "r1"}, frozenset({"run"})) == {
        "run_id": "r1",
        "record_run": "r1",
    }
