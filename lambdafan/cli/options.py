"""What every `lambdafan` command shares: the global options, the AWS they open, error handling."""

from __future__ import annotations

import enum
import functools
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.sandbox import sandbox_supported
from lambda_src.scripts import ScriptError
from lambdafan.aws import DEFAULT_POOL, Aws, describe_error
from lambdafan.config import Config, ConfigError, load_config
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.render.console import error, note

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


F = TypeVar("F", bound=Callable[..., Any])
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
        """The user's own AWS (profile; region: --region, else the fleet's home region)."""
        region = self.region or (config.home_region if config else None)
        return Aws.connect(self.profile, region, threads=threads)


def user_errors(command: F) -> F:
    """Turn errors the user can act on into one red line and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            error(str(exc))
            raise typer.Exit(2) from None
        except LambdafanError as exc:
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except ClientError as exc:
            error(f"AWS {describe_error(exc)}")
            raise typer.Exit(1) from None
        except BotoCoreError as exc:
            error(f"AWS: {exc}")
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


SandboxOption = Annotated[
    bool,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Run scripts in sandbox processes holding only the member account's credentials, "
        "as the Worker does (default); --no-sandbox runs them in this process, for a debugger.",
    ),
]


def use_sandbox(wanted: bool) -> bool:
    """`--sandbox` where the platform has it; elsewhere scripts run in this process, with a note."""
    if wanted and not sandbox_supported():
        note("scripts run in this process: the sandbox needs fork (Linux, macOS)")
        return False
    return wanted
