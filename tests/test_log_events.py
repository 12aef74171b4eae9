"""Reading CloudWatch Logs once and following them: in-process moto, and Stubber for paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambdafan.errors import UsageError
from lambdafan.log_events import (
    LogGroupNotFound,
    LogQuery,
    follow_events,
    parse_since,
    read_events,
)
from lambdafan.render.status import log_line, short_stream

GROUP = "/aws/lambda/test-worker"
STREAM_A = "2026/11/26/[$LATEST]3f9a1c2b00000000000000000000000a"
STREAM_B = "2026/11/26/[$LATEST]77e0d4aa00000000000000000000000b"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def logs(aws: Any) -> Any:
    client = aws.client("logs")
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName=STREAM_A)
    client.create_log_stream(logGroupName=GROUP, logStreamName=STREAM_B)
    return client


def put(client: Any, stream: str, *events: tuple[datetime, str]) -> None:
    client.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": millis(t), "message": m} for t, m in events],
    )


def messages(events: Any) -> list[str]:
    return [e.message for e in events]


def test_read_once_in_time_order_across_streams_since_the_start(logs: Any) -> None:
    put(logs, STREAM_A, (NOW - timedelta(hours=3), "too old"), (NOW - timedelta(minutes=5), "a1"))
    put(logs, STREAM_B, (NOW - timedelta(minutes=7), "b1"), (NOW - timedelta(minutes=1), "b2\n"))
    events = list(read_events(logs, LogQuery(GROUP, start=NOW - timedelta(hours=1))))
    assert messages(events) == ["b1", "a1", "b2\n"]
    assert [e.stream for e in events] == [STREAM_B, STREAM_A, STREAM_B]
    assert events[0].timestamp == NOW - timedelta(minutes=7)
    assert log_line(events[2]) == f"{NOW - timedelta(minutes=1):%Y-%m-%d %H:%M:%S} 77e0d4aa b2"


def test_filter_pattern_and_limit_keeps_the_newest(logs: Any) -> None:
    put(
        logs,
        STREAM_A,
        *(
            (NOW - timedelta(minutes=10 - i), f"{'ERROR' if i % 2 else 'INFO'} {i}")
            for i in range(6)
        ),
    )
    start = NOW - timedelta(hours=1)
    assert messages(read_events(logs, LogQuery(GROUP, start, filter_pattern="ERROR"))) == [
        "ERROR 1",
        "ERROR 3",
        "ERROR 5",
    ]
    assert messages(read_events(logs, LogQuery(GROUP, start, limit=2))) == ["INFO 4", "ERROR 5"]


def test_missing_group_is_one_actionable_error(aws: Any) -> None:
    with pytest.raises(LogGroupNotFound, match="not found: deploy the fleet first"):
        list(read_events(aws.client("logs"), LogQuery(GROUP, NOW)))


def test_pages_are_followed_through_next_token() -> None:
    client = boto3.client("logs", region_name="us-east-1")
    start = NOW - timedelta(hours=1)
    with Stubber(client) as stub:
        expected = {"logGroupName": GROUP, "startTime": millis(start), "filterPattern": "x"}
        stub.add_response(
            "filter_log_events",
            {"events": [raw("1", NOW, "page one")], "nextToken": "t1"},
            expected,
        )
        stub.add_response(
            "filter_log_events",
            {"events": [raw("2", NOW - timedelta(seconds=1), "page two")]},
            {**expected, "nextToken": "t1"},
        )
        events = list(read_events(client, LogQuery(GROUP, start, filter_pattern="x")))
        stub.assert_no_pending_responses()
    assert messages(events) == ["page two", "page one"]


def raw(event_id: str, at: datetime, message: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "timestamp": millis(at),
        "logStreamName": STREAM_A,
        "message": message,
    }


def sleeper(*actions: Callable[[], None]) -> tuple[list[float], Callable[[float], None]]:
    """A sleep that runs one action per call, then stops the follower like Ctrl-C would."""
    slept: list[float] = []
    pending = list(actions)

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if not pending:
            raise KeyboardInterrupt
        pending.pop(0)()

    return slept, sleep


def test_follow_yields_each_event_once_then_new_ones(logs: Any) -> None:
    put(
        logs, STREAM_A, (NOW - timedelta(minutes=2), "old"), (NOW - timedelta(seconds=2), "same ms")
    )
    put(logs, STREAM_B, (NOW - timedelta(seconds=2), "same ms too"))
    slept, sleep = sleeper(
        lambda: put(logs, STREAM_A, (NOW, "new"), (NOW + timedelta(seconds=1), "newer")),
        lambda: None,  # a poll with nothing new
        lambda: put(logs, STREAM_B, (NOW + timedelta(seconds=3), "last")),
    )
    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        for event in follow_events(logs, LogQuery(GROUP, NOW - timedelta(hours=1)), sleep=sleep):
            seen.append(event.message)
    assert sorted(seen[:3]) == ["old", "same ms", "same ms too"] and seen[0] == "old"
    assert seen[3:] == ["new", "newer", "last"]
    assert slept == [2.0] * 4


def test_follow_late_arrival_within_the_window_is_shown_once(logs: Any) -> None:
    put(logs, STREAM_A, (NOW, "first"))
    # Ingested after `first` was shown, but stamped 10 seconds earlier.
    _, sleep = sleeper(lambda: put(logs, STREAM_B, (NOW - timedelta(seconds=10), "late")))
    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        for event in follow_events(logs, LogQuery(GROUP, NOW - timedelta(hours=1)), sleep=sleep):
            seen.append(event.message)
    assert seen == ["first", "late"]


def test_follow_with_a_limit_never_shows_older_events_later(logs: Any) -> None:
    put(logs, STREAM_A, *((NOW - timedelta(seconds=5 - i), f"e{i}") for i in range(5)))
    _, sleep = sleeper(lambda: put(logs, STREAM_A, (NOW + timedelta(seconds=1), "new")))
    seen: list[str] = []
    query = LogQuery(GROUP, NOW - timedelta(hours=1), limit=2)
    with pytest.raises(KeyboardInterrupt):
        for event in follow_events(logs, query, sleep=sleep):
            seen.append(event.message)
    assert seen == ["e3", "e4", "new"]


def test_follow_stops_cleanly_when_the_consumer_stops(logs: Any) -> None:
    put(logs, STREAM_A, (NOW, "only"))
    follower = follow_events(
        logs, LogQuery(GROUP, NOW - timedelta(minutes=1)), sleep=lambda _: None
    )
    assert next(follower).message == "only"
    follower.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        (" 1h ", timedelta(hours=1)),
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["5x", "h", "1.5h", "-1h", "1 h", "", "1w"])
def test_bad_since_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        parse_since(text)


def test_short_stream_names() -> None:
    assert short_stream(STREAM_A) == "3f9a1c2b"
    assert short_stream("my-stream-without-brackets") == "brackets"
