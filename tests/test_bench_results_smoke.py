"""`python -m bench --scenarios 8` end to end at the tiny size: `lambdafan results --format
jsonl` over 2,000 records vs 200, against the bench's own DynamoDB server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = r"\d+(\.\d+)? (ms|s), \d+ MB"


def test_bench_runs_scenario_8_at_tiny_size() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    command = ["-m", "bench", "--scenarios", "8", "--size", "tiny", "--repeat", "1", "--no-write"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "|" in line}
    cells = [c.strip() for c in rows["8"].strip("|").split("|")]
    lambdafan, baseline, ratio, result = cells[2], cells[3], cells[4], cells[6]
    assert re.fullmatch(FIGURE, lambdafan), cells
    assert re.fullmatch(FIGURE, baseline), cells
    assert re.match(r"\d+\.\d+× of baseline", ratio), cells
    assert result in ("pass", "FAIL"), cells
    assert (results.read_bytes() if results.exists() else None) == before  # --no-write


def test_scenario_8_needs_flat_memory_and_5000_records_a_second_in_every_run() -> None:
    from bench.__main__ import Row
    from bench.measurement import Measurement
    from bench.scenarios import SCENARIOS

    def verdict(peak_mb: float, rates: list[int]) -> str:
        runs = [Measurement(1.0, peak_mb, {"records_per_s": r}) for r in rates]
        return Row(SCENARIOS["8"], runs, [Measurement(1.0, 100.0)]).cells()[-1]

    assert verdict(110.0, [9000, 8000, 7000]) == "pass"
    assert verdict(125.0, [9000, 8000, 7000]) == "FAIL"  # 1.25× the memory of 10,000 records
    assert verdict(110.0, [9000, 4000, 7000]) == "FAIL"  # one run under 5,000 records/s
