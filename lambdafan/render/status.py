"""How `lambdafan status` and `lambdafan logs` print: the fleet's resources, schedule and last
run; log events one per line."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.markup import escape
from rich.table import Table

from lambda_src import runs
from lambdafan.fleet_status import FleetStatus, ResourceState, ResourceStatus, ScheduleStatus
from lambdafan.log_events import LogEvent
from lambdafan.render.console import console, note

_STATE_STYLE = {"ok": "green", "missing": "red", "drifted": "yellow", "unwanted": "magenta"}


def status_table(resources: tuple[ResourceStatus, ...]) -> Table:
    """One row per resource: kind, name, ok / missing / drifted (with the fields) / unwanted."""
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("kind", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("drifted fields", overflow="fold")
    for resource in resources:
        style = _STATE_STYLE[resource.state]
        table.add_row(
            resource.kind,
            escape(resource.name),
            f"[{style}]{resource.state}[/]",
            escape(", ".join(resource.fields)),
        )
    return table


def schedule_line(schedule: ScheduleStatus) -> str:
    """`schedule: <expression> — <when it fires next>`, or why it does not."""
    if schedule.deployed is None:
        if schedule.wanted is None:
            return "schedule: none (runs only when started by hand)"
        return f"schedule: {escape(schedule.wanted)} — not deployed, never fires"
    text = f"schedule: {escape(schedule.deployed)}"
    if schedule.wanted is None:
        text += " (not in the config)"
    elif schedule.wanted != schedule.deployed:
        text += f" (config: {escape(schedule.wanted)})"
    if not schedule.enabled:
        return f"{text} — disabled, never fires"
    if schedule.next_run is not None:
        return f"{text} — next run {schedule.next_run:%Y-%m-%d %H:%M} UTC"
    if schedule.every is not None:
        # A rate() counts from when the rule was last changed, which AWS does not report.
        return f"{text} — {schedule.every}"
    return f"{text} — next run unknown"


def last_run_line(status: FleetStatus) -> str:
    """The newest run in a few words, or why there is none."""
    if not status.table_exists:
        return f"last run: results table {status.table_name} does not exist (not deployed)"
    run = status.last_run
    if run is None:
        return "last run: no runs yet"
    # Past its deadline, not closed yet (the next Director does that): say so, as `runs` does.
    shown = "overdue" if runs.is_overdue(run, runs.utcnow()) else run.get("status", "?")
    parts = [
        escape(str(run.get("run_id", "?"))),
        escape(str(shown)),
        f"{run.get('accounts_done', 0)}/{run.get('accounts_expected', '?')} accounts",
    ]
    if run.get("accounts_failed"):
        parts.append(f"{run['accounts_failed']} failed")
    parts += [
        f"{run.get('records', 0)} records",
        f"{run.get('errors', 0)} errors",
        f"started {_when(run.get('started_at'))}",
    ]
    deliveries = run.get("deliveries") or {}
    if deliveries:
        # The outcome of each channel, so "nobody was told" shows here, not only in the logs.
        told = [f"{channel} {escape(str(outcome))}" for channel, outcome in deliveries.items()]
        parts.append("told: " + "; ".join(told))
    return "last run: " + ", ".join(parts)


def _when(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return escape(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def dlq_line(status: FleetStatus) -> str | None:
    """A warning when the Notifier's dead-letter queue holds lost notifications, else None."""
    if not status.dlq_messages:
        return None
    count = status.dlq_messages
    return (
        f"[yellow]warning[/]: {count} notification{'s' if count != 1 else ''} lost: the "
        f"Notifier failed and Lambda kept {'them' if count != 1 else 'it'} in the dead-letter "
        f"queue {escape(status.dlq_name)} (read with `aws sqs receive-message`; "
        "`lambdafan logs notifier` says why)"
    )


def verdict(status: FleetStatus) -> str:
    """One line a person (or a CI log) can act on."""
    if status.ok:
        return f"[green]ok[/]: fleet {status.fleet} is deployed and matches its config."
    if not status.deployed:
        return (
            f"[red]not deployed[/]: fleet {status.fleet} has no resources in {status.region}; "
            "run `lambdafan deploy`."
        )
    states: tuple[ResourceState, ...] = ("missing", "drifted", "unwanted")
    summary = ", ".join(f"{status.count(s)} {s}" for s in states if status.count(s))
    if not summary:
        # In sync, and only the dead-letter queue is not empty (dlq_line says what it holds).
        return f"[yellow]notifications lost[/]: fleet {status.fleet} is deployed and in sync."
    return (
        f"[yellow]out of sync[/]: fleet {status.fleet} has {summary}; "
        "`lambdafan deploy --dry-run` shows the changes, `lambdafan deploy` makes them."
    )


def version_line(status: FleetStatus) -> str:
    """The CLI's version and, when the fleet records it, the deployed bundle's."""
    text = f"version: lambdafan {escape(status.cli_version)}"
    if status.deployed_version is None:
        return text
    if status.deployed_version == status.cli_version:
        return f"{text}, the same as the deployed fleet"
    return (
        f"{text}; the fleet was deployed by {escape(status.deployed_version)} "
        "(`lambdafan deploy` updates it)"
    )


def print_status(status: FleetStatus) -> None:
    """Everything `lambdafan status` reports."""
    console.print(f"Fleet {status.fleet} in {status.region}")
    console.print(status_table(status.resources))
    console.print(version_line(status), soft_wrap=True)
    console.print(schedule_line(status.schedule), soft_wrap=True)
    console.print(last_run_line(status), soft_wrap=True)
    warning = dlq_line(status)
    if warning is not None:
        console.print(warning, soft_wrap=True)
    console.print(verdict(status), soft_wrap=True)


def short_stream(stream: str) -> str:
    """A Lambda stream `2026/11/26/[$LATEST]3f9a…` shortened to its instance id's first 8
    characters, enough to tell concurrent invocations apart; other names keep their end."""
    _, bracket, instance = stream.rpartition("]")
    return instance[:8] if bracket and instance else stream[-8:]


def log_line(event: LogEvent) -> str:
    """`2026-11-26 22:41:04 3f9a1c2b message`, the message without its trailing newline."""
    return f"{event.timestamp:%Y-%m-%d %H:%M:%S} {short_stream(event.stream)} " + (
        event.message.rstrip("\n")
    )


def print_log_event(event: LogEvent) -> None:
    # Log messages are the function's own text: never read them as rich markup.
    console.print(log_line(event), markup=False, highlight=False, soft_wrap=True)


def print_no_events(group: str, since: str, filter_pattern: str | None) -> None:
    """Say (on stderr) that the window held nothing, so an empty screen is not a mystery."""
    matching = f" matching {filter_pattern!r}" if filter_pattern else ""
    note(f"no events{matching} in {group} in the last {since}")
