"""Jobs on the Worker's own threads: `InProcessSandbox`, for tests against in-process moto and
`--no-sandbox` debugging (no isolation at all). Apart from `lambda_src.sandbox` so that a Worker
on Lambda, which always runs scripts in the process sandbox, does not import it."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lambda_src.sandbox import ScriptProcess
from lambda_src.script_runner import Closed, Job, run_job
from lambda_src.script_wire import decode
from lambda_src.scripts import Script, load_script


class InProcessSandbox:
    """Jobs on the Worker's own threads (a `pool`, or a thread per pair): no isolation at all.

    `session_for(job)` gives the session a job's script receives; `scripts` are already
    imported scripts by name (tests pass functions), others are imported on first use.
    """

    def __init__(
        self,
        session_for: Callable[[Job], Any],
        *,
        pool: cf.Executor | None = None,
        scripts: Mapping[str, Script] | None = None,
    ) -> None:
        self._session_for = session_for
        self._pool = pool
        self._scripts = dict(scripts or {})
        self._lock = threading.Lock()

    def start(self, job: Job) -> ScriptProcess:
        process = _ThreadProcess()
        spawn = process.spawner(self._pool)
        with contextlib.suppress(Closed):
            run_job(job, self._session_for(job), process.emit, spawn, load=self._load)
        process.started_all()
        return process

    def _load(self, job: Job) -> Script:
        with self._lock:
            script = self._scripts.get(job.script)
            if script is None:
                script = self._scripts[job.script] = load_script(Path(job.path), job.script)
            return script

    def close(self) -> None:
        return None


_END = object()


class _ThreadProcess:
    """A job on threads: its messages through a bounded queue; closing it makes its pairs stop
    at their next record."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1000)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._spawned = 0
        self._finished = 0
        self._all_started = False

    def emit(self, line: bytes) -> None:
        if not self._put(line):
            raise Closed

    def _put(self, line: object) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(line, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def spawner(self, pool: cf.Executor | None) -> Callable[[Callable[[], None]], None]:
        def spawn(fn: Callable[[], None]) -> None:
            def run() -> None:
                try:
                    fn()
                finally:
                    self._count(finished=1)

            self._count(spawned=1)
            if pool is None:
                threading.Thread(target=run, daemon=True).start()
                return
            try:
                pool.submit(run)
            except RuntimeError:  # the pool was shut down (a cancelled local run)
                self._count(finished=1)

        return spawn

    def started_all(self) -> None:
        """run_job has returned: no more pairs will be spawned."""
        self._count(all_started=True)

    def _count(self, spawned: int = 0, finished: int = 0, all_started: bool = False) -> None:
        with self._lock:
            self._spawned += spawned
            self._finished += finished
            self._all_started = self._all_started or all_started
            ended = (
                self._all_started and self._finished == self._spawned and (finished or all_started)
            )
        if ended:
            self._put(_END)

    def messages(self) -> Iterator[dict[str, Any]]:
        while not self._closed.is_set():
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is _END:
                return
            yield decode(line)

    def close(self) -> None:
        self._closed.set()
