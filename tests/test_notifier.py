"""The Notifier: summarizes a run, delivers the summary, puts run metrics, and completes runs
whose Worker Lambda gave up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_src import runs, table
from lambda_src.metrics import NAMESPACE
from lambda_src.notifier import NotifierDeps, run_notifier
from lambda_src.run_report import RunCost
from lambda_src.run_summary import (
    ErrorLine,
    RunNotFound,
    RunSummary,
    format_summary,
    run_metrics,
    summarize,
)
from lambda_src.settings import NotifySettings
from lambdafan.memory_store import MemoryStore
from tests.conftest import make_settings
from tests.test_delivery import REGION, channels, sent_emails


def test_notifier_sends_and_puts_run_metrics() -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    runs.start_run(store, "r1", accounts=["111111111111"], scripts=["s"], trigger="t", now=now,
                   ttl_days=1, worker_timeout_s=900)  # fmt: skip
    finish = runs.finish_account(
        store, "r1", "111111111111", "a", records_by_script={"s": 5}, errors=0, failed=False,
        attempt="a1", now=now + dt.timedelta(seconds=42), ttl_days=1,
    )  # fmt: skip
    assert finish is runs.Finish.COMPLETED
    with mock_aws():
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress="ops@x.io")
        settings = make_settings(
            notify=NotifySettings(email_sender="ops@x.io", email_recipients=("t@x.io",))
        )
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        deps = NotifierDeps(store=store, channels=channels(), cloudwatch=cloudwatch)
        response = run_notifier({"run_id": "r1"}, settings, deps)
        assert response["delivered"] == [{"channel": "email", "ok": True, "detail": ""}]
        [email] = sent_emails()
        assert email.subject == "lambdafan test: run r1 OK, 5 records"
        names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]}
        assert names == {
            "RunRecords", "RunErrors", "RunAccountsFailed", "RunDuration", "DeliveryFailures",
            "RecordsAdded", "RecordsRemoved", "RecordsChanged",  # per script, against no run
        }  # fmt: skip
        # Each channel's outcome is stored on the run item.
        run = table.get_run(store, "r1")
        assert run is not None and run["deliveries"] == {"email": "sent"}
        assert run["notified_at"]
        # The same event again (at-least-once): the run was reported, nothing is sent twice.
        assert run_notifier({"run_id": "r1"}, settings, deps) == {"run_id": "r1", "duplicate": True}
        assert len(sent_emails()) == 1
    duration = [m for m in run_metrics(summarize(store, "r1"), "f", now) if m["Unit"] == "Seconds"]
    assert duration[0]["Value"] == 42.0


def _gave_up(run_id: str, account: str) -> dict[str, Any]:
    """The record Lambda sends to the on-failure destination when a Worker's retries run out."""
    return {
        "version": "1.0",
        "requestContext": {
            "requestId": "r",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:test-worker:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"run_id": run_id, "account": {"id": account, "name": "b"},
                           "regions": None, "scripts": None},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 900.00 seconds",
                            "errorType": "Sandbox.Timedout"},
    }  # fmt: skip


def test_a_worker_lambda_gave_up_on_is_marked_failed_and_the_run_completes() -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    runs.start_run(store, "r1", accounts=["111111111111", "222222222222"], scripts=["s"],
                   trigger="t", now=now, ttl_days=1, worker_timeout_s=900)  # fmt: skip
    done = runs.finish_account(store, "r1", "111111111111", "a", records_by_script={"s": 3},
                               errors=0, failed=False, attempt="a1", now=now,
                               ttl_days=1)  # fmt: skip
    assert done is runs.Finish.COUNTED
    deps = NotifierDeps(store=store, clock=lambda: now)

    response = run_notifier(_gave_up("r1", "222222222222"), make_settings(), deps)

    summary = response["summary"]
    # A failed account: the run completes with failures (it used to say plain `complete`).
    assert (summary["status"], summary["accounts_done"], summary["accounts_failed"]) == (
        "complete with failures", 2, 1,
    )  # fmt: skip
    [error] = summary["errors"]
    assert (error["account_id"], error["error_type"]) == ("222222222222", "Sandbox.Timedout")
    assert "failed 3 time(s)" in error["message"] and "timed out" in error["message"]
    [done_b] = [a for a in table.account_items(store, "r1") if a["account_id"] == "222222222222"]
    assert (done_b["attempt"], done_b["failed"]) == (runs.GAVE_UP_ATTEMPT, True)
    before = table.get_run(store, "r1")
    # The same record delivered twice (at-least-once) changes nothing.
    again = run_notifier(_gave_up("r1", "222222222222"), make_settings(), deps)
    assert again["finish"] == "duplicate"
    assert table.get_run(store, "r1") == before
    assert len(list(table.run_errors(store, "r1"))) == 1


def test_summarize_an_unknown_run_raises() -> None:
    with pytest.raises(RunNotFound, match="run nope not found"):
        summarize(MemoryStore(), "nope")


def test_format_summary_shows_the_first_errors_and_counts_the_rest() -> None:
    errors = [ErrorLine(f"{n:012d}", f"a{n}", "s", "us-east-1", "Boom", "no") for n in range(5)]
    summary = RunSummary(
        run_id="r1", status="complete", started_at="t0", finished_at="t1",
        accounts_expected=5, accounts_done=5, accounts_failed=0,
        records_by_script={"s": 3}, errors=errors,
    )  # fmt: skip
    text = format_summary(summary, max_errors=2)
    assert text.splitlines()[0] == "lambdafan run r1: 5 error(s)"
    assert "a1 (000000000001) s us-east-1: Boom: no" in text and "a2 (" not in text
    assert text.endswith("  … and 3 more")


def _finished_run(store: MemoryStore, run_id: str, *, errors: int, now: dt.datetime) -> None:
    runs.start_run(store, run_id, accounts=["111111111111"], scripts=["s"], trigger="t",
                   now=now, ttl_days=1, worker_timeout_s=900)  # fmt: skip
    runs.finish_account(
        store, run_id, "111111111111", "a", records_by_script={"s": 0}, errors=errors,
        failed=errors > 0, attempt="a1", now=now + dt.timedelta(seconds=5), ttl_days=1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("only_on", "told"),
    [("always", [True, True]), ("changes", [False, True]), ("failures", [False, True])],
)
def test_only_on_keeps_uneventful_runs_quiet(only_on: str, told: list[bool]) -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    with mock_aws():
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress="ops@x.io")
        settings = make_settings(
            notify=NotifySettings(
                email_sender="ops@x.io", email_recipients=("t@x.io",), only_on=only_on
            )
        )
        deps = NotifierDeps(store=store, channels=channels())
        # A quiet run (nothing found, nothing failed), then one whose account failed.
        _finished_run(store, "r1", errors=0, now=now)
        quiet = run_notifier({"run_id": "r1"}, settings, deps)
        _finished_run(store, "r2", errors=1, now=now + dt.timedelta(hours=1))
        failed = run_notifier({"run_id": "r2"}, settings, deps)

        assert [quiet["told"], failed["told"]] == told
        assert len(sent_emails()) == sum(told)
        r1 = table.get_run(store, "r1")
        assert r1 is not None
        expected = "sent" if told[0] else f"not sent (only_on: {only_on})"
        assert r1["deliveries"] == {"email": expected}


def test_the_report_has_the_cost_and_metrics_reach_wavefront() -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    _finished_run(store, "r1", errors=0, now=now)
    sent: list[list[str]] = []
    cost = RunCost(total_usd=Decimal("0.0123"), parts_usd={"lambda": Decimal("0.0123")})
    deps = NotifierDeps(
        store=store, clock=lambda: now, cost_for=lambda run_id: cost, wavefront=sent.append
    )

    response = run_notifier({"run_id": "r1"}, make_settings(), deps)

    assert "$0.0123" in response["text"]
    [lines] = sent
    assert any(line.startswith("lambdafan.run.records 0 ") for line in lines), lines
    assert any(line.startswith("lambdafan.run.cost.usd 0.0123 ") for line in lines), lines
    assert all('fleet="test"' in line for line in lines)


def test_a_failing_diff_or_cost_still_tells_the_run() -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    _finished_run(store, "r1", errors=0, now=now)

    def broken(run_id: str) -> RunCost:
        raise RuntimeError("no prices today")

    settings = make_settings(notify=NotifySettings(only_on="changes"))
    deps = NotifierDeps(store=store, cost_for=broken)
    response = run_notifier({"run_id": "r1"}, settings, deps)
    assert response["summary"]["run_id"] == "r1" and "cost" not in response["text"].lower()


def test_a_notifier_short_of_time_tells_the_run_without_its_diff() -> None:
    # The diff reads every record of two runs; with too little time left, the run is still
    # told (only_on counts an unknown diff as a change), without the diff.
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    _finished_run(store, "r1", errors=0, now=now)
    settings = make_settings(notify=NotifySettings(only_on="changes"))
    deps = NotifierDeps(store=store, time_left_ms=lambda: 1_000)

    response = run_notifier({"run_id": "r1"}, settings, deps)

    assert response["told"] is True and "Changes" not in response["text"]
