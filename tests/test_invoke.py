"""How one handler starts another: async Lambda invokes; a failed Notifier start only logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambda_src.invoke import lambda_invoker, notify_completed
from tests.conftest import make_settings


class FakeLambda:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **params: Any) -> None:
        self.calls.append(params)


def test_lambda_invoker_starts_the_fleets_functions_asynchronously() -> None:
    client = FakeLambda()
    settings = make_settings(fleet="prod")
    invoke = lambda_invoker(client, settings)
    invoke("worker", {"run_id": "r1"})
    invoke("notifier", {"run_id": "r1"})
    assert [(c["FunctionName"], c["InvocationType"]) for c in client.calls] == [
        (settings.worker_function, "Event"),
        (settings.notifier_function, "Event"),
    ]
    assert json.loads(client.calls[0]["Payload"]) == {"run_id": "r1"}


def test_notify_completed_logs_and_raises_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    notify_completed(lambda kind, payload: sent.append((kind, payload)), "r1")
    assert sent == [("notifier", {"run_id": "r1"})]

    def refuse(kind: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("throttled")

    # Raised, so Lambda retries the caller, whose retry finds the run not reported.
    with pytest.raises(RuntimeError, match="throttled"):
        notify_completed(refuse, "r2")
    assert "run r2 has ended but the Notifier could not be started" in caplog.text
