"""`lambdafan query "SQL"`: SQL over a run's records, with DuckDB on this machine (records read
from the fleet's table with Queries) or with Athena over the S3 export."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lambdafan import results
from lambdafan.cli.options import ConfigOption, ProfileOption, RegionOption, options
from lambdafan.errors import EXIT_INTERRUPTED, UsageError
from lambdafan.query import athena, engine, export, s3_records
from lambdafan.query.engine import RECORDS_VIEW
from lambdafan.query.record_files import Files
from lambdafan.query.session import open_session
from lambdafan.render import query as show
from lambdafan.render.console import note, stopped, warning
from lambdafan.render.records import write_json_array, write_jsonl
from lambdafan.render.results import write_csv

# Rows a table shows; json, jsonl and csv print them all.
TABLE_ROWS = 100


class QueryFormat(str, enum.Enum):
    table = "table"
    json = "json"  # one JSON document: an array of rows
    jsonl = "jsonl"  # JSON Lines: one row a line
    csv = "csv"


class Source(str, enum.Enum):
    table = "table"
    s3 = "s3"


class Engine(str, enum.Enum):
    duckdb = "duckdb"
    athena = "athena"


def query_command(
    ctx: typer.Context,
    sql: Annotated[
        str | None,
        typer.Argument(
            metavar="SQL",
            help="One SQL statement (DuckDB's dialect; Athena's with --engine athena).",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", metavar="RUN_ID", help="The run to load (default: the latest)."),
    ] = None,
    runs: Annotated[
        int,
        typer.Option(
            "--runs",
            min=1,
            metavar="N",
            help="Load N runs side by side: --run's (or the latest) and the N-1 before it; "
            "the run_id column tells them apart.",
        ),
    ] = 1,
    schema: Annotated[
        bool, typer.Option("--schema", help="List the views and their columns, run no SQL.")
    ] = False,
    output_format: Annotated[
        QueryFormat,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=f"table for people (the first {TABLE_ROWS} rows); json (one JSON array), "
            "jsonl (JSON Lines) or csv for pipes: every row.",
        ),
    ] = QueryFormat.table,
    engine_name: Annotated[
        Engine,
        typer.Option(
            "--engine",
            metavar="ENGINE",
            help="duckdb: on this machine; athena: in Athena, over the S3 export "
            "(results.export: s3), the SQL naming its runs: where run = 'RUN_ID'.",
        ),
    ] = Engine.duckdb,
    source: Annotated[
        Source,
        typer.Option(
            "--from",
            metavar="SOURCE",
            help="With duckdb, where the records are read: table (the results table) or s3 "
            "(the S3 export, for bigger runs).",
        ),
    ] = Source.table,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Run SQL over a run's records: a view per script (the origin columns
    run_id, account_id, account_name, region, script, then its fields) and
    `records` (every script: the origin columns and a `record` JSON column).

    \b
    Examples:
      lambdafan query --schema
      lambdafan query "select account_name, count(*) from ec2_instances
          group by 1 order by 2 desc"
      lambdafan query "select script, count(*) from records group by 1"
      lambdafan query "select record->>'bucket' from records
          where script = 'public_buckets'" --format csv
      lambdafan query --runs 2 "select instance_id from ec2_instances
          where run_id = (select max(run_id) from ec2_instances)
          except select instance_id from ec2_instances
          where run_id = (select min(run_id) from ec2_instances)"
      lambdafan query --engine athena "select account_id, count(*)
          from ec2_instances where run = '20261127T060000Z-a1b2c3'
          group by 1"
    """
    if schema and sql is not None:
        raise UsageError("give SQL to run or --schema to list the views, not both")
    if not schema and sql is None:
        raise UsageError("give SQL to run, or --schema to list the views")
    if engine_name is Engine.athena:
        _check_athena(run_id, runs, schema, source)
        try:
            _athena(ctx, sql or "", output_format, config, profile, region)
        except athena.Cancelled:
            stopped("stopped (the query is cancelled in Athena too)")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except KeyboardInterrupt:
            stopped("stopped")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        return
    engine.require_duckdb()  # before any AWS call: the one-line install hint first
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    configured = results.script_names(fleet.scripts, fleet.script_paths()).values()
    settings = fleet.to_settings()
    if source is Source.s3:
        export.require_export(settings)
    # The S3 downloads share one client: a connection each of their threads.
    aws = opts.aws(fleet, threads=s3_records.THREADS)
    with open_session(
        aws,
        settings,
        configured,
        run_id=run_id,
        runs=runs,
        from_s3=source is Source.s3,
        warn=warning,
    ) as loaded:
        for script, why in loaded.untyped.items():
            warning(f"{script}: {why}")
        result = None if schema else loaded.run(sql or "")
        # Said once the SQL ran: a refusal stays the one line of stderr.
        if output_format is QueryFormat.table:
            note(loaded.loaded())
        fewer = loaded.fewer()
        if fewer is not None:
            warning(fewer)
        if result is None:
            _print_schema(loaded.con, loaded.empty, output_format)
        else:
            for script in loaded.empty_named(sql or ""):
                note(f"{script} has no records in the runs loaded: its view is empty")
            _show(result, output_format)


def _check_athena(run_id: str | None, runs: int, schema: bool, source: Source) -> None:
    given = {
        "--run": run_id is not None,
        "--runs": runs != 1,
        "--schema": schema,
        "--from": source is not Source.table,
    }
    extra = [name for name, on in given.items() if on]
    if extra:
        raise UsageError(
            f"--engine athena runs the SQL over every exported run: drop {', '.join(extra)} "
            "and name the runs in the SQL (where run = 'RUN_ID')"
        )


def _athena(
    ctx: typer.Context,
    sql: str,
    output_format: QueryFormat,
    config: Path | None,
    profile: str | None,
    region: str | None,
) -> None:
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    export.require_export(settings)
    states: list[str] = []

    def progress(state: str, scanned: int, elapsed: float) -> None:
        if not states or states[-1] != state:  # a line per state, not per poll
            states.append(state)
            note(f"Athena: {state.lower()} ({elapsed:.0f} s)")

    result, cost = export.run_athena(
        opts.aws(fleet),
        settings,
        sql,
        workgroup=fleet.results.athena.workgroup,
        output_location=fleet.results.athena.output,
        on_progress=progress,
    )
    note(cost)
    if not result.columns:  # a statement with no result set (DDL), or an endpoint that runs none
        note("Athena returned no result set (a statement like CREATE or DROP has none)")
        if output_format is QueryFormat.json:
            sys.stdout.write("[]\n")  # still one JSON document for a pipe
        return
    _show(result, output_format)


def _show(result: engine.Result, output_format: QueryFormat) -> None:
    names = [column.name for column in result.columns]
    if output_format is QueryFormat.json:
        write_json_array(sys.stdout, result.rows)
    elif output_format is QueryFormat.jsonl:
        write_jsonl(sys.stdout, result.rows)
    elif output_format is QueryFormat.csv:
        write_csv(result.rows, columns=names)
    else:
        show.print_result(result.rows, names, TABLE_ROWS)


def _print_schema(con: Any, empty: Files, output_format: QueryFormat) -> None:
    views = {
        view: [(c.name, c.type) for c in columns] for view, columns in engine.views(con).items()
    }
    if output_format is QueryFormat.table:
        notes = {script: "no records in the runs loaded" for script in empty}
        notes[RECORDS_VIEW] = "every script"
        show.print_schema(views, notes)
        return
    rows = show.schema_rows(views)
    if output_format is QueryFormat.json:
        write_json_array(sys.stdout, rows)
    elif output_format is QueryFormat.jsonl:
        write_jsonl(sys.stdout, rows)
    else:
        write_csv(rows, columns=["view", "column", "type"])
