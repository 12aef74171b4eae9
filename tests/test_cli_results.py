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
from lambdafan.cli.options import DEFAULT_ROWS
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
    assert canonical(json.loads(as_json.stdout)) == canonical(expected)  # one document

    as_jsonl = cli("results", "-c", str(config), "--account", A, "--format", "jsonl")
    assert as_jsonl.returncode == 0, as_jsonl.stderr
    assert canonical(json_lines(as_jsonl.stdout)) == canonical(expected)

    as_csv = cli("results", "-c", str(config), "--account", A, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    header = list(reader.fieldnames or [])
    assert header[:4] == ["account_id", "account_name", "region", "script"]
    assert set(header[4:]) == {k for row in expected for k in row} - set(header[:4])
    back = [{k: v for k, v in row.items() if v != ""} for row in reader]
    assert canonical(back) == canonical([_as_csv_cells(row) for row in expected])

    limited = cli("results", "-c", str(config), "--run", run_id, "--format", "json", "--limit", "2")
    assert limited.returncode == 0 and len(json.loads(limited.stdout)) == 2


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
        "--in-region",
        "eu-west-1",
        "--format",
        "jsonl",
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
    [error] = json.loads(only_a.stdout)
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
    [run] = json.loads(as_json.stdout)  # one document (the shared meaning of json)
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

    for shown in ([], ["--errors"], ["--format", "json"]):
        none = cli("results", "-c", str(config), *shown, "--limit", "0")  # a table of no rows
        assert none.returncode == 2
        assert one_line_error(none) == (
            "error: Invalid value for '--limit': must be greater than or equal to 1 "
            "(see lambdafan results --help)"
        )

    for streamless in ("csv", "json", "html"):
        follow = cli("results", "-c", str(config), "--follow", "--format", streamless)
        assert follow.returncode == 2
        assert one_line_error(follow) == (
            "error: --follow streams rows as they arrive: use --format jsonl or table "
            f"(for {streamless}, let the run finish and drop --follow)"
        )


def test_unknown_script_or_region_is_a_usage_error_naming_the_choices(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, _, written = finished_run
    nope = cli("results", "-c", str(config), "--script", "nope")
    assert nope.returncode == 2
    assert one_line_error(nope) == (
        "error: no script 'nope' in the fleet or the run (scripts: whoami, fails_in_eu)"
    )
    mars = cli("results", "-c", str(config), "--in-region", "mars-1")
    assert mars.returncode == 2
    assert one_line_error(mars) == (
        "error: the fleet does not run in 'mars-1' (regions: us-east-1, eu-west-1, global)"
    )
    errors = cli("results", "-c", str(config), "--errors", "--script", "nope", "--format", "json")
    assert errors.returncode == 2 and "no script 'nope'" in errors.stderr

    # The file name as written in the config names the script too.
    by_file = cli("results", "-c", str(config), "--script", "whoami.py", "--format", "jsonl")
    assert by_file.returncode == 0, by_file.stderr
    assert canonical(json_lines(by_file.stdout)) == canonical(
        [r for r in written if r["script"] == "whoami"]
    )
    # `global` is every fleet's: a valid filter, with no record here.
    none = cli("results", "-c", str(config), "--in-region", "global", "--format", "json")
    assert none.returncode == 0 and json.loads(none.stdout) == []


def test_every_region_fleet_accepts_any_aws_region(server: str, tmp_path: Path) -> None:
    create_fleet_table()
    config = write_config(tmp_path, ["whoami"], regions="all")
    assert cli("run", "--local", "-c", str(config), "--account", A).returncode in (0, 1)
    done = cli("results", "-c", str(config), "--in-region", "ap-southeast-2", "--format", "json")
    assert done.returncode == 0, done.stderr
    mars = cli("results", "-c", str(config), "--in-region", "mars-1")
    assert mars.returncode == 2 and "'mars-1' is not an AWS region" in one_line_error(mars)


def test_region_is_the_session_region_not_a_filter(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, _, written = finished_run
    done = cli("results", "-c", str(config), "--region", "eu-west-1", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    # Every record, from both regions: the table is read where the fleet lives.
    assert canonical(json_lines(done.stdout)) == canonical(written)
    before = cli("--region", "eu-west-1", "results", "-c", str(config), "--format", "jsonl")
    assert before.returncode == 0 and canonical(json_lines(before.stdout)) == canonical(written)


def test_json_is_one_document_that_json_tool_reads(
    finished_run: tuple[Path, str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    config, _, written = finished_run
    done = cli("results", "-c", str(config), "--format", "json")
    assert done.returncode == 0, done.stderr
    tool = subprocess.run(
        [sys.executable, "-m", "json.tool"], input=done.stdout, capture_output=True, text=True
    )
    assert tool.returncode == 0, tool.stderr
    assert canonical(json.loads(tool.stdout)) == canonical(written)
    # A row a line between the brackets: still greppable, and streamed.
    lines = done.stdout.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(written) + 2


def test_columns_pick_fields_in_every_format(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, _, written = finished_run
    c = ("results", "-c", str(config), "--script", "whoami")
    wanted = [
        {"caller_account": r["caller_account"], "region": r["region"]}
        for r in written
        if r["script"] == "whoami"
    ]
    as_json = cli(*c, "--columns", "caller_account,region", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert canonical(rows) == canonical(wanted)
    assert all(list(row) == ["caller_account", "region"] for row in rows)  # in the order asked

    as_csv = cli(*c, "--columns", "region, caller_account", "--format", "csv")
    assert as_csv.stdout.splitlines()[0] == "region,caller_account"
    assert len(as_csv.stdout.splitlines()) == len(wanted) + 1

    as_table = cli(*c, "--columns", "account_id,caller_account")
    assert as_table.returncode == 0, as_table.stderr
    header = next(line for line in as_table.stdout.splitlines() if "account id" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")] == [
        "account id",
        "caller_account",
    ]

    for output_format, nothing in (("jsonl", ""), ("json", "[]\n"), ("csv", "caller_acount\n")):
        typo = cli(*c, "--columns", "caller_acount", "--format", output_format)
        assert typo.returncode == 0
        assert typo.stdout == nothing  # no `{}` nor empty row per record that lacks the column
        assert "warning: no record has column caller_acount (columns: " in typo.stderr
        assert "caller_account" in typo.stderr.split("columns: ")[1]
    # A record with some of the columns keeps them; one with none of them is left out.
    every = cli("results", "-c", str(config), "--columns", "caller_account", "--format", "jsonl")
    picked = [{"caller_account": r["caller_account"]} for r in written if "caller_account" in r]
    assert len(picked) == 4 and canonical(json_lines(every.stdout)) == canonical(picked)
    followed = cli("results", "-c", str(config), "--follow", "--columns", "caller_account")
    assert followed.returncode == 0, followed.stderr
    assert sorted(followed.stdout.splitlines()) == sorted(r["caller_account"] for r in picked)
    streamed = cli(*every.args, "--follow")
    assert canonical(json_lines(streamed.stdout)) == canonical(picked)
    assert "{}" not in streamed.stdout.split()

    picked_errors = cli(
        "results", "-c", str(config), "--errors", "--columns", "error_type,account_id"
    )
    assert picked_errors.returncode == 0, picked_errors.stderr
    header = next(line for line in picked_errors.stdout.splitlines() if "error_type" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")] == ["error_type", "account id"]
    assert picked_errors.stdout.count("RuntimeError") == 2

    bad = cli("results", "-c", str(config), "--errors", "--columns", "message,nope")
    assert bad.returncode == 2
    assert one_line_error(bad) == (
        "error: errors have no column nope (columns: account_id, account_name, region, "
        "script, error_type, message, collected_at)"
    )
    empty = cli(*c, "--columns", "a,,b")
    assert empty.returncode == 2 and "a column name is empty" in one_line_error(empty)


def test_a_run_of_other_scripts_says_so_when_a_script_is_asked_for(
    finished_run: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    config, _, _ = finished_run
    # The latest run now is one of whoami only, as `run --script` makes.
    done = cli("run", "--local", "-c", str(config), "--script", "whoami")
    assert done.returncode == 0, done.stderr
    latest = table.latest_run(DynamoStore(boto3.client("dynamodb", "us-east-1"), TABLE))
    assert latest is not None
    asked = cli("results", "-c", str(config), "--script", "fails_in_eu")
    assert asked.returncode == 0, asked.stderr
    assert (
        f"run {latest['run_id']} did not run fails_in_eu (it ran whoami): pick another run with "
        "--run (the runs command lists them)"
    ) in " ".join(asked.stderr.split())
    assert "did not run" not in cli("results", "-c", str(config), "--script", "whoami").stderr


def test_columns_picked_that_do_not_fit_do_not_point_back_at_columns(
    finished_run: tuple[Path, str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, _ = finished_run
    picked = "account_id,account_name,region,caller_account,region_seen,for"
    wide = cli("results", "-c", str(config), "--script", "whoami", "--columns", picked)
    assert wide.returncode == 0, wide.stderr
    assert "columns left out" not in wide.stdout  # 200 columns hold them
    monkeypatch.setattr("tests.conftest.CLI_WIDTH", 60)
    narrow = cli("results", "-c", str(config), "--script", "whoami", "--columns", picked)
    words = " ".join(narrow.stdout.split())
    assert "columns left out (terminal" in words, narrow.stdout
    assert "a wider terminal shows them, or --format jsonl/csv" in words
    assert "see them with --columns" not in words


def test_help_has_conventional_placeholders_and_examples() -> None:
    done = cli("results", "--help")
    assert done.returncode == 0
    words = " ".join(done.stdout.split())
    for placeholder in ("ACCOUNT_ID", "RUN_ID", "SCRIPT", "REGION", "COLUMNS", "FILE", "N "):
        assert placeholder in words, placeholder
    assert "<str>" not in words and "<int>" not in words and "{file}" not in words
    assert "--in-region REGION" in words and "--region REGION" in words
    assert "--format html > report.html" in words and "python -m json.tool" in words
    assert f"(default {DEFAULT_ROWS})" in words


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
    process, lines = _follow(config, "--format", "jsonl")
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
