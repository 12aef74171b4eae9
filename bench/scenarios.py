"""The scenario registry: name, target, and the module that runs each side.

Issue 12's table, numbered as there (scenario 1 has two baselines: rows 1a and 1b). A scenario's
module defines `lambdafan(size)` and `baseline(size)` (or the functions named in the entry),
each returning a `Measurement`, and optionally `setup(size)` (a context manager run in the
parent, yielding environment variables for the children), `ratio(lambdafan, baseline)` (of the
two sides' median measurements, when the ratio is not of wall times: e.g. of memory) and
`passes(lambdafan_s, ratio, runs)`.
Modules are imported only when a scenario runs, so one that does not exist yet is listed as
TODO, never as a pass. Only the standard library is imported here: `bench.run_one` loads this
module before it times anything (scenario 6 times an import in a fresh interpreter).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.measurement import Measurement

SIDES = ("lambdafan", "baseline")
SIZES = ("tiny", "full")

Run = Callable[[str], Measurement]
# A target that is not (only) a ratio: (lambdafan's median wall, ratio, lambdafan's runs) -> pass.
Check = Callable[[float, float, list[Measurement]], bool]


@contextlib.contextmanager
def no_setup(size: str) -> Iterator[dict[str, str]]:
    yield {}


@dataclass(frozen=True)
class Scenario:
    """`faster`: the ratio is baseline ÷ lambdafan (a speedup, pass when ≥ `bound`); otherwise
    lambdafan ÷ baseline (a cost, pass when ≤ `bound`). The module's `passes`, when defined,
    must hold too (an absolute wall time, a count in the runs' figures, memory).
    `baseline_repeat` caps the baseline's runs (a baseline that takes minutes)."""

    number: str
    name: str
    target: str
    module: str
    faster: bool = False
    bound: float = 0.0
    lambdafan_fn: str = "lambdafan"
    baseline_fn: str = "baseline"
    baseline_repeat: int | None = None

    @property
    def implemented(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def _attr(self, name: str) -> Any:
        return getattr(importlib.import_module(self.module), name, None)

    def run(self, side: str) -> Run:
        run: Run = self._attr(self.lambdafan_fn if side == "lambdafan" else self.baseline_fn)
        return run

    def setup(self, size: str) -> contextlib.AbstractContextManager[dict[str, str]]:
        setup = self._attr("setup") or no_setup
        manager: contextlib.AbstractContextManager[dict[str, str]] = setup(size)
        return manager

    @property
    def check(self) -> Check | None:
        check: Check | None = self._attr("passes")
        return check

    def ratio(self, lambdafan: Measurement, baseline: Measurement) -> float:
        own: Callable[[Measurement, Measurement], float] | None = self._attr("ratio")
        if own is not None:
            return own(lambdafan, baseline)
        lf, base = lambdafan.wall_s, baseline.wall_s
        return base / lf if self.faster else lf / base

    def passes(self, ratio: float) -> bool:
        return ratio >= self.bound if self.faster else ratio <= self.bound


_ALL = [
    Scenario(
        "1a",
        "local fan-out 120 accounts × 16 regions, vs awsrun (tiny: 6 × 4)",
        "≥ 8× awsrun, ≤ 150 MB",
        "bench.scenario_fanout",
        faster=True,
        bound=8.0,
        baseline_fn="baseline_awsrun",
    ),
    Scenario(
        "1b",
        "local fan-out 120 accounts × 16 regions, vs botocove (tiny: 6 × 4)",
        "≥ 40× botocove, ≤ 150 MB",
        "bench.scenario_fanout",
        faster=True,
        bound=40.0,
        baseline_fn="baseline_botocove",
        baseline_repeat=1,
    ),
    Scenario(
        "2",
        "scenario 1 through the CLI (run --local), with the DynamoDB table, vs #1's lambdafan",
        "≤ 1.15× of #1",
        "bench.scenario_cli_run",
        faster=False,
        bound=1.15,
    ),
    Scenario(
        "2m",
        "scenario 2 without the table (records in memory): the CLI's own share, vs #1's",
        "≤ 1.15× of #1",
        "bench.scenario_cli_run",
        faster=False,
        bound=1.15,
        lambdafan_fn="lambdafan_memory",
    ),
    Scenario(
        "3",
        "Director invoking 1,000 Workers, 50 ms per Invoke (tiny: 20)",
        "all issued ≤ 3 s (a sequential loop ~50 s)",
        "bench.scenario_director",
        faster=True,
    ),
    Scenario(
        "4",
        "Worker peak RSS + sandbox PSS, 1 account × 17 regions (tiny: 2), built-in scripts,"
        " vs scripts in-process",
        "≤ 160 MB",
        "bench.scenario_worker_memory",
    ),
    Scenario(
        "5",
        "record writes to moto's server (10,000; tiny: 200)",
        "≥ 5× a put_item loop",
        "bench.scenario_writes",
        faster=True,
        bound=5.0,
    ),
    Scenario(
        "6",
        "import of the Worker handler module, fresh interpreter",
        "≤ 1.3× import boto3",
        "bench.scenario_import",
        faster=False,
        bound=1.3,
    ),
    Scenario(
        "7",
        "deploy: no-change (lambdafan) vs first (baseline), moto's server",
        "0 mutating calls; ≤ 25% of the first",
        "bench.scenario_deploy",
        faster=False,
        bound=0.25,
    ),
    Scenario(
        "7l",
        "scenario 7 with 50 ms per AWS call on both sides (AWS's round trip)",
        "0 mutating calls; ≤ 25% of the first",
        "bench.scenario_deploy",
        faster=False,
        bound=0.25,
        lambdafan_fn="lambdafan_latency",
        baseline_fn="baseline_latency",
    ),
    Scenario(
        "8",
        "results --format jsonl over 100,000 records (tiny: 2,000)",
        "flat memory (≤ 1.2× of 10,000's); ≥ 5,000 rec/s",
        "bench.scenario_results",
        faster=False,
        bound=1.2,
    ),
    Scenario(
        "9",
        'query "select count(*) from records" over 100,000 records (tiny: 2,000)',
        "flat memory (≤ 1.5× of 10,000's)",
        "bench.scenario_query",
        faster=False,
        bound=1.5,
    ),
]

SCENARIOS: dict[str, Scenario] = {s.number: s for s in _ALL}
