"""One side of one scenario, in this (fresh) process; prints one JSON line.

    python -m bench.run_one <scenario> <lambdafan|baseline> <tiny|full>

The line: {"wall_s": ..., "peak_rss_mb": ..., "figures": {...}}. Endpoints and such come from
the environment the parent set (see the scenario's `setup`).
"""

from __future__ import annotations

import json
import sys

from bench.scenarios import SCENARIOS, SIDES, SIZES


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in SIDES or argv[2] not in SIZES:
        print(f"usage: python -m bench.run_one <scenario> {'|'.join(SIDES)} {'|'.join(SIZES)}")
        return 2
    scenario = SCENARIOS.get(argv[0])
    if scenario is None or not scenario.implemented:
        print(f"no implemented scenario {argv[0]!r}", file=sys.stderr)
        return 2
    measurement = scenario.run(argv[1])(argv[2])
    print(json.dumps(measurement.to_json()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
