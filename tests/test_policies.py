"""The execution-role policies: least privilege, this fleet's ARNs only, accepted by IAM (moto)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_src import names
from lambda_src.metrics import NAMESPACE
from lambda_src.names import RUNS_INDEX
from lambda_src.settings import NotifySettings, WavefrontSettings
from lambdafan.deploy import policies
from lambdafan.deploy.member_accounts import (
    MAX_MEMBER_ACCOUNTS,
    MAX_MEMBER_ROLE_ARNS,
    MemberAccounts,
    MemberAccountsError,
)
from lambdafan.deploy.policies import (
    WILDCARD_ACTIONS,
    FleetArns,
    inline_policy,
    lambda_trust_policy,
)
from tests.conftest import make_settings

ACCOUNT = "123456789012"
REGION = "us-east-1"
SLACK = "/lambdafan/a/slack-webhook"
WAVEFRONT = "/lambdafan/a/wavefront-token"
SENDER = "Ops Team <ops@example.com>"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:a-runs"
FULL_NOTIFY = NotifySettings(
    slack_webhook_parameter=SLACK,
    email_sender=SENDER,
    email_recipients=("me@example.com",),
    sns_topic_arn=TOPIC,
)
NOTIFY_VARIANTS = {"no-notify": NotifySettings(), "all-channels": FULL_NOTIFY}
MEMBERS = ("111111111111", "222222222222")
ORG = "o-a1b2c3d4e5"
OUTSIDER, EXCLUDED = "333333333333", "444444444444"
LISTED = MemberAccounts(listed=MEMBERS)
MEMBER_VARIANTS = {
    "listed": LISTED,
    "organization": MemberAccounts(organization=True, organization_id=ORG),
    "both-and-excluded": MemberAccounts(
        listed=(*MEMBERS, EXCLUDED), organization=True, organization_id=ORG, excluded=(EXCLUDED,)
    ),
}


def arns_for(
    fleet: str = "a",
    notify: NotifySettings | None = None,
    members: MemberAccounts = LISTED,
    wavefront: str | None = None,
) -> FleetArns:
    return FleetArns(
        partition="aws",
        account_id=ACCOUNT,
        region=REGION,
        fleet=fleet,
        member_role="lambdafan-member",
        notify=notify or NotifySettings(),
        members=members,
        wavefront_token_parameter=wavefront,
    )


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = policy["Statement"]
    return result


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statement_actions(statement: Mapping[str, Any]) -> list[str]:
    """A statement's actions as a list, whether IAM gave a string or a list."""
    return _as_list(statement.get("Action", []))


def statement_resources(statement: Mapping[str, Any]) -> list[str]:
    """A statement's resources as a list, whether IAM gave a string or a list."""
    return _as_list(statement.get("Resource", []))


def wildcard_statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of `policy` granted on `"*"` (each must hold only WILDCARD_ACTIONS)."""
    found = policy.get("Statement", [])
    if isinstance(found, Mapping):
        found = [found]
    return [dict(s) for s in found if "*" in statement_resources(s)]


def unlisted_wildcard_actions(policy: Mapping[str, Any]) -> list[str]:
    """Actions granted on `"*"` without an entry in WILDCARD_ACTIONS: must be empty."""
    return sorted(
        {
            action
            for statement in wildcard_statements(policy)
            for action in statement_actions(statement)
            if action not in WILDCARD_ACTIONS
        }
    )


def actions_of(policy: dict[str, Any]) -> set[str]:
    return {a for s in statements(policy) for a in statement_actions(s)}


def resources_for(policy: dict[str, Any], action: str) -> set[str]:
    return {
        r
        for s in statements(policy)
        if action in statement_actions(s)
        for r in statement_resources(s)
    }


def iam_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: `*` any run of characters, `?` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def fleet_resources(arns: FleetArns) -> set[str]:
    """Every ARN a policy of this fleet may name (besides "*")."""
    allowed = {arns.table_arn, *arns.table_index_arns, arns.member_role_arn_pattern, arns.dlq_arn}
    allowed |= {arns.member_role_arn(a) for a in (*arns.members.listed, *arns.members.excluded)}
    for kind in names.KINDS:
        allowed |= {arns.function_arn(kind), arns.log_group_arn(kind)}
        allowed.add(arns.log_group_arn(kind) + ":*")
    notify = arns.notify
    if notify.slack_webhook_parameter:
        allowed.add(arns.ssm_parameter_arn(notify.slack_webhook_parameter))
    if notify.email_sender:
        allowed |= set(arns.ses_identity_arns(notify.email_sender))
    if notify.sns_topic_arn:
        allowed.add(notify.sns_topic_arn)
    if arns.wavefront_token_parameter:
        allowed.add(arns.ssm_parameter_arn(arns.wavefront_token_parameter))
    return allowed


# --- every kind ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wavefront", [None, WAVEFRONT], ids=["cloudwatch", "wavefront"])
@pytest.mark.parametrize("members", MEMBER_VARIANTS.values(), ids=MEMBER_VARIANTS.keys())
@pytest.mark.parametrize("notify", NOTIFY_VARIANTS.values(), ids=NOTIFY_VARIANTS.keys())
@pytest.mark.parametrize("kind", names.KINDS)
def test_statements_name_only_this_fleets_resources_or_listed_wildcards(
    kind: str, notify: NotifySettings, members: MemberAccounts, wavefront: str | None
) -> None:
    arns = arns_for(notify=notify, members=members, wavefront=wavefront)
    policy = inline_policy(kind, arns)
    allowed = fleet_resources(arns)
    configured = {arns.ssm_parameter_arn(SLACK), TOPIC, *arns.ses_identity_arns(SENDER)}
    configured.add(arns.ssm_parameter_arn(WAVEFRONT))
    assert policy["Version"] == "2012-10-17"
    for statement in statements(policy):
        # The one Deny: the member role in the excluded accounts.
        if statement["Effect"] == "Deny":
            assert statement["Action"] == ["sts:AssumeRole"]
            assert statement_resources(statement) == [arns.member_role_arn(EXCLUDED)]
            continue
        assert statement["Effect"] == "Allow"
        if statement_resources(statement) == [arns.member_role_arn_pattern]:
            # The member role in any account only ever comes with the organization condition.
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG}}
        resources = statement_resources(statement)
        assert resources, statement
        if "*" in resources:
            assert resources == ["*"], "'*' must not be mixed with ARNs"
            assert set(statement_actions(statement)) <= WILDCARD_ACTIONS.keys()
            continue
        for resource in resources:
            assert resource in allowed, resource
            assert resource.startswith("arn:aws:"), resource
            if resource not in configured:
                # Every fleet-owned ARN names the fleet (or is the shared member-role name).
                assert "/a-" in resource or ":a-" in resource or "lambdafan-member" in resource
    assert unlisted_wildcard_actions(policy) == []


@pytest.mark.parametrize("kind", names.KINDS)
def test_no_wildcard_actions_and_unique_alphanumeric_sids(kind: str) -> None:
    policy = inline_policy(kind, arns_for(notify=FULL_NOTIFY, wavefront=WAVEFRONT))
    for action in actions_of(policy):
        service, _, name = action.partition(":")
        assert service and name, action
        assert "*" not in action and "?" not in action, action
    sids = [s["Sid"] for s in statements(policy)]
    assert len(sids) == len(set(sids))
    # IAM identity policies accept only alphanumeric Sids; moto does not check this.
    assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)


def test_every_wildcard_action_has_a_reason() -> None:
    assert WILDCARD_ACTIONS
    for action, reason in WILDCARD_ACTIONS.items():
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), action
        assert reason.strip(), action


def test_wildcard_statements_are_exactly_the_listed_ones() -> None:
    arns = arns_for(notify=FULL_NOTIFY, wavefront=WAVEFRONT)
    wildcard = {
        kind: {
            a for s in wildcard_statements(inline_policy(kind, arns)) for a in statement_actions(s)
        }
        for kind in names.KINDS
    }
    assert wildcard == {
        "director": {
            "organizations:ListAccounts",
            "organizations:ListAccountsForParent",
            "organizations:ListOrganizationalUnitsForParent",
        },
        "worker": {"cloudwatch:PutMetricData"},
        "notifier": {"cloudwatch:PutMetricData"},
    }
    # Nothing listed goes unused: the list is the reviewed set of exceptions, not a wishlist.
    assert set().union(*wildcard.values()) == WILDCARD_ACTIONS.keys()


def test_helpers_read_single_string_forms_iam_may_return() -> None:
    policy = {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}
    assert wildcard_statements(policy) == [policy["Statement"]]
    assert unlisted_wildcard_actions(policy) == ["s3:GetObject"]


@pytest.mark.parametrize("kind", names.KINDS)
def test_logs_only_own_group_and_never_create_group(kind: str) -> None:
    arns = arns_for()
    policy = inline_policy(kind, arns)
    assert "logs:CreateLogGroup" not in actions_of(policy)
    group = arns.log_group_arn(kind)
    assert group == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/a-{kind}"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert resources_for(policy, action) == {group, f"{group}:*"}


@pytest.mark.parametrize("kind", names.KINDS)
def test_metrics_only_in_the_lambdafan_namespace(kind: str) -> None:
    policy = inline_policy(kind, arns_for())
    metric_statements = [
        s for s in statements(policy) if "cloudwatch:PutMetricData" in statement_actions(s)
    ]
    if kind == "director":
        assert metric_statements == []
        return
    assert len(metric_statements) == 1
    assert metric_statements[0]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": NAMESPACE}
    }


@pytest.mark.parametrize("kind", names.KINDS)
def test_deterministic_and_sorted(kind: str) -> None:
    members = MEMBER_VARIANTS["both-and-excluded"]
    first = inline_policy(kind, arns_for(notify=FULL_NOTIFY, members=members, wavefront=WAVEFRONT))
    shuffled = dataclasses.replace(members, listed=tuple(reversed(members.listed)))
    second = inline_policy(
        kind, arns_for(notify=FULL_NOTIFY, members=shuffled, wavefront=WAVEFRONT)
    )
    assert first == second
    assert json.dumps(first) == json.dumps(second)
    for statement in statements(first):
        assert statement["Action"] == sorted(statement["Action"])
        assert statement["Resource"] == sorted(statement["Resource"])


@pytest.mark.parametrize("kind", names.KINDS)
def test_fits_iam_inline_policy_size_limit(kind: str) -> None:
    policy = inline_policy(
        kind, arns_for(fleet="f" * 40, notify=FULL_NOTIFY, wavefront="/" + "w" * 2047)
    )
    # A role's inline policies may total 10,240 characters, whitespace not counted.
    assert len(json.dumps(policy, separators=(",", ":"))) < 10_240


# --- per function -------------------------------------------------------------------------------


def test_director_invokes_worker_and_notifier_but_cannot_assume_roles() -> None:
    arns = arns_for()
    policy = inline_policy("director", arns)
    assert not any(a.startswith("sts:") for a in actions_of(policy))
    assert resources_for(policy, "lambda:InvokeFunction") == {
        arns.worker_function_arn,
        arns.notifier_function_arn,
    }
    assert arns.director_function_arn not in resources_for(policy, "lambda:InvokeFunction")


def test_director_table_access() -> None:
    arns = arns_for()
    policy = inline_policy("director", arns)
    for action in ("PutItem", "UpdateItem", "GetItem", "BatchWriteItem"):
        assert resources_for(policy, f"dynamodb:{action}") == {arns.table_arn}
    assert resources_for(policy, "dynamodb:Query") == {arns.table_arn, *arns.table_index_arns}
    assert not any(a in actions_of(policy) for a in ("dynamodb:Scan", "dynamodb:DeleteItem"))


def test_worker_assumes_member_role_and_invokes_only_the_notifier() -> None:
    arns = arns_for()
    policy = inline_policy("worker", arns)
    assert resources_for(policy, "sts:AssumeRole") == {
        "arn:aws:iam::111111111111:role/lambdafan-member",
        "arn:aws:iam::222222222222:role/lambdafan-member",
    }
    invoked = resources_for(policy, "lambda:InvokeFunction")
    assert invoked == {arns.notifier_function_arn}
    assert arns.director_function_arn not in invoked
    assert arns.worker_function_arn not in invoked
    for action in ("BatchWriteItem", "PutItem", "UpdateItem", "GetItem"):
        assert resources_for(policy, f"dynamodb:{action}") == {arns.table_arn}
    assert not any(a.startswith("organizations:") for a in actions_of(policy))


def test_notifier_reads_and_writes_this_table_only() -> None:
    arns = arns_for()
    policy = inline_policy("notifier", arns)
    dynamo = {a for a in actions_of(policy) if a.startswith("dynamodb:")}
    # It records accounts whose Worker failed for good, so it writes items too.
    assert dynamo == {
        "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
        "dynamodb:UpdateItem",
    }  # fmt: skip
    assert resources_for(policy, "dynamodb:GetItem") == {arns.table_arn}
    assert not any(a.startswith(("lambda:", "sts:")) for a in actions_of(policy))


@pytest.mark.parametrize("notify", NOTIFY_VARIANTS.values(), ids=NOTIFY_VARIANTS.keys())
def test_only_the_notifier_sends_and_only_to_its_dead_letter_queue(notify: NotifySettings) -> None:
    arns = arns_for(notify=notify)
    assert arns.dlq_arn == f"arn:aws:sqs:{REGION}:{ACCOUNT}:a-notifier-dlq"
    notifier = inline_policy("notifier", arns)
    # Lambda sends the Notifier's failed events to the queue with the Notifier's own role.
    assert {a for a in actions_of(notifier) if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert resources_for(notifier, "sqs:SendMessage") == {arns.dlq_arn}
    for kind in ("director", "worker"):
        assert not any(a.startswith("sqs:") for a in actions_of(inline_policy(kind, arns)))


def test_notifier_without_channels_has_no_ssm_ses_sns() -> None:
    actions = actions_of(inline_policy("notifier", arns_for()))
    assert not any(a.startswith(("ssm:", "ses:", "sns:", "kms:")) for a in actions)


CHANNELS = {
    "slack": (NotifySettings(slack_webhook_parameter=SLACK), {"ssm:GetParameter"}),
    "email": (
        NotifySettings(email_sender=SENDER, email_recipients=("me@example.com",)),
        {"ses:SendEmail", "ses:SendRawEmail"},
    ),
    "sns": (NotifySettings(sns_topic_arn=TOPIC), {"sns:Publish"}),
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_notifier_grants_exactly_the_configured_channel(channel: str) -> None:
    notify, expected = CHANNELS[channel]
    actions = actions_of(inline_policy("notifier", arns_for(notify=notify)))
    assert {a for a in actions if a.startswith(("ssm:", "ses:", "sns:"))} == expected


def test_notifier_reads_the_wavefront_token_parameter_only() -> None:
    arns = arns_for(wavefront=WAVEFRONT)
    notifier = inline_policy("notifier", arns)
    token_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/lambdafan/a/wavefront-token"
    (statement,) = [s for s in statements(notifier) if s["Sid"] == "ReadWavefrontTokenParameter"]
    assert (statement["Action"], statement["Resource"]) == (["ssm:GetParameter"], [token_arn])
    # Like the webhook's: a SecureString under the default aws/ssm key needs no KMS grant.
    assert not any(a.startswith(("kms:", "ses:", "sns:")) for a in actions_of(notifier))
    for kind in ("director", "worker"):
        assert not any(a.startswith("ssm:") for a in actions_of(inline_policy(kind, arns)))
    both = inline_policy("notifier", arns_for(notify=FULL_NOTIFY, wavefront=WAVEFRONT))
    assert resources_for(both, "ssm:GetParameter") == {token_arn, arns.ssm_parameter_arn(SLACK)}


def test_notifier_channel_resources() -> None:
    policy = inline_policy("notifier", arns_for(notify=FULL_NOTIFY))
    assert resources_for(policy, "ssm:GetParameter") == {
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/lambdafan/a/slack-webhook"
    }
    identities = {
        f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/ops@example.com",
        f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/example.com",
    }
    assert resources_for(policy, "ses:SendEmail") == identities
    assert resources_for(policy, "ses:SendRawEmail") == identities
    assert resources_for(policy, "sns:Publish") == {TOPIC}


@pytest.mark.parametrize(
    ("name", "arn_suffix"),
    [
        ("/a/b", "parameter/a/b"),
        ("flat", "parameter/flat"),
        (f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/x", None),
    ],
)
def test_ssm_parameter_arn_forms(name: str, arn_suffix: str | None) -> None:
    arn = arns_for().ssm_parameter_arn(name)
    if arn_suffix is None:
        assert arn == name
    else:
        assert arn == f"arn:aws:ssm:{REGION}:{ACCOUNT}:{arn_suffix}"


# --- the member role: only in the fleet's accounts ---------------------------------------------


def assume_statements(members: MemberAccounts, **changes: Any) -> list[dict[str, Any]]:
    arns = dataclasses.replace(arns_for(members=members), **changes)
    return [
        s for s in statements(inline_policy("worker", arns)) if s["Action"] == ["sts:AssumeRole"]
    ]


def role(account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/lambdafan-member"


def test_listed_accounts_only_each_by_arn_and_excluded_ones_denied() -> None:
    members = MemberAccounts(listed=(*MEMBERS, EXCLUDED), excluded=(EXCLUDED,))
    assert assume_statements(members) == [
        {
            "Sid": "AssumeMemberRole",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": [role("111111111111"), role("222222222222")],
        },
        {
            "Sid": "NeverAssumeExcludedMemberRole",
            "Effect": "Deny",
            "Action": ["sts:AssumeRole"],
            "Resource": [role(EXCLUDED)],
        },
    ]
    # No account outside the list: no pattern, no other account.
    arns = arns_for(members=members)
    assert arns.member_role_arn_pattern not in resources_for(
        inline_policy("worker", arns), "sts:AssumeRole"
    )


def test_organization_discovery_allows_the_organizations_accounts_only() -> None:
    members = MemberAccounts(organization=True, organization_id=ORG)
    assert assume_statements(members) == [
        {
            "Sid": "AssumeMemberRoleInOrganization",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": ["arn:aws:iam::*:role/lambdafan-member"],
            "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG}},
        }
    ]


def test_organization_and_list_allow_both_and_deny_the_excluded() -> None:
    members = MemberAccounts(
        listed=(OUTSIDER,), organization=True, organization_id=ORG, excluded=(EXCLUDED,)
    )
    found = assume_statements(members, partition="aws-cn", region="cn-north-1")
    assert [(s["Sid"], s["Effect"], s["Resource"], s.get("Condition")) for s in found] == [
        (
            "AssumeMemberRoleInOrganization",
            "Allow",
            ["arn:aws-cn:iam::*:role/lambdafan-member"],
            {"StringEquals": {"aws:ResourceOrgID": ORG}},
        ),
        # A listed account may be outside the organization: named on its own, no condition.
        ("AssumeMemberRole", "Allow", [role(OUTSIDER, "aws-cn")], None),
        ("NeverAssumeExcludedMemberRole", "Deny", [role(EXCLUDED, "aws-cn")], None),
    ]


def test_a_long_list_names_the_accounts_in_a_condition() -> None:
    many = tuple(f"{n:012d}" for n in range(1, MAX_MEMBER_ROLE_ARNS + 2))
    members = MemberAccounts(listed=(*many, EXCLUDED), excluded=(EXCLUDED,))
    allow, deny = assume_statements(members)
    assert allow["Resource"] == deny["Resource"] == ["arn:aws:iam::*:role/lambdafan-member"]
    assert allow["Condition"] == {"StringEquals": {"aws:ResourceAccount": list(many)}}
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"StringEquals": {"aws:ResourceAccount": [EXCLUDED]}},
    )


@pytest.mark.parametrize("count", [MAX_MEMBER_ROLE_ARNS, MAX_MEMBER_ACCOUNTS])
def test_the_longest_lists_fit_iams_size_limit(count: int) -> None:
    listed = tuple(f"{n:012d}" for n in range(1, count // 2 + 1))
    excluded = tuple(f"{n:012d}" for n in range(500_000, 500_000 + count - len(listed)))
    members = MemberAccounts(
        listed=listed, organization=True, organization_id=f"o-{'a' * 32}", excluded=excluded
    )
    arns = dataclasses.replace(
        arns_for(fleet="f" * 40, members=members),
        partition="aws-us-gov",
        region="us-gov-west-1",
        member_role="r" * 64,
    )
    assert len(json.dumps(inline_policy("worker", arns), separators=(",", ":"))) < 10_240


def test_more_accounts_than_a_policy_can_name_are_refused() -> None:
    too_many = tuple(f"{n:012d}" for n in range(1, MAX_MEMBER_ACCOUNTS + 2))
    with pytest.raises(MemberAccountsError, match="organization instead"):
        inline_policy("worker", arns_for(members=MemberAccounts(listed=too_many)))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (MemberAccounts(organization=True), "needs the organization's id"),
        (MemberAccounts(), "no account"),
        (MemberAccounts(listed=(EXCLUDED,), excluded=(EXCLUDED,)), "no account"),
    ],
)
def test_a_worker_policy_allowing_no_account_or_every_account_is_refused(
    members: MemberAccounts, message: str
) -> None:
    with pytest.raises(MemberAccountsError, match=message):
        inline_policy("worker", arns_for(members=members))
    # The other roles don't depend on the member accounts.
    inline_policy("director", arns_for(members=members))


@pytest.mark.parametrize(
    "bad",
    [
        {"listed": ("*",)},
        {"listed": ("1111",)},
        {"excluded": ("11111111111a",)},
        {"organization_id": "o-*"},
        {"organization_id": "r-abcd"},
    ],
)
def test_member_accounts_refuse_what_would_widen_an_arn(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MemberAccounts(**bad)


def test_member_accounts_from_settings() -> None:
    settings = make_settings(
        accounts=("222222222222", "111111111111"), exclude_accounts=("444444444444",)
    )
    assert MemberAccounts.from_settings(settings, ORG) == MemberAccounts(
        listed=("111111111111", "222222222222"), excluded=("444444444444",)
    ), "without discovery, an organization id is not used"
    discovering = dataclasses.replace(settings, accounts=(), organization=True)
    assert MemberAccounts.from_settings(discovering, ORG) == MemberAccounts(
        organization=True, organization_id=ORG, excluded=("444444444444",)
    )
    arns = FleetArns.from_settings(discovering, ACCOUNT, ORG)
    assert arns.members.organization_id == ORG


# --- no reach into other fleets -----------------------------------------------------------------


@pytest.mark.parametrize("kind", names.KINDS)
def test_no_prefix_wildcards_reach_another_fleet(kind: str) -> None:
    mine, theirs = arns_for("a", FULL_NOTIFY), arns_for("ab", FULL_NOTIFY)
    other = {theirs.table_arn, *theirs.table_index_arns, theirs.table_arn + "/index/other"}
    for other_kind in names.KINDS:
        other |= {theirs.function_arn(other_kind), theirs.role_arn(other_kind)}
        group = theirs.log_group_arn(other_kind)
        other |= {group, f"{group}:log-stream:2024/01/01/[$LATEST]abc"}
    policy = inline_policy(kind, mine)
    wildcard = {id(s) for s in statements(policy) if "*" in statement_resources(s)}
    for statement in statements(policy):
        if id(statement) in wildcard:
            continue
        for pattern in statement_resources(statement):
            assert not [arn for arn in other if iam_matches(pattern, arn)], pattern
    # Sanity check of the matcher itself: the fleet's own stream is covered.
    own = mine.log_group_arn(kind)
    assert iam_matches(f"{own}:*", f"{own}:log-stream:2024/01/01/[$LATEST]abc")


def test_index_is_named_not_wildcarded() -> None:
    arns = arns_for()
    assert arns.table_arn == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/a-results"
    assert arns.table_index_arns == [f"{arns.table_arn}/index/{RUNS_INDEX}"]


@pytest.mark.parametrize("field", ["fleet", "member_role", "region"])
@pytest.mark.parametrize("bad", ["a*", "a?", ""])
def test_names_that_would_widen_arns_are_refused(field: str, bad: str) -> None:
    values: dict[str, Any] = {
        "partition": "aws",
        "account_id": ACCOUNT,
        "region": REGION,
        "fleet": "a",
        "member_role": "m",
        field: bad,
    }
    with pytest.raises(ValueError):
        FleetArns(**values)


def test_bad_account_id_and_unknown_kind_are_refused() -> None:
    with pytest.raises(ValueError):
        FleetArns("aws", "*", REGION, "a", "m")
    with pytest.raises(ValueError):
        inline_policy("scheduler", arns_for())


def test_a_wildcard_outside_the_list_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="may not be granted"):
        policies._statement("Bad", ["s3:GetObject"], ["*"])
    with pytest.raises(ValueError, match="wildcard actions"):
        policies._statement("Bad", ["dynamodb:*"], ["arn:aws:dynamodb:x:1:table/t"])
    with pytest.raises(ValueError, match="mixed"):
        policies._statement("Bad", ["cloudwatch:PutMetricData"], ["*", "arn:aws:x"])


def test_from_settings_and_named_arns() -> None:
    assert FleetArns.from_settings(make_settings(), ACCOUNT).wavefront_token_parameter is None
    wavefront = WavefrontSettings(url="https://a.wavefront.com", token_parameter=WAVEFRONT)
    settings = make_settings(fleet="prod", notify=FULL_NOTIFY, wavefront=wavefront)
    settings = dataclasses.replace(settings, home_region="us-gov-west-1", partition="")
    arns = FleetArns.from_settings(settings, ACCOUNT)
    assert arns.wavefront_token_parameter == WAVEFRONT
    assert arns.partition == "aws-us-gov"
    assert arns.fleet == "prod"
    assert arns.region == settings.home_region
    assert arns.member_role == "OrganizationAccountAccessRole"
    assert arns.notify == FULL_NOTIFY
    assert arns.role_arn("worker") == f"arn:aws-us-gov:iam::{ACCOUNT}:role/prod-worker"
    assert arns.director_function_arn == (
        f"arn:aws-us-gov:lambda:{settings.home_region}:{ACCOUNT}:function:prod-director"
    )
    assert arns.member_role_arn_pattern == (
        "arn:aws-us-gov:iam::*:role/OrganizationAccountAccessRole"
    )
    assert arns.members == MemberAccounts(listed=("111111111111", "222222222222"))
    assert arns.member_role_arn("111111111111") == (
        "arn:aws-us-gov:iam::111111111111:role/OrganizationAccountAccessRole"
    )


def test_trust_policy_lets_only_lambda_assume() -> None:
    trust = lambda_trust_policy()
    assert trust["Version"] == "2012-10-17"
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Effect"] == "Allow"


# --- IAM accepts them ---------------------------------------------------------------------------


LONG_LIST = MemberAccounts(
    listed=tuple(f"{n:012d}" for n in range(1, 100)), excluded=("000000000001",)
)


@pytest.mark.parametrize(
    ("notify", "members", "wavefront"),
    [
        (NotifySettings(), LISTED, None),
        (FULL_NOTIFY, MEMBER_VARIANTS["both-and-excluded"], WAVEFRONT),
        (NotifySettings(), LONG_LIST, None),
    ],
    ids=["no-notify-listed", "all-channels-organization", "long-list"],
)
def test_iam_accepts_roles_and_policies(
    notify: NotifySettings, members: MemberAccounts, wavefront: str | None
) -> None:
    with mock_aws():
        iam = boto3.client("iam")
        account = boto3.client("sts").get_caller_identity()["Account"]
        arns = arns_for(notify=notify, members=members, wavefront=wavefront)
        arns = dataclasses.replace(arns, account_id=account)
        for kind in names.KINDS:
            role = names.role_name(arns.fleet, kind)
            created = iam.create_role(
                RoleName=role, AssumeRolePolicyDocument=json.dumps(lambda_trust_policy())
            )["Role"]
            assert created["Arn"] == arns.role_arn(kind)
            assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == (
                lambda_trust_policy()
            )
            document = inline_policy(kind, arns)
            policy_name = names.inline_policy_name(arns.fleet, kind)
            iam.put_role_policy(
                RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
            stored = iam.get_role_policy(RoleName=role, PolicyName=policy_name)
            assert stored["PolicyDocument"] == document


def test_moto_does_validate_inline_policies() -> None:
    """Guards the test above: moto must reject a malformed document, or acceptance means nothing."""
    with mock_aws():
        iam = boto3.client("iam")
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(lambda_trust_policy()))
        bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}
        with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
            iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(bad))


# --- the S3 export ------------------------------------------------------------------------------


def test_with_export_the_worker_may_only_put_objects_under_its_fleets_prefix() -> None:
    arns = dataclasses.replace(arns_for("a"), export=True)
    bucket = names.export_bucket_name("a", ACCOUNT, REGION)
    policy = inline_policy("worker", arns)
    s3_actions = {a for a in actions_of(policy) if a.startswith("s3:")}
    assert s3_actions == {"s3:PutObject"}  # no Get, List or Delete
    [pattern] = resources_for(policy, "s3:PutObject")
    assert pattern == f"arn:aws:s3:::{bucket}/records/fleet=a/*"
    own_key = names.export_key("a", "r1", "whoami", "111111111111", REGION)
    assert iam_matches(pattern, names.s3_objects_arn("aws", bucket, own_key).rstrip("*"))
    # Not the bucket itself, not another prefix of it, not another fleet's prefix or bucket.
    for other in (
        names.s3_bucket_arn("aws", bucket),
        f"arn:aws:s3:::{bucket}/athena-results/x.csv",
        f"arn:aws:s3:::{bucket}/records/fleet=ab/run=r1/script=s/part-0.json.gz",
        f"arn:aws:s3:::{names.export_bucket_name('ab', ACCOUNT, REGION)}/records/fleet=a/x",
    ):
        assert not iam_matches(pattern, other), other
    for kind in ("director", "notifier"):
        assert not [a for a in actions_of(inline_policy(kind, arns)) if a.startswith("s3:")]


def test_without_export_no_policy_grants_s3() -> None:
    for kind in names.KINDS:
        assert not [a for a in actions_of(inline_policy(kind, arns_for())) if a.startswith("s3:")]


def test_the_export_grant_is_in_the_fleets_partition_and_iam_accepts_it() -> None:
    settings = dataclasses.replace(
        make_settings(fleet="a", export="s3"), home_region="cn-north-1", partition=""
    )
    china = FleetArns.from_settings(settings, ACCOUNT)
    assert resources_for(inline_policy("worker", china), "s3:PutObject") == {
        f"arn:aws-cn:s3:::a-records-{ACCOUNT}-cn-north-1/records/fleet=a/*"
    }
    with mock_aws():
        iam = boto3.client("iam")
        iam.create_role(RoleName="w", AssumeRolePolicyDocument=json.dumps(lambda_trust_policy()))
        document = inline_policy("worker", dataclasses.replace(arns_for(), export=True))
        iam.put_role_policy(RoleName="w", PolicyName="w", PolicyDocument=json.dumps(document))
        assert iam.get_role_policy(RoleName="w", PolicyName="w")["PolicyDocument"] == document
