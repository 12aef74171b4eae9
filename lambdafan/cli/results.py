"""`lambdafan results`: what a run found (records, errors, or what changed), read back from the
fleet's table, for people (tables) or for pipes and sharing (JSON, CSV, HTML)."""

from __future__ import annotations

import enum
import itertools
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
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
    DEFAULT_ROWS,
    ConfigOption,
    ProfileOption,
    RegionOption,
    options,
)
from lambdafan.columns import SeenColumns, parse_columns, require_known
from lambdafan.config.values import known_regions
from lambdafan.errors import EXIT_INTERRUPTED, UsageError
from lambdafan.render import diff as show_diff
from lambdafan.render import html_report
from lambdafan.render import results as show
from lambdafan.render.console import note, stopped, warning
from lambdafan.render.records import pick, print_records, write_json_array, write_jsonl
from lambdafan.results import Row

T = TypeVar("T")

TABLE_HINT = "see them with --columns or --format jsonl/csv"
# The columns were picked: pointing back at --columns would go round in circles.
PICKED_HINT = "a wider terminal shows them, or --format jsonl/csv"


class ResultsFormat(str, enum.Enum):
    table = "table"
    json = "json"  # one JSON document: an array of rows (the AWS CLI's meaning)
    jsonl = "jsonl"  # JSON Lines: one row a line
    csv = "csv"
    html = "html"


AccountOption = Annotated[
    str | None,
    typer.Option("--account", "-a", metavar="ACCOUNT_ID", help="Only this account (12 digits)."),
]
RunIdOption = Annotated[
    str | None,
    typer.Option("--run", metavar="RUN_ID", help="The run to show (default: the latest)."),
]
ScriptOption = Annotated[
    str | None,
    typer.Option(
        "--script",
        "-s",
        metavar="SCRIPT",
        help="Only this script: its name, or its file name as in the config (foo.py).",
    ),
]
InRegionOption = Annotated[
    str | None,
    typer.Option(
        "--in-region",
        metavar="REGION",
        help="Only records found in this region of the fleet ('global' for account-wide scripts).",
    ),
]
ErrorsOption = Annotated[
    bool, typer.Option("--errors", help="Show the run's errors instead of its records.")
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="COLUMNS",
        help="Only these columns, in this order (a,b,c): record fields, account_name, "
        "account_id, region, script. Records differ per script, so a column no record has is "
        "a warning (with --errors, an error).",
    ),
]
OutputFormatOption = Annotated[
    ResultsFormat,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="table for people; json (one JSON array), jsonl (JSON Lines, for jq and streams) "
        "or csv for pipes; html: one self-contained page, sortable, to share.",
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        metavar="N",
        help=f"Most rows: per script in table (default {DEFAULT_ROWS}) and html (default: all); "
        "in all for json, jsonl and csv (default: all); with --diff, examples per script and "
        f"kind (default {MAX_EXAMPLES}).",
        show_default=False,
    ),
]
FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow",
        "-f",
        help="Print new results as a running run writes them, until done: a line per record "
        "(or JSON Lines with --format jsonl).",
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
        "--against",
        metavar="RUN_ID",
        help="With --diff: the run to compare with (default: the previous complete).",
    ),
]
IntervalOption = Annotated[
    float,
    typer.Option(
        min=0.1, metavar="SECONDS", hidden=True, help="Seconds between reads with --follow."
    ),
]


def results_command(
    ctx: typer.Context,
    account: AccountOption = None,
    run_id: RunIdOption = None,
    script: ScriptOption = None,
    in_region: InRegionOption = None,
    errors: ErrorsOption = False,
    columns: ColumnsOption = None,
    output_format: OutputFormatOption = ResultsFormat.table,
    limit: LimitOption = None,
    follow: FollowOption = False,
    interval: IntervalOption = results.DEFAULT_INTERVAL,
    diff: DiffOption = False,
    against: AgainstOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Show what a run found: its records (or --errors), as tables, JSON, CSV or an HTML page.

    \b
    Examples:
      lambdafan results --account 111111111111 --script ec2_instances
      lambdafan results --in-region eu-west-1 --columns account_id,instance_id
      lambdafan results --format jsonl | jq -r .instance_id
      lambdafan results --format json | python -m json.tool
      lambdafan results --run 20260101T000000Z-3f9a1c --format csv > records.csv
      lambdafan results --format html > report.html  # a sortable page to share
      lambdafan results --errors --in-region eu-west-1
      lambdafan results --follow     # watch the latest run until it completes
      lambdafan results --diff       # what changed since the last complete run

    A table shows what fits the terminal and names the columns it left out; ids and ARNs are
    never cut. --in-region filters records; --region, as everywhere, is your AWS session's
    region (the results table is read where the fleet lives, its home_region).
    """
    if account is not None:
        check_account_id(account)
    picked = parse_columns(columns)
    if errors and picked is not None:  # error rows have known fields: check them now
        require_known(picked, results.ERROR_FIELDS, "errors")
    _check_format(output_format, follow)
    _check_diff_options(diff, against, account, script, in_region, errors, follow, columns)
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    configured = results.script_names(fleet.scripts, fleet.script_paths())
    if in_region is not None:
        results.check_region(
            in_region, fleet.regions, known_regions() if fleet.regions is None else ()
        )
    settings = fleet.to_settings()
    store = results_store.open_table(opts.aws(fleet), settings)
    try:
        with results.missing_table(settings.table_name):
            if diff:
                _show_diff(store, settings, run_id, against, output_format, limit)
                return
            run = results.find_run(store, run_id, settings.table_name)
            if script is not None:
                script = results.check_script(script, configured, run)
            query = results.ResultsQuery(
                run_id=str(run["run_id"]),
                account=account,
                script=script,
                region=in_region,
                errors=errors,
            )
            seen = SeenColumns(picked if not errors else None)
            if follow:
                _follow(store, run, query, output_format, limit, interval, picked, seen)
            else:
                _show_once(store, run, query, output_format, limit, picked, seen)
            missing = seen.missing()
            if missing is not None:
                warning(missing)
    except KeyboardInterrupt:
        stopped("stopped")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    # A closed stdout (`| head`) exits 141 quietly in LambdafanGroup, as for every command.


def _check_format(output_format: ResultsFormat, follow: bool) -> None:
    if follow and output_format not in (ResultsFormat.table, ResultsFormat.jsonl):
        raise UsageError(
            "--follow streams rows as they arrive: use --format jsonl or table "
            f"(for {output_format.value}, let the run finish and drop --follow)"
        )


def _check_diff_options(
    diff: bool,
    against: str | None,
    account: str | None,
    script: str | None,
    in_region: str | None,
    errors: bool,
    follow: bool,
    columns: str | None,
) -> None:
    if against is not None and not diff:
        raise UsageError("--against names the run to compare with: use it with --diff")
    if not diff:
        return
    given = {
        "--account": account is not None,
        "--script": script is not None,
        "--in-region": in_region is not None,
        "--errors": errors,
        "--follow": follow,
        "--columns": columns is not None,
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
    if output_format is ResultsFormat.html:
        raise UsageError("--diff prints table, json, jsonl or csv (html shows one run's records)")
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
        show_diff.write_diff_json(changes)
    elif output_format is ResultsFormat.jsonl:
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
    columns: Sequence[str] | None,
    seen: SeenColumns,
) -> None:
    if query.account is not None:
        results.require_account(store, run, query.account)
    ran = [str(name) for name in run.get("scripts") or ()]
    if query.script is not None and ran and query.script not in ran:
        # `run --script` makes runs of a few scripts, and the latest may be one of them.
        note(
            f"run {query.run_id} did not run {query.script} (it ran {', '.join(ran)}): "
            "pick another run with --run (the runs command lists them)"
        )
    rows = seen.watch(results.read_results(store, query, run))
    if output_format is ResultsFormat.html:
        _write_html(store, run, query, rows, limit, columns)
    elif output_format in (ResultsFormat.json, ResultsFormat.jsonl, ResultsFormat.csv):
        # A record with none of the columns picked is left out: `{}` or a row of commas says
        # nothing.
        picked = _at_most(rows if columns is None else pick(rows, columns), limit)
        if output_format is ResultsFormat.json:
            write_json_array(sys.stdout, picked)
        elif output_format is ResultsFormat.jsonl:
            write_jsonl(sys.stdout, picked)
        else:
            origin = results.ERROR_FIELDS if query.errors else show.CSV_ORIGIN
            show.write_csv(picked, origin, columns)
    else:
        table_rows = DEFAULT_ROWS if limit is None else limit
        hint = TABLE_HINT if columns is None else PICKED_HINT
        note(f"run {query.run_id} ({run['status']}, started {run['started_at']})")
        if query.errors:
            show.print_error_table(rows, table_rows, query.run_id, columns=columns, hint=hint)
        else:
            totals = results.known_totals(store, query, run)
            print_records(rows, table_rows, totals, columns=columns, hint=hint, order=ran)
        if results.is_running(run):
            note("the run is still running: --follow prints results as they arrive")


def _write_html(
    store: ItemStore,
    run: Item,
    query: results.ResultsQuery,
    rows: Iterable[Row],
    limit: int | None,
    columns: Sequence[str] | None,
) -> None:
    """The page: a section per script (config order), then the errors, or the errors alone."""
    sections = html_report.run_sections(
        rows,
        errors_only=query.errors,
        # Read only if the records' sections are made: lazily, page by page.
        error_rows=results.read_results(store, replace(query, errors=True), run),
        order=[str(name) for name in run.get("scripts") or ()],
        columns=columns,
        limit=limit,
    )
    filters = html_report.filter_names(
        account=query.account, script=query.script, region=query.region
    )
    html_report.write_report(sys.stdout, table.plain(run), sections, filters=filters)
    if results.is_running(run):
        note("the run is still running: the page shows what it had found so far")


def _follow(
    store: ItemStore,
    run: Item,
    query: results.ResultsQuery,
    output_format: ResultsFormat,
    limit: int | None,
    interval: float,
    columns: Sequence[str] | None,
    seen: SeenColumns,
) -> None:
    running = results.is_running(run)
    if query.account is not None and not running:
        results.require_account(store, run, query.account)
    if running:
        note(f"following run {query.run_id} until it completes (Ctrl-C stops)")
    found = seen.watch(results.follow_results(store, query, interval=interval))
    # As without --follow: a record with none of the columns picked is left out.
    rows = _at_most(found if columns is None else pick(found, columns), limit)
    if output_format is ResultsFormat.jsonl:
        shown = write_jsonl(sys.stdout, rows, flush=True)
    else:
        shown = show.print_follow_rows(rows, errors=query.errors, columns=columns)
    if query.account is not None and not shown:
        # The account never reported while we watched: say so if it was not in the run after all.
        results.require_account(store, table.get_run(store, query.run_id) or run, query.account)


def _at_most(rows: Iterable[T], limit: int | None) -> Iterator[T]:
    return iter(rows) if limit is None else itertools.islice(rows, limit)
