"""`query --engine duckdb` over the S3 export: find a fleet's runs and download a run's objects.

Objects are downloaded with boto3 (DuckDB's network extensions need the internet), several at a
time, into files grouped by script, the shape the local engine loads. The S3 client is passed
in; key parsing is pure and follows `lambda_src.names.export_key`, the one layout.
"""

from __future__ import annotations

import heapq
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import names
from lambdafan.aws import error_code
from lambdafan.errors import LambdafanError

THREADS = 16  # objects are small (one (script, account, region) each): latency, not bandwidth
PAGE_SIZE = 1000  # ListObjectsV2's maximum MaxKeys
# The file names a writer may use for a pair's object (names.EXPORT_OBJECT is part-0).
_PART = re.compile(r"part-\d+\.json\.gz")
_PARTS = ("run", "script", "account", "region")
_CHUNK = 1024 * 1024


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
    """The run's exported objects, page by page; keys outside the layout are skipped."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket,
        Prefix=names.export_prefix(fleet, run_id),
        PaginationConfig={"PageSize": page_size},
    )
    with _bucket_errors(bucket):
        for page in pages:
            for item in page.get("Contents", []):
                found = parse_export_key(fleet, str(item["Key"]))
                if found is not None and found.run_id == run_id:
                    yield found


def download_run(
    s3: Any,
    bucket: str,
    fleet: str,
    run_id: str,
    dest: Path,
    *,
    threads: int = THREADS,
    page_size: int = PAGE_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, list[Path]]:
    """Download the run's objects under `dest` (their keys below the fleet's prefix as paths)
    and return the files by script; `on_progress(n)` after each of the n objects so far.

    `s3` is shared by the threads: give it a connection pool of at least `threads`.
    """
    files: dict[str, list[Path]] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [
            pool.submit(_download, s3, bucket, found, dest)
            for found in run_objects(s3, bucket, fleet, run_id, page_size=page_size)
        ]
        for future in futures:
            script, path = future.result()
            files.setdefault(script, []).append(path)
            done += 1
            if on_progress is not None:
                on_progress(done)
    return {script: sorted(paths) for script, paths in sorted(files.items())}


def _download(s3: Any, bucket: str, found: ExportObject, dest: Path) -> tuple[str, Path]:
    # Every part of the relative key was checked against names.py's rules: a safe path.
    path = dest / found.relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with _bucket_errors(bucket):
        body = s3.get_object(Bucket=bucket, Key=found.key)["Body"]
    with body, path.open("wb") as out:
        shutil.copyfileobj(body, out, _CHUNK)
    return found.script, path


def latest_runs(
    s3: Any, bucket: str, fleet: str, n: int, *, page_size: int = PAGE_SIZE
) -> list[str]:
    """The ids of the fleet's `n` latest exported runs, newest first (run ids sort by time)."""
    prefix = names.export_prefix(fleet)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": page_size}
    )

    def run_ids() -> Iterator[str]:
        with _bucket_errors(bucket):
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    run_id = run_folder(prefix, str(common["Prefix"]))
                    if run_id is not None:
                        yield run_id

    # S3 lists in ascending order and cannot list backwards: keep the n largest seen.
    return heapq.nlargest(n, run_ids())


def run_folder(prefix: str, folder: str) -> str | None:
    """The run id of a `<prefix>run=<id>/` common prefix, or None for any other folder."""
    name, equals, run_id = folder[len(prefix) :].rstrip("/").partition("=")
    if not folder.startswith(prefix) or name != "run" or not equals:
        return None
    try:
        return names.run_id_part(run_id)
    except names.KeyPartError:
        return None


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
