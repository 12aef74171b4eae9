"""The applier's retries and traps, with botocore's Stubber and injected sleep: no waiting."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from lambdafan.deploy.apply import Applier, DeployError, DeployStopped
from lambdafan.deploy.bundle import Bundle
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.model import FunctionSpec, LogGroupSpec, QueueSpec, ScheduleSpec, TableSpec
from lambdafan.deploy.plan import Change, FieldChange
from lambdafan.deploy.retry import (
    destination_not_permitted_yet,
    function_busy,
    retrying,
    role_not_assumable_yet,
)

ROLE_MESSAGE = "The role defined for the function cannot be assumed by Lambda."
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fx-worker"


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def clients(**given: Any) -> DeployClients:
    fields = dict.fromkeys(("iam", "lambda_", "logs", "events", "dynamodb", "sts", "sqs"))
    return DeployClients(**{**fields, **given})


def function_spec(data: bytes = b"zip", **changes: Any) -> FunctionSpec:
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
        **changes,
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
        with pytest.raises(DeployError, match="create function fx-worker: AWS CodeStorageExc"):
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


PERMISSION_MESSAGE = (
    "The function execution role does not have permissions to call SendMessage on "
    "arn:aws:sqs:us-east-1:123456789012:fx-notifier-dlq"
)


def test_destination_predicate() -> None:
    assert destination_not_permitted_yet(
        client_error("InvalidParameterValueException", PERMISSION_MESSAGE)
    )
    assert not destination_not_permitted_yet(client_error("InvalidParameterValueException", "x"))
    assert not destination_not_permitted_yet(client_error("AccessDeniedException", "permission"))


def test_new_function_gets_its_async_settings_and_concurrency() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    sleeps = Sleeps()
    spec = function_spec(on_failure=ARN, max_event_age_s=3300, reserved_concurrency=5)
    with Stubber(lam) as stub:
        stub.add_response("create_function", {"FunctionName": "fx-worker", "FunctionArn": ARN})
        stub.add_response("get_function", _active_function())
        expected = {
            "FunctionName": "fx-worker",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 3300,
            "DestinationConfig": {"OnFailure": {"Destination": ARN}},
        }
        # The role's policy allowing the destination has not propagated yet: wait it out.
        stub.add_client_error(
            "put_function_event_invoke_config",
            "InvalidParameterValueException",
            PERMISSION_MESSAGE,
            expected_params=expected,
        )
        stub.add_response("put_function_event_invoke_config", {}, expected)
        stub.add_response(
            "put_function_concurrency",
            {"ReservedConcurrentExecutions": 5},
            {"FunctionName": "fx-worker", "ReservedConcurrentExecutions": 5},
        )
        Applier(clients(lambda_=lam), "fx", sleep=sleeps).apply(
            [Change("create", "function", "fx-worker", spec=spec)]
        )
        stub.assert_no_pending_responses()
    assert sleeps == [2.0]


def test_new_function_without_a_cap_or_age_sets_neither() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    with Stubber(lam) as stub:
        stub.add_response("create_function", {"FunctionName": "fx-worker", "FunctionArn": ARN})
        stub.add_response("get_function", _active_function())
        stub.add_response(
            "put_function_event_invoke_config",
            {},
            {
                "FunctionName": "fx-worker",
                "MaximumRetryAttempts": 2,
                "DestinationConfig": {"OnFailure": {"Destination": ARN}},
            },
        )
        Applier(clients(lambda_=lam), "fx", sleep=Sleeps()).apply(
            [Change("create", "function", "fx-worker", spec=function_spec(on_failure=ARN))]
        )
        stub.assert_no_pending_responses()


def test_changed_event_age_puts_the_whole_async_config_again() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    spec = function_spec(on_failure=ARN, max_event_age_s=1500)
    change = Change(
        "update", "function", "fx-worker", (FieldChange("max_event_age_s", 3300, 1500),), spec
    )
    with Stubber(lam) as stub:
        # The put replaces the whole config, so the destination and retries are sent too.
        stub.add_response(
            "put_function_event_invoke_config",
            {},
            {
                "FunctionName": "fx-worker",
                "MaximumRetryAttempts": 2,
                "MaximumEventAgeInSeconds": 1500,
                "DestinationConfig": {"OnFailure": {"Destination": ARN}},
            },
        )
        Applier(clients(lambda_=lam), "fx", sleep=Sleeps()).apply([change])
        stub.assert_no_pending_responses()


def test_removed_cap_and_destination_are_deleted() -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    change = Change(
        "update",
        "function",
        "fx-worker",
        (FieldChange("on_failure", ARN, None), FieldChange("reserved_concurrency", 5, None)),
        function_spec(),
    )
    with Stubber(lam) as stub:
        stub.add_client_error("delete_function_event_invoke_config", "ResourceNotFoundException")
        stub.add_response("delete_function_concurrency", {}, {"FunctionName": "fx-worker"})
        Applier(clients(lambda_=lam), "fx", sleep=Sleeps()).apply([change])
        stub.assert_no_pending_responses()


def test_queue_is_created_then_updated_in_place() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        spec = QueueSpec("fx-notifier-dlq", 1209600, {"lambdafan:fleet": "fx"})
        applier = Applier(clients(sqs=sqs), "fx", sleep=Sleeps())
        applier.apply([Change("create", "queue", spec.name, spec=spec)])
        url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["MessageRetentionPeriod"] == "1209600"
        assert attributes["SqsManagedSseEnabled"] == "true"
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"lambdafan:fleet": "fx"}

        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"})
        sqs.untag_queue(QueueUrl=url, TagKeys=["lambdafan:fleet"])
        fields = (FieldChange("retention_s", 60, 1209600), FieldChange("tags", {}, spec.tags))
        applier.apply([Change("update", "queue", spec.name, fields, spec)])
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["MessageRetentionPeriod"] == "1209600"
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"lambdafan:fleet": "fx"}


def test_a_lost_connection_stops_the_deploy_naming_where() -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    done: list[str] = []

    def lost(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://logs.us-east-1.amazonaws.com")

    logs.meta.events.register("before-call.cloudwatch-logs.CreateLogGroup", lost)
    spec = LogGroupSpec("/aws/lambda/fx-worker", 30, {})
    applier = Applier(clients(logs=logs), "fx", on_change=lambda c: done.append(c.name))
    # DeployStopped: the CLI adds the deploy command that finishes the job (with its -c FILE).
    with pytest.raises(DeployStopped) as raised:
        applier.apply([Change("create", "log group", spec.name, spec=spec)])
    assert str(raised.value) == (
        "deploy stopped at create log group /aws/lambda/fx-worker: AWS Could not connect to the "
        'endpoint URL: "https://logs.us-east-1.amazonaws.com"'
    )
    assert done == []
