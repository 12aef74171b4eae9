"""Record tables at the terminal widths people have: ids and ARNs whole, and every column either
shown or named as left out."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console

from lambdafan.render import results as show
from lambdafan.render.records import (
    ColumnSpec,
    fit_columns,
    print_records,
    records_tables,
    results_hint,
    value_text,
)

A = "111111111111"
FIELDS = ("instance_id", "type", "state", "launch_time", "arn", "tags")


def instances(count: int = 3) -> list[dict[str, Any]]:
    """ec2_instances-like records: 6 fields, one an ARN, one a nested value."""
    return [
        {
            "account_id": A,
            "account_name": "prod-payments",
            "region": "us-east-1",
            "script": "ec2_instances",
            "instance_id": f"i-0d090d87522d{n:05d}",
            "type": "t3.medium",
            "state": "running",
            "launch_time": "2026-01-02T03:04:05+00:00",
            "arn": f"arn:aws:ec2:us-east-1:{A}:instance/i-0d090d87522d{n:05d}",
            "tags": {"team": "core", "env": "prod", "owner": "platform@example.com"},
        }
        for n in range(count)
    ]


def render(rows: list[dict[str, Any]], width: int, **kwargs: Any) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    kwargs.setdefault("hint", "see them with --format jsonl")
    for table in records_tables(rows, 20, width=width, **kwargs):
        console.print(table)
    return console.export_text()


def header_cells(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def left_out(text: str) -> list[str]:
    flat = " ".join(text.split())
    found = re.search(r"columns left out \(terminal \d+ wide\): (.*?): see them", flat)
    return [] if found is None else found.group(1).split(", ")


@pytest.mark.parametrize("width", [80, 100, 120])
def test_ids_are_whole_and_every_column_is_shown_or_named(width: int) -> None:
    rows = instances()
    text = render(rows, width)

    assert all(len(line) <= width for line in text.splitlines())
    shown = header_cells(text)
    assert shown[:3] == ["account", "account id", "region"]
    missing = left_out(text)
    # Every field is in exactly one place, and nothing is cut with an ellipsis.
    assert sorted(shown[3:] + missing) == sorted(FIELDS)
    assert "…" not in text
    for row in rows:
        assert row["account_id"] in text and row["instance_id"] in text
        if "arn" in shown:
            assert row["arn"] in text
    if missing:
        assert "see them with --format jsonl" in " ".join(text.split())


def test_what_fits_at_each_width() -> None:
    assert left_out(render(instances(), 80)) == ["state", "launch_time", "arn", "tags"]
    assert left_out(render(instances(), 100)) == ["launch_time", "arn", "tags"]
    assert left_out(render(instances(), 120)) == ["arn", "tags"]
    wide = render(instances(), 220)
    assert left_out(wide) == [] and "columns left out" not in wide
    assert instances()[0]["arn"] in wide and "platform@example.com" in wide


def test_chosen_columns_make_room_for_the_arn() -> None:
    text = render(instances(), 80, columns=["arn", "state"])
    assert header_cells(text) == ["arn", "state"]
    assert all(row["arn"] in text for row in instances())
    assert left_out(text) == []
    # Chosen columns that cannot all fit are still named.
    assert left_out(render(instances(), 80, columns=["instance_id", "arn"])) == ["arn"]


def test_free_text_wraps_at_spaces_and_long_text_is_cut_but_words_are_not() -> None:
    origin = {"account_id": A, "account_name": "prod", "region": "us-east-1", "script": "s"}
    text = render([{**origin, "note": "a reason " * 30, "id": "x" * 30}], 100)
    assert "x" * 30 in text
    assert "…" in text  # past 120 characters free text is cut in tables (jsonl keeps it)
    assert set(re.findall(r"\brea\w*", text)) == {"reason"}  # wrapped at spaces, never split


def test_left_out_names_the_hint_given() -> None:
    text = render(instances(), 80, hint="see them with --columns or --format jsonl/csv")
    assert "see them with --columns or --format jsonl/csv" in " ".join(text.split())


def test_fit_columns_skips_a_wide_column_and_keeps_a_narrower_one_after_it() -> None:
    specs = [
        ColumnSpec("a", 10, 10, False),
        ColumnSpec("arn", 70, 70, False),
        ColumnSpec("b", 5, 30, True),
    ]
    widths, out = fit_columns(specs, 40)
    assert out == ["arn"]
    # 40 - 1 border - 3 per column x 2 = 33 for the text: a takes 10, b grows from 5 to 23.
    assert widths == {"a": 10, "b": 23}


def test_print_records_says_when_there_is_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert print_records(iter(()), 5, hint="h") == 0
    assert "no records found" in capsys.readouterr().out


ERROR = {
    "account_name": "production-payments-eu",
    "account_id": A,
    "region": "ap-southeast-2",
    "script": "security_groups_open_to_world",
    "error_type": "ClientError",
    "message": "An error occurred (AccessDenied) when calling the DescribeSecurityGroups "
    f"operation: User arn:aws:sts::{A}:assumed-role/lambdafan-member/worker is not authorized",
}


def errors_at(width: int, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> str:
    recorded = Console(width=width, record=True, color_system=None, file=io.StringIO())
    monkeypatch.setattr(show, "console", recorded)
    assert show.print_error_table(rows, 5, "R", width=width, hint="h") == len(rows)
    return recorded.export_text()


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_errors_keep_names_ids_and_the_message_whole(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [ERROR, {**ERROR, "account_name": "dev", "script": "fails", "message": "boom"}]
    text = errors_at(width, rows, monkeypatch)
    assert all(len(line) <= width for line in text.splitlines())
    flat = " ".join(text.split())
    for name in ("production-payments-eu", A, "ap-southeast-2", "security_groups_open_to_world"):
        assert name in text, name
    assert "…" not in text
    # The message wraps at spaces; no word of it is split when there is room for it.
    words = ERROR["message"].split()
    assert all(word in flat for word in words if len(word) < 30)
    assert ("message" in text) == (width >= 120)  # a table where the message has room


def test_a_script_without_the_columns_picked_still_shows_its_title_whole() -> None:
    origin = {"account_id": A, "account_name": "prod", "region": "us-east-1"}
    rows = [{**origin, "script": "ec2_instances", "y": 1}, {**origin, "script": "s3", "x": 2}]
    text = render(rows, 80, columns=["y"])
    assert "ec2_instances (1 record)" in text  # one line, however narrow the table
    assert "s3 (1 record)" in text and "none of the columns picked" in text


def test_script_tables_follow_the_order_given_whichever_account_comes_first() -> None:
    # Records come account by account, and the first account has no s3_buckets record: without
    # an order its scripts would lead, and the tables' order would change from run to run.
    rows = [
        {"account_id": "1", "account_name": "a", "region": "r", "script": "ec2_instances"},
        {"account_id": "1", "account_name": "a", "region": "r", "script": "iam_users"},
        {"account_id": "2", "account_name": "b", "region": "r", "script": "iam_users"},
        {"account_id": "2", "account_name": "b", "region": "r", "script": "s3_buckets"},
        {"account_id": "2", "account_name": "b", "region": "r", "script": "not_configured"},
    ]
    order = ["s3_buckets", "ec2_instances", "iam_users"]
    titles = [
        str(t.title).split(" ")[0]
        for t in records_tables(rows, 10, order=order, width=120, hint="h")
    ]
    assert titles == [*order, "not_configured"]
    unordered = [str(t.title).split(" ")[0] for t in records_tables(rows, 10, width=120, hint="h")]
    assert unordered == ["ec2_instances", "iam_users", "s3_buckets", "not_configured"]


def test_a_table_whose_only_column_does_not_fit_keeps_its_title_and_note() -> None:
    rows = [{**instances(1)[0], "arn": "arn:aws:x:" + "y" * 100}]
    text = render(rows, 80, columns=["arn"], hint="see them with --format jsonl")
    assert "ec2_instances (1 record)" in text
    flat = " ".join(text.split())
    assert "columns left out (terminal 80 wide): arn: see them with --format jsonl" in flat
    assert "no column fits" in flat


def test_an_errors_table_of_no_rows_still_counts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Console(width=120, record=True, color_system=None, file=io.StringIO())
    monkeypatch.setattr(show, "console", recorded)
    assert show.print_error_table([ERROR, ERROR], 0, "R", width=120, hint="h") == 2
    text = recorded.export_text()
    assert "errors of run R (2)" in text and "2 more rows not shown" in text


def test_results_hint_names_the_run_and_the_config() -> None:
    hint = results_hint(
        "20260101T000000Z-3f9a1c", lambda command: f"lambdafan -c /x.yaml {command}"
    )
    assert hint == (
        "see them with `lambdafan -c /x.yaml results --run 20260101T000000Z-3f9a1c --format jsonl`"
        " (or pick some with --columns a,b)"
    )
    assert "`lambdafan results --run R --format jsonl`" in results_hint("R")


def test_value_text_is_text_as_is_and_anything_else_as_json() -> None:
    assert [value_text(v) for v in ("a b", 1, 1.5, True, None, {"k": [1]})] == [
        "a b", "1", "1.5", "true", "", '{"k": [1]}',
    ]  # fmt: skip


def test_a_column_empty_on_every_row_gives_way_to_one_with_values() -> None:
    # iam_users at 80 columns showed `password_last_used` (empty everywhere) and left out `arn`.
    rows = [
        {
            "account_name": "web",
            "account_id": A,
            "region": "global",
            "script": "iam_users",
            "user": "web-admin",
            "password_last_used": None,
            "arn": f"arn:aws:iam::{A}:user/web-admin",
        }
    ]
    text = " ".join(render(rows, 100).split())
    assert f"arn:aws:iam::{A}:user/web-admin" in text
    assert "columns left out (terminal 100 wide): password_last_used:" in text
    # Shown columns keep the records' order whatever fitted first.
    assert text.index("user") < text.index("arn:aws:iam")
