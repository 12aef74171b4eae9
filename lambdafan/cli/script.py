"""`lambdafan script` commands: start a script, try it in one account, list what is available."""

from __future__ import annotations

import enum
import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from lambda_src.sandbox import memory_limit_mb
from lambda_src.scripts import Account, Scope
from lambdafan.checks import check_account_id
from lambdafan.cli.options import (
    DEFAULT_CONFIG,
    DEFAULT_ROWS,
    ConfigOption,
    GlobalOptions,
    ProfileOption,
    SandboxOption,
    TableOrJson,
    guard_scripts,
    options,
    use_sandbox,
)
from lambdafan.config import Config, ConfigError
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.render.console import warning
from lambdafan.render.scripts import (
    Step,
    print_adapted,
    print_script_list,
    print_script_run,
    print_starter_created,
)
from lambdafan.script_tools.adapt import adapt_file
from lambdafan.script_tools.catalog import (
    config_despite_its_scripts,
    list_scripts,
    optional_config,
)
from lambdafan.script_tools.fleet_review import script_habit_lines
from lambdafan.script_tools.starter import write_starter
from lambdafan.script_tools.trial import account_name, choose_credentials, run_once

app = typer.Typer(
    help="Write a new script, try one in one account, list the scripts you can run.",
    no_args_is_help=True,
)


class ScopeChoice(str, enum.Enum):
    region = "region"
    account = "account"


@app.command("new")
def new(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="Script name: letters, digits, '_' and '-' (the file's stem)."
        ),
    ],
    scope: Annotated[
        ScopeChoice,
        typer.Option(help="region: once per account and region; account: once per account."),
    ] = ScopeChoice.region,
    folder: Annotated[
        Path,
        typer.Option(
            "--dir", metavar="DIR", help="Folder to write NAME.py in.", show_default="current"
        ),
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Write a commented starter script that follows the script contract.

    \b
    Example: an IAM script that runs once per account, in ./scripts
      lambdafan script new users_without_tags --scope account --dir scripts
    """
    path = write_starter(name, scope.value, folder, force=force).resolve()
    opts = options(ctx, config, profile, None)
    print_starter_created(path, scope.value, next_steps(opts, path, scope.value))


def next_steps(opts: GlobalOptions, path: Path, scope: Scope) -> list[Step]:
    """What to do with a new script, as commands that run as printed from any folder."""
    quoted = shlex.quote(str(path))
    try:
        fleet = optional_config(opts.config, explicit=opts.config != DEFAULT_CONFIG)
    except ConfigError as exc:
        warning(f"ignoring the config: {exc}")
        fleet = None
    where = ""
    if scope == "region":
        try:
            session_region = opts.aws(fleet).region
        except LambdafanError:  # a profile that does not exist: `script test` will say so
            session_region = None
        where = f" --region {session_region or 'us-east-1'}"
    own = f"script test {quoted} --no-assume{where}"
    if fleet is None:
        words = ["lambdafan", *(["--profile", shlex.quote(opts.profile)] if opts.profile else [])]
        return [
            Step("edit it, then try it with your credentials, in the account they are in:",
                 (" ".join([*words, own]),)),
            Step(f"add it to `scripts:` of your fleet's config (lambdafan.yaml):  - {path}"),
        ]  # fmt: skip
    tries = [opts.hint(own)]
    if fleet.accounts.entries:
        account = fleet.accounts.entries[0].id
        tries.append(opts.hint(f"script test {quoted} --account {account}{where}"))
    config = opts.config.resolve()
    entry = os.path.relpath(path, config.parent) if path.is_relative_to(config.parent) else path
    return [
        Step("edit it, then try it with your credentials (or in a fleet account, through its "
             "member role):", tuple(tries)),
        Step(f"add it to `scripts:` in {config}:  - {entry}; then check the config:",
             (opts.hint("validate"),)),
    ]  # fmt: skip


FileOption = Annotated[
    Path, typer.Argument(metavar="FILE", help="The script's .py file.", show_default=False)
]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        metavar="ACCOUNT_ID",
        help="Account to run in, through its member role (with --no-assume: only a label; "
        "default there: the account your credentials are in).",
        show_default=False,
    ),
]
RunInRegionOption = Annotated[
    str | None,
    typer.Option(
        metavar="REGION",
        help="Region to run a region-scoped script in (default: your session's region).",
        show_default=False,
    ),
]
NoAssumeOption = Annotated[
    bool,
    typer.Option(
        "--no-assume",
        help="Use your current credentials as they are, in the account they are in.",
    ),
]
RoleOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help="Member role to assume (default: member_role.name of the config)."
    ),
]
ExternalIdOption = Annotated[
    str | None,
    typer.Option(metavar="ID", help="External id for the role (default: the config's, if any)."),
]
OutputFormatOption = Annotated[
    TableOrJson,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="table for people; json: one JSON array of the records; jsonl: one record a line.",
    ),
]
LimitOption = Annotated[int, typer.Option(min=1, metavar="N", help="Rows shown in the table.")]


@app.command("test")
def try_script(
    ctx: typer.Context,
    file: FileOption,
    account: AccountOption = None,
    region: RunInRegionOption = None,
    no_assume: NoAssumeOption = False,
    role: RoleOption = None,
    external_id: ExternalIdOption = None,
    output_format: OutputFormatOption = TableOrJson.table,
    limit: LimitOption = DEFAULT_ROWS,
    sandbox: SandboxOption = True,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="On a failure, print its whole traceback too.")
    ] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Run one script once, in one account and region, with your own credentials.

    \b
    It assumes the member role in the account, as the fleet's Worker does:
      lambdafan script test my_script.py -a 111111111111 --region us-east-2
    Already signed in to the account? Use your credentials as they are:
      lambdafan script test my_script.py --no-assume

    Exit code: 0 the script finished, 1 it raised (the error names file:line),
    2 a broken script or bad options.
    """
    for line in script_habit_lines(file):  # read, never run: module-level clients, argv...
        warning(line)
    if account is not None:
        check_account_id(account)
    elif not no_assume:
        raise UsageError(
            "--account ACCOUNT_ID: the account whose member role to assume "
            "(or --no-assume to run in the account your credentials are in)"
        )
    # The command's --region is where the script runs; lambdafan's own calls (STS) use the
    # global --region or the config's home region, as the Worker uses the home region.
    opts = options(ctx, config, profile, None)
    fleet = config_for_a_test(opts, needed=not (no_assume or role))
    credentials = choose_credentials(
        fleet,
        assume=not no_assume,
        role=role,
        external_id=external_id,
        why_none=f"which role should be assumed in {account}? No config found ({opts.config})",
    )
    aws = opts.aws(fleet)
    if aws.region is None and region is not None:
        # No session region anywhere (option, config, profile, environment): where the script
        # runs is the next best home for lambdafan's own STS calls.
        aws = replace(opts, region=region).aws(fleet)
    in_sandbox = use_sandbox(sandbox)
    if not in_sandbox and not no_assume:
        warning(
            f"the script runs in this process: plain boto3 calls in it (boto3.client, a "
            f"module-level client) use your credentials, not {account}'s; session.client(...) "
            "is in that account"
        )
    run = guard_scripts(
        lambda: run_once(
            file,
            aws=aws,
            account=None if account is None else Account(account, account_name(fleet, account)),
            name_of=lambda account_id: account_name(fleet, account_id),
            region=region,
            credentials=credentials,
            sandbox=in_sandbox,
            # As much memory as the fleet's Worker would give it (the default Worker's without
            # a config).
            memory_mb=memory_limit_mb(fleet.functions.worker.memory if fleet else 1024),
            traceback=traceback,
        )
    )
    print_script_run(run, output_format=output_format.value, limit=limit)
    raise typer.Exit(0 if run.ok else 1)


def config_for_a_test(opts: GlobalOptions, *, needed: bool) -> Config | None:
    """The config `script test` reads: problems of its scripts (another one may be mid-port)
    are a warning; others are an error when it is `needed` (for the role), else a warning."""
    try:
        return optional_config(opts.config, explicit=opts.config != DEFAULT_CONFIG)
    except ConfigError as exc:
        problem = exc
    try:
        fleet = config_despite_its_scripts(opts.config, problem)
    except ConfigError:
        if needed:
            raise ConfigError(
                f"{problem}\n(or pass --role NAME to test without the config)"
            ) from None
        # The config is only consulted for the role name, which the user gave: go on without it.
        warning(f"ignoring the config: {problem}")
        return None
    warning(f"the config's scripts have problems (validate and deploy refuse it): {problem}")
    return fleet


@app.command("adapt")
def adapt(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="The laptop script's .py file (not changed).", show_default=False
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="OUT",
            help="Where to write the port.",
            show_default="FILE's stem + _lambdafan.py, beside it",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing OUT.")] = False,
) -> None:
    """Port a laptop boto3 script to the script contract; print what changed.

    main(), the __main__ block or the top-level code becomes collect(); its
    loops over regions go; boto3 clients become session.client(...); prints
    of dicts or rows become yield. Where it could not decide, it leaves a
    `# lambdafan: check` comment.

    \b
      lambdafan script adapt unattached_volumes.py
      lambdafan script test unattached_volumes_lambdafan.py --no-assume
    """
    path, adapted = adapt_file(file, out, force=force)
    where = ""
    if adapted.scope == "region":
        try:
            session_region = options(ctx, None, None, None).aws(None).region
        except LambdafanError:  # a profile that does not exist: `script test` will say so
            session_region = None
        where = f" --region {session_region or 'us-east-1'}"
    step = f"lambdafan script test {shlex.quote(str(path))} --no-assume{where}"
    print_adapted(file, path, adapted, step)


@app.command("list")
def list_(
    ctx: typer.Context,
    config: ConfigOption = None,
) -> None:
    """List the fleet's scripts (from the config, when there is one) and the built-in scripts.

    Shows each script's name, scope, source and the first line of its docstring. Built-in
    scripts can be named in `scripts:` without a path, e.g. `- ec2_instances`.

    \b
      lambdafan script list -c lambdafan.yaml
    """
    opts = options(ctx, config, None, None)
    fleet = optional_config(opts.config, explicit=opts.config != DEFAULT_CONFIG)
    print_script_list(list_scripts(fleet), opts.config if fleet else None)
