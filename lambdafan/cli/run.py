"""`lambdafan run`: run the fleet's scripts once, on the deployed fleet or in this process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from lambda_src import table
from lambda_src.notifier import RunSummary, summarize
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore
from lambdafan import remote_run
from lambdafan.aws import Aws
from lambdafan.checks import check_run_request
from lambdafan.cli.options import ConfigOption, ProfileOption, RegionOption, options, user_errors
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.local import DEFAULT_THREADS, LocalExecutor, load_fleet_scripts, open_store
from lambdafan.render.console import console, note
from lambdafan.render.records import print_records, write_jsonl
from lambdafan.render.runs import RunProgress, print_summary

NowOption = Annotated[
    bool, typer.Option("--now", help="Start the deployed fleet now (the Director, async).")
]
LocalOption = Annotated[
    bool,
    typer.Option(
        "--local", help="Run the Director, Workers and Notifier here, with your credentials."
    ),
]
AccountOption = Annotated[
    list[str] | None, typer.Option("--account", "-a", help="Only this account (repeatable).")
]
ScriptOption = Annotated[
    list[str] | None, typer.Option("--script", "-s", help="Only this script (repeatable).")
]
WaitOption = Annotated[
    bool | None,
    typer.Option(
        "--wait/--no-wait",
        help="With --now: watch the run until it completes (default: in a terminal).",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    int, typer.Option(min=1, help="With --now: stop waiting after this many seconds.")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Also write every record as JSON Lines.")
]
ThreadsOption = Annotated[
    int, typer.Option(min=1, max=512, help="Threads shared by all (script, region) pairs.")
]
LimitOption = Annotated[int, typer.Option(min=0, help="Rows shown per script table.")]


@user_errors
def run(
    ctx: typer.Context,
    now: NowOption = False,
    local: LocalOption = False,
    account: AccountOption = None,
    script: ScriptOption = None,
    wait: WaitOption = None,
    timeout: TimeoutOption = 900,
    output: OutputOption = None,
    threads: ThreadsOption = DEFAULT_THREADS,
    limit: LimitOption = 20,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Run the fleet's scripts once: on the deployed fleet (--now) or in this process (--local).

    \b
    Examples:
      lambdafan run --now                       # the deployed fleet, watched until done
      lambdafan run --now --account 111111111111 --script s3_buckets --no-wait
      lambdafan run --local --output records.jsonl   # your laptop, before deploying
      lambdafan run --now --local               # the deployed fleet's table, handlers here

    With --local, records go to the fleet's table when it exists (required with --now), else
    they are kept in memory. Exit code 0 when every (account, script, region) succeeded, 1
    when any failed, 2 for bad input.
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    accounts, scripts = account or [], script or []
    check_run_request(
        settings, now=now, local=local, accounts=accounts, scripts=scripts, output=output
    )
    aws = opts.aws(fleet, threads=threads)
    store, in_table = open_store(aws, settings)
    if now and not in_table:
        raise LambdafanError(
            f"table {settings.table_name} not found: deploy the fleet first (lambdafan deploy)"
        )
    if now and not local:
        summary = _run_deployed(aws, settings, store, accounts, scripts, wait, timeout)
        if summary is None:
            return
    else:
        if not in_table:
            note(f"table {settings.table_name} not found: results are kept in memory only")
        summary = _run_here(aws, settings, store, accounts, scripts, threads)
    _show_records(store, summary.run_id, output, limit)
    print_summary(summary)
    raise typer.Exit(0 if summary.ok else 1)


def _run_deployed(
    aws: Aws,
    settings: FleetSettings,
    store: ItemStore,
    accounts: list[str],
    scripts: list[str],
    wait: bool | None,
    timeout: int,
) -> RunSummary | None:
    """Start the deployed Director; watch the run when asked (None when not waiting)."""
    lambda_client = aws.client("lambda", settings.home_region)
    run_id = remote_run.start_run(lambda_client, settings, accounts=accounts, scripts=scripts)
    console.print(f"started run {run_id}")
    if not (sys.stdout.isatty() if wait is None else wait):
        note(f"follow it with: lambdafan results --follow --run {run_id}")
        return None
    with RunProgress() as progress:
        progress.started(run_id, 0)
        remote_run.wait_for_run(store, run_id, timeout_s=timeout, on_update=progress.show)
    return summarize(store, run_id)


def _run_here(
    aws: Aws,
    settings: FleetSettings,
    store: ItemStore,
    accounts: list[str],
    scripts: list[str],
    threads: int,
) -> RunSummary:
    """The fleet's handlers, in this process, with a live progress bar."""
    executor = LocalExecutor(settings, aws, store, load_fleet_scripts(settings), threads=threads)
    with RunProgress() as progress:
        executor.observer = progress
        result = executor.run(accounts=accounts, scripts=scripts)
    if result.unknown_accounts:
        raise UsageError(f"account {', '.join(result.unknown_accounts)} is not in this fleet")
    return result.summary


def _show_records(store: ItemStore, run_id: str, output: Path | None, limit: int) -> None:
    """The run's records as tables, and as JSON Lines in `output` when given."""

    def rows() -> Iterator[Item]:
        return (table.record_view(item) for item in table.run_records(store, run_id))

    if output is not None:
        note(f"{write_jsonl(output, rows())} records written to {output}")
    print_records(rows(), limit)
