"""The run lifecycle: run ids, expiry, and marking accounts done exactly once."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lambda_src import names, table
from lambda_src.table import ItemStore

Clock = Callable[[], dt.datetime]
# The run item's string set of the accounts that are done.
DONE_SET = "done_accounts"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_run_id(now: dt.datetime) -> str:
    """A run id that sorts by start time: `20261126T224104Z-3f9a1c`."""
    return f"{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def iso(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def expiry(now: dt.datetime, ttl_days: int) -> int:
    """Epoch seconds after which DynamoDB's TTL may delete an item."""
    return int((now + dt.timedelta(days=ttl_days)).timestamp())


def start_run(
    store: ItemStore,
    run_id: str,
    *,
    accounts_expected: int,
    scripts: Sequence[str],
    trigger: str,
    now: dt.datetime,
    ttl_days: int,
    accounts: Sequence[str] = (),
) -> None:
    """Create the run item; must happen before the first Worker is invoked."""
    store.put_items(
        [
            table.run_item(
                run_id,
                started_at=iso(now),
                accounts_expected=accounts_expected,
                scripts=scripts,
                trigger=trigger,
                expires_at=expiry(now, ttl_days),
                accounts=accounts,
            )
        ]
    )


class Finish(enum.Enum):
    """What marking an account done did to its run."""

    DUPLICATE = "duplicate"  # this account was already done: nothing counted
    COUNTED = "counted"  # counted; other accounts are still running
    COMPLETED = "completed"  # counted, and this call completed the run: notify


def finish_account(
    store: ItemStore,
    run_id: str,
    account_id: str,
    account_name: str,
    *,
    records_by_script: Mapping[str, int],
    errors: int,
    failed: bool,
    now: dt.datetime,
    ttl_days: int,
) -> Finish:
    """Mark an account done; `Finish.COMPLETED` for exactly one call per run.

    The account's done item (its counts) is written first; then one conditional update adds the
    account to the run item's `done_accounts` set and its counters, only if it is not in the set
    yet. So a duplicate Worker counts nothing, and the update's result says exactly when the
    last account is in: that Worker reads the done items once to set exact totals, and the
    conditional switch to `complete` lets exactly one caller win.
    """
    marker = table.account_done_item(
        run_id,
        account_id,
        account_name,
        records_by_script=records_by_script,
        errors=errors,
        failed=failed,
        finished_at=iso(now),
        expires_at=expiry(now, ttl_days),
    )
    # A plain put: a retried Worker rewrites the same item, never a second one.
    store.put_items([marker])
    counters = {
        "accounts_done": 1,
        "accounts_failed": int(failed),
        "records": marker["records"],
        "errors": errors,
    }
    run = store.add_member(names.run_pk(run_id), names.RUN_SK, DONE_SET, account_id, counters)
    if run is None:
        return Finish.DUPLICATE
    if len(run.get(DONE_SET) or ()) < int(run.get("accounts_expected", 0)):
        return Finish.COUNTED
    return Finish.COMPLETED if complete_if_all_done(store, run_id, now) else Finish.COUNTED


def fail_account(
    store: ItemStore,
    run_id: str,
    account_id: str,
    account_name: str,
    *,
    error_type: str,
    message: str,
    now: dt.datetime,
    ttl_days: int,
) -> Finish:
    """Record that an account produced nothing (its Worker never ran, or Lambda gave up on it):
    one account-wide error item, and the account done as failed, so the run still completes."""
    store.put_items(
        [
            table.error_item(
                run_id,
                account_id,
                account_name,
                table.ACCOUNT_WIDE,
                table.ACCOUNT_WIDE,
                error_type=error_type,
                message=message,
                collected_at=iso(now),
                expires_at=expiry(now, ttl_days),
            )
        ]
    )
    return finish_account(
        store,
        run_id,
        account_id,
        account_name,
        records_by_script={},
        errors=1,
        failed=True,
        now=now,
        ttl_days=ttl_days,
    )


def complete_if_all_done(store: ItemStore, run_id: str, now: dt.datetime) -> bool:
    """Complete the run when every expected account has its done item; True for the one call
    that completed it. Also a safety net for callers that know all Workers have returned."""
    run = table.get_run(store, run_id)
    if run is None or run.get("status") != "running":
        return False
    done = list(table.account_items(store, run_id))
    if len(done) < int(run["accounts_expected"]):
        return False
    return complete_run(store, run_id, done, now)


def complete_run(
    store: ItemStore, run_id: str, done: Sequence[Mapping[str, Any]], now: dt.datetime
) -> bool:
    """Switch a running run to complete with totals from its done items; False if already done."""
    totals = {
        "status": "complete",
        "finished_at": iso(now),
        "accounts_done": len(done),
        "accounts_failed": sum(1 for d in done if d.get("failed")),
        "records": sum(int(d.get("records", 0)) for d in done),
        "errors": sum(int(d.get("errors", 0)) for d in done),
    }
    return store.update_if(names.run_pk(run_id), names.RUN_SK, totals, when=("status", "running"))
