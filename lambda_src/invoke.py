"""How one handler starts another: async Lambda invokes in the cloud, a dispatcher locally."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from lambda_src.settings import FleetSettings

# invoke("worker" | "notifier", payload): fire and forget.
Invoke = Callable[[str, dict[str, Any]], None]
log = logging.getLogger(__name__)


def lambda_invoker(lambda_client: Any, settings: FleetSettings) -> Invoke:
    """An `Invoke` that starts the fleet's functions asynchronously (InvocationType=Event)."""
    functions = {"worker": settings.worker_function, "notifier": settings.notifier_function}

    def invoke(kind: str, payload: dict[str, Any]) -> None:
        lambda_client.invoke(
            FunctionName=functions[kind],
            InvocationType="Event",
            Payload=json.dumps(payload).encode("utf-8"),
        )

    return invoke


def notify_completed(invoke: Invoke, run_id: str) -> None:
    """Start the Notifier for a completed run. A failure is logged and raised: Lambda retries the
    caller, whose retry finds the run ended and not reported, and starts the Notifier then."""
    try:
        invoke("notifier", {"run_id": run_id})
    except Exception:
        log.exception("run %s has ended but the Notifier could not be started", run_id)
        raise
