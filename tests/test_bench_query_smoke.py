"""`python -m bench --scenarios 9` end to end at the tiny size: `lambdafan query "select
count(*) from records"` over 2,000 records vs 200, against the bench's own DynamoDB server."""

from __future__ import annotations

import pytest

from tests.bench_support import run_bench_tiny

pytest.importorskip("duckdb")


def test_bench_runs_scenario_9_at_tiny_size() -> None:
    cells = run_bench_tiny(("9",), timeout=180)["9"]
    assert cells[4].endswith("× of baseline"), cells


def test_scenario_9_needs_flat_memory() -> None:
    from bench.__main__ import Row
    from bench.measurement import Measurement
    from bench.scenarios import SCENARIOS

    def verdict(peak_mb: float) -> str:
        return Row(SCENARIOS["9"], [Measurement(1.0, peak_mb)], [Measurement(1.0, 100.0)]).cells()[
            -1
        ]

    assert verdict(140.0) == "pass"
    assert verdict(160.0) == "FAIL"  # 1.6× the memory of 10,000 records
