"""The Director: decides which accounts a run covers, records the run, starts one Worker each."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_src import runs
from lambda_src.accounts import resolve_accounts
from lambda_src.invoke import Invoke, notify_completed
from lambda_src.runs import Clock
from lambda_src.scripts import Account
from lambda_src.settings import FleetSettings
from lambda_src.table import ItemStore

INVOKE_THREADS = 32


@dataclass
class DirectorDeps:
    store: ItemStore
    organizations: Any | None  # Organizations client, needed only for discovery
    invoke: Invoke
    clock: Clock = runs.utcnow


def run_director(
    event: Mapping[str, Any], settings: FleetSettings, deps: DirectorDeps
) -> dict[str, Any]:
    """Start a run. The event may carry `run_id` (chosen by `lambdafan run --now`), and
    `accounts` / `scripts` lists restricting an ad-hoc run; a scheduled event carries neither."""
    now = deps.clock()
    run_id = str(event.get("run_id") or runs.new_run_id(now))
    only_accounts = event.get("accounts")
    only_scripts = event.get("scripts")
    known_scripts = [s.name for s in settings.scripts]
    scripts = [s for s in known_scripts if only_scripts is None or s in only_scripts]
    accounts = resolve_accounts(settings, deps.organizations, only_accounts)
    trigger = (
        "schedule" if event.get("source") == "aws.events" else str(event.get("trigger", "manual"))
    )
    runs.start_run(
        deps.store,
        run_id,
        accounts_expected=len(accounts),
        accounts=[a.id for a in accounts],
        scripts=scripts,
        trigger=trigger,
        now=now,
        ttl_days=settings.ttl_days,
    )
    if not accounts:
        runs.complete_run(deps.store, run_id, [], now)
        notify_completed(deps.invoke, run_id)
    else:
        _start_workers(run_id, accounts, scripts, settings, deps)
    return {
        "run_id": run_id,
        "accounts": len(accounts),
        "scripts": scripts,
        "unknown_accounts": sorted(set(only_accounts or ()) - {a.id for a in accounts}),
        "unknown_scripts": sorted(set(only_scripts or ()) - set(known_scripts)),
    }


def _start_workers(
    run_id: str,
    accounts: list[Account],
    scripts: list[str],
    settings: FleetSettings,
    deps: DirectorDeps,
) -> None:
    """Invoke every Worker concurrently; an account whose Worker cannot start is marked failed
    so the run still completes."""
    regions = None if settings.regions is None else list(settings.regions)

    def start(account: Account) -> None:
        payload = {
            "run_id": run_id,
            "account": {"id": account.id, "name": account.name},
            "regions": regions,
            "scripts": scripts,
        }
        try:
            deps.invoke("worker", payload)
        except Exception as exc:
            _worker_not_started(run_id, account, exc, settings, deps)

    with cf.ThreadPoolExecutor(max_workers=min(INVOKE_THREADS, len(accounts))) as pool:
        list(pool.map(start, accounts))


def _worker_not_started(
    run_id: str, account: Account, exc: Exception, settings: FleetSettings, deps: DirectorDeps
) -> None:
    finish = runs.fail_account(
        deps.store,
        run_id,
        account.id,
        account.name,
        error_type=type(exc).__name__,
        message=f"Worker could not be started: {exc}",
        now=deps.clock(),
        ttl_days=settings.ttl_days,
    )
    if finish is runs.Finish.COMPLETED:
        notify_completed(deps.invoke, run_id)
