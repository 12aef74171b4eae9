"""The Director: decides which accounts a run covers, records the run, starts one Worker each.

Lambda may deliver the same event twice or retry it after a crash, so the Director is
idempotent: a scheduled run's id comes from its EventBridge event, the run item is created only
if absent, and a Director that finds its run running starts Workers only for the accounts not
done yet (one that finds it ended does nothing). Each invocation first closes the fleet's runs
that passed their deadline, and a scheduled run that would overlap a running one is skipped
unless the fleet allows overlap.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_src import names, runs, status, table
from lambda_src.accounts import resolve_accounts
from lambda_src.invoke import Invoke, notify_completed
from lambda_src.runs import Clock
from lambda_src.scripts import Account
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore

INVOKE_THREADS = 32
# How many recent runs the Director looks at for overdue or overlapping ones.
RECENT_RUNS = 50
log = logging.getLogger(__name__)


@dataclass
class DirectorDeps:
    store: ItemStore
    organizations: Any | None  # Organizations client, needed only for discovery
    invoke: Invoke
    clock: Clock = runs.utcnow


def run_director(
    event: Mapping[str, Any], settings: FleetSettings, deps: DirectorDeps
) -> dict[str, Any]:
    """Start (or resume) a run. The event may carry `run_id` (chosen by `lambdafan run --now`)
    and `accounts` / `scripts` lists restricting an ad-hoc run; a scheduled event carries
    neither and its run id is derived from the event."""
    now = deps.clock()
    scheduled = runs.scheduled_run_id(event)
    run_id = str(event.get("run_id") or scheduled or runs.new_run_id(now))
    trigger = (
        "schedule" if event.get("source") == "aws.events" else str(event.get("trigger", "manual"))
    )
    try:
        names.run_id_part(run_id)
    except names.KeyPartError as exc:
        log.error("rejected a Director event: %s", exc)
        return {"rejected": str(exc)}
    recent = recent_runs(deps.store)
    closed = close_overdue(recent, settings, deps)
    if scheduled and settings.schedule_overlap == "skip":
        busy = [r for r in recent if _still_running(r, run_id, closed, deps)]
        if busy:
            return _skip(run_id, str(busy[0]["run_id"]), deps)
    only_accounts, only_scripts = event.get("accounts"), event.get("scripts")
    known_scripts = [s.name for s in settings.scripts]
    scripts = [s for s in known_scripts if only_scripts is None or s in only_scripts]
    accounts = resolve_accounts(settings, deps.organizations, only_accounts)
    created, run = runs.start_run(
        deps.store,
        run_id,
        accounts=[a.id for a in accounts],
        scripts=scripts,
        trigger=trigger,
        now=now,
        ttl_days=settings.ttl_days,
        worker_timeout_s=settings.worker_timeout_s,
        home_region=settings.home_region,
        partial=only_accounts is not None or only_scripts is not None,
    )
    response = {
        "run_id": run_id,
        "accounts": len(accounts),
        "scripts": scripts,
        "unknown_accounts": sorted(set(only_accounts or ()) - {a.id for a in accounts}),
        "unknown_scripts": sorted(set(only_scripts or ()) - set(known_scripts)),
        "resumed": not created,
    }
    if not created:
        if status.is_finished(run.get("status")):
            log.info("run %s has ended (%s): nothing to do", run_id, run.get("status"))
            if runs.needs_notifying(run):  # the first Director could not start the Notifier
                notify_completed(deps.invoke, run_id)
            return {**response, "started": 0}
        accounts, scripts = _resume(run, accounts, deps)
    elif not accounts:
        runs.complete_run(deps.store, run_id, [], now)
        notify_completed(deps.invoke, run_id)
    _start_workers(run_id, accounts, scripts, settings, deps)
    return {**response, "started": len(accounts)}


def _resume(
    run: Item, resolved: list[Account], deps: DirectorDeps
) -> tuple[list[Account], list[str]]:
    """A retried Director's work: the run's own accounts (not today's view of the organization)
    that are not done yet, and its scripts."""
    run_id = str(run["run_id"])
    known = {a.id: a.name for a in resolved}
    done = {str(a["account_id"]) for a in table.account_items(deps.store, run_id)}
    pending = [Account(a, known.get(a, a)) for a in run.get("accounts") or () if a not in done]
    # Every account reported but nobody completed the run (a lost counter update).
    if not pending and runs.complete_if_all_done(deps.store, run_id, deps.clock()):
        notify_completed(deps.invoke, run_id)
    return pending, list(run.get("scripts") or ())


def recent_runs(store: ItemStore, limit: int = RECENT_RUNS) -> list[Item]:
    """The newest `limit` run items."""
    found: list[Item] = []
    for run in store.query_runs():
        found.append(run)
        if len(found) >= limit:
            break
    return found


def overdue(recent: list[Item], now: dt.datetime) -> list[str]:
    """Ids of the runs past their deadline and still running."""
    return [str(r["run_id"]) for r in recent if runs.is_overdue(r, now)]


def close_overdue(recent: list[Item], settings: FleetSettings, deps: DirectorDeps) -> list[str]:
    """Close the runs past their deadline as `incomplete` and notify each; their ids."""
    closed = []
    for run_id in overdue(recent, deps.clock()):
        # Every account reported and only the last counter update was lost: complete it.
        if runs.complete_if_all_done(deps.store, run_id, deps.clock()):
            notify_completed(deps.invoke, run_id)
            closed.append(run_id)
            continue
        silent = runs.close_run(
            deps.store,
            run_id,
            status.INCOMPLETE,
            reason="never reported before the run's deadline",
            error_type="NeverReported",
            now=deps.clock(),
            ttl_days=settings.ttl_days,
        )
        if silent:
            log.warning("run %s closed as incomplete: %s never reported", run_id, silent)
            notify_completed(deps.invoke, run_id)
        closed.append(run_id)
    return closed


def _still_running(run: Item, run_id: str, closed: list[str], deps: DirectorDeps) -> bool:
    return (
        run.get("status") == status.RUNNING
        and str(run["run_id"]) != run_id
        and str(run["run_id"]) not in closed
        and not runs.is_overdue(run, deps.clock())
    )


def _skip(run_id: str, running: str, deps: DirectorDeps) -> dict[str, Any]:
    """A scheduled run that would overlap a running one: logged, notified, not started."""
    reason = (
        f"scheduled run {run_id} skipped: run {running} is still running (schedule_overlap: skip)"
    )
    log.warning(reason)
    deps.invoke("notifier", {"notice": reason})
    return {"run_id": run_id, "skipped": reason, "started": 0}


def _start_workers(
    run_id: str,
    accounts: list[Account],
    scripts: list[str],
    settings: FleetSettings,
    deps: DirectorDeps,
) -> None:
    """Invoke every Worker concurrently; an account whose Worker cannot start is marked failed
    so the run still completes."""
    if not accounts:
        return
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
        attempt=runs.DIRECTOR_ATTEMPT,
        now=deps.clock(),
        ttl_days=settings.ttl_days,
    )
    if finish.notify:
        notify_completed(deps.invoke, run_id)
