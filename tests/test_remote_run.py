"""`run --now`: the Director is invoked asynchronously and the run item is polled."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from lambda_src import names, runs
from lambdafan.memory_store import MemoryStore
from lambdafan.remote_run import RunNotStarted, RunStillRunning, start_run, wait_for_run
from tests.conftest import make_settings

NOW = dt.datetime(2026, 11, 26, 22, 41, 4, tzinfo=dt.timezone.utc)


def test_start_run_invokes_the_director_asynchronously_with_its_run_id() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "test-director", "InvocationType": "Event", "Payload": ANY},
        )
        sent: list[bytes] = []
        client.meta.events.register(
            "provide-client-params.lambda.Invoke",
            lambda params, **_: sent.append(params["Payload"]),
        )
        run_id = start_run(
            client, make_settings(), accounts=["111111111111"], scripts=None, clock=lambda: NOW
        )
    assert run_id.startswith("20261126T224104Z-")
    assert json.loads(sent[0]) == {
        "run_id": run_id,
        "trigger": "manual",
        "accounts": ["111111111111"],
    }


class FakeTime:
    """A clock that moves only when slept, running `on_sleep` hooks as it goes."""

    def __init__(self, *hooks: Any) -> None:
        self.now = 0.0
        self.hooks = list(hooks)

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.hooks:
            self.hooks.pop(0)()

    def monotonic(self) -> float:
        return self.now


def test_wait_follows_the_run_until_it_completes() -> None:
    store = MemoryStore()
    seen: list[tuple[str, int]] = []

    def director_starts() -> None:
        runs.start_run(store, "r1", accounts_expected=2, scripts=["s"], trigger="manual",
                       now=NOW, ttl_days=1)  # fmt: skip

    def one_done() -> None:
        store.add_member(names.run_pk("r1"), "RUN", runs.DONE_SET, "a", {"accounts_done": 1})

    def all_done() -> None:
        runs.complete_run(store, "r1", [{"records": 3}, {"records": 4}], NOW)

    clock = FakeTime(director_starts, one_done, all_done)
    final = wait_for_run(
        store,
        "r1",
        timeout_s=60,
        on_update=lambda run: seen.append((run["status"], run["accounts_done"])),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert final["status"] == "complete" and final["records"] == 7
    assert seen == [("running", 0), ("running", 1), ("complete", 2)]


def test_wait_gives_up_on_a_run_that_never_starts() -> None:
    clock = FakeTime()
    with pytest.raises(RunNotStarted, match="did not start run r1"):
        wait_for_run(MemoryStore(), "r1", timeout_s=600, on_update=lambda run: None,
                     start_grace_s=10, sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
    assert 10 < clock.now <= 14


def test_wait_times_out_on_a_run_still_running() -> None:
    store = MemoryStore()
    runs.start_run(store, "r1", accounts_expected=2, scripts=["s"], trigger="manual",
                   now=NOW, ttl_days=1)  # fmt: skip
    clock = FakeTime()
    with pytest.raises(RunStillRunning, match="results --follow --run r1"):
        wait_for_run(store, "r1", timeout_s=30, on_update=lambda run: None,
                     sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
    assert 30 < clock.now <= 34
