"""The desired fleet as data: which resources a config asks for, with no AWS at all."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambda_src.runs import MAX_EVENT_AGE_S, worker_event_age_s
from lambdafan.aws import Aws
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.fleet import plan_deploy, read_organization_id
from lambdafan.deploy.fleet_arns import FleetArns
from lambdafan.deploy.member_accounts import MAX_MEMBER_ACCOUNTS
from lambdafan.deploy.model import DLQ_RETENTION_S, FleetModel, fleet_model
from lambdafan.errors import LambdafanError, UsageError
from tests.test_plan import config, model


@pytest.mark.parametrize(
    ("timeout", "age"),
    [(1, 603), (60, 780), (300, 1500), (900, 3300), (7000, MAX_EVENT_AGE_S)],
)
def test_worker_event_age_is_three_attempts_and_ten_minutes_at_most_six_hours(
    timeout: int, age: int
) -> None:
    assert worker_event_age_s(timeout) == age
    # Lambda accepts 60 s to 6 h; the smallest timeout lands well inside that.
    assert 60 <= worker_event_age_s(timeout) <= 21600


def test_every_function_retries_twice_then_reaches_its_destination(tmp_path: Path) -> None:
    functions = {f.kind: f for f in model(tmp_path).functions}
    assert {k: f.retry_attempts for k, f in functions.items()} == dict.fromkeys(functions, 2)
    assert functions["director"].on_failure == functions["worker"].on_failure
    assert str(functions["worker"].on_failure).endswith(":function:plan-notifier")
    assert functions["notifier"].on_failure == (
        "arn:aws:sqs:us-east-1:123456789012:plan-notifier-dlq"
    )


def test_only_the_worker_has_an_event_age_and_it_follows_its_timeout(tmp_path: Path) -> None:
    default = {f.kind: f.max_event_age_s for f in model(tmp_path).functions}
    assert default == {"director": None, "worker": 3300, "notifier": None}
    short = model(tmp_path, functions={"worker": {"timeout": 60}})
    assert [f.max_event_age_s for f in short.functions if f.kind == "worker"] == [780]


def test_reserved_concurrency_goes_to_the_worker_only(tmp_path: Path) -> None:
    assert {f.reserved_concurrency for f in model(tmp_path).functions} == {None}
    capped = model(tmp_path, functions={"worker": {"reserved_concurrency": 20}})
    assert {f.kind: f.reserved_concurrency for f in capped.functions} == {
        "director": None,
        "worker": 20,
        "notifier": None,
    }


def test_dead_letter_queue_keeps_messages_two_weeks_encrypted_and_tagged(tmp_path: Path) -> None:
    dlq = model(tmp_path).dlq
    assert (dlq.name, dlq.retention_s, dlq.sse) == ("plan-notifier-dlq", DLQ_RETENTION_S, True)
    assert DLQ_RETENTION_S == 1209600  # SQS's maximum
    assert dlq.tags == {"lambdafan:fleet": "plan"}


# --- the organization id: found at deploy, given to the pure model ------------------------------


class FailingOrganizations:
    """An Organizations client that refuses every call with `code`."""

    def __init__(self, code: str = "") -> None:
        self.code = code
        self.calls = 0

    def describe_organization(self) -> dict[str, Any]:
        self.calls += 1
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "DescribeOrganization")


def assume_statements(model_: FleetModel) -> list[dict[str, Any]]:
    (worker,) = [r for r in model_.roles if r.name.endswith("-worker")]
    return [s for s in worker.policy["Statement"] if s["Action"] == ["sts:AssumeRole"]]


DISCOVERY = {"organization": {"enabled": True}, "exclude": ["444444444444"]}


def test_deploy_puts_the_organization_id_in_the_workers_policy(aws: Any, tmp_path: Path) -> None:
    organizations = aws.client("organizations")
    org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    clients = DeployClients.from_aws(Aws(aws), "us-east-1")
    plan = plan_deploy(config(tmp_path, accounts=DISCOVERY), clients)
    assert [
        (s["Effect"], s["Resource"], s.get("Condition")) for s in assume_statements(plan.model)
    ] == [
        (
            "Allow",
            ["arn:aws:iam::*:role/lambdafan-member"],
            {"StringEquals": {"aws:ResourceOrgID": org_id}},
        ),
        ("Deny", ["arn:aws:iam::444444444444:role/lambdafan-member"], None),
    ]


def test_a_listed_fleet_never_asks_organizations(aws: Any, tmp_path: Path) -> None:
    clients = DeployClients.from_aws(Aws(aws), "us-east-1")
    refusing = FailingOrganizations("AccessDeniedException")
    plan = plan_deploy(config(tmp_path), dataclasses.replace(clients, organizations=refusing))
    assert refusing.calls == 0
    assert [s["Resource"] for s in assume_statements(plan.model)] == [
        ["arn:aws:iam::111111111111:role/lambdafan-member"]
    ]


def test_discovery_outside_an_organization_is_a_usage_error(aws: Any, tmp_path: Path) -> None:
    clients = DeployClients.from_aws(Aws(aws), "us-east-1")
    with pytest.raises(UsageError, match=r"^organization discovery is on, but account \d{12} is"):
        plan_deploy(config(tmp_path, accounts=DISCOVERY), clients)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AccessDeniedException", LambdafanError),
        ("AWSOrganizationsNotInUseException", UsageError),
        ("ThrottlingException", ClientError),
    ],
)
def test_an_unreadable_organization_is_one_line(code: str, error: type[Exception]) -> None:
    clients = DeployClients(*[None] * 7, organizations=FailingOrganizations(code))
    with pytest.raises(error) as raised:
        read_organization_id(clients, "123456789012")
    message = str(raised.value)
    assert "\n" not in message
    if code == "AccessDeniedException":
        assert message == (
            "organization discovery is on, but account 123456789012 can't read its organization "
            "(AccessDeniedException): grant organizations:DescribeOrganization, or list the "
            "accounts instead"
        )


def test_too_many_listed_accounts_is_a_usage_error(aws: Any, tmp_path: Path) -> None:
    clients = DeployClients.from_aws(Aws(aws), "us-east-1")
    listed = [f"{n:012d}" for n in range(1, MAX_MEMBER_ACCOUNTS + 2)]
    with pytest.raises(UsageError, match=r"^accounts: 401 listed and excluded accounts are more"):
        plan_deploy(config(tmp_path, accounts={"list": listed}), clients)


def test_the_export_model_names_the_bucket_tables_and_the_workers_bucket(tmp_path: Path) -> None:
    cfg = config(tmp_path, results={"export": "s3", "ttl_days": 5})
    arns = FleetArns.from_settings(cfg.to_settings(), "123456789012")
    m = fleet_model(cfg, arns, {"whoami": (("caller_account", "string"), ("n", "bigint"))})
    assert m.export is not None
    assert m.export.bucket.name == "plan-records-123456789012-us-east-1"
    assert [(r.prefix, r.days) for r in m.export.bucket.expiry] == [
        ("records/", 5),
        ("athena-results/", 5),
    ]
    [table] = m.export.tables
    assert (table.database, table.name) == ("lambdafan_plan", "whoami")
    assert table.columns[-2:] == (("caller_account", "string"), ("n", "bigint"))
    table_input = table.table_input()
    assert table_input["PartitionKeys"] == [{"Name": "run", "Type": "string"}]
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    environments = {f.kind: f.environment for f in m.functions}
    assert environments["worker"]["LAMBDAFAN_EXPORT_BUCKET"] == m.export.bucket.name
    assert "LAMBDAFAN_EXPORT_BUCKET" not in environments["director"]
    plain = model(tmp_path)
    assert plain.export is None
    assert all("LAMBDAFAN_EXPORT_BUCKET" not in f.environment for f in plain.functions)
