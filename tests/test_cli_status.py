"""`lambdafan status` and `lambdafan logs` end to end: the CLI in this process against moto;
logs --follow in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3

from lambda_src import runs
from lambda_src.dynamo_store import DynamoStore
from lambdafan import __version__
from lambdafan.schedule import next_firing
from tests.conftest import Recorder, cli, deployable_config, mutating

REGION = "us-east-1"
SCHEDULE = "cron(0 6 * * ? *)"


def write_config(folder: Path, fleet: str = "stat", **changes: Any) -> Path:
    return deployable_config(
        folder, fleet, **{"schedule": SCHEDULE, "scripts": ["whoami.py"], **changes}
    )


def deploy(config: Path) -> None:
    done = cli("deploy", "-c", str(config))
    assert done.returncode == 0, done.stderr


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


ROW = re.compile(
    r"(table|queue|log group|role|function|schedule)\s+(\S+)\s+(ok|missing|drifted|unwanted)\s*(.*)"
)


def rows(stdout: str) -> dict[tuple[str, str], str]:
    """The status table: (kind, name) → state, then any drifted fields."""
    found: dict[tuple[str, str], str] = {}
    for line in stdout.splitlines():
        match = ROW.fullmatch(line.strip())
        if match:
            kind, name, state, fields = match.groups()
            found[kind, name] = f"{state} {fields}".strip()
    return found


def test_status_of_a_fresh_deploy_is_ok_read_only_with_next_run(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    deploy(config)

    before = datetime.now(timezone.utc)
    recorder.start()
    done = cli("status", "-c", str(config))
    operations = recorder.stop()
    after = datetime.now(timezone.utc)

    assert done.returncode == 0, done.stdout + done.stderr
    # Query reads too (the last run); `mutating` only knows Describe/Get/List names.
    assert [op for op in mutating(operations) if op != "dynamodb:Query"] == []
    kinds = ["director", "worker", "notifier"]
    assert rows(done.stdout) == {
        ("table", "stat-results"): "ok",
        ("queue", "stat-notifier-dlq"): "ok",
        **{("log group", f"/aws/lambda/stat-{k}"): "ok" for k in kinds},
        **{("role", f"stat-{k}"): "ok" for k in kinds},
        **{("function", f"stat-{k}"): "ok" for k in kinds},
        ("schedule", "stat-schedule"): "ok",
    }
    # The next 06:00 UTC, whichever side of a minute boundary the command ran on.
    expected = {f"{next_firing(SCHEDULE, t):%Y-%m-%d %H:%M} UTC" for t in (before, after)}
    assert any(f"schedule: {SCHEDULE} — next run {when}" in done.stdout for when in expected)
    # deploy records its version in the functions' environment (issue 13, row 7).
    assert f"version: lambdafan {__version__}, the same as the deployed fleet\n" in done.stdout
    assert "last run: no runs yet" in done.stdout
    assert "ok: fleet stat is deployed and matches its config." in done.stdout
    assert "notification" not in done.stdout  # an empty dead-letter queue is not mentioned


def test_lost_notifications_are_a_warning_and_exit_1(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    deploy(config)
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName="stat-notifier-dlq")["QueueUrl"]
    for run in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=f'{{"requestPayload": {{"run_id": "{run}"}}}}')
    done = cli("status", "-c", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert set(rows(done.stdout).values()) == {"ok"}
    assert (
        "warning: 2 notifications lost: the Notifier failed and Lambda kept them in the "
        "dead-letter queue stat-notifier-dlq"
    ) in done.stdout
    assert "notifications lost: fleet stat is deployed and in sync." in done.stdout


def test_deleted_dead_letter_queue_is_missing(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    deploy(config)
    sqs = client("sqs")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="stat-notifier-dlq")["QueueUrl"])
    done = cli("status", "-c", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert rows(done.stdout)["queue", "stat-notifier-dlq"] == "missing"
    assert "out of sync: fleet stat has 1 missing" in done.stdout


def test_status_shows_the_last_run(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, schedule="rate(1 day)")
    deploy(config)
    store = DynamoStore(client("dynamodb"), "stat-results")
    started = datetime(2026, 11, 26, 22, 41, 4, tzinfo=timezone.utc)
    runs.start_run(
        store,
        "20261126T224104Z-3f9a1c",
        accounts=["111111111111"],
        scripts=["whoami"],
        trigger="schedule",
        now=started,
        ttl_days=30,
        worker_timeout_s=10**9,  # a deadline far away: running, not overdue
    )

    done = cli("status", "-c", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "schedule: rate(1 day) — every 1 day" in done.stdout
    assert (
        "last run: 20261126T224104Z-3f9a1c, running, 0/1 accounts, 0 records, 0 errors, "
        "started 2026-11-26 22:41:04 UTC"
    ) in done.stdout


def test_memory_change_shows_the_worker_drifted_and_exits_1(server: str, tmp_path: Path) -> None:
    deploy(write_config(tmp_path))
    config = write_config(tmp_path, functions={"worker": {"memory": 2048}})
    done = cli("status", "-c", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    table = rows(done.stdout)
    assert table["function", "stat-worker"] == "drifted memory"
    assert [state for state in table.values() if state != "ok"] == ["drifted memory"]
    assert "out of sync: fleet stat has 1 drifted" in done.stdout
    assert "Traceback" not in done.stderr


def test_deleted_log_group_is_missing(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    deploy(config)
    client("logs").delete_log_group(logGroupName="/aws/lambda/stat-notifier")
    done = cli("status", "-c", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    assert rows(done.stdout)["log group", "/aws/lambda/stat-notifier"] == "missing"
    assert "1 missing" in done.stdout


def test_never_deployed_fleet_says_so(server: str, tmp_path: Path) -> None:
    done = cli("status", "-c", str(write_config(tmp_path)))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "not deployed: fleet stat has no resources in us-east-1" in done.stdout
    assert "last run: results table stat-results does not exist (not deployed)" in done.stdout
    assert f"schedule: {SCHEDULE} — not deployed, never fires" in done.stdout
    table = rows(done.stdout)
    assert len(table) == 12 and set(table.values()) == {"missing"}


def test_destroyed_fleet_with_its_data_says_not_deployed(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    deploy(config)
    gone = cli("destroy", "-c", str(config), "--yes", "--delete-data")
    assert gone.returncode == 0, gone.stderr
    done = cli("status", "-c", str(config))
    assert done.returncode == 1
    assert "not deployed" in done.stdout and "Traceback" not in done.stderr


def put_events(group: str, *messages: tuple[datetime, str]) -> str:
    """Put events into a new Lambda-like stream of `group`; returns the stream's name."""
    logs = client("logs")
    stream = "2026/11/26/[$LATEST]3f9a1c2b7d0e4f5a8b9c0d1e2f3a4b5c"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(t.timestamp() * 1000), "message": m} for t, m in messages],
    )
    return stream


def test_logs_prints_recent_worker_events(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    client("logs").create_log_group(logGroupName="/aws/lambda/stat-worker")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    put_events(
        "/aws/lambda/stat-worker",
        (now - timedelta(hours=2), "too old to show"),
        (now - timedelta(minutes=3), "START RequestId: 1\n"),
        (now - timedelta(minutes=2), "ERROR [whoami] boom\n"),
    )

    done = cli("logs", "worker", "--since", "1h", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{now - timedelta(minutes=3):%Y-%m-%d %H:%M:%S} 3f9a1c2b START RequestId: 1",
        f"{now - timedelta(minutes=2):%Y-%m-%d %H:%M:%S} 3f9a1c2b ERROR [whoami] boom",
    ]

    # The worker is the default; --filter and --since narrow it.
    errors = cli("logs", "--filter", "ERROR", "-c", str(config))
    assert errors.returncode == 0, errors.stderr
    assert [line.split(" ", 3)[3] for line in errors.stdout.splitlines()] == ["ERROR [whoami] boom"]
    nothing = cli("logs", "--since", "30s", "-c", str(config))
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "no events in /aws/lambda/stat-worker in the last 30s" in nothing.stderr


# A process: it polls until a real SIGINT stops it, and exit code 130 is what the shell sees.
def test_logs_follow_prints_new_events_once_and_ctrl_c_exits_130(
    server: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    group = "/aws/lambda/stat-worker"
    client("logs").create_log_group(logGroupName=group)
    now = datetime.now(timezone.utc)
    stream = put_events(group, (now - timedelta(minutes=1), "before"))
    follower = subprocess.Popen(
        [sys.executable, "-m", "lambdafan", "logs", "--follow", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    watchdog = threading.Timer(60, follower.kill)  # a hung follower fails, never blocks
    watchdog.start()
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().rstrip().endswith(" before")
        client("logs").put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "after"}],
        )
        assert follower.stdout.readline().rstrip().endswith(" after")
        follower.send_signal(signal.SIGINT)
        rest, errors = follower.communicate(timeout=30)
    finally:
        watchdog.cancel()
    assert follower.returncode == 130
    assert rest == "" and "Traceback" not in errors and "Aborted" not in errors


def test_logs_of_a_fleet_never_deployed_is_one_line_error(server: str, tmp_path: Path) -> None:
    done = cli("logs", "director", "-c", str(write_config(tmp_path)))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: log group /aws/lambda/stat-director not found: deploy the fleet first"
    ]


def test_logs_rejects_bad_since_and_unknown_function(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    bad = cli("logs", "--since", "5x", "-c", str(config))
    assert bad.returncode == 2
    assert "--since '5x'" in bad.stderr and "Traceback" not in bad.stderr
    unknown = cli("logs", "scheduler", "-c", str(config))
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
