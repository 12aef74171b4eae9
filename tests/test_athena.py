"""`query --engine athena`: the request Athena receives (read back from moto), polling, Ctrl-C,
failures, cost, and result parsing on GetQueryResults' documented shape (moto runs no SQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.moto_api import state_manager

from lambdafan.errors import EXIT_FAILURE, EXIT_USAGE, LambdafanError, UsageError
from lambdafan.query import athena
from lambdafan.query.athena import AthenaColumn

OUTPUT = "s3://fleet-records-123456789012-us-east-1/athena-results/"
SQL = "select account_id, count(*) as instances from ec2_instances group by 1"


def no_sleep(_: float) -> None:
    pass


def ticking(step: float = 1.5) -> Any:
    """A clock advancing `step` seconds per reading."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


@pytest.fixture
def slow_athena() -> Iterator[None]:
    """moto's query executions move on every second read (they are SUCCEEDED at once otherwise):
    read 1 QUEUED, reads 2-3 RUNNING, read 4 SUCCEEDED."""
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 2})
    yield
    state_manager.unset_transition("athena::execution")


# --- the request, read back from moto --------------------------------------------------------


def test_the_query_execution_athena_stores(aws: Any) -> None:
    client = aws.client("athena")
    client.create_work_group(Name="lambdafan", Configuration={})
    result = athena.run_query(
        client,
        SQL,
        database="lambdafan_fleet",
        workgroup="lambdafan",
        output_location=OUTPUT,
        sleep=no_sleep,
    )
    stored = client.get_query_execution(QueryExecutionId=result.query_execution_id)[
        "QueryExecution"
    ]
    assert stored["Query"] == SQL
    assert stored["WorkGroup"] == "lambdafan"
    assert stored["QueryExecutionContext"] == {"Database": "lambdafan_fleet"}
    # Athena (and moto) name the result object under the output location given.
    assert stored["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)
    assert result.output_location == stored["ResultConfiguration"]["OutputLocation"]
    assert stored["Status"]["State"] == "SUCCEEDED"
    assert result.columns == []
    assert list(result.rows) == []
    # Nothing scanned still bills Athena's 10 MB minimum.
    assert result.scanned_bytes == 0
    assert result.cost_usd == Decimal(5) * 10 / 1024**2


def test_progress_is_reported_while_queued_and_running(aws: Any, slow_athena: None) -> None:
    seen: list[tuple[str, int, float]] = []
    sleeps: list[float] = []
    result = athena.run_query(
        aws.client("athena"),
        SQL,
        database="lambdafan_fleet",
        workgroup="primary",
        output_location=OUTPUT,
        on_progress=lambda state, scanned, elapsed: seen.append((state, scanned, elapsed)),
        sleep=sleeps.append,
        clock=ticking(),
        poll_s=0.25,
    )
    states = [state for state, _, _ in seen]
    assert states == ["QUEUED", "RUNNING", "RUNNING"]
    # Elapsed from the clock's first reading (1.5), before StartQueryExecution.
    assert [elapsed for _, _, elapsed in seen] == [1.5, 3.0, 4.5]
    assert sleeps == [0.25] * 3
    assert result.elapsed_s == 6.0
    stored = aws.client("athena").get_query_execution(QueryExecutionId=result.query_execution_id)
    assert stored["QueryExecution"]["Status"]["State"] == "SUCCEEDED"


def test_ctrl_c_while_waiting_stops_the_query_in_athena(aws: Any, slow_athena: None) -> None:
    client = aws.client("athena")

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        athena.run_query(
            client,
            SQL,
            database="lambdafan_fleet",
            workgroup="primary",
            output_location=OUTPUT,
            sleep=interrupted,
        )
    (execution_id,) = client.list_query_executions()["QueryExecutionIds"]
    stored = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert stored["Status"]["State"] == "CANCELLED"


# --- documented responses, through botocore's Stubber ----------------------------------------


def column(name: str, kind: str) -> dict[str, Any]:
    """A ColumnInfo as Athena sends it."""
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": kind,
        "Precision": 0,
        "Scale": 0,
        "Nullable": "UNKNOWN",
        "CaseSensitive": kind == "varchar",
    }


def row(*values: str | None) -> dict[str, Any]:
    """A Row: a null is a Datum without VarCharValue."""
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


def page(cols: list[dict[str, Any]], rows: list[dict[str, Any]], token: str | None = None) -> Any:
    response: dict[str, Any] = {
        "UpdateCount": 0,
        "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": cols}},
    }
    if token:
        response["NextToken"] = token
    return response


def execution(
    state: str, scanned: int = 0, statement: str = "DML", **status: Any
) -> dict[str, Any]:
    """A GetQueryExecution response."""
    return {
        "QueryExecution": {
            "QueryExecutionId": "q-1",
            "Query": SQL,
            "StatementType": statement,
            "ResultConfiguration": {"OutputLocation": f"{OUTPUT}q-1.csv"},
            "QueryExecutionContext": {"Database": "lambdafan_fleet"},
            "Status": {"State": state, **status},
            "Statistics": {"DataScannedInBytes": scanned, "EngineExecutionTimeInMillis": 900},
            "WorkGroup": "primary",
        }
    }


def stubbed(responses: list[tuple[str, Any]]) -> tuple[Any, Stubber]:
    client = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": SQL,
            "QueryExecutionContext": {"Database": "lambdafan_fleet"},
            "WorkGroup": "primary",
            "ResultConfiguration": {"OutputLocation": OUTPUT},
        },
    )
    for method, response in responses:
        stub.add_response(method, response)
    stub.activate()
    return client, stub


def run(client: Any, **options: Any) -> athena.AthenaResult:
    return athena.run_query(
        client,
        SQL,
        database="lambdafan_fleet",
        workgroup="primary",
        output_location=OUTPUT,
        sleep=no_sleep,
        **options,
    )


TYPED = [
    column("account_id", "varchar"),
    column("instances", "bigint"),
    column("cores", "integer"),
    column("share", "double"),
    column("public", "boolean"),
    column("day", "date"),
    column("seen", "timestamp"),
    column("price", "decimal"),
    column("tags", "array"),
    column("labels", "map"),
    column("placement", "row"),
]


def test_select_results_typed_with_the_header_skipped_over_several_pages() -> None:
    header = row(*(c["Name"] for c in TYPED))
    first = row(
        "111111111111",
        "3",
        "2",
        "0.75",
        "true",
        "2026-11-27",
        "2026-11-27 19:22:31.123",
        "0.0116",
        "[a, b]",
        "{env=prod}",
        "{zone=us-east-1a, tenancy=default}",
    )
    nulls = row("222222222222", None, None, None, None, None, None, None, None, None, None)
    last = row("333333333333", "9007199254740993", "-1", "NaN", "false", *([None] * 6))
    client, stub = stubbed(
        [
            ("get_query_execution", execution("RUNNING", scanned=1024)),
            ("get_query_execution", execution("SUCCEEDED", scanned=50 * 1024**2)),
            ("get_query_results", page(TYPED, [header, first], token="t1")),
            ("get_query_results", page(TYPED, [nulls], token="t2")),
            ("get_query_results", page(TYPED, [last])),
        ]
    )
    result = run(client)
    assert result.columns[:2] == [
        AthenaColumn("account_id", "varchar"),
        AthenaColumn("instances", "bigint"),
    ]
    assert result.scanned_bytes == 50 * 1024**2
    assert result.cost_usd == Decimal(5) * 50 / 1024**2
    rows = list(result.rows)
    stub.assert_no_pending_responses()
    assert len(rows) == 3  # the header is not a row
    assert rows[0] == {
        "account_id": "111111111111",
        "instances": 3,
        "cores": 2,
        "share": 0.75,
        "public": True,
        "day": dt.date(2026, 11, 27),
        "seen": dt.datetime(2026, 11, 27, 19, 22, 31, 123000),
        "price": Decimal("0.0116"),
        "tags": "[a, b]",
        "labels": "{env=prod}",
        "placement": "{zone=us-east-1a, tenancy=default}",
    }
    assert rows[1] == {"account_id": "222222222222"} | {c["Name"]: None for c in TYPED[1:]}
    assert rows[2]["instances"] == 9007199254740993  # a bigint beyond a float's precision
    assert rows[2]["share"] != rows[2]["share"]  # NaN
    assert rows[2]["public"] is False


def test_rows_are_read_lazily_page_by_page() -> None:
    cols = [column("n", "integer")]
    client, stub = stubbed(
        [
            ("get_query_execution", execution("SUCCEEDED")),
            ("get_query_results", page(cols, [row("n"), row("1")], token="t1")),
            ("get_query_results", page(cols, [row("2")])),
        ]
    )
    result = run(client)
    rows = iter(result.rows)
    assert next(rows) == {"n": 1}
    # The second page is still unread: nothing is fetched before the rows are asked for.
    with pytest.raises(AssertionError):
        stub.assert_no_pending_responses()
    assert list(rows) == [{"n": 2}]
    stub.assert_no_pending_responses()


def test_utility_statements_have_no_header_row() -> None:
    cols = [column("tab_name", "string")]
    client, _ = stubbed(
        [
            ("get_query_execution", execution("SUCCEEDED", statement="UTILITY")),
            ("get_query_results", page(cols, [row("ec2_instances"), row("iam_users")])),
        ]
    )
    assert [r["tab_name"] for r in run(client).rows] == ["ec2_instances", "iam_users"]


def test_a_value_that_does_not_parse_as_its_type_stays_a_string() -> None:
    assert athena.value("timestamp", {"VarCharValue": "2026-11-27 19:22:31.123 UTC"}) == (
        "2026-11-27 19:22:31.123 UTC"
    )
    assert athena.value("decimal(10,2)", {"VarCharValue": "12.50"}) == Decimal("12.50")
    assert athena.value("timestamp", {"VarCharValue": "2026-11-27 19:22:31.123456789"}) == (
        dt.datetime(2026, 11, 27, 19, 22, 31, 123456)
    )
    assert athena.value("varchar", {"VarCharValue": ""}) == ""
    assert athena.value("varchar", {}) is None


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (
            {
                "StateChangeReason": "line 1:8: mismatched input 'fro'. Expecting: ',', 'FROM'",
                "AthenaError": {"ErrorCategory": 2, "ErrorType": 1000, "Retryable": False},
            },
            UsageError,
            EXIT_USAGE,
        ),
        # No AthenaError: the reason alone says it is the SQL.
        ({"StateChangeReason": "SYNTAX_ERROR: line 1:15: Table x does not exist"}, UsageError, 2),
        (
            {
                "StateChangeReason": "Query exhausted resources at this scale factor\n(retry)",
                "AthenaError": {"ErrorCategory": 1, "ErrorType": 0, "Retryable": True},
            },
            LambdafanError,
            EXIT_FAILURE,
        ),
    ],
)
def test_a_failed_query_is_one_line_with_athenas_reason(
    status: dict[str, Any], kind: type[Exception], code: int
) -> None:
    client, _ = stubbed([("get_query_execution", execution("FAILED", **status))])
    with pytest.raises(LambdafanError) as caught:
        run(client)
    assert type(caught.value) is kind
    assert caught.value.exit_code == code
    message = str(caught.value)
    assert message.startswith("Athena query failed: ")
    assert " ".join(status["StateChangeReason"].split()) in message
    assert "\n" not in message


def test_a_query_cancelled_elsewhere_is_a_failure() -> None:
    reason = "Query cancelled: bytes scanned limit was exceeded"
    client, _ = stubbed([("get_query_execution", execution("CANCELLED", StateChangeReason=reason))])
    with pytest.raises(LambdafanError) as caught:
        run(client)
    assert type(caught.value) is LambdafanError
    assert str(caught.value) == f"Athena query cancelled: {reason}"


def test_athena_refusing_the_request_is_a_usage_error() -> None:
    client = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error(
        "start_query_execution", "InvalidRequestException", "WorkGroup nope is not found."
    )
    stub.activate()
    with pytest.raises(UsageError, match="Athena refused the query: WorkGroup nope is not found"):
        run(client)


@pytest.mark.parametrize(
    ("scanned", "billed_mb"),
    [(0, 10), (10 * 1024**2, 10), (10 * 1024**2 + 1, 11), (1024**4, 1024**2)],
)
def test_cost_rounds_up_to_a_megabyte_with_a_10_mb_minimum(scanned: int, billed_mb: int) -> None:
    assert athena.query_cost(scanned) == Decimal(5) * billed_mb / 1024**2
    assert athena.query_cost(scanned, "DDL") == 0
