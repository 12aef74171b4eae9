"""The runs index read back as the rows of `lambdafan runs` and the costs `lambdafan cost` averages:
Queries of the sparse `runs` index, newest first, never a Scan."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lambda_src import runs, status, table
from lambda_src.run_cost import cost_of_run
from lambda_src.run_report import RunCost
from lambda_src.table import Item, ItemStore


@dataclass(frozen=True)
class RunRow:
    """One line of `lambdafan runs`."""

    run_id: str
    status: str
    trigger: str
    started_at: str
    finished_at: str | None
    duration_seconds: float | None
    accounts_expected: int
    accounts_done: int
    accounts_failed: int
    records: int
    errors: int
    # Each notification channel's outcome: "sent", or "failed: why".
    deliveries: dict[str, str] = field(default_factory=dict)
    # At list prices, from the usage its invocations reported; None: none did (a local run).
    cost_usd: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row for JSON output: stored fields as they are, plus the duration."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "trigger": self.trigger,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "accounts_expected": self.accounts_expected,
            "accounts_done": self.accounts_done,
            "accounts_failed": self.accounts_failed,
            "records": self.records,
            "errors": self.errors,
            "deliveries": self.deliveries,
            "cost_usd": None if self.cost_usd is None else float(self.cost_usd),
        }


def recent_runs(store: ItemStore, limit: int, region: str | None = None) -> list[RunRow]:
    """The newest `limit` runs from the `runs` index (one Query page for small limits), their
    costs at `region`'s prices (default: each run's home region)."""
    return [run_row(item, region) for item in itertools.islice(store.query_runs(), limit)]


def run_row(item: Item, region: str | None = None) -> RunRow:
    """A run item as a `runs` row; the duration only once the run has finished."""
    run = table.plain(item)
    cost = cost_of_run(item, region)
    started = str(run.get("started_at", ""))
    finished = run.get("finished_at")
    duration = None
    if status.is_finished(run.get("status")) and finished:
        duration = _seconds_between(started, str(finished))
    # Past its deadline but not closed yet (that happens at the next Director run): it is over.
    shown = "overdue" if runs.is_overdue(run, runs.utcnow()) else str(run.get("status", ""))
    return RunRow(
        run_id=str(run["run_id"]),
        status=shown,
        trigger=str(run.get("trigger", "")),
        started_at=started,
        finished_at=None if finished is None else str(finished),
        duration_seconds=duration,
        accounts_expected=int(run.get("accounts_expected", 0)),
        accounts_done=int(run.get("accounts_done", 0)),
        accounts_failed=int(run.get("accounts_failed", 0)),
        records=int(run.get("records", 0)),
        errors=int(run.get("errors", 0)),
        deliveries={str(k): str(v) for k, v in (run.get("deliveries") or {}).items()},
        cost_usd=None if cost is None else cost.total_usd,
    )


def recent_costs(
    store: ItemStore, limit: int, region: str | None = None, *, look_at: int = 100
) -> list[tuple[str, RunCost]]:
    """(run id, cost) of the newest `limit` complete full runs (with or without failures) whose
    invocations reported usage, among the newest `look_at` runs. A run started for some
    accounts or scripts only is no measure of the schedule's runs."""
    found: list[tuple[str, RunCost]] = []
    for item in itertools.islice(store.query_runs(), look_at):
        if item.get("status") not in (status.COMPLETE, status.COMPLETE_WITH_FAILURES):
            continue
        if item.get("partial"):
            continue
        cost = cost_of_run(item, region)
        if cost is not None:
            found.append((str(item["run_id"]), cost))
            if len(found) >= limit:
                break
    return found


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None  # written by something else: show no duration rather than fail
