"""`InvocationType=Event`: Lambda's retries of a failed event, then its destinations.

Lambda runs an async event, retries it twice when it fails (about a minute, then two minutes
later; here short, injectable delays), and sends a record of the last attempt to the function's
on-failure destination (or, after a success, its on-success one) from its event invoke config.
The record's shape is Lambda's; delivering it (to a function, a queue, a topic) is the caller's.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambdafan.local_cloud.invoker import Outcome

DEFAULT_RETRY_ATTEMPTS = 2  # Lambda's default MaximumRetryAttempts
LOCAL_RETRY_DELAYS_S = (0.05, 0.1)  # Lambda waits about 60 s and then 120 s


@dataclass(frozen=True)
class EventPolicy:
    """The parts of a function's event invoke config that shape an async event's fate."""

    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    on_failure: str | None = None
    on_success: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> EventPolicy:
        """From GetFunctionEventInvokeConfig's answer (None: the function has none)."""
        if not config:
            return cls()
        destinations = config.get("DestinationConfig", {})
        return cls(
            retry_attempts=int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)),
            on_failure=destinations.get("OnFailure", {}).get("Destination") or None,
            on_success=destinations.get("OnSuccess", {}).get("Destination") or None,
        )


def destination_record(
    *,
    request_id: str,
    function_arn: str,
    event: bytes,
    outcome: Outcome,
    attempts: int,
    now: datetime.datetime,
) -> dict[str, Any]:
    """Lambda's invocation record, as a destination receives it."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if not outcome.ok:
        response["functionError"] = "Unhandled"
    return {
        "version": "1.0",
        "timestamp": now.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")[:-6]
        + "Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "Success" if outcome.ok else "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(event),
        "responseContext": response,
        "responsePayload": _json_or_text(outcome.payload),
    }


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        return data.decode("utf-8", "replace")


def run_event(
    attempt: Callable[[int], Outcome],
    policy: EventPolicy,
    *,
    delays_s: Sequence[float] = LOCAL_RETRY_DELAYS_S,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Outcome, int]:
    """Run `attempt(n)` (n from 1) until it succeeds or the retries are spent: (last, attempts)."""
    total = 1 + max(0, policy.retry_attempts)
    outcome = attempt(1)
    number = 1
    while not outcome.ok and number < total:
        sleep(delays_s[min(number - 1, len(delays_s) - 1)] if delays_s else 0.0)
        number += 1
        outcome = attempt(number)
    return outcome, number


def destination_for(policy: EventPolicy, outcome: Outcome) -> str | None:
    return policy.on_success if outcome.ok else policy.on_failure


class BackgroundEvents:
    """Runs async events on their own threads; `wait_idle` waits for all (tests, shutdown)."""

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def submit(self, work: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())
                    self._idle.notify_all()

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no event runs, including events those events started. False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._threads:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True
