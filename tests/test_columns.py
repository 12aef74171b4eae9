"""`--columns`: parsing, checking against known fields, and the warning of a column no row had."""

from __future__ import annotations

import pytest

from lambdafan.columns import SeenColumns, parse_columns, require_known
from lambdafan.errors import UsageError


def test_names_are_split_and_trimmed_in_order() -> None:
    assert parse_columns(None) is None
    assert parse_columns("b, a,c") == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("a,,b", "--columns 'a,,b': a column name is empty (use a,b,c)"),
        ("a,b,a,b", "--columns names a, b twice"),
    ],
)
def test_an_empty_or_repeated_name_is_a_usage_error(given: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_columns(given)
    assert str(raised.value) == message


def test_unknown_names_of_rows_with_known_fields_are_errors() -> None:
    require_known(["b"], ["a", "b"], "errors")
    with pytest.raises(UsageError) as raised:
        require_known(["b", "x", "y"], ["a", "b"], "errors")
    assert str(raised.value) == "errors have no column x, y (columns: a, b)"


def test_seen_columns_names_the_picked_columns_no_row_had() -> None:
    seen = SeenColumns(["a", "typo"])
    rows = [{"a": 1, "z": 2}, {"b": 3}]
    assert list(seen.watch(iter(rows))) == rows  # passed through unchanged
    assert seen.missing() == "no record has column typo (columns: a, z, b)"

    every = SeenColumns(["a"])
    list(every.watch(rows))
    assert every.missing() is None
    nothing = SeenColumns(["typo"])
    list(nothing.watch(iter(())))
    assert nothing.missing() is None  # no rows: "no records found" says it already
    assert SeenColumns(None).missing() is None
