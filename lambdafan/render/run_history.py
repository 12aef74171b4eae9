"""`lambdafan runs` for people and pipes: recent runs as a table, or one JSON object per run."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal

from rich import box
from rich.markup import escape
from rich.table import Table

from lambdafan.render.console import console
from lambdafan.render.records import write_jsonl
from lambdafan.results import RunRow


def print_runs(runs: Sequence[RunRow], now: dt.datetime | None = None) -> None:
    """Recent runs, newest first; `started` is shown as an age (the run id has the exact time)."""
    if not runs:
        console.print("no runs yet")
        return
    # Compact, so the columns fit 90 terminal columns; the run id is never cut (it is what
    # the user copies into --run).
    table = Table(
        title="runs (newest first)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("run id", min_width=23, no_wrap=True)
    table.add_column("started", justify="right", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("accounts", justify="right", no_wrap=True)
    table.add_column("records", justify="right", no_wrap=True)
    table.add_column("errors", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("told", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    for run in runs:
        failed = f" ({run.accounts_failed} failed)" if run.accounts_failed else ""
        table.add_row(
            run.run_id,
            _age(run.started_at, now or dt.datetime.now(dt.timezone.utc)),
            _duration(run.duration_seconds, run.status),
            f"{run.accounts_done}/{run.accounts_expected}{failed}",
            str(run.records),
            str(run.errors),
            _status(run.status, run.errors),
            _told(run.deliveries),
            format_usd(run.cost_usd),
        )
    console.print(table)


def format_usd(amount: Decimal | None) -> str:
    """A run's cost for a table: `$0.0042`, `$1.37`, `<$0.0001`; `-` when not known."""
    if amount is None:
        return "-"
    if 0 < amount < Decimal("0.0001"):
        return "<$0.0001"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def write_runs_json(runs: Sequence[RunRow]) -> int:
    """One run per line, as JSON."""
    return write_jsonl(sys.stdout, (run.as_dict() for run in runs))


def _age(iso: str, now: dt.datetime) -> str:
    try:
        seconds = (now - dt.datetime.fromisoformat(iso)).total_seconds()
    except (ValueError, TypeError):
        return iso  # not a timestamp we wrote: show it as it is
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{max(0, int(seconds))}s ago"


def _duration(seconds: float | None, status: str) -> str:
    if status == "running":
        return "running"
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


# Short enough for an 80-column table; `--format json` has the full status.
_STATUS = {
    "running": "[cyan]running[/]",
    "complete": "[green]complete[/]",
    "complete with failures": "[yellow]failures[/]",
    "incomplete": "[red]incomplete[/]",
    "overdue": "[red]overdue[/]",
    "interrupted": "[red]interrupted[/]",
    "failed to start": "[red]not started[/]",
}


def _status(status: str, errors: int) -> str:
    if status == "complete" and errors:  # written before "complete with failures" existed
        return "[yellow]complete[/]"
    return _STATUS.get(status, escape(status))


def _told(deliveries: Mapping[str, str]) -> str:
    """How many channels were sent the run's summary: `2/2`, red when one failed, `-` if none."""
    if not deliveries:
        return "-"
    sent = sum(1 for outcome in deliveries.values() if outcome == "sent")
    style = "green" if sent == len(deliveries) else "red"
    return f"[{style}]{sent}/{len(deliveries)}[/]"
