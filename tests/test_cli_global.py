"""What every command shares: usage errors, exit codes, --version, help placeholders, the AWS
session's profile and region, failing fast when AWS cannot be reached."""

from __future__ import annotations

import inspect
import re
import socket
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from moto import mock_aws
from typer import _click as click
from typer.testing import CliRunner

from lambdafan.cli import app
from lambdafan.cli.group import LambdafanGroup, reflowed, walk
from lambdafan.cli.options import NO_CREDENTIALS_HINT
from tests.conftest import CliResult, cli, deployable_config, lambdafan


def one_line(done: CliResult) -> str:
    """The single stderr line of a failed command (asserting there is one, and no traceback)."""
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def command_paths() -> Iterator[tuple[str, ...]]:
    """Every command and group, as the words that name it (the root is ())."""
    root = typer.main.get_command(app)

    def under(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from under(sub, (*path, name))

    yield from under(root, ())


# --- usage errors (row 8) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named", "hint"),
    [
        (["results", "--format", "bogus"], "'bogus' is not one of", "lambdafan results --help"),
        (["results", "--limit", "-1"], "--limit", "lambdafan results --help"),
        (["run", "--threads", "0"], "--threads", "lambdafan run --help"),
        (["logs", "bogusfn"], "'bogusfn' is not one of", "lambdafan logs --help"),
        (["run", "--bogus"], "No such option: --bogus", "lambdafan run --help"),
        (["script", "test", "--bogus"], "--bogus", "lambdafan script test --help"),
        (["bogus"], "No such command 'bogus'", "lambdafan --help"),
        # One vocabulary: a table of rows shows at least one, whichever command prints it.
        (["run", "--limit", "0"], "greater than or equal to 1", "lambdafan run --help"),
        (["demo", "--limit", "0"], "greater than or equal to 1", "lambdafan demo --help"),
        (["script", "test", "x.py", "--limit", "0"], "equal to 1", "lambdafan script test --help"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], named: str, hint: str) -> None:
    done = cli(*args)

    assert done.returncode == 2
    line = one_line(done)
    assert line.startswith("error: ") and named in line and f"(see {hint})" in line
    assert "Value error" not in line and "╭" not in done.stderr and "Usage:" not in done.stderr


def test_no_arguments_still_prints_the_help() -> None:
    done = cli()
    assert "Usage: lambdafan" in done.stdout + done.stderr
    assert "error:" not in done.stderr


@pytest.mark.parametrize(("raised", "code"), [(BrokenPipeError, 141), (KeyboardInterrupt, 130)])
def test_a_closed_pipe_and_ctrl_c_have_the_shells_exit_codes(
    raised: type[BaseException], code: int
) -> None:
    tiny = typer.Typer(cls=LambdafanGroup)

    @tiny.command()
    def first() -> None:
        raise raised

    @tiny.command()
    def second() -> None:  # two commands make a group
        pass

    done = CliRunner().invoke(tiny, ["first"])
    assert done.exit_code == code
    assert done.stderr == ""


# --- --version (row 7) ------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    done = cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"lambdafan {version('lambdafan')}"


# --- help placeholders (row 13) ---------------------------------------------------------------


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "lambdafan")
def test_no_bool_placeholder_in_any_help(path: tuple[str, ...]) -> None:
    done = cli(*path, "--help")
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout
    # Arguments read NAME / [NAME] (typer's own usage line says {name}), with no <str> beside.
    usage = next(line for line in done.stdout.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    assert re.search(r"^│ [ *] +[A-Z_]+ +<(str|path)>", done.stdout, re.MULTILINE) is None
    # The global options every command takes, with conventional metavars.
    for option, metavar in [("--config", "FILE"), ("--profile", "NAME"), ("--region", "REGION")]:
        if option in done.stdout:
            assert any(option in line and metavar in line for line in done.stdout.splitlines())


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "lambdafan")
def test_help_fits_an_80_column_terminal(path: tuple[str, ...]) -> None:
    # Examples keep their lines whole, prose is wrapped to the width (this typer kept the
    # docstring's line breaks: ragged half-lines), and no option shows a type placeholder.
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERM": "dumb"})
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    help_text = inspect.cleandoc(command.help or "")
    examples = [
        line.strip()
        for block in help_text.split("\n\n")
        if block.startswith("\b")
        for line in block.splitlines()[1:]
        if line.strip().startswith(("lambdafan", "aws "))
    ]
    for example in examples:
        assert any(example in line for line in lines), example
    assert re.search(r"<(str|int|float|path|file|list\[str\])\b|\{file\}", done.output) is None


def test_reflowed_joins_prose_lines_and_keeps_example_blocks() -> None:
    examples = "\b\n      lambdafan x\n      lambdafan y"
    text = f"First line.\n\n    Some prose\n    cut here.\n\n    {examples}"
    kept = "\b\n  lambdafan x\n  lambdafan y"
    assert reflowed(text) == f"First line.\n\nSome prose cut here.\n\n{kept}"


@pytest.mark.parametrize("command", [(), ("status",), ("logs",), ("cost",), ("notify",)])
def test_value_options_show_conventional_metavars(command: tuple[str, ...]) -> None:
    done = cli(*command, "--help")
    assert re.search(r"<(str|int|float|path|file)\b|\{file\}", done.stdout) is None, done.stdout


def test_every_command_is_prepared_including_the_completion_options() -> None:
    root = typer.main.get_command(app)
    root.make_context("lambdafan", ["--help"], resilient_parsing=True)
    flags = [
        p
        for command in walk(root)
        for p in command.params
        if isinstance(p, typer.core.TyperOption) and p.is_flag
    ]
    assert any("--install-completion" in f.opts for f in flags)
    assert all(f.metavar == "" for f in flags)


def test_help_documents_region_order_and_exit_codes() -> None:
    text = " ".join(cli("--help").stdout.split())
    assert "--region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region" in text
    for code in ("2 bad input", "130", "141"):
        assert code in text
    region_help = " ".join(cli("runs", "--help").stdout.split())
    assert "AWS_REGION, AWS_DEFAULT_REGION" in region_help


# --- one exit code per kind of mistake (row 10) -----------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return deployable_config(tmp_path, "glob")


def test_a_bad_profile_is_bad_input_however_it_is_named(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_flag = cli("runs", "-c", str(config), "--profile", "nope")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    by_env = cli("runs", "-c", str(config))

    assert by_flag.returncode == by_env.returncode == 2
    assert "nope" in one_line(by_flag) and "nope" in one_line(by_env)


def test_a_bad_aws_profile_in_a_fresh_process_is_bad_input_and_validate_ignores_it(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh process: the config's region check once read the profile (a botocore session)
    # before lambdafan's own handling, and said exit 1; in-process, a cached check hid it.
    monkeypatch.setenv("AWS_PROFILE", "nope")
    by_env = lambdafan("runs", "-c", str(config))
    assert by_env.returncode == 2, by_env.stderr
    assert by_env.stderr.strip() == "error: The config profile (nope) could not be found"
    validated = lambdafan("validate", "-c", str(config))
    assert validated.returncode == 0, validated.stderr  # validate calls no AWS


def test_a_config_named_before_the_command_wins_over_lambdafan_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LAMBDAFAN_CONFIG filled every command's own --config too, so it beat `lambdafan -c FILE`.
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("LAMBDAFAN_CONFIG", str(deployable_config(other, "from-env")))
    named = deployable_config(tmp_path, "named")
    for args in (["-c", str(named), "validate"], ["validate", "-c", str(named)]):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        assert "ok: fleet named in" in done.stdout, args
    from_env = cli("validate")
    assert from_env.returncode == 0 and "ok: fleet from-env in" in from_env.stdout
    missing = cli("-c", str(tmp_path / "nope.yaml"), "validate")
    assert missing.returncode == 2 and "nope.yaml: config file not found" in missing.stderr


def test_no_credentials_says_how_to_get_some(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s wait for an instance role

    done = cli("runs", "-c", str(config))

    assert done.returncode == 1
    line = one_line(done)
    assert line == f"error: {NO_CREDENTIALS_HINT}"
    for step in ("aws configure", "AWS_PROFILE", "aws sso login"):
        assert step in line


# --- a closed endpoint fails fast (row 4) -----------------------------------------------------


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_refused_connection_fails_within_seconds_naming_the_endpoint(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)

    started = time.monotonic()
    done = cli("runs", "-c", str(config))
    elapsed = time.monotonic() - started

    assert done.returncode == 1
    # ~1 s alone (14-23 s before); loose for a loaded machine: test_aws counts the attempts.
    assert elapsed < 10, elapsed
    line = one_line(done)
    assert endpoint in line and "AWS_ENDPOINT_URL" in line


def test_expired_credentials_say_how_to_refresh_them(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMBDAFAN_FAULTS", "dynamodb:*:expired_token:1")
    with mock_aws():
        done = cli("runs", "-c", str(config))
    assert done.returncode == 1
    line = one_line(done)
    assert "ExpiredToken" in line and "aws sso login" in line
