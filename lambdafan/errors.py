"""Errors written for the user: the CLI prints the message as one red line and exits.

One exit code per kind of outcome, for every command (the README lists them).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # AWS refused or failed, or a run had failures
EXIT_USAGE = 2  # bad input: options, config, scripts, profile
EXIT_INTERRUPTED = 130  # 128 + SIGINT: stopped with Ctrl-C, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`)


class LambdafanError(Exception):
    """A failure the user can act on; exit code 1 (AWS or runtime)."""

    exit_code = EXIT_FAILURE


class UsageError(LambdafanError):
    """Bad input: options, config, scripts; exit code 2."""

    exit_code = EXIT_USAGE
