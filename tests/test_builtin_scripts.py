"""The example scripts shipped with lambdafan, run against moto."""

from __future__ import annotations

import importlib
import inspect
import io
import zipfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws

from lambda_src.scripts import (
    GLOBAL_REGION,
    Account,
    Script,
    builtin_scripts,
    check_script,
    load_script,
)

ACCOUNT = Account(id="123456789012", name="test")
REGION = "us-east-1"
AMI = "ami-12c6146b"

EXPECTED_SCOPES = {
    "ec2_instances": "region",
    "s3_buckets": "account",
    "iam_users_without_mfa": "account",
    "lambda_runtimes": "region",
    "security_groups_open_to_world": "region",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def script(name: str) -> Script:
    return load_script(builtin_scripts()[name])


def run(name: str, session: Any, region: str) -> list[dict[str, Any]]:
    loaded = script(name)
    region = GLOBAL_REGION if loaded.scope == "account" else region
    records = loaded.collect(session, region, ACCOUNT)
    assert records is not None
    assert not isinstance(records, Mapping), "built-ins yield records"
    return [dict(r) for r in records]


class StubSession:
    """A session handing out Stubber-backed clients: moto ignores page-size parameters
    (MaxResults, MaxItems), so multi-page listings are tested with canned pages."""

    def __init__(self, session: boto3.Session) -> None:
        self._session = session
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        client = self._session.client(service, region_name=REGION)
        self.clients[service] = client
        self.stubbers[service] = stubber = Stubber(client)
        stubber.activate()
        return stubber

    def client(self, service: str, region_name: str | None = None) -> Any:
        return self.clients[service]

    def assert_done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


# --- the contract -------------------------------------------------------------------------------


def test_builtins_are_listed_with_their_scope() -> None:
    found = builtin_scripts()
    assert set(EXPECTED_SCOPES) <= set(found)
    for name, scope in EXPECTED_SCOPES.items():
        assert check_script(found[name]) == scope
        assert script(name).scope == scope


@pytest.mark.parametrize("name", sorted(builtin_scripts()))
def test_every_builtin_passes_the_contract_and_documents_itself(name: str) -> None:
    path = builtin_scripts()[name]
    check_script(path)
    loaded = load_script(path)
    assert loaded.name == name
    assert inspect.isgeneratorfunction(loaded.collect), f"{name} should stream its records"
    source = path.read_text(encoding="utf-8")
    assert source.lstrip().startswith('"""'), f"{name} needs a module docstring"
    assert "print(" not in source
    assert "lambdafan" not in source.split('"""', 2)[2], "scripts use stdlib and boto3 only"


# --- ec2_instances ------------------------------------------------------------------------------


def test_ec2_instances(aws: boto3.Session) -> None:
    ec2 = aws.client("ec2", region_name=REGION)
    tagged = ec2.run_instances(
        ImageId=AMI,
        MinCount=2,
        MaxCount=2,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "team", "Value": "ops"}],
            }
        ],
    )["Instances"]
    untagged = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="m5.large")
    plain = untagged["Instances"][0]
    ec2.stop_instances(InstanceIds=[plain["InstanceId"]])
    # Another region's instances are not this region's business.
    aws.client("ec2", region_name="eu-west-1").run_instances(ImageId=AMI, MinCount=1, MaxCount=1)

    records = {r["instance_id"]: r for r in run("ec2_instances", aws, REGION)}
    described = {
        i["InstanceId"]: i
        for res in ec2.describe_instances()["Reservations"]
        for i in res["Instances"]
    }

    assert set(records) == {i["InstanceId"] for i in tagged} | {plain["InstanceId"]}
    for inst in tagged:
        rec = records[inst["InstanceId"]]
        assert set(rec) == {
            "instance_id",
            "type",
            "state",
            "launch_time",
            "private_ip",
            "public_ip",
            "vpc_id",
            "name",
            "tags",
        }
        assert rec["type"] == "t3.micro"
        assert rec["state"] == "running"
        assert rec["name"] == "web"
        assert rec["tags"] == {"Name": "web", "team": "ops"}
        assert isinstance(rec["launch_time"], datetime)
        assert rec["private_ip"] == inst["PrivateIpAddress"]
        assert rec["vpc_id"] == inst["VpcId"]
        # a running instance in the default VPC gets a public address
        assert rec["public_ip"] == described[inst["InstanceId"]]["PublicIpAddress"]
        assert rec["public_ip"] is not None
    rec = records[plain["InstanceId"]]
    assert rec["type"] == "m5.large"
    assert rec["state"] == "stopped"
    assert rec["name"] is None
    assert rec["tags"] == {}
    assert rec["public_ip"] is None  # a stopped instance has no public address


def test_ec2_instances_empty_region(aws: boto3.Session) -> None:
    assert run("ec2_instances", aws, "ap-southeast-2") == []


def test_ec2_instances_follows_next_token(aws: boto3.Session) -> None:
    session = StubSession(aws)
    ec2 = session.stub("ec2")

    def reservation(instance_id: str) -> dict[str, Any]:
        return {"Instances": [{"InstanceId": instance_id, "State": {"Name": "running"}}]}

    ec2.add_response(
        "describe_instances", {"Reservations": [reservation("i-1")], "NextToken": "t1"}, {}
    )
    ec2.add_response(
        "describe_instances", {"Reservations": [reservation("i-2")]}, {"NextToken": "t1"}
    )
    records = run("ec2_instances", session, REGION)
    assert [r["instance_id"] for r in records] == ["i-1", "i-2"]
    assert records[0]["public_ip"] is None
    assert records[0]["tags"] == {}
    session.assert_done()


# --- s3_buckets ---------------------------------------------------------------------------------


def _deny(session: boto3.Session, operation: str, bucket: str, code: str = "AccessDenied") -> None:
    """Make `operation` on one bucket fail with `code`, as a bucket policy would."""

    def mark(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == bucket:
            context["deny"] = True

    def refuse(context: dict[str, Any], **_: Any) -> Any:
        if context.get("deny"):
            return AWSResponse("", 403, {}, None), {
                "Error": {"Code": code, "Message": "Access Denied"}
            }
        return None

    session.events.register(f"before-parameter-build.s3.{operation}", mark)
    session.events.register(f"before-call.s3.{operation}", refuse)


def test_s3_buckets(aws: boto3.Session) -> None:
    s3 = aws.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="plain-east")
    s3.create_bucket(
        Bucket="locked-west",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    s3.put_public_access_block(
        Bucket="locked-west",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket="locked-west",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    s3.create_bucket(Bucket="half-open")
    s3.put_public_access_block(
        Bucket="half-open",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )

    records = {r["bucket"]: r for r in run("s3_buckets", aws, REGION)}

    assert set(records) == {"plain-east", "locked-west", "half-open"}
    for rec in records.values():
        assert isinstance(rec.pop("created"), datetime)
    # AWS encrypts every new bucket with SSE-S3 ("AES256") since January 2023; moto does not.
    assert records["plain-east"] == {
        "bucket": "plain-east",
        "region": "us-east-1",
        "public_access_block": None,
        "encryption": None,
    }
    assert records["locked-west"] == {
        "bucket": "locked-west",
        "region": "eu-west-1",
        "public_access_block": True,
        "encryption": "aws:kms",
    }
    assert records["half-open"]["public_access_block"] is False
    assert "error" not in records["half-open"]


def test_s3_buckets_per_bucket_error_does_not_stop_the_rest(aws: boto3.Session) -> None:
    s3 = aws.client("s3", region_name=REGION)
    for name in ("aaa", "bbb", "ccc"):
        s3.create_bucket(Bucket=name)
    _deny(aws, "GetPublicAccessBlock", "bbb")
    _deny(aws, "GetBucketLocation", "ccc", code="AccessDenied")

    records = {r["bucket"]: r for r in run("s3_buckets", aws, REGION)}

    assert set(records) == {"aaa", "bbb", "ccc"}
    assert "error" not in records["aaa"]
    assert records["bbb"]["public_access_block"] is None
    assert records["bbb"]["region"] == "us-east-1"
    assert records["bbb"]["error"] == "public_access_block: AccessDenied"
    assert records["ccc"]["region"] is None
    assert records["ccc"]["error"] == "region: AccessDenied"


def test_s3_buckets_eu_location_means_eu_west_1(aws: boto3.Session) -> None:
    aws.client("s3", region_name=REGION).create_bucket(
        Bucket="old-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )

    def legacy_eu(parsed: dict[str, Any], **_: Any) -> None:
        if "LocationConstraint" in parsed:
            parsed["LocationConstraint"] = "EU"

    aws.events.register("after-call.s3.GetBucketLocation", legacy_eu)
    [record] = run("s3_buckets", aws, REGION)
    assert record["region"] == "eu-west-1"


# --- iam_users_without_mfa ----------------------------------------------------------------------


def test_iam_users_without_mfa(aws: boto3.Session) -> None:
    iam = aws.client("iam", region_name=REGION)
    for user in ("console-only", "keys-only", "both", "with-mfa", "no-credentials"):
        iam.create_user(UserName=user)
    iam.create_login_profile(UserName="console-only", Password="Secret-123!")
    iam.create_access_key(UserName="keys-only")
    iam.create_access_key(UserName="keys-only")
    iam.create_login_profile(UserName="both", Password="Secret-123!")
    iam.create_access_key(UserName="both")
    iam.create_login_profile(UserName="with-mfa", Password="Secret-123!")
    iam.create_access_key(UserName="with-mfa")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="with-mfa")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName="with-mfa",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )

    records = {r["user"]: r for r in run("iam_users_without_mfa", aws, REGION)}

    assert set(records) == {"console-only", "keys-only", "both"}
    for rec in records.values():
        assert isinstance(rec.pop("created"), datetime)
    assert records["console-only"] == {
        "user": "console-only",
        "arn": "arn:aws:iam::123456789012:user/console-only",
        "password_last_used": None,
        "has_console_password": True,
        "access_key_count": 0,
    }
    assert records["keys-only"]["has_console_password"] is False
    assert records["keys-only"]["access_key_count"] == 2
    assert records["both"]["has_console_password"] is True
    assert records["both"]["access_key_count"] == 1


def test_iam_users_without_mfa_follows_marker(aws: boto3.Session) -> None:
    session = StubSession(aws)
    iam = session.stub("iam")
    created = datetime(2020, 1, 1)

    def user(name: str) -> dict[str, Any]:
        arn = f"arn:aws:iam::123456789012:user/{name}"
        return {"UserName": name, "UserId": "AIDA" + name.upper() * 4, "Arn": arn,
                "Path": "/", "CreateDate": created}  # fmt: skip

    iam.add_response(
        "list_users", {"Users": [user("mfa")], "IsTruncated": True, "Marker": "m1"}, {}
    )
    device = {
        "UserName": "mfa",
        "SerialNumber": "arn:aws:iam::123456789012:mfa/mfa",
        "EnableDate": created,
    }
    iam.add_response("list_mfa_devices", {"MFADevices": [device]}, {"UserName": "mfa"})
    iam.add_response("list_users", {"Users": [user("nomfa")]}, {"Marker": "m1"})
    iam.add_response("list_mfa_devices", {"MFADevices": []}, {"UserName": "nomfa"})
    iam.add_client_error("get_login_profile", "NoSuchEntity", http_status_code=404)
    key = {"UserName": "nomfa", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active"}
    iam.add_response("list_access_keys", {"AccessKeyMetadata": [key]}, {"UserName": "nomfa"})

    records = run("iam_users_without_mfa", session, REGION)

    assert records == [
        {
            "user": "nomfa",
            "arn": "arn:aws:iam::123456789012:user/nomfa",
            "created": created,
            "password_last_used": None,
            "has_console_password": False,
            "access_key_count": 1,
        }
    ]
    session.assert_done()


# --- lambda_runtimes ----------------------------------------------------------------------------


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def _role(session: boto3.Session) -> str:
    iam = session.client("iam", region_name=REGION)
    trust = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
        '{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    )
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=trust)
    return str(role["Role"]["Arn"])


def test_lambda_runtimes(aws: boto3.Session) -> None:
    client = aws.client("lambda", region_name=REGION)
    role = _role(aws)
    code = _zip()
    client.create_function(
        FunctionName="old",
        Runtime="python3.8",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code},
        MemorySize=256,
        Timeout=30,
    )
    client.create_function(
        FunctionName="new",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code},
    )
    client.create_function(
        FunctionName="image",
        PackageType="Image",
        Role=role,
        Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"},
    )

    records = {r["function"]: r for r in run("lambda_runtimes", aws, REGION)}

    assert set(records) == {"old", "new", "image"}
    for rec in records.values():
        assert isinstance(rec.pop("last_modified"), str)
    assert records["old"] == {
        "function": "old",
        "runtime": "python3.8",
        "deprecated": True,
        "memory": 256,
        "timeout": 30,
        "code_size": len(code),
    }
    assert records["new"]["runtime"] == "python3.12"
    assert records["new"]["deprecated"] is False
    assert records["image"]["runtime"] is None
    assert records["image"]["deprecated"] is False


def test_lambda_runtimes_follows_next_marker(aws: boto3.Session) -> None:
    session = StubSession(aws)
    client = session.stub("lambda")
    client.add_response(
        "list_functions", {"Functions": [{"FunctionName": "a"}], "NextMarker": "n1"}, {}
    )
    client.add_response(
        "list_functions",
        {"Functions": [{"FunctionName": "b", "Runtime": "go1.x"}]},
        {"Marker": "n1"},
    )
    records = run("lambda_runtimes", session, REGION)
    assert [(r["function"], r["runtime"], r["deprecated"]) for r in records] == [
        ("a", None, False),
        ("b", "go1.x", True),
    ]
    session.assert_done()


@pytest.mark.parametrize(
    ("runtime", "deprecated"),
    [
        ("python3.7", True),
        ("python3.9", False),
        ("nodejs16.x", True),
        ("nodejs18.x", False),
        ("nodejs", True),
        ("dotnetcore3.1", True),
        ("dotnet8", False),
        ("java8", True),
        ("java8.al2", False),
        ("go1.x", True),
        ("provided.al2023", False),
        ("ruby2.7", True),
        ("ruby3.3", False),
        (None, False),
    ],
)
def test_lambda_runtime_deprecation_list(runtime: str | None, deprecated: bool) -> None:
    module = importlib.import_module("lambda_src.builtin_scripts.lambda_runtimes")
    assert module.is_deprecated(runtime) is deprecated


# --- security_groups_open_to_world --------------------------------------------------------------


def test_security_groups_open_to_world(aws: boto3.Session) -> None:
    ec2 = aws.client("ec2", region_name=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    open_sg = ec2.create_security_group(GroupName="open", Description="d", VpcId=vpc_id)
    closed_sg = ec2.create_security_group(GroupName="closed", Description="d", VpcId=vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=open_sg["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=closed_sg["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    )

    records = run("security_groups_open_to_world", aws, REGION)

    base = {"group_id": open_sg["GroupId"], "group_name": "open", "vpc_id": vpc_id}
    assert sorted(records, key=lambda r: (r["protocol"], r["cidr"])) == [
        {**base, "protocol": "all", "from_port": None, "to_port": None, "cidr": "0.0.0.0/0"},
        {**base, "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"},
        {**base, "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "::/0"},
    ]
