"""The `lambdafan` command: one module per command group, each registered here, in help order.

Commands are thin: parse options, call one plain function, render. What they call is importable
and testable without Typer.
"""

from __future__ import annotations

import typer

from lambdafan.cli import (
    cost,
    demo,
    fleet,
    notify,
    options,
    query,
    results,
    run,
    runs,
    script,
    status,
)
from lambdafan.cli.group import PROG, LambdafanGroup

# One paragraph per string: Typer's rich help keeps a docstring's line breaks.
HELP = "\n\n".join(
    [
        "Run your boto3 scripts across every AWS account and region on a Lambda fleet.",
        "AWS: the profile is --profile, else AWS_PROFILE, else the usual AWS chain. The session "
        "region is the first set of --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's "
        "region, the config's home_region. AWS_ENDPOINT_URL is honoured: every command works "
        "against a local emulator too.",
        "Exit codes: 0 done, 1 an AWS or runtime failure (or a run with failures), 2 bad input, "
        "130 stopped with Ctrl-C, 141 output pipe closed.",
    ]
)

# LambdafanGroup gives every command below the same usage errors, help and shell completion.
app = typer.Typer(
    name=PROG,
    cls=LambdafanGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(options.global_options)

app.command()(run.run)
app.command()(fleet.deploy)
app.command()(fleet.destroy)
app.command("member-role")(fleet.member_role)
app.command()(fleet.validate)
app.command("results")(results.results_command)
app.command("runs")(runs.runs_command)
app.command("query")(query.query_command)
app.command()(cost.cost)
app.command()(notify.notify)
app.command()(status.status)
app.command()(status.logs)
app.add_typer(script.app, name="script")
app.command()(demo.demo)


def main() -> None:
    """Console-script entry point (`python -m lambdafan` too: one name for completion)."""
    app(prog_name=PROG)
