"""What the `lambdafan script` commands print."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lambda_src.scripts import Scope
from lambdafan.render.console import console, err_console, error, warning
from lambdafan.render.records import SCRIPT_TEST_HINT, records_tables, write_jsonl
from lambdafan.script_tools.adapt import CHECK, Adapted
from lambdafan.script_tools.catalog import ScriptInfo
from lambdafan.script_tools.trial import ScriptRun


@dataclass(frozen=True)
class Step:
    """A next step: what to do, and the commands that do it (pasteable, from any folder)."""

    what: str
    commands: tuple[str, ...] = ()


def print_starter_created(path: Path, scope: Scope, steps: Sequence[Step]) -> None:
    """Where the starter went and the next steps."""
    console.print(f"[green]created[/] {escape(str(path))} ({scope}-scoped starter)", soft_wrap=True)
    console.print("next:")
    for number, step in enumerate(steps, 1):
        console.print(f"  {number}. {escape(step.what)}", soft_wrap=True)
        for command in step.commands:
            console.print(f"     {command}", markup=False, soft_wrap=True)


def print_script_run(run: ScriptRun, *, output_format: str, limit: int) -> None:
    """The records (a table, or JSON on stdout), a count line, warnings and the failure.

    `output_format`: table, json (one JSON array) or jsonl (one record a line).
    """
    for message in run.warnings:
        warning(message)
    if output_format == "jsonl":
        write_jsonl(sys.stdout, run.rows)
    elif output_format == "json":
        sys.stdout.write(json.dumps(run.rows, default=str, indent=2) + "\n")
    else:
        for records in records_tables(run.rows, limit, hint=SCRIPT_TEST_HINT):
            console.print(records)
    sys.stdout.flush()
    where = f"{run.script} in {run.account.id} / {run.region}"
    count = f"{len(run.rows)} record{'' if len(run.rows) == 1 else 's'}"
    summary = f"{count} from {where} in {run.elapsed:.2f}s"
    if run.failure is not None:
        summary += " before it failed"
    # With JSON on stdout, everything for people goes to stderr so pipes stay clean.
    (console if output_format == "table" else err_console).print(
        f"[{'green' if run.ok else 'red'}]{escape(summary)}[/]", soft_wrap=True
    )
    if run.failure is not None:
        if run.failure.traceback:  # asked for with --traceback: above the one-line summary
            err_console.print(
                run.failure.traceback.rstrip(), markup=False, highlight=False, soft_wrap=True
            )
        error(run.failure.line())


def scripts_table(infos: Sequence[ScriptInfo], *, with_config: bool, width: int) -> Table:
    """One line per script: name, scope, source and the first line of its docstring, the
    summary and source cut with an ellipsis to fit `width`."""
    rows = [
        [
            Text(info.name),
            Text(info.scope, style="red" if info.scope == "broken" else ""),
            *([Text("yes" if info.configured else "", style="green")] if with_config else []),
            Text(info.source),
            Text(_without_name(info.summary, info.name)),
        ]
        for info in infos
    ]
    headers = ["name", "scope", *(["config"] if with_config else []), "source", "summary"]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    # rich shrinks every column alike when a table is too wide; here only the source and the
    # summary give way, and the source to a third of their room at most.
    room = width - sum(widths[:-2]) - GAP * (len(widths) - 1)
    widths[-2] = max(MIN_SOURCE, min(widths[-2], MAX_SOURCE, room // 3))
    widths[-1] = max(room - widths[-2], MIN_SUMMARY)
    table = Table(
        title="Scripts", title_justify="left", box=None, pad_edge=False, padding=(0, GAP // 2)
    )
    for header, size in zip(headers, widths, strict=True):
        table.add_column(header, width=size, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    return table


GAP = 2  # between two columns
# Widest a source path gets, and narrowest the source and summary get (then the line wraps).
MAX_SOURCE, MIN_SOURCE, MIN_SUMMARY = 32, 8, 16


def _without_name(summary: str, name: str) -> str:
    """A docstring's first line without the `name:` it may start with (the name column has it)."""
    head, colon, rest = summary.partition(":")
    return rest.strip() if colon and head.strip() == name else summary


def print_script_list(infos: Sequence[ScriptInfo], config: Path | None) -> None:
    """The scripts table, and which config (if any) it was read from."""
    console.print(scripts_table(infos, with_config=config is not None, width=console.width))
    if config is None:
        console.print("[dim]built-in scripts (no lambdafan.yaml here; -c FILE for a fleet's)[/]")
    else:
        console.print(f"[dim]configured scripts from {escape(str(config))}[/]", soft_wrap=True)


def print_adapted(source: Path, out: Path, adapted: Adapted, next_step: str) -> None:
    """What `script adapt` wrote and changed, line by line (lines of the original script), and
    how to try the port."""
    console.print(
        f"[green]wrote[/] {escape(str(out))} ({adapted.scope}-scoped) from {escape(str(source))}",
        soft_wrap=True,
    )
    width = len(str(max((change.line for change in adapted.changes), default=1)))
    indent = 2 + width + 2 + 5 + 2  # the text column: wrapped lines start under it
    for change in adapted.changes:
        mark = "check" if change.check else "     "
        lines = textwrap.wrap(change.what, max(console.width - indent, 40), break_long_words=False)
        head = f"  {change.line:>{width}}  {mark}  "
        for text in lines or [""]:
            console.print(
                head + text, markup=False, soft_wrap=True, style="yellow" if change.check else ""
            )
            head = " " * indent
    checks = len(adapted.checks)
    if checks:
        console.print(
            f"{checks} place{'' if checks == 1 else 's'} to decide by hand: "
            f"search {escape(str(out.name))} for '{CHECK}'",
            soft_wrap=True,
        )
    console.print("next, try it with your credentials:")
    console.print(f"  {next_step}", markup=False, soft_wrap=True)
