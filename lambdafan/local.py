"""The local executor: the Director, Workers and Notifier run in this process.

Only the Lambda invoke step is replaced, by an in-process dispatcher. Workers run in parallel and
share one bounded pool for their (script, region) pairs: thousands of simultaneous threads in one
process spend more time fighting over the GIL than working.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from lambda_src import runs
from lambda_src.director import DirectorDeps, run_director
from lambda_src.dynamo_store import DynamoStore
from lambda_src.notifier import NotifierDeps, RunSummary, run_notifier, summarize
from lambda_src.runs import Clock
from lambda_src.scripts import Script, ScriptError, load_script
from lambda_src.settings import FleetSettings, resolve_script_path
from lambda_src.table import ItemStore
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
from lambdafan.aws import Aws, is_not_found
from lambdafan.errors import UsageError
from lambdafan.memory_store import MemoryStore

DEFAULT_THREADS = 32


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


class LocalExecutor:
    """Runs the fleet's handlers in-process with the caller's own AWS."""

    def __init__(
        self,
        settings: FleetSettings,
        aws: Aws,
        store: ItemStore,
        scripts: Sequence[Script],
        *,
        threads: int = DEFAULT_THREADS,
        clock: Clock = runs.utcnow,
        observer: RunObserver | None = None,
        pair_timeout_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self.store = store
        self.scripts = scripts
        self.threads = threads
        self.clock = clock
        self.observer = observer
        self.pair_timeout_s = pair_timeout_s

    def run(
        self,
        accounts: Sequence[str] | None = None,
        scripts: Sequence[str] | None = None,
        run_id: str | None = None,
    ) -> LocalRun:
        """Run once, as the deployed fleet would, and wait for every account to finish."""
        event: dict[str, Any] = {"trigger": "local"}
        if run_id:
            event["run_id"] = run_id
        if accounts:
            event["accounts"] = list(accounts)
        if scripts:
            event["scripts"] = list(scripts)
        notifications: list[dict[str, Any]] = []
        workers: list[cf.Future[WorkerResult]] = []
        lock = threading.Lock()
        with (
            cf.ThreadPoolExecutor(self.threads, thread_name_prefix="pair") as pair_pool,
            cf.ThreadPoolExecutor(self.threads, thread_name_prefix="worker") as worker_pool,
        ):
            worker_deps = WorkerDeps(
                store=self.store,
                base_session=self.aws.session,
                invoke=lambda kind, payload: dispatch(kind, payload),
                scripts=self.scripts,
                clock=self.clock,
                pool=pair_pool,
                pair_timeout_s=self.pair_timeout_s,
            )

            def dispatch(kind: str, payload: dict[str, Any]) -> None:
                if kind == "worker":
                    future = worker_pool.submit(self._worker, payload, worker_deps)
                    with lock:
                        workers.append(future)
                else:
                    # A laptop run summarizes but never posts to the fleet's channels.
                    deps = NotifierDeps(store=self.store)
                    notifications.append(run_notifier(payload, self.settings, deps))

            started = run_director(event, self.settings, self._director_deps(dispatch))
            if self.observer:
                self.observer.started(started["run_id"], started["accounts"])
            for future in cf.as_completed(workers):
                result = future.result()
                if self.observer:
                    self.observer.account_done(result)
            # Every Worker has returned: if none completed the run (a store that lost a counter
            # update, as unserialised in-process moto can), complete and notify here.
            if runs.complete_if_all_done(self.store, started["run_id"], self.clock()):
                dispatch("notifier", {"run_id": started["run_id"]})
        return LocalRun(
            run_id=started["run_id"],
            summary=summarize(self.store, started["run_id"]),
            unknown_accounts=started["unknown_accounts"],
            notifications=notifications,
        )

    def _worker(self, payload: dict[str, Any], deps: WorkerDeps) -> WorkerResult:
        """Run one Worker; if it fails (as Lambda would retry and then give up on), its
        account is recorded as failed, never the run."""
        try:
            return run_worker(payload, self.settings, deps)
        except Exception as exc:
            account = payload["account"]
            result = WorkerResult(str(payload["run_id"]), account["id"], account["name"])
            result.failed = True
            finish = runs.fail_account(
                self.store,
                result.run_id,
                result.account_id,
                result.account_name,
                error_type=type(exc).__name__,
                message=f"the Worker failed: {exc}",
                attempt=runs.GAVE_UP_ATTEMPT,
                now=self.clock(),
                ttl_days=self.settings.ttl_days,
            )
            result.completed_run = finish is runs.Finish.COMPLETED
            if result.completed_run:
                deps.invoke("notifier", {"run_id": result.run_id})
            return result

    def _director_deps(self, dispatch: Callable[[str, dict[str, Any]], None]) -> DirectorDeps:
        organizations = None
        if self.settings.organization:
            organizations = self.aws.client("organizations", self.settings.home_region)
        return DirectorDeps(
            store=self.store, organizations=organizations, invoke=dispatch, clock=self.clock
        )


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


def load_fleet_scripts(settings: FleetSettings) -> list[Script]:
    """Import the fleet's scripts; a broken one is a usage error naming file and line."""
    try:
        return [load_script(resolve_script_path(ref), ref.name) for ref in settings.scripts]
    except ScriptError as exc:
        raise UsageError(str(exc)) from None
