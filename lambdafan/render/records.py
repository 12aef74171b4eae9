"""Records for people (one rich table per script) and for pipes (JSON Lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from rich.table import Table
from rich.text import Text

from lambdafan.render.console import console

ORIGIN_COLUMNS = ("account_name", "account_id", "region", "script")

MAX_RECORD_COLUMNS = 8

MAX_CELL = 40

# Widest the account, account id and region columns get, with their borders.
ORIGIN_WIDTH = 16 + 12 + 14 + 3 * 3 + 1

# What json.dumps(row, default=str) makes, without building an encoder per row.
_JSON = json.JSONEncoder(default=str)


def records_tables(
    rows: Iterable[Mapping[str, Any]], limit: int, totals: Mapping[str, int] | None = None
) -> Iterator[Table]:
    """One table per script (scripts have different fields), at most `limit` rows each.

    With `totals` (records per script, known in advance) reading stops as soon as every
    script's table is full, so a big run is not read to the end just to count it.
    """
    by_script: dict[str, list[Mapping[str, Any]]] = {}
    counted: dict[str, int] = {}
    wanted = None if totals is None else {s: min(n, limit) for s, n in totals.items() if n}
    for row in rows:
        script = str(row["script"])
        counted[script] = counted.get(script, 0) + 1
        kept = by_script.setdefault(script, [])
        if len(kept) < limit:
            kept.append(row)
        if wanted is not None and all(len(by_script.get(s, ())) >= n for s, n in wanted.items()):
            break
    totals = {**counted, **(totals or {})}
    for script, kept in by_script.items():
        fields = _record_fields(kept, _fields_that_fit(console.width))
        # rich never shrinks no_wrap columns, so give each record column its share of the width.
        share = (console.width - ORIGIN_WIDTH - 3 * len(fields)) // max(len(fields), 1)
        table = Table(title=f"{script} ({totals[script]} records)", title_justify="left")
        table.add_column("account", overflow="ellipsis", min_width=8, max_width=16, no_wrap=True)
        table.add_column("account id", min_width=12, no_wrap=True)
        table.add_column("region", min_width=9, max_width=14, no_wrap=True)
        for name in fields:
            table.add_column(
                Text(name),
                overflow="ellipsis",
                min_width=6,
                max_width=max(6, min(MAX_CELL, share)),
                no_wrap=True,
            )
        for row in kept:
            table.add_row(
                Text(str(row["account_name"])),
                str(row["account_id"]),
                Text(str(row["region"])),
                *(_cell(row.get(name)) for name in fields),
            )
        if totals[script] > len(kept):
            table.caption = f"… {totals[script] - len(kept)} more rows not shown"
        yield table


def _fields_that_fit(width: int) -> int:
    """How many record columns fit beside account, id and region, about 12 characters each."""
    return max(2, min(MAX_RECORD_COLUMNS, (width - ORIGIN_WIDTH) // 15))


def _record_fields(rows: Iterable[Mapping[str, Any]], most: int) -> list[str]:
    fields: dict[str, None] = {}
    for row in rows:
        for name in row:
            if name not in ORIGIN_COLUMNS:
                fields.setdefault(name)
    return list(fields)[:most]


def _cell(value: Any) -> Text:
    """A record value as plain text: what scripts return is data, never rich markup."""
    if value is None:
        return Text("")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Text(text if len(text) <= MAX_CELL * 3 else text[: MAX_CELL * 3] + "…")


def print_records(
    rows: Iterable[Mapping[str, Any]], limit: int, totals: Mapping[str, int] | None = None
) -> int:
    """Print the tables (or say there is nothing); returns how many tables there were."""
    count = 0
    for table in records_tables(rows, limit, totals):
        console.print(table)
        count += 1
    if not count:
        console.print("no records found")
    return count


def write_jsonl(
    target: Path | IO[str], rows: Iterable[Mapping[str, Any]], *, flush: bool = False
) -> int:
    """Write rows as JSON Lines to a file or stream; `flush` each line when following a live
    run. Returns how many."""
    written = 0
    handle = target.open("w", encoding="utf-8") if isinstance(target, Path) else target
    try:
        for row in rows:
            handle.write(_JSON.encode(row) + "\n")
            if flush:
                handle.flush()
            written += 1
    finally:
        if isinstance(target, Path):
            handle.close()
    return written
