"""The record of every invocation the local runtime ran, queryable, one log line each."""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class InvocationRecord:
    """One run of a function's code (an async event's retries are records of their own)."""

    function: str
    request_id: str
    invocation_type: str  # RequestResponse or Event
    attempt: int  # 1, or 2 and 3 for an async event's retries
    started: float  # wall-clock seconds
    duration_ms: float  # process start to exit
    startup_ms: float | None  # process start to the handler's call: the runtime's overhead
    init_ms: float | None  # process start to the handler's module imported
    peak_memory_kb: int  # the child's VmHWM
    memory_limit_mb: int
    error_type: str | None  # None: the handler returned
    log: str  # what the handler printed

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def report_line(self) -> str:
        """Lambda's REPORT line for this invocation, as it appears in CloudWatch Logs."""
        used_mb = -(-self.peak_memory_kb // 1024)
        fields = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(self.duration_ms)} ms",
            f"Memory Size: {self.memory_limit_mb} MB",
            f"Max Memory Used: {used_mb} MB",
        ]
        if self.init_ms is not None:
            fields.append(f"Init Duration: {self.init_ms:.2f} ms")
        if not self.ok:
            fields.append(f"Status: {self.error_type}")
        return "\t".join(fields)

    def line(self) -> str:
        status = "ok" if self.ok else self.error_type
        startup = f"{self.startup_ms:.0f} ms" if self.startup_ms is not None else "-"
        return (
            f"REPORT {self.function} {self.request_id} {self.invocation_type}#{self.attempt} "
            f"{status} duration {self.duration_ms:.0f} ms startup {startup} "
            f"memory {self.peak_memory_kb // 1024}/{self.memory_limit_mb} MB"
        )


class InvocationLog:
    """Thread-safe list of records; each added record is also written as a line to `stream`."""

    def __init__(self, stream: Callable[[], TextIO | None] = lambda: sys.stderr) -> None:
        self._records: list[InvocationRecord] = []
        self._lock = threading.Lock()
        self._stream = stream

    def add(self, record: InvocationRecord) -> None:
        with self._lock:
            self._records.append(record)
        out = self._stream()
        if out is not None:
            print(record.line(), file=out, flush=True)

    def note(self, message: str) -> None:
        """Something the runtime could not do, said on the stream (not a record)."""
        out = self._stream()
        if out is not None:
            print(f"local cloud: {message}", file=out, flush=True)

    def records(self, function: str | None = None) -> list[InvocationRecord]:
        with self._lock:
            return [r for r in self._records if function in (None, r.function)]
