"""`lambdafan demo` runs to completion and leaves nothing running (unless --keep)."""

from __future__ import annotations

import os
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import lambdafan


# A process: demo starts and stops its own moto server and rewrites os.environ for it.
def test_demo_deploys_runs_reports_and_cleans_up() -> None:
    done = lambdafan("demo", "--accounts", "4")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Created an organization of 4 accounts" in out
    assert "Plan: 12 to create, 0 to update, 0 to delete, 0 unchanged." in out
    for script in ("ec2_instances", "s3_buckets", "iam_users_without_mfa"):
        assert f"{script} (" in out
    assert "Notifier summary" in out and "accounts: 4/4 done" in out
    assert "Traceback" not in done.stderr
    # The demo's own server is stopped: its port no longer answers.
    endpoint = re.search(r"fake AWS \(moto\) at (http://127\.0\.0\.1:\d+)", out)
    assert endpoint
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{endpoint.group(1)}/moto-api/", timeout=2).close()
    folders = re.findall(r"config: (\S+lambdafan\.yaml)", out)
    assert folders and not Path(folders[0]).exists()


# A process: with --keep, the demo's server must outlive the command that started it.
def test_demo_keep_leaves_the_fake_aws_up_and_says_how_to_use_it() -> None:
    done = lambdafan("demo", "--accounts", "2", "--keep")
    assert done.returncode == 0, done.stderr[-2000:]
    endpoint = re.search(r"AWS_ENDPOINT_URL=(http://127\.0\.0\.1:\d+)", done.stdout)
    pid = re.search(r"kill (\d+)", done.stdout)
    assert endpoint and pid
    try:
        urllib.request.urlopen(f"{endpoint.group(1)}/moto-api/", timeout=5).close()
        assert "lambdafan -c" in done.stdout and "results" in done.stdout
    finally:
        os.kill(int(pid.group(1)), signal.SIGTERM)
