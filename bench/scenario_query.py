"""Scenario 9: `lambdafan query "select count(*) from records"` over 100,000 records (tiny:
2,000) vs 10,000 (tiny: 200): memory flat, peak RSS ≤ 1.5× the small query's.

The same table as scenario 8 (`bench.dynamodb_server`, one server per side, started by the
parent in `setup`): the records are read with Queries into gzipped JSON Lines files and counted
by DuckDB. Each side runs the real CLI entry point in its own fresh process, after importing the
same modules (DuckDB included), so the ratio is about the data, not the interpreter; the side
checks the count DuckDB printed is every record the server holds.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.in_process import run_cli
from bench.measurement import Measurement, peak_rss_mb
from bench.scenario_results import COUNT, LineCounter, setup

MEMORY_BOUND = 1.5
SQL = "select count(*) as n from records"
COMMAND = ("query", SQL, "--format", "jsonl")
_ENV = "BENCH_RESULTS_"  # scenario 8's setup: + SIDE_ENDPOINT, SIDE_RECORDS

__all__ = ["baseline", "lambdafan", "passes", "ratio", "setup"]


class Kept(LineCounter):
    """A LineCounter that keeps what was written (one short line here)."""

    def __init__(self) -> None:
        super().__init__()
        self.text = b""

    def write(self, data: Any) -> int:
        self.text += bytes(data)
        return super().write(data)


def _query(side: str, size: str) -> Measurement:
    expected = int(os.environ[f"{_ENV}{side.upper()}_RECORDS"])
    if expected != COUNT[side][size]:
        raise RuntimeError(f"the server holds {expected} records, not {COUNT[side][size]}")
    os.environ["AWS_ENDPOINT_URL"] = os.environ[f"{_ENV}{side.upper()}_ENDPOINT"]
    import duckdb  # noqa: F401  (imported by the command; here so both sides start alike)

    sink = Kept()
    wall = run_cli(COMMAND, sink)
    counted = json.loads(sink.text)["n"]
    if counted != expected:
        raise RuntimeError(f"lambdafan query counted {counted} records of {expected}")
    return Measurement(
        wall_s=wall,
        peak_rss_mb=peak_rss_mb(),
        figures={"records": counted, "records_per_s": round(counted / wall)},
    )


def lambdafan(size: str) -> Measurement:
    return _query("lambdafan", size)


def baseline(size: str) -> Measurement:
    return _query("baseline", size)


def ratio(lambdafan: Measurement, baseline: Measurement) -> float:
    """Peak RSS querying 10× the records ÷ peak RSS querying 1×: 1.0 is perfectly flat."""
    return lambdafan.peak_rss_mb / baseline.peak_rss_mb


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    return ratio <= MEMORY_BOUND
