"""The role audit: naming real botocore requests' IAM actions, matching them against policies,
and checking that lambdafan's own roles allow what its handlers call."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import botocore.session
import pytest
from botocore.config import Config

from lambda_src.settings import NotifySettings
from lambdafan.deploy.fleet_arns import FleetArns
from lambdafan.deploy.member_accounts import MemberAccounts
from lambdafan.deploy.policies import inline_policy
from lambdafan.local_cloud.role_audit import (
    Finding,
    RoleAudit,
    action_of,
    allowed,
    describe,
    needs_body,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:a-worker"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:a-runs"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/a-dlq"


class _Sent(Exception):
    """Stops botocore once the request is signed: nothing goes on the wire."""


class Request:
    """One signed request as the proxy sees it."""

    def __init__(self, prepared: Any) -> None:
        split = urllib.parse.urlsplit(prepared.url)
        self.method: str = prepared.method
        self.path = split.path
        self.query = split.query
        self.headers = {
            name: value.decode() if isinstance(value, bytes) else value
            for name, value in prepared.headers.items()
        }
        body = prepared.body
        self.body: bytes = body.encode() if isinstance(body, str) else body or b""

    def action(self, *, with_body: bool = True) -> str | None:
        body = self.body if with_body else None
        return action_of(self.method, self.path, self.query, self.headers, body)


_clients: dict[str, Any] = {}
# One session for every client: its loader reads each model and endpoint file once.
_SESSION = botocore.session.get_session()


def _client(service: str) -> Any:
    if service not in _clients:
        client = _SESSION.create_client(
            service,
            region_name=REGION,
            endpoint_url="http://127.0.0.1:1",
            aws_access_key_id="ASIAROLEKEY",
            aws_secret_access_key="secret",
            aws_session_token="token",
        )
        client.meta.events.register("before-send", _stop)
        _clients[service] = client
    return _clients[service]


def _stop(request: Any, **_: Any) -> None:
    raise _Sent(request)


def signed(service: str, operation: str, **params: Any) -> Request:
    try:
        getattr(_client(service), operation)(**params)
    except _Sent as sent:
        return Request(sent.args[0])
    raise AssertionError("botocore sent nothing")


ITEM = {"pk": {"S": "run#1"}, "sk": {"S": "run"}}
# (service, client method, params, IAM action): what lambdafan's handlers, the sandbox and the
# built-in scripts call, and the local cloud itself (destinations).
CALLS: list[tuple[str, str, dict[str, Any], str]] = [
    ("dynamodb", "put_item", {"TableName": "t", "Item": ITEM}, "dynamodb:PutItem"),
    ("dynamodb", "get_item", {"TableName": "t", "Key": ITEM}, "dynamodb:GetItem"),
    ("dynamodb", "update_item", {"TableName": "t", "Key": ITEM}, "dynamodb:UpdateItem"),
    ("dynamodb", "query", {"TableName": "t"}, "dynamodb:Query"),
    (
        "dynamodb",
        "batch_write_item",
        {"RequestItems": {"t": [{"PutRequest": {"Item": ITEM}}]}},
        "dynamodb:BatchWriteItem",
    ),
    ("lambda", "invoke", {"FunctionName": FUNCTION_ARN}, "lambda:InvokeFunction"),
    ("lambda", "list_functions", {}, "lambda:ListFunctions"),
    ("lambda", "get_function", {"FunctionName": "f"}, "lambda:GetFunction"),
    (
        "lambda",
        "get_function_configuration",
        {"FunctionName": "f", "Qualifier": "1"},
        "lambda:GetFunctionConfiguration",
    ),
    (
        "lambda",
        "get_function_event_invoke_config",
        {"FunctionName": "f"},
        "lambda:GetFunctionEventInvokeConfig",
    ),
    (
        "sts",
        "assume_role",
        {"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "ss"},
        "sts:AssumeRole",
    ),
    ("sts", "get_caller_identity", {}, "sts:GetCallerIdentity"),
    (
        "logs",
        "put_log_events",
        {
            "logGroupName": "g",
            "logStreamName": "s",
            "logEvents": [{"timestamp": 1, "message": "m"}],
        },
        "logs:PutLogEvents",
    ),
    (
        "logs",
        "create_log_stream",
        {"logGroupName": "g", "logStreamName": "s"},
        "logs:CreateLogStream",
    ),
    (
        "cloudwatch",
        "put_metric_data",
        {"Namespace": "lambdafan", "MetricData": [{"MetricName": "m", "Value": 1.0}]},
        "cloudwatch:PutMetricData",
    ),
    ("sns", "publish", {"TopicArn": TOPIC, "Message": "hi"}, "sns:Publish"),
    (
        "ses",
        "send_email",
        {
            "Source": "ops@example.com",
            "Destination": {"ToAddresses": ["me@example.com"]},
            "Message": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
        },
        "ses:SendEmail",
    ),
    (
        "sesv2",
        "send_email",
        {"Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}}},
        "ses:SendEmail",
    ),
    ("ssm", "get_parameter", {"Name": "/a/slack", "WithDecryption": True}, "ssm:GetParameter"),
    ("sqs", "send_message", {"QueueUrl": QUEUE_URL, "MessageBody": "m"}, "sqs:SendMessage"),
    ("sqs", "get_queue_url", {"QueueName": "a-dlq"}, "sqs:GetQueueUrl"),
    ("events", "put_events", {"Entries": [{"Source": "s"}]}, "events:PutEvents"),
    ("organizations", "list_accounts", {}, "organizations:ListAccounts"),
    (
        "organizations",
        "list_accounts_for_parent",
        {"ParentId": "r-abcd"},
        "organizations:ListAccountsForParent",
    ),
    (
        "organizations",
        "list_organizational_units_for_parent",
        {"ParentId": "r-abcd"},
        "organizations:ListOrganizationalUnitsForParent",
    ),
    ("ec2", "describe_instances", {}, "ec2:DescribeInstances"),
    ("ec2", "describe_regions", {"AllRegions": False}, "ec2:DescribeRegions"),
    ("ec2", "describe_security_groups", {}, "ec2:DescribeSecurityGroups"),
    ("iam", "list_users", {}, "iam:ListUsers"),
    ("iam", "get_login_profile", {"UserName": "u"}, "iam:GetLoginProfile"),
    ("iam", "list_mfa_devices", {"UserName": "u"}, "iam:ListMFADevices"),
    ("s3", "list_buckets", {}, "s3:ListAllMyBuckets"),
    ("s3", "get_bucket_location", {"Bucket": "b"}, "s3:GetBucketLocation"),
    ("s3", "get_public_access_block", {"Bucket": "b"}, "s3:GetBucketPublicAccessBlock"),
    ("s3", "get_bucket_encryption", {"Bucket": "b"}, "s3:GetEncryptionConfiguration"),
    ("s3", "get_bucket_policy_status", {"Bucket": "b"}, "s3:GetBucketPolicyStatus"),
    ("s3", "head_bucket", {"Bucket": "b"}, "s3:ListBucket"),
    ("s3", "list_objects_v2", {"Bucket": "b"}, "s3:ListBucket"),
    ("s3", "get_object", {"Bucket": "b", "Key": "a/b c.json"}, "s3:GetObject"),
    ("s3", "put_object", {"Bucket": "b", "Key": "k", "Body": b"x"}, "s3:PutObject"),
]


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    CALLS,
    ids=[f"{service}.{operation}" for service, operation, _, _ in CALLS],
)
def test_action_of_names_real_signed_requests(
    service: str, operation: str, params: dict[str, Any], expected: str
) -> None:
    assert signed(service, operation, **params).action() == expected


def test_a_query_protocol_request_needs_its_body_and_nothing_else_does() -> None:
    assume = signed("sts", "assume_role", RoleArn="arn:aws:iam::1:role/r", RoleSessionName="ss")
    assert needs_body(assume.query, assume.headers)
    assert assume.action(with_body=False) is None
    for request in (
        signed("dynamodb", "get_item", TableName="t", Key=ITEM),
        signed("lambda", "invoke", FunctionName="f"),
        signed("s3", "put_object", Bucket="b", Key="k", Body=b"x"),
        signed("cloudwatch", "put_metric_data", Namespace="n", MetricData=[]),
    ):
        assert not needs_body(request.query, request.headers)
        assert request.action(with_body=False) == request.action()


def test_action_of_reads_headers_of_any_case_and_the_proxys_header_type() -> None:
    from http.client import HTTPMessage

    request = signed("dynamodb", "put_item", TableName="t", Item=ITEM)
    lower = {name.lower(): value for name, value in request.headers.items()}
    assert action_of("POST", "/", "", lower, None) == "dynamodb:PutItem"
    message = HTTPMessage()
    for name, value in lower.items():
        message[name] = value
    assert action_of("POST", "/", "", message, None) == "dynamodb:PutItem"


def test_action_of_a_presigned_url() -> None:
    s3v4 = _SESSION.create_client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="ASIAROLEKEY",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    split = urllib.parse.urlsplit(url)
    assert action_of("GET", split.path, split.query, {}, None) == "s3:GetObject"


def _authorization(service: str) -> str:
    scope = f"K/20250101/us-east-1/{service}/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"


def test_action_of_the_rpc_v2_cbor_path_and_an_action_in_the_query_string() -> None:
    auth = {"Authorization": _authorization("monitoring"), "Smithy-Protocol": "rpc-v2-cbor"}
    path = "/service/GraniteServiceVersion20100801/operation/PutMetricData"
    assert action_of("POST", path, "", auth, b"\xbf\xff") == "cloudwatch:PutMetricData"
    s3 = {"Authorization": _authorization("s3")}
    assert action_of("GET", path, "", s3, None) == "s3:GetObject"  # bucket "service"
    ec2 = {"Authorization": _authorization("ec2")}
    assert action_of("GET", "/", "Action=DescribeRegions&Version=2016-11-15", ec2, None) == (
        "ec2:DescribeRegions"
    )


def test_action_of_what_it_cannot_name_is_none() -> None:
    unsigned = signed("dynamodb", "put_item", TableName="t", Item=ITEM).headers
    del unsigned["Authorization"]
    assert action_of("POST", "/", "", unsigned, None) is None
    lambda_auth = signed("lambda", "list_functions").headers
    assert action_of("GET", "/no/such/route", "", lambda_auth, None) is None
    nowhere = {"Authorization": _authorization("nope")}
    assert action_of("GET", "/", "", nowhere, None) is None


# -- the policy matcher --------------------------------------------------------------------------


def _doc(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_allowed_matches_wildcards_case_insensitively() -> None:
    doc = _doc({"Effect": "Allow", "Action": ["dynamodb:Get*", "s3:List?ucket"], "Resource": "*"})
    assert allowed("dynamodb:GetItem", [doc])
    assert allowed("DynamoDB:getitem", [doc])
    assert allowed("s3:ListBucket", [doc])
    assert not allowed("s3:ListBuckets", [doc])
    assert not allowed("dynamodb:PutItem", [doc])
    assert allowed("sns:Publish", [{"Statement": {"Effect": "Allow", "Action": "*"}}])


def test_allowed_deny_wins_and_not_action_inverts() -> None:
    allow_all = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    deny = _doc({"Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    assert not allowed("iam:ListUsers", [allow_all, deny])
    assert allowed("ec2:DescribeRegions", [allow_all, deny])
    not_iam = _doc({"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"})
    assert allowed("ec2:DescribeRegions", [not_iam])
    assert not allowed("sts:AssumeRole", [not_iam])
    deny_but_reads = _doc({"Effect": "Deny", "NotAction": "s3:Get*", "Resource": "*"})
    assert allowed("s3:GetObject", [allow_all, deny_but_reads])
    assert not allowed("s3:PutObject", [allow_all, deny_but_reads])
    assert not allowed("s3:GetObject", [])


def test_allowed_ignores_resource_and_condition() -> None:
    doc = _doc(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::111111111111:role/x",
            "Condition": {"StringEquals": {"aws:ResourceOrgID": "o-1"}},
        }
    )
    assert allowed("sts:AssumeRole", [doc])


# -- the audit -----------------------------------------------------------------------------------


def test_role_audit_counts_registered_keys_only_and_reports_what_is_not_allowed() -> None:
    audit = RoleAudit()
    audit.register("KEY1", "a-worker", "req-1")
    audit.register("KEY2", "a-worker", "req-2")
    audit.register("KEY3", "a-notifier", "req-3")
    for key, action in [
        ("KEY1", "dynamodb:PutItem"),
        ("KEY2", "dynamodb:PutItem"),
        ("KEY2", "s3:ListAllMyBuckets"),
        ("KEY3", "sns:Publish"),
        ("MEMBER", "ec2:DescribeRegions"),  # the member account's credentials: not audited
        (None, "sts:GetCallerIdentity"),
        ("KEY1", None),
    ]:
        audit.observe(key, action)
    assert audit.calls("a-worker") == {"dynamodb:PutItem": 2, "s3:ListAllMyBuckets": 1}
    assert audit.calls("a-notifier") == {"sns:Publish": 1}
    assert audit.calls("unknown") == {}
    policies = {
        "a-worker": [_doc({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"})],
        "a-notifier": [],
    }
    findings = audit.findings(policies.__getitem__)
    assert findings == [
        Finding("a-notifier", "sns:Publish", 1),
        Finding("a-worker", "s3:ListAllMyBuckets", 1),
    ]
    assert describe(findings[0]) == (
        "a-notifier called sns:Publish once, which its role's inline policies do not allow"
    )
    assert "3 times" in describe(Finding("f", "a:B", 3))


def test_role_audit_is_thread_safe() -> None:
    audit = RoleAudit()
    audit.register("KEY", "f", "r")

    def hammer() -> None:
        for _ in range(2000):
            audit.observe("KEY", "dynamodb:PutItem")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert audit.calls("f") == {"dynamodb:PutItem": 16000}


# -- lambdafan's own roles -----------------------------------------------------------------------

FULL_NOTIFY = NotifySettings(
    slack_webhook_parameter="/lambdafan/a/slack-webhook",
    email_sender="ops@example.com",
    email_recipients=("me@example.com",),
    sns_topic_arn=TOPIC,
)
ARNS = FleetArns(
    partition="aws",
    account_id=ACCOUNT,
    region=REGION,
    fleet="a",
    member_role="lambdafan-member",
    notify=FULL_NOTIFY,
    members=MemberAccounts(
        listed=("111111111111",), organization=True, organization_id="o-a1b2c3d4e5"
    ),
    export=True,  # results.export: s3, so the Worker's PutObject is in its role
)
DYNAMO = ["put_item", "get_item", "update_item", "query", "batch_write_item"]
# What each handler calls with its own role (the Worker's scripts run with the member role).
HANDLER_CALLS = {
    "director": [
        *(("dynamodb", op) for op in DYNAMO),
        ("lambda", "invoke"),
        ("organizations", "list_accounts"),
        ("organizations", "list_accounts_for_parent"),
        ("organizations", "list_organizational_units_for_parent"),
    ],
    "worker": [
        *(("dynamodb", op) for op in DYNAMO),
        ("sts", "assume_role"),
        ("cloudwatch", "put_metric_data"),
        ("lambda", "invoke"),
        ("s3", "put_object"),  # the export of each (script, region)'s records
    ],
    "notifier": [
        *(("dynamodb", op) for op in DYNAMO),
        ("ssm", "get_parameter"),
        ("ses", "send_email"),
        ("sns", "publish"),
        ("cloudwatch", "put_metric_data"),
        ("sqs", "send_message"),  # the local cloud delivers its on-failure destination
    ],
}
_PARAMS = {(service, operation): params for service, operation, params, _ in CALLS}


@pytest.mark.parametrize("kind", sorted(HANDLER_CALLS))
def test_lambdafans_roles_allow_what_their_handlers_call(kind: str) -> None:
    documents = [inline_policy(kind, ARNS)]
    audit = RoleAudit()
    audit.register("ROLEKEY", kind, "req")
    for service, operation in HANDLER_CALLS[kind]:
        audit.observe("ROLEKEY", signed(service, operation, **_PARAMS[service, operation]).action())
    assert audit.calls(kind)
    assert audit.findings(lambda _: documents) == []
    # The check is not vacuous: a call outside the role is found.
    audit.observe("ROLEKEY", signed("s3", "list_buckets").action())
    assert audit.findings(lambda _: documents) == [Finding(kind, "s3:ListAllMyBuckets", 1)]


def test_a_deny_scoped_by_resource_or_condition_is_not_decisive() -> None:
    # The Worker's own shape: assume member roles, never the excluded accounts' (a Deny by ARN).
    member = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/m"}
    excluded = {
        "Effect": "Deny",
        "Action": "sts:AssumeRole",
        "Resource": "arn:aws:iam::*:role/m",
        "Condition": {"StringEquals": {"aws:ResourceAccount": ["111111111111"]}},
    }
    by_arn = {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": ["arn:aws:iam::1:role/m"]}
    assert allowed("sts:AssumeRole", [_doc(member, excluded)])
    assert allowed("sts:AssumeRole", [_doc(member, by_arn)])
    assert not allowed("sts:AssumeRole", [_doc(member, {**by_arn, "Resource": "*"})])
