"""`lambdafan results` and `lambdafan runs` end to end: the CLI in this process against moto's
server; --follow in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import boto3
import pytest

from lambda_src import runs, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import table_definition
from tests.conftest import CliResult, cli
from tests.test_cli_run import A, B, write_config

TABLE = "e2e-results"  # the fleet `e2e` of write_config


def create_fleet_table() -> DynamoStore:
    """The table `lambdafan deploy` would have created for the fleet of write_config."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition(TABLE))
    return DynamoStore(client, TABLE)


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    """Rows comparable regardless of order."""
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON Lines output."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_line_error(done: CliResult) -> str:
    """The single stderr line of a failed command (asserting there is one, and no traceback)."""
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def finished_run(server: str, tmp_path: Path) -> tuple[Path, str, list[dict[str, Any]]]:
    """A config, the id of a finished local run of whoami + fails_in_eu, and its JSONL output."""
    store = create_fleet_table()
    config = write_config(tmp_path, ["whoami", "fails_in_eu"])
    out = tmp_path / "records.jsonl"
    done = cli("run", "--local", "-c", str(config), "--output", str(out))
    assert done.returncode == 1, done.stderr  # fails_in_eu fails in eu-west-1, by design
    run = table.latest_run(store)
    assert run is not None
    return config, str(run["run_id"]), json_lines(out.read_text())


def test_results_of_one_account_as_table_json_and_csv(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, run_id, written = finished_run
    expected = [row for row in written if row["account_id"] == A]
    assert len(expected) == 5  # whoami in 2 regions, fails_in_eu 2 + 1

    shown = cli("results", "-c", str(config), "--account", A)
    assert shown.returncode == 0, shown.stderr
    assert "whoami (2 records)" in shown.stdout and "fails_in_eu (3 records)" in shown.stdout
    assert A in shown.stdout and B not in shown.stdout
    assert run_id in shown.stderr  # which run: the latest, since none was named

    as_json = cli("results", "-c", str(config), "--account", A, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert canonical(json_lines(as_json.stdout)) == canonical(expected)

    as_csv = cli("results", "-c", str(config), "--account", A, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    header = list(reader.fieldnames or [])
    assert header[:4] == ["account_id", "account_name", "region", "script"]
    assert set(header[4:]) == {k for row in expected for k in row} - set(header[:4])
    back = [{k: v for k, v in row.items() if v != ""} for row in reader]
    assert canonical(back) == canonical([_as_csv_cells(row) for row in expected])

    limited = cli("results", "-c", str(config), "--run", run_id, "--format", "json", "--limit", "2")
    assert limited.returncode == 0 and len(json_lines(limited.stdout)) == 2


def _as_csv_cells(row: dict[str, Any]) -> dict[str, str]:
    """What a record becomes in CSV: text as is, anything else as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items() if v is not None}


def test_results_narrowed_by_script_and_region(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, run_id, written = finished_run
    done = cli(
        "results",
        "-c",
        str(config),
        "--run",
        run_id,
        "--script",
        "fails_in_eu",
        "--region",
        "eu-west-1",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert canonical(json_lines(done.stdout)) == canonical(
        [r for r in written if (r["script"], r["region"]) == ("fails_in_eu", "eu-west-1")]
    )


def test_errors_of_a_run(finished_run: tuple[Path, str, list[dict[str, Any]]]) -> None:
    config, run_id, _ = finished_run
    shown = cli("results", "-c", str(config), "--errors")
    assert shown.returncode == 0, shown.stderr
    assert f"errors of run {run_id} (2)" in shown.stdout
    assert shown.stdout.count("RuntimeError") == 2 and "boom in eu-west-1" in shown.stdout
    assert A in shown.stdout and B in shown.stdout

    only_a = cli("results", "-c", str(config), "--errors", "--account", A, "--format", "json")
    assert only_a.returncode == 0, only_a.stderr
    [error] = json_lines(only_a.stdout)
    assert (error["account_id"], error["script"], error["region"], error["error_type"]) == (
        A,
        "fails_in_eu",
        "eu-west-1",
        "RuntimeError",
    )
    assert error["message"].startswith("boom in eu-west-1")

    none = cli("results", "-c", str(config), "--errors", "--script", "whoami")
    assert none.returncode == 0 and f"no errors in run {run_id}" in none.stdout


def test_runs_lists_the_run(finished_run: tuple[Path, str, list[dict[str, Any]]]) -> None:
    config, run_id, _ = finished_run
    shown = cli("runs", "-c", str(config))
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.splitlines() if run_id in line]
    # Two pairs failed: the run completed with failures, `failures` in the table (it used to
    # say `complete`); a local run tells no channel (`-`).
    assert "2/2" in line and " failures " in line and " 10 " in line
    assert line.rstrip().endswith(" -")

    as_json = cli("runs", "-c", str(config), "--format", "json")
    [run] = json_lines(as_json.stdout)
    assert (run["run_id"], run["status"], run["accounts_done"], run["errors"]) == (
        run_id,
        "complete with failures",
        2,
        2,
    )
    assert run["deliveries"] == {}


def test_bad_input_is_one_line_never_a_traceback(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, run_id, _ = finished_run
    unknown_run = cli("results", "-c", str(config), "--run", "20200101T000000Z-000000")
    assert unknown_run.returncode == 1
    assert one_line_error(unknown_run) == "error: run 20200101T000000Z-000000 not found"

    malformed = cli("results", "-c", str(config), "--account", "12345")
    assert malformed.returncode == 2
    assert "'12345' is not a 12-digit account id" in one_line_error(malformed)

    not_in_run = cli("results", "-c", str(config), "--account", "999999999999")
    assert not_in_run.returncode == 1
    assert one_line_error(not_in_run) == (
        f"error: account 999999999999 has no results in run {run_id}"
    )

    for command in (["results"], ["runs"]):
        bad_format = cli(*command, "-c", str(config), "--format", "xml")
        assert bad_format.returncode == 2
        assert "Traceback" not in bad_format.stderr and "'xml' is not one of" in bad_format.stderr

    csv_follow = cli("results", "-c", str(config), "--follow", "--format", "csv")
    assert csv_follow.returncode == 2 and "--follow prints table or json" in csv_follow.stderr


def test_missing_table_and_empty_table(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami"])
    for command in ("results", "runs"):
        done = cli(command, "-c", str(config))
        assert done.returncode == 1
        assert one_line_error(done) == (
            f"error: table {TABLE} not found: deploy the fleet first (lambdafan deploy) "
            "or run lambdafan run --local"
        )
    create_fleet_table()
    empty = cli("results", "-c", str(config))
    assert empty.returncode == 1
    assert one_line_error(empty) == (
        f"error: no runs in table {TABLE} yet: start one with lambdafan run --local"
    )
    no_runs = cli("runs", "-c", str(config))
    assert no_runs.returncode == 0 and "no runs yet" in no_runs.stdout


# --- --follow -----------------------------------------------------------------------------------

RUN_ID = "20260102T030405Z-f0110f"
NAMES = {A: "prod", B: "staging"}


def _running_run(store: DynamoStore) -> None:
    now = runs.utcnow()
    runs.start_run(
        store, RUN_ID, accounts=[A, B], scripts=["whoami"], trigger="test",
        now=now, ttl_days=1, worker_timeout_s=900,
    )  # fmt: skip
    _write_record(store, A, 1)


def _write_record(store: DynamoStore, account: str, n: int) -> None:
    now = runs.utcnow()
    store.put_items(
        [
            table.record_item(
                RUN_ID,
                account,
                NAMES[account],
                "whoami",
                "us-east-1",
                {"n": n},
                collected_at=runs.iso(now),
                expires_at=runs.expiry(now, 1),
                seen={},
                attempt="a1",
            )
        ]
    )


def _follow(config: Path, *extra: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """Start `results --follow` and a thread handing its stdout lines over as they come."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambdafan",
            "results",
            "-c",
            str(config),
            "--follow",
            "--run",
            RUN_ID,
            "--interval",
            "0.2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)

    assert process.stdout is not None
    threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
    return process, lines


# A process: the test writes records while the follower polls, and reads its stdout live.
def test_follow_prints_records_as_they_arrive_until_the_run_completes(
    server: str, tmp_path: Path
) -> None:
    store = create_fleet_table()
    config = write_config(tmp_path, ["whoami"])
    _running_run(store)
    process, lines = _follow(config, "--format", "json")
    try:
        first = json.loads(lines.get(timeout=30))
        _write_record(store, B, 2)  # after the first read: only a later poll can see it
        second = json.loads(lines.get(timeout=30))
        for account in (A, B):
            finished = runs.finish_account(
                store, RUN_ID, account, NAMES[account], records_by_script={"whoami": 1},
                errors=0, failed=False, attempt="a1", now=runs.utcnow(), ttl_days=1,
            )  # fmt: skip
        assert finished is runs.Finish.COMPLETED
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert [(first["account_id"], first["n"]), (second["account_id"], second["n"])] == [
        (A, 1),
        (B, 2),
    ]
    assert lines.empty()  # nothing printed twice
    assert f"following run {RUN_ID}" in stderr and "Traceback" not in stderr


# A process: Ctrl-C is a real SIGINT, and exit code 130 is what the shell sees.
def test_follow_in_table_format_and_ctrl_c(server: str, tmp_path: Path) -> None:
    store = create_fleet_table()
    config = write_config(tmp_path, ["whoami"])
    _running_run(store)
    process, lines = _follow(config)
    try:
        first = lines.get(timeout=30)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert first.startswith(f"prod ({A}) us-east-1 whoami") and '"n": 1' in first
    assert process.returncode == 130
    assert "Traceback" not in stderr and "stopped" in stderr
