"""Scenario 1's baselines at the tiny size, each in its own interpreter as the bench runs them:
every (account, region) answered once, by its own account, through the tool's own defaults."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.fanout_org import SIZES, TASK_SLEEP_S, complete

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("function", "tool", "pool", "size"),
    [
        ("baseline_awsrun", "awsrun", "workers", 10),
        ("baseline_botocove", "botocove", "threads", 20),
    ],
)
def test_baseline_answers_every_pair_from_its_own_account(
    function: str, tool: str, pool: str, size: int
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    code = (
        f"import json; from bench.fanout_peers import {function} as run; "
        "print(json.dumps(run('tiny').to_json()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    figures = measured["figures"]
    accounts, regions = SIZES["tiny"]
    assert figures["expected_pairs"] == accounts * regions
    assert complete(figures), figures
    assert figures["errors"] == 0, figures["error_sample"]
    assert (figures["tool"], figures[pool]) == (tool, size)
    assert figures["version"]
    # Every task sleeps, and at most `size` run at once (awsrun: an account's regions in turn).
    floor = TASK_SLEEP_S * math.ceil(accounts * regions / size)
    if tool == "awsrun":
        floor = TASK_SLEEP_S * regions * math.ceil(accounts / size)
    assert floor <= measured["wall_s"] < 30
    assert 30 < measured["peak_rss_mb"] < 2000
