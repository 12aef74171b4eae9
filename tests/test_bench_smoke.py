"""`python -m bench` end to end at the tiny size: scenarios 3, 5 and 6 with figures (7 needs
seconds of deploys: by hand only), the rest TODO."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_scenarios_3_5_and_6_at_tiny_size() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    command = [
        "-m",
        "bench",
        "--scenarios",
        "3,5,6",
        "--size",
        "tiny",
        "--repeat",
        "1",
        "--no-write",
    ]
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
    for number in ("3", "5", "6"):
        cells = [c.strip() for c in rows[number].strip("|").split("|")]
        lambdafan, baseline, ratio, result = cells[2], cells[3], cells[4], cells[6]
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", lambdafan), cells
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", baseline), cells
        assert re.match(r"\d+\.\d+×", ratio), cells
        assert result in ("pass", "FAIL"), cells
    assert "1a" not in rows  # only the scenarios asked for
    assert (results.read_bytes() if results.exists() else None) == before  # --no-write


def test_bench_lists_unimplemented_scenarios_as_todo() -> None:
    from bench.__main__ import Row, render
    from bench.scenarios import SCENARIOS

    table = render([Row(SCENARIOS[n], [], []) for n in ("1a", "1b", "2", "4", "8")])
    assert table.count("TODO") == 5
    assert "pass" not in table


def test_scenario_7_fails_on_a_mutating_call_or_a_slow_no_change_deploy() -> None:
    from bench.__main__ import Row
    from bench.measurement import Measurement
    from bench.scenarios import SCENARIOS

    def verdict(no_change_s: float, mutating_calls: int) -> str:
        lambdafan = [Measurement(no_change_s, 1.0, {"mutating_calls": mutating_calls})]
        return Row(SCENARIOS["7"], lambdafan, [Measurement(4.0, 1.0)]).cells()[-1]

    assert verdict(0.5, 0) == "pass"
    assert verdict(0.5, 1) == "FAIL"
    assert verdict(2.0, 0) == "FAIL"
