"""`lambdafan runs` for people and pipes: a compact history of recent runs with a sparkline of
their records, or the runs as one JSON array or as JSON Lines."""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import IO

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lambdafan.render.console import console
from lambdafan.render.records import write_json_array, write_jsonl
from lambdafan.run_rows import RunRow

# Eight heights, lowest first: a sparkline's cells.
BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_LABEL = "records per run, oldest → newest: "
# Past this, a table's count is shortened (`1.23M`), so that its column stays narrow.
EXACT_BELOW = 1_000_000


def sparkline(values: Sequence[int]) -> str:
    """One block per value, in order, as tall as the value is of the largest (in eighths,
    rounded: the largest is █, half of it ▄); 0 is ▁ and any other value at least ▂ (a run
    that found little is not drawn as one that found nothing). All zero, all ▁."""
    top = max(values, default=0)
    return "".join(_block(value, top) for value in values)


def _block(value: int, top: int) -> str:
    if value <= 0 or top <= 0:
        return BLOCKS[0]
    eighths = math.floor(value * len(BLOCKS) / top + 0.5)
    return BLOCKS[min(len(BLOCKS) - 1, max(1, eighths - 1))]


def print_runs(runs: Sequence[RunRow], now: dt.datetime | None = None) -> None:
    """Recent runs, newest first, and their records as a sparkline."""
    console.print(runs_view(runs, now or dt.datetime.now(dt.timezone.utc), console.width))


def runs_view(runs: Sequence[RunRow], now: dt.datetime, width: int) -> RenderableType:
    """The table of `runs` (newest first), then what its columns leave out (failed accounts,
    notifications not sent), then the sparkline for a terminal `width` wide. Every column fits
    80 terminal columns (fleets of up to 999 accounts); the run id, what --run takes, is never
    cut."""
    if not runs:
        return Text("no runs yet")
    table = Table(
        title=f"runs, newest first ({len(runs)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=0,
    )
    table.add_column("run id", no_wrap=True, min_width=23)
    table.add_column("age", justify="right", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("accounts", justify="right", no_wrap=True)
    table.add_column("records", justify="right", no_wrap=True)
    table.add_column("errors", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    for run in runs:
        table.add_row(
            run.run_id,
            _age(run.started_at, now),
            _took(run, now),
            _accounts(run),
            count(run.records),
            _errors(run.errors),
            _status(run.status, run.errors),
            format_usd(run.cost_usd),
        )
    notes = [Text(line, style="yellow") for line in problems(runs)]
    return Group(table, *notes, Text(spark_caption(runs, width)))


def spark_caption(runs: Sequence[RunRow], width: int) -> str:
    """The line under the table: records per run, oldest first, as many of the newest as fit
    in `width`, and the largest (what █ stands for)."""
    fit = max(1, width - len(SPARK_LABEL) - len(" (max 9,999,999)"))
    counts = [run.records for run in reversed(runs[:fit])]
    return f"{SPARK_LABEL}{sparkline(counts)} (max {max(counts):,})"


def problems(runs: Iterable[RunRow]) -> list[str]:
    """A line per run whose table row hides a failure: accounts that failed (the Worker gave up
    on them), notification channels that were not told."""
    lines = []
    for run in runs:
        found = []
        if run.accounts_failed:
            found.append(f"{run.accounts_failed} account(s) failed")
        found += [
            f"{channel} not told ({outcome})"
            for channel, outcome in sorted(run.deliveries.items())
            if outcome != "sent"
        ]
        if found:
            lines.append(f"{run.run_id}: {'; '.join(found)}")
    return lines


def format_usd(amount: Decimal | None) -> str:
    """A run's cost for a table: `$0.0042`, `$1.37`, `<$0.0001`; `-` when not known."""
    if amount is None:
        return "-"
    if 0 < amount < Decimal("0.0001"):
        return "<$0.0001"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def write_runs_json(runs: Sequence[RunRow], handle: IO[str] | None = None) -> None:
    """The runs as one JSON array (the AWS CLI's `--output json`), a run a line."""
    write_json_array(handle or sys.stdout, (run.as_dict() for run in runs))


def write_runs_jsonl(runs: Iterable[RunRow], handle: IO[str] | None = None) -> None:
    """One run per line, as JSON (JSON Lines)."""
    out = handle or sys.stdout
    write_jsonl(out, (run.as_dict() for run in runs))
    out.flush()  # --watch streams them: a reader sees each change at once


def _age(iso: str, now: dt.datetime) -> str:
    """How long ago the run started, in its largest unit: `42s`, `5m`, `3h`, `12d`, `2y`."""
    seconds = _since(iso, now)
    if seconds is None:
        return "?"  # not a timestamp we wrote; --format json has it as it is
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def _took(run: RunRow, now: dt.datetime) -> str:
    """How long the run took; a running one, how long it has been going."""
    seconds = run.duration_seconds
    if run.status == "running":
        seconds = _since(run.started_at, now)
    if seconds is None:
        return "-"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _since(iso: str, now: dt.datetime) -> float | None:
    try:
        return (now - dt.datetime.fromisoformat(iso)).total_seconds()
    except (ValueError, TypeError):
        return None


def _accounts(run: RunRow) -> str:
    text = f"{run.accounts_done}/{run.accounts_expected}"
    return f"[yellow]{text}[/]" if run.accounts_failed else text


def _errors(errors: int) -> str:
    return f"[red]{count(errors)}[/]" if errors else "0"


def count(value: int) -> str:
    """A count for a narrow column: exact (`123,456`) below a million, then `1.23M`."""
    if value < EXACT_BELOW:
        return f"{value:,}"
    # Three significant digits, as rounded: 9,999,999 is `10.0M`, 999,999,999 `1.00B`.
    text = ""
    for unit, size in (("M", 10**6), ("B", 10**9)):
        for digits in (2, 1, 0):
            text = f"{value / size:.{digits}f}"
            if len(text.replace(".", "")) <= 3:
                return f"{text}{unit}"
    return f"{text}B"


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
