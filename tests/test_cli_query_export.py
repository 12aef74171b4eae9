"""`lambdafan query` over the S3 export: `--from s3` (DuckDB over the run's objects, downloaded
with boto3) and `--engine athena` (the request read back from moto's server, which runs no SQL:
the result rows are moto's seeded ones, in Athena's documented shape)."""

from __future__ import annotations

import gzip
import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src import names
from tests.conftest import cli
from tests.test_cli_results import create_fleet_table, json_lines, one_line_error
from tests.test_cli_run import A, B, write_config
from tests.test_run_diff import FIRST, R1, R2, SECOND, USE1, inst, write_run

pytest.importorskip("duckdb")

ACCOUNT = "123456789012"  # moto's
BUCKET = names.export_bucket_name("e2e", ACCOUNT, "us-east-1")


def put_pair(
    s3: Any, run_id: str, script: str, account: str, records: list[dict[str, Any]]
) -> None:
    """A pair's object as a Worker writes it: gzipped JSON Lines with the origin columns."""
    origin = {"run_id": run_id, "account_id": account, "account_name": "prod", "region": USE1}
    lines = "".join(json.dumps({**origin, "script": script, **r}) + "\n" for r in records)
    key = names.export_key("e2e", run_id, script, account, USE1)
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(lines.encode()))


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
    # A script with no objects still has its view, with its fields from the table.
    buckets = cli("query", "-c", str(exported), "--from", "s3", "select name from buckets")
    assert buckets.returncode == 0, buckets.stderr


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

    monkeypatch.setattr(athena, "run_query", interrupted)
    done = cli("query", "-c", str(exported), "--engine", "athena", "select 1")
    assert done.returncode == 130
    assert "cancelled in Athena too" in done.stderr
