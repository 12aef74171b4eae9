"""The Worker: runs every script in every region of one account and streams records to the table.

One thread per (script, region) pair; records go on one queue that a writer thread drains into
the table in batches while scripts still run. A pair that fails becomes an error item and the
others go on; an account whose role cannot be assumed becomes one error item; records that could
not be stored fail the account. Each invocation is an attempt: its records and errors carry its
id, and the account's done item (written once, see `runs.finish_account`) names the attempt that
counts, so a duplicate or retried Worker never mixes its results with another's.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_src import dynamo_store, names, runs, table
from lambda_src.aws_session import RETRY_CONFIG, AccountSession, assume_member_role
from lambda_src.invoke import Invoke, notify_completed
from lambda_src.metrics import account_metrics, put_metrics
from lambda_src.regions import enabled_regions
from lambda_src.runs import Clock
from lambda_src.scripts import GLOBAL_REGION, Account, Script, script_location
from lambda_src.settings import FleetSettings
from lambda_src.table import ACCOUNT_WIDE, Item, ItemStore

# Stop scripts this long before Lambda's deadline: enough to flush and record the timeouts.
DEADLINE_RESERVE_S = 20.0
QUEUE_SIZE = 2_000
FLUSH_INTERVAL_S = 0.25
# How often pairs are checked against the pair time limit and `stop` while none finishes.
PAIR_CHECK_S = 0.1
INTERRUPTED = "interrupted (Ctrl-C)"
log = logging.getLogger(__name__)


@dataclass
class WorkerDeps:
    """What a Worker talks to; the Lambda handler and the local executor build it differently."""

    store: ItemStore
    base_session: Any  # boto3.Session with the caller's own credentials
    invoke: Invoke
    scripts: Sequence[Script]
    clock: Clock = runs.utcnow
    # Run pairs on this pool (the local executor shares one across Workers); else a pool per call.
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


@dataclass(frozen=True)
class Pair:
    script: Script
    region: str


@dataclass
class PairOutcome:
    records: int = 0
    error: Item | None = None
    started: float = 0.0  # monotonic time the pair began running (0: not yet)
    stopped: bool = False  # abandoned (deadline or pair limit): its later records don't count
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    work = _AccountRun(
        run_id=run_id,
        account=account,
        deps=deps,
        expires_at=runs.expiry(deps.clock(), settings.ttl_days),
        attempt=deps.new_attempt(),
    )
    result = WorkerResult(run_id, account.id, account.name, {s.name: 0 for s in scripts})
    result.attempt = work.attempt
    deadline = _deadline(deps, started)
    try:
        session = _account_session(settings, deps, account, run_id)
        if regions is None:
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
        with RecordWriter(deps.store, _writer_cutoff(deps, started)) as writer:
            for pair, outcome in work.run_pairs(pairs, session, writer, deadline):
                result.records_by_script[pair.script.name] += outcome.records
                if outcome.error is not None:
                    result.errors.append(outcome.error)
        _count_lost_records(result, writer, work)
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
    checked = [str(r) for r in regions]
    for region in checked:
        names.record_sk_prefix("x", region)  # raises KeyPartError for what no key may hold
    return run_id, account, checked


def _count_lost_records(result: WorkerResult, writer: RecordWriter, work: _AccountRun) -> None:
    """Records the table refused (after retries) are not counted, and fail the account."""
    for (script, region), count in writer.failed.items():
        result.records_by_script[script] -= count
        message = f"{count} records could not be stored: {writer.failure}"
        _add_error(result.errors, work.error_item(script, region, "WriteError", message))
        result.failed = True


def _finish(
    result: WorkerResult, settings: FleetSettings, deps: WorkerDeps, work: _AccountRun
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
    )
    result.completed_run = finish is runs.Finish.COMPLETED
    result.duplicate = finish is runs.Finish.DUPLICATE
    if result.duplicate:
        work.discard(result.errors)
    if result.completed_run:
        notify_completed(deps.invoke, result.run_id)
    return result


def _account_session(
    settings: FleetSettings, deps: WorkerDeps, account: Account, run_id: str
) -> AccountSession:
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
    return AccountSession(deps.base_session, credentials, settings.home_region)


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


@dataclass
class _AccountRun:
    """One Worker's work in one account (one attempt): runs its pairs and builds its items."""

    run_id: str
    account: Account
    deps: WorkerDeps
    expires_at: int
    attempt: str

    def failure(self, script: str, region: str, exc: BaseException, where: str = "") -> Item:
        """The error item for a failed (script, region), or the whole account."""
        return self.error_item(
            script, region, error_type_of(exc), f"{exc}{f' (at {where})' if where else ''}"
        )

    def error_item(self, script: str, region: str, error_type: str, message: str) -> Item:
        return table.error_item(
            self.run_id,
            self.account.id,
            self.account.name,
            script,
            region,
            error_type=error_type,
            message=message,
            collected_at=runs.iso(self.deps.clock()),
            expires_at=self.expires_at,
            attempt=self.attempt,
        )

    def run_pairs(
        self,
        pairs: Sequence[Pair],
        session: AccountSession,
        writer: RecordWriter,
        deadline: float | None,
    ) -> Iterator[tuple[Pair, PairOutcome]]:
        """Run the pairs concurrently; pairs still running at the deadline, or past the pair
        time limit, become timeouts that keep what they stored."""
        own_pool = self.deps.pool is None
        pool = self.deps.pool or cf.ThreadPoolExecutor(
            max_workers=max(len(pairs), 1), thread_name_prefix=f"pair-{self.account.id}"
        )
        try:
            # Each pair counts into its own outcome, so an abandoned pair still reports what it
            # had stored when it was stopped.
            outcomes = {pair: PairOutcome() for pair in pairs}
            futures = {
                pool.submit(self.run_pair, pair, session, writer, outcomes[pair]): pair
                for pair in pairs
            }
            pending: set[cf.Future[PairOutcome]] = set(futures)
            if self.deps.pair_timeout_s is not None or self.deps.stop is not None:
                yield from self._until_pair_limits(futures, outcomes, pending, deadline)
            if pending:
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                done, pending = cf.wait(pending, timeout=timeout)
                for future in done:
                    yield futures[future], future.result()
            for future in pending:
                future.cancel()
                pair = futures[future]
                yield pair, self._stop(pair, outcomes[pair], "did not finish before the deadline")
        finally:
            if own_pool:
                pool.shutdown(wait=False, cancel_futures=True)

    def _until_pair_limits(
        self,
        futures: Mapping[cf.Future[PairOutcome], Pair],
        outcomes: Mapping[Pair, PairOutcome],
        pending: set[cf.Future[PairOutcome]],
        deadline: float | None,
    ) -> Iterator[tuple[Pair, PairOutcome]]:
        """Yield pairs as they finish, stopping each one that runs past the pair time limit, and
        every one when `deps.stop` is set; returns at the deadline (leaving the rest in
        `pending`) or when none is left."""
        limit = self.deps.pair_timeout_s
        while pending and (deadline is None or time.monotonic() < deadline):
            if self.deps.stop is not None and self.deps.stop.is_set():
                for future in list(pending):
                    future.cancel()  # a queued pair never starts
                    pending.discard(future)
                    pair = futures[future]
                    yield pair, self._stop(pair, outcomes[pair], INTERRUPTED, "Interrupted")
                return
            now = time.monotonic()
            # Pairs queued behind others in a shared pool have not started: their clock hasn't.
            ends = [
                o.started + limit
                for f in pending
                if limit is not None and (o := outcomes[futures[f]]).started
            ]
            ends += [deadline] if deadline is not None else []
            wake = min(ends, default=now + PAIR_CHECK_S)
            done, _ = cf.wait(pending, min(max(wake - now, 0), PAIR_CHECK_S), cf.FIRST_COMPLETED)
            for future in done:
                pending.discard(future)
                yield futures[future], future.result()
            for future in list(pending):
                outcome = outcomes[futures[future]]
                if limit is None or not outcome.started:
                    continue
                if time.monotonic() >= outcome.started + limit:
                    pending.discard(future)
                    why = f"ran past the pair time limit ({limit:g}s)"
                    yield futures[future], self._stop(futures[future], outcome, why)

    def _stop(
        self, pair: Pair, outcome: PairOutcome, why: str, error_type: str = "Timeout"
    ) -> PairOutcome:
        """Stop a pair that has not finished: what it stored counts, later records are not."""
        with outcome.lock:
            outcome.stopped = True
            if outcome.started:
                message = f"{why}; the {outcome.records} records found so far were kept"
            else:
                message = f"{why} before it started"
            outcome.error = self.error_item(pair.script.name, pair.region, error_type, message)
        return outcome

    def run_pair(
        self, pair: Pair, session: AccountSession, writer: RecordWriter, outcome: PairOutcome
    ) -> PairOutcome:
        """Run one script in one region, streaming its records to the writer."""
        outcome.started = time.monotonic()
        seen: dict[str, int] = {}
        too_large = 0
        try:
            for record in records_of(pair.script.collect(session, pair.region, self.account)):
                item = table.record_item(
                    self.run_id,
                    self.account.id,
                    self.account.name,
                    pair.script.name,
                    pair.region,
                    record,
                    collected_at=runs.iso(self.deps.clock()),
                    expires_at=self.expires_at,
                    seen=seen,
                    attempt=self.attempt,
                    key=pair.script.key,
                )
                if table.too_large(item):
                    # One oversized item would make DynamoDB reject its whole batch.
                    too_large += 1
                    continue
                # Under the pair's lock, so a record is either counted and stored or neither.
                with outcome.lock:
                    if outcome.stopped or not writer.put(item):
                        return outcome
                    outcome.records += 1
        except BaseException as exc:  # sys.exit() or its own: fails only this pair (no Ctrl-C here)
            where = script_location(exc, pair.script.path)
            with outcome.lock:
                if not outcome.stopped:
                    outcome.error = self.failure(pair.script.name, pair.region, exc, where)
        if too_large:
            with outcome.lock:
                if outcome.error is None:
                    outcome.error = self.error_item(
                        pair.script.name,
                        pair.region,
                        "RecordTooLarge",
                        f"{too_large} records over DynamoDB's 400 KB item limit were not stored",
                    )
        return outcome

    def discard(self, errors: Sequence[Item]) -> None:
        """Delete this attempt's records and errors, which do not count (another attempt's
        done item does). Best effort: what stays is never read, and TTL removes it."""
        try:
            records = table.account_records(
                self.deps.store, self.run_id, self.account.id, attempt=self.attempt
            )
            keys = [(str(i["pk"]), str(i["sk"])) for i in records]
            keys += [(str(e["pk"]), str(e["sk"])) for e in errors]
            self.deps.store.delete_items(keys)
        except Exception as exc:
            log.warning("could not discard attempt %s of %s: %s", self.attempt, self.run_id, exc)


def _add_error(errors: list[Item], item: Item) -> None:
    """Add an error item; a second error for the same pair joins the first (same key)."""
    for existing in errors:
        if existing["sk"] == item["sk"]:
            existing["message"] = f"{existing['message']}; {item['error_type']}: {item['message']}"
            return
    errors.append(item)


def records_of(result: Any) -> Iterator[Mapping[str, Any]]:
    """What `collect` returned, as records: one dict, an iterable of dicts, or None."""
    if result is None:
        return
    if isinstance(result, Mapping):
        yield result
        return
    if not isinstance(result, Iterable) or isinstance(result, (str, bytes)):
        raise TypeError(f"collect returned {type(result).__name__}; expected dicts")
    for record in result:
        if not isinstance(record, Mapping):
            raise TypeError(f"collect yielded {type(record).__name__}; expected a dict")
        yield record


def error_type_of(exc: BaseException) -> str:
    """AWS error code for client errors (AccessDenied, Throttling…), else the exception class."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


_STOP = object()


class RecordWriter:
    """Drains a bounded queue of items into the store in batches, on its own thread.

    Items the store refuses after its own retries are counted as failed per (script, region);
    after `give_up_at` (monotonic) nothing more is tried, so retries never eat the time the
    Worker keeps to record its outcome.
    """

    def __init__(self, store: ItemStore, give_up_at: float | None = None) -> None:
        self._store = store
        self._give_up_at = give_up_at
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="record-writer", daemon=True)
        self.failure: Exception | None = None
        self.failed: Counter[tuple[str, str]] = Counter()

    def __enter__(self) -> RecordWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._queue.put(_STOP)
        self._thread.join()

    def put(self, item: Item) -> bool:
        """Queue an item; False once the writer is closed (late records of abandoned pairs)."""
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _drain(self) -> None:
        batch: list[Item] = []
        while True:
            try:
                item = self._queue.get(timeout=FLUSH_INTERVAL_S)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(batch)
                return
            if item is not None:
                batch.append(item)
            if batch and (item is None or len(batch) >= dynamo_store.BATCH_SIZE):
                self._flush(batch)
                batch = []

    def _flush(self, batch: list[Item]) -> None:
        if not batch:
            return
        if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
            self._lose(batch, TimeoutError("the Worker's deadline came before they were stored"))
            return
        try:
            self._store.put_items(batch)
            return
        except Exception as exc:
            if error_type_of(exc) != "ValidationException":
                # Throttled or refused after the store's retries: one by one would only wait
                # longer for the same answer.
                self._lose(batch, exc)
                return
        # One bad item fails its whole batch: write them one by one to lose only that one.
        for item in batch:
            try:
                self._store.put_items([item])
            except Exception as exc:
                # Keep draining: a failed item must not block the scripts or lose the rest.
                self._lose([item], exc)

    def _lose(self, items: Sequence[Item], exc: Exception) -> None:
        for item in items:
            self.failed[str(item.get("script")), str(item.get("region"))] += 1
        self.failure = exc
