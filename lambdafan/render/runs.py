"""A run as it goes (a live progress bar) and when it is over (the summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from lambda_src.run_summary import RunSummary, format_summary
from lambda_src.worker import WorkerResult
from lambdafan.render.console import console, err_console


def print_summary(summary: RunSummary) -> None:
    style = "green" if summary.ok else "red"
    console.print(Text(format_summary(summary), style=style))


def print_notification(text: str, via: str | None = None) -> None:
    """The Notifier's summary: as it was sent `via` a channel, or as it would be posted."""
    if via:
        console.print(f"\n[bold]Notifier summary[/] (what it sent to {via}):")
    else:
        console.print("\n[bold]Notifier summary[/] (what Slack, email or SNS would receive):")
    console.print(text, markup=False, highlight=False)


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

    def script_output(self, line: str) -> None:
        """A line a script printed, drawn above the bar (not over it)."""
        self._progress.console.print(
            Text(line, style="dim"), soft_wrap=True, highlight=False, markup=False
        )

    def interrupted(self) -> None:
        """Ctrl-C: the bar says that the run is stopping."""
        self._progress.update(self._task, description="stopping")

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
