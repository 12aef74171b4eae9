"""The three handlers together, in-process against moto: what lands in the table, exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_src import table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.notifier import format_summary
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
    # A Worker, not the executor's safety net, completed the run: exactly one of them. (moto's
    # in-process DynamoDB loses concurrent ADDs unless conftest serialises it, as it does.)
    assert completed_by_workers <= 1
    assert completed_by_workers == 1
