"""`query --engine athena`: run one SQL statement in Athena, wait for it, read its rows lazily.

The Athena client is passed in (from `lambdafan/aws.py`); `sleep` and `clock` are injectable so
tests never wait. Parsing Athena's result pages is pure and separate from the calls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import ClientError

from lambdafan.aws import error_code, error_message
from lambdafan.errors import LambdafanError, UsageError

# Athena's list price for SQL queries (https://aws.amazon.com/athena/pricing/; that page was not
# reachable here: the figures were checked on 2026-11-27 against two pages quoting it,
# athena.guide's "Athena Basics: Pricing Model" and Stanford's rcpedia Athena page): $5.00 per TB
# scanned, rounded up to the nearest megabyte, 10 MB minimum per query; DDL and failed queries
# are free. Not in lambda_src/pricing.py: that table prices what a run costs, this is the CLI's.
# Units taken as binary (1 TB = 1024**4 bytes), as AWS bills data elsewhere; the sources don't say.
ATHENA_USD_PER_TB = Decimal("5.00")
_MB = 1024**2
_TB = 1024**4
MIN_BILLED_BYTES = 10 * _MB

POLL_S = 1.0
PAGE_SIZE = 1000  # GetQueryResults' maximum MaxResults

WAITING = frozenset({"QUEUED", "RUNNING"})
# AthenaError.ErrorCategory (Athena's error catalog): 1 SYSTEM, 2 USER, 3 OTHER.
USER_ERROR_CATEGORY = 2
# Without AthenaError (older executions, other engines) only the reason tells: the engine's
# syntax errors start with the position ("line 1:8: mismatched input ...") or SYNTAX_ERROR.
_SYNTAX_REASON = re.compile(r"^(line \d+:\d+:|SYNTAX_ERROR\b)")

Progress = Callable[[str, int, float], None]  # (state, scanned bytes, elapsed seconds)


@dataclass(frozen=True)
class AthenaColumn:
    """One result column as ResultSetMetadata describes it."""

    name: str
    type: str


@dataclass
class AthenaResult:
    """A succeeded query: its statistics and cost, its columns, and its rows read lazily."""

    query_execution_id: str
    columns: list[AthenaColumn]
    rows: Iterator[dict[str, Any]]
    scanned_bytes: int
    cost_usd: Decimal
    elapsed_s: float
    output_location: str


class Cancelled(KeyboardInterrupt):
    """Ctrl-C while the query ran: it was stopped in Athena too."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(execution_id)
        self.execution_id = execution_id


def query_cost(scanned_bytes: int, statement_type: str = "DML") -> Decimal:
    """What Athena charges for a query that scanned `scanned_bytes` (DDL is free)."""
    if statement_type == "DDL":
        return Decimal(0)
    billed = max(math.ceil(scanned_bytes / _MB) * _MB, MIN_BILLED_BYTES)
    return ATHENA_USD_PER_TB * billed / _TB


def run_query(
    athena: Any,
    sql: str,
    *,
    database: str,
    workgroup: str,
    output_location: str,
    on_progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = POLL_S,
    page_size: int = PAGE_SIZE,
) -> AthenaResult:
    """Start `sql` in Athena, poll until it ends (Ctrl-C stops the query in Athena too, and
    raises Cancelled) and return its result; a failed or cancelled query raises with Athena's
    reason on one line."""
    started = clock()
    execution_id = start_query(
        athena, sql, database=database, workgroup=workgroup, output_location=output_location
    )
    try:
        execution = wait(athena, execution_id, on_progress, sleep, clock, started, poll_s)
    except KeyboardInterrupt:
        stop_query(athena, execution_id)
        raise Cancelled(execution_id) from None
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        raise failure(status)
    statistics = execution.get("Statistics", {})
    scanned = int(statistics.get("DataScannedInBytes", 0))
    statement_type = str(execution.get("StatementType", "DML"))
    pages = iter(
        athena.get_paginator("get_query_results").paginate(
            QueryExecutionId=execution_id, PaginationConfig={"PageSize": page_size}
        )
    )
    # The first page is read now: it carries the columns, which a table needs before any row.
    first: Mapping[str, Any] = next(pages, {})
    return AthenaResult(
        query_execution_id=execution_id,
        columns=columns(first),
        rows=result_rows(first, pages, header=statement_type == "DML"),
        scanned_bytes=scanned,
        cost_usd=query_cost(scanned, statement_type),
        elapsed_s=clock() - started,
        output_location=str(execution.get("ResultConfiguration", {}).get("OutputLocation", "")),
    )


def start_query(
    athena: Any, sql: str, *, database: str, workgroup: str, output_location: str
) -> str:
    """StartQueryExecution; Athena refusing the request itself (a malformed query, an unknown
    workgroup) is the user's to fix."""
    try:
        response = athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": database},
            WorkGroup=workgroup,
            ResultConfiguration={"OutputLocation": output_location},
        )
    except ClientError as exc:
        if error_code(exc) == "InvalidRequestException":
            raise UsageError(f"Athena refused the query: {one_line(error_message(exc))}") from None
        raise
    return str(response["QueryExecutionId"])


def wait(
    athena: Any,
    execution_id: str,
    on_progress: Progress | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    started: float,
    poll_s: float,
) -> Mapping[str, Any]:
    """GetQueryExecution until the query leaves QUEUED/RUNNING; the last QueryExecution."""
    while True:
        execution: Mapping[str, Any] = athena.get_query_execution(QueryExecutionId=execution_id)[
            "QueryExecution"
        ]
        state = execution["Status"]["State"]
        if state not in WAITING:
            return execution
        if on_progress is not None:
            scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
            on_progress(state, scanned, clock() - started)
        sleep(poll_s)


def stop_query(athena: Any, execution_id: str) -> None:
    """StopQueryExecution, best effort: the interrupt that asked for it still propagates."""
    with contextlib.suppress(ClientError):
        athena.stop_query_execution(QueryExecutionId=execution_id)


def failure(status: Mapping[str, Any]) -> LambdafanError:
    """The error for a FAILED or CANCELLED query: UsageError when the SQL is at fault."""
    state = str(status.get("State", "FAILED"))
    reason = one_line(str(status.get("StateChangeReason") or "no reason given"))
    category = status.get("AthenaError", {}).get("ErrorCategory")
    message = f"Athena query {state.lower()}: {reason}"
    if state == "FAILED" and (category == USER_ERROR_CATEGORY or _SYNTAX_REASON.match(reason)):
        return UsageError(message)
    return LambdafanError(message)


def one_line(text: str) -> str:
    """Every run of whitespace, newlines included, as one space."""
    return " ".join(text.split())


# --- result pages (pure) --------------------------------------------------------------------


def columns(page: Mapping[str, Any]) -> list[AthenaColumn]:
    """The columns of a GetQueryResults page (every page repeats them)."""
    info = page.get("ResultSet", {}).get("ResultSetMetadata", {}).get("ColumnInfo", [])
    return [AthenaColumn(str(c["Name"]), str(c.get("Type", "varchar"))) for c in info]


def result_rows(
    first: Mapping[str, Any], rest: Iterable[Mapping[str, Any]], *, header: bool
) -> Iterator[dict[str, Any]]:
    """The rows of GetQueryResults pages as dicts of Python values; `header`: the first row of
    the first page is the column names (a SELECT's results), not data."""
    cols = columns(first)
    yield from _page_rows(first, cols, 1 if header else 0)
    for page in rest:
        yield from _page_rows(page, cols, 0)


def _page_rows(
    page: Mapping[str, Any], cols: list[AthenaColumn], skip: int
) -> Iterator[dict[str, Any]]:
    for row in page.get("ResultSet", {}).get("Rows", [])[skip:]:
        data = row.get("Data", [])
        yield {col.name: value(col.type, datum) for col, datum in zip(cols, data, strict=False)}


def value(athena_type: str, datum: Mapping[str, Any]) -> Any:
    """A Datum as a Python value: null is a Datum without VarCharValue; a value that does not
    parse as its declared type stays the string Athena sent (nothing is lost)."""
    if "VarCharValue" not in datum:
        return None
    text = str(datum["VarCharValue"])
    convert = _CONVERTERS.get(base_type(athena_type))
    if convert is None:
        return text  # varchar, char, json, time, array, map, row, ...: as Athena wrote them
    try:
        return convert(text)
    except (ValueError, InvalidOperation):
        return text


def base_type(athena_type: str) -> str:
    """`decimal(10,2)` -> `decimal`, `varchar(20)` -> `varchar` (ColumnInfo's Type is usually
    bare, with Precision/Scale apart, but the parameterised spelling occurs in DDL output)."""
    return athena_type.split("(", 1)[0].strip().lower()


def _boolean(text: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(text)


def _timestamp(text: str) -> dt.datetime:
    # Athena writes `2026-11-27 19:22:31.123`; fromisoformat (3.10) wants 0, 3 or 6 digits.
    head, dot, fraction = text.partition(".")
    if dot:
        text = f"{head}.{(fraction + '000000')[: 6 if len(fraction) > 3 else 3]}"
    return dt.datetime.fromisoformat(text)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "int": int,
    "bigint": int,
    "double": float,  # float() reads Athena's NaN, Infinity, -Infinity
    "float": float,
    "real": float,
    "decimal": Decimal,
    "boolean": _boolean,
    "date": dt.date.fromisoformat,
    "timestamp": _timestamp,
}
