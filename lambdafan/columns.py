"""`--columns a,b,c`: the names picked, checked, and the ones no row had (to warn of a typo)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from lambdafan.errors import UsageError

R = TypeVar("R", bound=Mapping[str, Any])


def parse_columns(given: str | None) -> list[str] | None:
    """`a,b,c` as names (None when not given); an empty name or a name twice is an error."""
    if given is None:
        return None
    names = [name.strip() for name in given.split(",")]
    if not all(names):
        raise UsageError(f"--columns {given!r}: a column name is empty (use a,b,c)")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"--columns names {', '.join(twice)} twice")
    return names


def require_known(names: Sequence[str], known: Sequence[str], rows: str) -> None:
    """Fail on a name not in `known`, for `rows` whose fields are known in advance (errors)."""
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageError(
            f"{rows} have no column {', '.join(unknown)} (columns: {', '.join(known)})"
        )


class SeenColumns:
    """The fields of the rows that went by, to tell of a picked column no row had."""

    def __init__(self, columns: Sequence[str] | None) -> None:
        self.columns = columns
        self.names: dict[str, None] = {}  # in the order first seen
        self.rows = 0

    def watch(self, rows: Iterable[R]) -> Iterator[R]:
        """The rows, unchanged, noting their fields on the way."""
        if self.columns is None:
            yield from rows
            return
        for row in rows:
            self.rows += 1
            self.names.update(dict.fromkeys(row))
            yield row

    def missing(self) -> str | None:
        """What to warn of: the picked columns no row had (None if every one was seen, or no
        row went by)."""
        if self.columns is None or not self.rows:
            return None
        missing = [name for name in self.columns if name not in self.names]
        if not missing:
            return None
        return f"no record has column {', '.join(missing)} (columns: {', '.join(self.names)})"
