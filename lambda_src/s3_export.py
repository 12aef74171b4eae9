"""The S3 export (`results.export: s3`): each (script, region) pair's records of a run as one
gzipped JSON Lines object at `names.export_key(...)` in the fleet's export bucket.

Records are compressed as they come (into a spooled file that moves to disk past 1 MB, so a
large pair never sits in memory) and the object is PUT once, when the pair has ended: a retried
pair overwrites its object, as its records replace the table's. Each object names the attempt
that wrote it in its metadata (`ATTEMPT_METADATA`): a reader keeps only objects of the attempt
the account's done item names, as the table's readers do with records. Each line is what
`results --format jsonl` prints for the record, with the origin columns (`ORIGIN`, run_id
among them) set last. The PUT uses the Worker's own credentials (the fleet account), never the
member role's.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import IO, Any

from botocore.config import Config

from lambda_src import names
from lambda_src.records import from_dynamo, with_origin
from lambda_src.table import Item

# Set by deploy on the Worker function: the bucket to write to (so no call finds the account).
BUCKET_ENV = "LAMBDAFAN_EXPORT_BUCKET"
# A pair's compressed records past this go to /tmp: every running pair holds this much at most.
SPOOL_BYTES = 1024 * 1024
CONTENT_TYPE = "application/gzip"
PUT_THREADS = 8  # within botocore's default pool of ten connections
# Few, bounded retries: the Worker waits for its PUTs (until its deadline) before recording its
# outcome, and a PUT that fails is only that pair's export (its records are in the table).
PUT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10
)
# The columns saying where a record came from, in every exported line and every query view (the
# CLI's record files import them from here: one definition).
ORIGIN = ("run_id", "account_id", "account_name", "region", "script")
# The object metadata key (`x-amz-meta-attempt`) naming the Worker attempt that wrote it.
ATTEMPT_METADATA = "attempt"
# The Glue tables' partition key (the run=<id> folder): a record field of that name would be
# hidden by it in Athena, so it is exported as `record_run`.
RUN_PARTITION = "run"
PARTITION_KEYS = frozenset({RUN_PARTITION})
# The error type of a pair whose records could not be exported (its table records stand).
EXPORT_ERROR = "ExportError"
_JSON = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))


def export_line(item: Mapping[str, Any]) -> dict[str, Any]:
    """One record item as an exported row: the origin columns first, then the record's fields
    (one named like an origin column kept as `record_<name>`, as `query` and `results` do)."""
    origin = {name: item[name] for name in ORIGIN}
    return with_origin(origin, from_dynamo(item.get("data") or {}), PARTITION_KEYS)


def bucket_for(fleet: str, home_region: str, session: Any, environ: Mapping[str, str]) -> str:
    """The export bucket: the one deploy named in the environment, else the fleet's bucket in
    the account of `session`'s credentials (a local run: the user's own)."""
    bucket = environ.get(BUCKET_ENV)
    if bucket:
        return bucket
    sts = session.client("sts", region_name=home_region)
    return names.export_bucket_name(fleet, sts.get_caller_identity()["Account"], home_region)


class _PairObject:
    """One pair's records, compressed as they are added."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        # mtime 0: the same records make the same bytes; level 6 (zlib's default) is most of
        # level 9's size at a fraction of its CPU, which the scripts share.
        self.gzip = gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=6, mtime=0)
        self.records = 0
        self.failure: Exception | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        if self.failure is not None:
            return
        try:
            self.gzip.write((_JSON.encode(row) + "\n").encode("utf-8"))
        except Exception as exc:  # /tmp full, say: this pair's export fails, nothing else
            self.failure = exc
            return
        self.records += 1

    def body(self) -> IO[bytes]:
        self.gzip.close()
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.gzip.close()
        self.file.close()


class S3Export:
    """One Worker attempt's export: `add` each stored record (from the writer), `finish` each
    pair, then `close`. A context manager: leaving it closes it (its threads and spool files
    released) even when the Worker fails."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        fleet: str,
        run_id: str,
        account_id: str,
        attempt: str = "",
        failure: Exception | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s3 = s3
        # Set when the export cannot work at all (its bucket not found): every pair fails so.
        self.failure = failure
        self.bucket = bucket
        self._fleet = fleet
        self._run_id = run_id
        self._account_id = account_id
        self._attempt = attempt  # the Worker's always; "" writes no metadata
        self._now = now  # the clock of `close`'s give_up_at
        self._pairs: dict[tuple[str, str], _PairObject] = {}
        self._lock = threading.Lock()  # pairs' records arrive on their scripts' threads
        # PUTs run beside the Worker: at its deadline every unfinished pair ends at once, and
        # one PUT after another would eat the time kept for writing its outcome.
        self._pool = ThreadPoolExecutor(max_workers=PUT_THREADS, thread_name_prefix="export")
        self._puts: dict[tuple[str, str], tuple[Future[None], _PairObject]] = {}
        self.closed = False

    def __enter__(self) -> S3Export:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # The Worker closes it itself when all went well; else nothing more is waited for.
        self.close(give_up_at=self._now())

    def _pair(self, script: str, region: str) -> _PairObject:
        with self._lock:
            found = self._pairs.get((script, region))
            if found is None:
                found = self._pairs[script, region] = _PairObject()
            return found

    def add(self, item: Item) -> None:
        """Add a record item of one of this Worker's pairs."""
        if self.failure is not None or self.closed:  # closed: a late record of an ended pair
            return
        # One thread follows each script's job, so a pair's records never arrive concurrently.
        pair = self._pair(str(item["script"]), str(item["region"]))
        try:
            row = export_line(item)
        except Exception as exc:  # never lose the table's record for the export's sake
            pair.failure = pair.failure or exc
            return
        pair.add(row)

    def key(self, script: str, region: str) -> str:
        return names.export_key(self._fleet, self._run_id, script, self._account_id, region)

    def finish(self, script: str, region: str) -> None:
        """PUT the pair's object, on the export's own threads (the Worker goes on with the
        pairs still running); `close` says how each PUT went."""
        with self._lock:
            pair = self._pairs.pop((script, region), None) or _PairObject()
        self._puts[script, region] = (self._pool.submit(self._put, script, region, pair), pair)

    def _put(self, script: str, region: str, pair: _PairObject) -> None:
        """The pair's one object (empty when it found nothing, so a retry that finds nothing
        replaces what an earlier attempt wrote)."""
        try:
            if self.failure is not None:
                raise self.failure
            if pair.failure is not None:
                raise pair.failure
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self.key(script, region),
                Body=pair.body(),
                ContentType=CONTENT_TYPE,
                Metadata={ATTEMPT_METADATA: self._attempt} if self._attempt else {},
            )
        finally:
            pair.close()

    def close(self, give_up_at: float | None = None) -> dict[tuple[str, str], BaseException]:
        """Wait for the PUTs until `give_up_at` (on the `now` clock; None: until they end),
        then cancel those not started and drop pairs never finished (the Worker stopped before
        they ended). The failed PUTs, by (script, region), a PUT not done by then among them:
        each fails alone, its table records stand. A second call does nothing."""
        if self.closed:
            return {}
        self.closed = True
        timeout = None if give_up_at is None else max(give_up_at - self._now(), 0.0)
        _, late = wait([put for put, _ in self._puts.values()], timeout=timeout)
        # A PUT under way is left to its thread (Lambda may freeze it; its object names its
        # attempt), and the Worker goes on to record its outcome in time.
        self._pool.shutdown(wait=False, cancel_futures=True)
        failed: dict[tuple[str, str], BaseException] = {}
        for pair_key, (put, pair) in self._puts.items():
            if put in late:
                if put.cancelled():  # never started: its spool is ours to release
                    pair.close()
                failed[pair_key] = TimeoutError("the Worker's deadline came before it was done")
                continue
            error = put.exception()
            if error is not None:
                failed[pair_key] = error
        with self._lock:
            pairs, self._pairs = list(self._pairs.values()), {}
        for pair in pairs:
            pair.close()
        return failed


def failed_export(fleet: str, run_id: str, account_id: str, failure: Exception) -> S3Export:
    """An export that fails each pair with `failure` (why it could not start)."""
    return S3Export(None, "", fleet, run_id, account_id, "", failure)


def worker_export(
    fleet: str,
    home_region: str,
    run_id: str,
    account_id: str,
    attempt: str,
    session: Any,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], float] = time.monotonic,
) -> S3Export:
    """The export of one Worker attempt, with a client of the Worker's own `session`."""
    bucket = bucket_for(fleet, home_region, session, os.environ if environ is None else environ)
    s3 = session.client("s3", region_name=home_region, config=PUT_CONFIG)
    return S3Export(s3, bucket, fleet, run_id, account_id, attempt, now=now)
