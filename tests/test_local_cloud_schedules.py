"""The local runtime's EventBridge schedules: rules read from moto, targets fired on time."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdafan.local_cloud.schedules import (
    ScheduledTarget,
    Scheduler,
    rule_targets,
    scheduled_event,
)
from tests.conftest import REGION

ACCOUNT = "123456789012"  # moto's default account
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:director"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue"
T0 = datetime(2026, 11, 27, 5, 59, 30, tzinfo=timezone.utc)


@pytest.fixture
def events() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("events", region_name=REGION)


class Recorder:
    """A `fire` that remembers what it was given and can be waited for."""

    def __init__(self) -> None:
        self.fired: list[ScheduledTarget] = []
        self.called = threading.Event()

    def __call__(self, target: ScheduledTarget) -> None:
        self.fired.append(target)
        self.called.set()


def scheduler_for(events: Any, fire: Recorder, **kwargs: Any) -> Scheduler:
    return Scheduler(lambda region: events, [REGION], fire, **kwargs)


def schedule_rule(
    events: Any, name: str, expression: str, *, state: str = "ENABLED", **target: Any
) -> str:
    arn: str = events.put_rule(Name=name, ScheduleExpression=expression, State=state)["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "director", "Arn": FUNCTION, **target}])
    return arn


def at(hour: int, minute: int, second: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=timezone.utc)


def test_scheduled_event_has_eventbridges_shape() -> None:
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly"
    assert scheduled_event(rule, ACCOUNT, REGION, at(6, 0), "e-1") == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-27T06:00:00Z",
        "region": REGION,
        "resources": [rule],
        "detail": {},
    }


def test_rule_targets_send_the_event_or_the_targets_input(events: Any) -> None:
    arn = schedule_rule(events, "nightly", "cron(0 6 * * ? *)")
    events.put_targets(
        Rule="nightly",
        Targets=[
            {"Id": "fixed", "Arn": FUNCTION, "Input": '{"run": "now"}'},
            {"Id": "path", "Arn": FUNCTION, "InputPath": "$.detail"},
        ],
    )

    targets = {t.target_id: t for t in rule_targets(events, arn, at(6, 0), event_id="e-2")}

    plain = json.loads(targets["director"].payload)
    assert plain == scheduled_event(arn, ACCOUNT, REGION, at(6, 0), "e-2")
    assert targets["director"].note is None and targets["director"].is_lambda
    assert json.loads(targets["fixed"].payload) == {"run": "now"}
    # InputPath is not evaluated: the plain event goes out, and a note says so.
    assert json.loads(targets["path"].payload) == plain
    assert targets["path"].note is not None and "InputPath" in targets["path"].note


def test_a_cron_rule_fires_at_its_time_not_before_and_not_twice(events: Any) -> None:
    schedule_rule(events, "nightly", "cron(0 6 * * ? *)")
    fire = Recorder()
    scheduler = scheduler_for(events, fire)

    assert scheduler.tick(T0) == []  # first seen
    assert scheduler.tick(at(5, 59, 59)) == []
    [target] = scheduler.tick(at(6, 0, 0))
    assert scheduler.tick(at(6, 0, 30)) == []
    assert scheduler.tick(at(6, 1)) == []
    assert scheduler.tick(at(5, 59, day=28)) == []
    [tomorrow] = scheduler.tick(at(6, 0, 5, day=28))

    assert fire.fired == [target, tomorrow]
    assert (target.target_arn, target.time) == (FUNCTION, at(6, 0))
    event = json.loads(target.payload)
    assert event["time"] == "2026-11-27T06:00:00Z" and event["detail-type"] == "Scheduled Event"
    uuid.UUID(event["id"])
    assert json.loads(tomorrow.payload)["time"] == "2026-11-28T06:00:00Z"


def test_after_a_long_pause_each_rule_fires_once_for_its_latest_time(events: Any) -> None:
    schedule_rule(events, "often", "cron(0/5 * * * ? *)")
    fire = Recorder()
    scheduler = scheduler_for(events, fire)

    scheduler.tick(T0)
    [caught_up] = scheduler.tick(at(9, 2))  # the laptop slept through 36 firings

    assert caught_up.time == at(9, 0)
    assert scheduler.tick(at(9, 4, 59)) == []
    assert [t.time for t in scheduler.tick(at(9, 5))] == [at(9, 5)]


def test_a_rate_counts_from_when_the_rule_was_first_seen_or_changed(events: Any) -> None:
    schedule_rule(events, "every5", "rate(5 minutes)")
    fire = Recorder()
    scheduler = scheduler_for(events, fire)

    assert scheduler.tick(at(6, 2, 30)) == []  # first seen
    assert scheduler.tick(at(6, 7, 29)) == []
    assert [t.time for t in scheduler.tick(at(6, 7, 30))] == [at(6, 7, 30)]
    assert scheduler.tick(at(6, 12, 29)) == []
    assert [t.time for t in scheduler.tick(at(6, 12, 30))] == [at(6, 12, 30)]

    events.put_rule(Name="every5", ScheduleExpression="rate(10 minutes)")
    assert scheduler.tick(at(6, 13)) == []  # changed: counts afresh
    assert scheduler.tick(at(6, 17, 30)) == []
    assert [t.time for t in scheduler.tick(at(6, 23))] == [at(6, 23)]


def test_disabled_rules_do_not_fire_on_ticks_and_start_afresh_when_enabled(events: Any) -> None:
    schedule_rule(events, "off", "rate(1 minute)", state="DISABLED")
    fire = Recorder()
    scheduler = scheduler_for(events, fire)

    assert scheduler.tick(T0) == []
    assert scheduler.tick(at(7, 0)) == []

    events.enable_rule(Name="off")
    assert scheduler.tick(at(7, 0, 10)) == []  # no catching up on the time it was off
    assert [t.time for t in scheduler.tick(at(7, 1, 10))] == [at(7, 1, 10)]
    events.disable_rule(Name="off")
    assert scheduler.tick(at(7, 5)) == []
    assert len(fire.fired) == 1


def test_fire_rule_fires_now_on_demand_even_when_disabled(events: Any) -> None:
    arn = schedule_rule(events, "off", "cron(0 6 * * ? *)", state="DISABLED")
    fire = Recorder()
    scheduler = scheduler_for(events, fire, clock=lambda: at(12, 34, 56, day=1))

    [target] = scheduler.fire_rule("off", REGION)

    assert fire.fired == [target]
    assert (target.rule_name, target.rule_arn, target.target_arn) == ("off", arn, FUNCTION)
    assert json.loads(target.payload)["time"] == "2026-11-01T12:34:56Z"
    assert scheduler.tick(at(12, 35, day=1)) == []  # the schedule is left alone


def test_only_lambda_targets_are_fired_the_rest_noted_once(events: Any) -> None:
    schedule_rule(events, "mixed", "cron(0 6 * * ? *)")
    events.put_targets(Rule="mixed", Targets=[{"Id": "queue", "Arn": QUEUE}])
    fire = Recorder()
    heard: list[str] = []
    scheduler = scheduler_for(events, fire, on_note=heard.append)

    scheduler.tick(T0)
    [target] = scheduler.tick(at(6, 0))
    scheduler.fire_rule("mixed", REGION)

    assert target.target_arn == FUNCTION and len(fire.fired) == 2
    [note] = scheduler.notes
    assert QUEUE in note and "only Lambda targets" in note
    assert heard == [note]


def test_crons_this_module_cannot_evaluate_are_noted_and_fire_only_on_demand(
    events: Any,
) -> None:
    schedule_rule(events, "month-end", "cron(0 6 L * ? *)")
    fire = Recorder()
    scheduler = scheduler_for(events, fire)

    for day in range(25, 31):
        assert scheduler.tick(at(7, 0, day=day)) == []
    assert len(scheduler.notes) == 1 and "not evaluated locally" in scheduler.notes[0]
    assert len(scheduler.fire_rule("month-end", REGION)) == 1


def test_a_failing_fire_is_noted_and_the_other_targets_still_fire(events: Any) -> None:
    schedule_rule(events, "nightly", "cron(0 6 * * ? *)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "second", "Arn": FUNCTION + "2"}])
    fired: list[str] = []

    def fire(target: ScheduledTarget) -> None:
        if target.target_id == "director":
            raise RuntimeError("function gone")
        fired.append(target.target_id)

    scheduler = Scheduler(lambda region: events, [REGION], fire)
    scheduler.tick(T0)
    scheduler.tick(at(6, 0))

    assert fired == ["second"]
    assert any("function gone" in note for note in scheduler.notes)


def test_the_thread_fires_by_the_clock_and_stops_at_once(events: Any) -> None:
    schedule_rule(events, "nightly", "cron(0 6 * * ? *)")
    fire = Recorder()
    now = [T0]
    scheduler = scheduler_for(events, fire, clock=lambda: now[0], poll_s=60.0)
    scheduler.tick()  # seen at T0, by the same clock
    now[0] = at(6, 0, 1)

    scheduler.start()
    try:
        assert fire.called.wait(5)
    finally:
        started = time.monotonic()
        scheduler.stop()
    assert time.monotonic() - started < 1  # stop() woke the 60 s wait
    assert [t.time for t in fire.fired] == [at(6, 0)]


def test_the_thread_notes_a_failing_read_and_keeps_ticking(events: Any) -> None:
    fire = Recorder()
    broken = threading.Event()

    def client_for(region: str) -> Any:
        if not broken.is_set():
            broken.set()
            raise ConnectionError("moto is not up yet")
        return events

    schedule_rule(events, "every1", "rate(1 minute)")
    clock = iter([T0 + timedelta(minutes=n) for n in range(10_000)])
    scheduler = Scheduler(client_for, [REGION], fire, clock=lambda: next(clock), poll_s=0.01)
    scheduler.start()
    try:
        assert fire.called.wait(5)
    finally:
        scheduler.stop()
    assert any("moto is not up yet" in note for note in scheduler.notes)
