"""Scenario 4: a Worker's peak memory, parent and script sandbox together.

One Worker invocation as the Lambda handler makes it (bench/sandbox_worker.py's world: a seeded
member account on moto's server, started by the parent, the results table, every built-in
script, 17 regions; tiny: 2), in this fresh process. lambdafan: the scripts in the process
sandbox (`ProcessSandbox`, cold: this invocation starts its zygote, as a Worker's first
invocation on Lambda does); baseline: the same Worker with the scripts on its own threads
(`sandbox=None`), so the row shows what the sandbox costs in memory.

The figure is the peak, over samples every ~30 ms of this process and every process below it
(`bench.proc_memory.TreeSampler`, on a thread here), of this process's RSS plus its
descendants' PSS (pages they share counted once between them). What makes up that peak is in
`figures`: the parent's RSS, and per kind of process below it (zygote, runners) the
PSS and private memory (USS) summed and how many were alive. The time is the invocation's wall
time with the sampler running (it costs a few percent of a core: bench/sandbox_worker.py times
the Worker without it). `BENCH_MAX_JOBS=N` in the environment caps the sandbox at N jobs at
once (the Lambda handler sets no cap): what fewer script processes at a time would save.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

from bench.measurement import Measurement

TARGET_MB = 160.0
TINY_REGIONS = ("us-east-1", "eu-west-1")
SAMPLE_S = 0.03
WORKER_MEMORY_MB = 1024  # the Worker function's default size
ROLES = {1: "zygote", 2: "runners"}  # depth below the Worker's process
MB = 1024 * 1024


def _regions(size: str) -> tuple[str, ...]:
    from bench.sandbox_worker import REGIONS

    return TINY_REGIONS if size == "tiny" else REGIONS


@contextlib.contextmanager
def setup(size: str) -> Iterator[dict[str, str]]:
    """moto's server with the member account seeded and the results table made."""
    from bench.moto_server import moto_server, server_env
    from bench.sandbox_worker import SEEDED_REGIONS, seed

    saved = dict(os.environ)
    try:
        with moto_server() as endpoint:
            # Sets this process's environment to the server's: undone below.
            seed(endpoint, TINY_REGIONS if size == "tiny" else SEEDED_REGIONS)
            env = server_env(endpoint)
            os.environ.clear()
            os.environ.update(saved)
            yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _worker(size: str, sandboxed: bool) -> Measurement:
    """One Worker invocation, built as `lambda_src.handlers` builds it, sampled throughout."""
    import boto3
    import botocore.session

    from bench.proc_memory import TreeSampler
    from bench.sandbox_worker import ACCOUNT, settings
    from lambda_src.aws_session import RETRY_CONFIG
    from lambda_src.dynamo_store import DynamoStore
    from lambda_src.invoke import lambda_invoker
    from lambda_src.run_cost import CountingCloudWatch, MeteredStore
    from lambda_src.sandbox import ProcessSandbox, hide_process_memory, memory_limit_mb
    from lambda_src.scripts import describe_script
    from lambda_src.settings import resolve_script_path
    from lambda_src.worker import WorkerDeps, run_worker

    regions = _regions(size)
    fleet = settings(regions)
    core = botocore.session.get_session()
    core.set_config_variable("sts_regional_endpoints", "regional")
    session = boto3.Session(botocore_session=core)
    store = MeteredStore(
        DynamoStore(session.client("dynamodb", config=RETRY_CONFIG), fleet.table_name)
    )
    cloudwatch = CountingCloudWatch(session.client("cloudwatch", config=RETRY_CONFIG))
    specs = tuple(describe_script(resolve_script_path(r), r.name) for r in fleet.scripts)
    sandbox = None
    if sandboxed:
        hide_process_memory()
        sandbox = ProcessSandbox(max_jobs=int(os.environ.get("BENCH_MAX_JOBS") or 0) or None)
    # As the handler's: the Notifier's invoker holds a Lambda client (this run never completes:
    # no Director made its run item, so nothing is invoked).
    invoke = lambda_invoker(session.client("lambda", config=RETRY_CONFIG), fleet)
    deps = WorkerDeps(
        store=store,
        base_session=session,
        invoke=invoke,
        scripts=specs,
        sandbox=sandbox,
        sandbox_memory_mb=memory_limit_mb(WORKER_MEMORY_MB) if sandbox else None,
        remaining_ms=lambda: 900_000,
        cloudwatch=cloudwatch,
    )
    event = {
        "run_id": f"bench4-{os.getpid()}",
        "account": {"id": ACCOUNT, "name": "bench-member"},
        "regions": list(regions),
    }
    sampler = TreeSampler(os.getpid(), interval=SAMPLE_S).start()
    try:
        began = time.perf_counter()
        result = run_worker(event, fleet, deps)
        wall = time.perf_counter() - began
    finally:
        sampler.stop()
        if sandbox is not None:
            sandbox.close()
    if result.failed or result.records == 0 or result.completed_run:
        raise RuntimeError(f"the Worker failed: {result.as_dict()} {result.errors[:3]}")
    peaks = sampler.overall
    by_role = {
        ROLES.get(depth, f"depth {depth}"): {
            "pss_mb": _mb(memory.pss),
            "uss_mb": _mb(memory.uss),
            "rss_mb": _mb(memory.rss),
            "alive": peaks.at_peak_alive.get(depth, 0),
        }
        for depth, memory in sorted(peaks.at_peak_by_depth.items())
    }
    figures: dict[str, Any] = {
        "sandbox": sandboxed,
        "regions": len(regions),
        "records": result.records,
        "errors": len(result.errors),
        "worker_s": round(wall, 3),
        "peak_mb": _mb(peaks.root_rss_children_pss),
        "at_peak": {"parent_rss_mb": _mb(peaks.at_peak_root.rss), **by_role},
        "parent_peak_rss_mb": _mb(peaks.root.rss),
        "children_peak_pss_mb": _mb(peaks.children.pss),
        "children_peak_uss_mb": _mb(peaks.children.uss),
        "tree_peak_pss_mb": _mb(peaks.tree_pss),
        "most_alive": {ROLES.get(d, str(d)): n for d, n in peaks.alive_by_depth.items()},
        "samples": peaks.samples,
        "sample_ms": round(sampler.cost_ms_per_sample, 1),
    }
    if sampler.unreadable:
        figures["unreadable"] = sampler.unreadable  # non-dumpable and not root: too low
    return Measurement(wall_s=wall, peak_rss_mb=peaks.root_rss_children_pss / MB, figures=figures)


def _mb(value: int) -> float:
    return round(value / MB, 1)


def lambdafan(size: str) -> Measurement:
    return _worker(size, sandboxed=True)


def baseline(size: str) -> Measurement:
    return _worker(size, sandboxed=False)


def ratio(lambdafan: Measurement, baseline: Measurement) -> float:
    """The sandboxed Worker's peak memory over the in-process one's."""
    return lambdafan.peak_rss_mb / baseline.peak_rss_mb


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    """The sandboxed Worker's median peak (parent RSS + sandbox PSS) within 160 MB."""
    return statistics.median(m.peak_rss_mb for m in runs) <= TARGET_MB
