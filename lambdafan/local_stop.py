"""How the local executor stops a run (Ctrl-C): a pair pool that can stop its pairs, and a store
that keeps the last Worker from completing a run that is being interrupted.

A Worker waits for its pairs' futures. The pool hands it futures of its own, so that stopping
can settle them at once: a queued pair never starts, a running one is marked stopped (the Worker's
per-pair mechanism: its later records are dropped at the next one) and its Worker goes on with
what the pair stored. A script blocked in a call cannot be killed; its thread is left behind and
counted, for the caller to decide how to leave (`busy`).
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lambda_src.table import Item, ItemStore
from lambda_src.worker import Pair, PairOutcome

INTERRUPTED = "interrupted (Ctrl-C)"
INTERRUPTED_TYPE = "Interrupted"


class Interrupted(Exception):
    """What a stopped task that is not a (script, region) pair raises to whoever waits for it."""


_Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class PairPool(cf.Executor):
    """A thread pool for (script, region) pairs whose `stop()` settles every unfinished one."""

    def __init__(self, threads: int) -> None:
        self._pool = cf.ThreadPoolExecutor(threads, thread_name_prefix="pair")
        self._lock = threading.Lock()
        self._open: dict[cf.Future[Any], _Task] = {}  # submitted, not settled
        self._stopped = False
        self._busy = 0

    @property
    def busy(self) -> int:
        """Threads still running a task (after `stop()`: scripts blocked in a call)."""
        with self._lock:
            return self._busy

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._open[future] = (fn, args, kwargs)
        if stopped:
            _interrupt(future, fn, args)
        else:
            self._pool.submit(self._run, future)
        return future

    def stop(self) -> None:
        """Settle every unfinished task now (thread-safe, idempotent); later ones never run."""
        with self._lock:
            self._stopped = True
            unsettled, self._open = self._open, {}
        for future, (fn, args, _) in unsettled.items():
            _interrupt(future, fn, args)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def _run(self, future: cf.Future[Any]) -> None:
        with self._lock:
            task = self._open.get(future)
            if task is None or not future.set_running_or_notify_cancel():
                self._open.pop(future, None)
                return  # stopped before it started, or cancelled by its Worker
            self._busy += 1
        fn, args, kwargs = task
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # whatever it is, its Worker must hear of it or wait forever
            error = exc
        # Not busy before it is settled: when the last Worker returns, `busy` is already right.
        with self._lock:
            self._busy -= 1
            mine = self._open.pop(future, None) is not None  # else stop() settled it
        if mine:
            _settle(future, result, error)


def _interrupt(future: cf.Future[Any], fn: Callable[..., Any], args: Sequence[Any]) -> None:
    """Settle a pair as interrupted, keeping what it stored: an `Interrupted` error item."""
    # The Worker's `_AccountRun.run_pair(pair, session, writer, outcome)`: its error items.
    error_item = getattr(getattr(fn, "__self__", None), "error_item", None)
    pair = next((a for a in args if isinstance(a, Pair)), None)
    outcome = next((a for a in args if isinstance(a, PairOutcome)), None)
    if pair is None or outcome is None or error_item is None:
        _settle(future, None, Interrupted(INTERRUPTED))
        return
    with outcome.lock:  # the pair's own lock: a record is stored and counted, or neither
        outcome.stopped = True
        if outcome.started:
            found = f"; the {outcome.records} records found so far were kept"
        else:
            found = " before it started"
        script, region = pair.script.name, pair.region
        outcome.error = error_item(script, region, INTERRUPTED_TYPE, INTERRUPTED + found)
    _settle(future, outcome, None)


def _settle(future: cf.Future[Any], result: Any, error: BaseException | None) -> None:
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except cf.InvalidStateError:
        pass  # its Worker cancelled it meanwhile


class StopCountingStore:
    """The store as Workers see it; once `stopping` is set, adding to a run's counters does
    nothing (and reports no run item).

    Workers still write their records, errors and done items, so what they found counts. But
    the last one to finish would complete the run (`complete with failures`) before the
    executor closes it as `interrupted`; and closing reads its totals from the done items.
    """

    def __init__(self, store: ItemStore, stopping: threading.Event) -> None:
        self._store = store
        self._stopping = stopping

    def add_counters(
        self, pk: str, sk: str, counters: Mapping[str, int], when: tuple[str, Any]
    ) -> Item | None:
        if self._stopping.is_set():
            return None
        return self._store.add_counters(pk, sk, counters, when)

    def put_items(self, items: Sequence[Item]) -> None:
        self._store.put_items(items)

    def put_new(self, item: Item) -> bool:
        return self._store.put_new(item)

    def delete_items(self, keys: Sequence[tuple[str, str]]) -> None:
        self._store.delete_items(keys)

    def get(self, pk: str, sk: str) -> Item | None:
        return self._store.get(pk, sk)

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        return self._store.query(pk, sk_prefix, newest_first=newest_first, consistent=consistent)

    def query_runs(self) -> Iterator[Item]:
        return self._store.query_runs()

    def update_if(self, pk: str, sk: str, values: Mapping[str, Any], when: tuple[str, Any]) -> bool:
        return self._store.update_if(pk, sk, values, when)
