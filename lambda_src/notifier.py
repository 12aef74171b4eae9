"""The Notifier: reads a finished run back from the table, turns it into a summary, sends it.

It reports each run once (a retried Notifier finds the run claimed), stores every channel's
outcome on the run item, and is the on-failure destination of the Worker and the Director, so
neither can fail without the run saying so.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lambda_src import names, runs, status, table
from lambda_src.delivery import SUBJECT_LIMIT, Channels, Delivery, deliver
from lambda_src.metrics import put_metrics
from lambda_src.settings import FleetSettings
from lambda_src.table import ItemStore

MAX_ERRORS_SHOWN = 10
log = logging.getLogger(__name__)


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
    silent_accounts: list[str] = field(default_factory=list)  # never reported (incomplete)
    error: str | None = None  # why the run failed to start
    deliveries: dict[str, str] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(self.records_by_script.values())

    @property
    def ok(self) -> bool:
        return self.status == status.COMPLETE and not self.errors

    @property
    def verdict(self) -> str:
        """One word or phrase for the run's outcome, as messages and tables show it."""
        if self.status == status.RUNNING:
            return "running"
        if self.status == status.FAILED_TO_START:
            return "FAILED TO START"
        if self.status == status.INCOMPLETE:
            return f"INCOMPLETE ({len(self.silent_accounts)} account(s) never reported)"
        if self.status == status.INTERRUPTED:
            return "INTERRUPTED"
        return "OK" if self.ok else f"{len(self.errors)} error(s)"

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
    counted: dict[str, str] = {}
    for account in table.account_items(store, run_id):
        done += 1
        failed += bool(account.get("failed"))
        counted[str(account["account_id"])] = str(account.get("attempt", ""))
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
        for e in table.run_errors(store, run_id, counted=counted, consistent=True)
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
        silent_accounts=list(run.get("silent_accounts") or ()),
        error=run.get("error"),
        deliveries=dict(run.get("deliveries") or {}),
    )


def format_summary(summary: RunSummary, max_errors: int = MAX_ERRORS_SHOWN) -> str:
    """Plain text for Slack, email or SNS."""
    lines = [
        f"lambdafan run {summary.run_id}: {summary.verdict}",
        *([f"why: {summary.error}"] if summary.error else []),
        *(
            [f"never reported: {', '.join(summary.silent_accounts)}"]
            if summary.silent_accounts
            else []
        ),
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
    return f"lambdafan {fleet}: run {summary.run_id} {summary.verdict}, {summary.records} records"


def run_metrics(
    summary: RunSummary, fleet: str, now: dt.datetime, delivery_failures: int = 0
) -> list[dict[str, Any]]:
    """The run's CloudWatch metrics (pure): records, errors, failed accounts, channels that
    could not be told, duration."""
    values: dict[str, tuple[float, str]] = {
        "RunRecords": (summary.records, "Count"),
        "RunErrors": (len(summary.errors), "Count"),
        "RunAccountsFailed": (summary.accounts_failed, "Count"),
        "DeliveryFailures": (delivery_failures, "Count"),
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
    """Handle `{run_id}`: summarize the run once, send it to the configured channels, store
    each channel's outcome on the run item, put metrics.

    Also handles `{notice}` (a message to send as is, e.g. a skipped scheduled run) and Lambda's
    on-failure records: of a Worker whose retries are exhausted (that account is recorded as
    failed; if it was the last one, the run is reported as usual) and of a Director that could
    not start its run (the run is recorded as `failed to start` and reported). A malformed event
    is rejected and logged.
    """
    # Only reading the event is guarded: an error while reporting must fail the invocation, so
    # that Lambda retries it and, in the end, sends it to the dead-letter queue.
    try:
        kind, run_id = _read_event(event)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("rejected a Notifier event: %s", exc)
        return {"rejected": str(exc)}
    if kind == "worker gave up":
        return _worker_gave_up(event, settings, deps)
    if kind == "director gave up":
        return _director_gave_up(event, settings, deps)
    if kind == "notice":
        return _send_notice(str(event["notice"]), settings, deps)
    return _report(run_id, settings, deps)


def _read_event(event: Mapping[str, Any]) -> tuple[str, str]:
    """What kind of event this is, and its run id, checked ("" when it has none yet)."""
    if "requestPayload" in event and "requestContext" in event:
        payload = event.get("requestPayload") or {}
        if "account" in payload:
            names.account_part(str(payload["account"]["id"]))
            return "worker gave up", names.run_id_part(str(payload["run_id"]))
        if payload.get("run_id"):
            return "director gave up", names.run_id_part(str(payload["run_id"]))
        return "director gave up", ""
    if "notice" in event:
        return "notice", ""
    return "run", names.run_id_part(str(event["run_id"]))


def _report(run_id: str, settings: FleetSettings, deps: NotifierDeps) -> dict[str, Any]:
    if not _claim(deps.store, run_id, deps.clock()):
        # A retried or duplicate Notifier: the run was reported already.
        return {"run_id": run_id, "duplicate": True}
    try:
        summary = summarize(deps.store, run_id)
    except Exception:
        # Nothing was sent: give the claim back, so Lambda's retry of this failure notifies.
        _release(deps.store, run_id)
        raise
    text = format_summary(summary)
    delivered: list[Delivery] = []
    if deps.channels is not None:
        delivered = deliver(
            subject_line(summary, settings.fleet), text, settings.notify, deps.channels
        )
        outcomes = {d.channel: "sent" if d.ok else f"failed: {d.detail}" for d in delivered}
        _record_deliveries(deps.store, run_id, outcomes)
    if deps.cloudwatch is not None:
        failures = sum(1 for d in delivered if not d.ok)
        put_metrics(deps.cloudwatch, run_metrics(summary, settings.fleet, deps.clock(), failures))
    return {
        "summary": summary.as_dict(),
        "text": text,
        "delivered": [asdict(d) for d in delivered],
    }


def _send_notice(notice: str, settings: FleetSettings, deps: NotifierDeps) -> dict[str, Any]:
    delivered: list[Delivery] = []
    if deps.channels is not None:
        subject = f"lambdafan {settings.fleet}: {notice}"[:SUBJECT_LIMIT]
        delivered = deliver(subject, notice, settings.notify, deps.channels)
    return {"text": notice, "delivered": [asdict(d) for d in delivered]}


def _worker_gave_up(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    payload = event["requestPayload"]
    context = event.get("requestContext") or {}
    response = event.get("responsePayload") or {}
    run_id = names.run_id_part(str(payload["run_id"]))
    account_id = names.account_part(str(payload["account"]["id"]))
    account_name = str(payload["account"]["name"])
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
        attempt=runs.GAVE_UP_ATTEMPT,
        now=deps.clock(),
        ttl_days=settings.ttl_days,
    )
    if finish.notify:
        return _report(run_id, settings, deps)
    return {"run_id": run_id, "account_failed": account_id, "finish": finish.value}


def _director_gave_up(
    event: Mapping[str, Any], settings: FleetSettings, deps: NotifierDeps
) -> dict[str, Any]:
    """The Director failed every attempt: its run (the one it was given, or the scheduled
    event's) is recorded as `failed to start` and reported; if there is no table to record it
    in, the channels are still told."""
    payload = event.get("requestPayload") or {}
    response = event.get("responsePayload") or {}
    context = event.get("requestContext") or {}
    now = deps.clock()
    run_id = names.run_id_part(
        str(payload.get("run_id") or runs.scheduled_run_id(payload) or runs.new_run_id(now))
    )
    reason = str(response.get("errorMessage") or context.get("condition") or "unknown error")
    message = f"{response.get('errorType') or 'DirectorFailed'}: {reason}"
    trigger = "schedule" if payload.get("source") == "aws.events" else "manual"
    try:
        recorded = fail_to_start(
            deps.store,
            run_id,
            message=message,
            trigger=trigger,
            now=now,
            ttl_days=settings.ttl_days,
        )
    except Exception as exc:  # e.g. the results table is gone: the channels must still hear
        log.error("could not record run %s as failed to start: %s", run_id, exc)
        return _send_notice(f"run {run_id} failed to start: {message}", settings, deps)
    if not recorded:
        return {"run_id": run_id, "failed_to_start": False}
    return _report(run_id, settings, deps)


def _claim(store: ItemStore, run_id: str, now: dt.datetime) -> bool:
    """True for the one caller that gets to notify about a run (a duplicate Notifier doesn't)."""
    return store.update_if(
        names.run_pk(run_id),
        names.RUN_SK,
        {"notified_at": runs.iso(now)},
        when=("notified_at", None),
    )


def _release(store: ItemStore, run_id: str) -> None:
    """Give a claim back after failing before anything was sent, so Lambda's retry notifies."""
    store.update_if(
        names.run_pk(run_id), names.RUN_SK, {"notified_at": None}, when=("run_id", run_id)
    )


def _record_deliveries(store: ItemStore, run_id: str, outcomes: Mapping[str, str]) -> None:
    """Store each channel's outcome on the run item (`sent`, or why it failed)."""
    store.update_if(
        names.run_pk(run_id), names.RUN_SK, {"deliveries": dict(outcomes)}, when=("run_id", run_id)
    )


def fail_to_start(
    store: ItemStore, run_id: str, *, message: str, trigger: str, now: dt.datetime, ttl_days: int
) -> bool:
    """Record that the Director could not start a run (with why); False if the run had got
    further than that (it is running with Workers, or ended)."""
    item = table.run_item(
        run_id,
        started_at=runs.iso(now),
        accounts_expected=0,
        scripts=(),
        trigger=trigger,
        expires_at=runs.expiry(now, ttl_days),
        deadline_at=runs.iso(now),
    )
    item.update(status=status.FAILED_TO_START, finished_at=runs.iso(now), error=message[:2000])
    if store.put_new(item):
        return True
    # The run item exists: only a run that never got a single account done can fail to start.
    run = table.get_run(store, run_id)
    if run is None or run.get("status") != status.RUNNING or int(run.get("accounts_done", 0)):
        return False
    values = {
        "status": status.FAILED_TO_START,
        "finished_at": runs.iso(now),
        "error": message[:2000],
    }
    return store.update_if(
        names.run_pk(run_id), names.RUN_SK, values, when=("status", status.RUNNING)
    )
