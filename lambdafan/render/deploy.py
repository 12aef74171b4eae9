"""What deploy, destroy and validate print: the plan, apply's progress, what was deleted."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from lambda_src.scripts import ScriptSpec
from lambda_src.settings import FleetSettings
from lambdafan.deploy.fleet import Plan
from lambdafan.deploy.plan import Change, FieldChange
from lambdafan.render.console import console, err_console

_ACTION_STYLE = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "delete": ("-", "red"),
    "unchanged": ("=", "dim"),
}


def plan_table(changes: Sequence[Change]) -> Table:
    """The plan, one row per resource: what happens to it and, for updates, which fields."""
    table = Table(title="Plan", title_justify="left", show_edge=False, box=None, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("resource", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("change", overflow="fold")
    for change in changes:
        mark, style = _ACTION_STYLE[change.action]
        detail: str = change.action
        if change.fields:
            detail = ", ".join(_describe_field(f) for f in change.fields)
        table.add_row(f"[{style}]{mark}[/]", change.kind, change.name, f"[{style}]{detail}[/]")
    return table


# Fields whose values are short enough to show as `field old → new`.
_VALUE_FIELDS = (
    "memory",
    "timeout",
    "retention_days",
    "retention_s",
    "expression",
    "runtime",
    "handler",
    "retry_attempts",
    "max_event_age_s",
    "reserved_concurrency",
)


def _describe_field(field: FieldChange) -> str:
    if field.field in _VALUE_FIELDS:
        current = "none" if field.current is None else field.current
        desired = "none" if field.desired is None else field.desired
        return f"{field.field} {current} → {desired}"
    return field.field


def print_plan(changes: Sequence[Change]) -> None:
    console.print(plan_table(changes))
    counts = {action: sum(1 for c in changes if c.action == action) for action in _ACTION_STYLE}
    if counts["create"] + counts["update"] + counts["delete"] == 0:
        console.print("No changes: the fleet is up to date.")
    else:
        console.print(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['delete']} to delete, {counts['unchanged']} unchanged."
        )


class StepProgress:
    """A progress bar over a known number of steps (deploy's changes, destroy's resources)."""

    def __init__(self, description: str, total: int) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[current]}"),
            console=err_console,
        )
        self._task = self._progress.add_task(description, total=total, current="")

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, label: str) -> None:
        self._progress.update(self._task, advance=1, current=label)


OUTCOME_STYLES = {"deleted": "red", "already gone": "dim", "kept": "yellow"}


def print_destroyed(
    steps: Sequence[tuple[str, str, str]], kept: Sequence[str], delete_it: str
) -> None:
    """What destroy deleted, and the results it `kept` with the command that deletes them."""
    table = Table(show_edge=False, box=None, pad_edge=False, show_header=False)
    for kind, name, outcome in steps:
        table.add_row(kind, escape(name), f"[{OUTCOME_STYLES.get(outcome, 'dim')}]{outcome}[/]")
    console.print(table)
    if kept:
        them = "them" if len(kept) > 1 else "it"
        console.print(f"kept {' and '.join(kept)}; to delete {them} too:")
        print_next([delete_it], label="")


def print_next(commands: Sequence[tuple[str, str] | str], label: str = "next:") -> None:
    """Commands to run next, one a line, each with what it does (pasteable as printed)."""
    width = max((len(c if isinstance(c, str) else c[0]) for c in commands), default=0)
    for index, entry in enumerate(commands):
        command, why = (entry, "") if isinstance(entry, str) else entry
        lead = label if index == 0 else " " * len(label)
        line = f"{lead} {command}" if lead else f"  {command}"
        if why:
            line = f"{line.ljust(len(lead) + 1 + width)}    # {why}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def print_validation(
    settings: FleetSettings,
    scripts: Sequence[ScriptSpec],
    schedule: str | None,
    bundle_size: int,
    next_step: str,
) -> None:
    """What `validate` checked, in a few lines, and the next step."""
    accounts = f"{len(settings.accounts)} listed"
    if settings.organization:
        ous = ", ".join(settings.organization_ous) or "the whole organization"
        accounts += f" + Organizations ({ous})"
    regions = "all enabled" if settings.regions is None else ", ".join(settings.regions)
    console.print(f"[green]ok[/]: fleet {settings.fleet} in {settings.home_region}")
    console.print(f"  accounts: {accounts}; excluded: {len(settings.exclude_accounts)}")
    console.print(f"  regions: {regions}")
    console.print(f"  schedule: {schedule or 'none'}")
    for script in scripts:
        console.print(
            Text(f"  script {script.name} ({script.scope}): {script.path}"), soft_wrap=True
        )
    console.print(f"  Worker bundle: {bundle_size:,} bytes")
    print_next([(next_step, "what deploy would change")])


class DeployProgress:
    """Prints the plan, then a progress bar over the changes applied (a DeployObserver)."""

    def __init__(self) -> None:
        self._steps: StepProgress | None = None

    def __enter__(self) -> DeployProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._steps is not None:
            self._steps.__exit__(*exc)

    def planned(self, plan: Plan, applying: bool) -> None:
        print_plan(plan.changes)
        if applying:
            self._steps = StepProgress("deploying", len(plan.pending)).__enter__()

    def applied(self, change: Change) -> None:
        if self._steps is not None:
            self._steps.advance(f"{change.kind} {change.name}")
