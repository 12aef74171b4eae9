"""Running `python -m bench` from a test: the tiny size, one repeat, RESULTS.md untouched."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench_tiny(scenarios: tuple[str, ...], timeout: int) -> dict[str, list[str]]:
    """`python -m bench` at the tiny size, one repeat, not written: each row's cells."""
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    command = ["-m", "bench", "--scenarios", ",".join(scenarios), "--size", "tiny"]
    done = subprocess.run(
        [sys.executable, *command, "--repeat", "1", "--no-write"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (results.read_bytes() if results.exists() else None) == before  # --no-write
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if "|" in line}
    cells = {n: [c.strip() for c in rows[n].strip("|").split("|")] for n in scenarios}
    for number in scenarios:
        lambdafan, baseline, ratio, result = (cells[number][i] for i in (2, 3, 4, 6))
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", lambdafan), cells[number]
        assert re.fullmatch(r"\d+(\.\d+)? (ms|s), \d+ MB", baseline), cells[number]
        assert re.match(r"\d+\.\d+×", ratio), cells[number]
        assert result in ("pass", "FAIL"), cells[number]
    assert set(rows) - {"#", "---"} == set(scenarios)  # only the scenarios asked for
    return cells
