"""The three handlers together, in-process against moto: what lands in the table, exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_src import names, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_summary import format_summary
from lambda_src.table import Item
from lambda_src.worker import WorkerResult
from lambdafan.aws import Aws
from lambdafan.local import LocalExecutor
from lambdafan.memory_store import MemoryStore
from tests.conftest import all_items, assumed, create_table, load_scripts, make_settings

A, B, C = "111111111111", "022222222222", "333333333333"


def deserialized(session: Any, table_name: str) -> list[dict[str, Any]]:
    store = DynamoStore(session.client("dynamodb"), table_name)
    return [store._de(raw) for raw in all_items(session, table_name)]


def deny_assume_role(session: Any, account_id: str) -> None:
    """moto does not evaluate trust policies: refuse AssumeRole into one account ourselves."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if f"::{account_id}:" in params["RoleArn"]:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not authorized to assume"}},
                "AssumeRole",
            )

    session.events.register("provide-client-params.sts.AssumeRole", refuse)


def test_local_run_lands_every_record_once(aws: Any) -> None:
    settings = make_settings(accounts=(A, B, C), scripts=("whoami", "buckets"))
    store = create_table(aws, settings)
    for account in (A, B, C):
        assumed(aws, account).client("s3").create_bucket(Bucket=f"bucket-{account}")

    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()

    items = deserialized(aws, settings.table_name)
    records = [i for i in items if i["kind"] == "record"]
    # whoami: 3 accounts x 2 regions; buckets: account-scoped, one bucket each.
    assert Counter((r["script"], r["account_id"]) for r in records) == {
        **{("whoami", a): 2 for a in (A, B, C)},
        **{("buckets", a): 1 for a in (A, B, C)},
    }
    assert len({(r["pk"], r["sk"]) for r in records}) == len(records) == 9
    for record in records:
        assert record["run_id"] == result.run_id
        assert record["account_name"] == f"acct-{record['account_id'][:3]}"
        assert record["expires_at"] > 0 and record["collected_at"]
    assert {r["region"] for r in records if r["script"] == "buckets"} == {"global"}
    run = table.get_run(store, result.run_id)
    assert run is not None
    assert (run["status"], run["accounts_expected"], run["accounts_done"], run["records"]) == (
        "complete",
        3,
        3,
        9,
    )
    assert len(result.notifications) == 1
    assert result.summary.ok and result.summary.records == 9


def test_failures_stay_local(aws: Any) -> None:
    settings = make_settings(accounts=(A, B, C), scripts=("whoami", "fails_in_eu"))
    store = create_table(aws, settings)
    deny_assume_role(aws, C)

    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()

    errors = {
        (e["account_id"], e["script"], e["region"]): e
        for e in table.run_errors(store, result.run_id)
    }
    assert set(errors) == {
        (A, "fails_in_eu", "eu-west-1"),
        (B, "fails_in_eu", "eu-west-1"),
        (C, "*", "*"),
    }
    assert errors[C, "*", "*"]["error_type"] == "AccessDenied"
    assert errors[A, "fails_in_eu", "eu-west-1"]["error_type"] == "RuntimeError"
    assert "fails_in_eu.py:7" in errors[A, "fails_in_eu", "eu-west-1"]["message"]
    assert all(e["expires_at"] > 0 for e in errors.values())
    # Everything else landed: whoami in 2 regions, fails_in_eu 2 + 1 records, for A and B.
    landed = Counter(r["script"] for r in table.run_records(store, result.run_id))
    assert landed == {"whoami": 4, "fails_in_eu": 6}
    summary = result.summary
    # A failed account and failed pairs: complete with failures (it used to say `complete`).
    assert summary.status == "complete with failures" and not summary.ok
    assert summary.verdict == "3 error(s)"
    assert (summary.accounts_done, summary.accounts_failed, summary.records) == (3, 1, 10)
    assert len(result.notifications) == 1
    text = format_summary(summary)
    assert "3/3 done, 1 failed" in text and "AccessDenied" in text
    run = table.get_run(store, result.run_id)
    assert run is not None and run["status"] == "complete with failures"


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_many_concurrent_workers_notify_exactly_once(aws: Any, kind: str) -> None:
    accounts = tuple(f"{n:012d}" for n in range(1, 25))
    settings = make_settings(accounts=accounts, regions=("us-east-1",), scripts=("whoami",))
    store = create_table(aws, settings) if kind == "dynamodb" else MemoryStore()
    finished: list[WorkerResult] = []

    class Collect:
        def started(self, run_id: str, accounts_expected: int) -> None:
            pass

        def account_done(self, result: WorkerResult) -> None:
            finished.append(result)

    executor = LocalExecutor(
        settings,
        Aws(aws),
        store,
        load_scripts(settings),
        threads=16,
        observer=Collect(),
        sandbox=False,
    )
    result = executor.run()
    assert len(result.notifications) == 1
    assert result.summary.accounts_done == 24 and result.summary.records == 24
    assert len(finished) == 24
    completed_by_workers = sum(r.completed_run for r in finished)
    # A Worker, not the executor's safety net, completed the run: exactly one of them. (moto's
    # in-process DynamoDB loses concurrent ADDs unless conftest serialises it, as it does.)
    assert completed_by_workers <= 1
    assert completed_by_workers == 1


# A loaded 2-core machine may be slow; nothing here waits for a script that is stuck.
SLOW_MACHINE_S = 4.0


def test_cancel_stops_every_pair_and_closes_the_run_as_interrupted(aws: Any) -> None:
    settings = make_settings(accounts=(A, B, C), scripts=("stuck",))
    store = MemoryStore()
    scripts = load_scripts(settings)
    gate, started = (scripts[0].collect.__globals__[name] for name in ("GATE", "STARTED"))
    # Two threads: two Workers run, two of their four pairs run (stuck after one record each)
    # and two wait in the queue; the third Worker waits too.
    executor = LocalExecutor(settings, Aws(aws), store, scripts, threads=2, sandbox=False)
    cancelled_at: list[float] = []

    def cancel_when_both_stuck() -> None:
        deadline = time.monotonic() + 60
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        cancelled_at.append(time.monotonic())
        executor.cancel()

    canceller = threading.Thread(target=cancel_when_both_stuck)
    canceller.start()
    try:
        result = executor.run()
        returned_at = time.monotonic()
    finally:
        gate.set()  # let the stuck threads end
        canceller.join()

    assert returned_at - cancelled_at[0] < SLOW_MACHINE_S
    assert result.interrupted and result.left_running == 2
    summary = result.summary
    assert summary.status == "interrupted" and summary.verdict == "INTERRUPTED"
    assert summary.records_by_script == {"stuck": 2} and len(started) == 2
    assert (summary.accounts_done, summary.accounts_failed) == (3, 1)
    assert len(list(table.run_records(store, result.run_id))) == 2
    errors = sorted((e.script, e.error_type, e.message) for e in summary.errors)
    assert errors == [
        ("*", "Interrupted", "interrupted (Ctrl-C)"),  # the Worker that never started
        *[("stuck", "Interrupted", "interrupted (Ctrl-C) before it started")] * 2,
        *[("stuck", "Interrupted", "interrupted (Ctrl-C); the 1 records found so far were kept")]
        * 2,
    ]
    time.sleep(0.5)
    assert len(started) == 2  # the queued pairs never ran, even once threads were free


def test_a_pair_past_its_time_limit_is_a_timeout_and_the_run_ends(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "stuck"))
    store = MemoryStore()
    scripts = load_scripts(settings)
    executor = LocalExecutor(settings, Aws(aws), store, scripts, pair_timeout_s=1, sandbox=False)
    began = time.monotonic()
    try:
        result = executor.run()
        took = time.monotonic() - began
    finally:
        scripts[1].collect.__globals__["GATE"].set()

    assert 1 <= took < 1 + SLOW_MACHINE_S
    assert result.left_running == 4 and not result.interrupted
    summary = result.summary
    assert summary.status == "complete with failures"
    assert summary.records_by_script == {"whoami": 4, "stuck": 4}
    assert {(e.script, e.error_type, e.message) for e in summary.errors} == {
        (
            "stuck",
            "Timeout",
            "ran past the pair time limit (1s); the 1 records found so far were kept",
        )
    }
    assert len(summary.errors) == 4 and summary.accounts_failed == 0


def test_a_script_raising_its_own_base_exception_fails_only_its_pair(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "boom_in_eu"))
    result = LocalExecutor(
        settings, Aws(aws), MemoryStore(), load_scripts(settings), sandbox=False
    ).run()
    summary = result.summary
    assert summary.status == "complete with failures" and summary.accounts_failed == 0
    assert summary.records_by_script == {"whoami": 4, "boom_in_eu": 4}
    assert sorted((e.account_id, e.region, e.error_type) for e in summary.errors) == [
        (B, "eu-west-1", "Boom"),
        (A, "eu-west-1", "Boom"),
    ]
    assert all("boom in eu-west-1 (at " in e.message for e in summary.errors)


class StoreDied(BaseException):
    """Not an Exception: a Worker that raises anything fails its account, not the run."""


class DoneWriteDiesOnce(MemoryStore):
    """The first account done item cannot be written: that Worker raises."""

    def __init__(self) -> None:
        super().__init__()
        self.died: list[str] = []
        self._once = threading.Lock()

    def put_new(self, item: Item) -> bool:
        if str(item["sk"]).startswith(names.ACCOUNT_SK_PREFIX):
            with self._once:
                if not self.died:
                    self.died.append(str(item["account_id"]))
                    raise StoreDied("the table went away")
        return super().put_new(item)


def test_a_worker_that_raises_fails_its_account_not_the_run(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami",))
    store = DoneWriteDiesOnce()

    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()

    [failed] = store.died
    summary = result.summary
    assert summary.status == "complete with failures"
    assert (summary.accounts_done, summary.accounts_failed, summary.records) == (2, 1, 2)
    assert [(e.account_id, e.script, e.error_type, e.message) for e in summary.errors] == [
        (failed, "*", "StoreDied", "the Worker failed: the table went away")
    ]
    assert len(result.notifications) == 1


def test_workers_at_once_keep_the_pair_threads_fed_and_no_more() -> None:
    from lambdafan.local import workers_for

    sixteen = make_settings(regions=tuple(f"r-{n}" for n in range(16)))
    whoami = load_scripts(sixteen)  # regional
    assert workers_for(128, sixteen, whoami) == 16  # 16 x 16 pairs: the 128 threads twice over
    assert workers_for(32, sixteen, whoami) == 4
    assert workers_for(1, sixteen, whoami) == 2  # one finishing, one starting
    assert workers_for(128, make_settings(regions=None), whoami) == 16  # 17 regions assumed
    both = load_scripts(make_settings(scripts=("whoami", "buckets")))  # buckets: account-wide
    assert workers_for(128, sixteen, both) == 16  # 17 pairs an account
    assert workers_for(128, sixteen, both[1:]) == 128  # 1 pair an account: capped by threads


def test_a_run_tunes_the_collector_for_itself_and_puts_it_back(aws: Any) -> None:
    import gc

    from lambdafan.local import RUN_GC_THRESHOLD

    settings = make_settings(accounts=(A,))
    seen: list[tuple[int, int]] = []

    class Watch(MemoryStore):
        def put_items(self, items: Any) -> None:
            seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
            super().put_items(items)

    before = (gc.get_threshold(), gc.get_freeze_count())
    LocalExecutor(settings, Aws(aws), Watch(), load_scripts(settings), sandbox=False).run()
    assert seen and all(t == RUN_GC_THRESHOLD and frozen > 0 for t, frozen in seen)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
