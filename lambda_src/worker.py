"""The Worker: runs every script in every region of one account and streams records to the table.

Each script runs in the script sandbox (`lambda_src.sandbox`), a process holding nothing but the
member account's credentials, one thread per region; its records come back over a pipe and go
on one queue that a writer thread drains into the table in batches while scripts still run. A
pair that fails becomes an error item and the others go on; an account whose role cannot be
assumed becomes one error item; records that could not be stored fail the account. Each
invocation is an attempt: its records and errors carry its id, and the account's done item
(written once, see `runs.finish_account`) names the attempt that counts, so a duplicate or
retried Worker never mixes its results with another's; one that finds the done item before it
starts runs nothing. With `results.export: s3` each pair's records also go, as one gzipped JSON
Lines object PUT when the pair ends (waited for until the writer's cutoff), to the fleet's
export bucket (`lambda_src.s3_export`), with the Worker's own credentials.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_src import names, runs, s3_export
from lambda_src.aws_session import RETRY_CONFIG, AccountSession, assume_member_role
from lambda_src.invoke import Invoke, notify_completed
from lambda_src.metrics import account_metrics, put_metrics
from lambda_src.pairs import AccountRun, MemberAccess, Pair
from lambda_src.record_writer import RecordWriter
from lambda_src.runs import Clock
from lambda_src.sandbox import Sandbox
from lambda_src.script_runner import REQUIREMENTS_HINT
from lambda_src.scripts import GLOBAL_REGION, Account, Script, ScriptSpec
from lambda_src.settings import FleetSettings
from lambda_src.table import ACCOUNT_WIDE, Item, ItemStore

# Stop scripts this long before Lambda's deadline: enough to flush and record the timeouts.
DEADLINE_RESERVE_S = 20.0
log = logging.getLogger(__name__)


@dataclass
class WorkerDeps:
    """What a Worker talks to; the Lambda handler and the local executor build it differently."""

    store: ItemStore
    base_session: Any  # boto3.Session with the caller's own credentials
    invoke: Invoke
    scripts: Sequence[ScriptSpec]
    clock: Clock = runs.utcnow
    # Where scripts run: a `ProcessSandbox` on Lambda and `run --local`; None runs them on this
    # process's threads (`InProcessSandbox`: tests against in-process moto, `--no-sandbox`).
    sandbox: Sandbox | None = None
    # The sandbox's memory limit per script process; folders it adds to sys.path (requirements).
    sandbox_memory_mb: int | None = None
    script_packages: tuple[str, ...] = ()
    # The advice given for a package a script imports that its sandbox lacks.
    missing_module_hint: str = REQUIREMENTS_HINT
    # In-process pairs run on this pool (the local executor shares one); else a thread each.
    pool: cf.Executor | None = None
    # Milliseconds left before Lambda stops the function; None when there is no deadline.
    remaining_ms: Callable[[], int] | None = None
    # CloudWatch client for per-account metrics; None skips them (local runs).
    cloudwatch: Any | None = None
    # Seconds one (script, region) pair may run; None: until the Worker's deadline.
    pair_timeout_s: float | None = None
    # Set to stop the Worker's pairs at once (Ctrl-C on a local run): each becomes an
    # `Interrupted` error keeping what it stored, and the Worker reports what it has.
    stop: threading.Event | None = None
    new_attempt: Callable[[], str] = runs.new_attempt
    # Called by the Worker that completes the run, just before it starts the Notifier: what
    # must be on the run item for the Notifier to see (this invocation's usage, for its cost).
    before_notify: Callable[[], None] | None = None


@dataclass
class WorkerResult:
    """What one Worker did, returned to the caller (and logged by Lambda)."""

    run_id: str
    account_id: str
    account_name: str
    records_by_script: dict[str, int] = field(default_factory=dict)
    errors: list[Item] = field(default_factory=list)
    completed_run: bool = False
    duplicate: bool = False
    attempt: str = ""
    failed: bool = False
    rejected: str | None = None
    # Pairs that printed and yielded nothing ("script region"): a laptop habit, flagged.
    printed_only: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(self.records_by_script.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "account_id": self.account_id,
            "records": self.records,
            "errors": len(self.errors),
            "completed_run": self.completed_run,
            "duplicate": self.duplicate,
            "failed": self.failed,
            **({"rejected": self.rejected} if self.rejected else {}),
        }


def run_worker(event: Mapping[str, Any], settings: FleetSettings, deps: WorkerDeps) -> WorkerResult:
    """Handle one Worker event: `{run_id, account: {id, name}, regions: [..] | null, scripts}`.

    An event that is not well-formed (a run id or account id no key may hold) is rejected and
    logged, never retried: nothing is written for it.
    """
    started = time.monotonic()
    try:
        run_id, account, regions = _parse_event(event)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("rejected a Worker event: %s", exc)
        return WorkerResult(str(event.get("run_id", ""))[:80], "", "", rejected=str(exc))
    wanted = event.get("scripts")
    scripts = [s for s in deps.scripts if wanted is None or s.name in wanted]
    work = AccountRun(
        run_id=run_id,
        account=account,
        deps=deps,
        expires_at=runs.expiry(deps.clock(), settings.ttl_days),
        attempt=deps.new_attempt(),
    )
    result = WorkerResult(run_id, account.id, account.name, {s.name: 0 for s in scripts})
    result.attempt = work.attempt
    # Delivered again, or retried, after the account finished: nothing this attempt wrote
    # would count, and its S3 objects would replace the counted attempt's.
    done = runs.already_done(deps.store, run_id, account.id, deps.clock())
    if done is not None:
        return _reported(result, done, deps)
    deadline = _deadline(deps, started)
    try:
        credentials = _member_credentials(settings, deps, account, run_id)
        session = AccountSession(deps.base_session, credentials, settings.home_region)
        if regions is None:  # only when the fleet's config names no regions
            from lambda_src.regions import enabled_regions

            regions = enabled_regions(session.client("ec2", region_name=settings.home_region))
    except Exception as exc:
        result.errors.append(work.failure(ACCOUNT_WIDE, ACCOUNT_WIDE, exc))
        result.failed = True
    else:
        pairs = [
            Pair(s, r)
            for s in scripts
            for r in ([GLOBAL_REGION] if s.scope == "account" else regions)
        ]
        access = MemberAccess(
            credentials,
            settings.home_region,
            deps.sandbox_memory_mb,
            deps.script_packages,
            deps.missing_module_hint,
        )
        if deps.sandbox is None:
            work.deps = _with_threads(deps, scripts, session)
        cutoff = _writer_cutoff(deps, started)
        export = _export(settings, deps, run_id, account, work.attempt)
        # Leaving it releases the export's threads and spool files, even if the Worker fails.
        with export or contextlib.nullcontext():
            tee = export.add if export is not None else None
            with RecordWriter(deps.store, cutoff, tee) as writer:
                for pair, outcome in work.run_pairs(pairs, access, writer, deadline):
                    result.records_by_script[pair.script.name] += outcome.records
                    if outcome.error is not None:
                        result.errors.append(outcome.error)
                    elif outcome.printed and not outcome.records:
                        result.printed_only.append(f"{pair.script.name} {pair.region}")
                    if export is not None:
                        export.finish(pair.script.name, pair.region)
            _count_lost_records(result, writer, work)
            if export is not None:
                _close_export(export, result, work, cutoff)
    # If these writes fail the Worker raises, and Lambda's retry is a new attempt: safe, as
    # nothing of this attempt counts until its done item is written.
    deps.store.put_items(result.errors)
    if deps.cloudwatch is not None:
        data = account_metrics(
            settings.fleet,
            result.records_by_script,
            len(result.errors),
            time.monotonic() - started,
            deps.clock(),
        )
        put_metrics(deps.cloudwatch, data)
    return _finish(result, settings, deps, work)


def _parse_event(event: Mapping[str, Any]) -> tuple[str, Account, list[str] | None]:
    """The run id, account and regions of a Worker event, each checked before any key uses it."""
    run_id = names.run_id_part(str(event["run_id"]))
    account = Account(
        id=names.account_part(str(event["account"]["id"])), name=str(event["account"]["name"])
    )
    regions = event.get("regions")
    if regions is None:
        return run_id, account, None
    return run_id, account, [names.region_part(str(r)) for r in regions]


def _export(
    settings: FleetSettings, deps: WorkerDeps, run_id: str, account: Account, attempt: str
) -> s3_export.S3Export | None:
    """The S3 export of this attempt (with its own credentials), or None when not configured;
    if its bucket cannot be found, each pair gets that error and the table every record."""
    if settings.export != "s3":
        return None
    try:
        return s3_export.worker_export(
            settings.fleet, settings.home_region, run_id, account.id, attempt, deps.base_session
        )
    except Exception as exc:
        return s3_export.failed_export(settings.fleet, run_id, account.id, exc)


def _close_export(
    export: s3_export.S3Export, result: WorkerResult, work: AccountRun, give_up_at: float | None
) -> None:
    """Wait for the pairs' PUTs until `give_up_at` (monotonic); a failed or unfinished one is
    an error of its pair, whose records stay."""
    where = f"s3://{export.bucket}" if export.bucket else "S3"
    for (script, region), failure in export.close(give_up_at).items():
        message = f"its records could not be exported to {where}: {failure}"
        error = work.error_item(script, region, s3_export.EXPORT_ERROR, message)
        _add_error(result.errors, error)


def _count_lost_records(result: WorkerResult, writer: RecordWriter, work: AccountRun) -> None:
    """Records the table refused (after retries) are not counted, and fail the account."""
    for (script, region), count in writer.failed.items():
        result.records_by_script[script] -= count
        message = f"{count} records could not be stored: {writer.failure}"
        _add_error(result.errors, work.error_item(script, region, "WriteError", message))
        result.failed = True


def _finish(
    result: WorkerResult, settings: FleetSettings, deps: WorkerDeps, work: AccountRun
) -> WorkerResult:
    finish = runs.finish_account(
        deps.store,
        result.run_id,
        result.account_id,
        result.account_name,
        records_by_script=result.records_by_script,
        errors=len(result.errors),
        failed=result.failed,
        attempt=work.attempt,
        now=deps.clock(),
        ttl_days=settings.ttl_days,
        printed_only=result.printed_only,
    )
    if finish.duplicate:
        work.discard(result.errors)
    return _reported(result, finish, deps)


def _reported(result: WorkerResult, finish: runs.Finish, deps: WorkerDeps) -> WorkerResult:
    """`result` with what finishing its account did; the Notifier started when it must be."""
    result.completed_run = finish.notify
    result.duplicate = finish.duplicate
    if result.completed_run:
        if deps.before_notify is not None:
            deps.before_notify()
        notify_completed(deps.invoke, result.run_id)
    return result


def _with_threads(deps: WorkerDeps, scripts: Sequence[ScriptSpec], session: Any) -> WorkerDeps:
    """`deps` running this account's scripts on threads of this process, with `session`."""
    from lambda_src.sandbox_threads import InProcessSandbox  # never on Lambda

    loaded = {s.name: s for s in scripts if isinstance(s, Script)}
    sandbox = InProcessSandbox(lambda job: session, pool=deps.pool, scripts=loaded)
    return dataclasses.replace(deps, sandbox=sandbox)


def _member_credentials(
    settings: FleetSettings, deps: WorkerDeps, account: Account, run_id: str
) -> dict[str, str]:
    # A regional client: opt-in regions reject tokens from the global STS endpoint.
    sts = deps.base_session.client("sts", region_name=settings.home_region, config=RETRY_CONFIG)
    credentials = assume_member_role(
        sts,
        account.id,
        settings.member_role,
        partition=settings.partition,
        session_name=f"lambdafan-{settings.fleet}-{run_id}",
        external_id=settings.external_id,
        duration=settings.session_duration,
    )
    return credentials


def _deadline(deps: WorkerDeps, started: float) -> float | None:
    """Monotonic time by which unfinished pairs are abandoned, or None for no deadline."""
    if deps.remaining_ms is None:
        return None
    remaining = deps.remaining_ms() / 1000.0
    reserve = min(DEADLINE_RESERVE_S, remaining / 4)
    return started + max(remaining - reserve, 0.0)


def _writer_cutoff(deps: WorkerDeps, started: float) -> float | None:
    """Monotonic time after which the writer stops trying: half-way into the deadline reserve,
    leaving the other half to write the errors and the done item."""
    if deps.remaining_ms is None:
        return None
    remaining = deps.remaining_ms() / 1000.0
    return started + max(remaining - min(DEADLINE_RESERVE_S, remaining / 4) / 2, 0.0)


def _add_error(errors: list[Item], item: Item) -> None:
    """Add an error item; a second error for the same pair joins the first (same key). An
    export error never names the item: it says nothing of the records (`run_diff` compares a
    pair whose only error it is), another error does."""
    for existing in errors:
        if existing["sk"] == item["sk"]:
            first, then = existing, item
            if existing["error_type"] == s3_export.EXPORT_ERROR:
                first, then = item, dict(existing)
                existing["error_type"] = item["error_type"]
            existing["message"] = f"{first['message']}; {then['error_type']}: {then['message']}"
            return
    errors.append(item)
