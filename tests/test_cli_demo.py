"""`lambdafan demo` runs the deployed fleet through the local Lambda runtime and leaves nothing
running, unless --keep, when the README's day-to-day commands work against what it left."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import lambdafan


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
    except OSError:
        return False
    return True


# A process: demo starts and stops its own cloud and rewrites os.environ for it.
def test_demo_runs_the_deployed_functions_reports_and_cleans_up() -> None:
    done = lambdafan("demo", "--accounts", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Created an organization of 2 accounts" in out
    assert "Plan: 12 to create, 0 to update, 0 to delete, 0 unchanged." in out
    assert re.search(r"started run \S+", out)
    for script in ("ec2_instances", "s3_buckets", "iam_users_without_mfa"):
        assert f"{script} (" in out
    # What the Notifier's own zip published, read back from the topic's queue.
    assert "Notifier summary (what it sent to SNS)" in out and "accounts: 2/2 done" in out
    # Each function's REPORT line: one Director, a Worker per account, one Notifier.
    rows = {m[0]: m[1:] for m in re.findall(r"│ (\w+) +│ +(\d+) │ +(\d+) │", out)}
    assert rows == {"Director": ("1", "0"), "Worker": ("2", "0"), "Notifier": ("1", "0")}
    assert "Every AWS call each function made is allowed by its role's policies." in out
    assert "Traceback" not in done.stderr
    # The demo's cloud is stopped: its port no longer answers.
    endpoint = re.search(r"local Lambda runtime at (http://127\.0\.0\.1:\d+)", out)
    assert endpoint and not _answers(endpoint.group(1))
    folders = re.findall(r"config: (\S+lambdafan\.yaml)", out)
    assert folders and not Path(folders[0]).exists()


# A process: with --keep, the demo's cloud must outlive the command that started it.
def test_demo_keep_leaves_a_cloud_where_run_now_and_logs_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = lambdafan("demo", "--accounts", "2", "--keep")
    assert done.returncode == 0, done.stderr[-2000:]
    exported = dict(re.findall(r"(AWS_[A-Z_]+|LAMBDAFAN_CONFIG)=(\S+)", done.stdout))
    pid = re.search(r"kill (\d+)", done.stdout)
    assert pid and set(exported) >= {"AWS_ENDPOINT_URL", "LAMBDAFAN_CONFIG"}
    try:
        for name, value in exported.items():
            monkeypatch.setenv(name, value)
        again = lambdafan("run", "--now", "--wait")
        assert again.returncode == 0, again.stderr[-2000:]
        assert "started run" in again.stdout and "accounts: 2/2 done" in again.stdout
        logs = lambdafan("logs", "worker", "--since", "1h")
        assert logs.returncode == 0, logs.stderr[-2000:]
        assert logs.stdout.count("REPORT RequestId: ") == 4  # two runs of two accounts
    finally:
        os.kill(int(pid.group(1)), signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _answers(exported["AWS_ENDPOINT_URL"]):
        assert time.monotonic() < deadline, "the kept cloud did not stop on SIGTERM"
        time.sleep(0.2)
