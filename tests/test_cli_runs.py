"""`lambdafan runs`: the history as a table with a sparkline, as JSON or JSON Lines, watched."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lambda_src import runs, status
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import table_definition
from lambdafan import run_rows
from lambdafan.cli.options import DEFAULT_RUNS
from lambdafan.render import console as consoles
from tests.conftest import cli
from tests.test_cli_run import A, B, write_config

START = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def fleet(aws: Any, tmp_path: Path) -> tuple[Path, DynamoStore]:
    """A fleet's config and its (in-process moto) table, no runs yet."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition("e2e-results"))
    return write_config(tmp_path, ["whoami"]), DynamoStore(client, "e2e-results")


def add_run(
    store: DynamoStore, n: int, records: int, *, errors: int = 0, finished: bool = True
) -> str:
    """Run number `n` (an hour after run n-1) over A and B; B done with `records` records,
    and A too when `finished` (the run then complete, 90 s after its start)."""
    run_id = f"{runs.new_run_id(START + dt.timedelta(hours=n))[:16]}-{n:06x}"
    began = START + dt.timedelta(hours=n)
    runs.start_run(store, run_id, accounts=[A, B], scripts=["whoami"], trigger="manual",
                   now=began, ttl_days=1, worker_timeout_s=10**6)  # fmt: skip
    done = [(B, records, errors)] + ([(A, 0, 0)] if finished else [])
    for account, found, failed in done:
        runs.finish_account(store, run_id, account, "acct", records_by_script={"whoami": found},
                            errors=failed, failed=False, attempt="a1",
                            now=began + dt.timedelta(seconds=90), ttl_days=1)  # fmt: skip
    return run_id


def run_lines(stdout: str) -> dict[str, str]:
    """The table's rows by run id."""
    return {line.split()[0]: line for line in stdout.splitlines() if re.match(r"\d{8}T", line)}


def test_the_history_shows_each_run_newest_first_with_a_sparkline_of_records(
    fleet: tuple[Path, DynamoStore],
) -> None:
    config, store = fleet
    ids = [add_run(store, n, records) for n, records in enumerate([10, 40, 0, 80])]
    running = add_run(store, 4, 5, errors=2, finished=False)

    done = cli("runs", "-c", str(config))

    assert done.returncode == 0, done.stderr
    rows = run_lines(done.stdout)
    assert list(rows) == [running, *reversed(ids)]
    assert rows[ids[3]].split()[2:8] == ["1m30s", "2/2", "80", "0", "complete", "-"]
    assert rows[running].split()[3:7] == ["1/2", "5", "2", "running"]
    assert "records per run, oldest → newest: ▂▄▁█▂ (max 80)" in done.stdout
    assert "runs, newest first (5)" in done.stdout


def test_limit_defaults_to_default_runs(fleet: tuple[Path, DynamoStore]) -> None:
    config, store = fleet
    ids = [add_run(store, n, n) for n in range(DEFAULT_RUNS + 2)]
    shown = run_lines(cli("runs", "-c", str(config)).stdout)
    assert list(shown) == list(reversed(ids))[:DEFAULT_RUNS]
    three = run_lines(cli("runs", "-c", str(config), "--limit", "3").stdout)
    assert list(three) == list(reversed(ids))[:3]


def test_json_is_one_array_and_jsonl_a_run_a_line(fleet: tuple[Path, DynamoStore]) -> None:
    config, store = fleet
    ids = [add_run(store, n, 7 * n) for n in range(3)]

    as_json = cli("runs", "-c", str(config), "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)  # one document: what json.tool and jq -s read
    assert [run["run_id"] for run in document] == list(reversed(ids))
    assert document[0]["records"] == 14 and document[0]["status"] == "complete"

    as_jsonl = cli("runs", "-c", str(config), "--format", "jsonl")
    assert [json.loads(line) for line in as_jsonl.stdout.splitlines()] == document


def test_no_runs_yet(fleet: tuple[Path, DynamoStore]) -> None:
    config, _ = fleet
    assert cli("runs", "-c", str(config)).stdout.strip() == "no runs yet"
    assert json.loads(cli("runs", "-c", str(config), "--format", "json").stdout) == []
    assert cli("runs", "-c", str(config), "--format", "jsonl").stdout == ""


def test_help_names_values_with_conventional_metavars() -> None:
    done = cli("runs", "--help")
    assert done.returncode == 0
    words = " ".join(word for word in done.stdout.split() if word != "│")
    assert "--limit N" in words and f"[default: {DEFAULT_RUNS}]" in words
    assert "--interval SECONDS" in words and "--watch" in words
    assert "--format FORMAT" in words and "table; json: one JSON array; jsonl:" in words


# --- --watch ----------------------------------------------------------------------------------


class Ticks:
    """Stands in for `time` in lambdafan.cli.runs: each sleep runs the next step of the test
    (a change to the table, say); after the last one, Ctrl-C."""

    def __init__(self, *steps: Callable[[], object]) -> None:
        self.steps = list(steps)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if not self.steps:
            raise KeyboardInterrupt
        self.steps.pop(0)()


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Ticks]]:
    def install(*steps: Callable[[], object]) -> Ticks:
        fake = Ticks(*steps)
        monkeypatch.setattr("lambdafan.cli.runs.time", SimpleNamespace(sleep=fake.sleep))
        return fake

    yield install


def test_watch_piped_prints_the_table_again_only_when_a_run_changes(
    fleet: tuple[Path, DynamoStore], ticks: Callable[..., Ticks]
) -> None:
    config, store = fleet
    first = add_run(store, 0, 3)
    later: list[str] = []
    clock = ticks(lambda: None, lambda: later.append(add_run(store, 1, 9)), lambda: None)

    done = cli("runs", "-c", str(config), "--watch", "--interval", "7")

    assert done.returncode == 130  # Ctrl-C, like every command
    assert done.stderr.strip() == "stopped"
    assert clock.slept == [7.0] * 4
    # 4 reads, 2 states: the table printed twice, the second time with the new run on top.
    assert done.stdout.count("runs, newest first") == 2
    assert done.stdout.split("runs, newest first (2)")[1].index(later[0]) < done.stdout.split(
        "runs, newest first (2)"
    )[1].index(first)
    assert "Traceback" not in done.stderr


def test_watch_jsonl_streams_each_run_when_it_changes(
    fleet: tuple[Path, DynamoStore], ticks: Callable[..., Ticks]
) -> None:
    config, store = fleet
    running = add_run(store, 0, 3, finished=False)

    def finish() -> None:
        runs.finish_account(store, running, A, "acct", records_by_script={"whoami": 4},
                            errors=0, failed=False, attempt="a1", now=START,
                            ttl_days=1)  # fmt: skip

    ticks(lambda: None, finish)
    done = cli("runs", "-c", str(config), "--watch", "--format", "jsonl")

    assert done.returncode == 130
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["run_id"], r["status"], r["records"]) for r in lines] == [
        (running, status.RUNNING, 3),
        (running, status.COMPLETE, 7),
    ]


def test_watch_rides_out_failed_reads_and_says_so_once(
    fleet: tuple[Path, DynamoStore], ticks: Callable[..., Ticks], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = fleet
    first = add_run(store, 0, 3)
    reads = 0
    read_runs = run_rows.recent_runs

    def throttled_twice(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        if reads in (2, 3):  # the first refresh after the first read, and the next
            refusal = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(refusal, "Query")  # type: ignore[arg-type]
        return read_runs(*args, **kwargs)

    monkeypatch.setattr(run_rows, "recent_runs", throttled_twice)
    later: list[str] = []
    ticks(lambda: later.append(add_run(store, 1, 9)), lambda: None, lambda: None)
    done = cli("runs", "-c", str(config), "--watch", "--format", "jsonl")

    assert done.returncode == 130, done.stderr
    assert reads == 4
    assert done.stderr.splitlines() == [
        "warning: could not read the runs (ThrottlingException: Rate exceeded): trying again",
        "stopped",
    ]
    assert [json.loads(line)["run_id"] for line in done.stdout.splitlines()] == [first, *later]


def test_watch_fails_at_once_when_the_first_read_fails(fleet: tuple[Path, DynamoStore]) -> None:
    config, _ = fleet
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName="e2e-results")
    done = cli("runs", "-c", str(config), "--watch")
    assert done.returncode == 1
    assert done.stderr.startswith("error: table e2e-results not found"), done.stderr


def test_watch_refuses_json_which_is_one_document(fleet: tuple[Path, DynamoStore]) -> None:
    config, _ = fleet
    done = cli("runs", "-c", str(config), "--watch", "--format", "json")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --watch prints a table or jsonl: --format json is one document"
    )


def test_watch_in_a_terminal_redraws_in_place(
    fleet: tuple[Path, DynamoStore],
    ticks: Callable[..., Ticks],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, store = fleet
    add_run(store, 0, 3)
    # What the console is when stdout is a terminal (set when it is made, at import).
    monkeypatch.setattr(consoles.console, "_force_terminal", True)
    monkeypatch.setattr(consoles.console, "is_interactive", True)
    ticks(lambda: None, lambda: add_run(store, 1, 9))

    done = cli("runs", "-c", str(config), "--watch")

    assert done.returncode == 130, done.stderr
    # A draw per read (and one as it stops), each over the last: the cursor goes back up and
    # the lines are erased, so one table is on screen, the latest.
    assert done.stdout.count("runs, newest first (1)") == 2
    assert done.stdout.count("runs, newest first (2)") == 2
    assert "\x1b[1A\x1b[2K" in done.stdout
    screen = done.stdout.rsplit("\x1b[2K", 1)[1]
    assert screen.startswith("runs, newest first (2)")
    assert "every 3s, last at " in screen and "UTC; Ctrl-C to stop" in screen
