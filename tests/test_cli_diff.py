"""`lambdafan results --diff` end to end: the CLI in this process against moto's server, on two
runs written to the fleet's table; the scripts' KEY read from the configured scripts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from lambda_src import status
from tests.conftest import cli
from tests.test_cli_results import create_fleet_table, json_lines, one_line_error
from tests.test_cli_run import A, write_config
from tests.test_run_diff import FIRST, R1, R2, R3, SECOND, inst, write_run


@pytest.fixture
def config(server: str, tmp_path: Path) -> Path:
    """A fleet running `inventory` (KEY instance_id) and `buckets` (no KEY), with three runs:
    R1 and R2 complete, R3 interrupted."""
    store = create_fleet_table()
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    write_run(
        store, R3, {A: {("inventory", "us-east-1"): [inst("i-9")]}}, run_status=status.INTERRUPTED
    )
    return write_config(tmp_path, ["inventory", "buckets"])


def test_diff_table_of_the_latest_run_against_the_previous_complete_one(config: Path) -> None:
    done = cli("results", "-c", str(config), "--diff", "--run", R2)

    assert done.returncode == 0, done.stderr
    assert f"run {R2} against run {R1}" in done.stderr
    assert "inventory: 2 added, 1 removed, 1 changed" in done.stdout
    assert "buckets: 1 added, 1 removed, 0 changed" in done.stdout
    assert '{"instance_id":"i-2"}' in done.stdout and "prod" in done.stdout

    latest = cli("results", "-c", str(config), "--diff")  # R3, against R2 (the last complete)
    assert latest.returncode == 0, latest.stderr
    assert f"run {R3} against run {R2}" in latest.stderr


def test_diff_as_json_json_lines_and_csv(config: Path) -> None:
    as_json = cli("results", "-c", str(config), "--diff", "--run", R2, "--format", "json")
    as_jsonl = cli("results", "-c", str(config), "--diff", "--run", R2, "--format", "jsonl")

    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)  # one document: an array of rows
    assert json_lines(as_jsonl.stdout) == rows
    inventory = [r for r in rows if r["script"] == "inventory"]
    assert {(r["kind"], r["record"]["instance_id"]) for r in inventory} == {
        ("added", "i-4"),
        ("added", "i-5"),
        ("removed", "i-3"),
        ("changed", "i-2"),
    }
    assert {(r["added"], r["removed"], r["changed"], r["against"]) for r in inventory} == {
        (2, 1, 1, R1)
    }

    as_csv = cli(
        "results", "-c", str(config), "--diff", "--run", R2, "--against", R1, "--format", "csv"
    )
    assert as_csv.returncode == 0, as_csv.stderr
    back = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["kind"] for r in back if r["script"] == "inventory"] == [
        "added",
        "added",
        "removed",
        "changed",
    ]
    assert {r["record"] for r in back if r["kind"] == "removed" and r["script"] == "inventory"} == {
        '{"instance_id":"i-3"}'
    }


def test_the_first_run_is_all_new(config: Path) -> None:
    done = cli("results", "-c", str(config), "--diff", "--run", R1, "--format", "jsonl")

    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert {r["kind"] for r in rows} == {"added"} and {r["against"] for r in rows} == {None}
    assert {(r["script"], r["added"]) for r in rows} == {("inventory", 5), ("buckets", 2)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--against", R1], "--against names the run to compare with: use it with --diff"),
        (["--diff", "--errors"], "--diff compares whole runs: drop --errors"),
        (
            ["--diff", "--in-region", "us-east-1", "--columns", "a"],
            "--diff compares whole runs: drop --in-region, --columns",
        ),
        (
            ["--diff", "--format", "html"],
            "--diff prints table, json, jsonl or csv (html shows one run's records)",
        ),
        (["--diff", "--run", "20990101T000000Z-none"], "run 20990101T000000Z-none not found"),
        (["--diff", "--against", "nope#1"], "run id 'nope#1' is not valid in a table key"),
    ],
)
def test_usage_errors_are_one_line_exit_2(config: Path, args: list[str], message: str) -> None:
    done = cli("results", "-c", str(config), *args)

    assert done.returncode == 2
    assert one_line_error(done) == f"error: {message}"


def test_diff_tables_keep_account_names_and_ids_whole_at_80_columns() -> None:
    from rich.console import Console

    from lambda_src.run_report import ChangeExample, ScriptChanges
    from lambdafan.render.diff import _script_table

    example = ChangeExample(
        kind="changed",
        account_id=A,
        account_name="production-payments-eu",
        region="ap-southeast-2",
        text=json.dumps(
            {"arn": f"arn:aws:ec2:us-east-1:{A}:instance/i-0d090d87522d00001"},
            separators=(",", ":"),
        ),
    )
    console = Console(width=80, color_system=None, file=io.StringIO(), record=True)
    console.print(_script_table(ScriptChanges("ec2_instances", changed=1, examples=(example,))))
    text = console.export_text()
    assert "production-payments-eu" in text and A in text and "ap-southeast-2" in text
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    assert "".join(line[53:].strip() for line in text.splitlines()[4:]) == example.text
