"""The Worker: runs every (script, region) pair of one account with the member account's
credentials, streams records to the table, and turns failures, timeouts and refused records
into error items of their own pair."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_src import names, record_writer, runs, table, worker
from lambda_src.regions import enabled_regions
from lambda_src.settings import FleetSettings, ScriptRef
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
from lambdafan.aws import Aws
from lambdafan.local import LocalExecutor
from lambdafan.memory_store import MemoryStore
from tests.conftest import assumed, create_table, load_scripts, make_settings
from tests.test_local import deserialized

A, B = "111111111111", "022222222222"


class NoCalls:
    """A base session a Worker must not use: it would assume the member role."""

    def client(self, service: str, **kwargs: Any) -> Any:
        raise AssertionError(f"a {service} client was made")


class StartedEarly(MemoryStore):
    """A table on which, once `early` is set, the next look at `account`'s done item finds
    nothing: that Worker started beside the attempt that counts, before it finished."""

    def __init__(self, account: str) -> None:
        super().__init__()
        self.done_sk = names.account_sk(account)
        self.early = False

    def get(self, pk: str, sk: str) -> table.Item | None:
        if sk == self.done_sk and self.early:
            self.early = False
            return None
        return super().get(pk, sk)


def test_retried_worker_changes_nothing_and_leaves_no_extra_items(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "fails_in_eu"))
    store = create_table(aws, settings)
    scripts = load_scripts(settings)
    result = LocalExecutor(settings, Aws(aws), store, scripts, sandbox=False).run()
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
            base_session=NoCalls(),  # its account is done: it runs nothing, not even AssumeRole
            invoke=lambda kind, payload: notified.append(kind),
            scripts=scripts,
        ),
    )

    after = deserialized(aws, settings.table_name)
    assert retry.duplicate and not retry.completed_run and not notified
    assert (retry.records, retry.errors, retry.failed) == (0, [], False)
    [done_a] = [a for a in table.account_items(store, result.run_id) if a["account_id"] == A]
    assert retry.attempt and retry.attempt != done_a["attempt"]
    # It wrote nothing: the table is exactly what it was, item for item.
    key = lambda i: (i["pk"], i["sk"])  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)
    run = table.get_run(store, result.run_id)
    assert run is not None and (run["accounts_done"], run["status"]) == (
        2,
        "complete with failures",  # fails_in_eu fails in eu-west-1 (it used to say `complete`)
    )
    assert len(list(table.run_records(store, result.run_id))) == 10


def test_a_duplicate_that_cannot_delete_its_items_still_counts_nothing(aws: Any) -> None:
    """Discarding is best effort: what stays of a losing attempt is never read."""
    settings = make_settings(accounts=(A,), scripts=("whoami", "fails_in_eu"))

    class NoDeletes(StartedEarly):
        def delete_items(self, keys: Any) -> None:
            raise RuntimeError("throttled")

    store = NoDeletes(A)
    scripts = load_scripts(settings)
    result = LocalExecutor(settings, Aws(aws), store, scripts, sandbox=False).run()
    summary = result.summary
    store.early = True  # the duplicate ran beside the first attempt: it learns at its end
    retry = run_worker(
        {
            "run_id": result.run_id,
            "account": {"id": A, "name": "acct-111"},
            "regions": ["us-east-1", "eu-west-1"],
        },
        settings,
        WorkerDeps(store=store, base_session=aws, invoke=lambda k, p: None, scripts=scripts),
    )
    assert retry.duplicate and retry.records > 0
    assert len(list(table.run_records(store, result.run_id))) == summary.records == 5
    assert len(list(table.run_errors(store, result.run_id))) == len(summary.errors) == 1
    every = list(store.query(names.records_pk(result.run_id, A)))
    assert len(every) == 2 * summary.records  # both attempts' records are in the table


def test_records_are_collected_with_the_member_accounts_credentials(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "buckets"))
    assumed(aws, B).client("s3").create_bucket(Bucket="only-in-b")
    store = MemoryStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()
    rows = [table.record_view(i) for i in table.run_records(store, result.run_id)]
    assert [(r["account_id"], r["bucket"]) for r in rows if r["script"] == "buckets"] == [
        (B, "only-in-b")
    ]
    assert {(r["account_id"], r["caller_account"]) for r in rows if r["script"] == "whoami"} == {
        (A, A),
        (B, B),
    }


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
    runs.start_run(
        store,
        "r1",
        accounts=[A],
        scripts=["slow_in_eu"],
        trigger="test",
        now=runs.utcnow(),
        ttl_days=1,
        worker_timeout_s=900,
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
                # 2 s left: pairs are abandoned after 1.5 s, by when us-east-1 has long
                # finished and eu-west-1 has stored its first record and is stuck.
                remaining_ms=lambda: 2_000,
            ),
        )
    finally:
        scripts[0].collect.__globals__["GATE"].set()  # let the stuck pair's thread end
    assert scripts[0].collect.__globals__["STARTED"].is_set()
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
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()
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
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()
    assert len(list(table.run_records(store, result.run_id))) == 20
    assert result.summary.records == 20
    assert [(e.script, e.region, e.error_type) for e in result.summary.errors] == [
        ("one", "us-east-1", "RecordTooLarge")
    ]
    assert result.summary.accounts_failed == 0


def client_error(code: str, message: str = "item refused") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "BatchWriteItem")


class RefusingStore(MemoryStore):
    """A store that refuses records with `bad` in them, as DynamoDB refuses invalid items (a
    ValidationException fails the whole batch)."""

    def put_items(self, items: Any) -> None:
        if any(i.get("kind") == "record" and "bad" in i["data"] for i in items):
            raise client_error("ValidationException")
        super().put_items(items)


def test_a_refused_record_loses_only_itself(aws: Any, tmp_path: Any) -> None:
    settings = _one_script(
        tmp_path,
        "def collect(session, region, account):\n"
        "    for i in range(30):\n"
        "        yield {'bad': i} if i == 7 else {'i': i}\n",
    )
    store = RefusingStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()
    assert len(list(table.run_records(store, result.run_id))) == 29
    assert result.summary.records == 29
    [error] = result.summary.errors
    assert (error.script, error.region, error.error_type) == ("one", "us-east-1", "WriteError")
    assert "1 records could not be stored" in error.message
    # A record the table refused fails the account (it used to stay a mere error).
    assert result.summary.accounts_failed == 1
    assert result.summary.status == "complete with failures"


def _run_one_account(settings: FleetSettings, store: Any, aws: Any, **event: Any) -> WorkerResult:
    runs.start_run(store, "r1", accounts=[A], scripts=["one"], trigger="test",
                   now=runs.utcnow(), ttl_days=1, worker_timeout_s=900)  # fmt: skip
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


def test_collect_returning_a_string_fails_its_pair_saying_what_was_expected_and_where(
    aws: Any, tmp_path: Any
) -> None:
    settings = _one_script(tmp_path, "def collect(session, region, account):\n    return 'a'\n")
    result = _run_one_account(settings, MemoryStore(), aws)
    [error] = result.errors
    assert (error["region"], error["error_type"]) == ("us-east-1", "TypeError")
    assert error["message"].startswith("collect returned str 'a'; expected records: yield them")
    assert error["message"].endswith(f"(at {tmp_path / 'one.py'}:1)")
    assert result.records_by_script == {"one": 0}


def test_values_and_boto3_resources_a_script_yields_are_stored_as_records(
    aws: Any, tmp_path: Any
) -> None:
    assumed(aws, A).resource("s3", region_name="us-east-1").create_bucket(Bucket="mine")
    settings = _one_script(
        tmp_path,
        "def collect(session, region, account):\n"
        "    yield {'a': 1}\n"
        "    yield 5\n"
        "    yield from session.resource('s3').buckets.all()\n",
    )
    store = MemoryStore()
    result = _run_one_account(settings, store, aws)
    assert result.errors == []
    data = [table.plain(r["data"]) for r in table.run_records(store, "r1")]
    assert sorted(map(sorted, data)) == [["CreationDate", "Name"], ["a"], ["value"]]
    assert {"value": 5} in data and {"a": 1} in data
    assert [d["Name"] for d in data if "Name" in d] == ["mine"]


def test_an_error_raised_while_handling_another_names_both(aws: Any, tmp_path: Any) -> None:
    settings = _one_script(
        tmp_path,
        "def collect(session, region, account):\n"
        "    try:\n"
        "        {}['Tags']\n"
        "    except KeyError:\n"
        "        missing\n",
    )
    [error] = _run_one_account(settings, MemoryStore(), aws).errors
    assert error["error_type"] == "NameError"
    assert error["message"] == (
        "name 'missing' is not defined (during handling of KeyError at line 3: 'Tags')"
        f" (at {tmp_path / 'one.py'}:5)"
    )


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
    assert (
        "; WriteError: 1 records could not be stored: An error occurred (ValidationException)"
        in error["message"]
    )
    assert result.records_by_script == {"one": 1}
    assert result.failed  # records the table refused fail the account


def test_a_closed_writer_releases_a_script_waiting_on_its_full_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(record_writer, "QUEUE_SIZE", 1)
    writer = record_writer.RecordWriter(MemoryStore())  # not started: nothing drains the queue
    assert writer.put({"pk": "p", "sk": "1"}) is True
    closing = threading.Timer(0.05, writer._closed.set)
    closing.start()
    assert writer.put({"pk": "p", "sk": "2"}) is False  # waited on the full queue, then gave up
    closing.join()


class CountingStore(MemoryStore):
    """Counts `put_items` calls and raises `error` on each, if given."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.error = error
        self.calls: list[int] = []

    def put_items(self, items: Any) -> None:
        self.calls.append(len(items))
        if self.error is not None:
            raise self.error
        super().put_items(items)


def _items(n: int) -> list[dict[str, Any]]:
    return [{"pk": "p", "sk": f"{i}", "script": "s", "region": "r"} for i in range(n)]


def test_a_throttled_batch_is_lost_whole_without_one_by_one_retries() -> None:
    store = CountingStore(client_error("ProvisionedThroughputExceededException", "slow down"))
    writer = record_writer.RecordWriter(store)
    for item in _items(3):  # queued before the writer starts: one batch, however slow
        assert writer.put(item)
    with writer:
        pass
    assert store.calls == [3]  # one batch, tried once: no item-by-item retries
    assert writer.failed == {("s", "r"): 3}
    assert "slow down" in str(writer.failure)


def test_a_validation_error_falls_back_to_one_by_one() -> None:
    store = CountingStore(client_error("ValidationException"))
    writer = record_writer.RecordWriter(store)
    for item in _items(3):  # queued before the writer starts: one batch, however slow
        assert writer.put(item)
    with writer:
        pass
    assert store.calls == [3, 1, 1, 1]
    assert writer.failed == {("s", "r"): 3}


def test_the_writer_stops_calling_the_store_after_give_up_at() -> None:
    store = CountingStore()
    writer = record_writer.RecordWriter(store, give_up_at=0.0)  # long past
    for item in _items(4):  # queued before the writer starts: one batch, however slow
        assert writer.put(item)
    with writer:
        pass
    assert store.calls == []
    assert writer.failed == {("s", "r"): 4}
    assert isinstance(writer.failure, TimeoutError)


@pytest.mark.parametrize(
    "event",
    [
        {"run_id": "r#1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1"]},
        {"run_id": "r1", "account": {"id": "1234", "name": "a"}, "regions": ["us-east-1"]},
        {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["US EAST"]},
        {"run_id": "r1", "regions": ["us-east-1"]},
    ],
)
def test_a_malformed_event_is_rejected_and_writes_nothing(event: dict[str, Any]) -> None:
    store = CountingStore()
    deps = WorkerDeps(store=store, base_session=None, invoke=lambda k, p: None, scripts=())
    result = run_worker(event, make_settings(accounts=(A,)), deps)
    assert result.rejected and not result.completed_run and not result.duplicate
    assert store.calls == [] and store._items == {}
    assert "rejected" in result.as_dict()


def test_an_export_error_never_names_the_item_of_a_pair_with_another_error() -> None:
    """`run_diff` compares a pair whose only error is its export's: another error must show."""
    sk = "error#s#r"
    errors = [{"sk": sk, "error_type": "ExportError", "message": "upload failed"}]
    worker._add_error(errors, {"sk": sk, "error_type": "WriteError", "message": "2 lost"})
    assert errors == [
        {"sk": sk, "error_type": "WriteError", "message": "2 lost; ExportError: upload failed"}
    ]
    errors = [{"sk": sk, "error_type": "Timeout", "message": "late"}]
    worker._add_error(errors, {"sk": sk, "error_type": "ExportError", "message": "upload failed"})
    assert errors == [
        {"sk": sk, "error_type": "Timeout", "message": "late; ExportError: upload failed"}
    ]
