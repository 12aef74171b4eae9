"""The run lifecycle, one place for every way a run moves on.

A run starts when the Director creates its run item, only if absent: a retried Director finds
it and resumes (or, when the run already ended, does nothing). Each account is finished once:
its done item is written only if absent, and that conditional write is the gate, so a duplicate,
late or retried Worker (or Lambda's give-up record) changes nothing. The winner then adds its
counts to the run item, and the caller whose addition brings every account in completes the run
(`complete` or `complete with failures`) with totals read from the done items, the one source of
truth. A run that passes its deadline with silent accounts is closed as `incomplete` (those
accounts named as failed) by the next Director; a local run stopped by Ctrl-C is closed as
`interrupted`; a Director that cannot start the run leaves it `failed to start` (recorded by
the Notifier from the Director's on-failure record: `notifier.fail_to_start`).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lambda_src import names, status, table
from lambda_src.table import ItemStore

Clock = Callable[[], dt.datetime]
log = logging.getLogger(__name__)

# Lambda keeps an async event this long at most (its own cap is 6 hours): a Worker can't start
# later than this after the Director invoked it. Deploy sets it on the Worker.
MAX_EVENT_AGE_S = 21_600
# Slack for the Director's own work and clock differences.
DEADLINE_MARGIN_S = 600
# Attempt ids of account failures not written by a Worker.
DIRECTOR_ATTEMPT = "director"
GAVE_UP_ATTEMPT = "lambda"
CLOSER_ATTEMPT = "closer"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_run_id(now: dt.datetime) -> str:
    """A run id that sorts by start time: `20261126T224104Z-3f9a1c`."""
    return f"{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def scheduled_run_id(event: Mapping[str, Any]) -> str | None:
    """The run id of a scheduled (EventBridge) event, from its time and id, so that Lambda
    delivering or retrying the same event resumes the same run; None for other events."""
    if event.get("source") != "aws.events" or not event.get("time") or not event.get("id"):
        return None
    fired = dt.datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    digest = hashlib.sha256(str(event["id"]).encode("utf-8")).hexdigest()[:6]
    return f"{fired.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{digest}"


def new_attempt() -> str:
    """The id of one Worker invocation; its records and errors carry it."""
    return secrets.token_hex(4)


def iso(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def expiry(now: dt.datetime, ttl_days: int) -> int:
    """Epoch seconds after which DynamoDB's TTL may delete an item."""
    return int((now + dt.timedelta(days=ttl_days)).timestamp())


def worker_event_age_s(worker_timeout_s: int) -> int:
    """How old a Worker's async event may get before Lambda gives it to the Notifier: three
    attempts of the timeout plus ten minutes of queueing and backoff, at most 6 hours. Deploy
    sets it on the Worker; the run's deadline counts on it."""
    return min(MAX_EVENT_AGE_S, 3 * worker_timeout_s + DEADLINE_MARGIN_S)


def run_deadline(started: dt.datetime, worker_timeout_s: int) -> dt.datetime:
    """After this, no Worker of the run can still report: the last one may start as late as
    the event age allows and then runs for its timeout."""
    seconds = worker_event_age_s(worker_timeout_s) + worker_timeout_s + DEADLINE_MARGIN_S
    return started + dt.timedelta(seconds=seconds)


def is_overdue(run: Mapping[str, Any], now: dt.datetime) -> bool:
    """A run still `running` after its deadline: some accounts will never report."""
    deadline = run.get("deadline_at")
    return (
        run.get("status") == status.RUNNING
        and bool(deadline)
        and dt.datetime.fromisoformat(str(deadline)) < now
    )


def start_run(
    store: ItemStore,
    run_id: str,
    *,
    accounts: Sequence[str],
    scripts: Sequence[str],
    trigger: str,
    now: dt.datetime,
    ttl_days: int,
    worker_timeout_s: int,
    home_region: str | None = None,
    partial: bool = False,
) -> tuple[bool, table.Item]:
    """Create the run item if absent. (True, it) when created; (False, the existing one) when a
    run with this id exists already, which a retried Director resumes or leaves alone."""
    item = table.run_item(
        run_id,
        started_at=iso(now),
        accounts_expected=len(accounts),
        scripts=scripts,
        trigger=trigger,
        expires_at=expiry(now, ttl_days),
        deadline_at=iso(run_deadline(now, worker_timeout_s)),
        accounts=accounts,
        home_region=home_region,
        partial=partial,
    )
    if store.put_new(item):
        return True, item
    existing = table.get_run(store, run_id)
    if existing is None:  # deleted in between (TTL or by hand): nothing to resume
        raise LookupError(f"run {run_id} exists and vanished")
    return False, existing


class Finish(enum.Enum):
    """What finishing an account did to its run."""

    DUPLICATE = "duplicate"  # the account was already done: nothing counted or changed
    COUNTED = "counted"  # counted; other accounts are still running
    COMPLETED = "completed"  # counted, and this call completed the run: notify
    # Already done, but the run still had to be completed or notified (the attempt that wrote
    # the done item died before it could): notify.
    DUPLICATE_NOTIFY = "duplicate, notify"

    @property
    def notify(self) -> bool:
        """Whether the caller must start the Notifier for the run."""
        return self in (Finish.COMPLETED, Finish.DUPLICATE_NOTIFY)

    @property
    def duplicate(self) -> bool:
        return self in (Finish.DUPLICATE, Finish.DUPLICATE_NOTIFY)


def finish_account(
    store: ItemStore,
    run_id: str,
    account_id: str,
    account_name: str,
    *,
    records_by_script: Mapping[str, int],
    errors: int,
    failed: bool,
    attempt: str,
    now: dt.datetime,
    ttl_days: int,
    printed_only: Sequence[str] = (),
) -> Finish:
    """Mark an account done with `attempt`'s results; `Finish.COMPLETED` for exactly one call
    per run. The done item's conditional write decides; the counters follow it."""
    marker = table.account_done_item(
        run_id,
        account_id,
        account_name,
        records_by_script=records_by_script,
        errors=errors,
        failed=failed,
        finished_at=iso(now),
        expires_at=expiry(now, ttl_days),
        attempt=attempt,
        printed_only=printed_only,
    )
    if not store.put_new(marker):
        return _duplicate(store, run_id, now)
    counters = {
        "accounts_done": 1,
        "accounts_failed": int(failed),
        "records": marker["records"],
        "errors": errors,
    }
    run = store.add_counters(
        names.run_pk(run_id), names.RUN_SK, counters, when=("status", status.RUNNING)
    )
    # No run item, or it ended already (closed as incomplete, say): nothing to complete. A lost
    # counter update (a crash right here) leaves the run to the next Director's sweep.
    if run is None or int(run.get("accounts_done", 0)) < int(run.get("accounts_expected", 0)):
        return Finish.COUNTED
    return Finish.COMPLETED if complete_if_all_done(store, run_id, now) else Finish.COUNTED


def already_done(store: ItemStore, run_id: str, account_id: str, now: dt.datetime) -> Finish | None:
    """None when the account has no done item yet (one consistent GetItem); else what a
    duplicate's `finish_account` gives, so a Worker can end at once, writing nothing of its own."""
    if store.get(names.run_pk(run_id), names.account_sk(account_id)) is None:
        return None
    return _duplicate(store, run_id, now)


def _duplicate(store: ItemStore, run_id: str, now: dt.datetime) -> Finish:
    """An account done already. Its first attempt may have died after its done item, before it
    completed or notified the run: then this one does (the Notifier reports a run once)."""
    run = table.get_run(store, run_id)
    if run is None:
        return Finish.DUPLICATE
    if run.get("status") == status.RUNNING:
        done = complete_if_all_done(store, run_id, now)
        return Finish.DUPLICATE_NOTIFY if done else Finish.DUPLICATE
    return Finish.DUPLICATE_NOTIFY if needs_notifying(run) else Finish.DUPLICATE


def needs_notifying(run: Mapping[str, Any]) -> bool:
    """A run that ended but was never reported (its Notifier could not be started)."""
    return status.is_finished(run.get("status")) and not run.get("notified_at")


def account_error(
    run_id: str,
    account_id: str,
    account_name: str,
    *,
    error_type: str,
    message: str,
    attempt: str,
    now: dt.datetime,
    ttl_days: int,
) -> table.Item:
    """The error item of an account that produced nothing (script and region `*`)."""
    return table.error_item(
        run_id,
        account_id,
        account_name,
        table.ACCOUNT_WIDE,
        table.ACCOUNT_WIDE,
        error_type=error_type,
        message=message,
        collected_at=iso(now),
        expires_at=expiry(now, ttl_days),
        attempt=attempt,
    )


def fail_account(
    store: ItemStore,
    run_id: str,
    account_id: str,
    account_name: str,
    *,
    error_type: str,
    message: str,
    attempt: str,
    now: dt.datetime,
    ttl_days: int,
) -> Finish:
    """Record that an account produced nothing (its Worker never ran, or Lambda gave up on it):
    one account-wide error and the account done as failed, unless it is done already."""
    if store.get(names.run_pk(run_id), names.account_sk(account_id)) is not None:
        return _duplicate(store, run_id, now)  # don't even leave an error item behind
    error = account_error(
        run_id,
        account_id,
        account_name,
        error_type=error_type,
        message=message,
        attempt=attempt,
        now=now,
        ttl_days=ttl_days,
    )
    try:
        store.put_items([error])
    except Exception as exc:
        # The account must still end as failed, or the run never ends: the done item (one
        # PutItem, not a batch) says so even when the error item could not be written.
        log.error("could not store the error of account %s in run %s: %s", account_id, run_id, exc)
    return finish_account(
        store,
        run_id,
        account_id,
        account_name,
        records_by_script={},
        errors=1,
        failed=True,
        attempt=attempt,
        now=now,
        ttl_days=ttl_days,
    )


def complete_if_all_done(store: ItemStore, run_id: str, now: dt.datetime) -> bool:
    """Complete the run when every expected account has its done item; True for the one call
    that completed it. Also what the local executor and the Director's sweep call to finish a
    run whose last counter update was lost."""
    run = table.get_run(store, run_id)
    if run is None or run.get("status") != status.RUNNING:
        return False
    done = list(table.account_items(store, run_id))
    if len(done) < int(run["accounts_expected"]):
        return False
    return _end(store, run_id, done, now)


def complete_run(
    store: ItemStore, run_id: str, done: Sequence[Mapping[str, Any]], now: dt.datetime
) -> bool:
    """End a running run whose accounts are all done; False if it had ended already."""
    return _end(store, run_id, done, now)


def stop_run(store: ItemStore, run_id: str, final_status: str, now: dt.datetime) -> bool:
    """Switch a running run to `final_status` now, so no Worker completes it any more (their
    counts stop; their done items still count); False if it was not running. `close_run`
    then settles its accounts and totals."""
    values = {"status": final_status, "finished_at": iso(now)}
    return store.update_if(
        names.run_pk(run_id), names.RUN_SK, values, when=("status", status.RUNNING)
    )


def close_run(
    store: ItemStore,
    run_id: str,
    final_status: str,
    *,
    reason: str,
    error_type: str,
    now: dt.datetime,
    ttl_days: int,
    account_names: Mapping[str, str] | None = None,
) -> list[str]:
    """End a run that cannot complete (`incomplete`, `interrupted`), running or already stopped
    with `stop_run`: each account that never reported is marked failed with `reason`, then the
    run gets its totals from its done items. Returns the silent accounts ([] if the run had
    ended otherwise)."""
    run = table.get_run(store, run_id)
    if run is None:
        return []
    if run.get("status") == status.RUNNING and stop_run(store, run_id, final_status, now):
        run["status"] = final_status
    if run.get("status") != final_status or run.get("closed"):
        return []
    done_ids = {str(a["account_id"]) for a in table.account_items(store, run_id)}
    silent = [a for a in run.get("accounts") or () if a not in done_ids]
    for account_id in silent:
        # The run is no longer running, so this counts nothing: the totals below are read from
        # the done items. A Worker that reported meanwhile keeps its own result.
        fail_account(
            store,
            run_id,
            account_id,
            (account_names or {}).get(account_id, account_id),
            error_type=error_type,
            message=reason,
            attempt=CLOSER_ATTEMPT,
            now=now,
            ttl_days=ttl_days,
        )
    done = list(table.account_items(store, run_id))
    totals = {**_totals(done), "silent_accounts": silent, "closed": True}
    store.update_if(names.run_pk(run_id), names.RUN_SK, totals, when=("status", final_status))
    return silent


def _totals(done: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """A run's totals, from its done items: the one source of truth."""
    return {
        "accounts_done": len(done),
        "accounts_failed": sum(1 for d in done if d.get("failed")),
        "records": sum(int(d.get("records", 0)) for d in done),
        "errors": sum(int(d.get("errors", 0)) for d in done),
    }


def _end(
    store: ItemStore, run_id: str, done: Sequence[Mapping[str, Any]], now: dt.datetime
) -> bool:
    """Switch a running run whose accounts are all done to complete (with or without failures)
    with totals from its done items; False if it was not running."""
    totals = _totals(done)
    final = (
        status.COMPLETE_WITH_FAILURES
        if totals["accounts_failed"] or totals["errors"]
        else (status.COMPLETE)
    )
    values = {"status": final, "finished_at": iso(now), **totals}
    return store.update_if(
        names.run_pk(run_id), names.RUN_SK, values, when=("status", status.RUNNING)
    )
