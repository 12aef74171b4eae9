"""The config's error types, and how an error message quotes the user's own values."""

from __future__ import annotations


class ConfigError(Exception):
    """A config the user must fix; the message is one line, ready to print."""


class Invalid(ValueError):
    """A validation failure located below the key pydantic is validating.

    A validator that checks a whole list can only fail the list; `at` carries the item's index
    so the message still points at the offending entry.
    """

    def __init__(self, message: str, at: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.at = at


def one_line(text: str) -> str:
    """`text` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def kind(value: object) -> str:
    """How a YAML value reads to the user, for "expected X, got Y" messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {getattr(value, 'source', value)}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
