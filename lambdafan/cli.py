"""The `lambdafan` command: parse options, call one function, render. Nothing else lives here."""

from __future__ import annotations

import enum
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from lambda_src import table
from lambda_src.aws_session import RETRY_CONFIG
from lambda_src.notifier import RunSummary, summarize
from lambda_src.settings import FleetSettings
from lambda_src.table import ItemStore
from lambdafan import remote_run, render
from lambdafan.cli_common import (
    ConfigOption,
    ProfileOption,
    RegionOption,
    app,
    check_account_id,
    guard_scripts,
    options,
    user_errors,
)
from lambdafan.deploy import names
from lambdafan.deploy.apply import Applier
from lambdafan.deploy.bundle import build_bundle
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.destroy import destroy_fleet
from lambdafan.deploy.fleet import Identity, caller_identity, fleet_arns, plan_deploy
from lambdafan.deploy.member_role import member_role_template
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.local import DEFAULT_THREADS, LocalExecutor, load_fleet_scripts, open_store


class MemberPermissionsChoice(str, enum.Enum):
    read_only = "ReadOnlyAccess"
    security_audit = "SecurityAudit"


@app.command()
@user_errors
def run(
    ctx: typer.Context,
    now: Annotated[
        bool, typer.Option("--now", help="Start the deployed fleet now (the Director, async).")
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="Run the Director, Workers and Notifier here, with your credentials."
        ),
    ] = False,
    account: Annotated[
        list[str] | None, typer.Option("--account", "-a", help="Only this account (repeatable).")
    ] = None,
    script: Annotated[
        list[str] | None, typer.Option("--script", "-s", help="Only this script (repeatable).")
    ] = None,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="With --now: watch the run until it completes (default: in a terminal).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        int, typer.Option(min=1, help="With --now: stop waiting after this many seconds.")
    ] = 900,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write every record as JSON Lines.")
    ] = None,
    threads: Annotated[
        int, typer.Option(min=1, max=512, help="Threads shared by all (script, region) pairs.")
    ] = DEFAULT_THREADS,
    limit: Annotated[int, typer.Option(min=0, help="Rows shown per script table.")] = 20,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Run the fleet's scripts once: on the deployed fleet (--now) or in this process (--local).

    \b
    Examples:
      lambdafan run --now                       # the deployed fleet, watched until done
      lambdafan run --now --account 111111111111 --script s3_buckets --no-wait
      lambdafan run --local --output records.jsonl   # your laptop, before deploying
      lambdafan run --now --local               # the deployed fleet's table, handlers here

    With --local, records go to the fleet's table when it exists (required with --now), else
    they are kept in memory. Exit code 0 when every (account, script, region) succeeded, 1
    when any failed, 2 for bad input.
    """
    if not now and not local:
        raise UsageError("say where to run: --now (the deployed fleet) or --local (here)")
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    unknown = sorted(set(script or ()) - {s.name for s in settings.scripts})
    if unknown:
        known = ", ".join(s.name for s in settings.scripts)
        raise UsageError(f"unknown script {', '.join(unknown)} (this fleet has: {known})")
    for account_id in account or ():
        check_account_id(account_id)
    if not settings.organization:
        # Without Organizations the fleet's accounts are known here: refuse unknown ones before
        # anything runs (with it, the Director reports them).
        fleet_accounts = {a.id for a in settings.accounts} - set(settings.exclude_accounts)
        strangers = sorted(set(account or ()) - fleet_accounts)
        if strangers:
            raise UsageError(f"account {', '.join(strangers)} is not in this fleet")
    if output is not None:
        try:
            output.open("a", encoding="utf-8").close()
        except OSError as exc:
            raise UsageError(f"--output: cannot write {output}: {exc.strerror}") from None
    session = opts.session(fleet)
    store, in_table = open_store(session, settings)
    if now and not in_table:
        raise LambdafanError(
            f"table {settings.table_name} not found: deploy the fleet first (lambdafan deploy)"
        )
    if now and not local:
        summary = _run_deployed(session, settings, store, account, script, wait, timeout)
        if summary is None:
            return
    else:
        if not in_table:
            render.note(f"table {settings.table_name} not found: results are kept in memory only")
        executor = LocalExecutor(
            settings, session, store, load_fleet_scripts(settings), threads=threads
        )
        with render.RunProgress() as progress:
            executor.observer = progress
            result = executor.run(accounts=account, scripts=script)
        if result.unknown_accounts:
            raise UsageError(f"account {', '.join(result.unknown_accounts)} is not in this fleet")
        summary = result.summary
    rows = (table.record_view(item) for item in table.run_records(store, summary.run_id))
    if output is not None:
        written = render.write_jsonl(output, rows)
        render.note(f"{written} records written to {output}")
        rows = (table.record_view(item) for item in table.run_records(store, summary.run_id))
    render.print_records(rows, limit)
    render.print_summary(summary)
    raise typer.Exit(0 if summary.ok else 1)


def _run_deployed(
    session: Any,
    settings: FleetSettings,
    store: ItemStore,
    accounts: list[str] | None,
    scripts: list[str] | None,
    wait: bool | None,
    timeout: int,
) -> RunSummary | None:
    """Start the deployed Director; watch the run when asked (None when not waiting)."""
    lambda_client = session.client("lambda", region_name=settings.home_region, config=RETRY_CONFIG)
    run_id = remote_run.start_run(lambda_client, settings, accounts=accounts, scripts=scripts)
    render.console.print(f"started run {run_id}")
    if not (sys.stdout.isatty() if wait is None else wait):
        render.note(f"follow it with: lambdafan results --follow --run {run_id}")
        return None
    with render.RunProgress() as progress:
        progress.started(run_id, 0)
        remote_run.wait_for_run(store, run_id, timeout_s=timeout, on_update=progress.show)
    return summarize(store, run_id)


@app.command()
@user_errors
def deploy(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Create or update the fleet in the home region: roles, functions, log groups, schedule, table.

    \b
    Shows the plan (create / update / unchanged / delete) and applies it. Safe to run again:
    with nothing changed, it says so and makes no change.
      lambdafan deploy --dry-run
      lambdafan deploy
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    clients = DeployClients.from_session(opts.session(fleet), fleet.home_region)
    started = time.monotonic()
    plan = guard_scripts(lambda: plan_deploy(fleet, clients))
    render.print_plan(plan.changes)
    if dry_run or not plan.has_changes:
        return
    with render.StepProgress("deploying", len(plan.pending)) as progress:
        applier = Applier(
            clients, fleet.fleet, on_change=lambda c: progress.advance(f"{c.kind} {c.name}")
        )
        applier.apply(plan.changes)
    render.console.print(
        f"Deployed fleet {fleet.fleet} in {fleet.home_region} ({time.monotonic() - started:.1f}s)."
    )


@app.command()
@user_errors
def destroy(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    delete_data: Annotated[
        bool, typer.Option("--delete-data", help="Also delete the results table.")
    ] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Delete every resource of the fleet; the results table is kept unless --delete-data.

    \b
    Resources already gone are skipped, so an interrupted destroy can simply be run again.
      lambdafan destroy --yes
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    what = "the fleet and its results" if delete_data else "the fleet (keeping its results table)"
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("destroy asks for confirmation: run it in a terminal or pass --yes")
        if not typer.confirm(f"Delete {what} {fleet.fleet} in {fleet.home_region}?"):
            raise typer.Exit(1)
    clients = DeployClients.from_session(opts.session(fleet), fleet.home_region)
    steps = destroy_fleet(clients, fleet.fleet, delete_data=delete_data)
    render.print_destroyed(steps, None if delete_data else names.table_name(fleet.fleet))


@app.command("member-role")
@user_errors
def member_role(
    ctx: typer.Context,
    permissions: Annotated[
        MemberPermissionsChoice,
        typer.Option(help="The AWS-managed policy the member role gets."),
    ] = MemberPermissionsChoice.read_only,
    account_id: Annotated[
        str | None,
        typer.Option(help="The fleet's account (default: the one your credentials are in)."),
    ] = None,
    also_trust: Annotated[
        list[str] | None,
        typer.Option(
            "--also-trust",
            help="Another role/user ARN that may assume the member role (repeatable), e.g. "
            "yours, for `run --local` and `script test`.",
        ),
    ] = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Print the CloudFormation template of the role the Worker assumes in every account.

    \b
    Deploy it to every member account, e.g. as a service-managed StackSet:
      lambdafan member-role > member-role.json
      aws cloudformation create-stack-set --stack-set-name lambdafan-member \\
        --template-body file://member-role.json --capabilities CAPABILITY_NAMED_IAM \\
        --permission-model SERVICE_MANAGED \\
        --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    if account_id is None:
        clients = DeployClients.from_session(opts.session(fleet), fleet.home_region)
        identity = caller_identity(clients)
    else:
        check_account_id(account_id, "--account-id")
        identity = Identity(account_id=account_id, partition="aws")
    arns = fleet_arns(fleet, identity)
    try:
        template = member_role_template(
            fleet=fleet.fleet,
            worker_role_arn=arns.role_arn("worker"),
            role_name=settings.member_role,
            external_id=settings.external_id,
            permissions=permissions.value,
            also_trust=also_trust or (),
        )
    except ValueError as exc:
        raise UsageError(f"member-role: {exc}") from None
    render.console.print(template, markup=False, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def validate(
    ctx: typer.Context,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Check the config and every script without touching AWS.

    \b
      lambdafan validate -c lambdafan.yaml
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    scripts = load_fleet_scripts(settings)
    bundle = guard_scripts(lambda: build_bundle(settings, include_scripts=True))
    render.print_validation(settings, scripts, fleet.schedule, len(bundle.data))


def main() -> None:
    """Console-script entry point."""
    app()


# Importing the command modules registers their commands on `app` (after the ones above).
from lambdafan import cli_demo, cli_results, cli_script, cli_status  # noqa: E402, F401
