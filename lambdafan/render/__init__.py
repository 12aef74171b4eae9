"""Everything lambdafan prints: rich tables and panels for people, JSON Lines for pipes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from lambda_src.notifier import RunSummary, format_summary
from lambda_src.scripts import Script
from lambda_src.settings import FleetSettings
from lambda_src.worker import WorkerResult
from lambdafan.deploy.plan import Change, FieldChange

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ORIGIN_COLUMNS = ("account_name", "account_id", "region", "script")
MAX_RECORD_COLUMNS = 8
MAX_CELL = 40
# Widest the account, account id and region columns get, with their borders.
ORIGIN_WIDTH = 16 + 12 + 14 + 3 * 3 + 1


def error(message: str) -> None:
    """One red line on stderr. Messages quote user data, so they are never read as markup."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err_console.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def records_tables(
    rows: Iterable[Mapping[str, Any]], limit: int, totals: Mapping[str, int] | None = None
) -> Iterator[Table]:
    """One table per script (scripts have different fields), at most `limit` rows each.

    With `totals` (records per script, known in advance) reading stops as soon as every
    script's table is full, so a big run is not read to the end just to count it.
    """
    by_script: dict[str, list[Mapping[str, Any]]] = {}
    counted: dict[str, int] = {}
    wanted = None if totals is None else {s: min(n, limit) for s, n in totals.items() if n}
    for row in rows:
        script = str(row["script"])
        counted[script] = counted.get(script, 0) + 1
        kept = by_script.setdefault(script, [])
        if len(kept) < limit:
            kept.append(row)
        if wanted is not None and all(len(by_script.get(s, ())) >= n for s, n in wanted.items()):
            break
    totals = {**counted, **(totals or {})}
    for script, kept in by_script.items():
        fields = _record_fields(kept, _fields_that_fit(console.width))
        # rich never shrinks no_wrap columns, so give each record column its share of the width.
        share = (console.width - ORIGIN_WIDTH - 3 * len(fields)) // max(len(fields), 1)
        table = Table(title=f"{script} ({totals[script]} records)", title_justify="left")
        table.add_column("account", overflow="ellipsis", min_width=8, max_width=16, no_wrap=True)
        table.add_column("account id", min_width=12, no_wrap=True)
        table.add_column("region", min_width=9, max_width=14, no_wrap=True)
        for name in fields:
            table.add_column(
                Text(name),
                overflow="ellipsis",
                min_width=6,
                max_width=max(6, min(MAX_CELL, share)),
                no_wrap=True,
            )
        for row in kept:
            table.add_row(
                Text(str(row["account_name"])),
                str(row["account_id"]),
                Text(str(row["region"])),
                *(_cell(row.get(name)) for name in fields),
            )
        if totals[script] > len(kept):
            table.caption = f"… {totals[script] - len(kept)} more rows not shown"
        yield table


def _fields_that_fit(width: int) -> int:
    """How many record columns fit beside account, id and region, about 12 characters each."""
    return max(2, min(MAX_RECORD_COLUMNS, (width - ORIGIN_WIDTH) // 15))


def _record_fields(rows: Iterable[Mapping[str, Any]], most: int) -> list[str]:
    fields: dict[str, None] = {}
    for row in rows:
        for name in row:
            if name not in ORIGIN_COLUMNS:
                fields.setdefault(name)
    return list(fields)[:most]


def _cell(value: Any) -> Text:
    """A record value as plain text: what scripts return is data, never rich markup."""
    if value is None:
        return Text("")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Text(text if len(text) <= MAX_CELL * 3 else text[: MAX_CELL * 3] + "…")


def print_records(
    rows: Iterable[Mapping[str, Any]], limit: int, totals: Mapping[str, int] | None = None
) -> int:
    """Print the tables (or say there is nothing); returns how many tables there were."""
    count = 0
    for table in records_tables(rows, limit, totals):
        console.print(table)
        count += 1
    if not count:
        console.print("no records found")
    return count


def print_summary(summary: RunSummary) -> None:
    style = "green" if summary.ok else "red"
    console.print(Text(format_summary(summary), style=style))


def write_jsonl(target: Path | IO[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as JSON Lines; returns how many."""
    written = 0
    handle = target.open("w", encoding="utf-8") if isinstance(target, Path) else target
    try:
        for row in rows:
            handle.write(json.dumps(row, default=str, sort_keys=False) + "\n")
            written += 1
    finally:
        if isinstance(target, Path):
            handle.close()
    return written


class RunProgress:
    """A live bar of accounts done / expected with record and error counts (a RunObserver)."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("accounts  {task.fields[records]} records  {task.fields[errors]} errors"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        self._task = self._progress.add_task("run", total=None, records=0, errors=0, start=False)
        self._records = 0
        self._errors = 0

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, run_id: str, accounts_expected: int) -> None:
        self._progress.update(self._task, description=run_id, total=accounts_expected)
        self._progress.start_task(self._task)

    def show(self, run: Mapping[str, Any]) -> None:
        """Draw the counters of a polled run item (the deployed fleet's progress)."""
        self._progress.update(
            self._task,
            total=int(run.get("accounts_expected", 0)) or None,
            completed=int(run.get("accounts_done", 0)),
            records=int(run.get("records", 0)),
            errors=int(run.get("errors", 0)),
        )

    def account_done(self, result: WorkerResult) -> None:
        self._records += result.records
        self._errors += len(result.errors)
        self._progress.update(self._task, advance=1, records=self._records, errors=self._errors)


_ACTION_STYLE = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "delete": ("-", "red"),
    "unchanged": ("=", "dim"),
}


def plan_table(changes: Sequence[Change]) -> Table:
    """The plan, one row per resource: what happens to it and, for updates, which fields."""
    table = Table(title="Plan", title_justify="left", show_edge=False, box=None, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("resource", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("change", overflow="fold")
    for change in changes:
        mark, style = _ACTION_STYLE[change.action]
        detail: str = change.action
        if change.fields:
            detail = ", ".join(_describe_field(f) for f in change.fields)
        table.add_row(f"[{style}]{mark}[/]", change.kind, change.name, f"[{style}]{detail}[/]")
    return table


def _describe_field(field: FieldChange) -> str:
    if field.field in ("memory", "timeout", "retention_days", "expression", "runtime", "handler"):
        return f"{field.field} {field.current} → {field.desired}"
    return field.field


def print_plan(changes: Sequence[Change]) -> None:
    console.print(plan_table(changes))
    counts = {action: sum(1 for c in changes if c.action == action) for action in _ACTION_STYLE}
    if counts["create"] + counts["update"] + counts["delete"] == 0:
        console.print("No changes: the fleet is up to date.")
    else:
        console.print(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete, {counts['unchanged']} unchanged."
        )


class StepProgress:
    """A progress bar over a known number of steps (deploy's changes, destroy's resources)."""

    def __init__(self, description: str, total: int) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[current]}"),
            console=err_console,
        )
        self._task = self._progress.add_task(description, total=total, current="")

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, label: str) -> None:
        self._progress.update(self._task, advance=1, current=label)


def print_destroyed(steps: Sequence[tuple[str, str, bool]], kept_table: str | None) -> None:
    table = Table(show_edge=False, box=None, pad_edge=False, show_header=False)
    for kind, name, deleted in steps:
        table.add_row(kind, name, "[red]deleted[/]" if deleted else "[dim]already gone[/]")
    console.print(table)
    if kept_table:
        console.print(f"kept the results table {kept_table} (use --delete-data to delete it)")


def print_validation(
    settings: FleetSettings, scripts: Sequence[Script], schedule: str | None, bundle_size: int
) -> None:
    """What `validate` checked, in a few lines."""
    accounts = f"{len(settings.accounts)} listed"
    if settings.organization:
        ous = ", ".join(settings.organization_ous) or "the whole organization"
        accounts += f" + Organizations ({ous})"
    regions = "all enabled" if settings.regions is None else ", ".join(settings.regions)
    console.print(f"[green]ok[/]: fleet {settings.fleet} in {settings.home_region}")
    console.print(f"  accounts: {accounts}; excluded: {len(settings.exclude_accounts)}")
    console.print(f"  regions: {regions}")
    console.print(f"  schedule: {schedule or 'none'}")
    for script in scripts:
        console.print(Text(f"  script {script.name} ({script.scope}): {script.path}"))
    console.print(f"  Worker bundle: {bundle_size:,} bytes")


def step(message: str) -> None:
    """A demo step: a bold arrow and one line."""
    console.print(f"\n[bold cyan]▶[/] [bold]{message}[/]", soft_wrap=True)


def print_notification(text: str) -> None:
    """The Notifier's summary, as it would be posted."""
    console.print("\n[bold]Notifier summary[/] (what Slack, email or SNS would receive):")
    console.print(text, markup=False, highlight=False)


def print_kept_demo(endpoint: str, pid: int, config: Path) -> None:
    """How to keep exploring a demo left running with --keep."""
    console.print("\n[bold]The fake AWS is still running.[/] Explore it with:", soft_wrap=True)
    lines = [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=demo "
        "AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1",
        f"lambdafan -c {config} results",
        f"lambdafan -c {config} runs",
        f"lambdafan -c {config} status",
        f"lambdafan -c {config} run --now --local",
        f"kill {pid}    # stop the fake AWS",
    ]
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
