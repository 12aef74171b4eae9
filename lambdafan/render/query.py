"""`lambdafan query`'s output for people: a result as a table, the views' schema (JSON, JSON Lines
and CSV are `render.records`' and `render.results`' writers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lambdafan.render.console import console
from lambdafan.render.records import HEADERS, fitted_table

RESULT_HINT = "see them with --format jsonl or csv (or pick fewer in the SQL)"


def print_result(rows: Iterable[Mapping[str, Any]], names: Sequence[str], limit: int) -> int:
    """One table of the first `limit` rows (the count of the rest under it); returns the count
    of rows. Every row is read, to count them; only the shown ones are kept."""
    shown: list[Mapping[str, Any]] = []
    count = 0
    for row in rows:
        count += 1
        if len(shown) < limit:
            shown.append(row)
    title = f"{count} row{'' if count == 1 else 's'}"
    table = fitted_table(
        title, shown, names, more=count - len(shown), width=console.width, hint=RESULT_HINT
    )
    # Numbers line up on their last digit, as in every spreadsheet.
    numeric = {HEADERS.get(name, name) for name in names if _numbers(shown, name)}
    for column in table.columns:
        if str(column.header) in numeric:
            column.justify = "right"
    console.print(table)
    return count


def _numbers(rows: Sequence[Mapping[str, Any]], name: str) -> bool:
    values = [row.get(name) for row in rows if row.get(name) is not None]
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def schema_rows(views: Mapping[str, Sequence[tuple[str, str]]]) -> list[dict[str, str]]:
    """A row per view column: view, column, type."""
    return [
        {"view": view, "column": name, "type": kind}
        for view, columns in views.items()
        for name, kind in columns
    ]


def print_schema(views: Mapping[str, Sequence[tuple[str, str]]], notes: Mapping[str, str]) -> None:
    """A table per view, its columns and their types, titled with `notes` (rows, or why empty)."""
    for view, columns in views.items():
        rows = [{"column": name, "type": kind} for name, kind in columns]
        title = f"{view} ({notes[view]})" if view in notes else view
        console.print(
            fitted_table(title, rows, ["column", "type"], more=0, width=console.width, hint="")
        )
