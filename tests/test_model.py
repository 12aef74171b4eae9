"""The desired fleet as data: which resources a config asks for, with no AWS at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_src.runs import MAX_EVENT_AGE_S, worker_event_age_s
from lambdafan.deploy.model import DLQ_RETENTION_S
from tests.test_plan import model


@pytest.mark.parametrize(
    ("timeout", "age"),
    [(1, 603), (60, 780), (300, 1500), (900, 3300), (7000, MAX_EVENT_AGE_S)],
)
def test_worker_event_age_is_three_attempts_and_ten_minutes_at_most_six_hours(
    timeout: int, age: int
) -> None:
    assert worker_event_age_s(timeout) == age
    # Lambda accepts 60 s to 6 h; the smallest timeout lands well inside that.
    assert 60 <= worker_event_age_s(timeout) <= 21600


def test_every_function_retries_twice_then_reaches_its_destination(tmp_path: Path) -> None:
    functions = {f.kind: f for f in model(tmp_path).functions}
    assert {k: f.retry_attempts for k, f in functions.items()} == dict.fromkeys(functions, 2)
    assert functions["director"].on_failure == functions["worker"].on_failure
    assert str(functions["worker"].on_failure).endswith(":function:plan-notifier")
    assert functions["notifier"].on_failure == (
        "arn:aws:sqs:us-east-1:123456789012:plan-notifier-dlq"
    )


def test_only_the_worker_has_an_event_age_and_it_follows_its_timeout(tmp_path: Path) -> None:
    default = {f.kind: f.max_event_age_s for f in model(tmp_path).functions}
    assert default == {"director": None, "worker": 3300, "notifier": None}
    short = model(tmp_path, functions={"worker": {"timeout": 60}})
    assert [f.max_event_age_s for f in short.functions if f.kind == "worker"] == [780]


def test_reserved_concurrency_goes_to_the_worker_only(tmp_path: Path) -> None:
    assert {f.reserved_concurrency for f in model(tmp_path).functions} == {None}
    capped = model(tmp_path, functions={"worker": {"reserved_concurrency": 20}})
    assert {f.kind: f.reserved_concurrency for f in capped.functions} == {
        "director": None,
        "worker": 20,
        "notifier": None,
    }


def test_dead_letter_queue_keeps_messages_two_weeks_encrypted_and_tagged(tmp_path: Path) -> None:
    dlq = model(tmp_path).dlq
    assert (dlq.name, dlq.retention_s, dlq.sse) == ("plan-notifier-dlq", DLQ_RETENTION_S, True)
    assert DLQ_RETENTION_S == 1209600  # SQS's maximum
    assert dlq.tags == {"lambdafan:fleet": "plan"}
