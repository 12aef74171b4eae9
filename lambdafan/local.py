"""The local executor: the Director, Workers and Notifier run in this process.

Only the Lambda invoke step is replaced, by an in-process dispatcher. Workers run in parallel;
scripts run in the same sandbox as on Lambda, a process per (account, script) holding only that
account's credentials, a bounded number at once, so a laptop's cores all work (no GIL between
them). `sandbox=False` runs scripts on one bounded pool of this process's threads instead (for
a debugger, or in-process moto). Every run ends: `cancel()` (Ctrl-C) stops its pairs and closes
it as interrupted with what it found; sandboxes are killed, and in-process the executor never
waits for a script blocked in a call (it reports the threads it leaves behind).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from lambda_src import runs, status
from lambda_src.director import DirectorDeps, run_director
from lambda_src.dynamo_store import DynamoStore
from lambda_src.invoke import Invoke
from lambda_src.notifier import NotifierDeps, run_notifier
from lambda_src.pairs import INTERRUPTED
from lambda_src.run_summary import RunSummary, summarize
from lambda_src.runs import Clock
from lambda_src.sandbox import ProcessSandbox, hide_process_memory
from lambda_src.script_runner import LOCAL_HINT
from lambda_src.scripts import ScriptError, ScriptSpec, describe_script, load_script
from lambda_src.settings import FleetSettings, resolve_script_path
from lambda_src.table import ItemStore
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
from lambdafan.aws import Aws, is_not_found
from lambdafan.errors import UsageError
from lambdafan.memory_store import MemoryStore

T = TypeVar("T")
# A pair mostly waits on AWS: 128 keeps 120 accounts x 16 regions near its 0.2 s-a-call floor
# (bench scenario 1); `workers_for` bounds how many accounts' clients are alive at once.
DEFAULT_THREADS = 128
# After cancel(): how long Workers get to store what their stopped pairs found and report.
STOP_GRACE_S = 1.0
# Regions an account has enabled when the fleet does not list them (the commercial default).
TYPICAL_REGIONS = 17
# A run makes thousands of short-lived botocore objects (a client per account and region) beside
# a large heap living as long as the process (botocore's models, the CLI's modules); at the
# default threshold (700 new objects) the collector walked that heap over and over. During a run
# it is frozen out of the collector's reach and the young generation is collected every 5,000
# (120 accounts x 16 regions: 11.6 and 13.0 s -> 10.0 and 9.4 s; peak 124-127 -> 142-144 MB, the
# dead clients' reference cycles waiting longer to be collected).
RUN_GC_THRESHOLD = 5000
# How often the wait for Workers looks for a cancel().
WAIT_STEP_S = 0.1


class RunObserver(Protocol):
    """Told about a local run's progress (the CLI draws a progress bar from it)."""

    def started(self, run_id: str, accounts_expected: int) -> None: ...

    def account_done(self, result: WorkerResult) -> None: ...


@dataclass
class LocalRun:
    """What a local run did: its id, its summary and what the Director reported."""

    run_id: str
    summary: RunSummary
    unknown_accounts: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False  # stopped by `cancel()` before it ended: closed as interrupted
    # Threads still running a script blocked in a call (stopped or past its time limit): the
    # process cannot end normally while they run.
    left_running: int = 0


class LocalExecutor:
    """Runs the fleet's handlers in-process with the caller's own AWS."""

    def __init__(
        self,
        settings: FleetSettings,
        aws: Aws,
        store: ItemStore,
        scripts: Sequence[ScriptSpec],
        *,
        threads: int = DEFAULT_THREADS,
        clock: Clock = runs.utcnow,
        observer: RunObserver | None = None,
        pair_timeout_s: float | None = None,
        sandbox: bool = True,
        sandbox_memory_mb: int | None = None,
        script_output: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self.store = store
        self.scripts = scripts
        self.threads = threads
        self.clock = clock
        self.observer = observer
        self.pair_timeout_s = pair_timeout_s
        self.sandbox = sandbox
        self.sandbox_memory_mb = sandbox_memory_mb
        # Where the sandboxes' prints go, line by line (None: this process's stderr).
        self.script_output = script_output
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._run_id: str | None = None

    def cancel(self) -> None:
        """Stop the run (thread-safe): queued pairs and Workers never start, running pairs
        stop at their next record, and `run` returns soon with the run closed as interrupted."""
        self._cancelled.set()
        with self._lock:
            run_id = self._run_id
        if run_id is not None:
            self._stop(run_id)

    def _stop(self, run_id: str) -> None:
        # Interrupted from now on: the last Worker to report can no longer complete the run.
        runs.stop_run(self.store, run_id, status.INTERRUPTED, self.clock())

    def run(
        self,
        accounts: Sequence[str] | None = None,
        scripts: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> LocalRun:
        """Run once, as the deployed fleet would, and wait for every account to finish (or,
        after `cancel()`, for at most STOP_GRACE_S more)."""
        with _collector_for_a_run():
            return self._run(accounts, scripts, run_id)

    def _run(
        self, accounts: Sequence[str] | None, scripts: Sequence[str] | None, run_id: str | None
    ) -> LocalRun:
        event: dict[str, Any] = {"trigger": "local"}
        if run_id:
            event["run_id"] = run_id
        if accounts:
            event["accounts"] = list(accounts)
        if scripts:
            event["scripts"] = list(scripts)
        pair_pool = _CountingPool(self.threads, thread_name_prefix="pair")
        chosen = [s for s in self.scripts if not scripts or s.name in scripts]
        worker_pool = cf.ThreadPoolExecutor(
            workers_for(self.threads, self.settings, chosen), thread_name_prefix="worker"
        )
        sandbox = None
        if self.sandbox:
            # This process holds the caller's credentials: scripts run as the same user.
            hide_process_memory()
            sandbox = ProcessSandbox(
                max_jobs=sandboxes_for(self.threads), output=self.script_output
            )
        dispatcher = _Dispatcher(self, worker_pool, pair_pool, sandbox)
        try:
            started = run_director(event, self.settings, self._director_deps(dispatcher))
            with self._lock:
                self._run_id = started["run_id"]
            if self._cancelled.is_set():  # cancelled while the Director was starting it
                self._stop(started["run_id"])
            if self.observer:
                self.observer.started(started["run_id"], started["accounts"])
            self._wait_for(dispatcher.workers)
            self._end(started["run_id"], dispatcher)
        finally:
            # Never wait here: a script blocked in a call would hold the run forever.
            worker_pool.shutdown(wait=False, cancel_futures=True)
            pair_pool.shutdown(wait=False, cancel_futures=True)
            if sandbox is not None:
                sandbox.close()
            with self._lock:
                self._run_id = None
        summary = summarize(self.store, started["run_id"])
        return LocalRun(
            run_id=started["run_id"],
            summary=summary,
            unknown_accounts=started["unknown_accounts"],
            notifications=dispatcher.notifications,
            interrupted=summary.status == status.INTERRUPTED,
            left_running=pair_pool.busy + sum(not f.done() for f in dispatcher.workers),
        )

    def _wait_for(self, workers: Sequence[cf.Future[WorkerResult | None]]) -> None:
        """Until every Worker has returned; once cancelled, STOP_GRACE_S more at most (a Worker
        still busy then is left behind, and its account closed as interrupted)."""
        pending = set(workers)
        give_up: float | None = None
        while pending:
            if give_up is None and self._cancelled.is_set():
                give_up = time.monotonic() + STOP_GRACE_S
            step = WAIT_STEP_S if give_up is None else min(WAIT_STEP_S, give_up - time.monotonic())
            if step <= 0:
                return
            # A short step, so that a cancel() is seen promptly.
            done, pending = cf.wait(pending, step, cf.FIRST_COMPLETED)
            for future in done:
                result = future.result()
                if result is not None and self.observer:
                    self.observer.account_done(result)

    def _end(self, run_id: str, dispatcher: _Dispatcher) -> None:
        """Close a cancelled run as interrupted (unless it ended meanwhile); else complete it
        if no Worker did."""
        if self._cancelled.is_set():
            runs.close_run(
                self.store,
                run_id,
                status.INTERRUPTED,
                reason=INTERRUPTED,
                error_type="Interrupted",
                now=self.clock(),
                ttl_days=self.settings.ttl_days,
                account_names=dispatcher.account_names,
            )
            return
        # Every Worker has returned: if none completed the run (a store that lost a counter
        # update, as unserialised in-process moto can), complete and notify here.
        if runs.complete_if_all_done(self.store, run_id, self.clock()):
            dispatcher("notifier", {"run_id": run_id})

    def _worker(self, payload: dict[str, Any], deps: WorkerDeps) -> WorkerResult | None:
        """Run one Worker (None: the run was cancelled before it started); if it fails (as
        Lambda would retry and then give up on), its account is recorded as failed, never the
        run."""
        if self._cancelled.is_set():
            return None  # its account never reports: closing the run marks it interrupted
        try:
            return run_worker(payload, self.settings, deps)
        except BaseException as exc:  # a Worker thread never sees a real Ctrl-C: main's only
            account = payload["account"]
            result = WorkerResult(str(payload["run_id"]), account["id"], account["name"])
            result.failed = True
            finish = runs.fail_account(
                deps.store,
                result.run_id,
                result.account_id,
                result.account_name,
                error_type=type(exc).__name__,
                message=f"the Worker failed: {exc}",
                attempt=runs.GAVE_UP_ATTEMPT,
                now=self.clock(),
                ttl_days=self.settings.ttl_days,
            )
            result.completed_run = finish.notify
            if result.completed_run:
                deps.invoke("notifier", {"run_id": result.run_id})
            return result

    def _director_deps(self, dispatch: Invoke) -> DirectorDeps:
        organizations = None
        if self.settings.organization:
            organizations = self.aws.client("organizations", self.settings.home_region)
        return DirectorDeps(
            store=self.store, organizations=organizations, invoke=dispatch, clock=self.clock
        )


class _Dispatcher:
    """The in-process Lambda invoke: Workers go on the worker pool, the Notifier runs here."""

    def __init__(
        self,
        executor: LocalExecutor,
        workers: cf.Executor,
        pairs: cf.Executor,
        sandbox: ProcessSandbox | None,
    ) -> None:
        self._executor = executor
        self._pool = workers
        self._lock = threading.Lock()
        self.workers: list[cf.Future[WorkerResult | None]] = []
        self.account_names: dict[str, str] = {}
        self.notifications: list[dict[str, Any]] = []
        self.deps = WorkerDeps(
            store=executor.store,
            base_session=executor.aws.session,
            invoke=self,
            scripts=executor.scripts,
            clock=executor.clock,
            pool=pairs,
            sandbox=sandbox,
            sandbox_memory_mb=executor.sandbox_memory_mb,
            missing_module_hint=LOCAL_HINT,
            pair_timeout_s=executor.pair_timeout_s,
            stop=executor._cancelled,
        )

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "worker":
            future = self._pool.submit(self._executor._worker, payload, self.deps)
            account = payload["account"]
            with self._lock:
                self.workers.append(future)
                self.account_names[str(account["id"])] = str(account["name"])
        else:
            # A laptop run summarizes but never posts to the fleet's channels.
            deps = NotifierDeps(store=self._executor.store)
            self.notifications.append(run_notifier(payload, self._executor.settings, deps))


class _CountingPool(cf.ThreadPoolExecutor):
    """A thread pool that knows how many of its threads are running a task: after a stop, the
    scripts blocked in a call, which the process cannot wait for."""

    def __init__(self, threads: int, thread_name_prefix: str) -> None:
        super().__init__(threads, thread_name_prefix=thread_name_prefix)
        self._count_lock = threading.Lock()
        self._busy = 0

    @property
    def busy(self) -> int:
        with self._count_lock:
            return self._busy

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> cf.Future[T]:
        def counted() -> T:
            with self._count_lock:
                self._busy += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self._busy -= 1

        return super().submit(counted)


def open_store(aws: Aws, settings: FleetSettings) -> tuple[ItemStore, bool]:
    """The fleet's table when it exists (True), else an in-memory store (False)."""
    client = aws.client("dynamodb", settings.home_region)
    try:
        client.describe_table(TableName=settings.table_name)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        return MemoryStore(), False
    return DynamoStore(client, settings.table_name), True


def sandboxes_for(threads: int) -> int:
    """How many script processes a local run keeps going: each runs a script's regions on its
    own threads, so `threads` split by a typical region count; at least one per core, at most
    four (measured: 120 accounts x 16 regions on 2 cores took 24.9 s with 4 at once, 23.8 s
    with 8, 30.4 s with 16)."""
    cores = os.cpu_count() or 1
    return min(max(cores, threads // 8), 4 * cores)


@contextlib.contextmanager
def _collector_for_a_run() -> Iterator[None]:
    """The garbage collector tuned for a run (RUN_GC_THRESHOLD), as it was again after."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(RUN_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def workers_for(threads: int, settings: FleetSettings, scripts: Sequence[ScriptSpec]) -> int:
    """How many Workers run at once: enough to keep the `threads` pair threads fed twice over
    (each Worker runs its account's pairs of `scripts` on them: one per region, or one for an
    account-wide script), no more. A Worker holds its account's clients until its last pair
    ends: with every account started at once, 120 accounts x 16 regions on 128 threads peaked
    at 172 MB, all 1,920 clients alive together."""
    regions = len(settings.regions) if settings.regions else TYPICAL_REGIONS
    pairs_per_account = sum(1 if s.scope == "account" else regions for s in scripts)
    return max(2, min(threads, -(-2 * threads // max(1, pairs_per_account))))


def fleet_scripts(settings: FleetSettings, *, load: bool = False) -> list[ScriptSpec]:
    """The fleet's scripts, checked from their source; `load` also imports them (for running
    them in this process). A broken one is a usage error naming file and line."""
    read = load_script if load else describe_script
    try:
        return [read(resolve_script_path(ref), ref.name) for ref in settings.scripts]
    except ScriptError as exc:
        raise UsageError(str(exc)) from None
