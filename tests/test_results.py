"""Reading runs back (lambdafan.results) against a table filled by a real local run, in-process."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_src import names, runs, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import ItemStore
from lambdafan import results, run_rows
from lambdafan.aws import Aws
from lambdafan.checks import check_account_id
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.local import LocalExecutor
from lambdafan.render import results as show
from lambdafan.render.records import write_jsonl
from lambdafan.results import ResultsQuery
from tests.conftest import create_table, load_scripts, make_settings

A, B = "111111111111", "022222222222"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


class Filled:
    """A table after one local run of whoami + fails_in_eu over two accounts and two regions."""

    def __init__(self, aws: Any) -> None:
        self.settings = make_settings(accounts=(A, B), scripts=("whoami", "fails_in_eu"))
        create_table(aws, self.settings)
        self.client = aws.client("dynamodb")
        self.operations: list[str] = []
        self.client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: self.operations.append(model.name)
        )
        self.store = DynamoStore(self.client, self.settings.table_name)
        local = LocalExecutor(
            self.settings, Aws(aws), self.store, load_scripts(self.settings), sandbox=False
        )
        self.run_id = local.run().run_id
        self.operations.clear()

    def rows(self, **narrow: Any) -> list[dict[str, Any]]:
        """One read of the run, narrowed by ResultsQuery fields."""
        run = results.find_run(self.store, self.run_id, self.settings.table_name)
        return list(results.read_results(self.store, ResultsQuery(self.run_id, **narrow), run))


def later_run(filled: Filled, aws: Any) -> str:
    """Another run, an hour later: run ids sort by start time, to the second."""
    later = runs.utcnow() + dt.timedelta(hours=1)
    scripts = load_scripts(filled.settings)
    executor = LocalExecutor(
        filled.settings, Aws(aws), filled.store, scripts, clock=lambda: later, sandbox=False
    )
    return executor.run().run_id


@pytest.fixture
def filled(aws: Any) -> Filled:
    return Filled(aws)


def where(rows: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """How many rows per (account, script, region)."""
    return Counter((r["account_id"], r["script"], r["region"]) for r in rows)


def test_all_records_of_a_run(filled: Filled) -> None:
    rows = filled.rows()
    # whoami: one record per (account, region); fails_in_eu: two in us-east-1, one in eu-west-1.
    assert where(rows) == {
        (a, "whoami", r): 1 for a in (A, B) for r in ("us-east-1", "eu-west-1")
    } | {(a, "fails_in_eu", "us-east-1"): 2 for a in (A, B)} | {
        (a, "fails_in_eu", "eu-west-1"): 1 for a in (A, B)
    }
    whoami = [r for r in rows if r["script"] == "whoami"]
    assert all(r["caller_account"] == r["account_id"] for r in whoami)
    assert {r["account_name"] for r in rows} == {"acct-111", "acct-022"}


@pytest.mark.parametrize(
    ("narrow", "expected"),
    [
        ({"account": A}, 5),
        ({"script": "whoami"}, 4),
        ({"region": "eu-west-1"}, 4),
        ({"script": "fails_in_eu", "region": "us-east-1"}, 4),
        ({"account": B, "script": "fails_in_eu", "region": "eu-west-1"}, 1),
        ({"account": A, "region": "us-east-1"}, 3),
    ],
)
def test_records_narrowed_by_account_script_and_region(
    filled: Filled, narrow: dict[str, str], expected: int
) -> None:
    rows = filled.rows(**narrow)
    assert len(rows) == expected
    for name, value in narrow.items():
        assert {r[f"{name}_id" if name == "account" else name] for r in rows} == {value}


def test_errors_narrowed_like_records(filled: Filled) -> None:
    errors = filled.rows(errors=True)
    assert where(errors) == {(A, "fails_in_eu", "eu-west-1"): 1, (B, "fails_in_eu", "eu-west-1"): 1}
    assert {e["error_type"] for e in errors} == {"RuntimeError"}
    assert all("boom in eu-west-1" in e["message"] for e in errors)
    assert list(errors[0]) == list(results.ERROR_FIELDS)
    assert where(filled.rows(errors=True, account=B)) == {(B, "fails_in_eu", "eu-west-1"): 1}
    assert filled.rows(errors=True, script="whoami") == []
    assert filled.rows(errors=True, region="us-east-1") == []


def test_latest_run_is_the_default_and_unknown_runs_are_errors(filled: Filled, aws: Any) -> None:
    name = filled.settings.table_name
    assert results.find_run(filled.store, None, name)["run_id"] == filled.run_id
    second = later_run(filled, aws)
    assert results.find_run(filled.store, None, name)["run_id"] == second
    assert results.find_run(filled.store, filled.run_id, name)["run_id"] == filled.run_id
    with pytest.raises(LambdafanError, match=r"^run 20990101T000000Z-000000 not found$"):
        results.find_run(filled.store, "20990101T000000Z-000000", name)


def test_no_runs_yet(aws: Any) -> None:
    settings = make_settings()
    store = create_table(aws, settings)
    with pytest.raises(LambdafanError, match="no runs in table test-results yet"):
        results.find_run(store, None, settings.table_name)
    assert run_rows.recent_runs(store, 10) == []


def test_missing_table_is_one_actionable_message(aws: Any) -> None:
    store = DynamoStore(aws.client("dynamodb"), "never-deployed-results")
    with (
        pytest.raises(LambdafanError) as caught,
        results.missing_table("never-deployed-results"),
    ):
        results.find_run(store, None, "never-deployed-results")
    assert str(caught.value) == (
        "table never-deployed-results not found: deploy the fleet first (lambdafan deploy) "
        "or run lambdafan run --local"
    )


def test_account_ids_and_accounts_not_in_the_run(filled: Filled) -> None:
    assert check_account_id("012345678901") == "012345678901"
    for bad in ("12345", "1234567890123", "abcdefghijkl", "11111111111a"):
        with pytest.raises(UsageError, match="not a 12-digit account id"):
            check_account_id(bad)
    run = results.find_run(filled.store, filled.run_id, "t")
    results.require_account(filled.store, run, A)
    with pytest.raises(
        LambdafanError, match=f"^account 999999999999 has no results in run {filled.run_id}$"
    ):
        results.require_account(filled.store, run, "999999999999")


def test_recent_runs_newest_first(filled: Filled, aws: Any) -> None:
    second = later_run(filled, aws)
    recent = run_rows.recent_runs(filled.store, 10)
    assert [r.run_id for r in recent] == [second, filled.run_id]
    newest = recent[0]
    # Two pairs failed: the run completed with failures (it used to say plain `complete`).
    assert (newest.status, newest.accounts_done, newest.accounts_expected) == (
        "complete with failures",
        2,
        2,
    )
    assert (newest.records, newest.errors) == (10, 2)
    assert newest.duration_seconds is not None and newest.duration_seconds >= 0
    assert [r.run_id for r in run_rows.recent_runs(filled.store, 1)] == [second]


def _run_item(deadline_at: str) -> dict[str, Any]:
    return table.run_item(
        "r1",
        started_at="2026-01-02T03:04:05+00:00",
        accounts_expected=3,
        scripts=["s"],
        trigger="manual",
        expires_at=0,
        deadline_at=deadline_at,
    )


def test_a_running_run_has_no_duration() -> None:
    item = _run_item(deadline_at=runs.iso(runs.utcnow() + dt.timedelta(hours=1)))
    row = run_rows.run_row(item)
    assert (row.status, row.duration_seconds, row.accounts_done) == ("running", None, 0)
    assert results.is_running(item)
    item.update(status="complete", finished_at="2026-01-02T03:06:10+00:00")
    assert run_rows.run_row(item).duration_seconds == 125.0
    assert not results.is_running(item)


def test_a_running_run_past_its_deadline_is_overdue() -> None:
    item = _run_item(deadline_at=runs.iso(runs.utcnow() - dt.timedelta(seconds=1)))
    row = run_rows.run_row(item)
    assert (row.status, row.duration_seconds) == ("overdue", None)
    assert not results.is_running(item)
    # Once closed, it shows its final status.
    item.update(status="incomplete", finished_at="2026-01-02T03:06:10+00:00")
    row = run_rows.run_row(item)
    assert (row.status, row.duration_seconds) == ("incomplete", 125.0)


def test_a_run_row_carries_each_channels_outcome() -> None:
    item = _run_item(deadline_at="2026-01-02T04:00:00+00:00")
    item.update(status="complete", deliveries={"slack": "sent", "email": "failed: no"})
    row = run_rows.run_row(item)
    assert row.deliveries == {"slack": "sent", "email": "failed: no"}
    assert row.as_dict()["deliveries"] == row.deliveries
    assert run_rows.run_row(_run_item(deadline_at="2026-01-02T04:00:00+00:00")).deliveries == {}


def test_every_read_is_a_query_or_a_key_read(filled: Filled) -> None:
    filled.rows()
    filled.rows(region="eu-west-1")
    filled.rows(account=A, script="whoami")
    filled.rows(errors=True, script="fails_in_eu")
    run = results.find_run(filled.store, None, "t")
    with pytest.raises(LambdafanError):
        results.require_account(filled.store, run, "999999999999")
    run_rows.recent_runs(filled.store, 5)
    list(results.follow_results(filled.store, ResultsQuery(filled.run_id), sleep=_no_sleep))
    assert "Scan" not in filled.operations
    assert set(filled.operations) <= {"Query", "GetItem"} and "Query" in filled.operations


def _no_sleep(_: float) -> None:
    raise AssertionError("a complete run is read once, without waiting")


# --- --follow -----------------------------------------------------------------------------------


def _record(run_id: str, n: int, account: str = A, region: str = "us-east-1") -> dict[str, Any]:
    return table.record_item(
        run_id,
        account,
        "prod",
        "whoami",
        region,
        {"n": n},
        collected_at=runs.iso(NOW),
        expires_at=runs.expiry(NOW, 1),
        seen={},
        attempt="a1",
    )


def _start(store: ItemStore, run_id: str) -> None:
    # Started now: a run past its deadline is over, and following it would read it once.
    created, _ = runs.start_run(
        store,
        run_id,
        accounts=[A, B],
        scripts=["whoami"],
        trigger="test",
        now=runs.utcnow(),
        ttl_days=1,
        worker_timeout_s=900,
    )
    assert created


def test_follow_yields_each_record_once_and_stops_when_the_run_completes(aws: Any) -> None:
    settings = make_settings()
    store = create_table(aws, settings)
    operations: list[str] = []
    store.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    run_id = "20260102T030405Z-abcdef"
    _start(store, run_id)
    # Neither account has finished: their records are found through the config's account list.
    store.put_items([_record(run_id, 1), _record(run_id, 2, account=B)])
    operations.clear()  # the setup's writes
    slept: list[float] = []
    ticks = iter(range(100))

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            store.put_items([_record(run_id, 3), _record(run_id, 4, region="eu-west-1")])
        elif len(slept) == 2:
            assert store.update_if(
                names.run_pk(run_id), "RUN", {"status": "complete"}, when=("status", "running")
            )

    query = ResultsQuery(run_id)
    follow = results.follow_results(
        store, query, interval=2.0, sleep=sleep, clock=lambda: float(next(ticks))
    )
    seen = [(r["account_id"], r["n"]) for r in follow]

    assert sorted(seen[:2]) == sorted([(A, 1), (B, 2)])
    assert sorted(seen[2:]) == [(A, 3), (A, 4)]
    assert len(seen) == 4  # every record exactly once, though each pass re-read the older ones
    assert len(slept) == 2  # the pass after `complete` is the last one
    assert slept == [1.0, 1.0]  # the interval minus the (fake) second each pass took
    reads = [op for op in operations if op not in {"BatchWriteItem", "UpdateItem"}]  # the sleeps'
    assert "Scan" not in reads and set(reads) == {"Query", "GetItem"}


def test_follow_narrowed_to_one_account_and_errors(aws: Any) -> None:
    settings = make_settings()
    store = create_table(aws, settings)
    run_id = "20260102T030405Z-000001"
    _start(store, run_id)
    store.put_items([_record(run_id, 1), _record(run_id, 2, account=B)])
    error = table.error_item(
        run_id,
        B,
        "staging",
        "whoami",
        "eu-west-1",
        error_type="RuntimeError",
        message="boom",
        collected_at=runs.iso(NOW),
        expires_at=0,
        attempt="a1",
    )

    def sleep(_: float) -> None:
        store.put_items([error])
        store.update_if(names.run_pk(run_id), "RUN", {"status": "complete"}, ("status", "running"))

    only_b = list(results.follow_results(store, ResultsQuery(run_id, account=B), sleep=sleep))
    assert [(r["account_id"], r["n"]) for r in only_b] == [(B, 2)]

    errors = list(results.follow_results(store, ResultsQuery(run_id, errors=True), sleep=sleep))
    assert [(e["account_id"], e["error_type"], e["message"]) for e in errors] == [
        (B, "RuntimeError", "boom")
    ]


def test_follow_of_a_deleted_run_is_an_error(aws: Any) -> None:
    store = create_table(aws, make_settings())
    with pytest.raises(LambdafanError, match="run nope not found"):
        list(results.follow_results(store, ResultsQuery("nope"), sleep=_no_sleep))


# --- rendering for pipes ------------------------------------------------------------------------


def test_csv_header_is_origin_then_the_union_of_fields(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"account_id": A, "account_name": "prod", "region": "us-east-1", "script": "s", "n": 1},
        {
            "account_id": B,
            "account_name": "staging",
            "region": "global",
            "script": "s",
            "tags": {"a": [1, 2]},
            "ok": True,
            "none": None,
            "text": 'say "hi", twice\n',
        },
    ]
    assert show.write_csv(rows) == 2
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "account_id,account_name,region,script,n,tags,ok,none,text"
    back = list(csv.DictReader(io.StringIO(out)))
    assert back[0]["n"] == "1" and back[0]["tags"] == ""
    assert json.loads(back[1]["tags"]) == {"a": [1, 2]}
    assert (back[1]["ok"], back[1]["none"], back[1]["text"]) == ("true", "", 'say "hi", twice\n')


def test_json_lines_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"account_id": A, "nested": {"x": [1, 2.5]}}, {"account_id": B}]
    assert write_jsonl(sys.stdout, rows) == 2
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == rows


def test_table_mode_stops_reading_once_every_table_is_full() -> None:
    from lambdafan.render.records import records_tables

    consumed = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal consumed
        for i in range(100):
            consumed += 1
            yield {"account_id": "1", "account_name": "a", "region": "r", "script": "s", "i": i}

    [table_] = list(records_tables(rows(), 5, totals={"s": 100}, hint="h"))
    assert consumed == 5
    assert table_.title == "s (100 records)" and table_.row_count == 5
    consumed = 0
    list(records_tables(rows(), 5, hint="h"))  # without known totals every row is counted
    assert consumed == 100


def test_known_totals_come_from_the_done_items(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "fails_in_eu"))
    store = create_table(aws, settings)
    run_id = (
        LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run().run_id
    )
    run = table.get_run(store, run_id)
    assert run is not None
    assert results.known_totals(store, results.ResultsQuery(run_id), run) == {
        "whoami": 4, "fails_in_eu": 6,
    }  # fmt: skip
    only_a = results.ResultsQuery(run_id, account=A, script="whoami")
    assert results.known_totals(store, only_a, run) == {"whoami": 2}
    assert (
        results.known_totals(store, results.ResultsQuery(run_id, region="eu-west-1"), run) is None
    )
