"""The Worker: runs every (script, region) pair of one account with the member account's
credentials, streams records to the table, and turns failures, timeouts and refused records
into error items of their own pair."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import threading
from typing import Any

import pytest

from lambda_src import runs, table, worker
from lambda_src.regions import enabled_regions
from lambda_src.scripts import Script
from lambda_src.settings import FleetSettings, ScriptRef
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
from lambdafan.aws import Aws
from lambdafan.local import LocalExecutor
from lambdafan.memory_store import MemoryStore
from tests.conftest import assumed, create_table, load_scripts, make_settings
from tests.test_local import deserialized

A, B = "111111111111", "022222222222"


def test_retried_worker_overwrites_and_counts_once(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "fails_in_eu"))
    store = create_table(aws, settings)
    scripts = load_scripts(settings)
    result = LocalExecutor(settings, Aws(aws), store, scripts).run()
    before = deserialized(aws, settings.table_name)
    notified: list[str] = []

    retry = run_worker(
        {
            "run_id": result.run_id,
            "account": {"id": A, "name": "acct-111"},
            "regions": ["us-east-1", "eu-west-1"],
        },
        settings,
        WorkerDeps(
            store=store,
            base_session=aws,
            invoke=lambda kind, payload: notified.append(kind),
            scripts=scripts,
        ),
    )

    after = deserialized(aws, settings.table_name)
    assert retry.duplicate and not retry.completed_run and not notified
    assert retry.records > 0  # it did run, and overwrote the same keys
    assert sorted((i["pk"], i["sk"]) for i in after) == sorted((i["pk"], i["sk"]) for i in before)
    run = table.get_run(store, result.run_id)
    assert run is not None and (run["accounts_done"], run["status"]) == (2, "complete")


def test_records_are_collected_with_the_member_accounts_credentials(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "buckets"))
    assumed(aws, B).client("s3").create_bucket(Bucket="only-in-b")
    store = MemoryStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()
    rows = [table.record_view(i) for i in table.run_records(store, result.run_id)]
    assert [(r["account_id"], r["bucket"]) for r in rows if r["script"] == "buckets"] == [
        (B, "only-in-b")
    ]
    assert {(r["account_id"], r["caller_account"]) for r in rows if r["script"] == "whoami"} == {
        (A, A),
        (B, B),
    }


class DeadlineWhenStuck:
    """`concurrent.futures` for the Worker, whose `wait` lets the deadline pass only once the
    finished pairs are done and slow_in_eu's eu-west-1 pair has stored a record and is stuck.

    So what is late never depends on how fast a loaded machine runs the other pairs, and no test
    sleeps: `timeouts` keeps the timeout the Worker computed from `remaining_ms`.
    """

    def __init__(self, slow_script: Script) -> None:
        self.slow = slow_script.collect.__globals__
        self.timeouts: list[float | None] = []
        self.futures: list[cf.Future[Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(cf, name)

    def wait(self, fs: Any, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        self.futures.extend(fs)
        cf.wait(fs, timeout=60, return_when=cf.FIRST_COMPLETED)  # us-east-1 is done
        assert self.slow["STARTED"].wait(timeout=60), "eu-west-1 never stored its first record"
        return cf.wait(fs, timeout=0)  # the deadline has passed


def test_deadline_leaves_a_quarter_of_the_time_at_most_20_s() -> None:
    def deadline(remaining_ms: int | None) -> float | None:
        remaining = None if remaining_ms is None else lambda: remaining_ms
        deps = WorkerDeps(store=MemoryStore(), base_session=None, invoke=lambda k, p: None,
                          scripts=(), remaining_ms=remaining)  # fmt: skip
        return worker._deadline(deps, started=1_000.0)

    assert deadline(None) is None
    assert deadline(1_000) == 1_000.75
    assert deadline(60_000) == 1_045.0
    assert deadline(900_000) == 1_880.0  # Lambda's 15 minutes: stop 20 s before
    assert deadline(0) == 1_000.0


def test_worker_stops_at_its_deadline_and_keeps_what_it_found(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(accounts=(A,), scripts=("slow_in_eu",))
    store = create_table(aws, settings)
    scripts = load_scripts(settings)
    futures = DeadlineWhenStuck(scripts[0])
    monkeypatch.setattr(worker, "cf", futures)
    runs.start_run(
        store,
        "r1",
        accounts_expected=1,
        scripts=["slow_in_eu"],
        trigger="test",
        now=runs.utcnow(),
        ttl_days=1,
    )
    try:
        result = run_worker(
            {
                "run_id": "r1",
                "account": {"id": A, "name": "a"},
                "regions": ["us-east-1", "eu-west-1"],
            },
            settings,
            WorkerDeps(
                store=store,
                base_session=aws,
                invoke=lambda kind, payload: None,
                scripts=scripts,
                remaining_ms=lambda: 1_000,  # 1 s left: abandon pairs after 0.75 s
            ),
        )
    finally:
        scripts[0].collect.__globals__["GATE"].set()  # let the stuck pair's thread end
    # The stuck pair goes on to yield its late record, which is dropped: wait until it has.
    assert not cf.wait(futures.futures, timeout=60).not_done
    [timeout] = futures.timeouts
    assert timeout is not None and 0 <= timeout <= 0.75
    assert [(e["region"], e["error_type"]) for e in result.errors] == [("eu-west-1", "Timeout")]
    assert "the 1 records found so far were kept" in result.errors[0]["message"]
    # The abandoned pair's stored record is counted, like the finished pair's.
    assert result.records_by_script == {"slow_in_eu": 2}
    steps = sorted((r["region"], r["data"]["step"]) for r in table.run_records(store, "r1"))
    assert steps == [("eu-west-1", "start"), ("us-east-1", "start")]
    assert result.completed_run


@pytest.mark.parametrize("returned", [{"one": 1}, None, [{"a": 1}, {"a": 2}]])
def test_collect_may_return_a_dict_none_or_a_list(aws: Any, tmp_path: Any, returned: Any) -> None:
    script_file = tmp_path / "ret.py"
    script_file.write_text(f"def collect(session, region, account):\n    return {returned!r}\n")
    settings = dataclasses.replace(
        make_settings(accounts=(A,), regions=("us-east-1",)),
        scripts=(ScriptRef("ret", str(script_file)),),
    )
    store = MemoryStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()
    expected = [] if returned is None else [returned] if isinstance(returned, dict) else returned
    found = [table.plain(r["data"]) for r in table.run_records(store, result.run_id)]
    assert sorted(found, key=str) == sorted(expected, key=str)
    assert result.summary.ok


def _one_script(tmp_path: Any, source: str) -> FleetSettings:
    script_file = tmp_path / "one.py"
    script_file.write_text(source)
    return dataclasses.replace(
        make_settings(accounts=(A,), regions=("us-east-1",)),
        scripts=(ScriptRef("one", str(script_file)),),
    )


def test_an_oversized_record_is_an_error_of_its_pair_and_the_rest_land(
    aws: Any, tmp_path: Any
) -> None:
    settings = _one_script(
        tmp_path,
        "def collect(session, region, account):\n"
        "    for i in range(20):\n"
        "        yield {'i': i}\n"
        "    yield {'blob': 'x' * 500_000}\n",
    )
    store = create_table(aws, settings)
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()
    assert len(list(table.run_records(store, result.run_id))) == 20
    assert result.summary.records == 20
    assert [(e.script, e.region, e.error_type) for e in result.summary.errors] == [
        ("one", "us-east-1", "RecordTooLarge")
    ]
    assert result.summary.accounts_failed == 0


class RefusingStore(MemoryStore):
    """A store that refuses records with `bad` in them, as DynamoDB refuses invalid items."""

    def put_items(self, items: Any) -> None:
        if any(i.get("kind") == "record" and "bad" in i["data"] for i in items):
            raise ValueError("ValidationException: item refused")
        super().put_items(items)


def test_a_refused_record_loses_only_itself(aws: Any, tmp_path: Any) -> None:
    settings = _one_script(
        tmp_path,
        "def collect(session, region, account):\n"
        "    for i in range(30):\n"
        "        yield {'bad': i} if i == 7 else {'i': i}\n",
    )
    store = RefusingStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()
    assert len(list(table.run_records(store, result.run_id))) == 29
    assert result.summary.records == 29
    [error] = result.summary.errors
    assert (error.script, error.region, error.error_type) == ("one", "us-east-1", "WriteError")
    assert "1 records could not be stored" in error.message


def _run_one_account(settings: FleetSettings, store: Any, aws: Any, **event: Any) -> WorkerResult:
    runs.start_run(store, "r1", accounts_expected=1, scripts=["one"], trigger="test",
                   now=runs.utcnow(), ttl_days=1)  # fmt: skip
    return run_worker(
        {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1"], **event},
        settings,
        WorkerDeps(
            store=store,
            base_session=aws,
            invoke=lambda k, p: None,
            scripts=load_scripts(settings),
        ),
    )


def test_without_regions_a_worker_covers_the_accounts_enabled_regions(
    aws: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    settings = _one_script(tmp_path, "def collect(session, region, account):\n    return {}\n")
    store = MemoryStore()

    result = _run_one_account(settings, store, aws, regions=None)

    enabled = enabled_regions(assumed(aws, A).client("ec2", region_name="us-east-1"))
    assert "eu-west-1" in enabled and result.errors == []
    assert sorted(r["region"] for r in table.run_records(store, "r1")) == enabled


@pytest.mark.parametrize(
    ("body", "message", "stored"),
    [
        ("    return 'text'\n", "collect returned str; expected dicts", 0),
        ("    yield {'a': 1}\n    yield 5\n", "collect yielded int; expected a dict", 1),
    ],
)
def test_collect_returning_anything_but_dicts_fails_its_pair(
    aws: Any, tmp_path: Any, body: str, message: str, stored: int
) -> None:
    settings = _one_script(tmp_path, "def collect(session, region, account):\n" + body)
    result = _run_one_account(settings, MemoryStore(), aws)
    [error] = result.errors
    assert (error["region"], error["error_type"]) == ("us-east-1", "TypeError")
    assert error["message"].startswith(message)
    assert result.records_by_script == {"one": stored}


def test_records_lost_in_writing_join_the_pairs_own_error(aws: Any, tmp_path: Any) -> None:
    settings = _one_script(
        tmp_path,
        "def collect(session, region, account):\n"
        "    yield {'i': 1}\n"
        "    yield {'bad': 2}\n"
        "    raise RuntimeError('gave up')\n",
    )
    result = _run_one_account(settings, RefusingStore(), aws)
    [error] = result.errors
    assert error["error_type"] == "RuntimeError"
    assert error["message"].startswith("gave up")
    assert "; WriteError: 1 records could not be stored: ValidationException" in error["message"]
    assert result.records_by_script == {"one": 1}


def test_a_closed_writer_releases_a_script_waiting_on_its_full_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker, "QUEUE_SIZE", 1)
    writer = worker.RecordWriter(MemoryStore())  # not started: nothing drains the queue
    assert writer.put({"pk": "p", "sk": "1"}) is True
    closing = threading.Timer(0.05, writer._closed.set)
    closing.start()
    assert writer.put({"pk": "p", "sk": "2"}) is False  # waited on the full queue, then gave up
    closing.join()
