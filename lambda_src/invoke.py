"""How one handler starts another: async Lambda invokes in the cloud, a dispatcher locally."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambda_src.settings import FleetSettings

# invoke("worker" | "notifier", payload): fire and forget.
Invoke = Callable[[str, dict[str, Any]], None]


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
