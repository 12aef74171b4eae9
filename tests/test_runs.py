"""A run's lifecycle: its id, start, each account finishing once, and exactly one completion."""

from __future__ import annotations

from lambda_src import runs


def test_run_ids_sort_by_start_time() -> None:
    import datetime as dt

    early = runs.new_run_id(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    late = runs.new_run_id(dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.timezone.utc))
    assert early.startswith("20260102T030405Z-") and early < late
