"""Scenario 3: the Director (`lambda_src.director.run_director`, its real code path on a
`MemoryStore`) starting one Worker per account, every Invoke taking 50 ms (an injected sleep),
vs the same invokes issued one after another in a plain loop. The wall is until every invoke
was issued and returned; each side checks that every account's Worker was invoked once."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.measurement import Measurement

ACCOUNTS = {"tiny": 20, "full": 1_000}
INVOKE_S = 0.05
LIMIT_S = 3.0  # issue 12's target: every invoke issued within 3 s (at the full size)


def _account_ids(size: str) -> list[str]:
    return [f"{100_000_000_000 + i:012d}" for i in range(ACCOUNTS[size])]


class _Invoker:
    """The injected Invoke: sleeps 50 ms and records which Worker it started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workers: list[str] = []
        self.others: list[str] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        time.sleep(INVOKE_S)
        with self.lock:
            if kind == "worker":
                self.workers.append(payload["account"]["id"])
            else:
                self.others.append(kind)


def _checked(wall: float, invoker: _Invoker, accounts: list[str]) -> Measurement:
    if sorted(invoker.workers) != sorted(accounts):
        raise RuntimeError(f"{len(invoker.workers)} Worker invokes for {len(accounts)} accounts")
    return Measurement(
        wall_s=wall,
        figures={
            "invokes": len(invoker.workers),
            "invokes_per_s": round(len(invoker.workers) / wall),
            "other_invokes": len(invoker.others),
        },
    )


def lambdafan(size: str) -> Measurement:
    from lambda_src.director import DirectorDeps, run_director
    from lambda_src.settings import AccountRef, FleetSettings, ScriptRef
    from lambdafan.memory_store import MemoryStore

    accounts = _account_ids(size)
    settings = FleetSettings(
        fleet="bench",
        home_region="us-east-1",
        scripts=(ScriptRef("whoami", "whoami.py"),),
        accounts=tuple(AccountRef(a, f"acct-{a[-4:]}") for a in accounts),
        regions=("us-east-1", "eu-west-1"),
        member_role="OrganizationAccountAccessRole",
    )
    invoker = _Invoker()
    deps = DirectorDeps(store=MemoryStore(), organizations=None, invoke=invoker)
    began = time.perf_counter()
    response = run_director({"run_id": "bench-director"}, settings, deps)
    wall = time.perf_counter() - began
    if response.get("started") != len(accounts):
        raise RuntimeError(f"the Director answered {response}")
    return _checked(wall, invoker, accounts)


def baseline(size: str) -> Measurement:
    accounts = _account_ids(size)
    invoker = _Invoker()
    began = time.perf_counter()
    for account in accounts:
        payload = {
            "run_id": "bench-loop",
            "account": {"id": account, "name": f"acct-{account[-4:]}"},
            "regions": ["us-east-1", "eu-west-1"],
            "scripts": ["whoami"],
        }
        invoker("worker", payload)
    return _checked(time.perf_counter() - began, invoker, accounts)


def passes(lambdafan_s: float, ratio: float, runs: list[Measurement]) -> bool:
    """Every invoke issued within 3 s (the median run; the full size is what the target means)."""
    return lambdafan_s <= LIMIT_S
