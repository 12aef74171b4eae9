"""`query --engine duckdb` over the S3 export: download a run's objects that count.

Objects are downloaded with boto3 (DuckDB's network extensions need the internet), several at a
time, into files grouped by script, the shape the local engine loads. Only the objects that
count are kept, as `results` counts the table's records: of a finished account, its counted
attempt's (the attempt a Worker writes in the object's metadata); of an account still running,
any; and none of a pair that found nothing. The S3 client is passed in; key parsing is pure
and follows `lambda_src.names.export_key`, the one layout.
"""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import names
from lambda_src.s3_export import ATTEMPT_METADATA
from lambdafan.aws import error_code
from lambdafan.errors import LambdafanError

THREADS = 16  # objects are small (one (script, account, region) each): latency, not bandwidth
PAGE_SIZE = 1000  # ListObjectsV2's maximum MaxKeys
# The file names a writer may use for a pair's object (names.EXPORT_OBJECT is part-0).
_PART = re.compile(r"part-\d+\.json\.gz")
_PARTS = ("run", "script", "account", "region")
_CHUNK = 1024 * 1024
# The object a Worker PUTs for a pair that found nothing (so that a retry replaces what an
# earlier attempt wrote): a gzip of no data, 20 bytes (23 stored, level 0), whatever mtime.
# No record is that small (its origin columns alone compress to more): skipped unread.
EMPTY_OBJECT_MAX = max(len(gzip.compress(b"", compresslevel=n, mtime=0)) for n in range(10))


@dataclass(frozen=True)
class ExportObject:
    """One exported object: whose records it holds, by its key."""

    key: str
    run_id: str
    script: str
    account_id: str
    region: str
    file: str

    @property
    def relative(self) -> Path:
        """Where it goes below a download folder: its key below the fleet's prefix."""
        folders = (f"{part}={value}" for part, value in zip(_PARTS, self._values(), strict=True))
        return Path(*folders, self.file)

    def _values(self) -> tuple[str, str, str, str]:
        return (self.run_id, self.script, self.account_id, self.region)


def parse_export_key(fleet: str, key: str) -> ExportObject | None:
    """The object `key` names in `fleet`'s export layout, or None for any other key."""
    prefix = names.export_prefix(fleet)
    if not key.startswith(prefix):
        return None
    *folders, file = key[len(prefix) :].split("/")
    if len(folders) != len(_PARTS) or not _PART.fullmatch(file):
        return None
    values: list[str] = []
    for folder, part in zip(folders, _PARTS, strict=True):
        name, equals, value = folder.partition("=")
        if name != part or not equals:
            return None
        values.append(value)
    run_id, script, account_id, region = values
    try:
        expected = names.export_key(fleet, run_id, script, account_id, region)
    except names.KeyPartError:
        return None  # a part names.py would never have written (`script=a b`, a 3-digit account)
    if expected.rsplit("/", 1)[0] != key.rsplit("/", 1)[0]:
        return None  # names.py owns the layout: should it change, reject rather than misread
    return ExportObject(key, run_id, script, account_id, region, file)


def run_objects(
    s3: Any, bucket: str, fleet: str, run_id: str, *, page_size: int = PAGE_SIZE
) -> Iterator[ExportObject]:
    """The run's exported objects with records, page by page; keys outside the layout and
    empty objects are skipped."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket,
        Prefix=names.export_prefix(fleet, run_id),
        PaginationConfig={"PageSize": page_size},
    )
    with _bucket_errors(bucket):
        for page in pages:
            for item in page.get("Contents", []):
                found = parse_export_key(fleet, str(item["Key"]))
                if found is None or found.run_id != run_id:
                    continue
                if int(item.get("Size", EMPTY_OBJECT_MAX + 1)) > EMPTY_OBJECT_MAX:
                    yield found


@dataclass(frozen=True)
class Counted:
    """Which objects of a run count: `attempts`, the attempt each finished account's done item
    names; `running`, whether accounts not finished yet count (the run is still going)."""

    attempts: Mapping[str, str]
    running: bool

    def account(self, account_id: str) -> bool:
        """Whether the account's objects may count (known from the key, before any GET)."""
        return self.running or account_id in self.attempts

    def attempt(self, account_id: str, attempt: str | None) -> bool:
        """Whether an object of the account written by `attempt` counts (None: a Worker that
        wrote none; its object, like one of an account whose done item names none, counts)."""
        counted = self.attempts.get(account_id)
        return attempt is None or not counted or attempt == counted


def download_run(
    s3: Any,
    bucket: str,
    fleet: str,
    run_id: str,
    dest: Path,
    *,
    counted: Counted | None = None,
    threads: int = THREADS,
    page_size: int = PAGE_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, list[Path]]:
    """Download the run's objects that `counted` counts (default: all) under `dest` (their keys
    below the fleet's prefix as paths) and return the files by script; `on_progress(n)` after
    each of the n objects so far.

    `s3` is shared by the threads: give it a connection pool of at least `threads`.
    """
    files: dict[str, list[Path]] = {}
    done = 0
    objects = run_objects(s3, bucket, fleet, run_id, page_size=page_size)
    if counted is not None:
        objects = (found for found in objects if counted.account(found.account_id))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(_download, s3, bucket, found, dest, counted) for found in objects]
        for future in futures:
            kept = future.result()
            if kept is not None:
                files.setdefault(kept[0], []).append(kept[1])
            done += 1
            if on_progress is not None:
                on_progress(done)
    return {script: sorted(paths) for script, paths in sorted(files.items())}


def _download(
    s3: Any, bucket: str, found: ExportObject, dest: Path, counted: Counted | None
) -> tuple[str, Path] | None:
    """The object's script and file; None when it does not count or holds no records."""
    # Every part of the relative key was checked against names.py's rules: a safe path.
    path = dest / found.relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with _bucket_errors(bucket):
        response = s3.get_object(Bucket=bucket, Key=found.key)
    # The attempt comes with the body: one GET an object, no HEAD before it.
    attempt = (response.get("Metadata") or {}).get(ATTEMPT_METADATA)
    with response["Body"] as body:
        if counted is not None and not counted.attempt(found.account_id, attempt):
            return None  # a duplicate Worker's, whose done item lost the race
        with path.open("wb") as out:
            shutil.copyfileobj(body, out, _CHUNK)
    if _no_lines(path):  # an empty object written by another writer (a file name in its header)
        path.unlink()
        return None
    return found.script, path


def _no_lines(path: Path) -> bool:
    """Whether the gzip at `path` holds no data (a corrupt one is DuckDB's to report)."""
    try:
        with gzip.open(path, "rb") as handle:
            return not handle.read(1)
    except (OSError, EOFError):
        return False


@contextmanager
def _bucket_errors(bucket: str) -> Iterator[None]:
    """A missing export bucket as the user's next step, not as S3's NoSuchBucket."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
        raise LambdafanError(
            f"no export bucket {bucket}: with results.export: s3, `lambdafan deploy` creates it "
            "and the next run exports its records there"
        ) from None
