"""Records for people (one rich table per script) and for pipes (JSON Lines, one JSON array)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from lambdafan.render.console import console

ORIGIN_COLUMNS = ("account_name", "account_id", "region", "script")
# A table is one script's: its title names the script, so the column would repeat it.
TABLE_ORIGIN = ("account_name", "account_id", "region")
HEADERS = {"account_name": "account", "account_id": "account id"}

# Free text (a value with spaces) wraps, and is cut past this many characters in tables only.
# A value without spaces (an id, an ARN, a date) is never cut: its column is as wide as it is.
MAX_TEXT = 120
WRAP_MIN = 12  # narrowest column of free text, unless its values are all shorter
# What a table's borders and padding add: one border, then 3 characters per column.
EDGE, PER_COLUMN = 1, 3

# What a table says of the columns it left out: each command names its own way to see them.
SCRIPT_TEST_HINT = "see them with --format json or jsonl"

# What json.dumps(row, default=str) makes, without building an encoder per row.
_JSON = json.JSONEncoder(default=str)


@dataclass(frozen=True)
class ColumnSpec:
    """A column's needs: `least` is its longest word (or header), `most` its longest line."""

    name: str
    least: int
    most: int
    wraps: bool


def fit_columns(specs: Sequence[ColumnSpec], width: int) -> tuple[dict[str, int], list[str]]:
    """Widths of the columns that fit in `width` (in order; a column too wide is left out and a
    narrower one after it may still fit), then the names left out. Room left over widens the
    columns that wrap, first come first served."""
    room = width - EDGE
    kept: dict[str, int] = {}
    left_out: list[str] = []
    for spec in specs:
        if spec.least + PER_COLUMN <= room:
            kept[spec.name] = spec.least
            room -= spec.least + PER_COLUMN
        else:
            left_out.append(spec.name)
    for spec in specs:
        if spec.name in kept and room > 0:
            grow = min(room, spec.most - spec.least)
            kept[spec.name] += grow
            room -= grow
    return kept, left_out


def _plain(command: str) -> str:
    return f"lambdafan {command}"


def results_hint(run_id: str, command: Callable[[str], str] = _plain) -> str:
    """The hint of the tables of a run's records (`run`, `demo`): the `results` command that shows
    them all, as `command` spells it (GlobalOptions.hint, with the config it needs)."""
    shown = command(f"results --run {run_id} --format jsonl")
    return f"see them with `{shown}` (or pick some with --columns a,b)"


def value_text(value: Any) -> str:
    """A record value as text (tables, CSV, HTML): text as is, nothing (None) empty, anything
    else as JSON, so that a number or a list reads back unambiguously."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def cell_text(value: Any) -> str:
    """A record value as a table shows it: value_text, free text cut past MAX_TEXT."""
    text = value_text(value)
    if len(text) > MAX_TEXT and any(c.isspace() for c in text):
        return text[:MAX_TEXT] + "…"
    return text


def column_spec(name: str, header: str, cells: Iterable[str]) -> ColumnSpec:
    """What a column of these cells needs to show every word whole."""
    longest_word = longest_line = 1
    wraps = False
    for text in (header, *cells):
        for line in text.splitlines():
            longest_line = max(longest_line, cell_len(line))
            words = line.split()
            wraps = wraps or len(words) > 1
            for word in words:
                longest_word = max(longest_word, cell_len(word))
    if wraps:
        longest_word = max(longest_word, min(longest_line, WRAP_MIN))
    return ColumnSpec(name, longest_word, longest_line, wraps)


def records_tables(
    rows: Iterable[Mapping[str, Any]],
    limit: int,
    totals: Mapping[str, int] | None = None,
    *,
    columns: Sequence[str] | None = None,
    width: int | None = None,
    hint: str,
    order: Sequence[str] = (),
) -> Iterator[Table]:
    """One table per script (scripts have different fields), at most `limit` rows each, in the
    script `order` given (the config's), then as first seen.

    With `totals` (records per script, known in advance) reading stops as soon as every
    script's table is full, so a big run is not read to the end just to count it. `columns`
    picks and orders the columns (default: account, account id, region, then every field).
    Columns that do not fit `width` (default: the console's) are left out and named below the
    table with `hint`; values without spaces (ids, ARNs) are never cut.
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
    # Records come account by account: without an order, the first account's scripts lead.
    place = {script: index for index, script in enumerate(order)}
    for script in sorted(by_script, key=lambda name: place.get(name, len(place))):
        kept = by_script[script]
        yield fitted_table(
            f"{script} ({totals[script]} record{'' if totals[script] == 1 else 's'})",
            kept,
            table_columns(kept, columns),
            more=totals[script] - len(kept),
            width=console.width if width is None else width,
            hint=hint,
        )


def table_columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    """The chosen columns that these rows have, or the origin then every field first seen."""
    if columns is not None:
        present = {name for row in rows for name in row}
        return [name for name in columns if name in present]
    fields: dict[str, None] = dict.fromkeys(TABLE_ORIGIN)
    for row in rows:
        for name in row:
            if name not in ORIGIN_COLUMNS:
                fields.setdefault(name)
    return list(fields)


def fitted_table(
    title: str,
    rows: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    *,
    more: int,
    width: int,
    hint: str,
) -> Table:
    """A table of `names` that fits `width`: the columns that do not fit are named below it."""
    cells = {name: [cell_text(row.get(name)) for row in rows] for name in names}
    specs = [column_spec(name, HEADERS.get(name, name), cells[name]) for name in names]
    # Room goes to columns with something in them first: a column empty on every row shown
    # says nothing, and it must not push out one that does.
    filled = [spec for spec in specs if any(cells[spec.name])]
    widths, _ = fit_columns(filled + [spec for spec in specs if spec not in filled], width)
    left_out = [spec.name for spec in specs if spec.name not in widths]
    table = Table(title=title, title_justify="left", caption_justify="left")
    if not names:  # a table without columns would not show at all, title included
        table.add_column(Text("none of the columns picked", style="dim"))
        return table
    shown = [spec for spec in specs if spec.name in widths]
    if not shown:  # as above: the title and the note naming the columns must still show
        table.add_column(Text("no column fits the terminal", style="dim"))
    for spec in shown:
        # Exact widths: rich would otherwise shrink columns (and cut ids) to fit the console.
        table.add_column(
            Text(HEADERS.get(spec.name, spec.name)),
            width=widths[spec.name],
            no_wrap=not spec.wraps,
            overflow="fold",
        )
    for index in range(len(rows) if shown else 0):
        table.add_row(*(Text(cells[spec.name][index]) for spec in shown))
    notes = []
    if more > 0:
        notes.append(f"… {more} more rows not shown")
    if left_out:
        notes.append(f"columns left out (terminal {width} wide): {', '.join(left_out)}: {hint}")
    if notes:
        table.caption = "\n".join(notes)
    # A narrow table would wrap its title and notes to its own width, a word a line.
    table.min_width = min(width, max(cell_len(line) for line in [title, *notes]))
    return table


def print_records(
    rows: Iterable[Mapping[str, Any]],
    limit: int,
    totals: Mapping[str, int] | None = None,
    *,
    columns: Sequence[str] | None = None,
    hint: str,
    order: Sequence[str] = (),
) -> int:
    """Print the tables, in the script `order` given (or say there is nothing); returns how many
    tables there were."""
    count = 0
    for table in records_tables(rows, limit, totals, columns=columns, hint=hint, order=order):
        console.print(table)
        count += 1
    if not count:
        console.print("no records found")
    return count


def pick(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Each row with only `columns`, in that order; a column a row lacks is left out of it, and
    a row with none of them is left out (an empty row says nothing: `{}`, a line of commas)."""
    for row in rows:
        picked = {name: row[name] for name in columns if name in row}
        if picked:
            yield picked


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


def write_json_array(handle: IO[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as one JSON array, a row a line, as they come (never all in memory): what
    `json.load` and `python -m json.tool` read. Returns how many."""
    written = 0
    handle.write("[")
    for row in rows:
        handle.write((",\n" if written else "\n") + _JSON.encode(row))
        written += 1
    handle.write("\n]\n" if written else "]\n")
    return written
