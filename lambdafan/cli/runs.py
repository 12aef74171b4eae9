"""`lambdafan runs`: the fleet's recent runs, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from lambdafan import results, results_store
from lambdafan.cli.options import (
    ConfigOption,
    ProfileOption,
    RegionOption,
    TableOrJson,
    options,
    user_errors,
)
from lambdafan.render import run_history as show


@user_errors
def runs_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 10,
    output_format: Annotated[
        TableOrJson, typer.Option("--format", help="table, or json (JSON Lines) for pipes.")
    ] = TableOrJson.table,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List recent runs, newest first: duration, accounts done, records, errors, status.

    \b
    Examples:
      lambdafan runs
      lambdafan runs --limit 3 --format json | jq -r .run_id
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    store = results_store.open_table(opts.aws(fleet), settings)
    with results.missing_table(settings.table_name):
        recent = results.recent_runs(store, limit)
    if output_format is TableOrJson.json:
        show.write_runs_json(recent)
    else:
        show.print_runs(recent)
