"""`python -m bench --scenarios 8` end to end at the tiny size: `lambdafan results --format
jsonl` over 2,000 records vs 200, against the bench's own DynamoDB server."""

from __future__ import annotations

from tests.bench_support import run_bench_tiny


def test_bench_runs_scenario_8_at_tiny_size() -> None:
    cells = run_bench_tiny(("8",), timeout=120)["8"]
    assert cells[4].endswith("× of baseline"), cells


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
