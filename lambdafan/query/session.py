"""What `lambdafan query` loads before its SQL: the runs picked from the table's runs index,
their records (from the table, or the S3 export) as DuckDB views, and the empty views of
scripts without records, typed by an earlier run's."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_src.settings import FleetSettings
from lambda_src.table import Item
from lambdafan import results, results_store
from lambdafan.aws import Aws
from lambdafan.errors import UsageError
from lambdafan.query import engine, export, from_table
from lambdafan.query.record_files import Files

# DuckDB's words for a name the SQL uses that no view has.
_NO_TABLE = re.compile(r'Table with name "?([^"!]+?)"? does not exist', re.IGNORECASE)


@dataclass(frozen=True)
class Session:
    """A DuckDB connection over the runs loaded, and what the command tells about them."""

    con: Any
    runs: list[Item]  # newest first
    wanted: int  # the runs asked for (`runs` has fewer when the table holds fewer)
    empty: Files  # scripts without records in the runs: their fields from an earlier run's
    unknown: dict[str, str]  # why a script without records has no view, by lowercase name
    untyped: dict[str, str]  # scripts whose view is not the usual one, and why

    @property
    def ids(self) -> str:
        return ", ".join(str(run["run_id"]) for run in self.runs)

    def loaded(self) -> str:
        """Which runs the views hold."""
        return f"run{'s' if len(self.runs) > 1 else ''} {self.ids}"

    def fewer(self) -> str | None:
        """Said when the table holds fewer runs than asked for."""
        if len(self.runs) >= self.wanted:
            return None
        held = f"{len(self.runs)} run{'s' if len(self.runs) > 1 else ''}"
        return f"the table holds {held} up to {self.runs[0]['run_id']}"

    def run(self, sql: str) -> engine.Result:
        """The result of `sql`; a view it names that a script without fields would have had
        gets the reason it has none."""
        try:
            return engine.run_sql(self.con, sql)
        except UsageError as exc:
            missing = _NO_TABLE.search(str(exc))
            if missing and missing.group(1).lower() in self.unknown:
                raise UsageError(self.unknown[missing.group(1).lower()]) from None
            raise

    def empty_named(self, sql: str) -> list[str]:
        """The scripts with an empty view that `sql` names."""
        return [script for script in self.empty if script.lower() in sql.lower()]


@contextmanager
def open_session(
    aws: Aws,
    settings: FleetSettings,
    configured: Iterable[str],
    *,
    run_id: str | None,
    runs: int,
    from_s3: bool,
    warn: Callable[[str], None],
) -> Iterator[Session]:
    """The session over run `run_id` (default: the latest) and the `runs - 1` before it, their
    records read from the table or, `from_s3`, the export bucket; closed on leaving."""
    store = results_store.open_table(aws, settings)
    with (
        results.missing_table(settings.table_name),
        tempfile.TemporaryDirectory(prefix="lambdafan-query-") as temp,
    ):
        folder = Path(temp)
        # The runs index says which runs there are, whichever holds their records.
        loaded = from_table.pick_runs(store, run_id, runs, settings.table_name)
        if from_s3:
            bucket = export.export_bucket(aws, settings)
            s3 = aws.client("s3", settings.home_region)
            files = export.load_runs(
                s3, store, bucket, settings.fleet, loaded, folder / "runs", warn
            )
        else:
            files = from_table.load_runs(store, loaded, folder / "runs")
        absent = [script for script in _scripts(loaded, configured) if script not in files]
        empty: Files = {}
        if absent:
            earlier = from_table.earlier_runs(store, str(loaded[-1]["run_id"]))
            empty = from_table.known_fields(store, absent, earlier, folder / "fields")
        con, untyped = engine.connect(folder, files, empty)
        try:
            ids = ", ".join(str(run["run_id"]) for run in loaded)
            unknown = {s.lower(): _no_fields(s, ids) for s in absent if s not in empty}
            yield Session(con, loaded, runs, empty, unknown, untyped)
        finally:
            con.close()


def _scripts(loaded: Sequence[Item], configured: Iterable[str]) -> list[str]:
    """The scripts of the runs loaded, then the config's, once each."""
    in_runs = [str(s) for run in loaded for s in run.get("scripts") or ()]
    return list(dict.fromkeys([*in_runs, *configured]))


def _no_fields(script: str, ids: str) -> str:
    return (
        f"{script} has no records in run {ids} nor in the {from_table.LOOK_BACK} runs before: "
        "its fields are not known, so it has no view (load a run that has some with --run)"
    )
