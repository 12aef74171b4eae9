"""The member role as a CloudFormation template, to roll out to every account with a StackSet.

The role is the only thing lambdafan needs in a member account: the fleet's Worker role may
assume it, and it carries an AWS-managed read-only policy. lambdafan never deploys it itself
(it has no credentials in member accounts): the user deploys this template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from lambda_src import names

MemberPermissions = Literal["ReadOnlyAccess", "SecurityAudit"]
MANAGED_POLICIES: tuple[MemberPermissions, ...] = ("ReadOnlyAccess", "SecurityAudit")

# IAM's own limits, checked here so a bad name fails before a StackSet fails in 500 accounts.
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(root|(role|user)/[\w+=,.@/-]+)$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
MIN_SESSION, MAX_SESSION = 3600, 43200


def member_role_template(
    *,
    fleet: str,
    worker_role_arn: str,
    role_name: str,
    external_id: str | None,
    permissions: MemberPermissions,
    max_session_duration: int = MIN_SESSION,
    also_trust: Sequence[str] = (),
    allow_other_account: bool = False,
) -> str:
    """A CloudFormation template (JSON text) creating the member role `role_name`.

    The role trusts exactly the fleet's Worker role, with an `sts:ExternalId` condition when
    `external_id` is given, and has the AWS-managed `permissions` policy. The values are baked
    in as parameter defaults, so the template deploys as is, and a StackSet may override them.

    The trust names the Worker role's ARN, so IAM rejects the template until that role exists
    (deploy the fleet first), and a Worker role deleted and re-created is no longer trusted
    (IAM keeps the old role's unique id): update the stack set after `destroy` + `deploy`.
    `max_session_duration` must cover the fleet's `session_duration`. `also_trust` adds IAM
    principals (your own role, a CI role) that may assume the role too, for `run --local` and
    `script test` from outside the fleet. They must be in the Worker role's partition, and in its
    account (the fleet's) unless `allow_other_account`: another account's `:root` would let
    whoever that account chooses read every member account.
    """
    if permissions not in MANAGED_POLICIES:
        raise ValueError(f"permissions must be one of {MANAGED_POLICIES}, not {permissions!r}")
    if not _ROLE_NAME.match(role_name):
        raise ValueError(f"invalid IAM role name {role_name!r}")
    if not re.match(_ROLE_ARN, worker_role_arn):
        raise ValueError(f"not an IAM role ARN: {worker_role_arn!r}")
    if external_id and not _EXTERNAL_ID.match(external_id):
        raise ValueError("external id must be 2-1224 characters of [\\w+=,.@:/-]")
    for principal in also_trust:
        _check_principal(principal, worker_role_arn, allow_other_account)
    if not MIN_SESSION <= max_session_duration <= MAX_SESSION:
        raise ValueError(f"max session duration must be {MIN_SESSION}-{MAX_SESSION} seconds")

    trust_statement: dict[str, Any] = {
        "Sid": "LambdafanWorker",
        "Effect": "Allow",
        "Principal": {
            "AWS": [{"Ref": "WorkerRoleArn"}, *also_trust]
            if also_trust
            else {"Ref": "WorkerRoleArn"}
        },
        "Action": "sts:AssumeRole",
        # AWS::NoValue drops the key, so without an external id there is no Condition at all.
        "Condition": {
            "Fn::If": [
                "HasExternalId",
                {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
                {"Ref": "AWS::NoValue"},
            ]
        },
    }
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"lambdafan member role for fleet {fleet}: lets the fleet's Worker role run "
            f"read-only scripts in this account ({permissions})."
        ),
        "Parameters": {
            "WorkerRoleArn": {
                "Type": "String",
                "Default": worker_role_arn,
                "AllowedPattern": _ROLE_ARN,
                "Description": f"ARN of the lambdafan Worker role of fleet {fleet}.",
            },
            "ExternalId": {
                "Type": "String",
                "Default": external_id or "",
                "Description": "sts:ExternalId the Worker must present; empty for none.",
            },
        },
        "Conditions": {
            "HasExternalId": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]},
        },
        "Resources": {
            "MemberRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": role_name,
                    "Description": f"Assumed by the lambdafan fleet {fleet} to run its scripts.",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [trust_statement],
                    },
                    # Fn::Sub keeps the template valid in aws-cn and aws-us-gov too.
                    "ManagedPolicyArns": [
                        {"Fn::Sub": names.aws_managed_policy_arn("${AWS::Partition}", permissions)}
                    ],
                    "MaxSessionDuration": max_session_duration,
                    "Tags": [{"Key": names.FLEET_TAG, "Value": fleet}],
                },
            },
        },
        "Outputs": {
            "RoleArn": {
                "Description": "ARN of the member role.",
                "Value": {"Fn::GetAtt": ["MemberRole", "Arn"]},
            },
        },
    }
    return json.dumps(template, indent=2)


def _check_principal(principal: str, worker_role_arn: str, allow_other_account: bool) -> None:
    """A principal the member role may trust besides the Worker: an IAM role, user or account
    root, in the Worker role's partition and (unless allowed) account."""
    if not _PRINCIPAL.match(principal):
        raise ValueError(f"not an IAM role, user or account-root ARN: {principal!r}")
    partition = names.arn_partition(principal)
    fleet_partition = names.arn_partition(worker_role_arn)
    if partition != fleet_partition:
        raise ValueError(
            f"{principal} is in partition {partition}, but the fleet is in {fleet_partition}"
        )
    (account,) = names.arn_accounts(principal)
    (fleet_account,) = names.arn_accounts(worker_role_arn)
    if account != fleet_account and not allow_other_account:
        raise ValueError(
            f"{principal} is in account {account}, not the fleet's account {fleet_account}; "
            "pass --allow-other-account to trust it anyway"
        )
