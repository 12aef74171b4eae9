"""Scenario 8: `lambdafan results --format jsonl` over 100,000 records (tiny: 2,000) vs 10,000
(tiny: 200): memory flat (peak RSS ≤ 1.2× the small read's) and ≥ 5,000 records/s.

The table is served by `bench.dynamodb_server` (moto's Query would be the bottleneck), one
server per side, started by the parent in `setup`. Each side runs the real CLI entry point
(`lambdafan.cli.main`) in its own fresh process, stdout going to a sink that counts lines and
keeps nothing (behind a buffered text layer, like a pipe's), and checks it read every record
the server holds. Both sides import the same modules first, so the peak-RSS ratio is about the
data read, not the interpreter.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.in_process import run_cli
from bench.measurement import Measurement, peak_rss_mb

COUNT = {
    "lambdafan": {"tiny": 2_000, "full": 100_000},
    "baseline": {"tiny": 200, "full": 10_000},
}
MEMORY_BOUND = 1.2
MIN_RECORDS_PER_S = 5_000
COMMAND = ("results", "--format", "jsonl")
_ENV = "BENCH_RESULTS_"  # + SIDE_ENDPOINT, SIDE_RECORDS


@contextlib.contextmanager
def setup(size: str) -> Iterator[dict[str, str]]:
    """A bench DynamoDB server per side (its own process, stopped by pid), the fleet's config,
    fake keys."""
    from bench.dynamodb_server import FLEET, REGION, dynamodb_server

    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-results-")))
        config = folder / "lambdafan.yaml"
        config.write_text(
            f"fleet: {FLEET}\nhome_region: {REGION}\n"
            'accounts:\n  list: ["111111111111"]\nregions: [us-east-1]\nscripts: [ec2_instances]\n'
        )
        env = {
            **{
                k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")
            },
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "LAMBDAFAN_CONFIG": str(config),
        }
        for side, counts in COUNT.items():
            ready = stack.enter_context(dynamodb_server(counts[size]))
            env[f"{_ENV}{side.upper()}_ENDPOINT"] = str(ready["endpoint"])
            env[f"{_ENV}{side.upper()}_RECORDS"] = str(ready["records"])
        yield env


class LineCounter(io.RawIOBase):
    """Where stdout goes: counts the lines written, keeps none of them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines = 0
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.lines += chunk.count(b"\n")
        self.bytes += len(chunk)
        return len(chunk)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _read(side: str, size: str) -> Measurement:
    expected = int(os.environ[f"{_ENV}{side.upper()}_RECORDS"])
    if expected != COUNT[side][size]:
        raise RuntimeError(f"the server holds {expected} records, not {COUNT[side][size]}")
    os.environ["AWS_ENDPOINT_URL"] = os.environ[f"{_ENV}{side.upper()}_ENDPOINT"]
    import lambdafan.cli  # noqa: F401  (the same imports on both sides, before anything is read)

    rss_before = _rss_mb()
    sink = LineCounter()
    wall = run_cli(COMMAND, sink)
    if sink.lines != expected:
        raise RuntimeError(f"lambdafan results printed {sink.lines} records of {expected}")
    peak = peak_rss_mb()
    return Measurement(
        wall_s=wall,
        peak_rss_mb=peak,
        figures={
            "records": sink.lines,
            "records_per_s": round(sink.lines / wall),
            "output_mb": round(sink.bytes / 1e6, 1),
            "rss_before_mb": round(rss_before, 1),
            "growth_mb": round(peak - rss_before, 1),
        },
    )


def lambdafan(size: str) -> Measurement:
    return _read("lambdafan", size)


def baseline(size: str) -> Measurement:
    return _read("baseline", size)


def ratio(lambdafan: Measurement, baseline: Measurement) -> float:
    """Peak RSS reading 10× the records ÷ peak RSS reading 1×: 1.0 is perfectly flat."""
    return lambdafan.peak_rss_mb / baseline.peak_rss_mb


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    fast = all(m.figures.get("records_per_s", 0) >= MIN_RECORDS_PER_S for m in runs)
    return ratio <= MEMORY_BOUND and fast
