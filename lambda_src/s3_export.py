"""The S3 export (`results.export: s3`): each (script, region) pair's records of a run as one
gzipped JSON Lines object at `names.export_key(...)` in the fleet's export bucket.

Records are compressed as they come (into a spooled file that moves to disk past a few MB, so a
large pair never sits in memory) and the object is PUT once, when the pair has ended: a retried
pair overwrites its object, as its records replace the table's. Each line is what
`results --format jsonl` prints for the record, plus `run_id`. The PUT uses the Worker's own
credentials (the fleet account), never the member role's.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from botocore.config import Config

from lambda_src import names
from lambda_src.records import from_dynamo
from lambda_src.table import Item

# Set by deploy on the Worker function: the bucket to write to (so no call finds the account).
BUCKET_ENV = "LAMBDAFAN_EXPORT_BUCKET"
SPOOL_BYTES = 8 * 1024 * 1024  # a pair's compressed records past this go to /tmp
CONTENT_TYPE = "application/gzip"
PUT_THREADS = 8  # within botocore's default pool of ten connections
# Few, bounded retries: the Worker waits for its PUTs before recording its outcome, and a PUT
# that fails is only that pair's export (its records are in the table).
PUT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30
)
ORIGIN = ("run_id", "account_id", "account_name", "region", "script")
_JSON = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))


def export_line(item: Mapping[str, Any]) -> dict[str, Any]:
    """One record item as an exported row: the origin columns, then the record's fields (which
    win on a clash, as in `results`)."""
    data = from_dynamo(item.get("data") or {})
    origin = {name: item[name] for name in ORIGIN}
    return {**origin, **(data if isinstance(data, dict) else {"value": data})}


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
    """One Worker's export: `add` each stored record (from the writer), `finish` each pair."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        fleet: str,
        run_id: str,
        account_id: str,
        failure: Exception | None = None,
    ) -> None:
        self._s3 = s3
        # Set when the export cannot work at all (its bucket not found): every pair fails so.
        self.failure = failure
        self.bucket = bucket
        self._fleet = fleet
        self._run_id = run_id
        self._account_id = account_id
        self._pairs: dict[tuple[str, str], _PairObject] = {}
        self._lock = threading.Lock()  # pairs' records arrive on their scripts' threads
        # PUTs run beside the Worker: at its deadline every unfinished pair ends at once, and
        # one PUT after another would eat the time kept for writing its outcome.
        self._pool = ThreadPoolExecutor(max_workers=PUT_THREADS, thread_name_prefix="export")
        self._puts: dict[tuple[str, str], Future[None]] = {}

    def _pair(self, script: str, region: str) -> _PairObject:
        with self._lock:
            found = self._pairs.get((script, region))
            if found is None:
                found = self._pairs[script, region] = _PairObject()
            return found

    def add(self, item: Item) -> None:
        """Add a record item of one of this Worker's pairs."""
        if self.failure is not None:
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
        self._puts[script, region] = self._pool.submit(self._put, script, region, pair)

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
            )
        finally:
            pair.close()

    def close(self) -> dict[tuple[str, str], BaseException]:
        """Wait for every PUT; drop pairs never finished (the Worker stopped before they
        ended). The failed PUTs, by (script, region): each fails alone, its table records
        stand."""
        failed = {}
        for pair_key, put in self._puts.items():
            error = put.exception()
            if error is not None:
                failed[pair_key] = error
        self._pool.shutdown(wait=True)
        with self._lock:
            pairs, self._pairs = list(self._pairs.values()), {}
        for pair in pairs:
            pair.close()
        return failed


def failed_export(fleet: str, run_id: str, account_id: str, failure: Exception) -> S3Export:
    """An export that fails each pair with `failure` (why it could not start)."""
    return S3Export(None, "", fleet, run_id, account_id, failure)


def worker_export(
    fleet: str,
    home_region: str,
    run_id: str,
    account_id: str,
    session: Any,
    environ: Mapping[str, str] | None = None,
) -> S3Export:
    """The export of one Worker, with a client of the Worker's own `session`."""
    bucket = bucket_for(fleet, home_region, session, os.environ if environ is None else environ)
    s3 = session.client("s3", region_name=home_region, config=PUT_CONFIG)
    return S3Export(s3, bucket, fleet, run_id, account_id)
