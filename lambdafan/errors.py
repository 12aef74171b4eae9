"""Errors written for the user: the CLI prints the message as one red line and exits."""

from __future__ import annotations


class LambdafanError(Exception):
    """A failure the user can act on; exit code 1 (AWS or runtime)."""

    exit_code = 1


class UsageError(LambdafanError):
    """Bad input: options, config, scripts; exit code 2."""

    exit_code = 2
