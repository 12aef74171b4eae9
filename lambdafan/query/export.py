"""`query` over the S3 export: the fleet's bucket, a run's objects loaded for DuckDB, and SQL run
in Athena (`lambdafan.query.s3_records` and `lambdafan.query.athena` make the calls)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lambda_src import names, table
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore
from lambdafan import results
from lambdafan.aws import Aws
from lambdafan.errors import UsageError
from lambdafan.query import athena, engine, s3_records
from lambdafan.query.record_files import Files, merge

S3_EXPORT = "s3"
NOT_EXPORTED = (
    "the fleet does not export its records to S3: set results.export: s3 in the config, "
    "deploy, and query the runs after that"
)


def require_export(settings: FleetSettings) -> None:
    """Fail unless the fleet's Workers write their records to the export bucket."""
    if settings.export != S3_EXPORT:
        raise UsageError(NOT_EXPORTED)


def export_bucket(aws: Aws, settings: FleetSettings) -> str:
    """The fleet's export bucket: in the account of the caller's credentials (the one deploy
    ran in) and the home region."""
    identity = aws.client("sts", settings.home_region).get_caller_identity()
    return names.export_bucket_name(settings.fleet, str(identity["Account"]), settings.home_region)


def load_runs(
    s3: Any,
    store: ItemStore,
    bucket: str,
    fleet: str,
    runs: Sequence[Item],
    folder: Path,
    warn: Callable[[str], None],
) -> Files:
    """The runs' exported objects that count (as `results` counts the table's records: the
    done items of each run say which, one Query a run) under `folder`, as files by script.
    A run with records in the table and no object is said to `warn`: it ran before the export
    was on, or its objects have expired."""
    loaded = []
    for n, run in enumerate(runs):
        run_id = str(run["run_id"])
        files = s3_records.download_run(
            s3, bucket, fleet, run_id, folder / f"s3-{n}", counted=counted(store, run)
        )
        if not files and int(run.get("records", 0)):
            warn(
                f"run {run_id} has {run['records']} records in the table and none in {bucket} "
                "(it ran before results.export: s3, or its objects expired): without --from s3, "
                "query reads the table"
            )
        loaded.append(files)
    return merge(*loaded)


def counted(store: ItemStore, run: Item) -> s3_records.Counted:
    """Which of the run's objects count: its finished accounts' counted attempts (one Query of
    the done items), and, while it is still going, the other accounts' objects too."""
    attempts = table.counted_attempts(store, str(run["run_id"]))
    return s3_records.Counted(attempts, running=results.is_running(run))


def run_athena(
    aws: Aws,
    settings: FleetSettings,
    sql: str,
    *,
    workgroup: str,
    output_location: Callable[[str], str],
    on_progress: Callable[[str, int, float], None] | None = None,
) -> tuple[engine.Result, str]:
    """Run `sql` in Athena in the fleet's Glue database: its result (values as the local
    engine gives them) and a line saying what it scanned and cost."""
    bucket = export_bucket(aws, settings)
    done = athena.run_query(
        aws.client("athena", settings.home_region),
        sql,
        database=names.glue_database_name(settings.fleet),
        workgroup=workgroup,
        output_location=output_location(bucket),
        on_progress=on_progress,
    )
    columns = [engine.Column(c.name, c.type) for c in done.columns]
    rows = ({name: engine.plain(value) for name, value in row.items()} for row in done.rows)
    scanned = _size(done.scanned_bytes)
    cost = f"Athena scanned {scanned} in {done.elapsed_s:.1f} s: ${done.cost_usd:.4f}"
    return engine.Result(columns, rows), cost


def _size(count: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"
