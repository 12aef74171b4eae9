"""Scenario 1: the fan-out over an organization (120 accounts x 16 regions, tiny: 6 x 4).

lambdafan's side is `run --local`'s machinery: the `LocalExecutor` runs the Director (the
member accounts listed in its settings, as botocove leaves out the management account), one
Worker per account (which assumes the member role once)
and each account's regions on the executor's threads, in-process moto, a memory store. The
script is `bench/sleepy_call.py` (the task: `get_caller_identity` in the region, 0.2 s). Every
record's caller is checked against its account (`fanout_org.tally`). The baselines, awsrun and
botocove doing the same task, are in `bench.fanout_peers`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.fanout_org import HOME, REGIONS, ROLE, SIZES, complete, organization, tally
from bench.fanout_peers import baseline_awsrun, baseline_botocove
from bench.measurement import Measurement

__all__ = ["baseline_awsrun", "baseline_botocove", "lambdafan", "passes"]

TASK = Path(__file__).resolve().parent / "sleepy_call.py"
MEMORY_LIMIT_MB = 150.0


def threads() -> int:
    """The executor's threads: `run --local`'s default unless BENCH_THREADS says otherwise."""
    from lambdafan.local import DEFAULT_THREADS

    return int(os.environ.get("BENCH_THREADS") or DEFAULT_THREADS)


def lambdafan(size: str) -> Measurement:
    """The fan-out through the LocalExecutor; the wall is `executor.run()`, Director to Notifier."""
    accounts, regions = SIZES[size]
    with organization(accounts) as ids:
        from lambda_src.settings import AccountRef, FleetSettings, ScriptRef
        from lambdafan.aws import Aws
        from lambdafan.local import LocalExecutor, fleet_scripts
        from lambdafan.memory_store import MemoryStore

        settings = FleetSettings(
            fleet="bench",
            home_region=HOME,
            scripts=(ScriptRef("sleepy_call", str(TASK)),),
            accounts=tuple(AccountRef(i, f"member-{n}") for n, i in enumerate(ids)),
            regions=REGIONS[:regions],
            member_role=ROLE,
        )
        count = threads()
        aws = Aws.connect(region=HOME, threads=count)
        store = MemoryStore()
        executor = LocalExecutor(
            settings, aws, store, fleet_scripts(settings, load=True), threads=count, sandbox=False
        )
        start, cpu = time.perf_counter(), time.process_time()
        result = executor.run()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        records = [i for i in store._items.values() if i["kind"] == "record"]
        answers = [(i["account_id"], i["region"], i["data"]["caller"]) for i in records]
    figures = tally(answers, ids, regions)
    figures.update(
        threads=count,
        cpu_s=round(cpu, 2),
        errors=len(result.summary.errors),
        status=result.summary.status,
    )
    return Measurement(wall_s=wall, figures=figures)


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    """Fast enough (the row's bound, checked by the caller's ratio), every pair answered once by
    its own account, and each run's peak RSS within 150 MB."""
    return all(complete(m.figures) and m.peak_rss_mb <= MEMORY_LIMIT_MB for m in runs)
