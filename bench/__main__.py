"""`python -m bench`: each scenario beside its baseline, in one invocation.

    python -m bench                                  # every scenario, full size, 3 repeats
    python -m bench --scenarios 5,6 --size tiny --repeat 1 --no-write

Each side runs in a process of its own (`python -m bench.run_one`), so its peak RSS is its own;
the sides take turns (lambdafan, baseline, lambdafan, ...) so the machine's load hits both alike;
the table shows medians, and is written to bench/RESULTS.md unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.measurement import Measurement
from bench.scenarios import SCENARIOS, SIDES, SIZES, Scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
HEADER = ("#", "scenario", "lambdafan", "baseline", "ratio", "target", "result")
RATIO = (
    "Each side in a process of its own, sides interleaved, medians of the repeats; a figure is "
    "the timed part's wall time and that process's peak RSS. The baseline is what the row's "
    "name compares with (a peer tool, a plain loop, another lambdafan setting). Ratio: "
    "baseline ÷ lambdafan when the target is a speedup, lambdafan ÷ baseline when it is a cost "
    "(of memory for rows 4 and 8); a row passes when the ratio and the row's own checks "
    "(memory, every pair answered by its own account, no mutating call...) hold."
)


@dataclass
class Row:
    scenario: Scenario
    lambdafan: list[Measurement]
    baseline: list[Measurement]

    def cells(self) -> tuple[str, ...]:
        s = self.scenario
        if not s.implemented:
            return (s.number, s.name, "—", "—", "—", s.target, "TODO (not implemented)")
        lf, base = _median(self.lambdafan), _median(self.baseline)
        ratio = s.ratio(lf, base)
        check = s.check
        ok = s.passes(ratio) and (check is None or check(lf.wall_s, ratio, self.lambdafan))
        verdict = "pass" if ok else "FAIL"
        kind = "faster" if s.faster else "of baseline"
        return (
            s.number,
            s.name,
            _figure(lf),
            _figure(base),
            f"{ratio:.2f}× {kind}",
            s.target,
            verdict,
        )


def _median(runs: list[Measurement]) -> Measurement:
    return Measurement(
        wall_s=statistics.median(m.wall_s for m in runs),
        peak_rss_mb=statistics.median(m.peak_rss_mb for m in runs),
        figures=runs[0].figures if len(runs) == 1 else {},
    )


def _figure(m: Measurement) -> str:
    wall = f"{m.wall_s * 1000:.0f} ms" if m.wall_s < 1 else f"{m.wall_s:.2f} s"
    return f"{wall}, {m.peak_rss_mb:.0f} MB"


def run_side(scenario: Scenario, side: str, size: str, env: dict[str, str]) -> Measurement:
    """One side in a fresh interpreter; its last stdout line is the measurement."""
    child_env = {**os.environ, **env}
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), child_env.get("PYTHONPATH", "")) if p
    )
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.run_one", scenario.number, side, size],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"scenario {scenario.number} {side} exited {done.returncode}: {done.stderr[-2000:]}"
        )
    measured = Measurement.from_json(json.loads(done.stdout.strip().splitlines()[-1]))
    measured.figures["process_s"] = round(time.perf_counter() - began, 3)
    return measured


def run_scenario(scenario: Scenario, size: str, repeat: int) -> Row:
    row = Row(scenario, [], [])
    if not scenario.implemented:
        return row
    with scenario.setup(size) as env:
        for turn in range(repeat):
            for side in SIDES:
                if side == "baseline" and turn >= (scenario.baseline_repeat or repeat):
                    continue
                measured = run_side(scenario, side, size, env)
                (row.lambdafan if side == "lambdafan" else row.baseline).append(measured)
    return row


def render(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    versions = ", ".join(f"{d} {_version(d)}" for d in ("lambdafan", "boto3", "botocore", "moto"))
    return (
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()}), "
        f"Python {platform.python_version()}; {versions}"
    )


def raw_runs(rows: list[Row]) -> str:
    """Every run's measurement, one JSON line each, in the order they ran."""
    lines = []
    for row in rows:
        for side, runs in (("lambdafan", row.lambdafan), ("baseline", row.baseline)):
            for i, m in enumerate(runs):
                lines.append(f"{row.scenario.number} {side} #{i + 1}: {json.dumps(m.to_json())}")
    return "\n".join(lines)


def write_results(table: str, raw: str, command: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.write_text(
        "# lambdafan benchmarks\n\n"
        f"Run {now} with `{command}` on {machine()}.\n\n"
        f"{RATIO}\n\n"
        f"{table}\n\n"
        "Every run (`process_s`: the child's whole life, interpreter start included, timed "
        "by the parent):\n\n"
        f"```\n{raw}\n```\n"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    scenarios = "\n".join(
        f"  {s.number:<3} {s.name} (target: {s.target})" for s in SCENARIOS.values()
    )
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n")[0],
        epilog=f"scenarios:\n{scenarios}\n\n{RATIO}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="e.g. 5,6 (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="full",
        help="full (default): the sizes the targets are set for; tiny: a smoke run in seconds, "
        "whose verdicts mean little (fixed costs dominate)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a target is missed (default: exit 0, the verdicts are in the table)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args(argv)
    args.chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in args.chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    rows = []
    for number in args.chosen:
        scenario = SCENARIOS[number]
        print(f"scenario {number}: {scenario.name} ...", file=sys.stderr, flush=True)
        rows.append(run_scenario(scenario, args.size, args.repeat))
    table = render(rows)
    print(f"{machine()}\n\n{table}\n\n{RATIO}")
    if args.size == "tiny":
        print("Tiny size: a smoke run; the targets are set for the full size.")
    if not args.no_write:
        chosen = ",".join(args.chosen)
        command = f"python -m bench --scenarios {chosen} --size {args.size} --repeat {args.repeat}"
        write_results(table, raw_runs(rows), command)
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    failed = any(r.scenario.implemented and r.cells()[-1] == "FAIL" for r in rows)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
