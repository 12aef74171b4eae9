"""Record conversion for DynamoDB, the table's keys and item shapes, and `DynamoStore` (moto for
the table itself; fake clients and botocore's Stubber for batching and UnprocessedItems, which
moto never returns)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import enum
import itertools
import math
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.stub import Stubber

from lambda_src.names import run_pk
from lambda_src.records import from_dynamo, to_dynamo
from lambda_src.table import (
    BATCH_SIZE,
    MAX_BATCH_ATTEMPTS,
    TTL_ATTRIBUTE,
    DynamoStore,
    WriteError,
    account_done_item,
    account_records,
    error_item,
    get_run,
    latest_run,
    record_item,
    record_view,
    run_item,
    table_definition,
)
from tests.conftest import create_table, make_settings

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()
UTC = dt.timezone.utc
EXPIRES = 1_900_000_000


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


# --- item keys and shapes ---------------------------------------------------------------------


def rec(
    record: dict[str, Any],
    *,
    seen: dict[str, int] | None = None,
    run: str = "r1",
    account: str = "111111111111",
    script: str = "s3",
    region: str = "us-east-1",
) -> dict[str, Any]:
    return record_item(
        run,
        account,
        "name",
        script,
        region,
        record,
        collected_at="2024-01-01T00:00:00+00:00",
        expires_at=EXPIRES,
        seen={} if seen is None else seen,
    )


def test_same_record_same_key_across_calls() -> None:
    record = {"id": "i-1", "when": dt.datetime(2024, 1, 1, tzinfo=UTC), "n": 0.1, "t": {"a", "b"}}
    first = rec(record)
    second = rec(copy.deepcopy(record))
    assert first["pk"] == second["pk"] == "RUN#r1#111111111111"
    assert first["sk"] == second["sk"]
    assert first["sk"].startswith("REC#s3#us-east-1#")
    assert first["data"] == second["data"]


def test_field_order_does_not_change_the_key() -> None:
    assert rec({"a": 1, "b": {"x": 1, "y": 2}})["sk"] == rec({"b": {"y": 2, "x": 1}, "a": 1})["sk"]
    assert rec({"a": 1})["sk"] != rec({"a": 2})["sk"]


def test_identical_records_in_one_pair_get_distinct_deterministic_keys() -> None:
    def keys() -> list[str]:
        seen: dict[str, int] = {}
        return [rec({"same": True}, seen=seen)["sk"] for _ in range(3)] + [
            rec({"other": True}, seen=seen)["sk"]
        ]

    first = keys()
    digest = first[0].rsplit("#", 1)[1]
    assert first[:3] == [first[0], f"{first[0]}.1", f"{first[0]}.2"]
    assert len(digest) == 24
    assert "." not in first[3]
    assert len(set(first)) == 4
    assert keys() == first  # a retried Worker rewrites the same keys


def test_where_a_record_comes_from_is_part_of_its_key() -> None:
    base = rec({"a": 1})
    other_account = rec({"a": 1}, account="222222222222")
    other_run = rec({"a": 1}, run="r2")
    other_script = rec({"a": 1}, script="ec2")
    other_region = rec({"a": 1}, region="eu-west-1")

    assert other_account["pk"] != base["pk"]
    assert other_run["pk"] != base["pk"]
    assert other_script["pk"] == base["pk"] and other_script["sk"] != base["sk"]
    assert other_region["pk"] == base["pk"] and other_region["sk"] != base["sk"]
    keys = {
        (i["pk"], i["sk"]) for i in (base, other_account, other_run, other_script, other_region)
    }
    assert len(keys) == 5


def test_every_item_carries_an_expiry() -> None:
    items = [
        run_item(
            "r1",
            started_at="2024-01-01T00:00:00Z",
            accounts_expected=2,
            scripts=["s3"],
            trigger="manual",
            expires_at=EXPIRES,
        ),
        account_done_item(
            "r1",
            "111111111111",
            "name",
            records_by_script={"s3": 2, "ec2": 3},
            errors=1,
            failed=False,
            finished_at="2024-01-01T00:01:00Z",
            expires_at=EXPIRES,
        ),
        rec({"a": 1}),
        error_item(
            "r1",
            "111111111111",
            "name",
            "s3",
            "global",
            error_type="AccessDenied",
            message="x" * 5000,
            collected_at="2024-01-01T00:00:30Z",
            expires_at=EXPIRES,
        ),
    ]
    for item in items:
        assert item[TTL_ATTRIBUTE] == EXPIRES, item["kind"]
        SERIALIZER.serialize(to_dynamo(item))
    assert items[1]["records"] == 5
    assert len(items[3]["message"]) == 2000


# --- DynamoStore on moto ----------------------------------------------------------------------


@pytest.fixture
def store(aws: boto3.Session) -> DynamoStore:
    return create_table(aws, make_settings())


def test_table_definition_creates_a_table(aws: boto3.Session) -> None:
    client = aws.client("dynamodb")
    client.create_table(**table_definition("defn-results"))
    table = client.describe_table(TableName="defn-results")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["runs"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_put_items_get_and_query_by_prefix(store: DynamoStore) -> None:
    seen: dict[str, int] = {}
    records = [rec({"i": i, "f": i / 10}, seen=seen) for i in range(30)]
    records += [rec({"i": i}, seen=seen, region="eu-west-1") for i in range(5)]
    records += [rec({"i": 0}, seen=seen, script="ec2")]
    store.put_items(records)

    assert store.get(records[0]["pk"], records[0]["sk"]) is not None
    assert store.get(records[0]["pk"], "REC#nope") is None
    assert len(list(store.query("RUN#r1#111111111111"))) == 36
    assert len(list(store.query("RUN#r1#111111111111", "REC#s3#"))) == 35
    assert len(list(account_records(store, "r1", "111111111111", "s3", "us-east-1"))) == 30
    assert len(list(account_records(store, "r1", "111111111111", "s3", "eu-west-1"))) == 5
    assert len(list(account_records(store, "r1", "111111111111", "ec2"))) == 1
    assert list(store.query("RUN#r1#222222222222")) == []

    ascending = [i["sk"] for i in store.query("RUN#r1#111111111111")]
    assert ascending == sorted(ascending)
    newest_first = [i["sk"] for i in store.query("RUN#r1#111111111111", newest_first=True)]
    assert newest_first == ascending[::-1]
    consistent = list(store.query("RUN#r1#111111111111", "REC#ec2#", consistent=True))
    assert len(consistent) == 1

    # The record itself comes back as the user's values.
    views = sorted(
        (record_view(i) for i in account_records(store, "r1", "111111111111", "s3", "us-east-1")),
        key=lambda v: v["i"],
    )
    assert views[1] == {
        "account_id": "111111111111",
        "account_name": "name",
        "region": "us-east-1",
        "script": "s3",
        "i": 1,
        "f": 0.1,
    }


def test_rewriting_the_same_records_overwrites(store: DynamoStore) -> None:
    records = [rec({"i": i}) for i in range(3)]
    store.put_items(records)
    store.put_items([rec({"i": i}) for i in range(3)])
    assert len(list(store.query(records[0]["pk"]))) == 3


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_add_member_counts_each_member_once(store: DynamoStore, kind: str) -> None:
    from lambdafan.memory_store import MemoryStore

    target: DynamoStore | MemoryStore = store if kind == "dynamodb" else MemoryStore()
    target.put_items(
        [run_item("r2", started_at="t", accounts_expected=2, scripts=["s"], trigger="manual",
                  expires_at=EXPIRES)]
    )  # fmt: skip
    counters = {"accounts_done": 1, "records": 4}
    first = target.add_member(run_pk("r2"), "RUN", "done", "111111111111", counters)
    assert first is not None and first["accounts_done"] == 1 and first["records"] == 4
    # The same member again changes nothing: the condition fails as a whole.
    assert target.add_member(run_pk("r2"), "RUN", "done", "111111111111", counters) is None
    second = target.add_member(run_pk("r2"), "RUN", "done", "222222222222", counters)
    assert second is not None and set(second["done"]) == {"111111111111", "222222222222"}
    assert (second["accounts_done"], second["records"]) == (2, 8)


def test_update_if(store: DynamoStore) -> None:
    item = run_item(
        "r1",
        started_at="2024-01-01T00:00:00Z",
        accounts_expected=2,
        scripts=["s3"],
        trigger="manual",
        expires_at=EXPIRES,
    )
    store.put_items([item])

    wrong = store.update_if(run_pk("r1"), "RUN", {"status": "done"}, ("status", "finished"))
    assert wrong is False
    run = get_run(store, "r1")
    assert run is not None and run["status"] == "running"

    right = store.update_if(
        run_pk("r1"),
        "RUN",
        {"status": "done", "finished_at": dt.datetime(2024, 1, 1, 0, 5, tzinfo=UTC)},
        ("status", "running"),
    )
    assert right is True
    run = get_run(store, "r1")
    assert run is not None
    assert run["status"] == "done"
    assert run["finished_at"] == "2024-01-01T00:05:00+00:00"
    # Only one of two racing finishers wins.
    assert store.update_if(run_pk("r1"), "RUN", {"status": "x"}, ("status", "running")) is False
    # Missing items never match the condition.
    assert store.update_if(run_pk("nope"), "RUN", {"status": "x"}, ("status", "running")) is False


def test_query_runs_newest_first(store: DynamoStore) -> None:
    run_ids = ["20240103T000000Z-c", "20240101T000000Z-a", "20240102T000000Z-b"]
    for run_id in run_ids:
        store.put_items(
            [
                run_item(
                    run_id,
                    started_at=run_id,
                    accounts_expected=1,
                    scripts=["s3"],
                    trigger="manual",
                    expires_at=EXPIRES,
                )
            ]
        )
    # Items that are not runs stay out of the sparse index.
    store.put_items([rec({"a": 1}, run="20240104T000000Z-d")])

    assert [r["run_id"] for r in store.query_runs()] == sorted(run_ids, reverse=True)
    latest = latest_run(store)
    assert latest is not None and latest["run_id"] == "20240103T000000Z-c"


def test_latest_run_of_an_empty_table(store: DynamoStore) -> None:
    assert latest_run(store) is None


# --- DynamoStore batching with fake clients ----------------------------------------------------


class FakeDynamo:
    """Records `batch_write_item` calls; `refuse(call_index, requests)` picks the requests
    reported back as UnprocessedItems."""

    def __init__(
        self, refuse: Callable[[int, list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    ) -> None:
        self.refuse = refuse or (lambda _i, _r: [])
        self.calls: list[list[dict[str, Any]]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        assert list(RequestItems) == ["t"]
        requests = RequestItems["t"]
        assert len(requests) <= BATCH_SIZE
        self.calls.append(copy.deepcopy(requests))
        refused = self.refuse(len(self.calls) - 1, requests)
        return {"UnprocessedItems": {"t": refused} if refused else {}}


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {"pk": "P", "sk": f"S{n:03}", "n": n, **extra}


def written(call: list[dict[str, Any]]) -> list[str]:
    return [r["PutRequest"]["Item"]["sk"]["S"] for r in call]


def test_put_items_batches_by_25() -> None:
    client = FakeDynamo()
    sleeps: list[float] = []

    DynamoStore(client, "t", sleep=sleeps.append).put_items([item(n) for n in range(60)])

    assert [len(c) for c in client.calls] == [25, 25, 10]
    assert [sk for c in client.calls for sk in written(c)] == [f"S{n:03}" for n in range(60)]
    assert sleeps == []


def test_put_items_collapses_duplicate_keys() -> None:
    client = FakeDynamo()
    items = [item(n % 20, version=n) for n in range(30)]

    DynamoStore(client, "t", sleep=lambda _: None).put_items(items)

    assert [len(c) for c in client.calls] == [20]
    sks = written(client.calls[0])
    assert len(set(sks)) == 20
    versions = {
        r["PutRequest"]["Item"]["sk"]["S"]: r["PutRequest"]["Item"]["version"]["N"]
        for r in client.calls[0]
    }
    assert versions["S000"] == "20" and versions["S009"] == "29" and versions["S015"] == "15"


def test_put_items_of_nothing_writes_nothing() -> None:
    client = FakeDynamo()
    DynamoStore(client, "t", sleep=lambda _: None).put_items([])
    assert client.calls == []


def test_unprocessed_items_are_retried_with_growing_backoff() -> None:
    # First batch: 3 refused, then 1 of those, then all done. Second batch goes through.
    plan = {0: 3, 1: 1}
    client = FakeDynamo(lambda i, requests: requests[-plan[i] :] if i in plan else [])
    sleeps: list[float] = []

    DynamoStore(client, "t", sleep=sleeps.append).put_items([item(n) for n in range(30)])

    assert [len(c) for c in client.calls] == [25, 3, 1, 5]
    assert written(client.calls[1]) == ["S022", "S023", "S024"]
    assert written(client.calls[2]) == ["S024"]
    assert len(sleeps) == 2
    assert 0 < sleeps[0] < sleeps[1]


def test_items_still_unprocessed_after_every_attempt_raise() -> None:
    client = FakeDynamo(lambda _i, requests: requests[:2])
    sleeps: list[float] = []
    store = DynamoStore(client, "t", sleep=sleeps.append)

    with pytest.raises(WriteError, match="2 items still unprocessed"):
        store.put_items([item(n) for n in range(30)])

    assert len(client.calls) == MAX_BATCH_ATTEMPTS  # the second batch is never attempted
    assert [len(c) for c in client.calls] == [25] + [2] * (MAX_BATCH_ATTEMPTS - 1)
    assert len(sleeps) >= MAX_BATCH_ATTEMPTS - 1
    assert all(later >= earlier for earlier, later in itertools.pairwise(sleeps))
    assert sleeps[-1] > sleeps[0]
    assert max(sleeps) <= 5.0


def test_unprocessed_items_retry_with_stubbed_boto3_client() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items = [item(1), item(2, data=to_dynamo({"f": 0.1}))]
    requests = [
        {"PutRequest": {"Item": {k: SERIALIZER.serialize(v) for k, v in i.items()}}} for i in items
    ]
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        stubber.add_response(
            "batch_write_item",
            {"UnprocessedItems": {"t": [requests[1]]}},
            expected_params={"RequestItems": {"t": requests}},
        )
        stubber.add_response(
            "batch_write_item",
            {"UnprocessedItems": {}},
            expected_params={"RequestItems": {"t": [requests[1]]}},
        )

        DynamoStore(client, "t", sleep=sleeps.append).put_items(items)

        stubber.assert_no_pending_responses()
    assert len(sleeps) == 1 and sleeps[0] > 0
    assert requests[1]["PutRequest"]["Item"]["data"] == {"M": {"f": {"N": "0.1"}}}
