"""What every `lambdafan` command shares: the global options, the AWS they open, error handling."""

from __future__ import annotations

import enum
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from lambda_src.sandbox import sandbox_supported
from lambda_src.scripts import ScriptError
from lambdafan import __version__
from lambdafan.aws import DEFAULT_POOL, Aws, describe_error, error_code
from lambdafan.config import Config, load_config
from lambdafan.errors import UsageError
from lambdafan.render.console import console, note

DEFAULT_CONFIG = Path("lambdafan.yaml")


class TableOrJson(str, enum.Enum):
    """`--format` of commands that print a table for people or JSON for pipes: `json` is one
    JSON document (the AWS CLI's meaning), `jsonl` one JSON object a line (for jq and streams)."""

    table = "table"
    json = "json"
    jsonl = "jsonl"


# One default per kind of list, whatever the command: rows of a records table, runs of a history.
DEFAULT_ROWS = 20
DEFAULT_RUNS = 10


T = TypeVar("T")


@dataclass(frozen=True)
class GlobalOptions:
    config: Path
    profile: str | None
    region: str | None

    def hint(self, command: str) -> str:
        """`lambdafan COMMAND` as the user can paste it from any folder: with the config's
        absolute path (unless LAMBDAFAN_CONFIG names it) and the profile they chose."""
        words = ["lambdafan"]
        config = self.config.resolve()
        from_env = os.environ.get("LAMBDAFAN_CONFIG")
        if not (from_env and Path(from_env).resolve() == config):
            words += ["-c", shlex.quote(str(config))]
        if self.profile:
            words += ["--profile", shlex.quote(self.profile)]
        return " ".join([*words, command])

    def load(self) -> Config:
        return load_config(self.config)

    def aws(self, config: Config | None, *, threads: int = DEFAULT_POOL) -> Aws:
        """The user's own AWS: the profile, and the session region in the AWS SDKs' order
        (REGION_ORDER) ending with the fleet's home region."""
        return Aws.connect(
            self.profile,
            self.region,
            threads=threads,
            home_region=config.home_region if config else None,
            on_retry=note,
        )


NO_CREDENTIALS_HINT = (
    "no AWS credentials found: run `aws configure`, set AWS_PROFILE (or pass --profile), "
    "or `aws sso login` for an SSO profile"
)
SSO_HINT = "the AWS SSO session has expired or is missing: run `aws sso login`"


# AWS's codes for credentials it does not accept (expired, or for no account it knows).
CREDENTIALS_REFUSED = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "RequestExpired",
    }
)


def aws_refusal(exc: ClientError) -> str:
    """One line for an AWS error response; refused credentials get the next step."""
    line = f"AWS {describe_error(exc)}"
    if error_code(exc) in CREDENTIALS_REFUSED:
        line += " (refresh your credentials: `aws sso login`, or new keys via `aws configure`)"
    return line


def aws_failure(exc: BotoCoreError) -> str:
    """One line for a botocore failure, with the next step where there is an obvious one."""
    if isinstance(exc, NoCredentialsError):
        return NO_CREDENTIALS_HINT
    if isinstance(exc, (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError)):
        return f"{SSO_HINT} ({exc})"
    if isinstance(exc, EndpointConnectionError) and os.environ.get("AWS_ENDPOINT_URL"):
        # The usual cause: the local emulator AWS_ENDPOINT_URL names is not running.
        return f"AWS: {exc} (AWS_ENDPOINT_URL is set: is that endpoint up?)"
    return f"AWS: {exc}"


# The global options are accepted before the command (`lambdafan -c f.yaml run`) and after it
# (`lambdafan run -c f.yaml`), like the AWS CLI's; a value given after the command wins.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="The fleet's YAML config file (default: $LAMBDAFAN_CONFIG, else lambdafan.yaml).",
        show_default=False,
    ),
]
# LAMBDAFAN_CONFIG is read once, by the root command: were the commands' own --config to read
# it too, it would fill their option and win over a `-c FILE` given before the command.
RootConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="LAMBDAFAN_CONFIG",
        metavar="FILE",
        help="The fleet's YAML config file (default: lambdafan.yaml).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="AWS profile to use (default: AWS_PROFILE, else the usual AWS chain).",
        show_default=False,
    ),
]
# The region order of the AWS SDKs (botocore itself skips AWS_REGION), ending with the fleet's.
REGION_ORDER = "--region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region, home_region"
RegionOption = Annotated[
    str | None,
    typer.Option(
        metavar="REGION",
        help=f"Your AWS session's region. First set of: {REGION_ORDER} (the config's).",
        show_default=False,
    ),
]


def print_version(value: bool) -> None:
    """`--version`: the installed package's version, then exit."""
    if value:
        console.print(f"lambdafan {__version__}", highlight=False)
        raise typer.Exit()


def global_options(
    ctx: typer.Context,
    config: RootConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=print_version,
            is_eager=True,
            expose_value=True,
            help="Print lambdafan's version and exit.",
        ),
    ] = False,
) -> None:
    """The options every command takes; the app's help (lambdafan/cli/__init__.py) says the
    region order and the exit codes."""
    ctx.obj = GlobalOptions(config=config or DEFAULT_CONFIG, profile=profile, region=region)


def options(
    ctx: typer.Context, config: Path | None, profile: str | None, region: str | None
) -> GlobalOptions:
    """The global options, whether given before or after the command."""
    given: GlobalOptions = ctx.obj
    return GlobalOptions(
        config=config or given.config,
        profile=profile or given.profile,
        region=region or given.region,
    )


def guard_scripts(build: Callable[[], T]) -> T:
    """Run `build`; a broken script becomes a usage error naming its file and line."""
    try:
        return build()
    except ScriptError as exc:
        raise UsageError(str(exc)) from None


SandboxOption = Annotated[
    bool,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Run scripts in sandbox processes holding only the member account's credentials, "
        "as the Worker does (default); --no-sandbox runs them in this process, for a debugger "
        "(there a script's plain boto3.client() calls use your own credentials).",
    ),
]


def use_sandbox(wanted: bool) -> bool:
    """`--sandbox` where the platform has it; elsewhere scripts run in this process, with a note."""
    if wanted and not sandbox_supported():
        note("scripts run in this process: the sandbox needs fork (Linux, macOS)")
        return False
    return wanted
