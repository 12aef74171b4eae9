"""A run's records as files DuckDB reads: gzipped JSON Lines, one file per script and run.

The format is the S3 export's (`lambda_src.names.export_key`): each line a record's fields plus
the origin columns, so files read back from the table and files downloaded from S3 load alike.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

# Files by script: what the loader takes (several files a script: runs, accounts, regions).
Files = dict[str, list[Path]]

# Level 1: the files are read once, right away; compressing harder costs more than it saves.
_LEVEL = 1
# DuckDB's JSON reader buffers up to a file's size (at most 32 MB a thread): files of bounded size
# keep its memory flat whatever the run's size (scenario 9 of the bench measures it).
PART_RECORDS = 10_000
_JSON = json.JSONEncoder(default=str)


def write_records(
    folder: Path, rows: Iterable[Mapping[str, Any]], part_records: int = PART_RECORDS
) -> Files:
    """Write `rows` (each with its `script`) to files in `folder`, a script's in parts of at
    most `part_records` lines, as they come: nothing is held but the open files. Returns the
    files by script."""
    folder.mkdir(parents=True, exist_ok=True)
    parts: dict[str, _Part] = {}
    files: Files = {}
    try:
        for row in rows:
            script = str(row["script"])
            part = parts.get(script)
            if part is None or part.lines >= part_records:
                if part is not None:
                    part.handle.close()
                paths = files.setdefault(script, [])
                # Numbered, not named after the script: a script's name is no file name's rules.
                paths.append(folder / f"{list(files).index(script):04d}-{len(paths):04d}.json.gz")
                part = parts[script] = _Part(paths[-1])
            part.write(_JSON.encode(row) + "\n")
    finally:
        for part in parts.values():
            part.handle.close()
    return files


class _Part:
    """One open part file of a script."""

    def __init__(self, path: Path) -> None:
        self.lines = 0
        # Closed by write_records (a part at a time, as the next one opens): no `with` fits.
        self.handle: IO[str] = gzip.open(path, "wt", encoding="utf-8", compresslevel=_LEVEL)  # noqa: SIM115

    def write(self, line: str) -> None:
        self.handle.write(line)
        self.lines += 1


def merge(*found: Files) -> Files:
    """Files by script of several writes (runs) together."""
    merged: Files = {}
    for files in found:
        for script, paths in files.items():
            merged.setdefault(script, []).extend(paths)
    return merged
