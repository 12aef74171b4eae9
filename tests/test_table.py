"""The table's keys and item shapes, and `DynamoStore` (moto for the table itself; fake clients
and botocore's Stubber for batching and UnprocessedItems, which moto never returns)."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber

from lambda_src import table
from lambda_src.dynamo_store import BATCH_SIZE, MAX_BATCH_ATTEMPTS, DynamoStore, WriteError
from lambda_src.names import run_pk
from lambda_src.records import to_dynamo
from lambda_src.run_summary import summarize
from lambda_src.table import (
    TTL_ATTRIBUTE,
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
from lambdafan.aws import Aws
from lambdafan.local import LocalExecutor
from tests.conftest import create_table, load_scripts, make_settings

SERIALIZER = TypeSerializer()
UTC = dt.timezone.utc
EXPIRES = 1_900_000_000
A, B = "111111111111", "022222222222"


# --- item keys and shapes ---------------------------------------------------------------------


def rec(
    record: dict[str, Any],
    *,
    seen: dict[str, int] | None = None,
    run: str = "r1",
    account: str = "111111111111",
    script: str = "s3",
    region: str = "us-east-1",
    attempt: str = "a1",
    key: tuple[str, ...] = (),
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
        attempt=attempt,
        key=key,
    )


def run(
    run_id: str = "r1", accounts_expected: int = 2, started_at: str = "2024-01-01T00:00:00Z"
) -> dict[str, Any]:
    return run_item(
        run_id,
        started_at=started_at,
        accounts_expected=accounts_expected,
        scripts=["s3"],
        trigger="manual",
        expires_at=EXPIRES,
        deadline_at="2024-01-01T08:00:00+00:00",
    )


def test_same_record_same_key_across_calls() -> None:
    record = {"id": "i-1", "when": dt.datetime(2024, 1, 1, tzinfo=UTC), "n": 0.1, "t": {"a", "b"}}
    first = rec(record)
    second = rec(copy.deepcopy(record))
    assert first["pk"] == second["pk"] == "RUN#r1#111111111111"
    assert first["sk"] == second["sk"]
    assert first["sk"].startswith("REC#s3#us-east-1#a1#")
    assert first["attempt"] == second["attempt"] == "a1"
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
    assert keys() == first  # the same attempt rebuilds the same keys


def test_another_attempt_gets_its_own_keys_with_the_same_digests() -> None:
    first, retried = rec({"a": 1}), rec({"a": 1}, attempt="b2")
    assert first["pk"] == retried["pk"] and first["sk"] != retried["sk"]
    assert first["sk"].rsplit("#", 1)[1] == retried["sk"].rsplit("#", 1)[1]
    assert retried["sk"].startswith("REC#s3#us-east-1#b2#") and retried["attempt"] == "b2"


def test_a_declared_key_makes_the_record_identity() -> None:
    key = ("id",)
    assert (
        rec({"id": "i-1", "state": "a"}, key=key)["sk"]
        == rec({"id": "i-1", "state": "b"}, key=key)["sk"]
    )
    assert rec({"id": "i-1"}, key=key)["sk"] != rec({"id": "i-2"}, key=key)["sk"]
    # Without the key field, the whole record is its identity.
    assert rec({"x": 1}, key=key)["sk"] == rec({"x": 1})["sk"] != rec({"x": 2}, key=key)["sk"]
    assert table.record_digest({"id": 1, "n": 2}, key) == table.record_digest(
        {"id": 1, "n": 3}, key
    )


def test_where_a_record_comes_from_is_part_of_its_key() -> None:
    base = rec({"a": 1})
    other_account = rec({"a": 1}, account="222222222222")
    other_run = rec({"a": 1}, run="r2")
    other_script = rec({"a": 1}, script="ec2")
    other_region = rec({"a": 1}, region="eu-west-1")
    other_attempt = rec({"a": 1}, attempt="b2")

    assert other_account["pk"] != base["pk"]
    assert other_run["pk"] != base["pk"]
    assert other_script["pk"] == base["pk"] and other_script["sk"] != base["sk"]
    assert other_region["pk"] == base["pk"] and other_region["sk"] != base["sk"]
    assert other_attempt["pk"] == base["pk"] and other_attempt["sk"] != base["sk"]
    every = (base, other_account, other_run, other_script, other_region, other_attempt)
    keys = {(i["pk"], i["sk"]) for i in every}
    assert len(keys) == 6


def test_every_item_carries_an_expiry() -> None:
    items = [
        run(),
        account_done_item(
            "r1",
            "111111111111",
            "name",
            records_by_script={"s3": 2, "ec2": 3},
            errors=1,
            failed=False,
            finished_at="2024-01-01T00:01:00Z",
            expires_at=EXPIRES,
            attempt="a1",
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
            attempt="a1",
        ),
    ]
    for item in items:
        assert item[TTL_ATTRIBUTE] == EXPIRES, item["kind"]
        SERIALIZER.serialize(to_dynamo(item))
    assert items[1]["records"] == 5
    assert len(items[3]["message"]) == 2000
    assert items[0]["deadline_at"] == "2024-01-01T08:00:00+00:00"
    assert [i.get("attempt") for i in items[1:]] == ["a1", "a1", "a1"]
    assert items[3]["sk"] == "ERR#111111111111#s3#global#a1"


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
    # Another attempt's records are items of their own, told apart by `attempt`.
    store.put_items([rec({"i": i}, attempt="b2") for i in range(2)])
    assert len(list(store.query(records[0]["pk"]))) == 5
    assert len(list(account_records(store, "r1", "111111111111", attempt="a1"))) == 3
    assert len(list(account_records(store, "r1", "111111111111", attempt="b2"))) == 2
    assert len(list(account_records(store, "r1", "111111111111"))) == 5


def both_stores(store: DynamoStore, kind: str) -> Any:
    from lambdafan.memory_store import MemoryStore

    return store if kind == "dynamodb" else MemoryStore()


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_put_new_writes_only_an_absent_item(store: DynamoStore, kind: str) -> None:
    target = both_stores(store, kind)
    first = {**rec({"i": 1}), "version": 1}
    assert target.put_new(first) is True
    # The same key again changes nothing, whatever the new item holds.
    assert target.put_new({**first, "version": 2}) is False
    stored = target.get(first["pk"], first["sk"])
    assert stored is not None and stored["version"] == 1
    assert target.put_new({**rec({"i": 2}), "version": 3}) is True
    assert len(list(target.query(first["pk"]))) == 2


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_add_counters_adds_only_while_the_condition_holds(store: DynamoStore, kind: str) -> None:
    target = both_stores(store, kind)
    target.put_items([run("r2")])
    counters = {"accounts_done": 1, "records": 4}
    first = target.add_counters(run_pk("r2"), "RUN", counters, when=("status", "running"))
    assert first is not None and (first["accounts_done"], first["records"]) == (1, 4)
    second = target.add_counters(run_pk("r2"), "RUN", counters, when=("status", "running"))
    assert second is not None and (second["accounts_done"], second["records"]) == (2, 8)
    # A condition that fails changes nothing, as a whole.
    assert target.add_counters(run_pk("r2"), "RUN", counters, when=("status", "complete")) is None
    # A missing item is not created.
    assert target.add_counters(run_pk("nope"), "RUN", counters, when=("status", "running")) is None
    assert target.get(run_pk("nope"), "RUN") is None
    stored = get_run(target, "r2")
    assert stored is not None and (stored["accounts_done"], stored["records"]) == (2, 8)
    assert stored["errors"] == 0 and stored["status"] == "running"


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_delete_items_deletes_exactly_those_keys(store: DynamoStore, kind: str) -> None:
    target = both_stores(store, kind)
    records = [rec({"i": i}) for i in range(30)]
    target.put_items(records)
    doomed = [(r["pk"], r["sk"]) for r in records[:27]]
    # Duplicates and absent keys are fine; more than one batch's worth is deleted.
    target.delete_items([*doomed, doomed[0], ("RUN#r1#111111111111", "REC#s3#nope")])
    left = sorted(i["sk"] for i in target.query(records[0]["pk"]))
    assert left == sorted(r["sk"] for r in records[27:])
    target.delete_items([])
    assert len(list(target.query(records[0]["pk"]))) == 3


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_update_if(store: DynamoStore, kind: str) -> None:
    target = both_stores(store, kind)
    target.put_items([run()])

    wrong = target.update_if(run_pk("r1"), "RUN", {"status": "done"}, ("status", "finished"))
    assert wrong is False
    stored = get_run(target, "r1")
    assert stored is not None and stored["status"] == "running"

    right = target.update_if(
        run_pk("r1"),
        "RUN",
        {"status": "done", "finished_at": dt.datetime(2024, 1, 1, 0, 5, tzinfo=UTC)},
        ("status", "running"),
    )
    assert right is True
    stored = get_run(target, "r1")
    assert stored is not None
    assert stored["status"] == "done"
    assert stored["finished_at"] == "2024-01-01T00:05:00+00:00"
    # Only one of two racing finishers wins.
    assert target.update_if(run_pk("r1"), "RUN", {"status": "x"}, ("status", "running")) is False
    # Missing items never match the condition.
    assert target.update_if(run_pk("nope"), "RUN", {"status": "x"}, ("status", "running")) is False


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_update_if_none_means_the_attribute_is_absent(store: DynamoStore, kind: str) -> None:
    target = both_stores(store, kind)
    target.put_items([run()])
    assert target.update_if(run_pk("r1"), "RUN", {"notified_at": "t1"}, ("notified_at", None))
    # Once set, it is no longer absent: the second caller loses and changes nothing.
    assert not target.update_if(run_pk("r1"), "RUN", {"notified_at": "t2"}, ("notified_at", None))
    stored = get_run(target, "r1")
    assert stored is not None and stored["notified_at"] == "t1"
    # A missing item never matches, and is not created.
    assert not target.update_if(run_pk("nope"), "RUN", {"notified_at": "t"}, ("notified_at", None))
    assert target.get(run_pk("nope"), "RUN") is None


def test_query_runs_newest_first(store: DynamoStore) -> None:
    run_ids = ["20240103T000000Z-c", "20240101T000000Z-a", "20240102T000000Z-b"]
    for run_id in run_ids:
        store.put_items([run(run_id, accounts_expected=1, started_at=run_id)])
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


# --- reads are queries -------------------------------------------------------------------------


def test_cli_reads_are_queries_never_scans(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "fails_in_eu"))
    create_table(aws, settings)
    client = aws.client("dynamodb")
    operations: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    store = DynamoStore(client, settings.table_name)
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()
    operations.clear()

    latest = table.latest_run(store)
    assert latest is not None and latest["run_id"] == result.run_id
    assert len(list(table.run_records(store, result.run_id))) == 10
    assert len(list(table.account_records(store, result.run_id, A, "whoami"))) == 2
    assert len(list(table.run_errors(store, result.run_id))) == 2
    assert summarize(store, result.run_id).records == 10

    assert "Scan" not in operations
    assert set(operations) <= {"Query", "GetItem"} and "Query" in operations
