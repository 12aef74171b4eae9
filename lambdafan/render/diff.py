"""How `lambdafan results --diff` prints: a table per changed script for people; for pipes, one
JSON array, JSON Lines or CSV row per example, each carrying its script's counts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from lambda_src.run_diff import Skipped
from lambda_src.run_report import RunDiff, ScriptChanges
from lambdafan.render.console import console, note
from lambdafan.render.records import write_json_array, write_jsonl
from lambdafan.render.results import write_csv

# Columns of the JSON Lines and CSV rows, in order.
ROW_FIELDS = (
    "run_id",
    "against",
    "script",
    "added",
    "removed",
    "changed",
    "kind",
    "account_id",
    "account_name",
    "region",
    "record",
)
_STYLE = {"added": "green", "removed": "red", "changed": "yellow"}
MAX_RECORD = 160  # the record's identity is cut in tables only


def diff_rows(diff: RunDiff, *, parsed: bool) -> Iterator[dict[str, Any]]:
    """One row per example with its script's counts; a script without examples gets one row
    (kind and record empty) so its counts are there too. `parsed`: the record as JSON, not text."""
    for changes in diff.scripts:
        counts = {
            "run_id": diff.run_id,
            "against": diff.against,
            "script": changes.script,
            "added": changes.added,
            "removed": changes.removed,
            "changed": changes.changed,
        }
        if not changes.examples:
            yield {**counts, **dict.fromkeys(ROW_FIELDS[6:])}
        for example in changes.examples:
            yield {
                **counts,
                "kind": example.kind,
                "account_id": example.account_id,
                "account_name": example.account_name,
                "region": example.region,
                "record": json.loads(example.text) if parsed else example.text,
            }


def write_diff_json(diff: RunDiff) -> int:
    """The rows as one JSON array."""
    return write_json_array(sys.stdout, diff_rows(diff, parsed=True))


def write_diff_jsonl(diff: RunDiff) -> int:
    """The rows as JSON Lines."""
    return write_jsonl(sys.stdout, diff_rows(diff, parsed=True))


def write_diff_csv(diff: RunDiff) -> int:
    return write_csv(diff_rows(diff, parsed=False), ROW_FIELDS)


def print_diff(diff: RunDiff, skipped: Sequence[Skipped] = ()) -> None:
    """What changed: the run compared, a table per changed script, the unchanged ones named."""
    if diff.against is None:
        note(f"run {diff.run_id}: no complete run before it, so every record is new")
    else:
        note(f"run {diff.run_id} against run {diff.against}")
    for changes in diff.scripts:
        if changes.any:
            console.print(_script_table(changes))
    unchanged = [s.script for s in diff.scripts if not s.any]
    if not diff.scripts:
        console.print("no records in either run")
    elif unchanged:
        console.print(Text(f"no changes: {', '.join(unchanged)}"))
    for skip in skipped:
        where = "" if skip.script == "*" else f" {skip.script} in {skip.region}"
        note(f"not compared: account {skip.account_id}{where} ({skip.reason})")


def _script_table(changes: ScriptChanges) -> Table:
    counts = f"{changes.added} added, {changes.removed} removed, {changes.changed} changed"
    table = Table(
        title=Text(f"{changes.script}: {counts}"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # The account name above its id, each whole: the record keeps the room that is left.
    table.add_column("kind", no_wrap=True)
    table.add_column("account", no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("record", overflow="fold")
    for example in changes.examples:
        text = example.text
        table.add_row(
            Text(example.kind, style=_STYLE.get(example.kind, "")),
            Text(f"{example.account_name}\n{example.account_id}"),
            Text(example.region),
            Text(text if len(text) <= MAX_RECORD else text[: MAX_RECORD - 1] + "…"),
        )
    shown = len(changes.examples)
    total = changes.added + changes.removed + changes.changed
    if total > shown:
        table.caption = f"… {total - shown} more not shown (the first of each kind are)"
    return table
