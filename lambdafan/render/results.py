"""How `lambdafan results` and `lambdafan runs` print: rich tables for people, JSON Lines and CSV
for pipes (written straight to stdout, unstyled, so `jq` and spreadsheets read them as is)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lambdafan.render.console import console
from lambdafan.render.records import ORIGIN_COLUMNS, write_jsonl
from lambdafan.results import RunRow

# The CSV header starts with where a record came from, in this order, then the record's fields.
CSV_ORIGIN = ("account_id", "account_name", "region", "script")
MAX_MESSAGE = 100  # error messages are cut in tables only; JSON and CSV keep them whole


def print_error_table(rows: Iterable[Mapping[str, Any]], limit: int, run_id: str) -> int:
    """The errors of a run, at most `limit` rows; returns how many errors there were."""
    # The message is what the user needs to read: the other columns are kept narrow (the account
    # name above its id, no borders) so it keeps some room on an 80-column terminal.
    table = Table(
        title=f"errors of run {run_id}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("account", overflow="ellipsis", max_width=16, no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("script", overflow="ellipsis", max_width=24, no_wrap=True)
    table.add_column("error", overflow="ellipsis", max_width=24, no_wrap=True)
    table.add_column("message", overflow="fold")
    total = 0
    for row in rows:
        total += 1
        if total <= limit:
            table.add_row(
                Text(f"{row['account_name']}\n{row['account_id']}"),
                Text(str(row["region"])),
                Text(str(row["script"])),
                Text(str(row["error_type"])),
                Text(_truncate(str(row["message"]), MAX_MESSAGE)),
            )
    if not total:
        console.print(f"no errors in run {run_id}")
        return 0
    table.title = f"errors of run {run_id} ({total})"
    if total > limit:
        table.caption = f"… {total - limit} more rows not shown"
    console.print(table)
    return total


def _truncate(text: str, most: int) -> str:
    line = " ".join(text.split())  # tracebacks span lines; a table cell should not
    return line if len(line) <= most else line[: most - 1] + "…"


def write_csv(rows: Iterable[Mapping[str, Any]], origin: Sequence[str] = CSV_ORIGIN) -> int:
    """CSV with a header row: `origin` columns, then every other field of the rows, in the order
    first seen. The header must come first, so the rows are held until the last one is read."""
    kept = list(rows)
    fields: dict[str, None] = dict.fromkeys(origin)
    for row in kept:
        for name in row:
            fields.setdefault(name)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for row in kept:
        writer.writerow([_csv_cell(row.get(name)) for name in fields])
    return len(kept)


def _csv_cell(value: Any) -> str:
    # Text as is; numbers, booleans and nested values as JSON, so a cell reads back unambiguously.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def print_follow_rows(rows: Iterable[Mapping[str, Any]], *, errors: bool) -> int:
    """`--follow` in table format: one line per record as it arrives (a table cannot grow)."""
    count = 0
    for row in rows:
        where = f"{row['account_name']} ({row['account_id']}) {row['region']} {row['script']}"
        if errors:
            what = f"{row['error_type']}: {_truncate(str(row['message']), MAX_MESSAGE)}"
        else:
            fields = {k: v for k, v in row.items() if k not in ORIGIN_COLUMNS}
            what = json.dumps(fields, default=str)
        console.print(f"{where}  {what}", markup=False, soft_wrap=True)
        count += 1
    return count


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
