"""The Lambda entry points wire bundled settings and real boto3 clients into the handlers."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambda_src import handlers, names, runs, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.metrics import NAMESPACE
from lambda_src.settings import SETTINGS_FILE_ENV, FleetSettings
from tests.conftest import create_table, make_settings

A, B = "111111111111", "222222222222"


class FakeContext:
    memory_limit_in_mb = "1024"  # Lambda's context gives it as text

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetSettings]:
    """moto (Lambda without Docker), the results table, fleet.json where the bundle keeps it."""
    settings = make_settings(accounts=(A, B), scripts=("whoami",))
    (tmp_path / "fleet.json").write_text(settings.to_json())
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(tmp_path / "fleet.json"))
    for cached in (handlers._settings, handlers._session, handlers._scripts):
        cached.cache_clear()
    # In-process moto is out of a sandbox process's reach: scripts run on the handler's threads
    # here (tests/test_sandbox.py runs the real sandbox against moto's server).
    monkeypatch.setattr(handlers, "_sandbox", lambda: None)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        create_table(boto3.Session(), settings)
        yield settings
    for cached in (handlers._settings, handlers._session, handlers._scripts):
        cached.cache_clear()


def create_functions(settings: FleetSettings) -> None:
    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as bundle:
        bundle.writestr("noop.py", "def handler(event, context):\n    return None\n")
    for name in (settings.worker_function, settings.notifier_function):
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="noop.handler",
            Code={"ZipFile": code.getvalue()},
        )


def test_settings_round_trip_through_fleet_json(deployed: FleetSettings) -> None:
    assert handlers._settings() == deployed


def test_director_handler_starts_a_run_and_invokes_workers(deployed: FleetSettings) -> None:
    create_functions(deployed)
    response = handlers.director({"source": "aws.events"}, FakeContext())
    assert response["accounts"] == 2 and response["scripts"] == ["whoami"]
    store = DynamoStore(boto3.client("dynamodb"), deployed.table_name)
    run = table.get_run(store, response["run_id"])
    assert run is not None
    assert (run["trigger"], run["accounts_expected"], run["status"]) == ("schedule", 2, "running")
    # Both async invokes were accepted: no account was marked failed.
    assert list(table.run_errors(store, response["run_id"])) == []


def test_director_marks_accounts_failed_when_invoking_the_worker_fails(
    deployed: FleetSettings,
) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ResourceNotFoundException", "Message": "no such function"}},
            "Invoke",
        )

    handlers._session().events.register("before-call.lambda.Invoke", refuse)
    # The Notifier can't be started either: the Director fails, so Lambda retries it (and its
    # retry, finding the run ended and not reported, starts the Notifier).
    with pytest.raises(ClientError):
        handlers.director({}, FakeContext())
    store = DynamoStore(boto3.client("dynamodb"), deployed.table_name)
    latest = table.latest_run(store)
    assert latest is not None
    response = {"run_id": latest["run_id"]}
    errors = list(table.run_errors(store, response["run_id"]))
    assert sorted(e["account_id"] for e in errors) == [A, B]
    assert all("Worker could not be started" in e["message"] for e in errors)
    assert {e["attempt"] for e in errors} == {runs.DIRECTOR_ATTEMPT}
    # Every account is accounted for, so the run completed (and tried to notify); with every
    # account failed it completed with failures (it used to say plain `complete`).
    run = table.get_run(store, response["run_id"])
    assert run is not None and run["status"] == "complete with failures"
    assert (run["accounts_done"], run["accounts_failed"]) == (2, 2)


def test_worker_handler_writes_records_and_metrics(deployed: FleetSettings) -> None:
    create_functions(deployed)
    store = DynamoStore(boto3.client("dynamodb"), deployed.table_name)
    runs.start_run(
        store, "r1", accounts=[A], scripts=["whoami"], trigger="test",
        now=runs.utcnow(), ttl_days=1, worker_timeout_s=900,
    )  # fmt: skip
    event = {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1"]}

    response = handlers.worker(event, FakeContext())

    assert response == {
        "run_id": "r1",
        "account_id": A,
        "records": 1,
        "errors": 0,
        "completed_run": True,
        "duplicate": False,
        "failed": False,
    }
    metrics = boto3.client("cloudwatch").list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {m["MetricName"] for m in metrics} == {"Records", "Errors", "AccountDuration"}
    summary = handlers.notifier({"run_id": "r1"}, FakeContext())
    assert summary["summary"]["records"] == 1 and "records: 1" in summary["text"]
    # Lambda delivering the same event again: the account is done, so it runs nothing (no
    # records of its own), counts nothing and leaves nothing.
    again = handlers.worker(event, FakeContext())
    assert (again["duplicate"], again["completed_run"], again["records"]) == (True, False, 0)
    assert len(list(store.query(names.records_pk("r1", A)))) == 1
    assert len(list(table.run_records(store, "r1"))) == 1
