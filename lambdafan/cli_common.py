"""What every `lambdafan` command shares: the Typer app, global options, error handling."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.scripts import ScriptError
from lambdafan import render
from lambdafan.config import Config, ConfigError, load_config
from lambdafan.errors import LambdafanError, UsageError

DEFAULT_CONFIG = Path("lambdafan.yaml")


class TableOrJson(str, enum.Enum):
    """`--format` of commands that print a table for people or JSON Lines for pipes."""

    table = "table"
    json = "json"


app = typer.Typer(
    help="Run your boto3 scripts across every AWS account and region on a Lambda fleet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class GlobalOptions:
    config: Path
    profile: str | None
    region: str | None

    def load(self) -> Config:
        return load_config(self.config)

    def session(self, config: Config) -> Any:
        """The user's own AWS session (profile, region; AWS_ENDPOINT_URL is honoured by boto3)."""
        try:
            return boto3.Session(
                profile_name=self.profile, region_name=self.region or config.home_region
            )
        except BotoCoreError as exc:
            raise UsageError(str(exc)) from None


def user_errors(command: F) -> F:
    """Turn errors the user can act on into one red line and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            render.error(str(exc))
            raise typer.Exit(2) from None
        except LambdafanError as exc:
            render.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            render.error(f"AWS {err.get('Code', 'error')}: {err.get('Message', exc)}")
            raise typer.Exit(1) from None
        except BotoCoreError as exc:
            render.error(f"AWS: {exc}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


# The global options are accepted before the command (`lambdafan -c f.yaml run`) and after it
# (`lambdafan run -c f.yaml`), like the AWS CLI's; a value given after the command wins.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="LAMBDAFAN_CONFIG",
        help="The fleet's YAML config file (default: lambdafan.yaml).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None, typer.Option(help="AWS profile to use (default: the usual AWS chain).")
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        help="Your AWS session's default region (default: home_region, where the fleet lives).",
    ),
]


@app.callback()
def global_options(
    ctx: typer.Context,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """lambdafan: your laptop's boto3 scripts, run across every account and region.

    AWS_ENDPOINT_URL is honoured, so every command works against a local AWS emulator too.
    """
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


def check_account_id(account: str, option: str = "--account") -> str:
    """An AWS account id is exactly 12 digits (leading zeros included)."""
    if not re.fullmatch(r"\d{12}", account):
        raise UsageError(f"{option}: {account!r} is not a 12-digit account id")
    return account
