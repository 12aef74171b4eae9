"""Deploy's reads of what exists: all of a fleet's resources at once, errors surfacing in one
order, and only the clients a deploy uses ever built."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdafan.aws import Aws
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.fleet import plan_deploy
from lambdafan.deploy.state import read_fleet_state
from tests.test_plan import config, model

# Three log groups, three roles, three functions, the table, the queue, the schedule rule.
RESOURCES = 12
WAIT_S = 10


def missing(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, operation)


class Fleet:
    """Fake clients whose first read of each resource waits until every resource's has begun
    (read one after another, the first would wait in vain: the barrier breaks), then finds
    nothing."""

    def __init__(self, parties: int = RESOURCES, fail: dict[str, ClientError] | None = None):
        self.barrier = threading.Barrier(parties, timeout=WAIT_S)
        self.fail = fail or {}
        self.threads: set[str] = set()

    def read(self, operation: str) -> None:
        self.threads.add(threading.current_thread().name)
        if operation in self.fail:
            raise self.fail[operation]
        self.barrier.wait()

    def clients(self) -> DeployClients:
        fleet = self

        class Logs:
            def describe_log_groups(self, **_: Any) -> dict[str, Any]:
                fleet.read("DescribeLogGroups")
                return {"logGroups": []}

        class Iam:
            def get_role(self, **_: Any) -> dict[str, Any]:
                fleet.read("GetRole")
                raise missing("GetRole")

        class Lambda:
            def get_function(self, **_: Any) -> dict[str, Any]:
                fleet.read("GetFunction")
                raise missing("GetFunction")

        class Dynamodb:
            def describe_table(self, **_: Any) -> dict[str, Any]:
                fleet.read("DescribeTable")
                raise missing("DescribeTable")

        class Sqs:
            def get_queue_url(self, **_: Any) -> dict[str, Any]:
                fleet.read("GetQueueUrl")
                raise missing("GetQueueUrl")

        class Events:
            def describe_rule(self, **_: Any) -> dict[str, Any]:
                fleet.read("DescribeRule")
                raise missing("DescribeRule")

        return DeployClients(
            iam=Iam(),
            lambda_=Lambda(),
            logs=Logs(),
            events=Events(),
            dynamodb=Dynamodb(),
            sts=None,
            sqs=Sqs(),
        )


def test_every_resource_of_the_fleet_is_read_at_once(tmp_path: Path) -> None:
    fleet = Fleet()
    state = read_fleet_state(model(tmp_path), fleet.clients())
    assert (state.table, state.dlq, state.schedule) == (None, None, None)
    assert (state.log_groups, state.roles, state.functions) == ({}, {}, {})
    assert len(fleet.threads) == RESOURCES
    assert threading.current_thread().name not in fleet.threads


def test_the_first_failure_in_reading_order_surfaces(tmp_path: Path) -> None:
    # The table is refused at once; the log groups (read first when reading one by one) a
    # moment later, after every other read began: theirs is the error the deploy reports.
    denied = ClientError({"Error": {"Code": "AccessDenied"}}, "DescribeLogGroups")
    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "DescribeTable")

    class Late(Fleet):
        def read(self, operation: str) -> None:
            if operation == "DescribeLogGroups":
                time.sleep(0.2)
            super().read(operation)

    # The other eight (roles, functions, queue, schedule) meet at the barrier.
    fleet = Late(RESOURCES - 4, fail={"DescribeLogGroups": denied, "DescribeTable": throttled})
    with pytest.raises(ClientError) as raised:
        read_fleet_state(model(tmp_path), fleet.clients())
    assert raised.value is denied


class Counting(Aws):
    """An Aws that notes every service a client was asked for."""

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.services: set[str] = set()

    def client(self, service: str, region: str | None = None) -> Any:
        self.services.add(service)
        return super().client(service, region)


def test_clients_are_built_when_first_used_and_only_those(aws: Any, tmp_path: Path) -> None:
    counting = Counting(aws)
    clients = DeployClients.from_aws(counting, "us-east-1")
    assert counting.services == set()
    plan = plan_deploy(config(tmp_path), clients)
    assert {c.action for c in plan.changes} == {"create"}
    # A fleet that lists its accounts never asks Organizations: no client for it.
    assert counting.services == {"sts", "logs", "iam", "lambda", "dynamodb", "sqs", "events"}
