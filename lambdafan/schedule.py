"""EventBridge schedule expressions, parsed once: validated as EventBridge does, and evaluated
for the next firing time. Pure: no AWS, no clock (the caller passes `now`).

A cron expression has six fields, `minutes hours day-of-month month day-of-week year`, evaluated
in UTC; exactly one of day-of-month and day-of-week is `?`. Weekdays are 1-7 = SUN-SAT (not
cron's 0-6). The `L`, `W` and `#` forms (last day, nearest weekday, nth weekday) and wrapping
ranges (`22-2`) are valid but not evaluated: a wrong time would be worse than "unknown". A
rate() schedule counts from when the rule was created or last changed, which the API does not
report, so it has no next time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

# PutRule's ScheduleExpression is at most 256 characters (botocore's events model).
MAX_EXPRESSION_LENGTH = 256
# EventBridge documents no ceiling for rate(); lambdafan's is a 32-bit count of minutes
# (about 4085 years), so an absurd value fails here rather than at the end of a deploy.
MAX_RATE_MINUTES = 2**31 - 1
_RATE_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 24 * 60}
_RATE = re.compile(r"([0-9]+) ([a-z]+)")
_NUMBER = re.compile(r"[0-9]+")
_USAGE = "use cron(minutes hours day-of-month month day-of-week year) or rate(N unit)"


class ScheduleError(ValueError):
    """An expression EventBridge would reject; the message says why, in one line."""


@dataclass(frozen=True)
class _Field:
    """One cron field as EventBridge documents it: its range, names and wildcards."""

    name: str
    low: int
    high: int
    wildcards: str
    names: Mapping[str, int]
    step_max: int


_MINUTES = _Field("minutes", 0, 59, ",-*/", {}, 59)
_HOURS = _Field("hours", 0, 23, ",-*/", {}, 23)
_DAYS = _Field("day-of-month", 1, 31, ",-*?/LW", {}, 31)
_MONTH = _Field("month", 1, 12, ",-*/", MONTHS, 12)
_WEEKDAY = _Field("day-of-week", 1, 7, ",-*?L#", WEEKDAYS, 7)
_YEAR = _Field("year", 1970, 2199, ",-*/", {}, 2199 - 1970)
_FIELDS = (_MINUTES, _HOURS, _DAYS, _MONTH, _WEEKDAY, _YEAR)


@dataclass(frozen=True)
class Rate:
    """A parsed rate(value unit)."""

    value: int
    unit: str  # as written: "minute", "days", ...

    @property
    def minutes(self) -> int:
        """The interval in minutes."""
        return self.value * _RATE_UNIT_MINUTES[self.unit.removesuffix("s")]


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field.

    `days` is None when day-of-month is `?` (weekdays decide), `weekdays` None when
    day-of-week is `?` (days of the month decide). `evaluable` is False when a field uses a
    form not evaluated here (L, W, #, a wrapping range); that field's values are then empty.
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None
    months: tuple[int, ...]
    weekdays: frozenset[int] | None
    years: tuple[int, ...]
    evaluable: bool = True

    def day_matches(self, year: int, month: int, day: int) -> bool:
        """Whether the day-of-month or day-of-week field (whichever is not `?`) allows a date."""
        if self.days is not None:
            return day in self.days
        assert self.weekdays is not None
        return eventbridge_weekday(year, month, day) in self.weekdays

    def firings(self, start: datetime) -> Iterator[datetime]:
        """Every firing at or after `start` (UTC, whole minutes), in order."""
        if not self.evaluable:
            return
        start_day = (start.year, start.month, start.day)
        for year in self.years:
            if year < start.year:
                continue
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                for day in range(1, calendar.monthrange(year, month)[1] + 1):
                    if (year, month, day) < start_day or not self.day_matches(year, month, day):
                        continue
                    for hour in self.hours:
                        for minute in self.minutes:
                            moment = datetime(year, month, day, hour, minute, tzinfo=timezone.utc)
                            if moment >= start:
                                yield moment


def eventbridge_weekday(year: int, month: int, day: int) -> int:
    """The EventBridge day-of-week number, 1 (Sunday) to 7 (Saturday)."""
    # Python's weekday() is 0 (Monday) to 6 (Sunday).
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


# --- parsing -----------------------------------------------------------------------------------


def parse_schedule(expression: str) -> Cron | Rate:
    """The parsed cron() or rate() expression; raises `ScheduleError` if EventBridge would not
    accept it."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ScheduleError(
            f"the expression is {len(expression)} characters long; "
            f"EventBridge accepts at most {MAX_EXPRESSION_LENGTH}"
        )
    if expression.startswith("cron(") and expression.endswith(")"):
        return _parse_cron_fields(expression[5:-1].split())
    if expression.startswith("rate(") and expression.endswith(")"):
        return _parse_rate(expression[5:-1].strip())
    raise ScheduleError(_USAGE)


def schedule_problem(expression: str) -> str | None:
    """Why `expression` is not a valid EventBridge schedule expression, or None if it is."""
    try:
        parse_schedule(expression)
    except ScheduleError as exc:
        return str(exc)
    return None


def _parse_rate(body: str) -> Rate:
    match = _RATE.fullmatch(body)
    if not match:
        raise ScheduleError(
            f"rate needs a whole number and a unit, like rate(5 minutes), got rate({body})"
        )
    count, unit = int(match.group(1)), match.group(2)
    if count < 1:
        raise ScheduleError("rate must be at least 1")
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNIT_MINUTES:
        raise ScheduleError(f"rate unit {unit!r} is not one of minute(s), hour(s), day(s)")
    expected = singular if count == 1 else f"{singular}s"
    if unit != expected:
        raise ScheduleError(f"use {expected!r} with {count}: rate({count} {expected})")
    limit = MAX_RATE_MINUTES // _RATE_UNIT_MINUTES[singular]
    if count > limit:
        raise ScheduleError(
            f"rate value {count} is too large: lambdafan caps the interval at "
            f"{MAX_RATE_MINUTES} minutes (a 32-bit int), so at most {limit} {singular}s"
        )
    return Rate(count, unit)


def _parse_cron_fields(fields: list[str]) -> Cron:
    if len(fields) != len(_FIELDS):
        raise ScheduleError(f"cron needs {len(_FIELDS)} fields, got {len(fields)}")
    minutes, hours, days, months, weekdays, years = (
        _field_values(text, field) for text, field in zip(fields, _FIELDS, strict=True)
    )
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            "exactly one of day-of-month and day-of-week must be '?', "
            f"got {day_of_month!r} and {day_of_week!r}"
        )
    decided = (minutes, hours, months, years, weekdays if day_of_month == "?" else days)
    evaluable = all(values is not None for values in decided)
    return Cron(
        minutes=minutes or (),
        hours=hours or (),
        days=None if day_of_month == "?" else frozenset(days or ()),
        months=months or (),
        weekdays=None if day_of_week == "?" else frozenset(weekdays or ()),
        years=years or (),
        evaluable=evaluable,
    )


def _field_values(text: str, field: _Field) -> tuple[int, ...] | None:
    """The sorted values a field allows; None for `?` and for the forms not evaluated here.

    Raises `ScheduleError` for anything EventBridge rejects: a character the field does not
    take, a value out of range, an unknown name, a malformed L, W or # form.
    """
    upper = text.upper()
    if not upper or any(c not in _allowed_characters(field) for c in upper):
        raise ScheduleError(f"{field.name} field {text!r} is not valid")
    if upper == "?":
        return None
    parts = upper.split(",")
    # Only where the field takes them: JUL and WED are names, not L and W forms.
    if any(mark in upper for mark in "LW#" if mark in field.wildcards):
        if len(parts) > 1:
            raise ScheduleError(
                f"{field.name} {text!r}: the L, W and # forms cannot be combined with other values"
            )
        _check_special(upper, text, field)
        return None
    # Every part is checked, even after one that cannot be evaluated.
    found = [_part_values(part, text, field) for part in parts]
    if any(values is None for values in found):
        return None
    return tuple(sorted({value for values in found if values is not None for value in values}))


def _allowed_characters(field: _Field) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if field.names else ""
    return "0123456789" + field.wildcards + letters


def _part_values(part: str, text: str, field: _Field) -> range | None:
    """The values of one comma-separated part: `*`, `a`, `a-b`, each optionally `/step`."""
    if part == "?":
        raise ScheduleError(f"'?' must be the whole {field.name} field, got {text!r}")
    base, slash, step_text = part.partition("/")
    step = _step(step_text, field) if slash else 1
    if base == "*":
        return range(field.low, field.high + 1, step)
    first, dash, last = base.partition("-")
    low = _value(first, field)
    if not dash:
        # `a/n` runs from a to the end of the field; a bare number is just itself.
        return range(low, (field.high if slash else low) + 1, step)
    high = _value(last, field)
    # A wrapping range (`22-2`) is accepted but not evaluated: EventBridge does not say how.
    return range(low, high + 1, step) if low <= high else None


def _value(text: str, field: _Field) -> int:
    """One value of a field: a number in its range, or a month or weekday name."""
    if text in field.names:
        return field.names[text]
    if not text:
        raise ScheduleError(f"{field.name} is missing a value")
    if not _NUMBER.fullmatch(text):
        names = list(field.names)
        named = f" or a name {names[0]}-{names[-1]}" if names else ""
        raise ScheduleError(
            f"{field.name} {text!r} is not a number {field.low}-{field.high}{named}"
        )
    value = int(text)
    if not field.low <= value <= field.high:
        raise ScheduleError(f"{field.name} {text} is outside {field.low}-{field.high}")
    return value


def _step(text: str, field: _Field) -> int:
    if not _NUMBER.fullmatch(text):
        raise ScheduleError(f"{field.name} step {text!r} is not a whole number")
    step = int(text)
    if not 1 <= step <= field.step_max:
        raise ScheduleError(f"{field.name} step {text} is outside 1-{field.step_max}")
    return step


def _check_special(upper: str, text: str, field: _Field) -> None:
    """Validate the L, W and # forms: day-of-month `L`, `LW`, `nW`; day-of-week `L`, `nL`,
    `n#k` (the k-th weekday n of the month, k 1-5)."""
    if upper == "L":
        return
    if field is _DAYS and upper == "LW":
        return
    if field is _DAYS and upper.endswith("W"):
        _value(upper[:-1], field)
        return
    if field is _WEEKDAY and upper.endswith("L"):
        _value(upper[:-1], field)
        return
    if field is _WEEKDAY and upper.count("#") == 1:
        weekday, _, nth = upper.partition("#")
        _value(weekday, field)
        if nth not in ("1", "2", "3", "4", "5"):
            raise ScheduleError(f"{field.name} {text!r}: the number after # must be 1-5")
        return
    raise ScheduleError(f"{field.name} field {text!r} is not valid")


# --- evaluation --------------------------------------------------------------------------------


def parse_cron(expression: str) -> Cron | None:
    """The cron expression's field values, or None when it is not a valid cron(...) or uses a
    form this module does not evaluate (L, W, #, wrapping ranges)."""
    try:
        parsed = parse_schedule(expression.strip())
    except ScheduleError:
        return None
    return parsed if isinstance(parsed, Cron) and parsed.evaluable else None


def next_firing(expression: str, now: datetime) -> datetime | None:
    """The first time after `now` (UTC, whole minute) a schedule fires; None when unknown:
    rate() schedules, L/W/# forms, malformed expressions, or no firing before year 2200."""
    cron = parse_cron(expression)
    if cron is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    # Strictly after now: a rule firing this very minute has already fired (or is firing).
    start = now.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return next(cron.firings(start), None)


def rate_interval(expression: str) -> str | None:
    """'every 5 minutes' for rate(5 minutes); None for anything that is not a valid rate()."""
    try:
        parsed = parse_schedule(expression.strip())
    except ScheduleError:
        return None
    return f"every {parsed.value} {parsed.unit}" if isinstance(parsed, Rate) else None
