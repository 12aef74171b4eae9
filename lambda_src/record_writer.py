"""The Worker's writer: one thread draining a bounded queue of items into the table in batches,
while the scripts still run."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from lambda_src import dynamo_store
from lambda_src.scripts import error_type_of
from lambda_src.table import Item, ItemStore

QUEUE_SIZE = 2_000
FLUSH_INTERVAL_S = 0.25


_STOP = object()


class RecordWriter:
    """Drains a bounded queue of items into the store in batches, on its own thread.

    Items the store refuses after its own retries are counted as failed per (script, region);
    after `give_up_at` (monotonic) nothing more is tried, so retries never eat the time the
    Worker keeps to record its outcome.
    """

    def __init__(
        self,
        store: ItemStore,
        give_up_at: float | None = None,
        tee: Callable[[Item], None] | None = None,
    ) -> None:
        self._store = store
        # Also given every item queued: the S3 export (`s3_export.S3Export.add`).
        self._tee = tee
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
            except queue.Full:
                continue
            if self._tee is not None:
                self._tee(item)
            return True
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
        refused = set(getattr(exc, "keys", None) or ())
        if refused:  # the store says which items it could not write: the others are stored
            items = [i for i in items if (i["pk"], i["sk"]) in refused]
        for item in items:
            self.failed[str(item.get("script")), str(item.get("region"))] += 1
        self.failure = exc
