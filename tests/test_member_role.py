"""The member-role CloudFormation template: structure, then a real stack on moto."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_src import names
from lambdafan.deploy.member_role import member_role_template

WORKER = "arn:aws:iam::123456789012:role/prod-worker"
ROLE = "lambdafan-member"


def template(
    external_id: str | None = None, permissions: str = "ReadOnlyAccess", **extra: Any
) -> dict[str, Any]:
    text = member_role_template(
        fleet="prod",
        role_name=ROLE,
        external_id=external_id,
        permissions=permissions,  # type: ignore[arg-type]
        **{"worker_role_arn": WORKER, **extra},
    )
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def role_properties(doc: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = doc["Resources"]["MemberRole"]["Properties"]
    return props


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# --- structure ----------------------------------------------------------------------------------


def test_is_json_with_the_cloudformation_sections() -> None:
    doc = template()
    assert doc["AWSTemplateFormatVersion"] == "2010-09-09"
    assert "lambdafan" in doc["Description"]
    assert "prod" in doc["Description"]
    assert set(doc) == {
        "AWSTemplateFormatVersion",
        "Description",
        "Parameters",
        "Conditions",
        "Resources",
        "Outputs",
    }
    assert list(doc["Resources"]) == ["MemberRole"]
    assert doc["Resources"]["MemberRole"]["Type"] == "AWS::IAM::Role"
    assert doc["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": ["MemberRole", "Arn"]}


def test_every_reference_is_defined() -> None:
    """What CloudFormation checks before creating anything: Refs, GetAtts and Fn::If names."""
    doc = template("abc123")
    pseudo = {"AWS::Partition", "AWS::NoValue", "AWS::AccountId", "AWS::Region"}
    defined = set(doc["Parameters"]) | set(doc["Resources"]) | pseudo
    for node in walk(doc):
        if "Ref" in node:
            assert node["Ref"] in defined, node
        if "Fn::GetAtt" in node:
            assert node["Fn::GetAtt"][0] in doc["Resources"], node
        if "Fn::If" in node:
            assert node["Fn::If"][0] in doc["Conditions"], node
            assert len(node["Fn::If"]) == 3
        if "Fn::Sub" in node:
            assert "${AWS::Partition}" in node["Fn::Sub"]
    for parameter in doc["Parameters"].values():
        assert parameter["Type"] == "String"
        assert "Default" in parameter  # nothing to fill in when deploying


def test_worker_role_default_satisfies_its_allowed_pattern() -> None:
    """moto ignores AllowedPattern (it created a stack with WorkerRoleArn="bad"), so check here
    that the baked-in default passes it and a non-ARN does not."""
    parameter = template()["Parameters"]["WorkerRoleArn"]
    assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws-cn:iam::123456789012:role/a/b")
    assert not re.fullmatch(parameter["AllowedPattern"], "prod-worker")


def test_trusts_exactly_the_worker_role() -> None:
    doc = template()
    assert doc["Parameters"]["WorkerRoleArn"]["Default"] == WORKER
    trust = role_properties(doc)["AssumeRolePolicyDocument"]
    assert trust["Version"] == "2012-10-17"
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Ref": "WorkerRoleArn"}}


@pytest.mark.parametrize("external_id", [None, "", "abc123"])
def test_external_id_condition_is_switched_by_the_parameter(external_id: str | None) -> None:
    doc = template(external_id)
    assert doc["Parameters"]["ExternalId"]["Default"] == (external_id or "")
    assert doc["Conditions"]["HasExternalId"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]
    }
    (statement,) = role_properties(doc)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"] == {
        "Fn::If": [
            "HasExternalId",
            {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
            {"Ref": "AWS::NoValue"},
        ]
    }


@pytest.mark.parametrize("permissions", ["ReadOnlyAccess", "SecurityAudit"])
def test_managed_policy_switch(permissions: str) -> None:
    props = role_properties(template(permissions=permissions))
    assert props["ManagedPolicyArns"] == [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{permissions}"}
    ]


def test_name_session_and_fleet_tag() -> None:
    props = role_properties(template())
    assert props["RoleName"] == ROLE
    assert props["MaxSessionDuration"] == 3600
    assert props["Tags"] == [{"Key": names.FLEET_TAG, "Value": "prod"}]
    assert names.FLEET_TAG == "lambdafan:fleet"
    assert role_properties(template(max_session_duration=7200))["MaxSessionDuration"] == 7200


def test_deterministic() -> None:
    args: dict[str, Any] = {
        "fleet": "prod",
        "worker_role_arn": WORKER,
        "role_name": ROLE,
        "external_id": "x1",
        "permissions": "SecurityAudit",
    }
    assert member_role_template(**args) == member_role_template(**args)


@pytest.mark.parametrize(
    "bad",
    [
        {"permissions": "AdministratorAccess"},
        {"role_name": "has space"},
        {"role_name": "x" * 65},
        {"worker_role_arn": "prod-worker"},
        {"worker_role_arn": "arn:aws:iam::123:role/prod-worker"},
        {"external_id": "a"},
        {"external_id": "no spaces allowed"},
        {"max_session_duration": 1800},
        {"max_session_duration": 43201},
    ],
)
def test_invalid_inputs_are_refused(bad: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "fleet": "prod",
        "worker_role_arn": WORKER,
        "role_name": ROLE,
        "external_id": None,
        "permissions": "ReadOnlyAccess",
        **bad,
    }
    with pytest.raises(ValueError):
        member_role_template(**args)


# --- also trust: the fleet's own account and partition --------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        "arn:aws:iam::123456789012:role/Admin",
        "arn:aws:iam::123456789012:role/path/to/ci",
        "arn:aws:iam::123456789012:user/me",
        "arn:aws:iam::123456789012:root",
    ],
)
def test_also_trusts_principals_of_the_fleets_account(principal: str) -> None:
    (statement,) = role_properties(template(also_trust=[principal]))["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"AWS": [{"Ref": "WorkerRoleArn"}, principal]}


@pytest.mark.parametrize(
    "principal", ["arn:aws:iam::210987654321:root", "arn:aws:iam::210987654321:role/Admin"]
)
def test_another_accounts_principal_needs_allow_other_account(principal: str) -> None:
    with pytest.raises(ValueError) as refused:
        template(also_trust=["arn:aws:iam::123456789012:role/Admin", principal])
    assert str(refused.value) == (
        f"{principal} is in account 210987654321, not the fleet's account 123456789012; "
        "pass --allow-other-account to trust it anyway"
    )
    trusted = template(also_trust=[principal], allow_other_account=True)
    (statement,) = role_properties(trusted)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": [{"Ref": "WorkerRoleArn"}, principal]}


@pytest.mark.parametrize(
    ("worker", "principal"),
    [
        (WORKER, "arn:aws-cn:iam::123456789012:role/Admin"),
        ("arn:aws-cn:iam::123456789012:role/prod-worker", "arn:aws:iam::123456789012:root"),
        (WORKER, "arn:aws-us-gov:iam::123456789012:user/me"),
    ],
)
def test_a_principal_of_another_partition_is_refused_even_when_allowed(
    worker: str, principal: str
) -> None:
    for allow in (False, True):
        with pytest.raises(ValueError, match=r"is in partition aws[-a-z]*, but the fleet is in"):
            template(worker_role_arn=worker, also_trust=[principal], allow_other_account=allow)


def test_arn_partition() -> None:
    assert names.arn_partition("arn:aws-cn:iam::123456789012:root") == "aws-cn"
    assert names.arn_partition(WORKER) == "aws"
    assert names.arn_partition("Admin") == names.arn_partition("arn:") == ""


# --- a real stack (moto) ------------------------------------------------------------------------


def create_stack(text: str, parameters: dict[str, str] | None = None) -> tuple[Any, Any]:
    cloudformation, iam = boto3.client("cloudformation"), boto3.client("iam")
    cloudformation.create_stack(
        StackName="lambdafan-member",
        TemplateBody=text,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in (parameters or {}).items()
        ],
    )
    return cloudformation, iam


@pytest.mark.parametrize("external_id", [None, "abc123"])
@pytest.mark.parametrize("permissions", ["ReadOnlyAccess", "SecurityAudit"])
def test_stack_creates_the_role(external_id: str | None, permissions: str) -> None:
    text = member_role_template(
        fleet="prod",
        worker_role_arn=WORKER,
        role_name=ROLE,
        external_id=external_id,
        permissions=permissions,  # type: ignore[arg-type]
    )
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        cloudformation, iam = create_stack(text)
        stack = cloudformation.describe_stacks(StackName="lambdafan-member")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        role = iam.get_role(RoleName=ROLE)["Role"]
        assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {
            "RoleArn": role["Arn"]
        }
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"AWS": WORKER}
        assert statement["Action"] == "sts:AssumeRole"
        if external_id:
            assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": external_id}}
        else:
            assert "Condition" not in statement  # AWS::NoValue removed it
        assert role["MaxSessionDuration"] == 3600
        assert {"Key": "lambdafan:fleet", "Value": "prod"} in role["Tags"]
        # moto's AWS::IAM::Role ignores ManagedPolicyArns, so the attachment cannot be checked;
        # check instead that the ARN the template resolves to names a real AWS-managed policy.
        (managed,) = role_properties(json.loads(text))["ManagedPolicyArns"]
        arn = managed["Fn::Sub"].replace("${AWS::Partition}", "aws")
        assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == permissions


@pytest.mark.parametrize(
    ("override", "condition"),
    [
        ("", None),
        ("other-id", {"StringEquals": {"sts:ExternalId": "other-id"}}),
    ],
)
def test_stack_set_parameters_override_the_defaults(
    override: str, condition: dict[str, Any] | None
) -> None:
    text = member_role_template(
        fleet="prod",
        worker_role_arn=WORKER,
        role_name=ROLE,
        external_id="baked-in",
        permissions="ReadOnlyAccess",
    )
    other_worker = "arn:aws:iam::210987654321:role/prod-worker"
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        _, iam = create_stack(text, {"ExternalId": override, "WorkerRoleArn": other_worker})
        (statement,) = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"AWS": other_worker}
        assert statement.get("Condition") == condition
