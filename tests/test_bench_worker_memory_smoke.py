"""Scenario 4 (a Worker's peak memory, parent and script sandbox) end to end at the tiny size:
`python -m bench --scenarios 4 --size tiny`, moto's server started and stopped by the bench."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scenario_4_reports_both_workers_memory_and_a_verdict() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    command = ["-m", "bench", "--scenarios", "4", "--size", "tiny", "--repeat", "1", "--no-write"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (results.read_bytes() if results.exists() else None) == before  # --no-write
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| 4 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    lambdafan, baseline, ratio, result = (cells[i] for i in (2, 3, 4, 6))
    # Each side's figure: the Worker's time and its peak memory (parent RSS + sandbox PSS).
    for figure in (lambdafan, baseline):
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", figure), cells
        assert int(figure.split(", ")[1].split()[0]) > 20, cells  # a Python process with boto3
    assert re.fullmatch(r"\d+\.\d+× of baseline", ratio), cells
    assert result in ("pass", "FAIL"), cells
