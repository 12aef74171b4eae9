"""`lambdafan results` and `lambdafan runs`: read what runs found back from the fleet's table."""

from __future__ import annotations

import enum
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, TypeVar

import typer

from lambda_src import run_diff, table
from lambda_src.reporting import script_keys
from lambda_src.run_report import MAX_EXAMPLES
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore
from lambdafan import results, results_store
from lambdafan.checks import check_account_id
from lambdafan.cli.options import (
    ConfigOption,
    ProfileOption,
    options,
    user_errors,
)
from lambdafan.errors import UsageError
from lambdafan.render import diff as show_diff
from lambdafan.render import results as show
from lambdafan.render.console import note, stdout_closed, stopped
from lambdafan.render.records import print_records, write_jsonl

T = TypeVar("T")

DEFAULT_TABLE_ROWS = 50
SIGINT_EXIT = 130  # 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C
SIGPIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports when the reader of a pipe went away


class ResultsFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"  # the same as json: JSON Lines, one row a line
    csv = "csv"


AccountOption = Annotated[
    str | None, typer.Option("--account", "-a", help="Only this account (12 digits).")
]
RunIdOption = Annotated[
    str | None, typer.Option("--run", help="The run to show (default: the latest).")
]
ScriptOption = Annotated[str | None, typer.Option("--script", "-s", help="Only this script.")]
RegionFilterOption = Annotated[
    str | None,
    typer.Option("--region", help="Only this region ('global' for account-wide scripts)."),
]
ErrorsOption = Annotated[
    bool, typer.Option("--errors", help="Show the run's errors instead of its records.")
]
OutputFormatOption = Annotated[
    ResultsFormat,
    typer.Option(
        "--format",
        help="table for people; json or jsonl (the same: JSON Lines, for jq) or csv for pipes.",
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help=f"Most rows: per script table in table format (default {DEFAULT_TABLE_ROWS}), "
        "in all for json and csv (default: every row); with --diff, examples per script and "
        f"kind (default {MAX_EXAMPLES}).",
        show_default=False,
    ),
]
FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow", "-f", help="Print new results as a running run writes them, until done."
    ),
]
DiffOption = Annotated[
    bool,
    typer.Option(
        "--diff",
        help="What changed since the previous complete run: records added, removed and "
        f"changed per script, with the first examples ({MAX_EXAMPLES} of each kind, or --limit).",
    ),
]
AgainstOption = Annotated[
    str | None,
    typer.Option(
        "--against", help="With --diff: the run to compare with (default: the previous complete)."
    ),
]
IntervalOption = Annotated[
    float, typer.Option(min=0.1, hidden=True, help="Seconds between reads with --follow.")
]


@user_errors
def results_command(
    ctx: typer.Context,
    account: AccountOption = None,
    run_id: RunIdOption = None,
    script: ScriptOption = None,
    region: RegionFilterOption = None,
    errors: ErrorsOption = False,
    output_format: OutputFormatOption = ResultsFormat.table,
    limit: LimitOption = None,
    follow: FollowOption = False,
    interval: IntervalOption = results.DEFAULT_INTERVAL,
    diff: DiffOption = False,
    against: AgainstOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Show what a run found: its records (or --errors), as tables, JSON Lines or CSV.

    \b
    Examples:
      lambdafan results --account 111111111111 --script ec2_instances
      lambdafan results --run 20260101T000000Z-3f9a1c --format json | jq .instance_id
      lambdafan results --errors --region eu-west-1
      lambdafan results --follow          # watch the latest run until it completes
      lambdafan results --diff            # what changed since the previous complete run

    --region filters results; the table itself is always read in the fleet's home_region.
    """
    if account is not None:
        check_account_id(account)
    if output_format is ResultsFormat.jsonl:
        output_format = ResultsFormat.json
    if follow and output_format is ResultsFormat.csv:
        raise UsageError("--follow prints table or json: CSV needs every column before a row")
    _check_diff_options(diff, against, account, script, region, errors, follow)
    opts = options(ctx, config, profile, None)
    fleet = opts.load()
    settings = fleet.to_settings()
    store = results_store.open_table(opts.aws(fleet), settings)
    try:
        with results.missing_table(settings.table_name):
            if diff:
                _show_diff(store, settings, run_id, against, output_format, limit)
                return
            run = results.find_run(store, run_id, settings.table_name)
            query = results.ResultsQuery(
                run_id=str(run["run_id"]),
                account=account,
                script=script,
                region=region,
                errors=errors,
            )
            if follow:
                _follow(store, run, query, output_format, limit, interval)
            else:
                _show_once(store, run, query, output_format, limit)
    except KeyboardInterrupt:
        stopped("stopped")
        raise typer.Exit(SIGINT_EXIT) from None
    except BrokenPipeError:
        stdout_closed()
        raise typer.Exit(SIGPIPE_EXIT) from None


def _check_diff_options(
    diff: bool,
    against: str | None,
    account: str | None,
    script: str | None,
    region: str | None,
    errors: bool,
    follow: bool,
) -> None:
    if against is not None and not diff:
        raise UsageError("--against names the run to compare with: use it with --diff")
    if not diff:
        return
    given = {
        "--account": account is not None,
        "--script": script is not None,
        "--region": region is not None,
        "--errors": errors,
        "--follow": follow,
    }
    extra = [name for name, on in given.items() if on]
    if extra:
        raise UsageError(f"--diff compares whole runs: drop {', '.join(extra)}")


def _show_diff(
    store: ItemStore,
    settings: FleetSettings,
    run_id: str | None,
    against: str | None,
    output_format: ResultsFormat,
    limit: int | None,
) -> None:
    run = results.find_named_run(store, run_id, settings.table_name)
    new_id = str(run["run_id"])
    if against is None:
        previous = run_diff.previous_complete_run(store, new_id)
        old_id = None if previous is None else str(previous["run_id"])
    else:
        old_id = str(results.find_named_run(store, against, settings.table_name)["run_id"])
    skipped: list[run_diff.Skipped] = []
    changes = run_diff.diff_runs(
        store,
        new_id,
        old_id,
        key_for=script_keys(settings),
        max_examples=MAX_EXAMPLES if limit is None else limit,
        on_skip=skipped.append,
    )
    if output_format is ResultsFormat.json:
        show_diff.write_diff_jsonl(changes)
    elif output_format is ResultsFormat.csv:
        show_diff.write_diff_csv(changes)
    else:
        show_diff.print_diff(changes, skipped)


def _show_once(
    store: ItemStore,
    run: Item,
    query: results.ResultsQuery,
    output_format: ResultsFormat,
    limit: int | None,
) -> None:
    if query.account is not None:
        results.require_account(store, run, query.account)
    rows = results.read_results(store, query, run)
    if output_format is ResultsFormat.json:
        write_jsonl(sys.stdout, _at_most(rows, limit))
    elif output_format is ResultsFormat.csv:
        origin = results.ERROR_FIELDS if query.errors else show.CSV_ORIGIN
        show.write_csv(_at_most(rows, limit), origin)
    else:
        table_rows = DEFAULT_TABLE_ROWS if limit is None else limit
        note(f"run {query.run_id} ({run['status']}, started {run['started_at']})")
        if query.errors:
            show.print_error_table(rows, table_rows, query.run_id)
        else:
            print_records(rows, table_rows, results.known_totals(store, query, run))
        if results.is_running(run):
            note("the run is still running: --follow prints results as they arrive")


def _follow(
    store: ItemStore,
    run: Item,
    query: results.ResultsQuery,
    output_format: ResultsFormat,
    limit: int | None,
    interval: float,
) -> None:
    running = results.is_running(run)
    if query.account is not None and not running:
        results.require_account(store, run, query.account)
    if running:
        note(f"following run {query.run_id} until it completes (Ctrl-C stops)")
    rows = _at_most(results.follow_results(store, query, interval=interval), limit)
    if output_format is ResultsFormat.json:
        shown = write_jsonl(sys.stdout, rows, flush=True)
    else:
        shown = show.print_follow_rows(rows, errors=query.errors)
    if query.account is not None and not shown:
        # The account never reported while we watched: say so if it was not in the run after all.
        results.require_account(store, table.get_run(store, query.run_id) or run, query.account)


def _at_most(rows: Iterable[T], limit: int | None) -> Iterator[T]:
    return iter(rows) if limit is None else itertools.islice(rows, limit)
