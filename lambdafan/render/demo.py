"""What `lambdafan demo` prints between its steps."""

from __future__ import annotations

import shlex
import statistics
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from lambdafan.log_events import InvocationReport
from lambdafan.render.console import console


def step(message: str) -> None:
    """A demo step: a bold arrow and one line."""
    console.print(f"\n[bold cyan]▶[/] [bold]{message}[/]")


@dataclass(frozen=True)
class FunctionReports:
    """A function's invocations, as its REPORT log lines tell them."""

    function: str
    reports: tuple[InvocationReport, ...]
    not_allowed: tuple[str, ...] = ()  # calls its role's policies do not allow


def invocations_table(functions: list[FunctionReports]) -> Table:
    """One row per function: invocations, failures, duration and peak memory against its size."""
    grid = Table(title="What each function used (its REPORT log lines)", title_justify="left")
    for header in ("function", "invocations", "failed", "duration median / max"):
        grid.add_column(header, justify="left" if header == "function" else "right")
    grid.add_column("peak memory / size", justify="right")
    for entry in functions:
        reports = entry.reports
        if not reports:
            grid.add_row(entry.function, "0", "-", "-", "-")
            continue
        durations = [r.duration_ms / 1000 for r in reports]
        peak = max(r.max_memory_used_mb for r in reports)
        grid.add_row(
            entry.function,
            str(len(reports)),
            str(sum(1 for r in reports if r.status is not None)),
            f"{statistics.median(durations):.1f} s / {max(durations):.1f} s",
            f"{peak} / {reports[0].memory_size_mb} MB",
        )
    return grid


def print_invocations(functions: list[FunctionReports]) -> None:
    """The table, then any call a function made that its role does not allow (else that none)."""
    console.print()
    console.print(invocations_table(functions))
    problems = [line for entry in functions for line in entry.not_allowed]
    if not problems:
        console.print("Every AWS call each function made is allowed by its role's policies.")
    for line in problems:
        console.print(f"[yellow]role check:[/] {line}", soft_wrap=True, highlight=False)


def print_kept_demo(endpoint: str, pid: int, config: Path) -> None:
    """How to keep exploring a demo left running with --keep."""
    console.print(
        "\n[bold]The fake AWS and its Lambda runtime are still running.[/] Explore them with:",
        soft_wrap=True,
    )
    lines = [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=demo "
        "AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1",
        f"export LAMBDAFAN_CONFIG={config}",
        "lambdafan run --now                   # another run, through the deployed functions",
        "lambdafan results                     # what the latest run found",
        "lambdafan runs                        # recent runs",
        "lambdafan status                      # the deployed resources",
        "lambdafan logs worker --since 1h      # the Workers' logs, REPORT lines included",
        f"kill {pid}    # stop the fake AWS and its runtime",
        f"rm -r {shlex.quote(str(config.parent))}    # then remove the demo's config folder",
    ]
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
