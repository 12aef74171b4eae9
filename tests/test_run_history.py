"""The runs history as rendered: sparkline, counts, the table in 80 columns, JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from rich.console import Console

from lambdafan.render.run_history import (
    SPARK_LABEL,
    count,
    problems,
    runs_view,
    spark_caption,
    sparkline,
    write_runs_json,
    write_runs_jsonl,
)
from lambdafan.run_rows import RunRow

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


def row(n: int = 0, **changes: object) -> RunRow:
    """A complete run `n` hours before NOW that took 90 s."""
    started = NOW - dt.timedelta(hours=n)
    base = RunRow(
        run_id=f"{started:%Y%m%dT%H%M%SZ}-{n:06x}",
        status="complete",
        trigger="schedule",
        started_at=started.isoformat(),
        finished_at=(started + dt.timedelta(seconds=90)).isoformat(),
        duration_seconds=90.0,
        accounts_expected=120,
        accounts_done=120,
        accounts_failed=0,
        records=1_000,
        errors=0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --- sparkline --------------------------------------------------------------------------------


def test_a_sparkline_scales_each_value_to_the_largest_in_eighths() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▂▃▄▅▆▇█"
    assert sparkline([4, 8]) == "▄█"  # half the largest is half a block
    assert sparkline([800, 400, 100, 8000]) == "▂▂▂█"  # a tenth and less: the least height


def test_only_nothing_is_drawn_lowest() -> None:
    # 1 of 1,000,000 rounds to no height at all; it is still drawn above a run that found none.
    assert sparkline([0, 1, 1_000_000]) == "▁▂█"
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([]) == ""
    assert sparkline([5]) == "█"
    assert sparkline([3, 3]) == "██"


@pytest.mark.parametrize("values", [[0, 5, 10], [7, 7, 1], list(range(40))])
def test_a_sparkline_has_a_block_per_value_and_the_largest_is_full(values: list[int]) -> None:
    line = sparkline(values)
    assert len(line) == len(values) and set(line) <= set("▁▂▃▄▅▆▇█")
    assert line[values.index(max(values))] == "█"


def test_the_caption_draws_oldest_first_and_keeps_the_newest_that_fit() -> None:
    newest_first = [row(n, records=r) for n, r in enumerate([8, 0, 4])]
    assert spark_caption(newest_first, 80) == f"{SPARK_LABEL}▄▁█ (max 8)"
    many = [row(n, records=n) for n in range(100)]  # newest has 0, oldest 99
    caption = spark_caption(many, 80)
    assert len(caption) <= 80
    blocks = caption[len(SPARK_LABEL) :].split(" ")[0]
    assert blocks[-1] == "▁" and len(blocks) == 80 - len(SPARK_LABEL) - len(" (max 9,999,999)")


# --- the table --------------------------------------------------------------------------------


def render(runs: list[RunRow], width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(runs_view(runs, NOW, width))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def test_the_widest_runs_fit_80_columns_without_cutting_anything() -> None:
    widest = [
        row(24 * 999, status="interrupted", accounts_expected=999, accounts_done=998,
            accounts_failed=1, records=999_999, errors=99_999, cost_usd=Decimal("0.00001")),
        row(1, status="failed to start", duration_seconds=86_399.0, records=12_345_678,
            cost_usd=Decimal("0.0042")),
        row(2, status="incomplete", records=0, cost_usd=Decimal("123.45")),
    ]  # fmt: skip
    text = render(widest)
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "…" not in text
    first = lines[3].split()
    assert first == [widest[0].run_id, "2y", "1m30s", "998/999", "999,999", "99,999",
                     "interrupted", "<$0.0001"]  # fmt: skip
    assert lines[4].split()[1:] == ["1h", "23h59m", "120/120", "12.3M", "0", "not", "started",
                                    "$0.0042"]  # fmt: skip
    assert lines[5].split()[-2:] == ["incomplete", "$123.45"]


def test_a_running_run_shows_how_long_it_has_been_going() -> None:
    running = row(0, status="running", duration_seconds=None, finished_at=None)
    running = dataclasses.replace(
        running, started_at=(NOW - dt.timedelta(minutes=3, seconds=5)).isoformat()
    )
    assert render([running]).splitlines()[3].split()[1:3] == ["3m", "3m05s"]


def test_what_the_columns_leave_out_is_a_line_under_the_table() -> None:
    runs = [
        row(0, accounts_failed=2, deliveries={"slack": "sent", "email": "failed: 403"}),
        row(1, deliveries={"slack": "sent"}),
        row(2, deliveries={"sns": "failed: no topic"}),
    ]
    assert problems(runs) == [
        f"{runs[0].run_id}: 2 account(s) failed; email not told (failed: 403)",
        f"{runs[2].run_id}: sns not told (failed: no topic)",
    ]
    text = render(runs)
    assert text.index("2 account(s) failed") < text.index(SPARK_LABEL)


def test_no_runs_yet() -> None:
    assert render([]).strip() == "no runs yet"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (999_999, "999,999"), (1_000_000, "1.00M"), (9_999_999, "10.0M"),
     (123_456_789, "123M"), (999_999_999, "1.00B"), (1_234_567_890, "1.23B")],
)  # fmt: skip
def test_counts_stay_exact_below_a_million_then_three_digits(value: int, shown: str) -> None:
    assert count(value) == shown


# --- JSON -------------------------------------------------------------------------------------


def test_json_is_one_array_and_jsonl_an_object_a_line() -> None:
    runs = [row(0, cost_usd=Decimal("0.5")), row(1)]
    as_json = io.StringIO()
    write_runs_json(runs, as_json)
    assert json.loads(as_json.getvalue()) == [run.as_dict() for run in runs]
    as_jsonl = io.StringIO()
    write_runs_jsonl(runs, as_jsonl)
    assert [json.loads(line) for line in as_jsonl.getvalue().splitlines()] == [
        run.as_dict() for run in runs
    ]
    # A run a line, between the brackets: greppable, and what `runs --format json` always wrote.
    assert (
        as_json.getvalue()
        == "[\n" + ",\n".join(json.dumps(run.as_dict()) for run in runs) + "\n]\n"
    )
    assert as_jsonl.getvalue() == "".join(json.dumps(run.as_dict()) + "\n" for run in runs)
    empty = io.StringIO()
    write_runs_json([], empty)
    assert empty.getvalue() == "[]\n"
