"""Scenario 7: a no-change deploy vs the first deploy, against moto's server (one for the
scenario, started by the parent).

The parent's setup deploys one fleet first, in a process of its own (which also warms moto's
server up); the lambdafan side then deploys that same config again, in a fresh process as a CLI
run would, timed, counting every mutating AWS call it makes (any operation that is not a read:
Describe, Get, List, Head, ...), which must be none. The baseline side is the first deploy of a
fresh fleet, in a fresh process too; the ratio is no-change ÷ first. Both walls include
botocore loading its service models (a fresh process), not lambdafan's imports.

moto answers a call in ~1-6 ms, AWS in 20-300 ms (and a first deploy waits on IAM besides): on
moto both deploys are mostly a fresh process's fixed cost. Row 7l adds `LATENCY_S` to every
call on both sides, AWS's round trip at its fastest, to measure what the target is about: the
calls a no-change deploy does not make, and the reads it makes at once."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.measurement import Measurement

ROOT = Path(__file__).resolve().parent.parent
WHOAMI = ROOT / "tests" / "scripts" / "whoami.py"
READS = ("Describe", "Get", "List", "Head", "Lookup", "Query", "Scan", "BatchGet", "Select")
_READ_CALLS: list[str] = []  # every read made by a deploy in this process (a figure)
SHARE = 0.25  # issue 12: a no-change deploy takes at most 25% of the first's wall
LATENCY_S = 0.05  # row 7l: per call, as scenario 3's 50 ms per Invoke
_latency_s = 0.0  # what this process adds to every call


@contextlib.contextmanager
def setup(size: str) -> Iterator[dict[str, str]]:
    """moto's server (lambdafan's own, `moto_main`), its endpoint for the children."""
    from bench.moto_server import moto_server, server_env

    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        env = server_env(endpoint)
        config = _config(Path(tmp), _fleet())
        pythonpath = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        done = subprocess.run(
            [sys.executable, "-m", "bench.scenario_deploy", str(config)],
            cwd=ROOT,
            env={**env, "PYTHONPATH": pythonpath},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scenario 7's first deploy failed: {done.stderr[-2000:]}")
        first = json.loads(done.stdout.strip().splitlines()[-1])
        yield {
            **env,
            "BENCH_DEPLOY_CONFIG": str(config),
            "BENCH_DEPLOY_SETUP_FIRST_S": str(first["wall_s"]),
        }


def _config(folder: Path, fleet: str) -> Path:
    """tests/conftest.py's deployable_config: a one-account fleet, a built-in and a user script."""
    import yaml

    shutil.copy(WHOAMI, folder / "whoami.py")
    config = {
        "fleet": fleet,
        "home_region": "us-east-1",
        "schedule": "rate(1 day)",
        "accounts": {"list": ["111111111111"]},
        "regions": ["us-east-1"],
        "scripts": ["ec2_instances", "whoami.py"],
        "functions": {"worker": {"memory": 1024}},
    }
    path = folder / "lambdafan.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def _counting_mutations() -> Iterator[list[str]]:
    """Every AWS operation made meanwhile that is not a read, by name."""
    from botocore.client import BaseClient

    mutating: list[str] = []
    original = BaseClient._make_api_call

    def counted(self: BaseClient, operation: str, params: Any) -> Any:
        name = f"{self.meta.service_model.service_name}.{operation}"
        (_READ_CALLS if operation.startswith(READS) else mutating).append(name)
        if _latency_s:
            time.sleep(_latency_s)
        return original(self, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield mutating
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def _deploy(config_path: Path) -> tuple[float, list[str]]:
    """One `deploy_fleet` of the config in a fresh session (as a CLI run would); its wall and
    mutating calls."""
    from lambdafan.aws import Aws
    from lambdafan.config import load_config
    from lambdafan.deploy.clients import DeployClients
    from lambdafan.deploy.fleet import deploy_fleet

    with _counting_mutations() as mutating:
        began = time.perf_counter()
        config = load_config(config_path)
        aws = Aws.connect(region=config.home_region)
        deploy_fleet(config, DeployClients.from_aws(aws, config.home_region))
        wall = time.perf_counter() - began
    return wall, mutating


def _fleet() -> str:
    return f"b{uuid.uuid4().hex[:8]}"


def lambdafan(size: str) -> Measurement:
    """The setup's fleet deployed again: nothing changed."""
    again_s, mutating = _deploy(Path(os.environ["BENCH_DEPLOY_CONFIG"]))
    return Measurement(
        wall_s=again_s,
        figures={
            "setup_first_s": float(os.environ["BENCH_DEPLOY_SETUP_FIRST_S"]),
            "mutating_calls": len(mutating),
            "mutating": sorted(set(mutating)),
            "read_calls": len(_READ_CALLS),
        },
    )


def baseline(size: str) -> Measurement:
    with tempfile.TemporaryDirectory() as tmp:
        first_s, mutating = _deploy(_config(Path(tmp), _fleet()))
    return Measurement(wall_s=first_s, figures={"mutating_calls": len(mutating)})


def lambdafan_latency(size: str) -> Measurement:
    """Row 7l: the no-change deploy, every call `LATENCY_S` slower."""
    global _latency_s
    _latency_s = LATENCY_S
    return lambdafan(size)


def baseline_latency(size: str) -> Measurement:
    """Row 7l: the first deploy, every call `LATENCY_S` slower."""
    global _latency_s
    _latency_s = LATENCY_S
    return baseline(size)


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    """No mutating call in any no-change deploy, and the median no-change wall ≤ 25% of the
    median first deploy's (the baseline side, each in a process of its own)."""
    return ratio <= SHARE and all(m.figures.get("mutating_calls") == 0 for m in runs)


def main(argv: list[str]) -> int:
    """`python -m bench.scenario_deploy CONFIG`: the setup's first deploy; one JSON line."""
    wall, mutating = _deploy(Path(argv[0]))
    print(json.dumps({"wall_s": round(wall, 4), "mutating_calls": len(mutating)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
