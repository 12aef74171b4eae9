"""`lambdafan notify`: a run's messages, shown (--dry-run) or sent again to the fleet's channels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lambda_src import reporting
from lambda_src.delivery import Channels, deliver_report
from lambda_src.run_cost import cost_of_run_id
from lambda_src.run_summary import summarize
from lambdafan import results, results_store
from lambdafan.aws import Aws
from lambdafan.cli.options import ConfigOption, ProfileOption, RegionOption, options
from lambdafan.errors import UsageError
from lambdafan.render import notify as show
from lambdafan.render.console import note

RunOption = Annotated[
    str | None,
    typer.Option(
        "--run",
        metavar="RUN_ID",
        help="The run whose messages to render (default: the latest).",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Render each configured message here (Slack's JSON and a preview, the email's "
        "text, SNS's text) and save the email's HTML to a file; send nothing.",
    ),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        dir_okay=False,
        metavar="FILE",
        help="With --dry-run: where to save the email's HTML part "
        "(default: lambdafan-<run id>.html here).",
    ),
]


def notify(
    ctx: typer.Context,
    run_id: RunOption = None,
    dry_run: DryRunOption = False,
    html: HtmlOption = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Render a run's messages as the Notifier sends them, or send them again.

    The messages hold the run's summary, what changed since the previous complete run and the
    run's cost. Sending ignores notify.only_on (you asked for it); --dry-run says what only_on
    would have done. Exit code 1 when a channel could not be told.

    \b
    Examples:
      lambdafan notify --dry-run              # the latest run's messages
      lambdafan notify --run RUN_ID --dry-run --html /tmp/mail.html
      lambdafan notify --run RUN_ID           # send them again, now
    """
    if html is not None and not dry_run:
        raise UsageError("--html saves the email's HTML of a --dry-run; add --dry-run")
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    aws = opts.aws(fleet)
    store = results_store.open_table(aws, settings)
    with results.missing_table(settings.table_name):
        run = results.find_named_run(store, run_id, settings.table_name)
        if results.is_running(run) and not dry_run:
            raise UsageError(
                f"run {run['run_id']} is still running: the Notifier tells it when it ends "
                "(--dry-run shows its messages so far)"
            )
        summary = summarize(store, str(run["run_id"]))
        report = reporting.build_report(
            store,
            settings,
            summary,
            cost_for=lambda run_id: cost_of_run_id(store, run_id, settings.home_region),
        )
    configured = reporting.configured_channels(settings.notify)
    if dry_run:
        if results.is_running(run):
            note(f"run {summary.run_id} is still running: these are its messages so far")
        if html is not None and configured and "email" not in configured:
            note("no email channel in notify: no HTML part to save")
        target = html or Path(f"lambdafan-{summary.run_id}.html")
        show.print_messages(report, configured, reporting.wanted(report, settings), target)
        return
    if not configured:
        raise UsageError("notify: has no channel in the config: nothing to send to")
    delivered = deliver_report(report, settings.notify, _channels(aws, settings.home_region))
    show.print_deliveries(delivered)
    raise typer.Exit(0 if all(d.ok for d in delivered) else 1)


def _channels(aws: Aws, region: str) -> Channels:
    return Channels(
        ssm=aws.client("ssm", region), ses=aws.client("ses", region), sns=aws.client("sns", region)
    )
