"""The config's error types, and how an error message quotes the user's own values."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class ConfigError(Exception):
    """A config the user must fix; the message is ready to print: one line per problem."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (message,)

    @classmethod
    def of(cls, path: Path, problems: Sequence[str]) -> ConfigError:
        """Every problem of the config at `path`: one line, or a count and one line each."""
        if len(problems) == 1:
            return cls(f"{path}: {problems[0]}", problems)
        lines = [f"{path}: {len(problems)} problems:", *(f"  {p}" for p in problems)]
        return cls("\n".join(lines), problems)


class Invalid(ValueError):
    """A validation failure located below the key pydantic is validating.

    A validator that checks a whole list can only fail the list; `at` carries the item's index
    so the message still points at the offending entry, and `also` the other entries' problems.
    """

    def __init__(
        self, message: str, at: tuple[str | int, ...] = (), also: Sequence[Invalid] = ()
    ) -> None:
        super().__init__(message)
        self.at = at
        self.also = tuple(also)

    def each(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every problem it carries, as (key path below the field, message)."""
        return [(self.at, str(self)), *((p.at, str(p)) for p in self.also)]


def raise_all(problems: Sequence[Invalid]) -> None:
    """Raise the problems a validator found (as one `Invalid`), if it found any."""
    if problems:
        raise Invalid(str(problems[0]), problems[0].at, problems[1:])


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
