"""The Notifier: reads a finished run back from the table and turns it into a summary."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lambda_src import runs, table
from lambda_src.delivery import Channels, Delivery, deliver
from lambda_src.metrics import put_metrics
from lambda_src.settings import FleetSettings
from lambda_src.table import ItemStore

MAX_ERRORS_SHOWN = 10


@dataclass(frozen=True)
class ErrorLine:
    account_id: str
    account_name: str
    script: str
    region: str
    error_type: str
    message: str


@dataclass
class RunSummary:
    """One run, as the Notifier reports it and the CLI prints it."""

    run_id: str
    status: str
    started_at: str
    finished_at: str | None
    accounts_expected: int
    accounts_done: int
    accounts_failed: int
    records_by_script: dict[str, int] = field(default_factory=dict)
    errors: list[ErrorLine] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(self.records_by_script.values())

    @property
    def ok(self) -> bool:
        return self.status == "complete" and not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "records": self.records}


class RunNotFound(LookupError):
    pass


def summarize(store: ItemStore, run_id: str) -> RunSummary:
    """Build a run's summary with Queries on the run's partition only."""
    run = table.get_run(store, run_id)
    if run is None:
        raise RunNotFound(f"run {run_id} not found")
    by_script: Counter[str] = Counter({name: 0 for name in run.get("scripts", [])})
    done = 0
    failed = 0
    for account in table.account_items(store, run_id):
        done += 1
        failed += bool(account.get("failed"))
        for script, count in (account.get("records_by_script") or {}).items():
            by_script[script] += int(count)
    errors = [
        ErrorLine(
            account_id=e["account_id"],
            account_name=e["account_name"],
            script=e["script"],
            region=e["region"],
            error_type=e["error_type"],
            message=e["message"],
        )
        for e in table.run_errors(store, run_id)
    ]
    return RunSummary(
        run_id=run_id,
        status=str(run["status"]),
        started_at=str(run["started_at"]),
        finished_at=run.get("finished_at"),
        accounts_expected=int(run["accounts_expected"]),
        accounts_done=done,
        accounts_failed=failed,
        records_by_script=dict(by_script),
        errors=errors,
    )


def format_summary(summary: RunSummary, max_errors: int = MAX_ERRORS_SHOWN) -> str:
    """Plain text for Slack, email or SNS."""
    verdict = "OK" if summary.ok else f"{len(summary.errors)} error(s)"
    lines = [
        f"lambdafan run {summary.run_id}: {verdict}",
        f"accounts: {summary.accounts_done}/{summary.accounts_expected} done"
        + (f", {summary.accounts_failed} failed" if summary.accounts_failed else ""),
        f"records: {summary.records}",
    ]
    lines += [f"  {script}: {count}" for script, count in sorted(summary.records_by_script.items())]
    if summary.errors:
        lines.append("errors:")
        for e in summary.errors[:max_errors]:
            lines.append(
                f"  {e.account_name} ({e.account_id}) {e.script} {e.region}: "
                f"{e.error_type}: {e.message}"
            )
        if len(summary.errors) > max_errors:
            lines.append(f"  … and {len(summary.errors) - max_errors} more")
    return "\n".join(lines)


def subject_line(summary: RunSummary, fleet: str) -> str:
    verdict = "OK" if summary.ok else f"{len(summary.errors)} error(s)"
    return f"lambdafan {fleet}: run {summary.run_id} {verdict}, {summary.records} records"


def run_metrics(summary: RunSummary, fleet: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The run's CloudWatch metrics (pure): records, errors, failed accounts, duration."""
    values: dict[str, tuple[float, str]] = {
        "RunRecords": (summary.records, "Count"),
        "RunErrors": (len(summary.errors), "Count"),
        "RunAccountsFailed": (summary.accounts_failed, "Count"),
    }
    if summary.finished_at:
        started = dt.datetime.fromisoformat(summary.started_at)
        finished = dt.datetime.fromisoformat(summary.finished_at)
        values["RunDuration"] = ((finished - started).total_seconds(), "Seconds")
    return [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "Fleet", "Value": fleet}],
            "Timestamp": now,
            "Value": value,
            "Unit": unit,
        }
        for name, (value, unit) in values.items()
    ]


@dataclass
class NotifierDeps:
    """What the Notifier talks to; without channels (local runs) it only summarizes."""

    store: ItemStore
    channels: Channels | None = None
    cloudwatch: Any | None = None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))


def run_notifier(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    """Handle `{run_id}`: summarize the run, send it to the configured channels, put metrics.

    Also handles Lambda's on-failure record of a Worker whose retries are exhausted: that
    account is recorded as failed, and if it was the last one, the run is reported as usual.
    """
    if "requestPayload" in event and "requestContext" in event:
        return _worker_gave_up(event, settings, deps)
    summary = summarize(deps.store, str(event["run_id"]))
    text = format_summary(summary)
    delivered: list[Delivery] = []
    if deps.channels is not None:
        subject = subject_line(summary, settings.fleet)
        delivered = deliver(subject, text, settings.notify, deps.channels)
    if deps.cloudwatch is not None:
        put_metrics(deps.cloudwatch, run_metrics(summary, settings.fleet, deps.clock()))
    return {
        "summary": summary.as_dict(),
        "text": text,
        "delivered": [asdict(d) for d in delivered],
    }


def _worker_gave_up(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    payload = event["requestPayload"]
    context = event.get("requestContext") or {}
    response = event.get("responsePayload") or {}
    run_id = str(payload["run_id"])
    account_id, account_name = str(payload["account"]["id"]), str(payload["account"]["name"])
    reason = response.get("errorMessage") or context.get("condition") or "unknown error"
    finish = runs.fail_account(
        deps.store,
        run_id,
        account_id,
        account_name,
        error_type=str(response.get("errorType") or "WorkerFailed"),
        message=(
            f"the Worker failed {context.get('approximateInvokeCount', 'every')} "
            f"time(s) and Lambda gave up: {reason}"
        ),
        now=deps.clock(),
        ttl_days=settings.ttl_days,
    )
    if finish is runs.Finish.COMPLETED:
        return run_notifier({"run_id": run_id}, settings, deps)
    return {"run_id": run_id, "account_failed": account_id, "finish": finish.value}
