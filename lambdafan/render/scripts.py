"""What the `lambdafan script` commands print."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from lambda_src.scripts import Scope
from lambdafan.render.console import console, err_console, error, warning
from lambdafan.render.records import records_tables, write_jsonl
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
        for records in records_tables(run.rows, limit):
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
        error(run.failure.line())


def scripts_table(infos: Sequence[ScriptInfo], *, with_config: bool) -> Table:
    """One row per script: name, scope, source and the first line of its docstring."""
    table = Table(title="Scripts", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("scope", no_wrap=True)
    if with_config:
        table.add_column("in config", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("summary", overflow="fold")
    for info in infos:
        scope = f"[red]{info.scope}[/]" if info.scope == "broken" else info.scope
        cells = [escape(info.name), scope]
        if with_config:
            cells.append("[green]yes[/]" if info.configured else "")
        cells += [escape(info.source), escape(info.summary)]
        table.add_row(*cells)
    return table


def print_script_list(infos: Sequence[ScriptInfo], config: Path | None) -> None:
    """The scripts table, and which config (if any) it was read from."""
    console.print(scripts_table(infos, with_config=config is not None))
    if config is None:
        console.print(
            "[dim]no config found (lambdafan.yaml): showing the built-in scripts; "
            "use -c FILE for a fleet's scripts[/]"
        )
    else:
        console.print(f"[dim]configured scripts from {escape(str(config))}[/]", soft_wrap=True)
