"""The fields of each script, for its Glue table's columns: read from a sample of its records
in the latest run (Queries only, a bounded number), typed as Athena reads them from JSON."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import table
from lambda_src.s3_export import ORIGIN, export_line
from lambda_src.table import Item, ItemStore
from lambdafan.deploy.export_model import Column, widen

SAMPLE_RECORDS = 200  # per script
SAMPLE_ACCOUNTS = 10  # per script: accounts whose done item counts records of it
# Athena column names: letters, digits and `_`; a field named otherwise has no column.
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# Nested values are read as their JSON text (the SerDe gives a string column that), so a
# change of their shape never breaks the table.


def value_type(value: Any) -> str | None:
    """The Glue type a JSON value is read as; None for null (it says nothing)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    return "string"


def infer_columns(records: Iterable[Mapping[str, Any]]) -> tuple[Column, ...]:
    """The fields of `records` in first-seen order, each typed to fit every value seen (a
    field only ever null is a string)."""
    types: dict[str, str | None] = {}
    names: dict[str, str] = {}  # lowercased -> the first spelling (the SerDe ignores case)
    for record in records:
        for name, value in record.items():
            if not _COLUMN.fullmatch(name):
                continue
            key = names.setdefault(name.lower(), name)
            types[key] = widen(types.get(key), value_type(value))
    return tuple((name, kind or "string") for name, kind in types.items())


def script_fields(store: ItemStore, scripts: Sequence[str]) -> dict[str, tuple[Column, ...]]:
    """Each script's fields as its records in the latest run show them; scripts with none
    there are left out. No table, or no run yet: {}."""
    try:
        run = table.latest_run(store)
        if run is None:
            return {}
        run_id = str(run["run_id"])
        sampled = accounts_with_records(table.account_items(store, run_id), scripts)
        found = {}
        for script, accounts in sampled.items():
            records = (
                export_line(item)  # the fields as the exported objects hold them
                for account in accounts
                for item in table.account_records(
                    store,
                    run_id,
                    str(account["account_id"]),
                    script,
                    attempt=str(account.get("attempt", "")),
                )
            )
            # Origin columns are the table's already.
            columns = infer_columns(_fields(r) for r in itertools.islice(records, SAMPLE_RECORDS))
            if columns:
                found[script] = columns
        return found
    except ClientError:
        # Fields are a convenience: a table not yet created (or unreadable) means none known.
        return {}


def accounts_with_records(
    done: Iterable[Item], scripts: Sequence[str], most: int = SAMPLE_ACCOUNTS
) -> dict[str, list[Item]]:
    """For each script, up to `most` of the finished accounts (`done` items, read once) whose
    counted attempt found records of it: no Query of an account that has none, and a script
    whose records are all in later accounts is still found."""
    chosen: dict[str, list[Item]] = {script: [] for script in scripts}
    for item in done:
        counted = item.get("records_by_script") or {}
        for script, accounts in chosen.items():
            if len(accounts) < most and int(counted.get(script, 0)):
                accounts.append(item)
        if all(len(accounts) >= most for accounts in chosen.values()):
            break
    return chosen


def _fields(line: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ORIGIN}
