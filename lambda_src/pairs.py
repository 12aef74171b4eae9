"""One Worker's (script, region) pairs in one account: run concurrently, each streaming its
records to the writer, each stopped (keeping what it stored) at the Worker's deadline, past the
pair time limit, or when the run is interrupted."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lambda_src import runs, table
from lambda_src.aws_session import AccountSession
from lambda_src.record_writer import RecordWriter
from lambda_src.scripts import Account, Script, error_type_of, records_of, script_location
from lambda_src.table import Item

if TYPE_CHECKING:
    from lambda_src.worker import WorkerDeps

# How often pairs are checked against the pair time limit and `stop` while none finishes.
PAIR_CHECK_S = 0.1
INTERRUPTED = "interrupted (Ctrl-C)"
log = logging.getLogger(__name__)


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
class AccountRun:
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
