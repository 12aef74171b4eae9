"""Scenario 4 (a Worker's peak memory, parent and script sandbox) end to end at the tiny size:
`python -m bench --scenarios 4 --size tiny`, moto's server started and stopped by the bench."""

from __future__ import annotations

from tests.bench_support import run_bench_tiny


def test_scenario_4_reports_both_workers_memory_and_a_verdict() -> None:
    cells = run_bench_tiny(("4",), timeout=90)["4"]
    # Each side's figure: the Worker's time and its peak memory (parent RSS + sandbox PSS).
    for figure in (cells[2], cells[3]):
        assert int(figure.split(", ")[1].split()[0]) > 20, cells  # a Python process with boto3
    assert cells[4].endswith("× of baseline"), cells
