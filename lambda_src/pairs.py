"""One Worker's (script, region) pairs in one account: run in the script sandbox, one job per
script, each pair streaming its records to the writer, each stopped (keeping what it stored) at
the Worker's deadline, past the pair time limit, or when the run is interrupted. Whatever a
script's process does (exit, crash, hang, send nonsense) fails only that script's pairs."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambda_src import runs, script_wire, table
from lambda_src.record_writer import RecordWriter
from lambda_src.sandbox import ScriptProcess, describe_exit
from lambda_src.script_runner import REQUIREMENTS_HINT, Job
from lambda_src.scripts import Account, ScriptSpec, error_type_of
from lambda_src.table import Item

if TYPE_CHECKING:
    from lambda_src.worker import WorkerDeps

# How often pairs are checked against the pair time limit and `stop` while none finishes.
PAIR_CHECK_S = 0.1
INTERRUPTED = "interrupted (Ctrl-C)"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    script: ScriptSpec
    region: str


@dataclass(frozen=True)
class MemberAccess:
    """What a job needs to run in the member account: its credentials and where it runs."""

    credentials: Mapping[str, str] | None
    home_region: str
    memory_mb: int | None = None
    extra_path: tuple[str, ...] = ()
    missing_hint: str = REQUIREMENTS_HINT


@dataclass
class PairOutcome:
    records: int = 0
    error: Item | None = None
    started: float = 0.0  # monotonic time the pair began running (0: not yet)
    stopped: bool = False  # abandoned (deadline or pair limit): its later records don't count
    too_large: int = 0  # records over DynamoDB's item limit, not stored
    printed: int = 0  # characters it printed, when it found no records (where counted)
    seen: dict[str, int] = field(default_factory=dict)  # record digests, for distinct keys
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Jobs:
    """The Worker's started jobs, closed together when it is done with them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: list[ScriptProcess] = []
        self._closed = False

    def add(self, process: ScriptProcess) -> bool:
        """Keep a started job; False (and closed) when the Worker is already done."""
        with self._lock:
            if not self._closed:
                self._processes.append(process)
                return True
        process.close()
        return False

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            processes, self._processes = self._processes, []
        for process in processes:
            process.close()


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
        access: MemberAccess,
        writer: RecordWriter,
        deadline: float | None,
    ) -> Iterator[tuple[Pair, PairOutcome]]:
        """Run the pairs in the sandbox, one job per script; pairs still running at the deadline,
        or past the pair time limit, become timeouts that keep what they stored."""
        outcomes = {pair: PairOutcome() for pair in pairs}
        finished: queue.Queue[Pair] = queue.Queue()
        jobs = _Jobs()
        by_script: dict[str, list[Pair]] = {}
        for pair in pairs:
            by_script.setdefault(pair.script.name, []).append(pair)
        for script_pairs in by_script.values():
            job = self._job(script_pairs, access)
            threading.Thread(
                target=self._follow,
                args=(job, script_pairs, outcomes, writer, finished, jobs),
                name=f"job-{self.account.id}-{job.script}",
                daemon=True,
            ).start()
        try:
            yield from self._until_done(pairs, outcomes, finished, deadline)
        finally:
            jobs.close_all()

    def _job(self, pairs: Sequence[Pair], access: MemberAccess) -> Job:
        script = pairs[0].script
        return Job(
            script=script.name,
            path=str(script.path),
            regions=tuple(p.region for p in pairs),
            account=self.account,
            home_region=access.home_region,
            credentials=access.credentials,
            memory_mb=access.memory_mb,
            extra_path=access.extra_path,
            missing_hint=access.missing_hint,
        )

    def _follow(
        self,
        job: Job,
        pairs: Sequence[Pair],
        outcomes: Mapping[Pair, PairOutcome],
        writer: RecordWriter,
        finished: queue.Queue[Pair],
        jobs: _Jobs,
    ) -> None:
        """Start one job and turn its messages into records, errors and finished pairs; pairs
        its process left unfinished (it exited, crashed or sent nonsense) fail with the cause."""
        by_region = {p.region: p for p in pairs}
        ended: set[Pair] = set()
        status: int | None = None
        memory_mb: int | None = None
        cause: tuple[str, str] | None = None
        try:
            if self.deps.sandbox is None:
                raise RuntimeError("no sandbox to run scripts in")
            process = self.deps.sandbox.start(job)
        except Exception as exc:  # no process for the job: its pairs fail, the others go on
            process = None
            cause = ("SandboxError", f"the script's process could not be started: {exc}")
        if process is not None and jobs.add(process):
            for message in process.messages():
                kind = message["e"]
                if kind == "exit":
                    status, memory_mb = _exit_of(message)
                    continue
                if kind == "bad":
                    cause = ("ScriptProcessError", f"the script's process {message.get('m')}")
                    break
                pair = by_region.get(str(message.get("r")))
                if pair is None or pair in ended:
                    continue
                if self._on_message(pair, outcomes[pair], message, writer):
                    ended.add(pair)
                    finished.put(pair)
            process.close()
        if cause is None:
            cause = describe_exit(status, memory_mb)
        for pair in pairs:
            if pair not in ended:
                outcome = outcomes[pair]
                with outcome.lock:
                    if not outcome.stopped and outcome.error is None:
                        kept = (
                            f"; the {outcome.records} records found so far were kept"
                            if outcome.started
                            else ""
                        )
                        outcome.error = self.error_item(
                            pair.script.name, pair.region, cause[0], f"{cause[1]}{kept}"
                        )
                finished.put(pair)

    def _on_message(
        self, pair: Pair, outcome: PairOutcome, message: Mapping[str, Any], writer: RecordWriter
    ) -> bool:
        """Apply one message about a pair; True when the pair has ended."""
        kind = message["e"]
        if kind == "start":
            if not outcome.started:
                outcome.started = time.monotonic()
        elif kind == "rec":
            try:
                item = table.record_item(
                    self.run_id,
                    self.account.id,
                    self.account.name,
                    pair.script.name,
                    pair.region,
                    script_wire.record_of(message),
                    collected_at=runs.iso(self.deps.clock()),
                    expires_at=self.expires_at,
                    seen=outcome.seen,
                    attempt=self.attempt,
                    key=pair.script.key,
                )
            except script_wire.WireError as exc:
                self._fail(outcome, pair, "ScriptProcessError", f"sent a bad record: {exc}")
                return False
            if table.too_large(item):
                # One oversized item would make DynamoDB reject its whole batch.
                outcome.too_large += 1
                return False
            # Under the pair's lock, so a record is either counted and stored or neither.
            with outcome.lock:
                if not outcome.stopped and writer.put(item):
                    outcome.records += 1
        elif kind == "big":
            outcome.too_large += 1
        elif kind == "err":
            where = f" (at {message['w']})" if message.get("w") else ""
            text = f"{message.get('m', '')}{where}"
            self._fail(outcome, pair, str(message.get("t", "Error")), text)
        elif kind == "end":
            printed = message.get("printed")
            outcome.printed = printed if isinstance(printed, int) else 0
            if outcome.too_large:
                message_text = (
                    f"{outcome.too_large} records over DynamoDB's 400 KB item limit were not stored"
                )
                self._fail(outcome, pair, "RecordTooLarge", message_text)
            return True
        return False

    def _fail(self, outcome: PairOutcome, pair: Pair, error_type: str, message: str) -> None:
        with outcome.lock:
            if not outcome.stopped and outcome.error is None:
                outcome.error = self.error_item(pair.script.name, pair.region, error_type, message)

    def _until_done(
        self,
        pairs: Sequence[Pair],
        outcomes: Mapping[Pair, PairOutcome],
        finished: queue.Queue[Pair],
        deadline: float | None,
    ) -> Iterator[tuple[Pair, PairOutcome]]:
        """Yield pairs as they end, stopping each one that runs past the pair time limit, all of
        them at the deadline, and all of them at once when `deps.stop` is set."""
        limit = self.deps.pair_timeout_s
        left = dict.fromkeys(pairs)
        while left:
            if self.deps.stop is not None and self.deps.stop.is_set():
                for pair in list(left):
                    yield pair, self._stop(pair, outcomes[pair], INTERRUPTED, "Interrupted")
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                for pair in list(left):
                    yield (
                        pair,
                        self._stop(pair, outcomes[pair], "did not finish before the deadline"),
                    )
                return
            # Pairs waiting for a free sandbox have not started: their clock hasn't either.
            ends = [
                o.started + limit for p in left if limit is not None and (o := outcomes[p]).started
            ]
            ends += [deadline] if deadline is not None else []
            wake = min(ends, default=now + PAIR_CHECK_S)
            try:
                pair = finished.get(timeout=min(max(wake - now, 0.0), PAIR_CHECK_S))
            except queue.Empty:
                pass
            else:
                if pair in left:
                    del left[pair]
                    yield pair, outcomes[pair]
            if limit is None:
                continue
            for pair in list(left):
                outcome = outcomes[pair]
                if outcome.started and time.monotonic() >= outcome.started + limit:
                    del left[pair]
                    why = f"ran past the pair time limit ({limit:g}s)"
                    yield pair, self._stop(pair, outcome, why)

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


def _exit_of(message: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(wait status, memory limit it was stopped at) of an `exit` message."""
    status, memory = message.get("status"), message.get("memory_mb")
    return (
        status if isinstance(status, int) else None,
        memory if isinstance(memory, int) else None,
    )
