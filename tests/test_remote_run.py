"""`run --now`: the Director is invoked asynchronously and the run item is polled."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from lambda_src import runs, status
from lambda_src.notifier import fail_to_start
from lambdafan.memory_store import MemoryStore
from lambdafan.remote_run import (
    RunNotStarted,
    RunStillRunning,
    not_started,
    start_run,
    wait_for_pickup,
    wait_for_run,
)
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


A, B = "111111111111", "222222222222"


def begin(store: MemoryStore, now: dt.datetime | None = None) -> None:
    # Started now unless told: a run past its deadline is over, and waiting for it ends at once.
    created, _ = runs.start_run(
        store,
        "r1",
        accounts=[A, B],
        scripts=["s"],
        trigger="manual",
        now=now or runs.utcnow(),
        ttl_days=1,
        worker_timeout_s=900,
    )
    assert created


def finish(store: MemoryStore, account: str, records: int, failed: bool = False) -> runs.Finish:
    return runs.finish_account(store, "r1", account, "name", records_by_script={"s": records},
                               errors=int(failed), failed=failed, attempt="a1", now=NOW,
                               ttl_days=1)  # fmt: skip


def test_wait_follows_the_run_until_it_completes() -> None:
    store = MemoryStore()
    seen: list[tuple[str, int]] = []

    def director_starts() -> None:
        begin(store)

    def one_done() -> None:
        assert finish(store, A, 3) is runs.Finish.COUNTED

    def all_done() -> None:
        assert finish(store, B, 4) is runs.Finish.COMPLETED

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


def _with_failures(store: MemoryStore) -> None:
    finish(store, A, 3)
    finish(store, B, 0, failed=True)


def _closed_incomplete(store: MemoryStore) -> None:
    finish(store, A, 3)
    runs.close_run(store, "r1", status.INCOMPLETE, reason="silent", error_type="NeverReported",
                   now=NOW, ttl_days=1)  # fmt: skip


def _interrupted(store: MemoryStore) -> None:
    runs.close_run(store, "r1", status.INTERRUPTED, reason="Ctrl-C", error_type="Interrupted",
                   now=NOW, ttl_days=1)  # fmt: skip


def _failed_to_start(store: MemoryStore) -> None:
    assert fail_to_start(store, "r1", message="boom", trigger="manual", now=NOW, ttl_days=1)


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (_with_failures, status.COMPLETE_WITH_FAILURES),
        (_closed_incomplete, status.INCOMPLETE),
        (_interrupted, status.INTERRUPTED),
        (_failed_to_start, status.FAILED_TO_START),
    ],
)
def test_wait_ends_however_the_run_ends(end: Any, expected: str) -> None:
    store = MemoryStore()
    begin(store)
    seen: list[str] = []
    clock = FakeTime(lambda: None, lambda: end(store))
    final = wait_for_run(
        store,
        "r1",
        timeout_s=60,
        on_update=lambda run: seen.append(run["status"]),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert final["status"] == expected
    assert seen == ["running", "running", expected]


def test_wait_ends_at_a_run_past_its_deadline() -> None:
    store = MemoryStore()
    begin(store, now=runs.utcnow() - dt.timedelta(days=1))
    clock = FakeTime()
    final = wait_for_run(store, "r1", timeout_s=60, on_update=lambda run: None,
                         sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
    # Still `running` in the table (the next Director closes it), but over: no waiting.
    assert final["status"] == "running" and runs.is_overdue(final, runs.utcnow())
    assert clock.now == 0


def test_wait_gives_up_on_a_run_that_never_starts() -> None:
    clock = FakeTime()
    with pytest.raises(RunNotStarted, match="did not start run r1"):
        wait_for_run(MemoryStore(), "r1", timeout_s=600, on_update=lambda run: None,
                     start_grace_s=10, sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
    assert 10 < clock.now <= 14


def test_wait_times_out_on_a_run_still_running() -> None:
    store = MemoryStore()
    begin(store)
    clock = FakeTime()
    with pytest.raises(RunStillRunning, match="results --follow --run r1"):
        wait_for_run(store, "r1", timeout_s=30, on_update=lambda run: None,
                     sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
    assert 30 < clock.now <= 34


def _start(client: Any, **hinted: Any) -> str:
    return start_run(
        client, make_settings(), accounts=None, scripts=None, clock=lambda: NOW, **hinted
    )


def test_start_run_reports_a_director_the_endpoint_could_not_run() -> None:
    # moto without Docker answers an Event invoke with a function error: no Director will run.
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url="http://127.0.0.1:5999")
    text = b"error running docker: Connection aborted."
    body = StreamingBody(io.BytesIO(text), len(text))
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 202, "FunctionError": "Handled",
                                     "Payload": body})  # fmt: skip
        with pytest.raises(RunNotStarted) as caught:
            _start(client)
    message = str(caught.value)
    assert message.startswith("run 20261126T224104Z-")
    assert message.endswith(
        " did not start: the endpoint http://127.0.0.1:5999 could not run test-director: "
        "error running docker: Connection aborted.; moto stores functions without running "
        "them: use `lambdafan run --now --local` to run the fleet's handlers here"
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceNotFoundException",
         "the Director function test-director not found: deploy the fleet first "
         "(lambdafan deploy)"),
        ("AccessDeniedException",
         "not allowed to invoke the Director test-director (lambda:InvokeFunction): nope"),
        ("TooManyRequestsException",
         "Lambda throttled the invoke of the Director test-director: nope; try again shortly"),
        ("ServiceException", "could not invoke the Director test-director: ServiceException: nope"),
    ],
)  # fmt: skip
def test_start_run_names_an_invoke_lambda_refused(code: str, expected: str) -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("invoke", code, "nope")
        with pytest.raises(RunNotStarted) as caught:
            _start(client)
    assert str(caught.value) == expected


def test_start_run_spells_the_deploy_it_suggests_with_the_hint() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "nope")
        with pytest.raises(RunNotStarted) as caught:
            _start(client, hint=hint)
    assert str(caught.value).endswith(
        "deploy the fleet first (lambdafan -c /fleet/lambdafan.yaml --profile ops deploy)"
    )


def test_pickup_returns_the_run_once_the_director_creates_it() -> None:
    store = MemoryStore()
    clock = FakeTime(lambda: None, lambda: begin(store))
    run = wait_for_pickup(store, "r1", limit_s=10, interval_s=0.5,
                          sleep=clock.sleep, monotonic=clock.monotonic)  # fmt: skip
    assert run is not None and run["status"] == "running"
    assert clock.now == 1.0


def test_pickup_gives_up_at_its_limit() -> None:
    clock = FakeTime()
    assert wait_for_pickup(MemoryStore(), "r1", limit_s=10, interval_s=3,
                           sleep=clock.sleep, monotonic=clock.monotonic) is None  # fmt: skip
    assert clock.now == 10  # 3 + 3 + 3 + 1: never past the limit


def test_pickup_finds_a_run_created_at_once_without_sleeping() -> None:
    store = MemoryStore()
    begin(store)
    clock = FakeTime()
    assert wait_for_pickup(store, "r1", sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.now == 0


SINCE = NOW - dt.timedelta(seconds=1)
HEAD = "run r1 did not start: test-director did not create it within 10s: "


def hint(command: str) -> str:
    """What the CLI passes (GlobalOptions.hint): the user's -c FILE and --profile kept."""
    return f"lambdafan -c /fleet/lambdafan.yaml --profile ops {command}"


def _diagnose(
    concurrency: dict[str, Any] | None,
    events: list[str] | None,
    endpoint: str | None = None,
    **hinted: Any,
) -> str:
    lambda_client = boto3.client("lambda", region_name="us-east-1", endpoint_url=endpoint)
    logs_client = boto3.client("logs", region_name="us-east-1")
    with Stubber(lambda_client) as lambdas, Stubber(logs_client) as logs:
        if concurrency is None:
            lambdas.add_client_error("get_function_concurrency", "AccessDeniedException")
        else:
            lambdas.add_response("get_function_concurrency", concurrency)
        if events is None:
            logs.add_client_error("filter_log_events", "ResourceNotFoundException")
        else:
            logs.add_response("filter_log_events", {"events": [
                {"timestamp": i, "message": m} for i, m in enumerate(events)]})  # fmt: skip
        error = not_started(lambda_client, logs_client, make_settings(), "r1",
                            waited_s=10, since=SINCE, **hinted)  # fmt: skip
    assert isinstance(error, RunNotStarted)
    return str(error)


def test_a_run_not_started_names_a_reserved_concurrency_of_0() -> None:
    assert _diagnose({"ReservedConcurrentExecutions": 0}, []) == HEAD + (
        "its reserved concurrency is 0, so Lambda throttles every invoke "
        "(aws lambda delete-function-concurrency --function-name test-director "
        "--region us-east-1)"
    )


def test_a_run_not_started_quotes_the_directors_last_error() -> None:
    events = [
        "START RequestId: 1 Version: $LATEST",
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'handlers': "
        "No module named 'x'",
        "END RequestId: 1",
        "REPORT RequestId: 1 Duration: 1 ms",
    ]
    assert _diagnose({}, events, endpoint="http://127.0.0.1:5999") == HEAD + (
        "its log says: [ERROR] Runtime.ImportModuleError: Unable to import module 'handlers': "
        "No module named 'x' (see `lambdafan logs director --since 5m`)"
    )


def test_a_run_not_started_at_an_endpoint_that_runs_no_lambda_code() -> None:
    assert _diagnose(None, None, endpoint="http://127.0.0.1:5999") == HEAD + (
        "the endpoint http://127.0.0.1:5999 accepted the invoke but no Director ran; moto "
        "stores functions without running them: use `lambdafan run --now --local` to run the "
        "fleet's handlers here"
    )


def test_a_run_not_started_on_aws_without_clues_names_the_usual_suspects() -> None:
    assert _diagnose({}, ["START RequestId: 1 Version: $LATEST"]) == HEAD + (
        "Lambda may be throttling it (reserved or account concurrency), or it fails at import "
        "or start: see `lambdafan logs director --since 5m`; if it starts later, "
        "`lambdafan runs` shows it"
    )


def test_every_command_a_not_started_run_suggests_is_spelled_by_the_hint() -> None:
    clueless = _diagnose({}, ["START RequestId: 1"], hint=hint)
    assert "see `lambdafan -c /fleet/lambdafan.yaml --profile ops logs director --since 5m`" in (
        clueless
    )
    assert "`lambdafan -c /fleet/lambdafan.yaml --profile ops runs` shows it" in clueless
    at_moto = _diagnose(None, None, endpoint="http://127.0.0.1:5999", hint=hint)
    assert "use `lambdafan -c /fleet/lambdafan.yaml --profile ops run --now --local`" in at_moto
    logged = _diagnose({}, ["[ERROR] boom"], hint=hint)
    assert "(see `lambdafan -c /fleet/lambdafan.yaml --profile ops logs director" in logged


def test_a_wait_that_gives_up_suggests_commands_spelled_by_the_hint() -> None:
    clock = FakeTime()
    with pytest.raises(RunNotStarted) as never:
        wait_for_run(MemoryStore(), "r1", timeout_s=600, on_update=lambda run: None,
                     start_grace_s=1, sleep=clock.sleep, monotonic=clock.monotonic,
                     hint=hint)  # fmt: skip
    assert "see `lambdafan -c /fleet/lambdafan.yaml --profile ops logs director`" in str(
        never.value
    )
    store = MemoryStore()
    begin(store)
    with pytest.raises(RunStillRunning) as still:
        wait_for_run(store, "r1", timeout_s=1, on_update=lambda run: None,
                     sleep=clock.sleep, monotonic=clock.monotonic, hint=hint)  # fmt: skip
    assert str(still.value).endswith(
        "follow it with `lambdafan -c /fleet/lambdafan.yaml --profile ops results --follow "
        "--run r1`"
    )
