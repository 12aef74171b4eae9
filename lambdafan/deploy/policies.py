"""The fleet's IAM documents: the Lambda trust policy and one least-privilege inline policy per
function. Pure functions over ARNs, so they are tested without AWS and a re-deploy can compare
the wanted document with the one IAM returns.

Every statement names this fleet's own resources by full ARN. A statement may use `"*"` only for
actions listed in `WILDCARD_ACTIONS`, each with the reason AWS leaves no narrower choice;
`_statement` refuses anything else, so a new wildcard cannot slip in unreviewed.
The Worker assumes the member role only in the fleet's accounts (`member_accounts`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lambda_src.metrics import NAMESPACE
from lambdafan.deploy.fleet_arns import FleetArns, check_kind
from lambdafan.deploy.member_accounts import (
    MAX_MEMBER_ACCOUNTS,
    MAX_MEMBER_ROLE_ARNS,
    MemberAccountsError,
)

POLICY_VERSION = "2012-10-17"

Statement = dict[str, Any]
PolicyDocument = dict[str, Any]
_OU_LISTS = (
    "read-only Organizations list action on roots and OUs, which deploy does not list: it has "
    "the organization's id only with discovery on, and never the OU tree"
)
WILDCARD_ACTIONS: dict[str, str] = {
    "cloudwatch:PutMetricData": (
        "PutMetricData supports no resource-level permissions; it is limited instead by a "
        f"cloudwatch:namespace condition to the {NAMESPACE!r} namespace"
    ),
    "organizations:ListAccounts": (
        "Organizations list actions: resource-level permissions not supported for ListAccounts"
    ),
    "organizations:ListAccountsForParent": _OU_LISTS,
    "organizations:ListOrganizationalUnitsForParent": _OU_LISTS,
}

# IAM accepts only alphanumeric Sids in identity policies (moto does not check this).
_SID = re.compile(r"^[A-Za-z0-9]+$")


def _statement(
    sid: str,
    actions: Iterable[str],
    resources: Iterable[str],
    condition: Mapping[str, Any] | None = None,
    *,
    effect: str = "Allow",
) -> Statement:
    """One Allow (or Deny) statement, actions and resources sorted so documents compare equal."""
    action_list = sorted(set(actions))
    resource_list = sorted(set(resources))
    if not _SID.match(sid):
        raise ValueError(f"Sid {sid!r} must be alphanumeric")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"statement {sid}: effect {effect!r} is neither Allow nor Deny")
    if not action_list or not resource_list:
        raise ValueError(f"statement {sid} needs actions and resources")
    if any(action.endswith("*") for action in action_list):
        raise ValueError(f"statement {sid}: wildcard actions are never granted")
    if "*" in resource_list:
        if resource_list != ["*"]:
            raise ValueError(f"statement {sid}: '*' must not be mixed with ARNs")
        unlisted = [a for a in action_list if a not in WILDCARD_ACTIONS]
        if unlisted:
            raise ValueError(f"statement {sid}: {unlisted} may not be granted on '*'")
    statement: Statement = {
        "Sid": sid,
        "Effect": effect,
        "Action": action_list,
        "Resource": resource_list,
    }
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def lambda_trust_policy() -> PolicyDocument:
    """Trust policy of the three execution roles: only the Lambda service may assume them."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "LambdaAssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _logs(kind: str, arns: FleetArns) -> Statement:
    group = arns.log_group_arn(kind)
    # No logs:CreateLogGroup: deploy creates the group with a retention, and a function able to
    # create it would recreate a deleted group without one (logs kept forever).
    return _statement(
        "WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [group, f"{group}:*"]
    )


def _table(sid: str, actions: Sequence[str], arns: FleetArns) -> list[Statement]:
    """Item actions on the table; the index only supports Query, so only Query is granted there."""
    statements = [_statement(sid, actions, [arns.table_arn])]
    if "dynamodb:Query" in actions and arns.table_index_arns:
        statements.append(_statement(f"{sid}Index", ["dynamodb:Query"], arns.table_index_arns))
    return statements


def _metrics() -> Statement:
    return _statement(
        "PutFleetMetrics",
        ["cloudwatch:PutMetricData"],
        ["*"],
        {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
    )


_READ_WRITE = (
    "dynamodb:BatchWriteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)


def _director(arns: FleetArns) -> list[Statement]:
    return [
        _logs("director", arns),
        # The Director starts the Notifier itself when a run has no accounts or every Worker
        # failed to start.
        _statement(
            "InvokeWorkerAndNotifier",
            ["lambda:InvokeFunction"],
            [arns.worker_function_arn, arns.notifier_function_arn],
        ),
        *_table("ResultsTableReadWrite", _READ_WRITE, arns),
        # Always granted, even without `organization: true`: read-only, and a config change then
        # needs no policy change.
        _statement(
            "ListOrganizationAccounts",
            [
                "organizations:ListAccounts",
                "organizations:ListAccountsForParent",
                "organizations:ListOrganizationalUnitsForParent",
            ],
            ["*"],
        ),
    ]


def _member_roles(
    sid: str, accounts: Sequence[str], arns: FleetArns, effect: str, *, by_arn: bool
) -> Statement:
    """sts:AssumeRole on the member role in `accounts`: by ARN, or on the role in any account
    with an `aws:ResourceAccount` condition naming them (shorter, for long lists)."""
    if by_arn:
        roles = [arns.member_role_arn(account) for account in accounts]
        return _statement(sid, ["sts:AssumeRole"], roles, effect=effect)
    condition = {"StringEquals": {"aws:ResourceAccount": sorted(accounts)}}
    return _statement(
        sid, ["sts:AssumeRole"], [arns.member_role_arn_pattern], condition, effect=effect
    )


def _assume_member_role(arns: FleetArns) -> list[Statement]:
    """The Worker assumes the member role in the fleet's accounts only: the listed ones, and
    with organization discovery those of the organization; never in an excluded account."""
    members = arns.members
    named = len(members.allowed) + len(members.excluded)
    if named > MAX_MEMBER_ACCOUNTS:
        raise MemberAccountsError(
            f"{named} listed and excluded accounts are more than the Worker's IAM policy can "
            f"name (at most {MAX_MEMBER_ACCOUNTS}): discover the accounts through the "
            "organization instead"
        )
    by_arn = named <= MAX_MEMBER_ROLE_ARNS
    statements = []
    if members.organization:
        if members.organization_id is None:
            raise MemberAccountsError(
                "organization discovery is on: the Worker's policy needs the organization's id"
            )
        statements.append(
            _statement(
                "AssumeMemberRoleInOrganization",
                ["sts:AssumeRole"],
                [arns.member_role_arn_pattern],
                {"StringEquals": {"aws:ResourceOrgID": members.organization_id}},
            )
        )
    if members.allowed:
        statements.append(
            _member_roles("AssumeMemberRole", members.allowed, arns, "Allow", by_arn=by_arn)
        )
    if not statements:
        raise MemberAccountsError("the fleet has no account to assume the member role in")
    if members.excluded:
        # Redundant for a list, and decisive for the organization: a Deny wins over any Allow.
        statements.append(
            _member_roles(
                "NeverAssumeExcludedMemberRole", members.excluded, arns, "Deny", by_arn=by_arn
            )
        )
    return statements


def _worker(arns: FleetArns) -> list[Statement]:
    statements = [
        _logs("worker", arns),
        *_assume_member_role(arns),
        *_table("ResultsTableReadWrite", _READ_WRITE, arns),
        _metrics(),
        # The last Worker of a run starts the Notifier; never the Director or other Workers.
        _statement("InvokeNotifier", ["lambda:InvokeFunction"], [arns.notifier_function_arn]),
    ]
    if arns.export:
        # PUT only (a retried pair overwrites its object): no reading, listing or deleting,
        # and only under this fleet's prefix of the bucket.
        statements.append(
            _statement("PutExportedRecords", ["s3:PutObject"], [arns.export_objects_arn])
        )
    return statements


def _notifier(arns: FleetArns) -> list[Statement]:
    notify = arns.notify
    # It writes too: a Worker whose retries are exhausted reaches the Notifier (Lambda's
    # on-failure destination), which records that account as failed so the run completes.
    statements = [
        _logs("notifier", arns),
        *_table("ResultsTableReadWrite", _READ_WRITE, arns),
        # Lambda delivers the Notifier's failed events to its on-failure destination with the
        # function's execution role, so the role must be allowed to send to that one queue.
        _statement("SendToDeadLetterQueue", ["sqs:SendMessage"], [arns.dlq_arn]),
    ]
    if notify.slack_webhook_parameter:
        # A SecureString under the default aws/ssm key needs no KMS grant; a customer-managed
        # key would need kms:Decrypt on that key, which is the user's to grant.
        statements.append(
            _statement(
                "ReadSlackWebhookParameter",
                ["ssm:GetParameter"],
                [arns.ssm_parameter_arn(notify.slack_webhook_parameter)],
            )
        )
    if arns.wavefront_token_parameter:
        # The same as the webhook's: no KMS grant for a SecureString under aws/ssm.
        statements.append(
            _statement(
                "ReadWavefrontTokenParameter",
                ["ssm:GetParameter"],
                [arns.ssm_parameter_arn(arns.wavefront_token_parameter)],
            )
        )
    if notify.email_sender:
        statements.append(
            _statement(
                "SendSummaryEmail",
                ["ses:SendEmail", "ses:SendRawEmail"],
                arns.ses_identity_arns(notify.email_sender),
            )
        )
    if notify.sns_topic_arn:
        statements.append(
            _statement("PublishSummaryToSns", ["sns:Publish"], [notify.sns_topic_arn])
        )
    statements.append(_metrics())
    return statements


_BUILDERS = {"director": _director, "worker": _worker, "notifier": _notifier}


def inline_policy(kind: str, arns: FleetArns) -> PolicyDocument:
    """The inline policy of the `kind` function's execution role (deterministic, JSON-able)."""
    check_kind(kind)
    return {"Version": POLICY_VERSION, "Statement": _BUILDERS[kind](arns)}
