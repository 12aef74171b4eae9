"""The applier's retries and traps, with botocore's Stubber and injected sleep: no waiting."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from lambdafan.deploy.apply import (
    Applier,
    DeployError,
    function_busy,
    retrying,
    role_not_assumable_yet,
)
from lambdafan.deploy.bundle import Bundle
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.model import FunctionSpec, ScheduleSpec, TableSpec
from lambdafan.deploy.plan import Change, FieldChange

ROLE_MESSAGE = "The role defined for the function cannot be assumed by Lambda."
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fx-worker"


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def clients(**given: Any) -> DeployClients:
    fields = dict.fromkeys(("iam", "lambda_", "logs", "events", "dynamodb", "sts"))
    return DeployClients(**{**fields, **given})


def function_spec(data: bytes = b"zip") -> FunctionSpec:
    return FunctionSpec(
        name="fx-worker",
        kind="worker",
        role_arn="arn:aws:iam::123456789012:role/fx-worker",
        handler="lambda_src.handlers.worker",
        memory=1024,
        timeout=900,
        environment={"LAMBDAFAN_FLEET": "fx"},
        bundle=Bundle(data=data, sha256="sha", files=()),
        tags={"lambdafan:fleet": "fx"},
    )


def test_retrying_retries_only_what_it_is_told() -> None:
    sleeps = Sleeps()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("InvalidParameterValueException", ROLE_MESSAGE)
        return "ok"

    assert retrying(flaky, role_not_assumable_yet, sleeps) == "ok"
    assert sleeps == [2.0, 2.0]

    def denied() -> None:
        raise client_error("AccessDeniedException", "no")

    sleeps.clear()
    with pytest.raises(ClientError):
        retrying(denied, role_not_assumable_yet, sleeps)
    assert sleeps == []

    def always_busy() -> None:
        raise client_error("ResourceConflictException", "update in progress")

    with pytest.raises(ClientError):
        retrying(always_busy, function_busy, sleeps, attempts=4)
    assert sleeps == [2.0, 2.0, 2.0]


def test_predicates() -> None:
    assert role_not_assumable_yet(client_error("InvalidParameterValueException", ROLE_MESSAGE))
    assert not role_not_assumable_yet(
        client_error("InvalidParameterValueException", "Unzipped size must be smaller")
    )
    assert function_busy(client_error("ResourceConflictException"))
    assert not function_busy(client_error("TooManyRequestsException"))


def _active_function() -> dict[str, Any]:
    return {"Configuration": {"FunctionName": "fx-worker", "State": "Active",
                              "LastUpdateStatus": "Successful"}}  # fmt: skip


def test_create_function_waits_out_role_propagation() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    sleeps = Sleeps()
    with Stubber(lam) as stub:
        for _ in range(2):
            stub.add_client_error("create_function", "InvalidParameterValueException", ROLE_MESSAGE)
        stub.add_response("create_function", {"FunctionName": "fx-worker", "FunctionArn": ARN})
        stub.add_response("get_function", _active_function())
        Applier(clients(lambda_=lam), "fx", sleep=sleeps).apply(
            [Change("create", "function", "fx-worker", spec=function_spec())]
        )
        stub.assert_no_pending_responses()
    assert sleeps == [2.0, 2.0]


def test_create_function_does_not_retry_other_errors() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    sleeps = Sleeps()
    with Stubber(lam) as stub:
        stub.add_client_error("create_function", "CodeStorageExceededException", "full")
        with pytest.raises(ClientError, match="CodeStorageExceeded"):
            Applier(clients(lambda_=lam), "fx", sleep=sleeps).apply(
                [Change("create", "function", "fx-worker", spec=function_spec())]
            )
    assert sleeps == []


def test_update_retries_a_busy_function_then_waits_before_the_code() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    sleeps = Sleeps()
    change = Change(
        "update",
        "function",
        "fx-worker",
        (FieldChange("memory", 512, 1024), FieldChange("code", "a", "b")),
        function_spec(),
    )
    with Stubber(lam) as stub:
        stub.add_client_error("update_function_configuration", "ResourceConflictException")
        stub.add_response("update_function_configuration", {"FunctionName": "fx-worker"})
        stub.add_response("get_function", _active_function())  # waiter: update done
        stub.add_response("update_function_code", {"FunctionName": "fx-worker"})
        stub.add_response("get_function", _active_function())
        Applier(clients(lambda_=lam), "fx", sleep=sleeps).apply([change])
        stub.assert_no_pending_responses()
    assert sleeps == [2.0]


def test_failed_put_targets_is_an_error_not_silence() -> None:
    events = boto3.client("events", region_name="us-east-1")
    spec = ScheduleSpec("fx-schedule", "rate(1 day)", ARN, "fx-schedule", {})
    with Stubber(events) as stub:
        stub.add_response("put_rule", {"RuleArn": "arn:aws:events:us-east-1:1:rule/fx-schedule"})
        stub.add_response(
            "put_targets",
            {
                "FailedEntryCount": 1,
                "FailedEntries": [{"TargetId": "director", "ErrorCode": "ValidationException"}],
            },
        )
        with pytest.raises(DeployError, match="schedule target not set"):
            Applier(clients(events=events), "fx", sleep=Sleeps()).apply(
                [Change("create", "schedule", "fx-schedule", spec=spec)]
            )


def _calls(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: seen.append(model.name))
    return seen


def test_ttl_is_described_before_it_is_enabled() -> None:
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        spec = TableSpec(name="fx-results", point_in_time_recovery=False, tags={})
        applier = Applier(clients(dynamodb=db), "fx", sleep=Sleeps())
        applier.apply([Change("create", "table", spec.name, spec=spec)])
        seen = _calls(db)
        # TTL already on: an update asking for it must not call update_time_to_live again.
        applier.apply(
            [Change("update", "table", spec.name, (FieldChange("ttl_attribute", None, "x"),), spec)]
        )
        assert seen == ["DescribeTimeToLive"]
        ttl = db.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED"


def test_permission_is_added_once() -> None:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name="us-east-1")
        lam = boto3.client("lambda", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as bundle:
            bundle.writestr("x.py", "")
        lam.create_function(
            FunctionName="fx-director", Runtime="python3.12", Role=role, Handler="x.h",
            Code={"ZipFile": code.getvalue()},
        )  # fmt: skip
        events = boto3.client("events", region_name="us-east-1")
        spec = ScheduleSpec("fx-schedule", "rate(1 day)", ARN, "fx-schedule", {})
        applier = Applier(clients(lambda_=lam, events=events), "fx", sleep=Sleeps())
        for _ in range(2):  # moto accepts duplicate statement ids; AWS would not
            applier.apply([Change("create", "schedule", "fx-schedule", spec=spec)])
        statements = json.loads(lam.get_policy(FunctionName="fx-director")["Policy"])["Statement"]
        assert [s["Sid"] for s in statements] == ["fx-schedule"]


def test_ttl_on_another_attribute_is_a_clear_error() -> None:
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        spec = TableSpec(name="fx-results", point_in_time_recovery=False, tags={})
        applier = Applier(clients(dynamodb=db), "fx", sleep=Sleeps())
        applier.apply([Change("create", "table", spec.name, spec=spec)])
        db.update_time_to_live(
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
        )
        db.update_time_to_live(
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "other"},
        )
        update = Change(
            "update", "table", spec.name, (FieldChange("ttl_attribute", "other", "x"),), spec
        )
        with pytest.raises(DeployError, match="uses attribute 'other'"):
            applier.apply([update])
