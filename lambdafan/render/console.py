"""The two consoles and the one-line messages every command prints: errors, notes, warnings."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape
from rich.text import Text

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def error(message: str) -> None:
    """One red line on stderr. Messages quote user data, so they are never read as markup."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err_console.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


def warning(message: str) -> None:
    """One yellow line on stderr: something the user should know, not a failure."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)


def stopped(message: str) -> None:
    """A dim line on stderr when the user stops a command (Ctrl-C)."""
    err_console.print(Text(message, style="dim"), soft_wrap=True)


def stdout_closed() -> None:
    """The reader went away (`| head`): point stdout at /dev/null so Python's exit-time flush
    does not raise a second BrokenPipeError."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test runner's buffer): nothing to flush into
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)
