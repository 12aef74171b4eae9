"""The local engine: DuckDB views over gzipped JSON Lines record files, and SQL run on them.

One view per script (its records' fields as columns, types inferred by DuckDB, nested values as
structs and lists) and `records` over every script (the origin columns and the record as JSON).
DuckDB reads the files itself, so memory is bounded by DuckDB, not by a Python list.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lambda_src.s3_export import ORIGIN
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.query.record_files import Files

RECORDS_VIEW = "records"
INSTALL_HINT = "lambdafan query needs DuckDB: pip install 'lambdafan[query]'"
# Rows fetched from DuckDB at a time: output streams, never the whole result in a list.
BATCH = 2048
# Each record's fields as they were stored, the origin columns taken out (they are columns).
_WITHOUT_ORIGIN = json.dumps(dict.fromkeys(ORIGIN))


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class Result:
    """A query's columns, and its rows as they are fetched (plain Python values)."""

    columns: list[Column]
    rows: Iterator[dict[str, Any]]


def require_duckdb() -> Any:
    """The duckdb module, or a UsageError naming the extra that installs it."""
    try:
        import duckdb
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return duckdb


def quote(name: str) -> str:
    """`name` as a SQL identifier, whatever its characters."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _paths(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(_literal(str(p)) for p in paths) + "]"


def _reader(paths: Sequence[Path]) -> str:
    # Every line read for the types (sample_size=-1): a sample could miss a later record's type
    # and fail the query halfway through, with DuckDB's message blaming the SQL. No hive
    # partitioning: the files of the S3 export sit under run=/script=/account=/region= folders,
    # which DuckDB would otherwise add as columns over the records' own.
    return (
        f"read_json({_paths(paths)}, format='newline_delimited', union_by_name=true, "
        "sample_size=-1, hive_partitioning=false)"
    )


def connect(folder: Path, files: Files, empty: Files | None = None) -> tuple[Any, dict[str, str]]:
    """An in-memory DuckDB (spilling to `folder`) with the views: a script's of `files` (its
    records), of `empty` (the same columns, no rows: an earlier run's records give its fields)
    and `records`; and what went wrong per script: fields DuckDB could not type (its view
    holds each record as JSON, like `records`) or a name it cannot tell from another's."""
    duckdb = require_duckdb()
    spill = folder / "duckdb-spill"
    con = duckdb.connect(":memory:", config={"temp_directory": str(spill)})
    # Timestamps read back in UTC, as stored, whatever the laptop's zone.
    con.execute("SET TimeZone = 'UTC'")
    problems: dict[str, str] = {}
    views = [(script, paths, "") for script, paths in files.items()]
    views += [(s, paths, " LIMIT 0") for s, paths in (empty or {}).items() if s not in files]
    made: dict[str, str] = {}  # DuckDB's names ignore case: `EC2` is `ec2`
    for script, paths, limit in views:
        if script.lower() in made:
            problems[script] = (
                f"no view: to DuckDB, which ignores case, it is {made[script.lower()]}"
            )
            continue
        made[script.lower()] = script
        try:
            con.execute(f"CREATE VIEW {quote(script)} AS SELECT * FROM {_reader(paths)}{limit}")
        except duckdb.Error as exc:
            if is_data_error(exc, duckdb):
                con.close()
                raise failure(exc, duckdb) from None  # a file it cannot read: no view helps
            # E.g. keys differing only in case in one object ({"Env": .., "env": ..}): a
            # struct's fields cannot. One script's odd records must not cost every view.
            problems[script] = f"each record as JSON in `record`: {first_line(exc)}"
            con.execute(f"CREATE VIEW {quote(script)} AS {_as_json_sql(paths)}{limit}")
    if RECORDS_VIEW not in made:  # a script named `records` keeps its own view
        every = [path for paths in files.values() for path in paths]
        con.execute(f"CREATE VIEW {RECORDS_VIEW} AS {_as_json_sql(every)}")
    return con, problems


def _as_json_sql(paths: Sequence[Path]) -> str:
    """The origin columns and each record as JSON (`record`), of the lines of `paths`."""
    if not paths:
        nothing = ", ".join(f"NULL::VARCHAR AS {name}" for name in ORIGIN)
        return f"SELECT {nothing}, NULL::JSON AS record LIMIT 0"
    origin = ", ".join(f"json ->> {_literal(name)} AS {name}" for name in ORIGIN)
    record = f"json_merge_patch(json, {_literal(_WITHOUT_ORIGIN)}) AS record"
    return f"SELECT {origin}, {record} FROM read_ndjson_objects({_paths(paths)})"


def run_sql(con: Any, sql: str) -> Result:
    """Run `sql`; DuckDB's refusal (syntax, unknown name, bad cast) is a one-line UsageError,
    a record file it cannot read (a corrupt object) a one-line LambdafanError."""
    duckdb = require_duckdb()
    try:
        cursor = con.execute(sql)
    except duckdb.Error as exc:
        raise failure(exc, duckdb) from None
    if cursor is None:  # nothing but blanks, comments or `;`: DuckDB ran no statement
        raise UsageError("no SQL statement given: e.g. 'select count(*) from records'")
    description = cursor.description or []
    columns = [Column(str(d[0]), str(d[1])) for d in description]
    return Result(columns, _rows(cursor, columns, duckdb))


def _rows(cursor: Any, columns: list[Column], duckdb: Any) -> Iterator[dict[str, Any]]:
    names = [c.name for c in columns]
    is_json = [c.type == "JSON" for c in columns]
    while True:
        try:
            batch = cursor.fetchmany(BATCH)
        except duckdb.Error as exc:  # a cast that fails on a later row fails while fetching
            raise failure(exc, duckdb) from None
        if not batch:
            return
        for values in batch:
            yield {
                name: json.loads(v) if j and isinstance(v, str) else plain(v)
                for name, v, j in zip(names, values, is_json, strict=True)
            }


def is_data_error(exc: Exception, duckdb: Any) -> bool:
    """Whether DuckDB failed on a file's bytes (not gzip, cut short, not JSON), not on the SQL."""
    if isinstance(exc, duckdb.IOException):
        return True
    # Malformed JSON in a file names it; in a string the SQL gave, it does not.
    return isinstance(exc, duckdb.InvalidInputException) and " in file " in first_line(exc)


def failure(exc: Exception, duckdb: Any) -> LambdafanError:
    """DuckDB's error on one line: the data's fault exits 1, the SQL's 2 (a UsageError)."""
    if is_data_error(exc, duckdb):
        return LambdafanError(first_line(exc))
    return UsageError(first_line(exc))


def first_line(exc: Exception) -> str:
    """DuckDB's message without the lines under it (the SQL echoed, a caret)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def plain(value: Any) -> Any:
    """A DuckDB value as JSON-able Python: timestamps in ISO form (as stored), decimals as
    numbers, structs and lists through, anything else (UUID, bytes) as text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def views(con: Any) -> dict[str, list[Column]]:
    """Each view's columns, `records` last."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name = ?, table_name, ordinal_position",
        [RECORDS_VIEW],
    ).fetchall()
    found: dict[str, list[Column]] = {}
    for view, column, kind in rows:
        found.setdefault(str(view), []).append(Column(str(column), str(kind)))
    return found
