"""How `lambdafan results` and `lambdafan runs` print: rich tables for people, JSON Lines and CSV
for pipes (written straight to stdout, unstyled, so `jq` and spreadsheets read them as is)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from lambdafan.render.console import console
from lambdafan.render.records import ORIGIN_COLUMNS, cell_text

# The CSV header starts with where a record came from, in this order, then the record's fields.
CSV_ORIGIN = ("account_id", "account_name", "region", "script")
MAX_MESSAGE = 100  # error messages are cut in tables only; JSON and CSV keep them whole


def print_error_table(rows: Iterable[Mapping[str, Any]], limit: int, run_id: str) -> int:
    """The errors of a run, at most `limit` rows; returns how many errors there were."""
    # The message is what the user needs to read: the other columns are kept narrow (the account
    # name above its id, no borders) so it keeps some room on an 80-column terminal.
    table = Table(
        title=f"errors of run {run_id}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("account", overflow="ellipsis", max_width=16, no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("script", overflow="ellipsis", max_width=24, no_wrap=True)
    table.add_column("error", overflow="ellipsis", max_width=24, no_wrap=True)
    table.add_column("message", overflow="fold")
    total = 0
    for row in rows:
        total += 1
        if total <= limit:
            table.add_row(
                Text(f"{row['account_name']}\n{row['account_id']}"),
                Text(str(row["region"])),
                Text(str(row["script"])),
                Text(str(row["error_type"])),
                Text(_truncate(str(row["message"]), MAX_MESSAGE)),
            )
    if not total:
        console.print(f"no errors in run {run_id}")
        return 0
    table.title = f"errors of run {run_id} ({total})"
    if total > limit:
        table.caption = f"… {total - limit} more rows not shown"
    console.print(table)
    return total


def _truncate(text: str, most: int) -> str:
    line = " ".join(text.split())  # tracebacks span lines; a table cell should not
    return line if len(line) <= most else line[: most - 1] + "…"


def write_csv(
    rows: Iterable[Mapping[str, Any]],
    origin: Sequence[str] = CSV_ORIGIN,
    columns: Sequence[str] | None = None,
) -> int:
    """CSV with a header row: `columns` exactly, else `origin` columns, then every other field
    of the rows, in the order first seen (the header must come first, so the rows are held until
    the last one is read)."""
    if columns is not None:
        return _write_csv_columns(rows, columns)
    kept = list(rows)
    fields: dict[str, None] = dict.fromkeys(origin)
    for row in kept:
        for name in row:
            fields.setdefault(name)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(fields)
    for row in kept:
        writer.writerow([_csv_cell(row.get(name)) for name in fields])
    return len(kept)


def _write_csv_columns(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> int:
    # The header is known before any row: rows go out as they come.
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(row.get(name)) for name in columns])
        count += 1
    return count


def _csv_cell(value: Any) -> str:
    # Text as is; numbers, booleans and nested values as JSON, so a cell reads back unambiguously.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def print_follow_rows(
    rows: Iterable[Mapping[str, Any]], *, errors: bool, columns: Sequence[str] | None = None
) -> int:
    """`--follow` in table format: one line per record as it arrives (a table cannot grow);
    with `columns`, those columns' values, two spaces apart."""
    count = 0
    for row in rows:
        console.print(_follow_line(row, errors, columns), markup=False, soft_wrap=True)
        count += 1
    return count


def _follow_line(row: Mapping[str, Any], errors: bool, columns: Sequence[str] | None) -> str:
    if columns is not None:
        return "  ".join(cell_text(row.get(name)) for name in columns)
    where = f"{row['account_name']} ({row['account_id']}) {row['region']} {row['script']}"
    if errors:
        what = f"{row['error_type']}: {_truncate(str(row['message']), MAX_MESSAGE)}"
    else:
        fields = {k: v for k, v in row.items() if k not in ORIGIN_COLUMNS}
        what = json.dumps(fields, default=str)
    return f"{where}  {what}"
