"""`lambdafan runs`: the fleet's recent runs, newest first, once or watched."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Group
from rich.live import Live
from rich.text import Text

from lambdafan import results, results_store, run_rows
from lambdafan.aws import describe_error
from lambdafan.cli.options import (
    DEFAULT_RUNS,
    ConfigOption,
    ProfileOption,
    RegionOption,
    TableOrJson,
    options,
)
from lambdafan.errors import EXIT_INTERRUPTED, UsageError
from lambdafan.render import run_history as show
from lambdafan.render.console import console, stopped, warning
from lambdafan.run_rows import RunRow

# A refresh is one Query of the runs index: every few seconds costs next to nothing.
WATCH_INTERVAL_S = 3.0

Fetch = Callable[[], list[RunRow]]


def runs_command(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="How many runs, newest first.")
    ] = DEFAULT_RUNS,
    output_format: Annotated[
        TableOrJson,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="table; json: one JSON array; jsonl: a JSON object per run (JSON Lines).",
        ),
    ] = TableOrJson.table,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Keep the history up to date until Ctrl-C: in a terminal, redrawn every "
            "--interval; piped, printed again when a run changes (jsonl: the changed runs).",
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(min=0.5, metavar="SECONDS", help="With --watch: seconds between reads."),
    ] = WATCH_INTERVAL_S,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List recent runs, newest first: age, duration, accounts done, records, errors, status,
    cost; under them, a sparkline of records per run.

    \b
    Examples:
      lambdafan runs
      lambdafan runs --watch                  # while a run goes; Ctrl-C to stop
      lambdafan runs --limit 3 --format json | jq -r '.[].run_id'
      lambdafan runs --format jsonl | jq -r 'select(.errors > 0) | .run_id'
    """
    if watch and output_format is TableOrJson.json:
        raise UsageError("--watch prints a table or jsonl: --format json is one document")
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    store = results_store.open_table(opts.aws(fleet), settings)

    def fetch() -> list[RunRow]:
        with results.missing_table(settings.table_name):
            return run_rows.recent_runs(store, limit)

    if not watch:
        _show(fetch(), output_format)
        return
    # A wrong config or a missing table fails at once; a blip later on (throttling, a dropped
    # connection) only delays the next refresh.
    watched = last_known_on_error(fetch, fetch(), warning)
    try:
        if output_format is TableOrJson.table and console.is_interactive:
            watch_live(watched, interval, time.sleep)
        else:
            watch_changes(watched, _emitter(output_format), interval, time.sleep)
    except KeyboardInterrupt:
        stopped("stopped")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _show(runs: Sequence[RunRow], output_format: TableOrJson) -> None:
    if output_format is TableOrJson.json:
        show.write_runs_json(runs)
    elif output_format is TableOrJson.jsonl:
        show.write_runs_jsonl(runs)
    else:
        show.print_runs(runs)


def last_known_on_error(fetch: Fetch, first: list[RunRow], warn: Callable[[str], None]) -> Fetch:
    """`fetch`, except that a read AWS fails returns the last runs read (`first` to begin
    with), warning once per streak of failures."""
    last, failing, served = first, False, False

    def read() -> list[RunRow]:
        nonlocal last, failing, served
        if not served:  # `first` is a read just made: show it before reading again
            served = True
            return last
        try:
            last = fetch()
        except (ClientError, BotoCoreError) as exc:
            if not failing:
                warn(f"could not read the runs ({describe_error(exc)}): trying again")
            failing = True
            return last
        failing = False
        return last

    return read


def watch_live(fetch: Fetch, interval: float, sleep: Callable[[float], None]) -> None:
    """Redraw the history in place every `interval` seconds (ages and a running run's duration
    move on even when nothing else does), until Ctrl-C."""
    with Live(console=console, auto_refresh=False) as live:
        while True:
            now = dt.datetime.now(dt.timezone.utc)
            view = show.runs_view(fetch(), now, console.width)
            footer = f"every {interval:g}s, last at {now:%H:%M:%S} UTC; Ctrl-C to stop"
            live.update(Group(view, Text(footer, style="dim")), refresh=True)
            sleep(interval)


def watch_changes(
    fetch: Fetch,
    emit: Callable[[list[RunRow], list[RunRow]], None],
    interval: float,
    sleep: Callable[[float], None],
) -> None:
    """Read the history every `interval` seconds and, each time it differs from the last read,
    `emit(runs, fresh)` (fresh: the runs new or changed since; all of them at first), until
    Ctrl-C. For output that is not a terminal: a file or pipe gets each state once."""
    last: list[RunRow] | None = None
    while True:
        runs = fetch()
        if runs != last:
            emit(runs, [run for run in runs if last is None or run not in last])
            last = runs
        sleep(interval)


def _emitter(output_format: TableOrJson) -> Callable[[list[RunRow], list[RunRow]], None]:
    """What --watch prints when the history changes: the table again, or the changed runs."""
    if output_format is TableOrJson.jsonl:
        return lambda runs, fresh: show.write_runs_jsonl(fresh)
    return lambda runs, fresh: show.print_runs(runs)
