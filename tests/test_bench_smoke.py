"""`python -m bench` end to end at the tiny size: scenarios 5 and 6 with figures, the rest TODO."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_scenarios_5_and_6_at_tiny_size() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    command = ["-m", "bench", "--scenarios", "5,6", "--size", "tiny", "--repeat", "1", "--no-write"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "|" in line}
    for number in ("5", "6"):
        cells = [c.strip() for c in rows[number].strip("|").split("|")]
        lambdafan, baseline, ratio, result = cells[2], cells[3], cells[4], cells[6]
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", lambdafan), cells
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", baseline), cells
        assert re.match(r"\d+\.\d+×", ratio), cells
        assert result in ("pass", "FAIL"), cells
    assert "1" not in rows  # only the scenarios asked for
    assert (results.read_bytes() if results.exists() else None) == before  # --no-write


def test_bench_lists_unimplemented_scenarios_as_todo() -> None:
    from bench.__main__ import Row, render
    from bench.scenarios import SCENARIOS

    table = render([Row(SCENARIOS[n], [], []) for n in ("1", "2", "3", "4", "7", "8")])
    assert table.count("TODO") == 6
    assert "pass" not in table
