"""A finished run, read back from the table and summarized: what every message and command
says about it (accounts done and failed, records per script, the first errors), and its
CloudWatch metrics. Queries on the run's partition only.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lambda_src import status, table
from lambda_src.table import ItemStore

MAX_ERRORS_SHOWN = 10
PRINTED_ONLY_TITLE = (
    "printed output and yielded no records in the whole run (yield dicts instead of printing)"
)


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
    # Pairs that printed and yielded nothing, "name (id) script region": a collect that prints
    # its findings instead of yielding them reports 0 records, not an error.
    printed_only: list[str] = field(default_factory=list)
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
    printed: list[tuple[str, str]] = []  # (script, "name (id) script region")
    for account in table.account_items(store, run_id):
        done += 1
        name, account_id = account.get("account_name"), account["account_id"]
        who = f"{name} ({account_id})" if name and name != account_id else str(account_id)
        for pair in account.get(table.PRINTED_ONLY) or ():
            printed.append((str(pair).split(" ", 1)[0], f"{who} {pair}"))
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
        # A script that prints progress and finds nothing in some regions is fine: only one that
        # yielded nothing anywhere in the run while printing is called out.
        printed_only=[pair for script, pair in printed if not by_script.get(script)],
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
    if summary.printed_only:
        lines.append(f"{PRINTED_ONLY_TITLE}:")
        lines += [f"  {pair}" for pair in summary.printed_only[:max_errors]]
        if len(summary.printed_only) > max_errors:
            lines.append(f"  … and {len(summary.printed_only) - max_errors} more")
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
