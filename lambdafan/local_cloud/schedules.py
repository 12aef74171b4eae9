"""EventBridge schedule rules, fired: the runtime reads each rule and hands its Lambda targets a
Scheduled Event at the rule's cron() or rate() times, or at once on demand (tests, the demo).

    scheduler = Scheduler(lambda region: events_client, ["us-east-1"], fire=submit_event)
    scheduler.start()        # a daemon thread; scheduler.stop() wakes and ends it at once
    scheduler.fire_rule("lambdafan-demo-schedule", "us-east-1")   # now, whatever the schedule

Like EventBridge, a rate() schedule counts from when the rule was first seen (here: by this
scheduler) or its expression changed, and a rule disabled meanwhile starts afresh. After a long
pause (the laptop slept) each rule fires once, for its latest missed time, not once per missed
time. What cannot be done as EventBridge would (L/W/# crons, non-Lambda targets, InputPath and
InputTransformer) is recorded in `notes`, once per rule and cause, never silently dropped.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from lambdafan.schedule import Cron, Rate, ScheduleError, parse_schedule

POLL_S = 1.0  # how often the thread re-reads the rules; a new or changed rule waits at most this


def scheduled_event(
    rule_arn: str, account: str, region: str, time: datetime, event_id: str
) -> dict[str, Any]:
    """The event EventBridge sends a schedule rule's target (when the target has no Input)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": _utc(time).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass(frozen=True)
class ScheduledTarget:
    """One target of one firing of a rule, with the bytes it is to receive."""

    rule_name: str
    rule_arn: str
    target_id: str
    target_arn: str
    payload: bytes
    time: datetime  # the scheduled time the event names
    note: str | None = None  # why the payload differs from what EventBridge would send

    @property
    def is_lambda(self) -> bool:
        return self.target_arn.split(":")[2:3] == ["lambda"]


def rule_targets(
    events_client: Any,
    rule_arn: str,
    time: datetime,
    *,
    event_id: str | None = None,
    event_bus: str | None = None,
) -> list[ScheduledTarget]:
    """Every target of the rule, each with its payload for a firing at `time`.

    A target's `Input` (a JSON string) is sent as is, as EventBridge does. `InputPath` and
    `InputTransformer` are not evaluated: that target gets the plain event and a `note` says so.
    """
    _, _, _, region, account, resource = rule_arn.split(":", 5)
    rule_name = resource.rsplit("/", 1)[-1]
    event = scheduled_event(rule_arn, account, region, time, event_id or str(uuid.uuid4()))
    plain = json.dumps(event).encode()
    bus = {"EventBusName": event_bus} if event_bus else {}
    targets = []
    for page in events_client.get_paginator("list_targets_by_rule").paginate(Rule=rule_name, **bus):
        for target in page["Targets"]:
            note = None
            unsupported = [key for key in ("InputPath", "InputTransformer") if key in target]
            if "Input" in target:
                payload = target["Input"].encode()
            else:
                payload = plain
                if unsupported:
                    note = (
                        f"rule {rule_name} target {target['Id']}: {unsupported[0]} is not "
                        "evaluated locally; it gets the plain Scheduled Event"
                    )
            targets.append(
                ScheduledTarget(
                    rule_name=rule_name,
                    rule_arn=rule_arn,
                    target_id=target["Id"],
                    target_arn=target["Arn"],
                    payload=payload,
                    time=time,
                    note=note,
                )
            )
    return targets


@dataclass
class _Track:
    """What the scheduler knows of one enabled rule: its expression, since when, last firing."""

    expression: str
    schedule: Rate | Cron | None  # None: not fired on ticks (invalid, or L/W/# forms)
    anchor: datetime  # first seen (or changed); a rate() counts from here
    last: datetime  # the latest scheduled time handled: fired, or the anchor


class Scheduler:
    """Fires the schedule rules of some regions' default event buses through `fire`."""

    def __init__(
        self,
        events_client_for: Callable[[str], Any],
        regions: Iterable[str],
        fire: Callable[[ScheduledTarget], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        poll_s: float = POLL_S,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self._client_for = events_client_for
        self._regions = list(dict.fromkeys(regions))
        self._fire = fire
        self._clock = clock
        self._poll_s = poll_s
        self._on_note = on_note
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._notes: list[str] = []
        self._noted: set[str] = set()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def notes(self) -> list[str]:
        """What could not be done as EventBridge would, oldest first, each said once."""
        with self._lock:
            return list(self._notes)

    def watch(self, region: str) -> None:
        """Also fire the schedule rules of `region` from the next tick on."""
        with self._lock:
            if region not in self._regions:
                self._regions.append(region)

    def fire_rule(self, name: str, region: str) -> list[ScheduledTarget]:
        """Fire every target of the rule now, as if its time had come; the Lambda ones it fired.

        Disabled rules fire too: whoever asks by name means it. The schedule is left as it was.
        """
        client = self._client_for(region)
        rule_arn = client.describe_rule(Name=name)["Arn"]
        return self._fire_targets(client, rule_arn, _utc(self._clock()).replace(microsecond=0))

    def tick(self, now: datetime | None = None) -> list[ScheduledTarget]:
        """Fire the enabled rules whose time came since the last tick; the Lambda targets fired."""
        now = _utc(self._clock() if now is None else now)
        fired: list[ScheduledTarget] = []
        failures: list[Exception] = []
        with self._lock:
            for region in list(self._regions):
                try:  # one region's failure must not stop the others' schedules
                    client = self._client_for(region)
                    for rule_arn, when in self._due(region, client, now):
                        fired += self._fire_targets(client, rule_arn, when)
                except Exception as exc:
                    failures.append(exc)
        if failures:
            raise failures[0]
        return fired

    def start(self) -> Scheduler:
        """Tick on a daemon thread, every `poll_s` (sooner if a firing is due sooner)."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="local-cloud-schedules", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Wake the thread and wait for it to end (an invocation `fire` started runs on)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    # -- the steps ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception as exc:  # moto gone, a region unknown: say so, keep ticking
                self._note(f"schedules: reading the rules failed: {type(exc).__name__}: {exc}")
            self._stopping.wait(self._wait_s())

    def _wait_s(self) -> float:
        """Seconds to the next due firing, if that is sooner than the next poll."""
        now = _utc(self._clock())
        with self._lock:
            soonest = [_next_time(track, now) for track in self._tracks.values()]
        gaps = [(time - now).total_seconds() for time in soonest if time is not None]
        return max(0.01, min([self._poll_s, *gaps]))

    def _due(self, region: str, client: Any, now: datetime) -> list[tuple[str, datetime]]:
        """The rules of `region` due at `now` with the time each fires for; updates the tracks."""
        due = []
        listed = set()
        for page in client.get_paginator("list_rules").paginate():
            for rule in page["Rules"]:
                expression = rule.get("ScheduleExpression")
                if not expression or rule.get("State") != "ENABLED":
                    continue  # a disabled rule's track is dropped: enabled again, it starts afresh
                key = (region, rule["Arn"])
                listed.add(key)
                track = self._tracks.get(key)
                if track is None or track.expression != expression:
                    schedule = self._schedule(rule["Name"], expression)
                    self._tracks[key] = _Track(expression, schedule, now, now)
                    continue
                when = _latest_due(track, now)
                if when is not None:
                    track.last = when
                    due.append((rule["Arn"], when))
        for key in [key for key in self._tracks if key[0] == region and key not in listed]:
            del self._tracks[key]
        return due

    def _schedule(self, name: str, expression: str) -> Rate | Cron | None:
        """The parsed schedule, or None (and a note) for one this module cannot fire."""
        try:
            parsed = parse_schedule(expression)
        except ScheduleError as exc:
            self._note(f"rule {name}: {expression} is not valid ({exc}); it never fires locally")
            return None
        if isinstance(parsed, Cron) and not parsed.evaluable:
            self._note(
                f"rule {name}: {expression} uses L, W, # or a wrapping range, which are not "
                "evaluated locally; it fires only on demand"
            )
            return None
        return parsed

    def _fire_targets(self, client: Any, rule_arn: str, when: datetime) -> list[ScheduledTarget]:
        fired = []
        for target in rule_targets(client, rule_arn, when):
            if target.note:
                self._note(target.note)
            if not target.is_lambda:
                self._note(
                    f"rule {target.rule_name} target {target.target_id}: {target.target_arn} "
                    "is not a Lambda function; only Lambda targets are fired locally"
                )
                continue
            try:
                self._fire(target)
            except Exception as exc:  # one target's failure must not cost the others theirs
                self._note(
                    f"rule {target.rule_name}: firing {target.target_arn} for "
                    f"{target.time.isoformat()} failed: {type(exc).__name__}: {exc}"
                )
                continue
            fired.append(target)
        return fired

    def _note(self, text: str) -> None:
        with self._lock:
            if text in self._noted:
                return
            self._noted.add(text)
            self._notes.append(text)
        if self._on_note is not None:
            self._on_note(text)


def _latest_due(track: _Track, now: datetime) -> datetime | None:
    """The latest scheduled time in (track.last, now], if any: one firing however many passed."""
    if isinstance(track.schedule, Rate):
        interval = timedelta(minutes=track.schedule.minutes)
        rated = track.anchor + interval * ((now - track.anchor) // interval)
        return rated if rated > track.last else None
    if track.schedule is None:
        return None
    latest: datetime | None = None
    for time in track.schedule.firings(_next_minute(track.last)):
        if time > now:
            break
        latest = time
    return latest


def _next_time(track: _Track, now: datetime) -> datetime | None:
    """When the track next fires after `now`; None if never (or not known)."""
    if isinstance(track.schedule, Rate):
        interval = timedelta(minutes=track.schedule.minutes)
        return track.anchor + interval * ((now - track.anchor) // interval + 1)
    if track.schedule is None:
        return None
    return next(track.schedule.firings(_next_minute(max(track.last, now))), None)


def _next_minute(time: datetime) -> datetime:
    """The first whole minute strictly after `time`: a cron time at `time` has been handled."""
    return time.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _utc(time: datetime) -> datetime:
    return (
        time.replace(tzinfo=timezone.utc) if time.tzinfo is None else time.astimezone(timezone.utc)
    )
