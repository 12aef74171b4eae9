"""The Notifier: reads a finished run back from the table and turns it into a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from lambda_src import table
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


def run_notifier(
    event: Mapping[str, Any], settings: FleetSettings, store: ItemStore
) -> dict[str, Any]:
    """Handle `{run_id}`: summarize the run. Delivery to Slack/email/SNS is configured per fleet."""
    summary = summarize(store, str(event["run_id"]))
    return {"summary": summary.as_dict(), "text": format_summary(summary)}
