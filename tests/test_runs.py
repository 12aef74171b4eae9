"""A run's lifecycle: its id, start, each account finishing once, and exactly one completion."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import threading
from typing import Any

import pytest

from lambda_src import names, runs, table
from lambda_src.table import ItemStore
from lambdafan.memory_store import MemoryStore
from tests.conftest import create_table, make_settings

NOW = dt.datetime(2026, 11, 26, 22, 41, 4, tzinfo=dt.timezone.utc)


def test_run_ids_sort_by_start_time() -> None:
    early = runs.new_run_id(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    late = runs.new_run_id(dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.timezone.utc))
    assert early.startswith("20260102T030405Z-") and early < late


def test_times_are_utc_and_expiry_is_ttl_days_later() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    local = NOW.astimezone(paris)
    assert runs.iso(local) == "2026-11-26T22:41:04+00:00"
    assert runs.new_run_id(local).startswith("20261126T224104Z-")
    assert runs.expiry(NOW, 30) - int(NOW.timestamp()) == 30 * 86_400


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> ItemStore:
    if request.param == "memory":
        return MemoryStore()
    aws = request.getfixturevalue("aws")
    return create_table(aws, make_settings())


def start(store: ItemStore, accounts_expected: int, run_id: str = "r1") -> tuple[bool, Any]:
    return runs.start_run(
        store,
        run_id,
        accounts=[f"{n:012d}" for n in range(accounts_expected)],
        scripts=["s"],
        trigger="test",
        now=NOW,
        ttl_days=1,
        worker_timeout_s=900,
    )


def finish(
    store: ItemStore, account: str, records: int = 1, failed: bool = False, attempt: str = "a1"
) -> runs.Finish:
    return runs.finish_account(
        store,
        "r1",
        account,
        f"name-{account}",
        records_by_script={"s": records},
        errors=int(failed),
        failed=failed,
        attempt=attempt,
        now=NOW,
        ttl_days=1,
    )


def run_of(store: ItemStore) -> dict[str, Any]:
    run = table.get_run(store, "r1")
    assert run is not None
    return run


def test_start_run_records_a_running_run(store: ItemStore) -> None:
    created, item = start(store, 2)
    assert created is True
    run = run_of(store)
    assert item == run
    assert (run["status"], run["accounts_expected"], run["trigger"]) == ("running", 2, "test")
    assert run["started_at"] == "2026-11-26T22:41:04+00:00"
    assert sorted(run["accounts"]) == ["000000000000", "000000000001"]
    assert run["deadline_at"] == runs.iso(runs.run_deadline(NOW, 900))
    assert dt.datetime.fromisoformat(run["deadline_at"]) > NOW


def test_start_run_of_an_existing_run_changes_nothing(store: ItemStore) -> None:
    start(store, 2)
    finish(store, "000000000000")
    before = run_of(store)
    # A retried Director: the run exists, so it is returned as it is, not started again.
    created, existing = start(store, 3)
    assert created is False
    assert existing == before == run_of(store)
    assert (existing["accounts_expected"], existing["accounts_done"]) == (2, 1)


def test_each_account_counts_once_and_the_last_completes(store: ItemStore) -> None:
    start(store, 2)
    assert finish(store, "000000000000", records=3) is runs.Finish.COUNTED
    # A retried Worker of the same account (another attempt) counts nothing.
    assert finish(store, "000000000000", records=5, attempt="a2") is runs.Finish.DUPLICATE
    assert finish(store, "000000000000", records=3) is runs.Finish.DUPLICATE
    run = run_of(store)
    assert (run["status"], run["accounts_done"], run["records"]) == ("running", 1, 3)
    assert finish(store, "000000000001", records=4, failed=True) is runs.Finish.COMPLETED
    run = run_of(store)
    assert (run["status"], run["accounts_done"], run["accounts_failed"]) == (
        "complete with failures",
        2,
        1,
    )
    assert (run["records"], run["errors"]) == (7, 1)
    assert run["finished_at"] == "2026-11-26T22:41:04+00:00"
    # Not reported yet (no Notifier ran here): a duplicate starts the Notifier; once the run
    # is reported, a duplicate changes nothing at all.
    assert finish(store, "000000000001") is runs.Finish.DUPLICATE_NOTIFY
    store.update_if(names.run_pk("r1"), names.RUN_SK, {"notified_at": "t"}, when=("run_id", "r1"))
    assert finish(store, "000000000001") is runs.Finish.DUPLICATE
    # One done item per account, however often it finished; the first attempt's stays.
    done = {a["account_id"]: a for a in table.account_items(store, "r1")}
    assert len(done) == 2
    assert (done["000000000000"]["attempt"], done["000000000000"]["records"]) == ("a1", 3)
    assert run_of(store)["records"] == 7


def test_an_account_without_failures_completes_the_run_as_complete(store: ItemStore) -> None:
    start(store, 2)
    finish(store, "000000000000", records=3)
    assert finish(store, "000000000001", records=4) is runs.Finish.COMPLETED
    run = run_of(store)
    assert (run["status"], run["accounts_failed"], run["records"], run["errors"]) == (
        "complete",
        0,
        7,
        0,
    )


def test_fail_account_writes_an_account_wide_error_and_counts_the_account(
    store: ItemStore,
) -> None:
    start(store, 1)
    done = runs.fail_account(
        store,
        "r1",
        "000000000000",
        "a",
        error_type="AccessDenied",
        message="no",
        attempt=runs.DIRECTOR_ATTEMPT,
        now=NOW,
        ttl_days=1,
    )
    assert done is runs.Finish.COMPLETED
    [error] = table.run_errors(store, "r1")
    assert (error["script"], error["region"], error["error_type"]) == ("*", "*", "AccessDenied")
    assert error["attempt"] == runs.DIRECTOR_ATTEMPT
    run = run_of(store)
    assert (run["status"], run["accounts_failed"], run["errors"]) == (
        "complete with failures",
        1,
        1,
    )


def test_complete_if_all_done_waits_for_every_account(store: ItemStore) -> None:
    assert runs.complete_if_all_done(store, "r1", NOW) is False  # no such run
    start(store, 2)
    finish(store, "000000000000")
    assert runs.complete_if_all_done(store, "r1", NOW) is False
    assert run_of(store)["status"] == "running"
    finish(store, "000000000001")
    # The run already completed: the safety net completes nothing a second time.
    assert runs.complete_if_all_done(store, "r1", NOW) is False


def test_complete_run_switches_a_running_run_once(store: ItemStore) -> None:
    start(store, 3)
    assert runs.complete_run(store, "r1", [], NOW) is True
    assert runs.complete_run(store, "r1", [], NOW) is False
    run = run_of(store)
    assert (run["status"], run["accounts_done"], run["records"]) == ("complete", 0, 0)


def test_concurrent_finishes_count_every_account_and_complete_exactly_once(
    store: ItemStore,
) -> None:
    """Every account's Worker finishes at once: exact counters, exactly one COMPLETED.

    DynamoDB's conditional ADD is atomic; in-process moto's is not unless the conftest lock
    serialises it (without the lock this lost increments, so no Worker completed the run).
    """
    accounts = [f"{n:012d}" for n in range(32)]
    start(store, len(accounts))
    barrier = threading.Barrier(16)

    def one(account: str) -> runs.Finish:
        if int(account) < 16:
            barrier.wait(timeout=30)  # the first 16 start together
        return finish(store, account, records=2)

    with cf.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, accounts))

    assert results.count(runs.Finish.COMPLETED) == 1
    assert results.count(runs.Finish.COUNTED) == len(accounts) - 1
    run = run_of(store)
    assert (run["status"], run["accounts_done"], run["records"]) == ("complete", 32, 64)
    done = list(table.account_items(store, "r1"))
    assert sorted(a["account_id"] for a in done) == accounts
    assert sum(int(a["records"]) for a in done) == 64
