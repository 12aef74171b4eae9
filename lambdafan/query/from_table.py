"""A run's records read from the results table (Queries only, never a Scan) into record files.

Records stream from DynamoDB's pages straight into the files: a run of any size costs the
memory of one page. A script with no records in the runs loaded gets its fields from its
records in an earlier run, when one of the few before had some.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lambda_src import table
from lambda_src.records import with_origin
from lambda_src.s3_export import PARTITION_KEYS
from lambda_src.table import Item, ItemStore
from lambdafan import results
from lambdafan.errors import UsageError
from lambdafan.query.record_files import Files, merge, write_records

# How many runs before the oldest loaded are looked at for a script's fields (each costs one
# Query of the run's done items, plus one of an account's records when the script had some).
LOOK_BACK = 5
# Records of an earlier run that stand for a script's fields and their types.
SAMPLE = 200


def pick_runs(store: ItemStore, run_id: str | None, count: int, table_name: str) -> list[Item]:
    """The run named (default: the latest) and the `count - 1` runs before it, newest first
    (fewer when the table holds fewer)."""
    first = results.find_named_run(store, run_id, table_name)
    if count <= 1:
        return [first]
    wanted = str(first["run_id"])
    newest_first = (item for item in store.query_runs() if str(item["run_id"]) <= wanted)
    picked = list(itertools.islice(newest_first, count))
    if not picked or str(picked[0]["run_id"]) != wanted:
        raise UsageError(f"run {wanted} is not in the runs index")
    return picked


def with_run(run_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """A record's row with its run first (a record field `run_id` or `run` kept as
    `record_run_id` / `record_run`, as the export writes it: the views are the same from both)."""
    return with_origin({"run_id": run_id}, row, PARTITION_KEYS)


def run_rows(store: ItemStore, run: Item) -> Iterator[dict[str, Any]]:
    """Every record of `run` that counts (as `results` shows it: a running run's so far)."""
    run_id = str(run["run_id"])
    query = results.ResultsQuery(run_id=run_id)
    for row in results.read_results(store, query, run):
        yield with_run(run_id, row)


def load_runs(store: ItemStore, runs: Sequence[Item], folder: Path) -> Files:
    """Each run's records into files under `folder` (a folder per run)."""
    return merge(
        *(
            write_records(folder / f"run-{index}", run_rows(store, run))
            for index, run in enumerate(runs)
        )
    )


def earlier_runs(store: ItemStore, oldest: str, most: int = LOOK_BACK) -> list[Item]:
    """The `most` runs before run `oldest`, newest first."""
    before = (item for item in store.query_runs() if str(item["run_id"]) < oldest)
    return list(itertools.islice(before, most))


def sample_rows(store: ItemStore, run_id: str, script: str, most: int = SAMPLE) -> list[Item]:
    """Up to `most` of `script`'s records in a run: from the first finished account whose done
    item counts some (no Query of accounts that had none)."""
    for done in table.account_items(store, run_id):
        if not int((done.get("records_by_script") or {}).get(script, 0)):
            continue
        items = table.account_records(
            store, run_id, str(done["account_id"]), script, attempt=str(done.get("attempt", ""))
        )
        return [
            with_run(run_id, results.record_row(item)) for item in itertools.islice(items, most)
        ]
    return []


def known_fields(
    store: ItemStore, scripts: Iterable[str], earlier: Sequence[Item], folder: Path
) -> Files:
    """For each of `scripts`, a file of its records in the newest of the `earlier` runs that
    had some (its fields and their types, for an empty view); scripts none had are left out."""
    found: Files = {}
    for script in scripts:
        for run in earlier:
            if script not in (run.get("scripts") or ()):
                continue
            rows = sample_rows(store, str(run["run_id"]), script)
            if rows:
                found |= write_records(folder / f"fields-{len(found)}", rows)
                break
    return found
