"""`lambdafan query` end to end: the CLI in this process against moto's server, on a local run of
the test scripts and on runs written to the fleet's table with lambda_src's item builders."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src import names, runs, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import ItemStore
from tests.conftest import assumed, cli
from tests.test_cli_results import TABLE, create_fleet_table, json_lines, one_line_error
from tests.test_cli_run import A, B, write_config
from tests.test_run_diff import EUW1, FIRST, R1, R2, R3, SECOND, USE1, Found, inst, write_run

pytest.importorskip("duckdb")


@pytest.fixture
def finished_run(server: str, tmp_path: Path) -> tuple[Path, str]:
    """A config and the id of a finished local run of whoami + fails_in_eu."""
    store = create_fleet_table()
    config = write_config(tmp_path, ["whoami", "fails_in_eu"])
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 1, done.stderr  # fails_in_eu fails in eu-west-1, by design
    run = table.latest_run(store)
    assert run is not None
    return config, str(run["run_id"])


def query(config: Path, *args: str) -> list[dict[str, Any]]:
    done = cli("query", "-c", str(config), *args, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return json_lines(done.stdout)


def test_counts_per_account_equal_those_of_results(finished_run: tuple[Path, str]) -> None:
    config, run_id = finished_run
    for script in ("whoami", "fails_in_eu"):
        shown = cli("results", "-c", str(config), "--script", script, "--format", "jsonl")
        assert shown.returncode == 0, shown.stderr
        expected = Counter(row["account_id"] for row in json_lines(shown.stdout))
        assert len(expected) == 2 and sum(expected.values()) > 2

        rows = query(config, f"select account_id, count(*) as n from {script} group by 1")

        assert {row["account_id"]: row["n"] for row in rows} == expected
    # The records view holds every script's records, each of the run.
    rows = query(config, "select script, run_id, count(*) as n from records group by all")
    assert {(r["script"], r["run_id"]) for r in rows} == {
        ("whoami", run_id),
        ("fails_in_eu", run_id),
    }


def test_a_view_holds_what_results_shows(finished_run: tuple[Path, str]) -> None:
    config, run_id = finished_run
    shown = cli("results", "-c", str(config), "--script", "whoami", "--format", "jsonl")
    expected = sorted(
        json.dumps({**r, "run_id": run_id}, sort_keys=True) for r in json_lines(shown.stdout)
    )

    rows = query(config, "select * from whoami")

    assert sorted(json.dumps(r, sort_keys=True) for r in rows) == expected


@pytest.fixture
def three_runs(server: str, tmp_path: Path) -> tuple[Path, ItemStore]:
    """R1 and R2 of inventory (R2 launched i-4 and i-5, stopped i-2, dropped i-3) and buckets;
    R3: inventory only, with nested fields."""
    store = create_fleet_table()
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    nested: Found = {
        A: {
            ("inventory", USE1): [
                {**inst("i-1"), "tags": {"team": "web", "env": "prod"}, "ports": [22, 443]},
                {**inst("i-7"), "tags": {"team": "data"}, "ports": []},
            ]
        }
    }
    write_run(store, R3, nested)
    return write_config(tmp_path, ["inventory", "buckets", "whoami"]), store


def test_two_runs_side_by_side_except_finds_exactly_the_new_instances(
    three_runs: tuple[Path, ItemStore],
) -> None:
    config, _ = three_runs
    rows = query(
        config,
        "--run",
        R2,
        "--runs",
        "2",
        f"select account_id, instance_id from inventory where run_id = '{R2}' "
        f"except select account_id, instance_id from inventory where run_id = '{R1}' "
        "order by 2",
    )
    assert rows == [
        {"account_id": A, "instance_id": "i-4"},
        {"account_id": A, "instance_id": "i-5"},
    ]
    counts = query(
        config,
        "--run",
        R2,
        "--runs",
        "2",
        "select run_id, count(*) as n from inventory group by 1 order by 1",
    )
    assert counts == [{"run_id": R1, "n": 5}, {"run_id": R2, "n": 6}]


def test_one_more_run_than_the_table_holds_loads_those_there_are(
    three_runs: tuple[Path, ItemStore],
) -> None:
    config, _ = three_runs
    done = cli(
        "query",
        "-c",
        str(config),
        "--run",
        R2,
        "--runs",
        "5",
        "select distinct run_id from inventory order by 1",
        "--format",
        "jsonl",
    )
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout) == [{"run_id": R1}, {"run_id": R2}]
    assert "the table holds 2 runs up to" in done.stderr


def test_nested_fields_are_structs_and_lists(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    rows = query(
        config,
        "select instance_id, tags.team as team, ports[1] as first_port, len(ports) as n "
        "from inventory order by 1",
    )
    assert rows == [
        {"instance_id": "i-1", "team": "web", "first_port": 22, "n": 2},
        {"instance_id": "i-7", "team": "data", "first_port": None, "n": 0},
    ]
    # The records view keeps each record as JSON, its nested values too.
    rows = query(config, "select record->'tags'->>'team' as team, record from records order by 1")
    assert [r["team"] for r in rows] == ["data", "web"]
    assert rows[1]["record"] == {
        "instance_id": "i-1",
        "state": "running",
        "cpus": 2,
        "tags": {"team": "web", "env": "prod"},
        "ports": [22, 443],
    }


def test_a_script_without_records_has_an_empty_view_with_its_earlier_fields(
    three_runs: tuple[Path, ItemStore],
) -> None:
    config, _ = three_runs
    done = cli("query", "-c", str(config), "select name, public from buckets", "--format", "jsonl")

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "buckets has no records in the runs loaded: its view is empty" in done.stderr
    schema = query(config, "--schema")
    assert {(r["column"], r["type"]) for r in schema if r["view"] == "buckets"} >= {
        ("name", "VARCHAR"),
        ("public", "BOOLEAN"),
        ("run_id", "VARCHAR"),
    }


def test_a_script_never_seen_is_a_clear_message(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    done = cli("query", "-c", str(config), "select * from whoami")

    assert done.returncode == 2
    line = one_line_error(done)
    assert "whoami has no records in run" in line and "fields are not known" in line


def test_schema_lists_the_views_and_their_columns(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    rows = query(config, "--run", R2, "--schema")
    views: dict[str, list[str]] = {}
    for row in rows:
        views.setdefault(row["view"], []).append(row["column"])
    assert list(views)[-1] == "records"
    assert views["records"] == [
        "run_id",
        "account_id",
        "account_name",
        "region",
        "script",
        "record",
    ]
    assert views["inventory"] == [
        "run_id",
        "account_id",
        "account_name",
        "region",
        "script",
        "instance_id",
        "state",
        "cpus",
    ]
    assert "whoami" not in views  # never had records: no fields to show

    table_view = cli("query", "-c", str(config), "--run", R2, "--schema")
    assert table_view.returncode == 0, table_view.stderr
    assert "inventory" in table_view.stdout and "instance_id" in table_view.stdout
    assert "records (every script)" in table_view.stdout


def test_bad_sql_is_one_line_and_exit_2(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    for sql, words in [
        ("selec 1", "Parser Error"),
        ("select nope from inventory", "Binder Error"),
        ("select * from no_such_view", "Catalog Error"),
        ("select cast(state as integer) from inventory", "Conversion Error"),
    ]:
        done = cli("query", "-c", str(config), sql)
        assert done.returncode == 2, (sql, done.stdout, done.stderr)
        line = one_line_error(done)
        assert line.startswith("error: ") and words in line, line


def test_sql_or_schema_one_of_the_two(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    for args, said in [
        ([], "error: give SQL to run, or --schema to list the views"),
        (
            ["select 1", "--schema"],
            "error: give SQL to run or --schema to list the views, not both",
        ),
    ]:
        done = cli("query", "-c", str(config), *args)
        assert done.returncode == 2
        assert one_line_error(done) == said


def test_formats(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    sql = "select account_name, instance_id, tags from inventory order by 2"
    expected = [
        {"account_name": "prod", "instance_id": "i-1", "tags": {"team": "web", "env": "prod"}},
        {"account_name": "prod", "instance_id": "i-7", "tags": {"team": "data", "env": None}},
    ]
    as_json = cli("query", "-c", str(config), sql, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == expected
    assert query(config, sql) == expected

    as_csv = cli("query", "-c", str(config), sql, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["account_name", "instance_id", "tags"],
        ["prod", "i-1", '{"team": "web", "env": "prod"}'],
        ["prod", "i-7", '{"team": "data", "env": null}'],
    ]

    as_table = cli("query", "-c", str(config), sql)
    assert as_table.returncode == 0, as_table.stderr
    assert "2 rows" in as_table.stdout and "i-7" in as_table.stdout
    assert "account_name" in as_table.stdout or "account" in as_table.stdout
    assert R3 in as_table.stderr  # which run: the latest, since none was named
    numbers = cli("query", "-c", str(config), "select instance_id, cpus from inventory")
    assert "│ i-1         │    2 │" in numbers.stdout  # numbers to the right
    many = cli("query", "-c", str(config), "select range as n from range(150)")
    assert "150 rows" in many.stdout and "… 50 more rows not shown" in many.stdout
    cells = [line.strip("│ ") for line in many.stdout.splitlines() if line.startswith("│")]
    assert cells == [str(n) for n in range(100)]


def test_without_duckdb_one_line_names_the_extra(
    three_runs: tuple[Path, ItemStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = three_runs
    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb raises ImportError

    done = cli("query", "-c", str(config), "select 1")

    assert done.returncode == 2
    assert "pip install 'lambdafan[query]'" in one_line_error(done)


def test_a_missing_run_is_exit_2(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    done = cli("query", "-c", str(config), "--run", "20990101T000000Z-zzzzzz", "select 1")
    assert done.returncode == 2
    assert "not found" in one_line_error(done)


def test_only_the_records_that_count_are_loaded(server: str, tmp_path: Path) -> None:
    """An account not done (its Worker never finished) and a stray attempt's records: out."""
    store = create_fleet_table()
    write_run(
        store,
        R1,
        {A: {("inventory", USE1): [inst("i-1")]}, B: {("inventory", EUW1): [inst("i-b")]}},
        not_done=[B],
    )
    config = write_config(tmp_path, ["inventory"])
    rows = query(config, "select account_id, instance_id from inventory")
    assert rows == [{"account_id": A, "instance_id": "i-1"}]


AMI = "ami-12c6146b"
EXPORT_BUCKET = names.export_bucket_name("e2e", "123456789012", "us-east-1")  # moto's account


def launch(account: str, region: str, team: str) -> str:
    """An EC2 instance in a member account (moto keeps each account's apart), tagged."""
    session = assumed(boto3.Session(region_name=region), account)
    ec2 = session.client("ec2", region_name=region)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": team}]}]
    done = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=tags)
    return str(done["Instances"][0]["InstanceId"])


def local_run(config: Path, after: str | None = None) -> str:
    """A `run --local` of the config's scripts; its run id (after run `after`: a later second,
    as run ids sort by their start time)."""
    while after is not None and runs.new_run_id(runs.utcnow())[:16] <= after[:16]:
        time.sleep(0.05)
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 0, done.stderr
    run = table.latest_run(DynamoStore(boto3.client("dynamodb", "us-east-1"), TABLE))
    assert run is not None and str(run["run_id"]) != after
    return str(run["run_id"])


@pytest.fixture
def two_exported_runs(server: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Two local runs of the built-in ec2_instances exporting to S3 (the Workers' own export),
    an instance launched in account A between them. Returns the config and the instances."""
    create_fleet_table()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=EXPORT_BUCKET)
    config = write_config(tmp_path, [], results={"export": "s3"})
    config.write_text(config.read_text().replace("scripts: []", "scripts: [ec2_instances]"))
    instances = {"web": launch(A, USE1, "web"), "data": launch(B, EUW1, "data")}
    first = local_run(config)
    instances["new"] = launch(A, USE1, "new")
    local_run(config, after=first)
    return config, instances


def test_the_s3_export_answers_as_the_table_does(
    two_exported_runs: tuple[Path, dict[str, str]],
) -> None:
    config, instances = two_exported_runs
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=EXPORT_BUCKET)
    # Each run's four pairs exported, those that found nothing as empty objects.
    assert listed["KeyCount"] == 8
    by_account = "select account_id, count(*) as n from ec2_instances group by 1 order by 1"
    nested = "select instance_id, tags.team as team from ec2_instances order by 2"
    answers = {
        source: [query(config, "--from", source, sql) for sql in (by_account, nested)]
        for source in ("table", "s3")
    }
    assert answers["s3"] == answers["table"]
    counts, teams = answers["s3"]
    assert counts == [{"account_id": B, "n": 1}, {"account_id": A, "n": 2}]
    assert teams == [
        {"instance_id": instances["data"], "team": "data"},
        {"instance_id": instances["new"], "team": "new"},
        {"instance_id": instances["web"], "team": "web"},
    ]
    shown = cli("results", "-c", str(config), "--script", "ec2_instances", "--format", "jsonl")
    assert Counter(r["account_id"] for r in json_lines(shown.stdout)) == {A: 2, B: 1}


def test_two_runs_except_finds_exactly_the_instance_launched_between_them(
    two_exported_runs: tuple[Path, dict[str, str]],
) -> None:
    config, instances = two_exported_runs
    sql = (
        "select account_id, region, instance_id from ec2_instances "
        "where run_id = (select max(run_id) from ec2_instances) "
        "except select account_id, region, instance_id from ec2_instances "
        "where run_id = (select min(run_id) from ec2_instances)"
    )
    for source in ("table", "s3"):
        rows = query(config, "--runs", "2", "--from", source, sql)
        assert rows == [{"account_id": A, "region": USE1, "instance_id": instances["new"]}]


CLASHING = """
def collect(session, region, account):
    yield {"bucket": "b1", "region": "ap-south-1", "script": "mine", "account": "x", "run": 5}
"""


def test_fields_named_like_origin_columns_keep_their_view_in_both_sources(
    server: str, tmp_path: Path
) -> None:
    # A record's own `region` (a bucket's, say) took over the origin column: its records left
    # their script's view, and the S3 folders' run=/account= became columns of every view.
    create_fleet_table()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=EXPORT_BUCKET)
    script = tmp_path / "clashing.py"
    script.write_text(CLASHING)
    config = write_config(tmp_path, [], results={"export": "s3"})
    config.write_text(config.read_text().replace("scripts: []", f"scripts: [{script}]"))
    local_run(config)
    sql = (
        "select account_id, region, script, record_region, record_script, account, record_run "
        "from clashing order by 1, 2"
    )
    answers = {source: query(config, "--from", source, sql) for source in ("table", "s3")}
    assert answers["s3"] == answers["table"]
    assert [(r["account_id"], r["region"], r["script"]) for r in answers["table"]] == [
        (B, EUW1, "clashing"), (B, USE1, "clashing"), (A, EUW1, "clashing"), (A, USE1, "clashing")
    ]  # fmt: skip
    assert {(r["record_region"], r["record_script"], r["account"], r["record_run"]) for r in
            answers["table"]} == {("ap-south-1", "mine", "x", 5)}  # fmt: skip
    shown = cli("results", "-c", str(config), "--format", "jsonl")
    assert {r["record_region"] for r in json_lines(shown.stdout)} == {"ap-south-1"}


def test_no_statement_is_one_line_and_exit_2(three_runs: tuple[Path, ItemStore]) -> None:
    config, _ = three_runs
    for sql in ("", " ", ";", "/* a comment */"):
        done = cli("query", "-c", str(config), sql)
        assert done.returncode == 2, (sql, done.stderr)
        assert one_line_error(done) in (
            "error: no SQL statement given: e.g. 'select count(*) from records'",
            "error: give SQL to run, or --schema to list the views",
        ), sql
