"""The `lambdafan` command: one module per command group, each registered here, in help order.

Commands are thin: parse options, call one plain function, render. What they call is importable
and testable without Typer.
"""

from __future__ import annotations

import typer

from lambdafan.cli import cost, demo, fleet, notify, options, results, run, runs, script, status

app = typer.Typer(
    help="Run your boto3 scripts across every AWS account and region on a Lambda fleet.",
    no_args_is_help=True,
    add_completion=False,
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
app.command()(cost.cost)
app.command()(notify.notify)
app.command()(status.status)
app.command()(status.logs)
app.add_typer(script.app, name="script")
app.command()(demo.demo)


def main() -> None:
    """Console-script entry point."""
    app()
