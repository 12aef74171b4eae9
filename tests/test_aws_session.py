"""Sessions into member accounts: one assume_role per account, clients cached and shared."""

from __future__ import annotations

from typing import Any

from lambda_src.aws_session import RETRY_CONFIG, AccountSession, assume_member_role

CREDENTIALS = {"AccessKeyId": "AKIA", "SecretAccessKey": "secret", "SessionToken": "token"}


class FakeBase:
    """A boto3.Session look-alike recording the clients and resources asked of it."""

    profile_name = "base-profile"

    def __init__(self) -> None:
        self.made: list[tuple[str, str, dict[str, Any]]] = []

    def client(self, service_name: str, **kwargs: Any) -> object:
        self.made.append(("client", service_name, kwargs))
        return object()

    def resource(self, service_name: str, **kwargs: Any) -> object:
        self.made.append(("resource", service_name, kwargs))
        return object()


def test_clients_carry_the_accounts_credentials_and_are_shared_per_service_and_region() -> None:
    base = FakeBase()
    session = AccountSession(base, CREDENTIALS, "eu-west-1")

    first = session.client("ec2")
    assert session.client("ec2") is first
    assert session.client("ec2", "eu-west-1") is first
    assert session.client("ec2", "us-east-1") is not first
    assert session.region_name == "eu-west-1"
    assert [(kind, name, kw["region_name"]) for kind, name, kw in base.made] == [
        ("client", "ec2", "eu-west-1"),
        ("client", "ec2", "us-east-1"),
    ]
    kwargs = base.made[0][2]
    assert kwargs["config"] is RETRY_CONFIG
    assert (kwargs["aws_access_key_id"], kwargs["aws_session_token"]) == ("AKIA", "token")


def test_clients_with_options_are_made_fresh_with_those_options() -> None:
    base = FakeBase()
    session = AccountSession(base, CREDENTIALS, "us-east-1")
    custom = object()

    one = session.client("s3", config=custom)
    assert session.client("s3", config=custom) is not one
    assert [kw["config"] for _, _, kw in base.made] == [custom, custom]


def test_without_credentials_the_base_sessions_own_are_used() -> None:
    base = FakeBase()
    AccountSession(base, None, "us-east-1").client("sts")
    assert not [k for k in base.made[0][2] if k.startswith("aws_")]


def test_resources_carry_the_credentials_and_other_attributes_are_the_base_sessions() -> None:
    base = FakeBase()
    session = AccountSession(base, CREDENTIALS, "us-east-1")

    session.resource("s3")
    session.resource("dynamodb", "eu-west-1")

    assert [(kind, name, kw["region_name"]) for kind, name, kw in base.made] == [
        ("resource", "s3", "us-east-1"),
        ("resource", "dynamodb", "eu-west-1"),
    ]
    assert all(kw["aws_secret_access_key"] == "secret" for _, _, kw in base.made)
    assert base.made[0][2]["config"] is RETRY_CONFIG
    assert session.profile_name == "base-profile"


class FakeSts:
    def __init__(self) -> None:
        self.params: list[dict[str, Any]] = []

    def assume_role(self, **params: Any) -> dict[str, Any]:
        self.params.append(params)
        return {"Credentials": CREDENTIALS}


def test_assume_member_role_builds_the_arn_of_the_partition() -> None:
    sts = FakeSts()
    credentials = assume_member_role(
        sts,
        "111111111111",
        "Member",
        partition="aws-cn",
        session_name="lambdafan-" + "x" * 100,
        external_id=None,
        duration=900,
    )
    assert credentials == CREDENTIALS
    [params] = sts.params
    assert params["RoleArn"] == "arn:aws-cn:iam::111111111111:role/Member"
    assert len(params["RoleSessionName"]) == 64  # AWS's limit
    assert params["DurationSeconds"] == 900
    assert "ExternalId" not in params


def test_assume_member_role_passes_the_external_id() -> None:
    sts = FakeSts()
    assume_member_role(
        sts, "111111111111", "Member", partition="aws", session_name="s",
        external_id="shared-secret", duration=3600,
    )  # fmt: skip
    assert sts.params[0]["ExternalId"] == "shared-secret"


def test_a_real_client_from_moto_is_in_the_member_account(aws: Any) -> None:
    sts = aws.client("sts")
    credentials = assume_member_role(
        sts, "123456789012", "Member", partition="aws", session_name="test",
        external_id=None, duration=900,
    )  # fmt: skip
    session = AccountSession(aws, credentials, "us-east-1")
    assert session.client("sts").get_caller_identity()["Account"] == "123456789012"
