"""`lambdafan deploy`, `destroy`, `validate` and `member-role`: the fleet's resources."""

from __future__ import annotations

import enum
import sys
import time
from typing import Annotated

import typer

from lambda_src import names
from lambda_src.sandbox import sandbox_supported
from lambdafan.checks import check_account_id
from lambdafan.cli.options import (
    ConfigOption,
    ProfileOption,
    RegionOption,
    guard_scripts,
    options,
)
from lambdafan.deploy.apply import DeployStopped
from lambdafan.deploy.bundle import build_bundle
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.destroy import destroy_fleet
from lambdafan.deploy.fleet import Identity, caller_identity, deploy_fleet, fleet_arns
from lambdafan.deploy.member_role import member_role_template
from lambdafan.deploy.model import ARCHITECTURE, RUNTIME
from lambdafan.deploy.requirements import Target, cached_wheels, script_packages
from lambdafan.errors import UsageError
from lambdafan.local import fleet_scripts
from lambdafan.render.console import console, error, note, warning
from lambdafan.render.deploy import (
    DeployProgress,
    print_destroyed,
    print_next,
    print_validation,
)
from lambdafan.script_tools.fleet_review import habit_lines, review_scripts
from lambdafan.script_tools.imports import (
    fleet_missing_imports,
)


class MemberPermissionsChoice(str, enum.Enum):
    read_only = "ReadOnlyAccess"
    security_audit = "SecurityAudit"


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

    Shows the plan (create / update / unchanged / delete) and applies it. Safe to run again:
    with nothing changed, it says so and makes no change.

    \b
      lambdafan deploy --dry-run
      lambdafan deploy
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    # A warning, not a refusal: the Worker fails only those scripts' pairs, and a module a
    # requirement provides under another name is known for sure only once its wheel is cached.
    for problem in fleet_missing_imports(fleet):
        warning(str(problem))
    for line in habit_lines(fleet.script_paths()):
        warning(line)
    clients = DeployClients.from_aws(opts.aws(fleet), fleet.home_region)
    started = time.monotonic()
    try:
        with DeployProgress() as progress:
            plan = guard_scripts(
                lambda: deploy_fleet(fleet, clients, dry_run=dry_run, observer=progress)
            )
    except DeployStopped as exc:
        # Every change is found again by name, so the same command finishes the job.
        raise DeployStopped(f"{exc} (run `{opts.hint('deploy')}` again to finish)") from None
    if dry_run:
        if plan.has_changes:
            print_next([(opts.hint("deploy"), "apply the plan")])
        return
    if plan.has_changes:
        console.print(
            f"Deployed fleet {fleet.fleet} in {fleet.home_region} "
            f"({time.monotonic() - started:.1f}s)."
        )
    when = f"on its schedule, {fleet.schedule}" if fleet.schedule else "with no schedule"
    print_next(
        [
            (opts.hint("run --now"), f"a run now (it runs {when})"),
            (opts.hint("status"), "what is deployed"),
        ]
    )


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

    Resources already gone are skipped, so an interrupted destroy can simply be run again.

    \b
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
    clients = DeployClients.from_aws(opts.aws(fleet), fleet.home_region)
    steps = destroy_fleet(clients, fleet.fleet, delete_data=delete_data)
    delete_it = opts.hint("destroy --delete-data" + (" --yes" if yes else ""))
    kept = [] if delete_data else [f"the results table {names.table_name(fleet.fleet)}"]
    if kept and fleet.results.export == "s3":
        # The bucket's name has the account in it: deploy's identity read, once more.
        account = caller_identity(clients).account_id
        bucket = names.export_bucket_name(fleet.fleet, account, fleet.home_region)
        kept.append(f"the export bucket {bucket}")
    print_destroyed(steps, kept, delete_it)


def member_role(
    ctx: typer.Context,
    permissions: Annotated[
        MemberPermissionsChoice,
        typer.Option(
            metavar="POLICY",
            help="The AWS-managed policy the member role gets: ReadOnlyAccess or SecurityAudit.",
        ),
    ] = MemberPermissionsChoice.read_only,
    account_id: Annotated[
        str | None,
        typer.Option(
            metavar="ACCOUNT_ID",
            help="The fleet's account (default: the one your credentials are in).",
        ),
    ] = None,
    also_trust: Annotated[
        list[str] | None,
        typer.Option(
            "--also-trust",
            metavar="ARN",
            help="Another role/user ARN that may assume the member role (repeatable), e.g. "
            "yours, for `run --local` and `script test`; in the fleet's account and partition.",
        ),
    ] = None,
    allow_other_account: Annotated[
        bool,
        typer.Option(
            "--allow-other-account",
            help="Let --also-trust name a principal in another account than the fleet's.",
        ),
    ] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Print the CloudFormation template of the role the Worker assumes in every account.

    \b
    Deploy it to every member account, e.g. as a service-managed StackSet:
      lambdafan member-role > member-role.json
      aws cloudformation create-stack-set --stack-set-name lambdafan-member \\
        --template-body file://member-role.json \\
        --capabilities CAPABILITY_NAMED_IAM --permission-model SERVICE_MANAGED \\
        --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    if account_id is None:
        clients = DeployClients.from_aws(opts.aws(fleet), fleet.home_region)
        identity = caller_identity(clients)
    else:
        check_account_id(account_id, "--account-id")
        identity = Identity.for_account(account_id, fleet.home_region)
    arns = fleet_arns(fleet, identity)
    try:
        template = member_role_template(
            fleet=fleet.fleet,
            worker_role_arn=arns.role_arn("worker"),
            role_name=settings.member_role,
            external_id=settings.external_id,
            permissions=permissions.value,
            also_trust=also_trust or (),
            allow_other_account=allow_other_account,
        )
    except ValueError as exc:
        raise UsageError(f"member-role: {exc}") from None
    console.print(template, markup=False, highlight=False, soft_wrap=True)


def validate(
    ctx: typer.Context,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Check the config, every script, and that the Worker will have what the scripts import.

    Touches neither AWS nor the network: script_requirements are not downloaded here.
    Scripts are read for laptop habits (AWS calls at import, region loops, sys.argv...),
    each a warning with its line and fix; a collect that only prints is an error.

    \b
      lambdafan validate -c lambdafan.yaml
    """
    opts = options(ctx, config, profile, region)
    fleet = opts.load()
    settings = fleet.to_settings()
    # Never runs pip: requirements a deploy already downloaded are judged (and sized) by their
    # cached wheels, the others by their names.
    requirements = fleet.script_requirements
    wheels = cached_wheels(requirements, Target.for_lambda(RUNTIME, ARCHITECTURE))
    scripts = fleet_scripts(settings)
    review = review_scripts(
        scripts,
        requirements,
        runtime=RUNTIME,
        home_region=settings.home_region,
        wheels=wheels,
        try_imports=sandbox_supported(),
    )
    for kind, line in review.remarks:
        (warning if kind == "warning" else note)(line)
    for problem in review.problems:
        error(problem)
    if review.problems:
        raise typer.Exit(2)
    if wheels is None:
        note("script_requirements not downloaded yet (deploy does it): the size below omits them")
    packages = script_packages(wheels or ())
    bundle = guard_scripts(
        lambda: build_bundle(settings, include_scripts=True, script_packages=packages)
    )
    print_validation(
        settings, scripts, fleet.schedule, len(bundle.data), opts.hint("deploy --dry-run")
    )
