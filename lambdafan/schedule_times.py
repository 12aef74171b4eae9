"""When an EventBridge schedule fires next. Pure: no AWS, no clock (the caller passes `now`).

EventBridge cron has six fields, `minutes hours day-of-month month day-of-week year`, evaluated in
UTC; exactly one of day-of-month and day-of-week is `?`. Weekdays are 1-7 = SUN-SAT (not cron's
0-6). The `L`, `W` and `#` forms (last day, nearest weekday, nth weekday) are not computed: a
wrong answer would be worse than "unknown", so they give None. A rate() schedule counts from
when the rule was created or last changed, which the API does not report, so it has no next time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)")


@dataclass(frozen=True)
class _Field:
    low: int
    high: int
    names: dict[str, int]


_MINUTES = _Field(0, 59, {})
_HOURS = _Field(0, 23, {})
_DAYS = _Field(1, 31, {})
_MONTH = _Field(1, 12, {k.upper(): v for k, v in MONTHS.items()})
_WEEKDAY = _Field(1, 7, WEEKDAYS)
_YEAR = _Field(1970, 2199, {})


class _Unknown(Exception):
    """A field this module does not (or cannot) evaluate."""


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field.

    `days` is None when day-of-month is `?` (weekdays decide), `weekdays` None when
    day-of-week is `?` (days of the month decide).
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None
    months: tuple[int, ...]
    weekdays: frozenset[int] | None
    years: tuple[int, ...]

    def day_matches(self, year: int, month: int, day: int) -> bool:
        if self.days is not None:
            return day in self.days
        assert self.weekdays is not None
        return eventbridge_weekday(year, month, day) in self.weekdays

    def firings(self, start: datetime) -> Iterator[datetime]:
        """Every firing at or after `start` (UTC, whole minutes), in order."""
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


def parse_cron(expression: str) -> Cron | None:
    """The cron expression's field values, or None when it is not cron(...), is malformed, or
    uses a form this module does not evaluate (L, W, #)."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if match is None:
        return None
    fields = match.group(1).split()
    if len(fields) != 6:
        return None
    minutes, hours, days, months, weekdays, years = fields
    # EventBridge requires exactly one `?`; anything else is not a schedule it would accept.
    if (days == "?") == (weekdays == "?"):
        return None
    try:
        return Cron(
            minutes=_values(minutes, _MINUTES),
            hours=_values(hours, _HOURS),
            days=None if days == "?" else frozenset(_values(days, _DAYS)),
            months=_values(months, _MONTH),
            weekdays=None if weekdays == "?" else frozenset(_values(weekdays, _WEEKDAY)),
            years=_values(years, _YEAR),
        )
    except _Unknown:
        return None


def _values(text: str, field: _Field) -> tuple[int, ...]:
    """The sorted values a field allows: `*`, numbers, names, `a-b`, lists, `*/n`, `a/n`."""
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, _Field(1, field.high, {})) if step_text else 1
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _number(first, field), _number(last, field)
            if low > high:
                raise _Unknown(part)  # a wrapping range: not documented by EventBridge
        else:
            low = _number(base, field)
            # `a/n` runs from a to the end of the field; a bare number is just itself.
            high = field.high if step_text else low
        values.update(range(low, high + 1, step))
    return tuple(sorted(values))


def _number(text: str, field: _Field) -> int:
    """One value: a number in the field's range or a name. Anything else, including the L, W
    and # forms (`L`, `15W`, `6L`, `2#1`), is unknown."""
    if text.upper() in field.names:
        return field.names[text.upper()]
    if not text.isdigit():
        raise _Unknown(text)
    value = int(text)
    if not field.low <= value <= field.high:
        raise _Unknown(text)
    return value


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
    """'every 5 minutes' for rate(5 minutes); None for anything that is not a rate()."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        return None
    return f"every {match.group(1)} {match.group(2)}"
