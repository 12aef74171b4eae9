"""`lambdafan status` and `lambdafan logs`: is the fleet there and in sync, and what it logged."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated

import typer

from lambda_src import names
from lambdafan.cli.options import (
    ConfigOption,
    ProfileOption,
    RegionOption,
    guard_scripts,
    options,
)
from lambdafan.deploy.clients import DeployClients
from lambdafan.errors import EXIT_INTERRUPTED
from lambdafan.fleet_status import gather_status
from lambdafan.log_events import LogQuery, follow_events, parse_since, read_events
from lambdafan.render.console import note
from lambdafan.render.status import print_log_event, print_no_events, print_status

# The exit code of a process stopped by Ctrl-C (128 + SIGINT), as shells report it.


class FunctionKind(str, enum.Enum):
    director = "director"
    worker = "worker"
    notifier = "notifier"


def status(
    ctx: typer.Context,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Show whether the fleet is deployed and in sync, when it runs next, and its last run.

    Read-only. Exit code 0 when all is deployed and in sync, 1 otherwise, 2 for bad input.

    \b
      lambdafan status -c lambdafan.yaml || lambdafan deploy --dry-run
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    clients = DeployClients.from_aws(opts.aws(fleet), fleet.home_region)
    # The comparison needs the bundle deploy would upload, so broken scripts are reported here.
    result = guard_scripts(lambda: gather_status(fleet, clients))
    print_status(result)
    raise typer.Exit(0 if result.ok else 1)


def logs(
    ctx: typer.Context,
    function: Annotated[
        FunctionKind, typer.Argument(help="Whose logs: director, worker or notifier.")
    ] = FunctionKind.worker,
    since: Annotated[
        str, typer.Option(metavar="DURATION", help="How far back to start: 30s, 15m, 1h, 2d.")
    ] = "1h",
    filter_pattern: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="PATTERN",
            help="A CloudWatch Logs filter pattern, e.g. ERROR or '\"x y\"'.",
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    limit: Annotated[
        int,
        typer.Option(min=1, metavar="N", help="Show at most this many of the newest events first."),
    ] = 200,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Print recent CloudWatch Logs events of one of the fleet's functions.

    One line per event: time (UTC), the start of the log stream's id, the message.

    \b
      lambdafan logs worker --since 2h --filter ERROR
      lambdafan logs director --follow
    """
    window = parse_since(since)
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    client = opts.aws(fleet).client("logs", fleet.home_region)
    query = LogQuery(
        group=names.log_group_name(fleet.fleet, function.value),
        start=datetime.now(timezone.utc) - window,
        filter_pattern=filter_pattern,
        limit=limit,
    )
    shown = 0
    try:
        if follow:
            note(f"following {query.group} (Ctrl-C to stop)")
        events = follow_events(client, query) if follow else read_events(client, query)
        for event in events:
            print_log_event(event)
            shown += 1
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if not shown:
        print_no_events(query.group, since, filter_pattern)
