"""`lambdafan demo` runs the deployed fleet through the local Lambda runtime; with --keep the
README's day-to-day commands work against what it leaves running; without, nothing is left."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from lambdafan import demo
from lambdafan.cli.options import DEFAULT_ROWS
from tests.conftest import cli, lambdafan


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
    except OSError:
        return False
    return True


def _wait_until_down(endpoint: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while _answers(endpoint):
        assert time.monotonic() < deadline, f"{endpoint} still answers"
        time.sleep(0.2)


# A process: demo starts its own cloud and rewrites os.environ for it, and with --keep the
# cloud must outlive the command that started it. One demo for all of it: it is the slowest
# command there is.
def test_demo_runs_the_deployed_functions_and_keep_leaves_a_cloud_for_day_to_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = lambdafan("demo", "--accounts", "2", "--keep")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    exported = dict(re.findall(r"(AWS_[A-Z_]+|LAMBDAFAN_CONFIG)=(\S+)", out))
    pid = re.search(r"kill (\d+)", out)
    assert pid and set(exported) >= {"AWS_ENDPOINT_URL", "LAMBDAFAN_CONFIG"}
    # The config folder it leaves behind is named, beside the kill line, for removal.
    cleanup = re.search(r"^  rm -r (\S+) ", out, re.MULTILINE)
    assert cleanup and Path(cleanup.group(1)) == Path(exported["LAMBDAFAN_CONFIG"]).parent
    assert Path(cleanup.group(1)).is_dir()
    try:
        assert "Created an organization of 2 accounts" in out
        assert "Plan: 12 to create, 0 to update, 0 to delete, 0 unchanged." in out
        assert re.search(r"started run \S+", out)
        # One table per script, in the config's order.
        titles = re.findall(r"^(\w+) \(\d+ records?\)", out, re.MULTILINE)
        assert titles == ["ec2_instances", "s3_buckets", "iam_users_without_mfa"]
        # What the Notifier's own zip published, read back from the topic's queue.
        assert "Notifier summary (what it sent to SNS)" in out and "accounts: 2/2 done" in out
        # Each function's REPORT line: one Director, a Worker per account, one Notifier.
        rows = {m[0]: m[1:] for m in re.findall(r"│ (\w+) +│ +(\d+) │ +(\d+) │", out)}
        assert rows == {"Director": ("1", "0"), "Worker": ("2", "0"), "Notifier": ("1", "0")}
        assert "Every AWS call each function made is allowed by its role's policies." in out
        assert "Traceback" not in done.stderr

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
        shutil.rmtree(cleanup.group(1))
    _wait_until_down(exported["AWS_ENDPOINT_URL"])


def test_without_keep_the_demo_cloud_stops_when_the_demo_ends() -> None:
    with demo.demo_cloud(keep=False) as cloud:
        assert _answers(cloud.endpoint) and _answers(cloud.moto_endpoint)
    assert not _answers(cloud.endpoint) and not _answers(cloud.moto_endpoint)
    assert cloud.process.returncode == 0


def test_a_failing_demo_stops_its_cloud_even_with_keep() -> None:
    with pytest.raises(RuntimeError), demo.demo_cloud(keep=True) as cloud:
        raise RuntimeError("the demo failed")
    assert not _answers(cloud.endpoint)


def test_the_demo_folder_is_removed_unless_kept() -> None:
    with demo.demo_folder(keep=False) as gone:
        (gone / "lambdafan.yaml").write_text("fleet: x\n")
    with demo.demo_folder(keep=True) as kept:
        (kept / "lambdafan.yaml").write_text("fleet: x\n")
    assert not gone.exists() and (kept / "lambdafan.yaml").exists()
    (kept / "lambdafan.yaml").unlink()
    kept.rmdir()


def test_demo_help_uses_the_shared_row_limit() -> None:
    done = cli("demo", "--help")
    assert re.search(r"--accounts\s+N\s", done.stdout)
    assert re.search(rf"--limit\s+N\s.*\[default: {DEFAULT_ROWS}\]", done.stdout)
