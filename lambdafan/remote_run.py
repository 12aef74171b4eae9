"""`lambdafan run --now`: start the deployed Director and watch the run item until it completes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from lambda_src import runs, status, table
from lambda_src.names import function_name
from lambda_src.runs import Clock
from lambda_src.settings import FleetSettings
from lambda_src.table import Item, ItemStore
from lambdafan.errors import LambdafanError

POLL_INTERVAL_S = 2.0
# How long the Director may take to create the run item before we say it did not start.
START_GRACE_S = 60.0


class RunNotStarted(LambdafanError):
    pass


class RunStillRunning(LambdafanError):
    pass


def start_run(
    lambda_client: Any,
    settings: FleetSettings,
    *,
    accounts: Sequence[str] | None,
    scripts: Sequence[str] | None,
    clock: Clock = runs.utcnow,
) -> str:
    """Invoke the Director asynchronously; the run id is chosen here so it can be shown at once."""
    run_id = runs.new_run_id(clock())
    payload: dict[str, Any] = {"run_id": run_id, "trigger": "manual"}
    if accounts:
        payload["accounts"] = list(accounts)
    if scripts:
        payload["scripts"] = list(scripts)
    lambda_client.invoke(
        FunctionName=function_name(settings.fleet, "director"),
        InvocationType="Event",
        Payload=json.dumps(payload).encode("utf-8"),
    )
    return run_id


def wait_for_run(
    store: ItemStore,
    run_id: str,
    *,
    timeout_s: float,
    on_update: Callable[[Item], None],
    interval_s: float = POLL_INTERVAL_S,
    start_grace_s: float = START_GRACE_S,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Item:
    """Poll the run item until the run has ended (or passed its deadline); the last item read."""
    started = monotonic()
    while True:
        run = table.get_run(store, run_id)
        elapsed = monotonic() - started
        if run is None:
            if elapsed > min(start_grace_s, timeout_s):
                raise RunNotStarted(
                    f"the Director did not start run {run_id} within {elapsed:.0f}s: "
                    "see `lambdafan logs director` (an endpoint that cannot run Lambda code, "
                    "like moto, needs `lambdafan run --now --local`)"
                )
        else:
            on_update(run)
            # Ended in any way, or past its deadline (closed as incomplete by the next Director).
            if status.is_finished(run.get("status")) or runs.is_overdue(run, runs.utcnow()):
                return run
            if elapsed > timeout_s:
                raise RunStillRunning(
                    f"run {run_id} is still running after {timeout_s:.0f}s: "
                    f"follow it with `lambdafan results --follow --run {run_id}`"
                )
        sleep(interval_s)
