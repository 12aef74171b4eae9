"""Reading a fleet function's CloudWatch Logs: once, or following as events arrive.

Like Chalice's logs.py, reading once and following are two small generators over one options
object (`LogQuery`); both page through `filter_log_events` and hand back `LogEvent`s in time
order, leaving printing to the render package.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from lambdafan.aws import is_not_found
from lambdafan.errors import LambdafanError, UsageError

_SINCE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

POLL_SECONDS = 2.0
# CloudWatch may ingest an event after later ones are already visible; each poll looks back
# this far behind the newest event seen so a late arrival is still shown (once: ids dedupe).
LATE_ARRIVAL = timedelta(seconds=30)


class LogGroupNotFound(LambdafanError):
    """The function's log group does not exist: the fleet was never deployed here."""

    def __init__(self, group: str) -> None:
        super().__init__(f"log group {group} not found: deploy the fleet first")
        self.group = group


@dataclass(frozen=True)
class LogEvent:
    event_id: str
    timestamp: datetime  # UTC
    stream: str
    message: str


@dataclass(frozen=True)
class LogQuery:
    """What to read: one log group, from `start`, optionally filtered, at most `limit` events
    (the newest) when reading once."""

    group: str
    start: datetime
    filter_pattern: str | None = None
    limit: int | None = None


def parse_since(text: str) -> timedelta:
    """`30s`, `15m`, `1h`, `2d` → a timedelta; anything else is a usage error."""
    match = _SINCE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--since {text!r}: use a number and s, m, h or d, like 30m or 2h")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def fetch_events(client: Any, query: LogQuery) -> Iterator[LogEvent]:
    """Every event of the group since `query.start`, page by page, as CloudWatch returns them
    (not necessarily in time order across streams); ignores `query.limit`."""
    kwargs: dict[str, Any] = {
        "logGroupName": query.group,
        "startTime": _millis(query.start),
    }
    if query.filter_pattern:
        kwargs["filterPattern"] = query.filter_pattern
    while True:
        try:
            page = client.filter_log_events(**kwargs)
        except ClientError as exc:
            if is_not_found(exc):
                raise LogGroupNotFound(query.group) from None
            raise
        for raw in page.get("events", []):
            yield _event(raw)
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def read_events(client: Any, query: LogQuery) -> Iterator[LogEvent]:
    """The events since `query.start` in time order; with a limit, only the newest that many."""
    events = fetch_events(client, query)
    if query.limit is None:
        yield from sorted(events, key=_order)
    else:
        # A heap keeps memory at `limit` events however busy the group was.
        yield from reversed(heapq.nlargest(query.limit, events, key=_order))


def follow_events(
    client: Any,
    query: LogQuery,
    *,
    sleep: Callable[[float], None] = time.sleep,
    interval: float = POLL_SECONDS,
) -> Generator[LogEvent, None, None]:
    """The recent events (as `read_events`), then new ones as they arrive, polling every
    `interval` seconds, each event exactly once. Runs until the consumer stops (or `sleep`
    raises, e.g. KeyboardInterrupt)."""
    first = list(read_events(client, query))
    yield from first
    seen = {e.event_id: e.timestamp for e in first}
    # Older events cut by the limit must not turn up later, out of order: go on from the newest
    # shown (inclusive; its id is in `seen`).
    start = first[-1].timestamp if first and query.limit is not None else query.start
    while True:
        if seen:
            start = max(start, max(seen.values()) - LATE_ARRIVAL)
            # Events older than the window can't come back, so their ids can be forgotten.
            seen = {i: t for i, t in seen.items() if t >= start}
        sleep(interval)
        for event in read_events(client, replace(query, start=start, limit=None)):
            if event.event_id not in seen:
                seen[event.event_id] = event.timestamp
                yield event


def _order(event: LogEvent) -> tuple[datetime, str]:
    return (event.timestamp, event.event_id)


def _event(raw: dict[str, Any]) -> LogEvent:
    return LogEvent(
        event_id=str(raw["eventId"]),
        timestamp=datetime.fromtimestamp(raw["timestamp"] / 1000, tz=timezone.utc),
        stream=str(raw.get("logStreamName", "")),
        message=str(raw.get("message", "")),
    )


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class InvocationReport:
    """One invocation's figures, from the REPORT line Lambda writes when it ends."""

    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_ms: float | None
    status: str | None  # None: the handler returned; else e.g. Sandbox.Timedout


_REPORT_FIELD = re.compile(r"([A-Za-z ]+): ([^\t]+)")


def parse_report(message: str) -> InvocationReport | None:
    """The figures of a `REPORT RequestId: …` log line (None for any other line)."""
    if not message.startswith("REPORT "):
        return None
    fields = dict(_REPORT_FIELD.findall(message[len("REPORT ") :]))
    try:
        return InvocationReport(
            request_id=fields["RequestId"].strip(),
            duration_ms=float(fields["Duration"].split()[0]),
            memory_size_mb=int(fields["Memory Size"].split()[0]),
            max_memory_used_mb=int(fields["Max Memory Used"].split()[0]),
            init_ms=float(fields["Init Duration"].split()[0])
            if "Init Duration" in fields
            else None,
            status=fields["Status"].strip() if "Status" in fields else None,
        )
    except (KeyError, ValueError, IndexError):
        return None
