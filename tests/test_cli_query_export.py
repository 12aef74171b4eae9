"""`lambdafan query` over the S3 export: `--from s3` (DuckDB over the run's objects, downloaded
with boto3) and `--engine athena` (the request read back from moto's server, which runs no SQL:
the result rows are moto's seeded ones, in Athena's documented shape)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src import names, table
from lambda_src.s3_export import S3Export
from tests.conftest import cli
from tests.test_cli_results import create_fleet_table, json_lines, one_line_error
from tests.test_cli_run import A, B, write_config
from tests.test_run_diff import EXPIRES, FIRST, GLOBAL, R1, R2, SECOND, USE1, inst, write_run

pytest.importorskip("duckdb")

ACCOUNT = "123456789012"  # moto's
BUCKET = names.export_bucket_name("e2e", ACCOUNT, "us-east-1")


def put_pair(
    s3: Any,
    run_id: str,
    script: str,
    account: str,
    records: list[dict[str, Any]],
    attempt: str = "a1",  # the attempt tests.test_run_diff.write_run's done items name
) -> None:
    """A pair's object as a Worker writes it, with lambda_src's export of its record items."""
    with S3Export(s3, BUCKET, "e2e", run_id, account, attempt) as export:
        seen: dict[str, int] = {}
        for record in records:
            export.add(
                table.record_item(
                    run_id,
                    account,
                    "prod",
                    script,
                    USE1,
                    record,
                    collected_at="2026-01-01T00:00:00+00:00",
                    expires_at=EXPIRES,
                    seen=seen,
                    attempt=attempt,
                )
            )
        export.finish(script, USE1)
        assert export.close() == {}


@pytest.fixture
def exported(server: str, tmp_path: Path) -> Path:
    """Two runs in the table's runs index, their records in the export bucket too; the S3
    objects differ from the table's (i-s3), so a test tells which was read."""
    store = create_fleet_table()
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    put_pair(s3, R1, "inventory", A, [inst("i-1"), inst("i-s3")])
    put_pair(s3, R2, "inventory", A, [inst("i-1"), inst("i-s3"), inst("i-new")])
    put_pair(s3, R2, "inventory", B, [inst("i-b")])
    # R2's buckets pair found nothing in the export: the empty object a Worker PUTs then.
    with S3Export(s3, BUCKET, "e2e", R2, A, "a1") as nothing:
        nothing.finish("buckets", GLOBAL)
        assert nothing.close() == {}
    return write_config(tmp_path, ["inventory", "buckets"], results={"export": "s3"})


def test_duckdb_over_the_s3_objects(exported: Path) -> None:
    done = cli(
        "query",
        "-c",
        str(exported),
        "--from",
        "s3",
        "--runs",
        "2",
        f"select account_id, instance_id from inventory where run_id = '{R2}' "
        f"except select account_id, instance_id from inventory where run_id = '{R1}'",
        "--format",
        "jsonl",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json_lines(done.stdout), key=str) == [
        {"account_id": B, "instance_id": "i-b"},
        {"account_id": A, "instance_id": "i-new"},
    ]


def test_a_script_whose_objects_are_empty_has_an_empty_view_with_its_earlier_fields(
    exported: Path,
) -> None:
    """R2's buckets object holds no records: the view is R1's columns (from the table), empty,
    not one `json` column over an empty file."""
    buckets = cli("query", "-c", str(exported), "--from", "s3", "select name, public from buckets")
    assert buckets.returncode == 0, buckets.stderr
    assert buckets.stdout.count("│") == 0 and "0 rows" in buckets.stdout
    assert "buckets has no records in the runs loaded: its view is empty" in buckets.stderr
    schema = cli("query", "-c", str(exported), "--from", "s3", "--schema", "--format", "jsonl")
    assert schema.returncode == 0, schema.stderr
    columns = [
        (r["column"], r["type"]) for r in json_lines(schema.stdout) if r["view"] == "buckets"
    ]
    assert columns == [
        ("run_id", "VARCHAR"),
        ("account_id", "VARCHAR"),
        ("account_name", "VARCHAR"),
        ("region", "VARCHAR"),
        ("script", "VARCHAR"),
        ("name", "VARCHAR"),
        ("public", "BOOLEAN"),
    ]


def test_from_s3_needs_the_export(server: str, tmp_path: Path) -> None:
    create_fleet_table()
    config = write_config(tmp_path, ["inventory"])
    done = cli("query", "-c", str(config), "--from", "s3", "select 1")
    assert done.returncode == 2
    assert "results.export: s3" in one_line_error(done)


def seed_athena_result(server: str, rows: list[list[str]], types: list[str]) -> None:
    """What moto's next GetQueryResults returns (moto runs no SQL): a header row, then rows."""
    info = [
        {"Name": name, "Label": name, "Type": kind, "Nullable": "UNKNOWN"}
        for name, kind in zip(rows[0], types, strict=True)
    ]
    body = {
        "account_id": ACCOUNT,
        "region": "us-east-1",
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
                "column_info": info,
            }
        ],
    }
    request = urllib.request.Request(
        f"{server}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_athena_gets_the_sql_in_the_fleets_database_and_workgroup(
    exported: Path, server: str
) -> None:
    seed_athena_result(server, [["account_id", "n"], [A, "3"], [B, "1"]], ["varchar", "bigint"])
    sql = f"select account_id, count(*) as n from inventory where run = '{R2}' group by 1"

    done = cli("query", "-c", str(exported), "--engine", "athena", sql, "--format", "jsonl")

    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"account_id": A, "n": 3}, {"account_id": B, "n": 1}]
    assert "Athena scanned" in done.stderr and "$" in done.stderr
    athena = boto3.client("athena", region_name="us-east-1")
    (execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
    stored = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert stored["Query"] == sql
    assert stored["WorkGroup"] == "primary"
    assert stored["QueryExecutionContext"] == {"Database": "lambdafan_e2e"}
    output = stored["ResultConfiguration"]["OutputLocation"]
    assert output.startswith(f"s3://{BUCKET}/athena-results/")


def test_athena_options_that_do_not_apply(exported: Path) -> None:
    for args, named in [
        (["--run", R1, "select 1"], "--run"),
        (["--runs", "2", "select 1"], "--runs"),
        (["--schema"], "--schema"),
        (["--from", "s3", "select 1"], "--from"),
    ]:
        done = cli("query", "-c", str(exported), "--engine", "athena", *args)
        assert done.returncode == 2, done.stderr
        line = one_line_error(done)
        assert f"drop {named}" in line and "where run = " in line


def test_athena_needs_the_export(server: str, tmp_path: Path) -> None:
    create_fleet_table()
    config = write_config(tmp_path, ["inventory"])
    done = cli("query", "-c", str(config), "--engine", "athena", "select 1")
    assert done.returncode == 2
    assert "results.export: s3" in one_line_error(done)


def test_ctrl_c_while_athena_runs_says_the_query_is_cancelled(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdafan.query import athena

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(athena, "wait", interrupted)  # Ctrl-C while it polls
    done = cli("query", "-c", str(exported), "--engine", "athena", "select 1")
    assert done.returncode == 130
    assert "stopped (the query is cancelled in Athena too)" in done.stderr
    client = boto3.client("athena", region_name="us-east-1")
    (execution_id,) = client.list_query_executions()["QueryExecutionIds"]
    execution = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Status"]["State"] == "CANCELLED"


def test_ctrl_c_when_no_athena_query_runs_says_only_stopped(
    exported: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdafan.query import athena

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    def rows_then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        yield {"n": "1"}
        raise KeyboardInterrupt

    # Before the query started, and while its result prints (it has succeeded).
    for name, stand_in in [("start_query", interrupted), ("result_rows", rows_then_ctrl_c)]:
        with monkeypatch.context() as patched:
            patched.setattr(athena, name, stand_in)
            seed_athena_result(server, [["n"], ["1"]], ["bigint"])
            done = cli("query", "-c", str(exported), "--engine", "athena", "select 1")
        assert done.returncode == 130, (name, done.stderr)
        assert done.stderr.splitlines()[-1] == "stopped", (name, done.stderr)
        assert "Athena too" not in done.stderr, name


def test_the_downloads_client_has_a_connection_for_each_thread(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer connections than threads: urllib3 warns "Connection pool is full" on stderr."""
    from lambdafan.query import s3_records

    pools: list[int] = []
    download = s3_records.download_run

    def watched(s3: Any, *args: Any, **kwargs: Any) -> Any:
        pools.append(s3.meta.config.max_pool_connections)
        return download(s3, *args, **kwargs)

    monkeypatch.setattr(s3_records, "download_run", watched)
    done = cli("query", "-c", str(exported), "--from", "s3", "--runs", "2", "select 1")
    assert done.returncode == 0, done.stderr
    assert pools and all(pool >= s3_records.THREADS for pool in pools), pools


def test_a_duplicate_workers_object_is_not_read(exported: Path) -> None:
    """B's Worker ran twice at once: the object left is the attempt's its done item does not
    name (a1), so B's records are not read; A's, of a1, are."""
    s3 = boto3.client("s3", region_name="us-east-1")
    put_pair(s3, R2, "inventory", B, [inst("i-b"), inst("i-dup")], attempt="a0")

    done = cli(
        "query",
        "-c",
        str(exported),
        "--from",
        "s3",
        "select account_id, count(*) as n from inventory group by 1",
        "--format",
        "jsonl",
    )

    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"account_id": A, "n": 3}]


def test_a_corrupt_object_is_exit_1(exported: Path) -> None:
    """Not the SQL's fault (exit 2): the data's, with the object's key parts in the line."""
    s3 = boto3.client("s3", region_name="us-east-1")
    key = names.export_key("e2e", R2, "inventory", B, USE1)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not gzip: a writer cut short" * 4)

    corrupt = cli("query", "-c", str(exported), "--from", "s3", "select count(*) from inventory")

    assert corrupt.returncode == 1, corrupt.stderr
    line = one_line_error(corrupt)
    assert "IO Error" in line and f"run={R2}/script=inventory/account={B}" in line, line


def test_a_run_with_records_and_no_objects_is_said(exported: Path) -> None:
    # R1 ran before the export was on (or its objects expired): its records are not in S3.
    s3 = boto3.client("s3", region_name="us-east-1")
    for listed in s3.list_objects_v2(Bucket=BUCKET, Prefix=names.export_prefix("e2e", R1))[
        "Contents"
    ]:
        s3.delete_object(Bucket=BUCKET, Key=listed["Key"])
    # The run item's count, as the Workers' done accounts add it up (write_run leaves it out).
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName="e2e-results",
        Key={"pk": {"S": names.run_pk(R1)}, "sk": {"S": names.RUN_SK}},
        UpdateExpression="SET records = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    done = cli("query", "-c", str(exported), "--from", "s3", "--runs", "2", "select 1 as one")
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 1 and warned[0].startswith(f"warning: run {R1} has ")
    assert warned[0] == (
        f"warning: run {R1} has 2 records in the table and none in {BUCKET} (it ran before "
        "results.export: s3, or its objects expired): without --from s3, query reads the table"
    )


def test_athena_without_a_result_set_says_so(exported: Path) -> None:
    # moto's Athena runs no SQL: unseeded, a query has no columns, as a DDL statement has none.
    done = cli("query", "-c", str(exported), "--engine", "athena", "select 1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "Athena returned no result set (a statement like CREATE or DROP has none)" in done.stderr
    athena = ["--engine", "athena", "select 1"]
    as_json = cli("query", "-c", str(exported), *athena, "--format", "json")
    assert json.loads(as_json.stdout) == []  # still one JSON document for a pipe
