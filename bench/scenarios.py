"""The scenario registry: name, target, one `run(size) -> Measurement` per side.

Issue 12's table, numbered as there. A scenario without runs is listed as TODO, never as a pass.
Only the standard library is imported here: `bench.run_one` loads this module before it times
anything (scenario 6 times an import in a fresh interpreter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bench import scenario_deploy, scenario_director, scenario_import, scenario_writes
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
        lambdafan ÷ baseline (a cost, pass when ≤ `bound`). `setup(size)` runs in the parent around
        every run of the scenario and yields environment variables for the children. `check`, when
    set, decides pass/fail instead of `bound` (e.g. an absolute wall time, or a count in the runs'
    figures)."""

    number: str
    name: str
    target: str
    lambdafan: Run | None = None
    baseline: Run | None = None
    faster: bool = False
    bound: float = 0.0
    setup: Callable[[str], contextlib.AbstractContextManager[dict[str, str]]] = field(
        default=no_setup
    )
    check: Check | None = None

    @property
    def implemented(self) -> bool:
        return self.lambdafan is not None and self.baseline is not None

    def ratio(self, lambdafan_s: float, baseline_s: float) -> float:
        return baseline_s / lambdafan_s if self.faster else lambdafan_s / baseline_s

    def passes(self, ratio: float) -> bool:
        return ratio >= self.bound if self.faster else ratio <= self.bound


_ALL = [
    Scenario(
        "1",
        "local fan-out 120 accounts × 16 regions",
        "≥ 8× awsrun, ≥ 40× botocove, ≤ 150 MB",
    ),
    Scenario("2", "scenario 1 through the CLI, and with the DynamoDB table", "≤ 1.15× of #1"),
    Scenario(
        "3",
        "Director invoking 1,000 Workers, 50 ms per Invoke (tiny: 20)",
        "all issued ≤ 3 s (a sequential loop ~50 s)",
        lambdafan=scenario_director.lambdafan,
        baseline=scenario_director.baseline,
        faster=True,
        check=scenario_director.passes,
    ),
    Scenario("4", "Worker peak RSS, 1 account × 17 regions, built-in scripts", "≤ 160 MB"),
    Scenario(
        "5",
        "record writes to moto's server (10,000; tiny: 200)",
        "≥ 5× a put_item loop",
        lambdafan=scenario_writes.lambdafan,
        baseline=scenario_writes.baseline,
        faster=True,
        bound=5.0,
        setup=scenario_writes.setup,
    ),
    Scenario(
        "6",
        "import of the Worker handler module, fresh interpreter",
        "≤ 1.3× import boto3",
        lambdafan=scenario_import.lambdafan,
        baseline=scenario_import.baseline,
        faster=False,
        bound=1.3,
    ),
    Scenario(
        "7",
        "deploy: no-change (lambdafan) vs first (baseline), moto's server",
        "0 mutating calls; ≤ 25% of the first",
        lambdafan=scenario_deploy.lambdafan,
        baseline=scenario_deploy.baseline,
        faster=False,
        bound=0.25,
        setup=scenario_deploy.setup,
        check=scenario_deploy.passes,
    ),
    Scenario("8", "results --format jsonl over 100,000 records", "flat memory; ≥ 5,000 rec/s"),
]

SCENARIOS: dict[str, Scenario] = {s.number: s for s in _ALL}
