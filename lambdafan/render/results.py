"""How `lambdafan results` prints what records tables do not: a run's errors for people, CSV for
pipes (straight to stdout, unstyled, so spreadsheets read it as is) and `--follow`'s lines."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from lambdafan.render.console import console
from lambdafan.render.records import ORIGIN_COLUMNS, cell_text, fitted_table, value_text

# The CSV header starts with where a record came from, in this order, then the record's fields.
CSV_ORIGIN = ("account_id", "account_name", "region", "script")
MAX_MESSAGE = 300  # error messages are cut in tables only; JSON and CSV keep them whole
MIN_MESSAGE = 30  # narrower than this, the message would be a column of fragments
# What the errors table adds to its columns' text: 3 characters between columns, 1 each edge.
GAP, EDGES = 3, 2


def print_error_table(
    rows: Iterable[Mapping[str, Any]],
    limit: int,
    run_id: str,
    *,
    width: int | None = None,
    columns: Sequence[str] | None = None,
    hint: str,
) -> int:
    """The errors of a run, at most `limit` rows; returns how many errors there were.

    A table when the message keeps at least MIN_MESSAGE characters beside account, region,
    script and error (each shown whole); on a narrower terminal, two lines an error instead.
    With `columns`, a table of those columns.
    """
    total = 0
    kept: list[Mapping[str, Any]] = []
    for row in rows:
        total += 1
        if total <= limit:
            kept.append(row)
    if not total:
        console.print(f"no errors in run {run_id}")
        return 0
    title = f"errors of run {run_id} ({total})"
    more = f"… {total - limit} more rows not shown" if total > limit else None
    width = console.width if width is None else width
    if columns is not None:
        more_rows = max(0, total - limit)
        console.print(fitted_table(title, kept, columns, more=more_rows, width=width, hint=hint))
        return total
    widths = [
        # No rows kept (a limit of 0): the headers alone set the widths.
        max((cell_len(str(row[name])) for row in kept for name in names), default=0)
        for names in (("account_name", "account_id"), ("region",), ("script",), ("error_type",))
    ]
    headers = ("account", "region", "script", "error")
    widths = [max(w, len(h)) for w, h in zip(widths, headers, strict=True)]
    room = width - sum(widths) - GAP * len(widths) - EDGES
    if room < MIN_MESSAGE:
        _print_error_lines(title, kept, more)
        return total
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    # The account name above its id, no borders: the message keeps the room that is left.
    for header, column_width in zip(headers, widths, strict=True):
        table.add_column(header, width=column_width, no_wrap=True)
    table.add_column("message", width=room, overflow="fold")
    for row in kept:
        table.add_row(
            Text(f"{row['account_name']}\n{row['account_id']}"),
            Text(str(row["region"])),
            Text(str(row["script"])),
            Text(str(row["error_type"])),
            Text(_truncate(str(row["message"]), MAX_MESSAGE)),
        )
    table.caption = more
    console.print(table)
    return total


def _print_error_lines(title: str, rows: Iterable[Mapping[str, Any]], more: str | None) -> None:
    console.print(Text(title, style="italic"))
    for row in rows:
        where = f"{row['account_name']} ({row['account_id']}) {row['region']} {row['script']}"
        console.print(Text(where, style="bold"))
        what = f"{row['error_type']}: {_truncate(str(row['message']), MAX_MESSAGE)}"
        console.print(Padding(Text(what), (0, 0, 0, 2)))
    if more:
        console.print(Text(more, style="dim"))


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
        writer.writerow([value_text(row.get(name)) for name in fields])
    return len(kept)


def _write_csv_columns(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> int:
    # The header is known before any row: rows go out as they come.
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([value_text(row.get(name)) for name in columns])
        count += 1
    return count


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
