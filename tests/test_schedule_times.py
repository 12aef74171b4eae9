"""Next firing time of EventBridge schedule expressions, with a fixed `now`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lambdafan.schedule_times import eventbridge_weekday, next_firing, parse_cron, rate_interval


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# Thursday 2026-11-26, 22:41:04 UTC.
NOW = utc("2026-11-26T22:41:04")


@pytest.mark.parametrize(
    ("expression", "now", "expected"),
    [
        # Every day at 06:00: tomorrow morning.
        ("cron(0 6 * * ? *)", NOW, "2026-11-27T06:00"),
        # Every 15 minutes from :00 and from :05.
        ("cron(0/15 * * * ? *)", NOW, "2026-11-26T22:45"),
        ("cron(*/15 * * * ? *)", NOW, "2026-11-26T22:45"),
        ("cron(5/15 * * * ? *)", NOW, "2026-11-26T22:50"),
        ("cron(5/15 * * * ? *)", utc("2026-11-26T23:51"), "2026-11-27T00:05"),
        # Every minute: the next whole minute.
        ("cron(* * * * ? *)", NOW, "2026-11-26T22:42"),
        # Weekdays at 09:00, asked on Friday evening: Monday.
        ("cron(0 9 ? * MON-FRI *)", utc("2026-11-27T18:30"), "2026-11-30T09:00"),
        ("cron(0 9 ? * 2-6 *)", utc("2026-11-27T18:30"), "2026-11-30T09:00"),
        # ...and asked on Friday before 09:00: the same day.
        ("cron(0 9 ? * MON-FRI *)", utc("2026-11-27T08:59:59"), "2026-11-27T09:00"),
        # Weekdays are 1-7 = SUN-SAT, so 1 is Sunday and 7 Saturday.
        ("cron(0 12 ? * 1 *)", NOW, "2026-11-29T12:00"),
        ("cron(0 12 ? * SUN *)", NOW, "2026-11-29T12:00"),
        ("cron(0 12 ? * 7 *)", NOW, "2026-11-28T12:00"),
        ("cron(30 8 ? * SAT,SUN *)", NOW, "2026-11-28T08:30"),
        ("cron(0 12 ? * * *)", NOW, "2026-11-27T12:00"),
        # The first of every month, at midnight.
        ("cron(0 0 1 * ? *)", NOW, "2026-12-01T00:00"),
        ("cron(0 0 1 * ? *)", utc("2026-12-15T00:00"), "2027-01-01T00:00"),
        # Month names and numbers, lists and ranges.
        ("cron(0 0 1 JAN ? *)", NOW, "2027-01-01T00:00"),
        ("cron(0 0 1 jan ? *)", NOW, "2027-01-01T00:00"),
        ("cron(0 0 15 MAR,JUL ? *)", NOW, "2027-03-15T00:00"),
        ("cron(0 0 15 JUN-AUG ? *)", NOW, "2027-06-15T00:00"),
        ("cron(0 0 1 1/3 ? *)", NOW, "2027-01-01T00:00"),
        ("cron(0 0 1 1,4,7,10 ? *)", utc("2027-01-01T00:00"), "2027-04-01T00:00"),
        ("cron(0 10,14 * * ? *)", utc("2026-11-27T10:00"), "2026-11-27T14:00"),
        ("cron(0 8-10 * * ? *)", utc("2026-11-27T09:30"), "2026-11-27T10:00"),
        ("cron(0 0-12/6 * * ? *)", utc("2026-11-27T06:01"), "2026-11-27T12:00"),
        # The year field.
        ("cron(0 0 1 1 ? 2028)", NOW, "2028-01-01T00:00"),
        ("cron(0 6 * * ? 2027-2029)", NOW, "2027-01-01T06:00"),
        # A day only some months have: skipped months with 30 days, and non-leap Februaries.
        ("cron(0 0 31 * ? *)", NOW, "2026-12-31T00:00"),
        ("cron(0 0 29 2 ? *)", NOW, "2028-02-29T00:00"),
        # Today's firing has passed; the firing this very minute counts as passed too.
        ("cron(41 22 * * ? *)", NOW, "2026-11-27T22:41"),
        ("cron(41 22 * * ? *)", utc("2026-11-26T22:40:59"), "2026-11-26T22:41"),
    ],
)
def test_next_cron_firing(expression: str, now: datetime, expected: str) -> None:
    assert next_firing(expression, now) == utc(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 12 L * ? *)",  # last day of the month
        "cron(0 12 LW * ? *)",  # last weekday of the month
        "cron(0 12 15W * ? *)",  # weekday nearest the 15th
        "cron(0 12 ? * 6L *)",  # last Friday
        "cron(0 12 ? * 2#1 *)",  # first Monday
        "cron(0 12 ? * MON#1 *)",
    ],
)
def test_l_w_and_hash_forms_are_unknown_rather_than_guessed(expression: str) -> None:
    assert next_firing(expression, NOW) is None


@pytest.mark.parametrize(
    "expression",
    [
        "rate(5 minutes)",
        "rate(1 day)",
        "cron(0 6 * * *)",  # five fields: Unix cron, not EventBridge
        "cron(0 6 * * * *)",  # neither day field is ?
        "cron(0 6 ? * ? *)",  # both are
        "cron(60 6 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 6 0 * ? *)",
        "cron(0 6 ? * 8 *)",
        "cron(0 6 ? * FOO *)",
        "cron(0 22-2 * * ? *)",  # a wrapping range: undocumented
        "cron(0/0 6 * * ? *)",
        "cron(0 6 * * ? 2020)",  # only in the past
        "cron(0 0 30 2 ? *)",  # never
        "at(2026-12-01T00:00:00)",
        "",
    ],
)
def test_no_next_firing_for_rates_and_bad_or_impossible_crons(expression: str) -> None:
    assert next_firing(expression, NOW) is None


def test_naive_and_other_zone_datetimes_are_read_as_instants() -> None:
    assert next_firing("cron(0 6 * * ? *)", NOW.replace(tzinfo=None)) == utc("2026-11-27T06:00")
    paris = timezone(timedelta(hours=1))
    # 05:30 in Paris is 04:30 UTC: the 06:00 UTC firing is the same day.
    assert next_firing("cron(0 6 * * ? *)", datetime(2026, 11, 27, 5, 30, tzinfo=paris)) == utc(
        "2026-11-27T06:00"
    )


def test_parse_cron_values() -> None:
    cron = parse_cron("cron(0/20 9-11 ? JAN,DEC MON-FRI *)")
    assert cron is not None
    assert cron.minutes == (0, 20, 40)
    assert cron.hours == (9, 10, 11)
    assert cron.days is None
    assert cron.months == (1, 12)
    assert cron.weekdays == frozenset({2, 3, 4, 5, 6})


def test_eventbridge_weekdays_start_on_sunday() -> None:
    # 2026-11-29 is a Sunday, 2026-11-28 a Saturday.
    assert eventbridge_weekday(2026, 11, 29) == 1
    assert eventbridge_weekday(2026, 11, 30) == 2
    assert eventbridge_weekday(2026, 11, 28) == 7


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 day)", "every 1 day"),
        ("rate(5 minutes)", "every 5 minutes"),
        ("rate(12 hours)", "every 12 hours"),
        ("cron(0 6 * * ? *)", None),
        ("rate(5 fortnights)", None),
    ],
)
def test_rate_interval(expression: str, expected: str | None) -> None:
    assert rate_interval(expression) == expected
