"""The three handlers together, in-process against moto: what lands in the table, exactly once."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_src import runs, table
from lambda_src.director import DirectorDeps, run_director
from lambda_src.notifier import format_summary, summarize
from lambda_src.settings import FleetSettings, ScriptRef
from lambda_src.table import DynamoStore
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
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

    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()

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


def test_failures_stay_local(aws: Any) -> None:
    settings = make_settings(accounts=(A, B, C), scripts=("whoami", "fails_in_eu"))
    store = create_table(aws, settings)
    deny_assume_role(aws, C)

    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()

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
    assert summary.status == "complete" and not summary.ok
    assert (summary.accounts_done, summary.accounts_failed, summary.records) == (3, 1, 10)
    assert len(result.notifications) == 1
    text = format_summary(summary)
    assert "3/3 done, 1 failed" in text and "AccessDenied" in text


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
        settings, Aws(aws), store, load_scripts(settings), threads=16, observer=Collect()
    )
    result = executor.run()
    assert len(result.notifications) == 1
    assert result.summary.accounts_done == 24 and result.summary.records == 24
    assert len(finished) == 24
    completed_by_workers = sum(r.completed_run for r in finished)
    if kind == "memory":
        # A Worker, not the executor's safety net, completed the run: exactly one of them.
        assert completed_by_workers == 1
    else:
        # In-process moto can lose concurrent updates (DynamoDB does not); then the executor's
        # safety net completes the run. Never more than one completer either way.
        assert completed_by_workers <= 1


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


def test_worker_stops_at_its_deadline_and_keeps_what_it_found(aws: Any) -> None:
    settings = make_settings(accounts=(A,), scripts=("slow_in_eu",))
    store = create_table(aws, settings)
    runs.start_run(
        store,
        "r1",
        accounts_expected=1,
        scripts=["slow_in_eu"],
        trigger="test",
        now=runs.utcnow(),
        ttl_days=1,
    )
    result = run_worker(
        {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1", "eu-west-1"]},
        settings,
        WorkerDeps(
            store=store,
            base_session=aws,
            invoke=lambda kind, payload: None,
            scripts=load_scripts(settings),
            remaining_ms=lambda: 1_000,  # 1 s left: abandon pairs after 0.75 s
        ),
    )
    assert [(e["region"], e["error_type"]) for e in result.errors] == [("eu-west-1", "Timeout")]
    assert "the 1 records found so far were kept" in result.errors[0]["message"]
    # The abandoned pair's stored record is counted, like the finished pair's.
    assert result.records_by_script == {"slow_in_eu": 2}
    steps = sorted((r["region"], r["data"]["step"]) for r in table.run_records(store, "r1"))
    assert steps == [("eu-west-1", "start"), ("us-east-1", "start")]
    assert result.completed_run


def test_director_marks_accounts_whose_worker_cannot_start(aws: Any) -> None:
    settings = make_settings(accounts=(A, B))
    store = create_table(aws, settings)
    started: list[dict[str, Any]] = []
    notified: list[dict[str, Any]] = []

    def invoke(kind: str, payload: dict[str, Any]) -> None:
        if kind == "notifier":
            notified.append(payload)
        elif payload["account"]["id"] == B:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "Invoke"
            )
        else:
            started.append(payload)

    response = run_director(
        {}, settings, DirectorDeps(store=store, organizations=None, invoke=invoke)
    )

    assert [p["account"] for p in started] == [{"id": A, "name": "acct-111"}]
    assert started[0]["regions"] == ["us-east-1", "eu-west-1"]
    errors = list(table.run_errors(store, response["run_id"]))
    assert [(e["account_id"], e["error_type"]) for e in errors] == [(B, "ClientError")]
    run = table.get_run(store, response["run_id"])
    assert run is not None and run["accounts_expected"] == 2 and run["status"] == "running"
    # The run lists its accounts, so readers find records of accounts not finished yet.
    assert sorted(run["accounts"]) == [B, A]
    assert not notified  # A's Worker has yet to finish


def test_director_restricts_ad_hoc_runs_and_reports_unknown_names(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "buckets"))
    store = MemoryStore()
    started: list[dict[str, Any]] = []
    response = run_director(
        {"run_id": "adhoc", "accounts": [B, "999999999999"], "scripts": ["buckets", "nope"]},
        settings,
        DirectorDeps(store=store, organizations=None, invoke=lambda k, p: started.append(p)),
    )
    assert response["unknown_accounts"] == ["999999999999"]
    assert response["unknown_scripts"] == ["nope"]
    assert [(p["account"]["id"], p["scripts"]) for p in started] == [(B, ["buckets"])]


def test_run_ids_sort_by_start_time() -> None:
    import datetime as dt

    early = runs.new_run_id(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    late = runs.new_run_id(dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.timezone.utc))
    assert early.startswith("20260102T030405Z-") and early < late


def test_cli_reads_are_queries_never_scans(aws: Any) -> None:
    settings = make_settings(accounts=(A, B), scripts=("whoami", "fails_in_eu"))
    create_table(aws, settings)
    client = aws.client("dynamodb")
    operations: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    store = DynamoStore(client, settings.table_name)
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings)).run()
    operations.clear()

    latest = table.latest_run(store)
    assert latest is not None and latest["run_id"] == result.run_id
    assert len(list(table.run_records(store, result.run_id))) == 10
    assert len(list(table.account_records(store, result.run_id, A, "whoami"))) == 2
    assert len(list(table.run_errors(store, result.run_id))) == 2
    assert summarize(store, result.run_id).records == 10

    assert "Scan" not in operations
    assert set(operations) <= {"Query", "GetItem"} and "Query" in operations


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
