"""EventBridge schedule expressions: what EventBridge accepts, and when a cron fires next."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lambdafan.schedule import (
    Cron,
    Rate,
    ScheduleError,
    eventbridge_weekday,
    next_firing,
    parse_cron,
    parse_schedule,
    rate_interval,
    schedule_problem,
)


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


# --- validation: what EventBridge accepts ------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        "cron(0 6 * * ? *)",
        "cron(0/15 * ? * MON-FRI *)",
        "cron(0/15 8-17 ? * MON-FRI *)",
        "cron(0 12 L * ? *)",
        "cron(0 12 L * ? 2030)",
        "cron(0 12 LW * ? *)",
        "cron(0 12 15W * ? *)",
        "cron(0 12 ? * L *)",
        "cron(0 12 ? * 6L *)",
        "cron(0 9 ? * 2#1 *)",
        "cron(0 10 ? * 6#3 *)",
        "cron(0 10 ? * mon#5 *)",
        "cron(0 0 1 JUL ? *)",  # names containing L and W are names, not L or W forms
        "cron(0 0 ? * WED *)",
        "cron(0 22-2 * * ? *)",  # wrapping: valid, only not evaluated
        "cron(59 23 31 12 ? 2199)",
        "cron(0 0 1 1 ? 1970)",
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "rate(1491308 days)",
    ],
)
def test_valid_schedules(schedule: str) -> None:
    assert schedule_problem(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        # The four EventBridge used to reject only at the end of a deploy.
        ("cron(99 99 * * ? *)", "minutes 99 is outside 0-59"),
        ("cron(0 6 32 13 ? *)", "day-of-month 32 is outside 1-31"),
        ("cron(0 6 1 13 ? *)", "month 13 is outside 1-12"),
        ("cron(0 6 ? * FOO *)", "day-of-week 'FOO' is not a number 1-7 or a name SUN-SAT"),
        (
            "rate(99999999999999999999 days)",
            "rate value 99999999999999999999 is too large: lambdafan caps the interval at "
            "2147483647 minutes (a 32-bit int), so at most 1491308 days",
        ),
        ("rate(1491309 days)", "rate value 1491309 is too large"),
        ("rate(35791395 hours)", "so at most 35791394 hours"),
        ("cron(0 24 * * ? *)", "hours 24 is outside 0-23"),
        ("cron(0 6 0 * ? *)", "day-of-month 0 is outside 1-31"),
        ("cron(0 6 ? * 8 *)", "day-of-week 8 is outside 1-7"),
        ("cron(0 6 * * ? 1969)", "year 1969 is outside 1970-2199"),
        ("cron(0 6 * * ? 2200)", "year 2200 is outside 1970-2199"),
        ("cron(0 6 * FOO ? *)", "month 'FOO' is not a number 1-12 or a name JAN-DEC"),
        ("cron(0/0 6 * * ? *)", "minutes step 0 is outside 1-59"),
        ("cron(0/60 6 * * ? *)", "minutes step 60 is outside 1-59"),
        ("cron(0/x 6 * * ? *)", "minutes field '0/x' is not valid"),
        ("cron(0 6 1,,2 * ? *)", "day-of-month is missing a value"),
        ("cron(0 22-2,24 * * ? *)", "hours 24 is outside 0-23"),  # checked after a wrap too
        # Wildcards only where EventBridge allows them.
        ("cron(? 6 * * ? *)", "minutes field '?' is not valid"),
        ("cron(L 6 * * ? *)", "minutes field 'L' is not valid"),
        ("cron(0 6 * JAN#1 ? *)", "month field 'JAN#1' is not valid"),
        ("cron(0 6 ? * 1/2 *)", "day-of-week field '1/2' is not valid"),
        ("cron(0 6 2#1 * ? *)", "day-of-month field '2#1' is not valid"),
        ("cron(0 6 ? * 2W *)", "day-of-week '2W' is not a number 1-7 or a name SUN-SAT"),
        ("cron(0 6 ?,1 * ? *)", "'?' must be the whole day-of-month field, got '?,1'"),
        (
            "cron(0 6 L,15 * ? *)",
            "day-of-month 'L,15': the L, W and # forms cannot be combined with other values",
        ),
        ("cron(0 6 ? * 2#6 *)", "day-of-week '2#6': the number after # must be 1-5"),
        ("cron(0 6 32W * ? *)", "day-of-month 32 is outside 1-31"),
        (
            "cron(0 6 * * L *)",
            "exactly one of day-of-month and day-of-week must be '?', got '*' and 'L'",
        ),
        ("cron(0 6 * * *)", "cron needs 6 fields, got 5"),
        ("rate(5 minute)", "use 'minutes' with 5: rate(5 minutes)"),
        ("rate(0 days)", "rate must be at least 1"),
        ("rate(-5 days)", "rate needs a whole number and a unit, like rate(5 minutes)"),
        ("rate(2 weeks)", "rate unit 'weeks' is not one of minute(s), hour(s), day(s)"),
        ("daily", "use cron(minutes hours day-of-month month day-of-week year) or rate(N unit)"),
        (
            f"cron(0 6 * * ? {','.join(['2030'] * 60)})",
            "the expression is 315 characters long; EventBridge accepts at most 256",
        ),
    ],
)
def test_invalid_schedules_say_what_is_wrong(schedule: str, problem: str) -> None:
    message = schedule_problem(schedule)
    assert message is not None
    assert message.startswith(problem) or problem in message
    assert "\n" not in message
    with pytest.raises(ScheduleError):
        parse_schedule(schedule)


def test_parse_schedule_returns_what_it_parsed() -> None:
    assert parse_schedule("rate(5 minutes)") == Rate(5, "minutes")
    assert Rate(2, "days").minutes == 2880
    cron = parse_schedule("cron(0 12 L * ? *)")
    assert isinstance(cron, Cron)
    assert not cron.evaluable  # valid, but its firings are not computed
    assert isinstance(parse_schedule("cron(0 6 * * ? *)"), Cron)
