"""The root command's class: what every command gets without its module saying so.

Every error the user can act on becomes one `error:` line and its exit code (usage errors 2), a
closed stdout exits 141, flags show no `<bool>` and arguments read `NAME` / `[NAME]`, and the
options that name a script, an account or a run complete from the fleet (completion.py).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from typer import _click as click
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperArgument, TyperGroup, TyperOption

from lambdafan.cli import completion
from lambdafan.cli.options import aws_failure, aws_refusal
from lambdafan.config import ConfigError
from lambdafan.errors import EXIT_BROKEN_PIPE, EXIT_FAILURE, EXIT_USAGE, LambdafanError
from lambdafan.render.console import error, stdout_closed

PROG = "lambdafan"


class LambdafanGroup(TyperGroup):
    """A TyperGroup whose whole command tree shares lambdafan's error handling and help."""

    _prepared = False

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if not self._prepared:
            # Here, not in __init__: typer appends --install-completion after making the group.
            prepare_tree(self)
            self._prepared = True
        with one_line_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        # Every command runs in here, so none can forget to turn its errors into one line.
        with one_line_errors():
            try:
                return super().invoke(ctx)
            except BrokenPipeError:
                # The reader went away (`| head`): quiet, with the shell's code for SIGPIPE.
                stdout_closed()
                raise typer.Exit(EXIT_BROKEN_PIPE) from None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Every error the user can act on as one red line and its exit code, never a traceback:
    click's usage errors (click's default is a boxed usage block), config and lambdafan errors,
    AWS refusals and failures."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `lambdafan` alone: the help, as asked
    except (ClickException, ConfigError, LambdafanError, ClientError, BotoCoreError) as exc:
        message, code = one_line(exc)
        error(message)
        raise typer.Exit(code) from None


def one_line(exc: Exception) -> tuple[str, int]:
    """The line to print for `exc` and the exit code (README: one per kind of mistake)."""
    if isinstance(exc, ClickUsageError):
        return usage_message(exc), EXIT_USAGE
    if isinstance(exc, ClickException):
        return usage_message(exc), exc.exit_code
    if isinstance(exc, ConfigError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, LambdafanError):
        return str(exc), exc.exit_code
    if isinstance(exc, ClientError):
        return aws_refusal(exc), EXIT_FAILURE
    if isinstance(exc, BotoCoreError):
        return aws_failure(exc), EXIT_FAILURE
    raise TypeError(f"no one-line form for {type(exc).__name__}")


# pydantic's wording, which typer's coercion leaks into click's message.
_PYDANTIC_PREFIX = re.compile(r"\b(Value|Assertion) error, ")


def usage_message(exc: ClickException) -> str:
    """click's message on one line, with a short pointer to the command's help."""
    text = " ".join(_PYDANTIC_PREFIX.sub("", exc.format_message()).split())
    text = text.replace("Input should be ", "must be ")
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return text
    return f"{text.rstrip('.')} (see {command_path(ctx)} --help)"


def command_path(ctx: click.Context) -> str:
    """`lambdafan run`, whatever name the root was invoked by (`python -m`, a test runner)."""
    names: list[str] = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join([PROG, *reversed(names)])


def walk(command: click.Command) -> Iterator[click.Command]:
    """The command and every command under it."""
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from walk(sub)


def prepare_tree(root: click.Command) -> None:
    """Set, on every command's parameters, what lambdafan wants of all of them."""
    help_names = root.context_settings.get("help_option_names", ["--help"])
    for command in walk(root):
        if command.help:
            command.help = reflowed(command.help)
        for param in _params(command, help_names):
            if isinstance(param, TyperOption) and _is_flag(param) and param.metavar is None:
                param.metavar = ""  # a flag takes no value: no `<bool>` in --help
            if isinstance(param, TyperArgument):
                conventional_argument(param)
            completion.attach(param)


def reflowed(help_text: str) -> str:
    """Help whose prose paragraphs rich can wrap to the terminal: this typer keeps a docstring's
    line breaks, so an 80-column terminal showed ragged half-lines. `\b` blocks (examples)
    keep theirs."""
    paragraphs = inspect.cleandoc(help_text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


def conventional_argument(argument: TyperArgument) -> None:
    """An argument as CLIs usually show it: `NAME` (required) or `[NAME]` in the usage line,
    not typer's `{name}`, and no `<str>` beside a name that already says what to type (a
    choice keeps its list). These are methods, replaced on this one object."""
    if argument.metavar is None:
        argument.metavar = (argument.name or "value").upper()
    name = argument.metavar + ("..." if argument.nargs != 1 else "")
    usage = name if argument.required else f"[{name}]"
    setattr(argument, "_usage_display_name", lambda: usage)  # noqa: B010
    if not argument.type_descriptor.is_choice:
        setattr(argument, "display_type_rich", lambda ctx: None)  # noqa: B010


def _is_flag(option: TyperOption) -> bool:
    """A bool option: it takes no value (--install-completion's default is None, not False)."""
    return option.is_flag or option.type_descriptor.annotation is bool


def _params(command: click.Command, help_names: list[str]) -> Sequence[click.Parameter]:
    """The command's parameters and its help option (made once and cached by click, with the
    names every context inherits from the root's settings)."""
    ctx = click.Context(command, info_name=command.name, help_option_names=help_names)
    help_option = command.get_help_option(ctx)
    return [*command.params, *([help_option] if help_option is not None else [])]
