"""`lambdafan results --format json(l)` streams: rows go out page by page, in the memory of one
page, and are what they were before `ResultsStore` decoded pages itself. Against the bench's
DynamoDB server (`bench.dynamodb_server`, in a thread of this process) and fake stores."""

from __future__ import annotations

import base64
import io
import json
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer

from bench.dynamodb_server import FLEET, REGION, TABLE, serve, wire
from lambda_src import table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import Item
from lambdafan import results, results_store
from lambdafan.render.records import write_json_array, write_jsonl
from tests.conftest import cli

RUN = "20261101T060000Z-abcdef"
ACCOUNT = "111111111111"


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def one_account() -> Iterator[tuple[str, Any]]:
    """5,000 records in one account's partition: three 1 MB Query pages."""
    with serve(5_000, accounts=1) as (endpoint, served):
        yield endpoint, served


def test_pages_are_read_one_at_a_time_as_rows_are_taken(one_account: tuple[str, Any]) -> None:
    endpoint, served = one_account
    store = results_store.ResultsStore(_client(endpoint), TABLE)
    run = table.latest_run(store)
    assert run is not None
    query = results.ResultsQuery(run_id=str(run["run_id"]))
    calls = served_calls(endpoint)
    rows = results.read_results(store, query, run)
    next(rows)
    # The done items (one Query), then the first page of records: no more.
    assert served_calls(endpoint) - calls == 2
    rest = sum(1 for _ in rows)
    assert rest + 1 == served.records == 5_000
    assert served_calls(endpoint) - calls == 1 + 3


def served_calls(endpoint: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/bench/stats", timeout=10) as answer:
        return int(json.load(answer)["calls"].get("Query", 0))


def test_rows_are_what_the_botocore_path_gave(one_account: tuple[str, Any]) -> None:
    """ResultsStore + record_row against DynamoStore (botocore's parser, boto3's
    TypeDeserializer) + table.record_view, line for line."""
    endpoint, _ = one_account
    client = _client(endpoint)
    fast, slow = results_store.ResultsStore(client, TABLE), DynamoStore(_client(endpoint), TABLE)
    run = table.latest_run(slow)
    assert run is not None
    query = results.ResultsQuery(run_id=str(run["run_id"]))
    before = [json.dumps(table.record_view(i), default=str) for i in records_of(slow, run)]
    after = io.StringIO()
    assert write_jsonl(after, results.read_results(fast, query, run)) == 5_000
    assert after.getvalue().splitlines() == before
    # Other reads on the same client are parsed by botocore as before.
    assert DynamoStore(client, TABLE).get(run["pk"], run["sk"]) == run


def records_of(store: Any, run: Item) -> Iterator[Item]:
    counted = table.counted_attempts(store, str(run["run_id"]))
    for account, attempt in counted.items():
        yield from table.account_records(store, str(run["run_id"]), account, attempt=attempt)


WIRE_VALUES: list[Any] = [
    {"S": "text"},
    {"S": ""},
    {"N": "7"},
    {"N": "-0.5"},
    {"N": "1E+3"},
    {"N": "12345678901234567890123456789012345678"},
    {"N": "1.0"},
    {"BOOL": True},
    {"NULL": True},
    {"B": base64.b64encode(b"\x00\xffbytes").decode()},
    {"SS": ["b", "a"]},
    {"NS": ["1", "2.5"]},
    {"BS": [base64.b64encode(b"x").decode()]},
    {"L": [{"S": "a"}, {"N": "2"}, {"L": []}, {"M": {}}]},
    # A map whose keys are DynamoDB's own type names is still a map.
    {"M": {"S": {"S": "not a string"}, "N": {"M": {"L": {"NULL": True}}}, "x y": {"N": "3"}}},
]


@pytest.mark.parametrize("value", WIRE_VALUES, ids=lambda v: next(iter(v)))
def test_a_page_decodes_to_what_boto3s_deserializer_gives(value: dict[str, Any]) -> None:
    # botocore hands the deserializer binary as bytes; the page's JSON has it in base64.
    parsed = json.loads(json.dumps(value), object_hook=_bytes_for_base64)
    expected = TypeDeserializer().deserialize(parsed)
    got = results_store.wire_item({"v": value})["v"]
    assert got == expected and type(got) is type(expected)
    if isinstance(expected, Decimal):
        assert str(got) == str(expected)


def _bytes_for_base64(obj: dict[str, Any]) -> Any:
    if set(obj) == {"B"} and isinstance(obj["B"], str):
        return {"B": base64.b64decode(obj["B"])}
    if set(obj) == {"BS"}:
        return {"BS": [base64.b64decode(b) for b in obj["BS"]]}
    return obj


def test_record_row_is_record_view() -> None:
    data = {
        "int": Decimal("3"),
        "integral": Decimal("2.0"),
        "float": Decimal("0.1"),
        "big": Decimal("1E+40"),
        "none": None,
        "flag": False,
        "nested": {"list": [Decimal("1"), "a", {"deep": [Decimal("1.5")]}], "empty": {}},
        "bin": Binary(b"\x01\x02"),
        "set": {"only"},
    }
    item = {
        "account_id": ACCOUNT,
        "account_name": "prod",
        "region": "eu-west-1",
        "script": "s",
        "data": data,
    }
    for each in (item, {**item, "data": [Decimal("1"), "x"]}, {**item, "data": None}):
        want = json.dumps(table.record_view(each), default=str)
        assert json.dumps(results.record_row(each), default=str) == want


class PagedStore:
    """An ItemStore whose record Query yields `pages` pages of `per_page` made-up items, made
    as they are read; it logs each page it starts."""

    def __init__(self, pages: int, per_page: int, log: list[str]) -> None:
        self.pages, self.per_page, self.log = pages, per_page, log

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        if sk_prefix.startswith("ACCT#"):
            yield {"account_id": ACCOUNT, "attempt": "a1"}
            return
        for page in range(self.pages):
            self.log.append(f"page {page}")
            for n in range(self.per_page):
                yield _record_item(page * self.per_page + n)


def _record_item(n: int) -> Item:
    return {
        "pk": f"RUN#{RUN}#{ACCOUNT}",
        "sk": f"REC#s#us-east-1#a1#{n:024x}",
        "account_id": ACCOUNT,
        "account_name": "prod",
        "region": "us-east-1",
        "script": "s",
        "attempt": "a1",
        "data": {"n": Decimal(n), "name": f"thing-{n}", "tags": {"team": "core"}},
    }


class Lines(io.StringIO):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def write(self, text: str) -> int:
        self.log.append(f"row {json.loads(text)['n']}")
        return len(text)


def _finished_run() -> Item:
    return {"run_id": RUN, "status": "complete", "accounts": [ACCOUNT]}


def test_the_writer_prints_a_page_before_the_next_is_read() -> None:
    log: list[str] = []
    store: Any = PagedStore(pages=3, per_page=2, log=log)
    rows = results.read_results(store, results.ResultsQuery(run_id=RUN), _finished_run())
    assert write_jsonl(Lines(log), rows) == 6
    assert log == [
        "page 0",
        "row 0",
        "row 1",
        "page 1",
        "row 2",
        "row 3",
        "page 2",
        "row 4",
        "row 5",
    ]


def _peak_bytes(pages: int, write: Any = write_jsonl) -> int:
    store: Any = PagedStore(pages=pages, per_page=200, log=[])
    rows = results.read_results(store, results.ResultsQuery(run_id=RUN), _finished_run())
    tracemalloc.start()
    try:
        write(io.TextIOWrapper(io.BufferedWriter(_Null())), rows)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _Null(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(bytes(data))


@pytest.mark.parametrize("write", [write_jsonl, write_json_array], ids=["jsonl", "json"])
def test_memory_does_not_grow_with_the_number_of_rows(write: Any) -> None:
    small, large = _peak_bytes(5, write), _peak_bytes(100, write)  # 1,000 and 20,000 rows
    assert large < small * 1.5 + 64 * 1024, (small, large)


class Logged(io.StringIO):
    """A stream that logs each write into the store's page log."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def write(self, text: str) -> int:
        self.log.append("write")
        return super().write(text)


def test_the_json_array_goes_out_row_by_row() -> None:
    log: list[str] = []
    store: Any = PagedStore(pages=2, per_page=2, log=log)
    rows = results.read_results(store, results.ResultsQuery(run_id=RUN), _finished_run())
    out = Logged(log)
    assert write_json_array(out, rows) == 4
    # "[", the first page's two rows, then the second page is read: nothing is held back.
    assert log == ["write", "page 0", "write", "write", "page 1", "write", "write", "write"]
    assert [row["n"] for row in json.loads(out.getvalue())] == [0, 1, 2, 3]
    empty = io.StringIO()
    assert write_json_array(empty, iter(())) == 0 and json.loads(empty.getvalue()) == []


def _config(folder: Path) -> Path:
    path = folder / "lambdafan.yaml"
    path.write_text(
        f"fleet: {FLEET}\nhome_region: {REGION}\naccounts:\n  list: ['{ACCOUNT}']\n"
        "regions: [us-east-1]\nscripts: [ec2_instances]\n"
    )
    return path


def test_cli_jsonl_is_json_lines_of_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(300, accounts=3) as (endpoint, served):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        config = str(_config(tmp_path))
        jsonl = cli("results", "-c", config, "--format", "jsonl")
        assert jsonl.returncode == 0, jsonl.stderr
        as_json = cli("results", "-c", config, "--format", "json", "--run", served.run_id)
        rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
        assert json.loads(as_json.stdout) == rows
        assert len(rows) == served.records == 300
        assert rows[0]["script"] == "ec2_instances" and "instance_id" in rows[0]
        assert isinstance(rows[0]["tags"], dict)
        limited = cli("results", "-c", config, "--format", "jsonl", "--limit", "7")
        assert len(limited.stdout.splitlines()) == 7
        shown = cli("results", "-c", config)  # tables still work on the same store
        assert shown.returncode == 0 and "ec2_instances (300 records)" in shown.stdout


def test_a_missing_table_is_still_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(10, accounts=1) as (endpoint, _):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        config = _config(tmp_path)
        config.write_text(config.read_text().replace(f"fleet: {FLEET}", "fleet: other"))
        done = cli("results", "-c", str(config), "--format", "jsonl")
        assert done.returncode == 1
        assert "table other-results not found" in done.stderr


def test_wire_is_the_servers_encoding_of_what_the_worker_writes() -> None:
    assert wire({"a": [Decimal("1.5"), None, True]}) == {
        "M": {"a": {"L": [{"N": "1.5"}, {"NULL": True}, {"BOOL": True}]}}
    }


def test_every_read_of_a_local_run_is_what_dynamostore_gave(aws: Any) -> None:
    """Records and errors, narrowed every way, through ResultsStore and through DynamoStore."""
    from tests.test_results import A, Filled

    filled = Filled(aws)
    fast = results_store.ResultsStore(filled.client, filled.settings.table_name)
    run = results.find_run(filled.store, filled.run_id, filled.settings.table_name)
    for narrow in ({}, {"errors": True}, {"account": A}, {"region": "eu-west-1", "errors": True}):
        query = results.ResultsQuery(filled.run_id, **narrow)
        slow_rows = [
            (results.error_view if query.errors else table.record_view)(item)
            for item in results._items(filled.store, query, run, consistent=False)
        ]
        fast_rows = list(results.read_results(fast, query, run))
        assert json.dumps(fast_rows, default=str) == json.dumps(slow_rows, default=str), narrow
        assert fast_rows
    assert results.known_totals(fast, results.ResultsQuery(filled.run_id), run) == (
        results.known_totals(filled.store, results.ResultsQuery(filled.run_id), run)
    )
