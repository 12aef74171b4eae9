"""A run's records as files DuckDB reads: gzipped JSON Lines, one file per script and run.

The format is the S3 export's (`lambda_src.names.export_key`): each line a record's fields plus
the origin columns, so files read back from the table and files downloaded from S3 load alike.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

ORIGIN = ("run_id", "account_id", "account_name", "region", "script")

# Files by script: what the loader takes (several files a script: runs, accounts, regions).
Files = dict[str, list[Path]]

# Level 1: the files are read once, right away; compressing harder costs more than it saves.
_LEVEL = 1
_JSON = json.JSONEncoder(default=str)


def write_records(folder: Path, rows: Iterable[Mapping[str, Any]]) -> Files:
    """Write `rows` (each with its `script`) to one new file per script in `folder`, as they
    come: nothing is held but the open files. Returns the files by script."""
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, IO[str]] = {}
    files: Files = {}
    with contextlib.ExitStack() as opened:
        for row in rows:
            script = str(row["script"])
            handle = handles.get(script)
            if handle is None:
                # Numbered, not named after the script: a script's name is no file name's rules.
                path = folder / f"{len(handles):04d}.json.gz"
                handle = opened.enter_context(
                    gzip.open(path, "wt", encoding="utf-8", compresslevel=_LEVEL)
                )
                handles[script] = handle
                files[script] = [path]
            handle.write(_JSON.encode(row) + "\n")
    return files


def merge(*found: Files) -> Files:
    """Files by script of several writes (runs) together."""
    merged: Files = {}
    for files in found:
        for script, paths in files.items():
            merged.setdefault(script, []).extend(paths)
    return merged
